// lvsd's side of each control op: what ip_vs_ctl.c's sockopt/netlink
// handlers are to the kernel, one line per op onto the engine. The daemon
// serves this table; tests serve the same table over a temp socket, so a
// test of lvsadm or lvs-keepalived meets the engine's own answers and errors.
import type { IpvsEngine, DestExtra } from '../ipvs/engine.js';
import type { ConnEntry, DestSpec, ServiceStatus, SyncDaemonConfig } from '../ipvs/types.js';
import { ipToU32 } from '../packet/addr.js';
import { parseIpv6 } from '../packet/ipv6.js';
import type { Handlers } from './server.js';
import type { WorkerRequest, WorkerStats } from '../lvsd/worker-protocol.js';
import { mergeServices, perWorkerCounters, sumCounters } from './merge.js';

export interface EngineOpsHooks {
  /** What the engine needs beside the spec (a TUN dest's outer source, from routing). Default: nothing. */
  destExtra?: (d: DestSpec) => DestExtra | Promise<DestExtra>;
  /** Counters of the layers around the engine, merged into get-counters. */
  extraCounters?: () => Record<string, number>;
  /** The engine's clock (ms) for expiry and tracing; default performance.now(). */
  now?: () => number;
  /** The connection-sync daemons (src/sync/daemon.ts). Without them start-daemon/stop-daemon answer EOPNOTSUPP. */
  sync?: {
    start(d: SyncDaemonConfig): Promise<void>;
    stop(state: 'master' | 'backup'): Promise<void>;
    list(): SyncDaemonConfig[];
  };
}

export function engineHandlers(engine: IpvsEngine, hooks: EngineOpsHooks = {}): Handlers {
  const e = engine;
  const destExtra = hooks.destExtra ?? (() => ({}));
  const now = hooks.now ?? (() => performance.now());
  return {
    'get-info': () => e.info(),
    'add-service': ({ service }) => { e.addService(service); return null; },
    'edit-service': ({ service }) => { e.editService(service); return null; },
    'del-service': ({ key }) => { e.delService(key); return null; },
    'add-dest': async ({ key, dest }) => { e.addDest(key, dest, await destExtra(dest)); return null; },
    'edit-dest': async ({ key, dest }) => { e.editDest(key, dest, await destExtra(dest)); return null; },
    'del-dest': ({ key, addr, port }) => { e.delDest(key, addr, port); return null; },
    'flush': () => { e.flush(); return null; },
    'zero': ({ key }) => { e.zero(key); return null; },
    'set-timeouts': ({ timeouts }) => { e.setTimeouts(timeouts); return null; },
    'get-timeouts': () => e.getTimeouts(),
    'list-services': ({ key }) => e.listServices(key),
    'list-conns': () => e.listConns(now()),
    'replace': async ({ ruleset }) => {
      // Resolve every TUN dest before the engine swaps: replace stays atomic.
      const extra = new Map<string, DestExtra>();
      for (const s of ruleset.services) for (const d of s.dests) {
        if (d.fwd === 'tunnel' && !extra.has(d.addr)) extra.set(d.addr, await destExtra(d));
      }
      e.replace(ruleset, (d) => extra.get(d.addr) ?? {});
      return null;
    },
    'get-counters': () => ({ ...e.counters(), ...hooks.extraCounters?.() }),
    'list-daemons': () => hooks.sync?.list() ?? [],
    ...(hooks.sync ? {
      'start-daemon': async ({ daemon }: { daemon: SyncDaemonConfig }) => { await hooks.sync!.start(daemon); return null; },
      'stop-daemon': async ({ state }: { state: 'master' | 'backup' }) => { await hooks.sync!.stop(state); return null; },
    } : {}),
    'trace': ({ key, caddr, cport }) => {
      const r = e.trace(key, caddr, cport, now());
      return { reason: r.reason, ...(r.dest ? { dest: { addr: r.dest.addr, port: r.dest.port, fwd: r.dest.fwd } } : {}) };
    },
  };
}

/**
 * What workerHandlers needs of lvsd's workers (src/lvsd/workers.ts; tests
 * may give engines in one thread): requests to one or all, and which worker
 * owns a flow (the fanout program's choice, src/io/fanout.ts).
 */
export interface WorkerSet {
  readonly size: number;
  call<T = unknown>(i: number, req: WorkerRequest): Promise<T>;
  /** Posted to every worker in one go, so workers see requests in the order the reference engine applied them. */
  broadcast<T = unknown>(req: WorkerRequest): Promise<T[]>;
  /** The worker whose rings get the packets of client caddr:cport → vaddr:vport (of a fwmark service: that mark's worker). */
  workerOf(protocol: number, caddr: number, cport: number, vaddr: number, vport: number, fwmark?: number): number;
  /** The same for an IPv6 flow (addresses as their 16 bytes). */
  workerOf6(protocol: number, caddr: Uint8Array, cport: number, vaddr: Uint8Array, vport: number): number;
}

