// One forwarding worker of `lvsd --workers N` (a node:worker_threads
// thread): its own engine and data plane (rings in the fanout groups at its
// index, neighbour table, SYN shedding), driven by the main thread
// (src/lvsd/workers.ts), which holds the control socket, nftables, metrics
// and connection sync and is the one authority on configuration. The worker
// applies the rule operations the main thread has already validated on its
// reference engine, answers listings from its own table and counters, hands
// the conns its engine wants synced to the main thread and installs the
// synced conns it is given (the ones the fanout program steers here).
import { parentPort, workerData } from 'node:worker_threads';
import { IpvsEngine } from '../ipvs/engine.js';
import type { SyncConn } from '../ipvs/sync.js';
import type { KernelTables } from '../io/neigh.js';
import { netlinkTables } from '../io/native.js';

import { DataPlane, type PlaneLog } from './dataplane.js';
import { SchedBoard, SchedShare } from './sched-share.js';
import { NOT_ENGINE, engineRequest } from './worker-ops.js';
import { packSyncConns, unpackSyncConns } from './sync-pack.js';
import { workerOfSyncConn } from '../io/fanout.js';
import type { MainToWorker, WorkerInit, WorkerRequest, WorkerStats, WorkerToMain } from './worker-protocol.js';

const TICK_MS = 100;
/** After an RX batch, this worker's conn counts reach the other workers' schedulers at most this often (ms). */
const PUBLISH_MS = 1;

