// One forwarding loop: the packet sockets of every interface (a small-block
// ring and a big-frame ring each; with protocol interception one pair bound
// to IPv4 and one to IPv6, io/intercept.ts), the neighbour table, the Forwarder that
// walks the rings through one engine, and SYN shedding on those rings. lvsd
// runs one in its main thread (--workers 1) or one per worker thread, each
// with its own engine; with workers, each ring joins its interface's fanout
// group (one per interface and ring kind: a group's members must share the
// device and protocol) at the worker's index.
import { Forwarder, makePort, BATCH_BUCKETS, type DataPathEngine } from '../io/forwarder.js';
import {
  openPacket, type PacketSocketOptions, ETH_P_ALL, ETH_P_IP, ETH_P_IPV6, PACKET_FANOUT_CBPF, PACKET_FANOUT_FLAG_IGNORE_OUTGOING, PACKET_FANOUT_FLAG_UNIQUEID, type PacketSocket,
} from '../io/native.js';
import { compileFilter, lengthGate, synGate } from '../io/bpf.js';
import { SynShed } from '../io/syn-shed.js';
import { NeighTable, type KernelTables } from '../io/neigh.js';
import { ringGeometry, type RingGeometry, type RxRingVersion } from '../io/ring-geometry.js';
import { FwmarkQueue } from '../io/nfqueue.js';
import { FastPath, loadSocketFilter, type FastPathEngine } from '../io/fastpath.js';
import type { FlowMaps } from '../io/fastpath-prog.js';
import { bpfClose } from '../io/ebpf-sys.js';
import { ifaceInfo } from '../io/native.js';
import type { InterceptMode } from '../io/intercept.js';

export interface PlaneLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Fanout membership of this plane's rings: group ids per interface (0: make a unique group; fanoutGroups() tells its id). */
export interface PlaneFanout {
  small: number[];
  big: number[];
  /** Protocol interception, once the IPv6 rings are open (DataPlane.openV6): their groups (the IPv4 ones are small/big). */
  small6?: number[];
  big6?: number[];
}

export interface DataPlaneOptions {
  ifnames: string[];
  engine: DataPathEngine;
  log: PlaneLog;
  /** Shed pure SYNs in the socket filter while a SYN flood overloads these rings. */
  synShed: boolean;
  /** Join fanout groups (lvsd --workers): the first plane passes zeros and reads the ids back. */
  fanout?: PlaneFanout;
  /** How the neighbour table reads the kernel's tables (default: `ip`). */
  kernel?: KernelTables;
  /** Conns created so far (SYN shedding compares it with the rings' load). */
  connsCreated: () => number;
  /** The ordinary-frame ring: TPACKET_V2 (default) or V3 blocks (io/ring-geometry.ts). */
  rxRing?: RxRingVersion;
  /** NFQUEUE queue number of fwmark services' packets (read only by the plane told to, openFwmarkQueue). */
  fwmarkQueue: number;
  /** After each RX batch (lvsd --workers: publish this worker's conn counts to the others' schedulers). */
  afterBatch?: () => void;
  /** lvsd --fast-path: the flow map (made once per lvsd, io/fastpath.ts), this plane's index and its engine's fast-path face. */
  fastPath?: { maps: FlowMaps; maxFlows?: number; owner: number; engine: FastPathEngine };
  /**
   * How the rings take frames (io/intercept.ts; must match the interceptor's
   * mode): 'tap' (default) binds each ring to ETH_P_ALL, ahead of the
   * ingress hooks; 'protocol' binds one pair of rings to ETH_P_IP and, with
   * the first IPv6 rule (openV6), one to ETH_P_IPV6, behind them (frames the
   * fast path forwards never reach them).
   */
  intercept?: InterceptMode;
}

/** How often the fast path's counts are handed to the engine (conn timers, stats, sync). */
const FAST_SWEEP_MS = 1000;

export class DataPlane {
  private readonly sockets: PacketSocket[] = [];
  /** Per interface, the ring for frames longer than rings.bigFrame (RX only). */
  private readonly bigSockets: PacketSocket[] = [];
  /** Protocol interception: per interface, the IPv6 rings (small, then big); RX only. */
  private readonly sockets6: PacketSocket[] = [];
  private readonly bigSockets6: PacketSocket[] = [];
  private readonly rings: RingGeometry;
  /** The fwmark path (io/nfqueue.ts), opened with the first fwmark service; its own Forwarder over the same ports counts its packets apart. */
  private fwmark: FwmarkQueue | undefined;
  private fwmarkForwarder: Forwarder | undefined;
  private fwmarkError = '';
  forwarder!: Forwarder;
  neigh!: NeighTable;
  private batchSum = 0;
  /** The socket filter for the current rules, before the SYN gate and the length gates. */
  private filterProg = compileFilter({ services: [] });
  readonly shed = new SynShed();
  /** The fast path's flows this plane learnt (null without --fast-path). */
  fast: FastPath | null = null;
  private lastSweep = 0;

