// lvsd's wiring: engine + packet sockets + interception + neighbours + the
// control socket + metrics, and one stop path that always removes what the
// daemon put on the host (nftables table, socket file). With --workers 1 the
// engine and its data plane run in this thread; with more, each worker
// thread has its own (src/lvsd/workers.ts) and this thread keeps a
// reference engine, the one authority on configuration, which validates
// every op before the workers get it.
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import { ControlServer, type Handlers } from '../control/server.js';
import { engineHandlers, workerHandlers, type EngineOpsHooks, type WorkerSet } from '../control/ops.js';
import { mergeServices, perWorkerCounters, sumBatches, sumCounters, sumStats } from '../control/merge.js';
import type { MetricsServer } from '../metrics/server.js';
import type { MetricsSource } from '../metrics/lvsd.js';
import { Interceptor, interceptModeFor, type InterceptMode, type InterceptRules } from '../io/intercept.js';
import { FastPathKernel } from '../io/fastpath.js';
import { compileFilter } from '../io/bpf.js';
import { compileFanout, planFanout, steeringChanged, workerOfConn, workerOfConn6, workerOfSyncConn, type FanoutPlan } from '../io/fanout.js';
import { packSyncConns, unpackSyncConns } from './sync-pack.js';
import { ifaceInfo, netlinkTables } from '../io/native.js';
import { IpvsEngine, type InterceptKeys } from '../ipvs/engine.js';
import type { SyncConn } from '../ipvs/sync.js';
import { ipToU32, u32ToIp } from '../packet/addr.js';
import { formatIpv6, parseIpv6 } from '../packet/ipv6.js';
import type { DestSpec, Ruleset, ServiceKey, ServiceStatus } from '../ipvs/types.js';
import type { LvsdOptions } from './options.js';
import { SyncDaemons, type SyncEngine } from '../sync/daemon.js';
import { DataPlane } from './dataplane.js';
import { WorkerPool } from './workers.js';
import { queueNumFor } from '../io/nfqueue.js';
import { SchedBoard, SchedSlots } from './sched-share.js';
import type { KernelSnapshot, WorkerStats } from './worker-protocol.js';

const TICK_MS = 100;
/** The engine's default bound on conns + templates (state.ts), split among workers. */
const DEFAULT_MAX_CONNS = 1 << 20;
/** How often the kernel's routing and neighbour tables are re-read. */
const NEIGH_REFRESH_MS = 2000;
/** At most this often, a frame dropped for a TUN dest without a route triggers a route lookup before the next refresh. */
const TUN_RETRY_MS = 250;

export async function upInterfaces(): Promise<string[]> {
  const text = await new Promise<string>((resolve, reject) => {
    execFile('ip', ['-j', 'link', 'show', 'up'], { timeout: 5000 }, (err, out) => (err ? reject(err) : resolve(String(out))));
  });
  const links = JSON.parse(text || '[]') as { ifname: string; flags?: string[]; link_type?: string }[];
  return links
    .filter((l) => !(l.flags ?? []).includes('LOOPBACK') && l.link_type === 'ether')
    .map((l) => l.ifname.split('@')[0]!);
}

/** What the data plane must intercept: the engine's VIP:ports and NAT real servers (also deleted ones that still have conns). */
export function interceptRulesOf(keys: InterceptKeys): InterceptRules {
  return {
    services: keys.services.map((s) => ({ protocol: s.protocol, addr: s.addr, port: s.vport })),
    natDests: keys.natDests.map((d) => ({ protocol: d.protocol, addr: d.addr, port: d.rport })),
    fwmarks: keys.fwmarks,
    fwmarks6: keys.fwmarks6,
  };
}

export interface DaemonHooks {
  /** A worker died or hung (--workers > 1): the daemon cannot go on. Default: log it and stop. */
  onFatal?: (err: Error) => void;
}

