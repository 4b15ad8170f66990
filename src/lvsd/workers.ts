// The main thread's side of `lvsd --workers N`: starts the worker threads
// (src/lvsd/worker.ts) one after another, so that worker i joins every
// fanout group as member i (the fanout program returns worker indexes, and
// af_packet.c indexes members in join order); carries requests to them and
// their replies back; batches synced conns both ways; and watches them. A
// worker that dies or stops ticking is fatal: its share of the connection
// table is gone, and a replacement would join its groups as the last member,
// not in its slot (a member that leaves is replaced by the last one), so the
// process stops — removing its nftables table, so nothing is black-holed —
// and its supervisor starts a whole new lvsd.
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SyncConn } from '../ipvs/sync.js';
import type { PlaneFanout, PlaneLog } from './dataplane.js';
import type { RxRingVersion } from '../io/ring-geometry.js';
import type { FlowMaps } from '../io/fastpath-prog.js';
import type { InterceptMode } from '../io/intercept.js';
import type { KernelSnapshot, MainToWorker, WorkerInit, WorkerRequest, WorkerToMain } from './worker-protocol.js';
import { packSyncConns, unpackSyncConns } from './sync-pack.js';

/** A worker whose tick counter has not moved for this long is taken for hung. */
const WATCHDOG_MS = 10_000;
const WATCHDOG_CHECK_MS = 1000;

/** The worker's script: beside this module (dist/src/lvsd) or, bundled, dist/bin/lvsd-worker.js. */
export function workerScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, 'lvsd-worker.js'), join(here, '..', 'lvsd-worker.js'), join(here, 'worker.js')]) if (existsSync(p)) return p;
  throw new Error(`lvsd's worker script is not beside ${here}: build with \`npm run build\``);
}

export class WorkerError extends Error {
  constructor(readonly worker: number, message: string, readonly code?: string) {
    super(message);
    this.name = 'WorkerError';
  }
}

export interface WorkerPoolOptions {
  workers: number;
  ifnames: string[];
  engine: WorkerInit['engine'];
  synShed: boolean;
  fastMaps?: FlowMaps;
  fastMaxFlows?: number;
  rxRing?: RxRingVersion;
  /** How the rings take frames (io/intercept.ts). */
  intercept: InterceptMode;
  fwmarkQueue: number;
  tables: KernelSnapshot;
  /** The schedulers' shared board. */
  schedBoard: SharedArrayBuffer;
  log: PlaneLog & { child?: unknown };
  /** Per-worker logger (the main thread's logger with {worker: i}). */
  workerLog: (i: number) => PlaneLog;
  /** A worker died or hung: the daemon must stop. */
  onFatal: (err: Error) => void;
  /** Conns a worker's engine wants synced (master). */
  onSyncOut: (conns: SyncConn[]) => void;
  /** A worker dropped frames for a TUN dest without a route. */
  onTunNoRoute: () => void;
  /** Test hook (LVSD_TEST_WORKER_FAULT=index:ms:crash|hang): worker `index` throws, or hangs, after `ms`. */
  fault?: { index: number; ms: number; kind: 'crash' | 'hang' };
}

interface Pending { resolve: (v: unknown) => void; reject: (e: Error) => void }

export class WorkerPool {
  private readonly threads: Worker[] = [];
  private readonly pending: Map<number, Pending>[] = [];
  private nextId = 1;
  private stopping = false;
  private dead = false;
  private readonly heartbeat: SharedArrayBuffer;
  private readonly beats: Int32Array;
  private watchdog: NodeJS.Timeout | undefined;
  private readonly syncIn: SyncConn[][];
  private syncInScheduled = false;
  /** Fanout group ids of the interfaces' rings, as worker 0 created them. */
  groups: PlaneFanout | undefined;

  constructor(private readonly o: WorkerPoolOptions) {
    this.heartbeat = new SharedArrayBuffer(4 * o.workers);
    this.beats = new Int32Array(this.heartbeat);
    this.syncIn = Array.from({ length: o.workers }, () => []);
  }

  get size(): number { return this.o.workers; }

  /**
   * Protocol interception, with the first IPv6 rule: every worker opens its
   * IPv6 rings, in index order, joining the fanout groups worker 0 made.
   */
  async openV6(): Promise<void> {
    let groups = { small6: this.o.ifnames.map(() => 0), big6: this.o.ifnames.map(() => 0) };
    for (let i = 0; i < this.o.workers; i++) {
      const g = await this.call<PlaneFanout>(i, { op: 'open-v6', groups });
      if (i > 0) continue;
      if (!g.small6 || !g.big6 || [...g.small6, ...g.big6].some((x) => x === 0)) throw new Error('worker 0 opened its IPv6 rings outside a fanout group');
      groups = { small6: g.small6, big6: g.big6 };
      if (this.groups) this.groups = { ...this.groups, ...groups };
    }
  }

