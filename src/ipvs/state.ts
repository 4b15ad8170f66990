// What the packet path and the control operations share (the kernel's
// struct netns_ipvs): the connection table, the services and dests, the
// address filters the packet path tests first, the timeouts in ticks, and
// the totals. Control (ctl.ts) changes it; the packet path (core.ts) reads
// it and updates conns and counters.
import { ConnTable, TICK_MS } from './conn.js';
import { DEFAULT_DEFENSE, type DefenseOptions, validateDefense } from './defense.js';
import { type Dest, FWD_MASQ } from './dest.js';
import { type Service, addrKey } from './service.js';
import { Stats } from './stats.js';
import { TCP_DEFAULT_TIMEOUTS, TCP_S_SYNACK, TCP_S_SYN_RECV } from './proto-tcp.js';
import { UDP_DEFAULT_TIMEOUT } from './proto-udp.js';
import type { Scheduler } from './sched/scheduler.js';
import type { ServiceKey } from './types.js';

export interface EngineOptions {
  /** Connection hash buckets = 2^bits (ipvsadm's size=); default 12 as the kernel. Use ~20 for 1M flows. */
  connTableBits?: number;
  /** Bounded table: conns + templates. Default 2^20. */
  maxConns?: number;
  /** Uniform [0, 1): hash seed, and twos. Default Math.random. */
  rng?: () => number;
  defense?: Partial<DefenseOptions>;
  /** Generated ICMP errors per second (icmp_msgs_per_sec); default 1000. */
  icmpRate?: number;
  /**
   * Wraps each service's scheduler when it is made. lvsd --workers runs one
   * engine per thread and wraps them so that they schedule on the conn
   * counts of every worker and share rr/wrr positions. Default: none.
   */
  wrapScheduler?: (sched: Scheduler, key: ServiceKey) => Scheduler;
}

function ticksOf(seconds: number): number {
  return Math.ceil((seconds * 1000) / TICK_MS);
}

/** A 16-bit hash of an address: the slot in the "maybe" bitmaps. */
export function addrFilterSlot(addr: number): number {
  return Math.imul(addr, 0x9e3779b1) >>> 16;
}

export class IpvsState {
  readonly tbl: ConnTable;
  readonly rng: () => number;
  readonly wrapScheduler: ((sched: Scheduler, key: ServiceKey) => Scheduler) | undefined;
  readonly defenseOpts: DefenseOptions;
  /** Table fill at which the defense starts (threshold × capacity). */
  readonly softLimit: number;

  /** serviceKeyId → service (addr and fwmark; IPv6 addr services under a string key). */
  readonly services = new Map<number | string, Service>();
  /**
   * The packet path's view of IPv6 addr services: addrKey(proto, fold of
   * the VIP, vport) → the services with that key (folds of distinct VIPs may
   * be equal; the VIP's words decide).
   */
  readonly services6 = new Map<number, Service[]>();
  /** VIP → number of addr services on it. */
  readonly vips = new Map<number, number>();
  /** RIP → number of NAT dests (incl. trashed ones with conns) on it. */
  readonly natRips = new Map<number, number>();
  /**
   * The same for IPv6 by the address's fold: "is this a VIP / a NAT real
   * server" only decides between drop and ignore for malformed packets and
   * what to look up; conns and services compare whole addresses.
   */
  readonly vips6 = new Map<number, number>();
  readonly natRips6 = new Map<number, number>();
  /** Bitmaps over addrFilterSlot() of VIPs and of NAT real-server addresses: cheap "maybe" tests for the hot path. */
  readonly vipFilter = new Uint8Array(65536);
  readonly ripFilter = new Uint8Array(65536);
  /** The same over IPv6 folds. */
  readonly vipFilter6 = new Uint8Array(65536);
  readonly ripFilter6 = new Uint8Array(65536);
  /** By dest id; conns store the id. */
  readonly dests: (Dest | undefined)[] = [];
  readonly freeDestIds: number[] = [];

  /** Seconds, by TCP state (--set tcp / tcpfin). */
  readonly tcpTimeouts: number[] = [...TCP_DEFAULT_TIMEOUTS];
  udpTimeout = UDP_DEFAULT_TIMEOUT;
  /** Ticks, by TCP state: normal, and under the defense (shorter embryonic states). */
  readonly tcpToNormal = new Uint32Array(16);
  readonly tcpToDefense = new Uint32Array(16);
  udpTo = 0;

