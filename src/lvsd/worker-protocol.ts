// The messages between lvsd's main thread (src/lvsd/workers.ts) and its
// forwarding workers (src/lvsd/worker.ts). Types only: importing this never
// starts a worker.
import type { DestExtra } from '../ipvs/engine.js';
import type { DestSpec, Ruleset, ServiceKey, ServiceSpec, Timeouts } from '../ipvs/types.js';
import type { NeighEntry, RouteEntry } from '../io/neigh.js';
import type { PlaneFanout } from './dataplane.js';
import type { FanoutPlan } from '../io/fanout.js';
import type { FlowMaps } from '../io/fastpath-prog.js';

/** The kernel's main routing and neighbour tables, IPv4 and IPv6, as the main thread read them for every worker. */
export interface KernelSnapshot { routes: RouteEntry[]; neighs: NeighEntry[]; routes6: RouteEntry[]; neighs6: NeighEntry[] }
import type { SlotTable } from './sched-share.js';
import type { RxRingVersion } from '../io/ring-geometry.js';
import type { InterceptMode } from '../io/intercept.js';

export interface WorkerInit {
  index: number;
  workers: number;
  ifnames: string[];
  fanout: PlaneFanout;
  engine: { connTabBits?: number; maxConns?: number; tunMtu?: number; sloppyTcp?: boolean; fastMinPackets?: number };
  synShed: boolean;
  /** lvsd --fast-path: the flow maps' fds (one pair per process, so every worker's filter and learning share them). */
  fastMaps?: FlowMaps;
  /** Its size (the sweep's choice between lookups and batch reads rests on it). */
  fastMaxFlows?: number;
  rxRing?: RxRingVersion;
  /** How the rings take frames (io/intercept.ts). */
  intercept: InterceptMode;
  fwmarkQueue: number;
  /** The main thread's first read of the routing and neighbour tables. */
  tables: KernelSnapshot;
  /** Int32Array over a SharedArrayBuffer: worker i adds 1 to slot i every tick (the main thread's watchdog). */
  heartbeat: SharedArrayBuffer;
  /** The schedulers' shared board (src/lvsd/sched-share.ts). */
  schedBoard: SharedArrayBuffer;
  /** Test hook (LVSD_TEST_WORKER_FAULT=index:ms:crash|hang): after ms this worker throws, or spins forever, as a bug would. */
  fault?: { ms: number; kind: 'crash' | 'hang' };
}

/** Requests from the main thread: one reply each, by id. */
export type WorkerRequest =
  | { op: 'add-service'; service: ServiceSpec }
  | { op: 'edit-service'; service: ServiceSpec }
  | { op: 'del-service'; key: ServiceKey }
  | { op: 'add-dest'; key: ServiceKey; dest: DestSpec; extra: DestExtra }
  | { op: 'edit-dest'; key: ServiceKey; dest: DestSpec; extra: DestExtra }
  | { op: 'del-dest'; key: ServiceKey; addr: string; port: number }
  | { op: 'flush' }
  | { op: 'zero'; key?: ServiceKey }
  | { op: 'set-timeouts'; timeouts: Partial<Timeouts> }
  /** extras: the TUN dests' outer sources, by real-server address, resolved once by the main thread. */
  | { op: 'replace'; ruleset: Ruleset; extras: Record<string, DestExtra> }
  | { op: 'set-tun-source'; raddr: number; src: number }
  | { op: 'set-tun-source6'; addr: string; src: Uint8Array | null }
  /** Answers whether this worker reads the fwmark queue when it is given marks (false: it could not open it). */
  | { op: 'set-rules'; filter: Uint32Array; fanout?: Uint32Array; slots: SlotTable; fwmarks: number[] }
  /** Protocol interception: open the IPv6 rings in these fanout groups (zeros: make them); answers the plane's groups. */
  | { op: 'open-v6'; groups: { small6: number[]; big6: number[] } }
  | { op: 'list-services'; key?: ServiceKey }
  | { op: 'list-conns' }
  | { op: 'stats' }
  | { op: 'trace'; key: ServiceKey; caddr: string; cport: number }
  | { op: 'sync-master'; on: boolean }
  /** Re-steering: hand over (remove and answer, packed as sync-pack.ts packs) the entries `plan` gives another worker. */
  | { op: 'hand-over'; plan: FanoutPlan }
  /** Install entries another worker handed over; answers how many were taken. */
  | { op: 'adopt'; conns: Uint32Array }
  | { op: 'neigh-snapshot'; tables: KernelSnapshot }
  | { op: 'stop' };

export type MainToWorker = { t: 'call'; id: number; req: WorkerRequest } | { t: 'sync-in'; conns: Uint32Array };

export type WorkerToMain =
  | { t: 'ready'; groups: PlaneFanout }
  | { t: 'reply'; id: number; ok: true; result: unknown }
  | { t: 'reply'; id: number; ok: false; error: { name: string; code?: string; message: string } }
  | { t: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; obj: Record<string, unknown>; msg: string }
  | { t: 'sync-out'; conns: Uint32Array }
  | { t: 'tun-no-route' };

/** What `stats` answers: everything a listing of counters needs from one worker. */
export interface WorkerStats {
  engine: Record<string, number>;
  io: Record<string, number>;
  totals: { conns: number; inpkts: number; outpkts: number; inbytes: number; outbytes: number };
  batch: { bounds: number[]; counts: number[]; sum: number; count: number };
}