  constructor(private readonly o: DataPlaneOptions) {
    this.rings = ringGeometry(o.rxRing ?? 2);
  }

  get interfaces(): string[] { return this.sockets.map((s) => s.ifname); }

  /**
   * Opens the rings (filters rejecting everything until setRules: nothing is
   * queued before the plane knows its rules) and the neighbour table; joins
   * the fanout groups when told to.
   */
  open(): void {
    const o = this.o;
    const g = this.rings;
    const protocol = o.intercept === 'protocol' ? ETH_P_IP : ETH_P_ALL;
    o.ifnames.forEach((ifname, i) => {
      this.sockets.push(this.openRing(ifname, { ...g.small, protocol }, false, o.fanout?.small[i]));
      this.bigSockets.push(this.openRing(ifname, { ...g.big, protocol }, true, o.fanout?.big[i]));
    });
    this.neigh = new NeighTable({
      ports: this.sockets.map((s) => ({ ifname: s.ifname, mac: s.macBytes })),
      kernel: o.kernel,
      onResolved: (port, frames) => this.forwarder.sendHeld(port, frames),
      onError: (err, addr) => o.log.warn({ err: String(err), addr }, 'neighbour resolution failed'),
    });
    this.forwarder = new Forwarder(o.engine, this.sockets.map((s) => makePort(s)), this.neigh, {
      rxOnly: this.bigSockets.map((s) => makePort(s)),
      onBatch: (n) => { this.batchSum += n; o.afterBatch?.(); },
      onEngineError: (err) => {
        // Log the first few with their stack, then every 1000th: a bug must be visible, not a log flood.
        const k = this.forwarder.counters.engineErrors;
        if (k <= 5 || k % 1000 === 0) o.log.error({ err, count: k }, 'engine threw on a frame; frame dropped');
      },
      onFault: (err) => {
        const k = this.forwarder.counters.faults;
        if (k <= 5 || k % 1000 === 0) o.log.error({ err, count: k }, 'the forwarder threw on a frame; frame dropped');
      },
    });
    if (o.fastPath) {
      this.fast = new FastPath(o.fastPath.maps, o.fastPath.engine, o.fastPath.owner, o.fastPath.maxFlows);
      this.forwarder.setFastPath(this.fast, this.sockets.map((s) => ifaceInfo(s.ifname).ifindex));
    }
  }

  /**
   * One ring, its filter rejecting everything until setRules (nothing is
   * queued before the plane knows its rules), in fanout group `group` when
   * given (0: a new unique group).
   */
  private openRing(ifname: string, opts: PacketSocketOptions, big: boolean, group: number | undefined): PacketSocket {
    const none = compileFilter({ services: [] });
    // IGNORE_OUTGOING: the group's hook replaces each member's own (its
    // PACKET_IGNORE_OUTGOING would no longer apply), and frames lvsd sends
    // must not come back in. No ROLLOVER: a full ring must not hand a flow
    // to a worker that does not own it.
    const fanout = group === undefined ? undefined
      : { group, mode: PACKET_FANOUT_CBPF, flags: PACKET_FANOUT_FLAG_IGNORE_OUTGOING | (group === 0 ? PACKET_FANOUT_FLAG_UNIQUEID : 0) };
    try {
      return openPacket(ifname, { ...opts, filter: lengthGate(none, this.rings.bigFrame, big), fanout });
    } catch (err) {
      if (fanout && /PACKET_FANOUT: EINVAL/.test(String(err))) {
        throw new Error(`${String(err)}: lvsd --workers needs Linux 6.2 or later (PACKET_FANOUT_FLAG_IGNORE_OUTGOING); run --workers 1`);
      }
      throw err;
    }
  }

  /** Protocol interception: the IPv6 rings are open (see openV6). */
  get hasV6Rings(): boolean { return this.sockets6.length > 0; }

