// The part of a worker's requests that is its engine's alone (rule ops and
// listings), apart from the thread and its rings so that tests can drive
// engines through the same code in one thread (test/control/worker-ops.test.ts).
import type { IpvsEngine } from '../ipvs/engine.js';
import type { WorkerRequest } from './worker-protocol.js';

/** Not an engine op: the worker handles it (rings, sync, neighbours, stop). */
export const NOT_ENGINE = Symbol('not an engine op');

/** Applies `r` to `e`, with `now` the worker's clock; NOT_ENGINE for requests that need more than the engine. */
export function engineRequest(e: IpvsEngine, r: WorkerRequest, now: number): unknown {
  switch (r.op) {
    case 'add-service': e.addService(r.service); return null;
    case 'edit-service': e.editService(r.service); return null;
    case 'del-service': e.delService(r.key); return null;
    case 'add-dest': e.addDest(r.key, r.dest, r.extra); return null;
    case 'edit-dest': e.editDest(r.key, r.dest, r.extra); return null;
    case 'del-dest': e.delDest(r.key, r.addr, r.port); return null;
    case 'flush': e.flush(); return null;
    case 'zero': e.zero(r.key); return null;
    case 'set-timeouts': e.setTimeouts(r.timeouts); return null;
    case 'replace': {
      const x = r.extras;
      e.replace(r.ruleset, (d) => x[d.addr] ?? {});
      return null;
    }
    case 'set-tun-source': return e.setTunSource(r.raddr, r.src);
    case 'set-tun-source6': return e.setTunSource6(r.addr, r.src);
    case 'list-services': return e.listServices(r.key);
    case 'list-conns': return e.listConns(now);
    case 'trace': {
      const t = e.trace(r.key, r.caddr, r.cport, now);
      return { reason: t.reason, ...(t.dest ? { dest: { addr: t.dest.addr, port: t.dest.port, fwd: t.dest.fwd } } : {}) };
    }
    default: return NOT_ENGINE;
  }
}
