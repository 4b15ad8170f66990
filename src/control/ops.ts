// lvsd's side of each control op: what ip_vs_ctl.c's sockopt/netlink
// handlers are to the kernel, one line per op onto the engine. The daemon
// serves this table; tests serve the same table over a temp socket, so a
// test of lvsadm or lvs-keepalived meets the engine's own answers and errors.
import type { IpvsEngine, DestExtra } from '../ipvs/engine.js';
import type { DestSpec, SyncDaemonConfig } from '../ipvs/types.js';
import type { Handlers } from './server.js';

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
