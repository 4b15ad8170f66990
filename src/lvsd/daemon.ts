// lvsd's wiring: engine + packet sockets + interception + neighbours + the
// control socket + metrics, and one stop path that always removes what the
// daemon put on the host (nftables table, socket file).
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import { ControlServer, type Handlers } from '../control/server.js';
import { engineHandlers } from '../control/ops.js';
import type { MetricsServer } from '../metrics/server.js';
import { Interceptor, type InterceptRules } from '../io/intercept.js';
import { NeighTable, ipCommandTables } from '../io/neigh.js';
import { Forwarder, makePort, BATCH_BUCKETS } from '../io/forwarder.js';
import { openPacket, type PacketSocket } from '../io/native.js';
import { compileFilter, lengthGate, synGate } from '../io/bpf.js';
import { ringGeometry, type RingGeometry } from '../io/ring-geometry.js';
import { SynShed } from '../io/syn-shed.js';
import { IpvsEngine, type InterceptKeys } from '../ipvs/engine.js';
import { ipToU32, u32ToIp } from '../packet/addr.js';
import { formatIpv6, parseIpv6 } from '../packet/ipv6.js';
import type { DestSpec, Ruleset, ServiceKey } from '../ipvs/types.js';
import type { LvsdOptions } from './options.js';
import { SyncDaemons } from '../sync/daemon.js';
import { FwmarkQueue, queueNumFor } from '../io/nfqueue.js';

const TICK_MS = 100;
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

export class Daemon {
  private engine!: IpvsEngine;
  private sockets: PacketSocket[] = [];
  /** Per interface, the ring for frames longer than rings.bigFrame (RX only). */
  private bigSockets: PacketSocket[] = [];
  private forwarder!: Forwarder;
  private neigh!: NeighTable;
  private interceptor!: Interceptor;
  private control!: ControlServer;
  private metrics: MetricsServer | undefined;
  private sync!: SyncDaemons;
  private timer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private tunRefreshing = false;
  private routeGeneration = 0;
  private tunNoRouteSeen = 0;
  private lastTunRetry = 0;
  private batchSum = 0;
  /** The socket filter for the current rules, before the SYN gate and the length gates. */
  private filterProg = compileFilter({ services: [] });
  private readonly shed = new SynShed();
  private readonly rings: RingGeometry;
  /** The fwmark path (io/nfqueue.ts), opened with the first fwmark service; its own Forwarder over the same ports counts its packets apart. */
  private fwmark: FwmarkQueue | undefined;
  private fwmarkForwarder: Forwarder | undefined;
  private fwmarkError = '';

  constructor(private readonly opts: LvsdOptions, private readonly log: Logger) {
    this.rings = ringGeometry(opts.rxRing ?? 2);
  }

  get interfaces(): string[] { return this.sockets.map((s) => s.ifname); }