  /**
   * Protocol interception: opens each interface's IPv6 pair of rings (RX
   * only: every frame lvsd sends goes out through the IPv4 ring's TX ring,
   * each with its own ethertype). Called with the first IPv6 rule, so an
   * IPv4-only lvsd never holds them (16 MiB per interface and worker). With
   * workers, `groups` are the fanout groups to join (zeros for the first
   * worker, which makes them). Their filters reject everything until the
   * next setRules.
   */
  openV6(groups?: { small6: number[]; big6: number[] }): void {
    if (this.o.intercept !== 'protocol' || this.hasV6Rings) return;
    const g = this.rings;
    const fanned = this.o.fanout !== undefined;
    this.o.ifnames.forEach((ifname, i) => {
      this.sockets6.push(this.openRing(ifname, { ...g.small, protocol: ETH_P_IPV6, txFrameCount: 1 }, false, fanned ? groups?.small6[i] ?? 0 : undefined));
      this.bigSockets6.push(this.openRing(ifname, { ...g.big, protocol: ETH_P_IPV6 }, true, fanned ? groups?.big6[i] ?? 0 : undefined));
    });
    this.forwarder.addRxPorts([...this.sockets6, ...this.bigSockets6].map((s) => makePort(s)));
  }

  /** The fanout group ids the rings are in (per interface), for the next worker to join. */
  fanoutGroups(): PlaneFanout {
    const id = (s: PacketSocket) => s.fanoutInfo()?.group ?? 0;
    const g: PlaneFanout = { small: this.sockets.map(id), big: this.bigSockets.map(id) };
    if (this.hasV6Rings) { g.small6 = this.sockets6.map(id); g.big6 = this.bigSockets6.map(id); }
    return g;
  }

  /** The fanout program of every group these rings are in (one setsockopt per group is enough: any member sets it). */
  setFanoutProgram(prog: Uint32Array): void {
    for (const s of this.allSockets()) if (!s.isClosed) s.setFanoutData(prog);
  }

  start(): void {
    this.forwarder.start();
  }

  /** The socket filter of the current rules (compiled from the services and NAT dests). */
  setRules(prog: Uint32Array): void {
    // A removed or edited real server: its flows leave the kernel's map now, not at the next sweep.
    if (this.fast !== null) this.fast.sweep(performance.now());
    this.filterProg = prog;
    this.setSmallFilters();
    const big = lengthGate(prog, this.rings.bigFrame, true);
    for (const s of [...this.bigSockets, ...this.bigSockets6]) if (!s.isClosed) this.attachFilter(s, big);
  }

  private allSockets(): PacketSocket[] {
    return [...this.sockets, ...this.bigSockets, ...this.sockets6, ...this.bigSockets6];
  }

  /**
   * A classic filter; with the fast path and tap interception, the eBPF
   * filter that first drops what the kernel will forward itself
   * (io/fastpath-prog.ts): both ring kinds get it, so a flow the kernel
   * forwards reaches neither. Protocol-bound rings sit behind the fast
   * path's tcx program and never see such a frame: the classic filter does.
   */
  private attachFilter(s: PacketSocket, prog: Uint32Array): void {
    if (this.o.fastPath === undefined || this.o.intercept === 'protocol') { s.setFilter(prog); return; }
    const fd = loadSocketFilter(this.o.fastPath.maps, prog);
    try {
      s.attachBpf(fd);
    } finally {
      bpfClose(fd);
    }
  }

  /** The page-block rings' filter: the rules, behind the SYN gate while shedding (a SYN is never a big frame). */
  private setSmallFilters(): void {
    const small = lengthGate(synGate(this.filterProg, this.shed.accept), this.rings.bigFrame);
    for (const s of [...this.sockets, ...this.sockets6]) if (!s.isClosed) this.attachFilter(s, small);
  }

