// lvsd --workers' op table (workerHandlers) over two real engines in one
// thread, each fed only the frames the fanout program steers to it: the
// listings merge to one IPVS (every conn once, counters and conn counts
// summed), rr/wrr rotate as one scheduler and lc sees every worker's conns
// (the shared board), refused ops change nothing anywhere, and --trace asks
// the worker that owns the flow.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IpvsEngine, VERDICT_XMIT } from '../../src/ipvs/engine.js';
import { workerHandlers, type WorkerSet } from '../../src/control/ops.js';
import type { Handlers } from '../../src/control/server.js';
import type { WorkerRequest, WorkerStats } from '../../src/lvsd/worker-protocol.js';
import { NOT_ENGINE, engineRequest } from '../../src/lvsd/worker-ops.js';
import { SchedBoard, SchedShare, SchedSlots, wrrPeriod } from '../../src/lvsd/sched-share.js';
import { compileFanout, planFanout, workerOfConn, workerOfConn6, type FanoutPlan } from '../../src/io/fanout.js';
import { WrrScheduler } from '../../src/ipvs/sched/wrr.js';
import type { SchedDest } from '../../src/ipvs/sched/scheduler.js';
import { ipToU32, u32ToIp } from '../../src/packet/addr.js';
import type { ConnEntry, ServiceStatus } from '../../src/ipvs/types.js';
import { CLIENT, VIP, dest, mulberry, send, svc, tcp, tcpKey } from '../ipvs/helpers.js';

const N = 2;

/** Two engines sharing one scheduling board, the op table over them, and the fanout plan the main thread would compute. */
function rig(share = true) {
  const ref = new IpvsEngine({ maxConns: 1024 });
  const board = SchedBoard.create(N);
  const slots = new SchedSlots(board);
  const shares = Array.from({ length: N }, (_, i) => new SchedShare(board, i));
  const engines = shares.map((sh, i) => new IpvsEngine({ maxConns: 4096, rng: mulberry(i + 1), ...(share ? { wrapScheduler: (s, k) => sh.wrap(s, k) } : {}) }));
  const rx = engines.map(() => 0);
  let plan: FanoutPlan = planFanout([], N);
  const requests: WorkerRequest[][] = engines.map(() => []);
  const set: WorkerSet = {
    size: N,
    call: async <T>(i: number, req: WorkerRequest): Promise<T> => {
      requests[i]!.push(req);
      const r = engineRequest(engines[i]!, req, 0);
      if (r !== NOT_ENGINE) return r as T;
      if (req.op === 'set-rules') { if (share) shares[i]!.setSlots(req.slots); return null as T; }
      if (req.op === 'stats') {
        const s: WorkerStats = { engine: engines[i]!.counters(), io: { io_rx_frames: rx[i]!, ring_eth0_drops: 0 }, totals: engines[i]!.totals(), batch: { bounds: [1], counts: [rx[i]!], sum: rx[i]!, count: rx[i]! } };
        return s as T;
      }
      throw new Error(`unexpected ${req.op}`);
    },
    broadcast: <T>(req: WorkerRequest) => Promise.all(engines.map((_, i) => set.call<T>(i, req))),
    workerOf: (p, c, cp, v, vp, fm) => workerOfConn(plan, p, c, cp, v, vp, fm),
    workerOf6: (p, c, cp, v, vp) => workerOfConn6(plan, p, c, cp, v, vp),
  };
  const h = workerHandlers(ref, set);
  /** One control op and what the daemon does after a rule op (onRulesChanged). */
  const op = async <K extends keyof Handlers>(name: K, args: Parameters<NonNullable<Handlers[K]>>[0]): Promise<unknown> => {
    const r = await (h[name] as (a: unknown) => unknown)(args);
    plan = compileFanout(ref.listServices(), N).plan;
    await set.broadcast({ op: 'set-rules', filter: new Uint32Array(0), slots: slots.assign(ref.listServices()), fwmarks: [] });
    return r;
  };
  /** A client frame to the worker the fanout program picks; returns the RS it went to. */
  const frame = (caddr: string, cport: number, flags: string, vport = 80): { worker: number; rs?: string } => {
    const w = workerOfConn(plan, 6, ipToU32(caddr), cport, ipToU32(VIP), vport);
    rx[w]!++;
    const s = send(engines[w]!, tcp({ src: caddr, srcPort: cport, dstPort: vport, flags }));
    shares[w]!.publishAll(); // what the worker does at the end of an RX batch
    return { worker: w, ...(s.verdict === VERDICT_XMIT ? { rs: u32ToIp(s.nextHop!) } : {}) };
  };
  return { ref, engines, set, h, op, frame, requests, plan: () => plan };
}