  /**
   * sloppy_tcp: any TCP packet without RST may create a conn, not just a SYN,
   * so a flow that moves here mid-stream is scheduled (with mh/sh: to the
   * same real server as before). Off by default, as in IPVS.
   */
  sloppyTcp = false;
  /** TUN path MTU (the route's MTU towards the real servers). */
  tunMtu = 1500;
  readonly totStats = new Stats();

  constructor(opts: EngineOptions) {
    const bits = opts.connTableBits ?? 12;
    if (!Number.isInteger(bits) || bits < 4 || bits > 24) throw new RangeError('connTableBits must be an integer in 4..24');
    const max = opts.maxConns ?? 1 << 20;
    if (!Number.isInteger(max) || max < 1 || max > 1 << 26) throw new RangeError('maxConns must be an integer in 1..2^26');
    this.rng = opts.rng ?? Math.random;
    this.wrapScheduler = opts.wrapScheduler;
    this.defenseOpts = { ...DEFAULT_DEFENSE, ...opts.defense };
    validateDefense(this.defenseOpts);
    this.softLimit = Math.max(1, Math.floor(max * this.defenseOpts.threshold));
    this.tbl = new ConnTable(bits, max, this.rng);
    this.recomputeTimeouts();
  }

  /** Frees a dest no service lists and no conn uses (the end of the kernel's dest trash). */
  releaseDest(dest: Dest): void {
    const k = dest.svc.trash.indexOf(dest);
    if (k >= 0) dest.svc.trash.splice(k, 1);
    if (dest.fwd === FWD_MASQ) this.natRef(dest, -1);
    this.dests[dest.id] = undefined;
    this.freeDestIds.push(dest.id);
  }

  /** One more (or one fewer) NAT dest on the dest's address. */
  natRef(dest: Dest, delta: number): void {
    const m = dest.af === 6 ? this.natRips6 : this.natRips;
    const n = (m.get(dest.addr) ?? 0) + delta;
    if (n <= 0) m.delete(dest.addr);
    else m.set(dest.addr, n);
    this.rebuildFilters();
  }

  /** One more (or one fewer) addr service on the service's VIP, and the packet path's IPv6 service index. */
  vipRef(svc: Service, delta: number): void {
    if (svc.fwmark !== 0) return;
    const m = svc.af === 6 ? this.vips6 : this.vips;
    const n = (m.get(svc.vaddr) ?? 0) + delta;
    if (n <= 0) m.delete(svc.vaddr);
    else m.set(svc.vaddr, n);
    if (svc.af === 6) {
      const k = addrKey(svc.proto, svc.vaddr, svc.vport);
      const list = (this.services6.get(k) ?? []).filter((s) => s !== svc);
      if (delta > 0) list.push(svc);
      if (list.length > 0) this.services6.set(k, list);
      else this.services6.delete(k);
    }
    this.rebuildFilters();
  }

  rebuildFilters(): void {
    this.vipFilter.fill(0);
    this.ripFilter.fill(0);
    this.vipFilter6.fill(0);
    this.ripFilter6.fill(0);
    for (const a of this.vips.keys()) this.vipFilter[addrFilterSlot(a)] = 1;
    for (const a of this.natRips.keys()) this.ripFilter[addrFilterSlot(a)] = 1;
    for (const a of this.vips6.keys()) this.vipFilter6[addrFilterSlot(a)] = 1;
    for (const a of this.natRips6.keys()) this.ripFilter6[addrFilterSlot(a)] = 1;
  }

  recomputeTimeouts(): void {
    for (let s = 0; s < this.tcpTimeouts.length; s++) {
      this.tcpToNormal[s] = ticksOf(this.tcpTimeouts[s]!);
      this.tcpToDefense[s] = this.tcpToNormal[s]!;
    }
    const e = ticksOf(this.defenseOpts.embryonicTimeout);
    this.tcpToDefense[TCP_S_SYN_RECV] = Math.min(e, this.tcpToNormal[TCP_S_SYN_RECV]!);
    this.tcpToDefense[TCP_S_SYNACK] = Math.min(e, this.tcpToNormal[TCP_S_SYNACK]!);
    this.udpTo = ticksOf(this.udpTimeout);
  }
}