export class Daemon {
  /** --workers 1: the forwarding engine. More: the reference engine (configuration only, no traffic). */
  private engine!: IpvsEngine;
  /** --workers 1: the rings and the forwarder, in this thread. */
  private plane: DataPlane | undefined;
  /** --workers > 1. */
  private pool: WorkerPool | undefined;
  /** Which worker owns a flow: the JS twin of the fanout program the workers' rings run. */
  private fanoutPlan: FanoutPlan = planFanout([], 1);
  private fanoutDegraded: string | undefined;
  /** Slots of the services and dests on the workers' shared scheduling board. */
  private schedSlots: SchedSlots | undefined;
  private interceptor!: Interceptor;
  /** How the rings take frames (io/intercept.ts), chosen at start. */
  private intercept: InterceptMode = 'tap';
  /** Protocol interception: the IPv6 rings are open (they open with the first IPv6 rule). */
  private v6Rings = false;
  /** --fast-path: the flow map and the tcx links (closing them detaches the program). */
  private fastKernel: FastPathKernel | undefined;
  private control!: ControlServer;
  private metrics: MetricsServer | undefined;
  private sync!: SyncDaemons;
  private syncSink: ((c: SyncConn) => void) | null = null;
  private timer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private tunRefreshing = false;
  private routeSig = '';
  private tunNoRouteSeen = 0;
  private lastTunRetry = 0;
  private refreshing = false;

  constructor(private readonly opts: LvsdOptions, private readonly log: Logger, private readonly hooks: DaemonHooks = {}) {}

  get interfaces(): string[] { return this.ifnames; }
  private ifnames: string[] = [];

  async start(): Promise<void> {
    const o = this.opts;
    const ifnames = o.interfaces.length ? o.interfaces : await upInterfaces();
    if (!ifnames.length) throw new Error('no interface to forward on: pass --interface IF (no non-loopback interface is up)');
    this.ifnames = ifnames;
    // With workers this engine holds configuration only: no conns, so no room for them.
    this.engine = new IpvsEngine({ connTableBits: o.connTabBits, maxConns: o.workers > 1 ? 1024 : o.maxConns });
    if (o.tunMtu) this.engine.setTunMtu(o.tunMtu);
    if (o.sloppyTcp) this.engine.setSloppyTcp(true);
    if (o.fastMinPackets !== undefined) this.engine.setFastMinPackets(o.fastMinPackets);

    // The interceptor first: a crashed run's table goes before anything else.
    const auto = o.intercept === 'auto' ? interceptModeFor(ifnames) : undefined;
    this.intercept = auto?.mode ?? (o.intercept === 'auto' ? 'protocol' : o.intercept);
    if (auto?.reason) this.log.info({ reason: auto.reason }, 'intercepting with packet taps (--intercept tap)');
    this.interceptor = new Interceptor(ifnames, suffixOf(o.socket), { queueNum: this.fwmarkQueueNum(), mode: this.intercept });
    await this.interceptor.install({ services: [], natDests: [] });

    if (o.fastPath !== 'off') {
      // Attached before any flow is learnt: until then the map is empty and the program passes every frame on.
      let k: FastPathKernel | undefined;
      try {
        k = new FastPathKernel(o.fastFlows);
        k.attach(ifnames.map((n) => ifaceInfo(n).ifindex));
        this.fastKernel = k;
      } catch (err) {
        k?.close();
        if (o.fastPath === 'on') throw err;
        this.log.warn({ err: String((err as Error).message ?? err) }, 'fast path unavailable (eBPF tcx): lvsd forwards every packet itself');
      }
    }

    if (o.workers > 1) await this.startWorkers(ifnames);
    else await this.startPlane(ifnames);

    this.control = new ControlServer({
      path: o.socket,
      handlers: this.handlers(),
      log: this.log,
      onRulesChanged: () => this.applyRules(),
    });
    await this.control.listen();

    if (o.metrics) {
      // prom-client costs ~130 ms to load: only --metrics pays for it.
      const [{ buildRegistry }, { MetricsServer }] = await Promise.all([import('../metrics/lvsd.js'), import('../metrics/server.js')]);
      const { source, refresh } = this.metricsSource();
      this.metrics = new MetricsServer(buildRegistry(source), 'lvsd', refresh);
      const a = await this.metrics.listen(o.metrics.host, o.metrics.port);
      this.log.info({ metrics: `http://${a.host}:${a.port}/metrics` }, 'metrics listening');
    }
    this.log.info({ socket: o.socket, interfaces: ifnames, table: this.interceptor.table, intercept: this.intercept, workers: o.workers,
      fastPathFlows: this.fastKernel?.maxFlows ?? 0 }, 'lvsd started');
  }