  /** Starts the workers in index order; each joins the fanout groups the first one made. */
  async start(): Promise<void> {
    const script = workerScript();
    const zeros = () => this.o.ifnames.map(() => 0);
    let fanout: PlaneFanout = { small: zeros(), big: zeros() };
    for (let i = 0; i < this.o.workers; i++) {
      const init: WorkerInit = {
        index: i, workers: this.o.workers, ifnames: this.o.ifnames, fanout, engine: this.o.engine, synShed: this.o.synShed, fastMaps: this.o.fastMaps, fastMaxFlows: this.o.fastMaxFlows,
        rxRing: this.o.rxRing, intercept: this.o.intercept, fwmarkQueue: this.o.fwmarkQueue,
        tables: this.o.tables, heartbeat: this.heartbeat, schedBoard: this.o.schedBoard,
        ...(this.o.fault?.index === i ? { fault: { ms: this.o.fault.ms, kind: this.o.fault.kind } } : {}),
      };
      const w = new Worker(script, { workerData: init, name: `lvsd-worker-${i}` });
      this.threads.push(w);
      this.pending.push(new Map());
      const groups = await new Promise<PlaneFanout>((resolve, reject) => {
        const onReady = (m: WorkerToMain) => { if (m.t === 'ready') { w.off('message', onReady); resolve(m.groups); } };
        w.on('message', onReady);
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`worker ${i} exited (${code}) while starting`)));
      });
      w.removeAllListeners('error');
      w.removeAllListeners('exit');
      this.wire(i, w);
      if (i === 0) {
        this.groups = groups;
        fanout = groups;
        if ([...groups.small, ...groups.big, ...groups.small6 ?? [], ...groups.big6 ?? []].some((g) => g === 0)) throw new Error('worker 0 opened its rings outside a fanout group');
      }
    }
    const last = Array.from(this.beats);
    const changed = last.map(() => performance.now());
    this.watchdog = setInterval(() => {
      const now = performance.now();
      for (let i = 0; i < last.length; i++) {
        const b = Atomics.load(this.beats, i);
        if (b !== last[i]) { last[i] = b; changed[i] = now; }
        else if (now - changed[i]! >= WATCHDOG_MS) this.fatal(new WorkerError(i, `worker ${i} has not ticked for ${Math.round(now - changed[i]!)} ms (hung)`));
      }
    }, WATCHDOG_CHECK_MS);
    this.watchdog.unref();
  }

  private wire(i: number, w: Worker): void {
    const log = this.o.workerLog(i);
    w.on('message', (m: WorkerToMain) => {
      switch (m.t) {
        case 'reply': {
          const p = this.pending[i]!.get(m.id);
          if (!p) return;
          this.pending[i]!.delete(m.id);
          if (m.ok) p.resolve(m.result);
          else {
            const e = new WorkerError(i, m.error.message, m.error.code);
            e.name = m.error.name;
            p.reject(e);
          }
          return;
        }
        case 'log': log[m.level](m.obj, m.msg); return;
        case 'sync-out': this.o.onSyncOut(unpackSyncConns(m.conns)); return;
        case 'tun-no-route': this.o.onTunNoRoute(); return;
        case 'ready': return;
      }
    });
    w.on('error', (err) => this.fatal(new WorkerError(i, `worker ${i} crashed: ${err.stack ?? String(err)}`)));
    w.on('exit', (code) => { if (!this.stopping) this.fatal(new WorkerError(i, `worker ${i} exited (code ${code})`)); });
  }

  private fatal(err: Error): void {
    if (this.dead || this.stopping) return;
    this.dead = true;
    for (const m of this.pending) {
      for (const p of m.values()) p.reject(err);
      m.clear();
    }
    this.o.onFatal(err);
  }

  /** One request to worker `i`; rejects with the worker's error. */
  call<T = unknown>(i: number, req: WorkerRequest): Promise<T> {
    const w = this.threads[i];
    if (!w || this.dead) return Promise.reject(new WorkerError(i, `worker ${i} is not running`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending[i]!.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const msg: MainToWorker = { t: 'call', id, req };
      w.postMessage(msg);
    });
  }

  /**
   * The same request to every worker, posted in one go (so requests keep
   * the order in which the reference engine applied them); resolves with
   * every answer, in worker order.
   */
  broadcast<T = unknown>(req: WorkerRequest): Promise<T[]> {
    return Promise.all(this.threads.map((_, i) => this.call<T>(i, req)));
  }

  /** Hands a synced conn to worker `i` (batched per turn of the event loop). */
  syncConn(i: number, c: SyncConn): void {
    this.syncIn[i]!.push({ ...c });
    if (this.syncInScheduled) return;
    this.syncInScheduled = true;
    setImmediate(() => {
      this.syncInScheduled = false;
      this.syncIn.forEach((list, w) => {
        if (!list.length || this.dead) return;
        const conns = packSyncConns(list);
        list.length = 0;
        const msg: MainToWorker = { t: 'sync-in', conns };
        this.threads[w]!.postMessage(msg, [conns.buffer as ArrayBuffer]);
      });
    });
  }

  /** Stops every worker: rings closed by the worker itself, then the thread. */
  async stop(): Promise<void> {
    if (this.watchdog) clearInterval(this.watchdog);
    const alive = !this.dead;
    this.stopping = true;
    if (alive) {
      await Promise.race([
        Promise.allSettled(this.threads.map((w, i) => new Promise<void>((resolve) => {
          const id = this.nextId++;
          this.pending[i]!.set(id, { resolve: () => resolve(), reject: () => resolve() });
          try { w.postMessage({ t: 'call', id, req: { op: 'stop' } } satisfies MainToWorker); } catch { resolve(); }
        }))),
        new Promise((r) => setTimeout(r, 2000)),
      ]);
    }
    await Promise.allSettled(this.threads.map((w) => w.terminate()));
  }
}