  async start(): Promise<void> {
    const o = this.opts;
    const ifnames = o.interfaces.length ? o.interfaces : await upInterfaces();
    if (!ifnames.length) throw new Error('no interface to forward on: pass --interface IF (no non-loopback interface is up)');
    this.engine = new IpvsEngine({ connTableBits: o.connTabBits, maxConns: o.maxConns });
    if (o.tunMtu) this.engine.setTunMtu(o.tunMtu);
    if (o.sloppyTcp) this.engine.setSloppyTcp(true);
    this.sync = new SyncDaemons({ engine: this.engine, now: () => performance.now(), log: this.log });

    // The interceptor first: a crashed run's table goes before anything else.
    this.interceptor = new Interceptor(ifnames, suffixOf(o.socket), { queueNum: this.fwmarkQueueNum() });
    await this.interceptor.install({ services: [], natDests: [] });

    const none = compileFilter({ services: [] });
    const g = this.rings;
    for (const ifname of ifnames) {
      this.sockets.push(openPacket(ifname, { ...g.small, filter: lengthGate(none, g.bigFrame) }));
      this.bigSockets.push(openPacket(ifname, { ...g.big, filter: lengthGate(none, g.bigFrame, true) }));
    }
    this.neigh = new NeighTable({
      ports: this.sockets.map((s) => ({ ifname: s.ifname, mac: s.macBytes })),
      onResolved: (port, frames) => this.forwarder.sendHeld(port, frames),
      onError: (err, addr) => this.log.warn({ err: String(err), addr }, 'neighbour resolution failed'),
    });
    this.forwarder = new Forwarder(this.engine, this.sockets.map((s) => makePort(s)), this.neigh, {
      rxOnly: this.bigSockets.map((s) => makePort(s)),
      onBatch: (n) => { this.batchSum += n; },
      onEngineError: (err) => {
        // Log the first few with their stack, then every 1000th: a bug must be visible, not a log flood.
        const k = this.forwarder.counters.engineErrors;
        if (k <= 5 || k % 1000 === 0) this.log.error({ err, count: k }, 'engine threw on a frame; frame dropped');
      },
      onFault: (err) => {
        const k = this.forwarder.counters.faults;
        if (k <= 5 || k % 1000 === 0) this.log.error({ err, count: k }, 'the forwarder threw on a frame; frame dropped');
      },
    });
    // The first snapshot before the first frame: next hops then resolve without a process each.
    await this.neigh.refreshSnapshot().catch((err: unknown) => this.log.warn({ err: String(err) }, 'reading the routing/neighbour tables failed'));
    this.forwarder.start();
    let lastSnap = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      this.engine.tick(now);
      this.neigh.expire(now);
      if (o.synShed) this.shedTick(now);
      if (now - lastSnap >= NEIGH_REFRESH_MS) {
        lastSnap = now;
        this.neigh.refreshSnapshot()
          .then(() => {
            const changed = this.neigh.routeGeneration !== this.routeGeneration;
            this.routeGeneration = this.neigh.routeGeneration;
            return this.refreshTunSources(changed);
          })
          .catch((err: unknown) => this.log.warn({ err: String(err) }, 'reading the routing/neighbour tables failed'));
      }
      // Frames are waiting on a TUN dest with no source: look again soon, not only at the next refresh.
      const noRoute = this.engine.dropCount('tun_no_route');
      if (noRoute !== this.tunNoRouteSeen && now - this.lastTunRetry >= TUN_RETRY_MS) {
        this.tunNoRouteSeen = noRoute;
        this.lastTunRetry = now;
        void this.refreshTunSources(false);
      }
    }, TICK_MS);

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
      this.metrics = new MetricsServer(buildRegistry({
        listServices: () => this.engine.listServices(),
        totals: () => this.engine.totals(),
        engineCounters: () => ({ ...this.engine.counters(), ...this.sync.counters() }),
        ioCounters: () => this.ioCounters(),
        batchSizes: () => this.batchSizes(),
      }), 'lvsd');
      const a = await this.metrics.listen(o.metrics.host, o.metrics.port);
      this.log.info({ metrics: `http://${a.host}:${a.port}/metrics` }, 'metrics listening');
    }
    this.log.info({ socket: o.socket, interfaces: ifnames, table: this.interceptor.table }, 'lvsd started');
  }

  /** Regenerate nftables interception and BPF socket filters from the engine's services. */
  private async applyRules(): Promise<void> {
    const rules = interceptRulesOf(this.engine.serviceKeys());
    const proto = (p: string) => (p === 'sctp' ? 132 : p as 'tcp' | 'udp');
    const prog = compileFilter({
      services: rules.services.map((s) => ({ protocol: proto(s.protocol), addr: s.addr, port: s.port })),
      realServers: rules.natDests.map((d) => ({ protocol: proto(d.protocol), addr: d.addr, port: d.port })),
    });
    this.filterProg = prog;
    this.setSmallFilters();
    const big = lengthGate(prog, this.rings.bigFrame, true);
    for (const s of this.bigSockets) s.setFilter(big);
    // No marks in the set while nothing reads the queue: they would only be dropped.
    if (!this.openFwmarkQueue([...rules.fwmarks ?? [], ...rules.fwmarks6 ?? []])) { rules.fwmarks = []; rules.fwmarks6 = []; }
    await this.interceptor.update(rules);
  }

  /** The page-block rings' filter: the rules, behind the SYN gate while shedding (a SYN is never a big frame). */
  private setSmallFilters(): void {
    const small = lengthGate(synGate(this.filterProg, this.shed.accept), this.rings.bigFrame);
    for (const s of this.sockets) if (!s.isClosed) s.setFilter(small);
  }

  /** SYN shedding (io/syn-shed.ts): feed the controller the rings' counters; re-gate the filter when it says so. */
  private shedTick(now: number): void {
    let packets = 0, drops = 0;
    for (const s of [...this.sockets, ...this.bigSockets]) {
      if (s.isClosed) continue;
      const st = s.stats();
      packets += st.packets;
      drops += st.drops;
    }
    // The forwarder walks the rings itself (not through RxRing.drain): its count is the one to compare.
    const walked = this.forwarder.counters.rxFrames;
    const was = this.shed.accept;
    // Slots of the V2 rings (a V3 ring's frames per block vary: then only its drops say "behind").
    const slots = this.forwarder.rxPorts.reduce((n, p) => n + (p.v2 ? p.frameCount : 0), 0);
    const ringFrames = slots > 0 ? slots : undefined;
    const d = this.shed.update({ packets, drops, walked, created: this.engine.counters().conns_created ?? 0, ringFrames }, now);
    if (!d) return;
    this.setSmallFilters();
    const share = `${(d.accept * 100).toFixed(d.accept < 0.1 ? 1 : 0)}%`;
    if (was >= 1) this.log.warn({ accept: d.accept }, `overloaded by new connections: letting ${share} of SYNs through so established flows keep moving; ${d.reason}`);
    else if (d.accept >= 1) this.log.warn({ accept: 1, shedSeconds: this.shed.shedTicks * TICK_MS / 1000 }, 'SYN shedding over: every SYN let through again');
    else this.log.debug({ accept: d.accept }, `SYN shedding: ${share} of SYNs let through; ${d.reason}`);
  }

  /** The director's address towards a tunnel real server (the outer source of its IPIP packets); 0 when there is no route yet. */
  private async tunSource(addr: string): Promise<number> {
    try {
      const r = await ipCommandTables.routeGet(addr);
      return r?.prefsrc ? ipToU32(r.prefsrc) : 0;
    } catch (err) {
      this.log.warn({ addr, err: String(err) }, 'route lookup for a tunnel real server failed');
      return 0;
    }
  }

  /** tunSource() for an IPv6 tunnel real server: the route's preferred source, or null. */
  private async tunSource6(addr: string): Promise<Uint8Array | null> {
    try {
      const r = await ipCommandTables.routeGet(addr);
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
      }
      for (const [addr, cur] of this.engine.tunnelDests6()) {
        if (!all && cur !== null) continue;
        const src = await this.tunSource6(addr);
        if (src === null && cur === null) continue;
        if (src === null) this.log.warn({ addr }, `route to tunnel real server ${addr} is gone: its frames are dropped (drop_tun_no_route)`);
        else if (cur === null) this.log.info({ addr, source: formatIpv6(src) }, `tunnel real server ${addr} is routable now`);
        this.engine.setTunSource6(addr, src);
      }
    } finally {
      this.tunRefreshing = false;
    }
  }

  private fwmarkQueueNum(): number {
    return this.opts.fwmarkQueue ?? queueNumFor(suffixOf(this.opts.socket));
  }

  /**
   * The NFQUEUE reader, bound before the first mark goes into the rules
   * (they have no bypass). False when it cannot be: fwmark services then
   * stay unmatched, and the log says why.
   */
  private openFwmarkQueue(marks: number[]): boolean {
    if (marks.length === 0 || this.fwmark?.isOpen) return true;
    const fwd = this.fwmarkForwarder ??= new Forwarder(this.engine, this.forwarder.ports, this.neigh, {
      onEngineError: (err) => this.log.error({ err }, 'engine threw on a queued packet; dropped'),
      onFault: (err) => this.log.error({ err }, 'the forwarder threw on a queued packet; dropped'),
    });
    const q = new FwmarkQueue(this.fwmarkQueueNum(), fwd, {
      onFault: (err) => this.log.error({ err }, 'the NFQUEUE reader threw; its batch is dropped'),
    });
    try {
      q.open();
    } catch (err) {
      const msg = String((err as Error).message ?? err);
      if (msg !== this.fwmarkError) this.log.error({ err: msg }, 'fwmark services cannot be matched');
      this.fwmarkError = msg;
      return false;
    }
    // fwd is never start()ed: its ports' RX rings are the main forwarder's; it only injects.
    q.start();
    this.fwmark = q;
    this.fwmarkError = '';
    this.log.info({ queue: q.queueNum }, 'fwmark services: marked packets are queued to lvsd (NFQUEUE)');
    return true;
  }

  private fwmarkCounters(): Record<string, number> {
    const q = this.fwmark;
    const out: Record<string, number> = { nfq_bound: q?.isOpen ? 1 : 0 };
    if (!q) return out;
    const n = q.counters;
    out.nfq_packets = n.packets;
    out.nfq_batches = n.batches;
    out.nfq_verdict_drop = n.verdictDrop;
    out.nfq_verdict_accept = n.verdictAccept;
    out.nfq_drop_truncated = n.truncated;
    out.nfq_no_mark = n.noMark;
    out.nfq_malformed = n.malformed;
    out.nfq_netlink_errors = n.netlinkErrors;
    out.nfq_recv_enobufs = n.enobufs;
    out.nfq_recv_errors = n.recvErrors;
    out.nfq_send_errors = n.sendErrors;
    out.nfq_faults = n.faults;
    const f = this.fwmarkForwarder!.counters;
    out.nfq_forwarded = f.forwarded;
    out.nfq_engine_drops = f.drops;
    out.nfq_engine_ignored = f.ignored;
    out.nfq_tx_ring_full = f.txFull;
    out.nfq_neigh_miss = f.neighMiss;
    out.nfq_drop_oversize = f.oversize;
    out.nfq_engine_errors = f.engineErrors;
    out.nfq_drop_fault = f.faults + f.badFrame;
    const k = q.kernelStats();
    // (queue_total, the packets waiting now, is a level: the metrics take these as counters.)
    if (k) {
      out.nfq_kernel_queue_dropped = k.queueDropped;
      out.nfq_kernel_user_dropped = k.userDropped;
    }
    return out;
  }

  private handlers(): Handlers {
    return engineHandlers(this.engine, {
      destExtra: (d) => this.destExtra(d),
      extraCounters: () => ({ ...this.ioCounters(), ...this.sync.counters() }),
      sync: this.sync,
    });
  }

  ioCounters(): Record<string, number> {
    const out: Record<string, number> = {};
    const c = this.forwarder.counters;
    out.io_rx_frames = c.rxFrames;
    out.io_rx_batches = c.rxBatches;
    out.io_tx_frames = c.txFrames;
    out.io_truncated_gso = c.truncated;
    out.io_vlan_tagged = c.vlan;
    out.io_other_host = c.otherHost;
    out.io_tx_ring_full = c.txFull;
    out.io_syn_shed_accept_permille = Math.round(this.shed.accept * 1000);
    out.io_syn_shed_ticks = this.shed.shedTicks;
    let kicks = 0, fullKicks = 0, unjams = 0;
    for (const s of this.sockets) { kicks += s.tx.kicks; fullKicks += s.tx.fullKicks; unjams += s.tx.unjams; }
    out.io_tx_unjams = unjams;
    out.io_tx_kicks = kicks;
    out.io_tx_kicks_half_full = c.txKicksHalf;
    out.io_tx_kicks_batch_end = c.txKicksBatch;
    out.io_tx_kicks_ring_full = fullKicks;
    out.io_neigh_miss = c.neighMiss;
    out.io_engine_errors = c.engineErrors;
    out.io_forwarded = c.forwarded;
    out.io_drop_oversize = c.oversize;
    out.io_drop_bad_frame = c.badFrame;
    out.io_drop_fault = c.faults;
    out.io_held_dropped = c.heldDropped;
    out.io_gso_rx = c.gsoRx;
    out.io_gso_sent = c.gsoSent;
    out.io_gso_segmented = c.gsoSegmented;
    out.io_gso_segments = c.gsoSegments;
    out.io_drop_gso_unsupported = c.gsoUnsupported;
    out.io_drop_gso_send = c.gsoSendErrors;
    const n = this.neigh.counters;
    out.neigh_held = n.held;
    out.neigh_drop_queue_full = n.dropQueueFull;
    out.neigh_drop_unresolved = n.dropUnresolved;
    out.neigh_drop_no_route = n.dropNoRoute;
    out.neigh_resolutions = n.resolutions;
    for (const s of this.sockets) {
      if (s.isClosed) continue;
      const st = s.stats();
      out[`ring_${s.ifname}_packets`] = st.packets;
      out[`ring_${s.ifname}_drops`] = st.drops;
      out[`tx_${s.ifname}_kicks`] = s.tx.kicks;
      out[`tx_${s.ifname}_kick_errors`] = s.tx.kickErrors;
      out[`tx_${s.ifname}_wrong_format`] = s.tx.wrongFormat;
    }
    for (const s of this.bigSockets) {
      if (s.isClosed) continue;
      const st = s.stats();
      out[`ring_${s.ifname}_big_packets`] = st.packets;
      out[`ring_${s.ifname}_big_drops`] = st.drops;
    }
    Object.assign(out, this.fwmarkCounters());
    return out;
  }

  private batchSizes(): { bounds: number[]; counts: number[]; sum: number; count: number } {
    const h = this.forwarder.counters.batchHist;
    const counts: number[] = [];
    let acc = 0;
    for (let i = 0; i < BATCH_BUCKETS.length; i++) { acc += h[i]!; counts.push(acc); }
    acc += h[BATCH_BUCKETS.length]!;
    return { bounds: BATCH_BUCKETS, counts, sum: this.batchSum, count: acc };
  }

  /** Clean stop: idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.timer) clearInterval(this.timer);
      this.forwarder?.stop();
      await this.sync?.close().catch((err: unknown) => this.log.warn({ err: String(err) }, 'stopping the sync daemons failed'));
      await this.control?.close();
      await this.metrics?.close();
      try { await this.interceptor?.remove(); } catch (err) { this.log.error({ err: String(err) }, 'removing the nftables table failed'); }
      // After the rules: nothing is queued any more; what still waits is dropped with the socket.
      this.fwmark?.close();
      for (const s of this.sockets) s.close();
      for (const s of this.bigSockets) s.close();
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
