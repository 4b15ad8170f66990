// One IPVS across `lvsd --workers N` for the schedulers: each worker's
// engine keeps its own conns, but a scheduler must decide as IPVS's one
// scheduler would — lc/wlc/sed/nq/ovf/lblc... on the conn counts of every
// worker, rr and wrr in one rotation (100 sequential connections through rr
// alternate exactly, whichever worker each SYN reaches).
//
// The board is a SharedArrayBuffer: per service a rotation counter, per dest
// one column per worker of (active, inactive, persistent) conns. Each worker
// writes only its own column — its engine's counts for its dests — before
// every scheduling decision, after every RX batch (at most every
// PUBLISH_MS) and every tick; a decision reads the other columns. A count
// another worker changed since it last wrote is missed for at most that
// long. Slots are the main thread's to assign (from its reference engine's
// services, sent with every rule change) and to clear when reused.
//
// Thresholds (-x) are judged on the sum too: a dest is overloaded for every
// worker once its conns over all workers reach the upper threshold.
import { DEST_F_OVERLOAD, type SchedDest, type SchedFlags, type SchedFlow, type Scheduler } from '../ipvs/sched/scheduler.js';
import { isUsable } from '../ipvs/sched/common.js';
import type { ServiceKey, ServiceStatus } from '../ipvs/types.js';
import { ipToU32 } from '../packet/addr.js';
import { formatIpv6, parseIpv6 } from '../packet/ipv6.js';

export const MAX_SVC_SLOTS = 4096;
export const MAX_DEST_SLOTS = 16384;
/** A wrr period longer than this is not tabled: that service's wrr rotates per worker. */
const MAX_WRR_PERIOD = 1 << 16;
const HDR = 16;

/** Which services and dests have which slots: [key, slot] pairs. */
export interface SlotTable { svc: [string, number][]; dest: [string, number][] }

export function svcKeyOf(k: ServiceKey): string {
  return k.kind === 'fwmark' ? `f|${k.af ?? 4}|${k.fwmark}` : `a|${k.protocol}|${k.addr}|${k.port}`;
}

/** A dest as the engine identifies it within a service: IPv4 as u32, IPv6 in canonical text (Dest.key6), and the port. */
function destIdent(addr: string, port: number): string {
  const b = addr.includes(':') ? parseIpv6(addr) : null;
  return b ? `${formatIpv6(b)}|${port}` : `${ipToU32(addr)}|${port}`;
}
const schedDestIdent = (d: SchedDest) => d.key6 ?? `${d.addr >>> 0}|${d.port}`;

/** The shared memory and its layout. */
export class SchedBoard {
  readonly i32: Int32Array;
  readonly workers: number;

  constructor(readonly sab: SharedArrayBuffer) {
    this.i32 = new Int32Array(sab);
    this.workers = this.i32[0]!;
  }

  static create(workers: number): SchedBoard {
    const sab = new SharedArrayBuffer(4 * (HDR + MAX_SVC_SLOTS + MAX_DEST_SLOTS * workers * 3));
    new Int32Array(sab)[0] = workers;
    return new SchedBoard(sab);
  }

  svcCell(slot: number): number { return HDR + slot; }
  destCell(slot: number, worker: number): number { return HDR + MAX_SVC_SLOTS + (slot * this.workers + worker) * 3; }

  clearSvc(slot: number): void { Atomics.store(this.i32, this.svcCell(slot), 0); }
  clearDest(slot: number): void {
    for (let w = 0; w < this.workers; w++) for (let k = 0; k < 3; k++) Atomics.store(this.i32, this.destCell(slot, w) + k, 0);
  }
}

/** The main thread's side: slots for the reference engine's services and dests, kept while they live. */
export class SchedSlots {
  private readonly svc = new Map<string, { slot: number; sig: string }>();
  private readonly dest = new Map<string, number>();
  private readonly freeSvc: number[] = [];
  private readonly freeDest: number[] = [];
  private nextSvc = 0;
  private nextDest = 0;
  /** Services or dests left without a slot (the board is full): they schedule on their worker's counts alone. */
  unslotted = 0;

  constructor(private readonly board: SchedBoard) {}