  /**
   * The NFQUEUE reader, bound before the first mark goes into the rules
   * (they have no bypass). False when it cannot be: fwmark services then
   * stay unmatched, and the log says why. With workers, one plane reads the
   * queue: the one the fanout program steers fwmark services' flows to.
   */
  openFwmarkQueue(marks: number[]): boolean {
    if (marks.length === 0 || this.fwmark?.isOpen) return true;
    const log = this.o.log;
    const fwd = this.fwmarkForwarder ??= new Forwarder(this.o.engine, this.forwarder.ports, this.neigh, {
      onEngineError: (err) => log.error({ err }, 'engine threw on a queued packet; dropped'),
      onFault: (err) => log.error({ err }, 'the forwarder threw on a queued packet; dropped'),
    });
    const q = new FwmarkQueue(this.o.fwmarkQueue, fwd, {
      onFault: (err) => log.error({ err }, 'the NFQUEUE reader threw; its batch is dropped'),
    });
    try {
      q.open();
    } catch (err) {
      const msg = String((err as Error).message ?? err);
      if (msg !== this.fwmarkError) log.error({ err: msg }, 'fwmark services cannot be matched');
      this.fwmarkError = msg;
      return false;
    }
    // fwd is never start()ed: its ports' RX rings are the main forwarder's; it only injects.
    q.start();
    this.fwmark = q;
    this.fwmarkError = '';
    log.info({ queue: q.queueNum }, 'fwmark services: marked packets are queued to lvsd (NFQUEUE)');
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

  /** Timer work: held frames that waited too long, and SYN shedding. */
  tick(now: number, tickMs: number): void {
    this.neigh.expire(now);
    if (this.o.synShed) this.shedTick(now, tickMs);
    if (this.fast !== null && now - this.lastSweep >= FAST_SWEEP_MS) {
      this.lastSweep = now;
      this.fast.sweep(now);
    }
  }

  /** SYN shedding (io/syn-shed.ts): feed the controller the rings' counters; re-gate the filter when it says so. */
  private shedTick(now: number, tickMs: number): void {
    let packets = 0, drops = 0;
    for (const s of this.allSockets()) {
      if (s.isClosed) continue;
      const st = s.stats();
      packets += st.packets;
      drops += st.drops;
    }
    // (lead, main 03bed0f) The forwarder walks the rings itself, not through RxRing.drain: s.rx.frames stayed 0,
    // so lvsd shed SYNs from its first tick on. Its own count is the one to compare.
    const walked = this.forwarder.counters.rxFrames;
    const was = this.shed.accept;
    // Slots of the V2 rings (a V3 ring's frames per block vary: then only its drops say "behind").
    const slots = this.forwarder.rxPorts.reduce((n, p) => n + (p.v2 ? p.frameCount : 0), 0);
    const ringFrames = slots > 0 ? slots : undefined;
    const d = this.shed.update({ packets, drops, walked, created: this.o.connsCreated(), ringFrames }, now);
    if (!d) return;
    this.setSmallFilters();
    const log = this.o.log;
    const share = `${(d.accept * 100).toFixed(d.accept < 0.1 ? 1 : 0)}%`;
    if (was >= 1) log.warn({ accept: d.accept }, `overloaded by new connections: letting ${share} of SYNs through so established flows keep moving; ${d.reason}`);
    else if (d.accept >= 1) log.warn({ accept: 1, shedSeconds: this.shed.shedTicks * tickMs / 1000 }, 'SYN shedding over: every SYN let through again');
    else log.debug({ accept: d.accept }, `SYN shedding: ${share} of SYNs let through; ${d.reason}`);
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
    // An interface's IPv4 and IPv6 rings (protocol interception) count as its one ring of that kind.
    const add = (k: string, v: number) => { out[k] = (out[k] ?? 0) + v; };
    for (const s of [...this.sockets, ...this.sockets6]) {
      if (s.isClosed) continue;
      const st = s.stats();
      add(`ring_${s.ifname}_packets`, st.packets);
      add(`ring_${s.ifname}_drops`, st.drops);
    }
    for (const s of this.sockets) {
      if (s.isClosed) continue;
      out[`tx_${s.ifname}_kicks`] = s.tx.kicks;
      out[`tx_${s.ifname}_kick_errors`] = s.tx.kickErrors;
      out[`tx_${s.ifname}_wrong_format`] = s.tx.wrongFormat;
    }
    for (const s of [...this.bigSockets, ...this.bigSockets6]) {
      if (s.isClosed) continue;
      const st = s.stats();
      add(`ring_${s.ifname}_big_packets`, st.packets);
      add(`ring_${s.ifname}_big_drops`, st.drops);
    }
    if (this.fast !== null) {
      const f = this.fast.counters;
      out.fast_flows = this.fast.size;
      out.fast_learnt = f.learnt;
      out.fast_forgotten = f.forgotten;
      out.fast_map_full = f.full;
      out.fast_packets = f.packets;
      out.fast_bytes = f.bytes;
      out.fast_batch_sweeps = f.batchSweeps;
    }
    Object.assign(out, this.fwmarkCounters());
    return out;
  }

  batchSizes(): { bounds: number[]; counts: number[]; sum: number; count: number } {
    const h = this.forwarder.counters.batchHist;
    const counts: number[] = [];
    let acc = 0;
    for (let i = 0; i < BATCH_BUCKETS.length; i++) { acc += h[i]!; counts.push(acc); }
    acc += h[BATCH_BUCKETS.length]!;
    return { bounds: BATCH_BUCKETS, counts, sum: this.batchSum, count: acc };
  }

  /** Stop walking the rings (they stay open: the kernel drops what does not fit). */
  stop(): void {
    this.forwarder?.stop();
  }

  close(): void {
    // After the nftables rules are gone: nothing is queued any more; what still waits is dropped with the socket.
    this.fwmark?.close();
    for (const s of this.allSockets()) s.close();
  }
}