  /** --workers 1: the engine and its rings in this thread, as lvsd always ran. */
  private async startPlane(ifnames: string[]): Promise<void> {
    const e = this.engine;
    this.sync = new SyncDaemons({ engine: e, now: () => performance.now(), log: this.log });
    const plane = new DataPlane({
      ifnames, engine: e, log: this.log, synShed: this.opts.synShed, rxRing: this.opts.rxRing, intercept: this.intercept, fwmarkQueue: this.fwmarkQueueNum(),
      connsCreated: () => e.counters().conns_created ?? 0, kernel: netlinkTables,
      ...(this.fastKernel ? { fastPath: { maps: this.fastKernel.maps, maxFlows: this.fastKernel.maxFlows, owner: 0, engine: e } } : {}),
    });
    this.plane = plane;
    plane.open();
    // The first snapshot before the first frame: next hops then resolve without a process each.
    await plane.neigh.refreshSnapshot().catch((err: unknown) => this.log.warn({ err: String(err) }, 'reading the routing/neighbour tables failed'));
    plane.start();
    let lastSnap = performance.now();
    let routeGeneration = plane.neigh.routeGeneration;
    this.timer = setInterval(() => {
      const now = performance.now();
      e.tick(now);
      plane.tick(now, TICK_MS);
      if (now - lastSnap >= NEIGH_REFRESH_MS) {
        lastSnap = now;
        plane.neigh.refreshSnapshot()
          .then(() => {
            const changed = plane.neigh.routeGeneration !== routeGeneration;
            routeGeneration = plane.neigh.routeGeneration;
            return this.refreshTunSources(changed);
          })
          .catch((err: unknown) => this.log.warn({ err: String(err) }, 'reading the routing/neighbour tables failed'));
      }
      // Frames are waiting on a TUN dest with no source: look again soon, not only at the next refresh.
      const noRoute = e.dropCount('tun_no_route');
      if (noRoute !== this.tunNoRouteSeen) {
        this.tunNoRouteSeen = noRoute;
        this.tunRetrySoon();
      }
    }, TICK_MS);
  }