  assign(services: readonly ServiceStatus[]): SlotTable {
    const liveSvc = new Set<string>();
    const liveDest = new Set<string>();
    this.unslotted = 0;
    for (const s of services) {
      const sk = svcKeyOf(s.key);
      liveSvc.add(sk);
      // The kernel's wrr restarts its rotation when the dests or weights change (ip_vs_wrr_dest_changed).
      const sig = `${s.scheduler}|${s.dests.map((d) => `${d.addr}:${d.port}:${d.weight}`).join(',')}`;
      const cur = this.svc.get(sk);
      if (cur) {
        if (cur.sig !== sig) { cur.sig = sig; this.board.clearSvc(cur.slot); }
      } else {
        const slot = this.take(this.freeSvc, () => (this.nextSvc < MAX_SVC_SLOTS ? this.nextSvc++ : -1));
        if (slot < 0) this.unslotted++;
        else { this.board.clearSvc(slot); this.svc.set(sk, { slot, sig }); }
      }
      for (const d of s.dests) {
        const dk = `${sk}|${destIdent(d.addr, d.port)}`;
        liveDest.add(dk);
        if (this.dest.has(dk)) continue;
        const slot = this.take(this.freeDest, () => (this.nextDest < MAX_DEST_SLOTS ? this.nextDest++ : -1));
        if (slot < 0) { this.unslotted++; continue; }
        this.board.clearDest(slot);
        this.dest.set(dk, slot);
      }
    }
    for (const [k, v] of this.svc) if (!liveSvc.has(k)) { this.svc.delete(k); this.freeSvc.push(v.slot); }
    for (const [k, v] of this.dest) if (!liveDest.has(k)) { this.dest.delete(k); this.freeDest.push(v); }
    return { svc: [...this.svc].map(([k, v]) => [k, v.slot]), dest: [...this.dest] };
  }

  private take(free: number[], fresh: () => number): number {
    return free.length ? free.pop()! : fresh();
  }
}

/** What a scheduler sees of a dest: the engine's dest, with the counts of every worker. */
interface View {
  index: number;
  id: number;
  addr: number;
  port: number;
  key6?: string;
  weight: number;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  flags: number;
  uThreshold: number;
}

/** A worker's side: its column of the board, and the schedulers of its engine, wrapped. */
export class SchedShare {
  private svcSlots = new Map<string, number>();
  private destSlots = new Map<string, number>();
  private readonly wrapped = new Map<string, SharedScheduler>();
  private lastPublish = 0;

  constructor(readonly board: SchedBoard, readonly worker: number) {}

  /** For IpvsEngine's wrapScheduler option. */
  wrap(inner: Scheduler, key: ServiceKey): Scheduler {
    const sk = svcKeyOf(key);
    const s = new SharedScheduler(inner, this, sk);
    this.wrapped.set(sk, s);
    return s;
  }

  setSlots(t: SlotTable): void {
    this.svcSlots = new Map(t.svc);
    this.destSlots = new Map(t.dest);
    for (const [k, s] of this.wrapped) {
      if (!this.svcSlots.has(k)) this.wrapped.delete(k);
      else s.resolve();
    }
    this.publishAll();
  }

  svcSlot(sk: string): number { return this.svcSlots.get(sk) ?? -1; }
  destSlot(sk: string, d: SchedDest): number { return this.destSlots.get(`${sk}|${schedDestIdent(d)}`) ?? -1; }

  /**
   * Writes this worker's counts of every dest: at every tick, and after RX
   * batches at most every `minMs` — a batch inside that window leaves a
   * publish due at its end, so the last change is never held back longer.
   */
  publishAll(now?: number, minMs = 0): void {
    if (now !== undefined && now - this.lastPublish < minMs) {
      if (!this.due) {
        this.due = true;
        setTimeout(() => { this.due = false; this.publishAll(performance.now()); }, Math.max(1, Math.ceil(minMs - (now - this.lastPublish))));
      }
      return;
    }
    this.lastPublish = now ?? performance.now();
    for (const s of this.wrapped.values()) s.publish();
  }
  private due = false;
}

class SharedScheduler implements Scheduler {
  readonly name: string;
  private dests: readonly SchedDest[] = [];
  private flags: SchedFlags = { fallback: false, port: false };
  private views: View[] = [];
  private cells = new Int32Array(0);
  private svcCell = -1;
  /** One wrr period as dest indexes (null: not tabled). */
  private wrrSeq: Int32Array | null = null;

  constructor(private readonly inner: Scheduler, private readonly share: SchedShare, private readonly sk: string) {
    this.name = inner.name;
  }