describe('workerHandlers over two engines', () => {
  it('rr rotates as one scheduler across workers; listings merge to one IPVS', async () => {
    const r = rig();
    await r.op('add-service', { service: svc(tcpKey()) });
    await r.op('add-dest', { key: tcpKey(), dest: dest('10.0.1.1', 80) });
    await r.op('add-dest', { key: tcpKey(), dest: dest('10.0.1.2', 80) });
    const order: string[] = [];
    const workers = new Set<number>();
    for (let k = 0; k < 100; k++) {
      const f = r.frame(CLIENT, 20000 + k, 'S');
      order.push(f.rs!);
      workers.add(f.worker);
      r.frame(CLIENT, 20000 + k, 'A');
    }
    expect(workers.size).toBe(2);
    // Exactly alternating, whichever worker each SYN reached.
    for (let k = 1; k < 100; k++) expect(order[k]).not.toBe(order[k - 1]);

    const [s] = await r.h['list-services']!({ key: tcpKey() }) as ServiceStatus[];
    expect(s!.stats.conns).toBe(100);
    expect(s!.stats.inpkts).toBe(200);
    expect(s!.dests.map((d) => [d.addr, d.activeConns, d.stats.conns])).toEqual([['10.0.1.1', 50, 50], ['10.0.1.2', 50, 50]]);
    // The sum of what each engine lists, no more.
    const per = r.engines.map((e) => e.listServices()[0]!);
    expect(s!.stats.inbytes).toBe(per[0]!.stats.inbytes + per[1]!.stats.inbytes);
    expect(per[0]!.stats.conns).toBeGreaterThan(0);
    expect(per[1]!.stats.conns).toBeGreaterThan(0);

    const conns = await r.h['list-conns']!({}) as ConnEntry[];
    expect(conns).toHaveLength(100);
    expect(new Set(conns.map((c) => c.cport)).size).toBe(100);
    expect(conns.every((c) => c.state === 'ESTABLISHED')).toBe(true);

    const c = await r.h['get-counters']!({}) as Record<string, number>;
    expect(c.frames).toBe(200);
    expect(c.conns).toBe(100);
    expect(c.workers).toBe(2);
    expect(c.io_worker0_rx_frames! + c.io_worker1_rx_frames!).toBe(200);
    expect(c.io_worker0_conns! + c.io_worker1_conns!).toBe(100);
    expect(c.conn_table_size).toBe(r.engines[0]!.counters().conn_table_size); // a size, not summed
  });

  it('wrr 3:1 gives exactly 75/25 across workers', async () => {
    const r = rig();
    await r.op('add-service', { service: svc(tcpKey(), { scheduler: 'wrr' }) });
    await r.op('add-dest', { key: tcpKey(), dest: dest('10.0.1.1', 80, { weight: 3 }) });
    await r.op('add-dest', { key: tcpKey(), dest: dest('10.0.1.2', 80, { weight: 1 }) });
    const t: Record<string, number> = {};
    for (let k = 0; k < 100; k++) { const rs = r.frame(CLIENT, 30000 + k, 'S').rs!; t[rs] = (t[rs] ?? 0) + 1; }
    expect(t).toEqual({ '10.0.1.1': 75, '10.0.1.2': 25 });
  });

  it("lc sees the other worker's conns (and without the board it would not)", async () => {
    for (const share of [true, false]) {
      const r = rig(share);
      await r.op('add-service', { service: svc(tcpKey(), { scheduler: 'lc' }) });
      await r.op('add-dest', { key: tcpKey(), dest: dest('10.0.1.1', 80) });
      await r.op('add-dest', { key: tcpKey(), dest: dest('10.0.1.2', 80) });
      // One established conn on some worker, to the first dest (lc's tie goes to the first).
      const first = r.frame(CLIENT, 40000, 'S');
      r.frame(CLIENT, 40000, 'A');
      expect(first.rs).toBe('10.0.1.1');
      // New conns on the other worker.
      let port = 40001;
      while (workerOfConn(r.plan(), 6, ipToU32(CLIENT), port, ipToU32(VIP), 80) === first.worker) port++;
      const other = r.frame(CLIENT, port, 'S');
      expect(other.worker).not.toBe(first.worker);
      expect(other.rs).toBe(share ? '10.0.1.2' : '10.0.1.1');
    }
  });

  it('a refused op reaches no worker; --trace asks the owner of the flow', async () => {
    const r = rig();
    await r.op('add-service', { service: svc(tcpKey(), { scheduler: 'sh' }) });
    await r.op('add-dest', { key: tcpKey(), dest: dest('10.0.1.1', 80) });
    const before = r.requests.map((q) => q.length);
    await expect(r.h['add-service']!({ service: svc(tcpKey()) })).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(r.h['add-dest']!({ key: tcpKey(81), dest: dest('10.0.1.1', 80) })).rejects.toMatchObject({ code: 'ESRCH' });
    await expect(r.h['list-services']!({ key: tcpKey(82) })).rejects.toMatchObject({ code: 'ESRCH' });
    expect(r.requests.map((q) => q.length)).toEqual(before);
    r.frame(CLIENT, 50000, 'S');
    const owner = workerOfConn(r.plan(), 6, ipToU32(CLIENT), 50000, ipToU32(VIP), 80);
    const t = await r.h.trace!({ key: tcpKey(), caddr: CLIENT, cport: 50000 }) as { reason: string };
    expect(t.reason).toMatch(/existing connection/);
    expect(r.requests[owner]!.at(-1)).toMatchObject({ op: 'trace' });
    expect(r.requests[1 - owner]!.at(-1)?.op).not.toBe('trace');
    const fresh = await r.h.trace!({ key: tcpKey(), caddr: CLIENT, cport: 50001 }) as { reason: string; dest?: { addr: string } };
    expect(fresh).toMatchObject({ reason: 'new connection: scheduled by sh', dest: { addr: '10.0.1.1' } });
  });

  it('replace and flush reach every worker; zero clears the merged counters', async () => {
    const r = rig();
    await r.op('replace', { ruleset: { services: [{ ...svc(tcpKey()), dests: [dest('10.0.1.1', 80), dest('10.0.1.2', 80)] }] } });
    for (let k = 0; k < 10; k++) r.frame(CLIENT, 60000 + k, 'S');
    expect((await r.h['list-services']!({}) as ServiceStatus[])[0]!.stats.conns).toBe(10);
    await r.op('zero', {});
    expect((await r.h['list-services']!({}) as ServiceStatus[])[0]!.stats.conns).toBe(0);
    await r.op('flush', {});
    for (const e of r.engines) expect(e.listServices()).toEqual([]);
    expect(await r.h['list-services']!({})).toEqual([]);
  });
});

describe('wrrPeriod', () => {
  it("is one period of the engine's own wrr rotation", () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 6 }), (weights) => {
      const dests: SchedDest[] = weights.map((weight, id) => ({ id, addr: id + 1, port: 80, weight, activeConns: 0, inactConns: 0, persistConns: 0, flags: 0, uThreshold: 0 }));
      const w = new WrrScheduler();
      w.update(dests, { fallback: false, port: false });
      const seq = wrrPeriod(weights)!;
      const flow = { saddr: 1, sport: 1, daddr: 2, dport: 80, protocol: 6, now: 0 };
      for (let k = 0; k < seq.length * 2; k++) {
        const d = w.schedule(dests, flow);
        if (d === null) return seq.length === 0;
        if (d.id !== seq[k % seq.length]) return false;
      }
      return true;
    }), { numRuns: 300 });
  });
});