  /** --workers N: the workers, each with its engine and rings; this thread reads the kernel's tables for all of them. */
  private async startWorkers(ifnames: string[]): Promise<void> {
    const o = this.opts;
    const { tables } = await this.readTables();
    const fault = /^(\d+):(\d+):(crash|hang)$/.exec(process.env.LVSD_TEST_WORKER_FAULT ?? '');
    const board = SchedBoard.create(o.workers);
    this.schedSlots = new SchedSlots(board);
    this.pool = new WorkerPool({
      workers: o.workers, ifnames, synShed: o.synShed, fastMaps: this.fastKernel?.maps, fastMaxFlows: this.fastKernel?.maxFlows, rxRing: o.rxRing, intercept: this.intercept, fwmarkQueue: this.fwmarkQueueNum(), tables, schedBoard: board.sab,
      // --max-conns bounds the whole table, as with one worker: each worker gets its share (and the same memory in total).
      engine: { connTabBits: o.connTabBits, maxConns: Math.ceil((o.maxConns ?? DEFAULT_MAX_CONNS) / o.workers), tunMtu: o.tunMtu, sloppyTcp: o.sloppyTcp, fastMinPackets: o.fastMinPackets },
      log: this.log,
      workerLog: (i) => this.log.child({ worker: i }),
      onFatal: (err) => this.fatal(err),
      onSyncOut: (conns) => { const sink = this.syncSink; if (sink) for (const c of conns) sink(c); },
      onTunNoRoute: () => this.tunRetrySoon(),
      ...(fault ? { fault: { index: Number(fault[1]), ms: Number(fault[2]), kind: fault[3] as 'crash' | 'hang' } } : {}),
    });
    await this.pool.start();
    const pool = this.pool;
    // The sync daemons see one engine: conns to send come from every worker,
    // a received conn goes to the worker whose rings get its packets.
    const engine: SyncEngine = {
      setSyncMaster: (sink) => {
        this.syncSink = sink;
        pool.broadcast({ op: 'sync-master', on: sink !== null }).catch((err: unknown) => this.log.error({ err: String(err) }, 'switching sync master on the workers failed'));
      },
      syncConn: (c) => pool.syncConn(c.v6
        ? workerOfConn6(this.fanoutPlan, c.protocol, c.v6.caddr, c.cport, c.v6.vaddr, c.vport, c.fwmark)
        : workerOfConn(this.fanoutPlan, c.protocol, c.caddr, c.cport, c.vaddr, c.vport, c.fwmark), c),
    };
    this.sync = new SyncDaemons({ engine, now: () => performance.now(), log: this.log });
    let lastSnap = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      this.engine.tick(now);
      if (now - lastSnap >= NEIGH_REFRESH_MS && !this.refreshing) {
        lastSnap = now;
        this.refreshing = true;
        this.readTables()
          .then(async (t) => {
            await pool.broadcast({ op: 'neigh-snapshot', tables: t.tables });
            await this.refreshTunSources(t.routesChanged);
          })
          .catch((err: unknown) => this.log.warn({ err: String(err) }, 'refreshing the workers\' routing/neighbour tables failed'))
          .finally(() => { this.refreshing = false; });
      }
    }, TICK_MS);
  }

  /**
   * The kernel's main routing and neighbour tables, IPv4 and IPv6, one
   * rtnetlink dump each, for every worker; routesChanged when the routes differ from
   * the last read (TUN sources are then resolved again).
   */
  private async readTables(): Promise<{ tables: KernelSnapshot; routesChanged: boolean }> {
    const k = netlinkTables;
    const tables: KernelSnapshot = { routes: [], neighs: [], routes6: [], neighs6: [] };
    try {
      [tables.routes, tables.neighs, tables.routes6, tables.neighs6] = await Promise.all([k.routeTable!(), k.neighTable!(), k.routeTable6!(), k.neighTable6!()]);
    } catch (err) {
      this.log.warn({ err: String(err) }, 'reading the routing/neighbour tables failed');
    }
    const sig = JSON.stringify([tables.routes, tables.routes6]);
    const routesChanged = sig !== this.routeSig;
    this.routeSig = sig;
    return { tables, routesChanged };
  }

  private tunRetrySoon(): void {
    const now = performance.now();
    if (now - this.lastTunRetry < TUN_RETRY_MS) return;
    this.lastTunRetry = now;
    void this.refreshTunSources(false);
  }

  private fwmarkQueueNum(): number {
    return this.opts.fwmarkQueue ?? queueNumFor(suffixOf(this.opts.socket));
  }

  private fatal(err: Error): void {
    if (this.hooks.onFatal) { this.hooks.onFatal(err); return; }
    this.log.fatal({ err: err.message }, 'a forwarding worker failed; stopping');
    void this.stop();
  }

  /**
   * Regenerate nftables interception, BPF socket filters and (with workers)
   * the fanout program from the engine's services. One run at a time, each
   * from the engine as it is when the run starts: two clients' changes must
   * not leave one worker with the older filter.
   */
  private applyRules(): Promise<void> {
    const run = this.rulesChain.then(() => this.applyRulesNow());
    this.rulesChain = run.catch(() => undefined);
    return run;
  }
  private rulesChain: Promise<void> = Promise.resolve();

  private async applyRulesNow(): Promise<void> {
    const rules = interceptRulesOf(this.engine.serviceKeys());
    // Protocol interception: the IPv6 rings open with the first IPv6 rule, before its filter and chain.
    if (this.intercept === 'protocol' && !this.v6Rings && [...rules.services, ...rules.natDests].some((x) => x.addr.includes(':'))) {
      this.plane?.openV6();
      await this.pool?.openV6();
      this.v6Rings = true;
      this.log.info({}, 'IPv6 rings opened (the first IPv6 rule)');
    }
    const proto = (p: string) => (p === 'sctp' ? 132 : p as 'tcp' | 'udp');
    const prog = compileFilter({
      services: rules.services.map((s) => ({ protocol: proto(s.protocol), addr: s.addr, port: s.port })),
      realServers: rules.natDests.map((d) => ({ protocol: proto(d.protocol), addr: d.addr, port: d.port })),
    });
    if (this.plane) {
      this.plane.setRules(prog);
      // No marks in the set while nothing reads the queue: they would only be dropped.
      if (!this.plane.openFwmarkQueue([...rules.fwmarks ?? [], ...rules.fwmarks6 ?? []])) { rules.fwmarks = []; rules.fwmarks6 = []; }
    }
    if (this.pool) {
      const fan = compileFanout(this.engine.listServices(), this.pool.size);
      if (fan.degraded !== this.fanoutDegraded) {
        this.fanoutDegraded = fan.degraded;
        if (fan.degraded === 'address-only') this.log.warn({}, 'too many services for the fanout program: flows are steered by client address alone (one client\'s flows share a worker)');
        else if (fan.degraded === 'single-worker') this.log.error({}, 'too many services for the fanout program: every flow goes to worker 0; run fewer services or --workers 1');
      }
      // The other workers' filters first, then worker 0's program and filter.
      // Until the program changes, a new service's frames all go to worker 0
      // (the old program does not know them), whose filter admits them only
      // with the new program in place: no flow is admitted by a worker that
      // will not get the rest of its packets.
      const slots = this.schedSlots!.assign(this.engine.listServices());
      // fwmark services' packets come through one NFQUEUE: the worker their flows are steered to (fanout.ts) reads it.
      const fw = fan.plan.fwmarkWorker;
      const marks = [...rules.fwmarks ?? [], ...rules.fwmarks6 ?? []];
      const opened = await Promise.all(Array.from({ length: this.pool.size - 1 }, (_, i) => this.pool!.call<boolean>(i + 1, { op: 'set-rules', filter: prog, slots, fwmarks: i + 1 === fw ? marks : [] })));
      const opened0 = await this.pool.call<boolean>(0, { op: 'set-rules', filter: prog, fanout: fan.prog, slots, fwmarks: fw === 0 ? marks : [] });
      const before = this.fanoutPlan;
      this.fanoutPlan = fan.plan;
      if (!(fw === 0 ? opened0 : opened[fw - 1])) { rules.fwmarks = []; rules.fwmarks6 = []; }
      // The rules are in place whatever happens here: a failed hand-over costs the moved flows, not the operation.
      if (steeringChanged(before, fan.plan)) await this.handOver(fan.plan).catch((err: unknown) => this.log.error({ err: String(err) }, 'handing conns over between workers failed'));
    }
    await this.interceptor.update(rules);
  }

  /**
   * After a steering change (a -p/-M edit, a persistent service joining a NAT
   * real server's group): each worker hands over the conns and templates the
   * new program sends elsewhere, and their new workers adopt them, so open
   * connections keep flowing (IPVS has one table; this keeps lvsd's as one).
   * Frames that reach the new worker before its conn does are dropped as
   * unknown for that moment (TCP retransmits them).
   */
  private async handOver(plan: FanoutPlan): Promise<void> {
    const pool = this.pool!;
    const out = await pool.broadcast<Uint32Array>({ op: 'hand-over', plan });
    const to = Array.from({ length: pool.size }, (): SyncConn[] => []);
    let n = 0;
    for (const words of out) for (const c of unpackSyncConns(words)) { to[workerOfSyncConn(plan, c)]!.push(c); n++; }
    if (n === 0) return;
    const taken = await Promise.all(to.map((list, i) => (list.length ? pool.call<number>(i, { op: 'adopt', conns: packSyncConns(list) }) : Promise.resolve(0))));
    this.log.info({ moved: n, adopted: taken.reduce((a, b) => a + b, 0) }, 'steering changed: conns handed over between workers');
  }

  /** The director's address towards a tunnel real server (the outer source of its IPIP packets); 0 when there is no route yet. */
  private async tunSource(addr: string): Promise<number> {
    try {
      const r = await netlinkTables.routeGet(addr);
      return r?.prefsrc ? ipToU32(r.prefsrc) : 0;
    } catch (err) {
      this.log.warn({ addr, err: String(err) }, 'route lookup for a tunnel real server failed');
      return 0;
    }
  }

  /** tunSource() for an IPv6 tunnel real server: the route's preferred source, or null. */
  private async tunSource6(addr: string): Promise<Uint8Array | null> {
    try {
      const r = await netlinkTables.routeGet(addr);
      return r?.prefsrc ? parseIpv6(r.prefsrc) : null;
    } catch (err) {
      this.log.warn({ addr, err: String(err) }, 'route lookup for a tunnel real server failed');
      return null;
    }
  }

  /**
   * A TUN dest is accepted without a route, as the kernel accepts it (rules
   * often load before routes at boot): its frames are dropped and counted
   * (drop_tun_no_route) until refreshTunSources() finds a route.
   */
  private async destExtra(d: DestSpec): Promise<{ tunSource?: number; tunSource6?: Uint8Array }> {
    if (d.fwd !== 'tunnel') return {};
    if (d.addr.includes(':')) {
      const src6 = await this.tunSource6(d.addr);
      if (src6 === null) {
        this.log.info({ addr: d.addr }, `no route to tunnel real server ${d.addr} yet: its frames are dropped (drop_tun_no_route) until one appears`);
        return {};
      }
      return { tunSource6: src6 };
    }
    const src = await this.tunSource(d.addr);
    if (src === 0) {
      this.log.info({ addr: d.addr }, `no route to tunnel real server ${d.addr} yet: its frames are dropped (drop_tun_no_route) until one appears`);
      return {}; // an edit keeps the source it had
    }
    return { tunSource: src };
  }

  /**
   * Re-resolve TUN sources: the unresolved ones on every refresh (or sooner when
   * frames are waiting on them), all of them when the routing table changed.
   */
  private async refreshTunSources(all: boolean): Promise<void> {
    if (this.tunRefreshing) return;
    this.tunRefreshing = true;
    try {
      for (const [raddr, cur] of this.engine.tunnelDests()) {
        if (!all && cur !== 0) continue;
        const addr = u32ToIp(raddr);
        const src = await this.tunSource(addr);
        if (src === 0 && cur === 0) continue;
        if (src === 0) { this.log.warn({ addr }, `route to tunnel real server ${addr} is gone: its frames are dropped (drop_tun_no_route)`); }
        else if (cur === 0) this.log.info({ addr, source: u32ToIp(src) }, `tunnel real server ${addr} is routable now`);
        this.engine.setTunSource(raddr, src);
        await this.pool?.broadcast({ op: 'set-tun-source', raddr, src });
      }
      for (const [addr, cur] of this.engine.tunnelDests6()) {
        if (!all && cur !== null) continue;
        const src = await this.tunSource6(addr);
        if (src === null && cur === null) continue;
        if (src === null) this.log.warn({ addr }, `route to tunnel real server ${addr} is gone: its frames are dropped (drop_tun_no_route)`);
        else if (cur === null) this.log.info({ addr, source: formatIpv6(src) }, `tunnel real server ${addr} is routable now`);
        this.engine.setTunSource6(addr, src);
        await this.pool?.broadcast({ op: 'set-tun-source6', addr, src });
      }
    } finally {
      this.tunRefreshing = false;
    }
  }

  private handlers(): Handlers {
    const hooks: EngineOpsHooks = {
      destExtra: (d) => this.destExtra(d),
      extraCounters: () => (this.plane ? { ...this.plane.ioCounters(), ...this.sync.counters() } : this.sync.counters()),
      sync: this.sync,
    };
    return this.pool ? workerHandlers(this.engine, this.workerSet(this.pool), hooks) : engineHandlers(this.engine, hooks);
  }

  private workerSet(pool: WorkerPool): WorkerSet {
    return {
      size: pool.size,
      call: (i, req) => pool.call(i, req),
      broadcast: (req) => pool.broadcast(req),
      workerOf: (p, caddr, cport, vaddr, vport, fwmark) => workerOfConn(this.fanoutPlan, p, caddr, cport, vaddr, vport, fwmark),
      workerOf6: (p, caddr, cport, vaddr, vport) => workerOfConn6(this.fanoutPlan, p, caddr, cport, vaddr, vport),
    };
  }

  /**
   * What /metrics reads. With workers the values are gathered from them
   * before each scrape (`refresh`), then read synchronously as prom-client wants.
   */
  private metricsSource(): { source: MetricsSource; refresh?: () => Promise<void> } {
    const plane = this.plane;
    if (plane) {
      return {
        source: {
          listServices: () => this.engine.listServices(),
          totals: () => this.engine.totals(),
          engineCounters: () => ({ ...this.engine.counters(), ...this.sync.counters() }),
          ioCounters: () => plane.ioCounters(),
          batchSizes: () => plane.batchSizes(),
        },
      };
    }
    const pool = this.pool!;
    let services: ServiceStatus[] = [];
    let stats: WorkerStats[] = [];
    return {
      source: {
        listServices: () => services,
        totals: () => sumStats(stats.map((s) => s.totals)),
        engineCounters: () => ({ ...sumCounters(stats.map((s) => s.engine)), ...this.sync.counters() }),
        ioCounters: () => {
          const io = sumCounters(stats.map((s) => s.io));
          stats.forEach((s, i) => Object.assign(io, perWorkerCounters(i, s.io, s.engine)));
          return io;
        },
        batchSizes: () => sumBatches(stats.map((s) => s.batch)),
      },
      refresh: async () => {
        const [st, lists] = await Promise.all([pool.broadcast<WorkerStats>({ op: 'stats' }), pool.broadcast<ServiceStatus[]>({ op: 'list-services' })]);
        stats = st;
        services = mergeServices(this.engine.listServices(), lists);
      },
    };
  }

  /** I/O counters of the data plane (summed over workers); get-counters has them too. */
  async ioCounters(): Promise<Record<string, number>> {
    if (this.plane) return this.plane.ioCounters();
    const st = await this.pool!.broadcast<WorkerStats>({ op: 'stats' });
    return sumCounters(st.map((s) => s.io));
  }

  /** Clean stop: idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      this.plane?.stop();
      await this.sync?.close().catch((err: unknown) => this.log.warn({ err: String(err) }, 'stopping the sync daemons failed'));
      await this.pool?.stop();
      await this.control?.close();
      await this.metrics?.close();
      try { await this.interceptor?.remove(); } catch (err) { this.log.error({ err: String(err) }, 'removing the nftables table failed'); }
      this.plane?.close();
      this.fastKernel?.close();
      this.log.info('lvsd stopped');
    })();
    return this.stopping;
  }

  /** For exit paths that cannot await (uncaught errors, process.exit). */
  stopSync(): void {
    if (this.timer) clearInterval(this.timer);
    this.interceptor?.removeSync();
    this.control?.unlinkSync();
  }
}

/** Two lvsd in one namespace need two tables: the default socket gets `lvsd`, any other a suffix from its path. */
export function suffixOf(socket: string): string | undefined {
  if (socket === '/run/lvsd/lvsd.sock') return undefined;
  let h = 0;
  for (let i = 0; i < socket.length; i++) h = (Math.imul(h, 31) + socket.charCodeAt(i)) >>> 0;
  return h.toString(16).padStart(8, '0');
}

export type { Ruleset, ServiceKey };