  update(dests: readonly SchedDest[], flags: SchedFlags): void {
    this.dests = dests;
    this.flags = flags;
    this.views = dests.map((d, index) => ({
      index, id: d.id, addr: d.addr, port: d.port, ...(d.key6 !== undefined ? { key6: d.key6 } : {}), weight: d.weight, activeConns: d.activeConns,
      inactConns: d.inactConns, persistConns: d.persistConns, flags: d.flags, uThreshold: d.uThreshold,
    }));
    this.resolve();
    if (this.name === 'wrr') this.wrrSeq = wrrPeriod(dests.map((d) => d.weight));
    this.inner.update(this.views, flags);
  }

  /** The cells of the service's dests, after an update or a new slot table. */
  resolve(): void {
    const b = this.share.board;
    const s = this.share.svcSlot(this.sk);
    this.svcCell = s < 0 ? -1 : b.svcCell(s);
    this.cells = Int32Array.from(this.dests, (d) => {
      const slot = this.share.destSlot(this.sk, d);
      return slot < 0 ? -1 : slot;
    });
  }

  /** This worker's counts into its column. */
  publish(): void {
    const b = this.share.board;
    const w = this.share.worker;
    const a = b.i32;
    const n = Math.min(this.dests.length, this.cells.length);
    for (let i = 0; i < n; i++) {
      const slot = this.cells[i]!;
      if (slot < 0) continue;
      const d = this.dests[i]!;
      const c = b.destCell(slot, w);
      Atomics.store(a, c, d.activeConns);
      Atomics.store(a, c + 1, d.inactConns);
      Atomics.store(a, c + 2, d.persistConns);
    }
  }

  schedule(dests: readonly SchedDest[], flow: SchedFlow): SchedDest | null {
    // The engine hands the same list it gave update(); a list changed without one is taken as a change.
    if (dests !== this.dests || dests.length !== this.views.length) this.update(dests, this.flags);
    this.publish();
    const b = this.share.board;
    const a = b.i32;
    const me = this.share.worker;
    const views = this.views;
    for (let i = 0; i < views.length; i++) {
      const d = dests[i]!;
      const v = views[i]!;
      let act = d.activeConns, inact = d.inactConns, pers = d.persistConns;
      const slot = this.cells[i]!;
      if (slot >= 0) {
        for (let w = 0; w < b.workers; w++) {
          if (w === me) continue;
          const c = b.destCell(slot, w);
          act += Atomics.load(a, c);
          inact += Atomics.load(a, c + 1);
          pers += Atomics.load(a, c + 2);
        }
      }
      v.weight = d.weight;
      v.activeConns = act;
      v.inactConns = inact;
      v.persistConns = pers;
      v.uThreshold = d.uThreshold;
      v.flags = d.uThreshold !== 0 && act + inact >= d.uThreshold ? d.flags | DEST_F_OVERLOAD : d.flags;
    }
    const n = views.length;
    if (n === 0) return null;
    if (this.svcCell >= 0 && this.name === 'rr') {
      // One rotation for all workers: the k-th new conn of the service gets the k-th dest (the next usable one).
      const start = (Atomics.add(a, this.svcCell, 1) >>> 0) % n;
      for (let j = 0; j < n; j++) {
        const i = (start + j) % n;
        if (isUsable(views[i]!)) return dests[i]!;
      }
      return null;
    }
    if (this.svcCell >= 0 && this.wrrSeq !== null) {
      const seq = this.wrrSeq;
      if (seq.length === 0) return null;
      const k = (Atomics.add(a, this.svcCell, 1) >>> 0) % seq.length;
      for (let j = 0; j < seq.length; j++) {
        const i = seq[(k + j) % seq.length]!;
        if (isUsable(views[i]!)) return dests[i]!;
      }
      return null;
    }
    const r = this.inner.schedule(views, flow) as View | null;
    return r === null ? null : dests[r.index] ?? null;
  }
}

/**
 * One period of ip_vs_wrr.c's rotation: the current weight steps down from
 * the largest by the weights' gcd; at each step every dest (in list order)
 * whose weight reaches it is picked once. null when the period is too long to table.
 */
export function wrrPeriod(weights: readonly number[]): Int32Array | null {
  let max = 0, g = 0;
  const gcd = (x: number, y: number): number => { while (y) [x, y] = [y, x % y]; return x; };
  for (const w of weights) if (w > 0) { max = Math.max(max, w); g = gcd(g, w); }
  if (max === 0) return new Int32Array(0);
  let len = 0;
  for (const w of weights) if (w > 0) len += w / g;
  if (len > MAX_WRR_PERIOD) return null;
  const out = new Int32Array(len);
  let o = 0;
  for (let cw = max; cw > 0; cw -= g) weights.forEach((w, i) => { if (w >= cw) out[o++] = i; });
  return out;
}