function main(): void {
  const port = parentPort;
  if (!port) throw new Error('src/lvsd/worker.ts runs as a worker thread of lvsd');
  const init = workerData as WorkerInit;
  const post = (m: WorkerToMain, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer ?? []);
  const logAt = (level: 'debug' | 'info' | 'warn' | 'error') => (obj: object, msg: string) => {
    // Errors do not survive structured cloning with their stack: send the text.
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) o[k] = v instanceof Error ? (v.stack ?? String(v)) : v;
    post({ t: 'log', level, obj: o, msg });
  };
  const log: PlaneLog = { debug: logAt('debug'), info: logAt('info'), warn: logAt('warn'), error: logAt('error') };

  // Schedulers decide on every worker's conn counts and share rr/wrr rotations.
  const share = new SchedShare(new SchedBoard(init.schedBoard), init.index);
  const e = new IpvsEngine({
    connTableBits: init.engine.connTabBits, maxConns: init.engine.maxConns, wrapScheduler: (sched, key) => share.wrap(sched, key),
  });
  if (init.engine.tunMtu) e.setTunMtu(init.engine.tunMtu);
  if (init.engine.sloppyTcp) e.setSloppyTcp(true);
  if (init.engine.fastMinPackets !== undefined) e.setFastMinPackets(init.engine.fastMinPackets);

  // The routing and neighbour tables as the main thread last read them: one
  // set of dumps per refresh for the whole process, not one per worker.
  let tables = init.tables;
  const kernel: KernelTables = {
    routeGet: (a) => netlinkTables.routeGet(a),
    neighGet: (a, d) => netlinkTables.neighGet(a, d),
    neighResolve: (a, d) => netlinkTables.neighResolve(a, d),
    routeTable: async () => tables.routes,
    neighTable: async () => tables.neighs,
    routeTable6: async () => tables.routes6,
    neighTable6: async () => tables.neighs6,
  };
  const plane = new DataPlane({
    ifnames: init.ifnames, engine: e, log, synShed: init.synShed, kernel, rxRing: init.rxRing, intercept: init.intercept, fwmarkQueue: init.fwmarkQueue,
    fanout: init.fanout, connsCreated: () => e.counters().conns_created ?? 0,
    afterBatch: () => share.publishAll(performance.now(), PUBLISH_MS),
    ...(init.fastMaps !== undefined ? { fastPath: { maps: init.fastMaps, maxFlows: init.fastMaxFlows, owner: init.index, engine: e } } : {}),
  });
  plane.open();

  // Conns the engine wants synced, packed and sent once per turn of the loop.
  let syncOut: SyncConn[] = [];
  let syncFlush = false;
  const flushSync = () => {
    syncFlush = false;
    if (!syncOut.length) return;
    const packed = packSyncConns(syncOut);
    syncOut = [];
    post({ t: 'sync-out', conns: packed }, [packed.buffer as ArrayBuffer]);
  };

  const beats = new Int32Array(init.heartbeat);
  let tunNoRoute = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    e.tick(now);
    plane.tick(now, TICK_MS);
    share.publishAll();
    Atomics.add(beats, init.index, 1);
    const nr = e.dropCount('tun_no_route');
    if (nr !== tunNoRoute) { tunNoRoute = nr; post({ t: 'tun-no-route' }); }
  }, TICK_MS);
  const fault = init.fault;
  if (fault) {
    setTimeout(() => {
      if (fault.kind === 'crash') throw new Error(`LVSD_TEST_WORKER_FAULT: worker ${init.index} crashes as asked`);
      for (;;) { /* LVSD_TEST_WORKER_FAULT: hang as a bug would, without ticking */ }
    }, fault.ms);
  }

  const handle = async (r: WorkerRequest): Promise<unknown> => {
    const done = engineRequest(e, r, performance.now());
    if (done !== NOT_ENGINE) return done;
    switch (r.op) {
      case 'set-rules':
        // Steering before admission: a frame of a new service must not be
        // accepted by a worker the new program would not send its flow to.
        share.setSlots(r.slots);
        if (r.fanout) plane.setFanoutProgram(r.fanout);
        plane.setRules(r.filter);
        return plane.openFwmarkQueue(r.fwmarks);
      case 'open-v6':
        plane.openV6(r.groups);
        return plane.fanoutGroups();
      case 'stats': {
        const s: WorkerStats = { engine: e.counters(), io: plane.ioCounters(), totals: e.totals(), batch: plane.batchSizes() };
        return s;
      }
      case 'sync-master':
        e.setSyncMaster(r.on ? (c) => {
          // The sink's object (and an IPv6 entry's address arrays) is reused by the engine: copy it.
          syncOut.push({ ...c, v6: c.v6 && { caddr: c.v6.caddr.slice(), vaddr: c.v6.vaddr.slice(), daddr: c.v6.daddr.slice() } });
          if (!syncFlush) { syncFlush = true; setImmediate(flushSync); }
        } : null);
        return null;
      case 'hand-over': {
        const moved = e.handOver((c) => workerOfSyncConn(r.plan, c) !== init.index, performance.now());
        return packSyncConns(moved);
      }
      case 'adopt':
        return e.adopt(unpackSyncConns(r.conns), performance.now());
      case 'neigh-snapshot':
        tables = r.tables;
        await plane.neigh.refreshSnapshot();
        return null;
      case 'stop':
        clearInterval(timer);
        plane.stop();
        flushSync();
        plane.close();
        return null;
      default:
        throw new Error(`unknown worker request ${r.op}`);
    }
  };

  port.on('message', (m: MainToWorker) => {
    if (m.t === 'sync-in') {
      const now = performance.now();
      for (const c of unpackSyncConns(m.conns)) e.syncConn(c, now);
      return;
    }
    handle(m.req).then(
      (result) => post({ t: 'reply', id: m.id, ok: true, result }),
      (err: unknown) => {
        const x = err as { name?: string; code?: string; message?: string };
        post({ t: 'reply', id: m.id, ok: false, error: { name: x?.name ?? 'Error', ...(x?.code ? { code: x.code } : {}), message: x?.message ?? String(err) } });
      },
    );
  });

  // Neighbours resolve from the first snapshot before the first frame.
  plane.neigh.refreshSnapshot().catch((err: unknown) => log.warn({ err: String(err) }, 'reading the routing/neighbour tables failed')).finally(() => {
    plane.start();
    post({ t: 'ready', groups: plane.fanoutGroups() });
  });
}

main();