const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

/**
 * The op table of `lvsd --workers N`. The main thread's reference engine
 * (`ref`, no traffic) is the one authority on configuration: every op is
 * validated and applied there first (so errors and errnos are the engine's,
 * as with one worker), then the same op goes to every worker. Listings read
 * the configuration from `ref` and the counters, rates and conns from the
 * workers (src/control/merge.ts).
 */
export function workerHandlers(ref: IpvsEngine, workers: WorkerSet, hooks: EngineOpsHooks = {}): Handlers {
  const e = ref;
  const destExtra: (d: DestSpec) => DestExtra | Promise<DestExtra> = hooks.destExtra ?? (() => ({}));
  const all = async (req: WorkerRequest): Promise<void> => { await workers.broadcast(req); };
  return {
    'get-info': () => e.info(),
    'add-service': async ({ service }) => { e.addService(service); await all({ op: 'add-service', service }); return null; },
    'edit-service': async ({ service }) => { e.editService(service); await all({ op: 'edit-service', service }); return null; },
    'del-service': async ({ key }) => { e.delService(key); await all({ op: 'del-service', key }); return null; },
    'add-dest': async ({ key, dest }) => {
      const extra = await destExtra(dest);
      e.addDest(key, dest, extra);
      await all({ op: 'add-dest', key, dest, extra });
      return null;
    },
    'edit-dest': async ({ key, dest }) => {
      const extra = await destExtra(dest);
      e.editDest(key, dest, extra);
      await all({ op: 'edit-dest', key, dest, extra });
      return null;
    },
    'del-dest': async ({ key, addr, port }) => { e.delDest(key, addr, port); await all({ op: 'del-dest', key, addr, port }); return null; },
    'flush': async () => { e.flush(); await all({ op: 'flush' }); return null; },
    'zero': async ({ key }) => { e.zero(key); await all({ op: 'zero', ...(key ? { key } : {}) }); return null; },
    'set-timeouts': async ({ timeouts }) => { e.setTimeouts(timeouts); await all({ op: 'set-timeouts', timeouts }); return null; },
    'get-timeouts': () => e.getTimeouts(),
    'list-services': async ({ key }) => {
      const config = e.listServices(key); // ESRCH as the engine answers it
      return mergeServices(config, await workers.broadcast<ServiceStatus[]>({ op: 'list-services', ...(key ? { key } : {}) }));
    },
    'list-conns': async () => (await workers.broadcast<ConnEntry[]>({ op: 'list-conns' })).flat(),
    'replace': async ({ ruleset }) => {
      // Resolve every TUN dest first: replace stays atomic, on the reference engine and on each worker.
      const extras: Record<string, DestExtra> = {};
      for (const s of ruleset.services) for (const d of s.dests) {
        if (d.fwd === 'tunnel' && !(d.addr in extras)) extras[d.addr] = await destExtra(d);
      }
      e.replace(ruleset, (d) => extras[d.addr] ?? {});
      await all({ op: 'replace', ruleset, extras });
      return null;
    },
    'get-counters': async () => {
      const stats = await workers.broadcast<WorkerStats>({ op: 'stats' });
      const out = sumCounters([...stats.map((s) => s.engine), ...stats.map((s) => s.io)]);
      stats.forEach((s, i) => Object.assign(out, perWorkerCounters(i, s.io, s.engine)));
      return { ...out, workers: workers.size, ...hooks.extraCounters?.() };
    },
    'list-daemons': () => hooks.sync?.list() ?? [],
    ...(hooks.sync ? {
      'start-daemon': async ({ daemon }: { daemon: SyncDaemonConfig }) => { await hooks.sync!.start(daemon); return null; },
      'stop-daemon': async ({ state }: { state: 'master' | 'backup' }) => { await hooks.sync!.stop(state); return null; },
    } : {}),
    'trace': async ({ key, caddr, cport }) => {
      // The reference engine answers ESRCH; the worker that owns the flow the rest.
      e.listServices(key);
      const c6 = parseIpv6(caddr);
      const w = key.kind === 'fwmark'
        ? workers.workerOf(0, 0, cport, 0, 0, key.fwmark)
        : c6 !== null && key.addr.includes(':')
          ? workers.workerOf6(PROTO_NUM[key.protocol] ?? 0, c6, cport, parseIpv6(key.addr) ?? new Uint8Array(16), key.port)
          : workers.workerOf(PROTO_NUM[key.protocol] ?? 0, ipToU32(caddr), cport, ipToU32(key.addr), key.port);
      return workers.call(w, { op: 'trace', key, caddr, cport });
    },
  };
}
