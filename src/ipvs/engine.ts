// The forwarding engine: IPVS's ip_vs_core.c / ip_vs_ctl.c in one pure,
// synchronous object. No sockets, no timers: the io layer hands it frames
// and the time, and sends what it returns.
//
// ## The io ↔ engine contract
//
// input(buf, off, len, now, out) takes the Ethernet frame at buf[off, off+len)
// (one 802.1Q tag allowed) and returns a verdict:
// - VERDICT_XMIT: out.buf[out.start, out.start + out.len) is the IPv4 packet
//   to send (no link header). out.nextHop is the IPv4 address (u32, host
//   order) to route and ARP for: the real server for DR, TUN and NAT towards
//   the RS; the client for NAT replies and for ICMP errors the engine
//   generates. The caller writes the Ethernet header at out.start - 14
//   (src = egress MAC, dst = the neighbour's MAC for the route to nextHop);
//   the engine guarantees 14 writable bytes there. out.buf is either `buf`
//   (rewritten in place; TUN writes the outer header up to 20 bytes before
//   the IP header, which is why the caller guarantees HEADROOM bytes before
//   `off`) or the engine's scratch buffer (generated ICMP), valid until the
//   next input() call.
// - VERDICT_DROP: the frame was for a service (or a tracked flow) and must
//   not be delivered; counted under drop_<reason>.
// - VERDICT_IGNORE: not the engine's business (not IPv4, no service, no
//   conn); counted under ignore_<reason>, never as a drop.
// Every frame ends in exactly one of those: frames = xmit + Σdrop_* + Σignore_*.
// input() never throws on frame contents.
//
// `now` is monotonic milliseconds. tick(now) runs the expiry wheel (64 ms
// ticks: a conn lives its timeout rounded up to the next tick) and, every
// 2 s, the rate estimators; call it a few times a second.
//
// Interception: serviceKeys() lists the VIP:port of every addr service and
// the RIP:port of every NAT dest (replies to SNAT); hasVip(addr) answers for
// one address. Packets to an address that is no longer a VIP are ignored,
// even if conns to it remain (the io layer no longer intercepts them).
//
// Control mirrors ip_vs_ctl.c and throws ControlError with its errno:
// EEXIST (duplicate service/dest), ESRCH (no such service), ENOENT (unknown
// scheduler or --pe, no such dest), ERANGE (l_threshold > u_threshold),
// EINVAL (bad address/port/weight/netmask, zero port without persistence,
// -o without UDP), EOPNOTSUPP (sctp, local forwarding, gue/gre tunnels).
// replace() validates the whole ruleset before changing anything.
//
// ## Semantics chosen where IPVS has a choice (see the kernel sources named)
// - New TCP conns only on SYN without RST (tcp_conn_schedule); other TCP
//   for a service with no conn: drop_tcp_no_conn.
// - conn_reuse_mode=1: a SYN on a conn in TIME_WAIT or CLOSE that is not
//   under a persistence template expires it and schedules afresh.
// - expire_nodest_conn=0: a packet of a conn whose dest was deleted is
//   dropped silently and its timer not renewed (ip_vs_in); NAT replies of
//   such conns still flow (handle_response has no such check) but are not
//   counted (ip_vs_out_stats). Quiesced dests (weight 0) keep their conns.
// - expire_quiescent_template=0: a template whose dest has weight 0 keeps
//   sending that client there; a template whose dest was deleted is retired.
// - No usable dest: ICMP port unreachable to the client from the VIP, as
//   ip_vs_leave; rate-limited (icmp_msgs_per_sec-like), drop_no_dest beyond.
// - TTL: untouched towards real servers (LOCAL_IN + ip_local_out); NAT
//   replies are forwarded and lose one (drop_ttl_exceeded at TTL <= 1).
// - One-packet scheduling (-o): the conn lives for one packet.
// - L4 checksums are not verified (IPVS does so only for NAT with an app
//   helper); they are updated incrementally so a bad one stays bad.
// - Fragments are dropped (IPVS sees reassembled packets); IP options too.
// - fwmark services are kept, listed and saved, but input() cannot match
//   them: AF_PACKET does not see skb marks, so matching needs a classifier
//   the io layer does not have. No packet is ever scheduled to them.
// - TUN: only ipip; an oversize DF packet gets ICMP frag-needed, an
//   oversize non-DF one is dropped (drop_tun_too_big): no fragmentation.

import { ControlError } from '../control/protocol.js';
import { ipToU32, isIpv4, maskToPrefix, u32ToIp } from '../packet/addr.js';
import { createScheduler, isScheduler } from './sched/index.js';
import type { Scheduler, SchedFlow } from './sched/scheduler.js';
import type {
  ConnEntry, DestSpec, EngineInfo, Protocol, Ruleset, ServiceKey, ServiceRules, ServiceSpec, ServiceStatus, Timeouts,
} from './types.js';
import {
  ConnTable, C_CADDR, C_CTL, C_DADDR, C_DEST, C_DPORT, C_EXPIRE, C_FLAGS, C_PORTS, C_PROTO, C_STATE, C_VADDR, CF_FWD_MASK, CF_FWD_SHIFT, CF_INACTIVE, CF_INUSE, CF_NOOUTPUT, CF_OUT_HASHED, CF_TEMPLATE, TICK_MS,
} from './conn.js';
import { Dest, FWD_MASQ, FWD_ROUTE, FWD_TUNNEL, fwdName } from './dest.js';
import { Service, addrKey, describeKey, serviceKeyId } from './service.js';
import { Stats } from './stats.js';
import { EST_PERIOD_MS, S_CONNS, S_INBYTES, S_INPKTS, S_OUTBYTES, S_OUTPKTS } from './est.js';
import {
  TCP_DEFAULT_TIMEOUTS, TCP_DIR_INPUT, TCP_DIR_INPUT_ONLY, TCP_DIR_OUTPUT, TCP_STATES, TCP_STATES_DOS, TCP_STATE_NAMES,
  TCP_S_CLOSE, TCP_S_ESTABLISHED, TCP_S_FIN_WAIT, TCP_S_SYNACK, TCP_S_SYN_RECV, TCP_S_TIME_WAIT,
} from './proto-tcp.js';
import { UDP_DEFAULT_TIMEOUT, UDP_STATE_NAME } from './proto-udp.js';
import { D, DROP_REASONS, I, IGNORE_REASONS } from './drops.js';
import { DEFAULT_DEFENSE, DEFENSE_FULL, DEFENSE_OFF, DEFENSE_ON, type DefenseOptions, isEvictableTcpState, validateDefense } from './defense.js';
import { xmitDr } from './xmit/dr.js';
import { natIn, natOut } from './xmit/nat.js';
import { IPIP_HLEN, writeIpipOuter } from './xmit/tun.js';
import { icmpChecksumOk, natIcmp, writeIcmpError, ICMP_ERROR_MAX } from './xmit/icmp.js';

export const HEADROOM = 64;
export const VERDICT_DROP = 0;
export const VERDICT_XMIT = 1;
export const VERDICT_IGNORE = 2;

export interface XmitOut {
  buf: Uint8Array;
  start: number;
  len: number;
  /** u32, host order. */
  nextHop: number;
}

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
}

export interface DestExtra {
  /** TUN outer source address, resolved by the io layer from routing. */
  tunSource?: number;
}

export interface TraceResult {
  dest?: DestSpec;
  reason: string;
}

export interface InterceptKeys {
  services: { protocol: Protocol; vaddr: number; vport: number }[];
  natDests: { protocol: Protocol; raddr: number; rport: number }[];
}

const ENGINE_VERSION = '1.2.1';
const FTPPORT = 21;
/** Schedulers whose pick is a pure function of the dests and the flow (trace can ask them). */
const PURE_SCHEDULERS = new Set(['lc', 'wlc', 'sed', 'nq', 'sh', 'dh', 'mh', 'fo', 'ovf']);
const PROTO_NAME: Record<number, Protocol | 'ip'> = { 0: 'ip', 6: 'tcp', 17: 'udp', 132: 'sctp' };
const DEST_REMOVED_PORT = 0xffff;

function ticksOf(seconds: number): number {
  return Math.ceil((seconds * 1000) / TICK_MS);
}

function err(code: ConstructorParameters<typeof ControlError>[0], message: string): ControlError {
  return new ControlError(code, message);
}

interface PlannedDest { spec: DestSpec; addr: number; tunSource: number }
interface PlannedService { spec: ServiceRules; id: number; dests: PlannedDest[] }

export class IpvsEngine {
  private readonly tbl: ConnTable;
  private readonly rng: () => number;
  private readonly defenseOpts: DefenseOptions;
  private readonly softLimit: number;

  /** serviceKeyId → service (addr and fwmark). */
  private readonly services = new Map<number, Service>();
  /** VIP → number of addr services on it. */
  private readonly vips = new Map<number, number>();
  /** RIP → number of NAT dests (incl. trashed ones with conns) on it. */
  private readonly natRips = new Map<number, number>();
  /** Bitmaps over a 16-bit hash of VIPs and of NAT real-server addresses: cheap "maybe" tests for the hot path. */
  private readonly vipFilter = new Uint8Array(65536);
  private readonly ripFilter = new Uint8Array(65536);
  private readonly dests: (Dest | undefined)[] = [];
  private readonly freeDestIds: number[] = [];

  private readonly tcpTimeouts: number[] = [...TCP_DEFAULT_TIMEOUTS];
  private udpTimeout = UDP_DEFAULT_TIMEOUT;
  private readonly tcpToNormal = new Uint32Array(16);
  private readonly tcpToDefense = new Uint32Array(16);
  private tcpTo = this.tcpToNormal;
  private tcpTable = TCP_STATES;
  private udpTo = 0;
  private defenseLevel = DEFENSE_OFF;

  private tunMtu = 1500;
  private ipId = 0;
  private readonly scratch = new Uint8Array(HEADROOM + ICMP_ERROR_MAX);
  private readonly icmpRate: number;
  private icmpTokens: number;
  private icmpLast = -1;

  private readonly totStats = new Stats();
  private estLast = -1;

  // Counters: frames = xmit + Σdrops + Σignores.
  private frames = 0;
  private xmits = 0;
  private readonly drops = new Float64Array(DROP_REASONS.length);
  private readonly ignores = new Float64Array(IGNORE_REASONS.length);
  private evictions = 0;
  private icmpGenerated = 0;
  private expiredTotal = 0;
  private connsCreated = 0;

  private readonly flow: SchedFlow = { saddr: 0, sport: 0, daddr: 0, dport: 0, protocol: 0, now: 0 };
  private readonly onDue = (i: number): boolean => this.expireConn(i, false);
  private readonly pickEvictable = (i: number): boolean => {
    const t = this.tbl;
    return t.u[(i << 4) + C_PROTO] === 6 && (t.u[(i << 4) + C_FLAGS]! & CF_TEMPLATE) === 0 && isEvictableTcpState(t.u[(i << 4) + C_STATE]!);
  };

  constructor(opts: EngineOptions = {}) {
    const bits = opts.connTableBits ?? 12;
    if (!Number.isInteger(bits) || bits < 4 || bits > 24) throw new RangeError('connTableBits must be an integer in 4..24');
    const max = opts.maxConns ?? 1 << 20;
    if (!Number.isInteger(max) || max < 1 || max > 1 << 26) throw new RangeError('maxConns must be an integer in 1..2^26');
    this.rng = opts.rng ?? Math.random;
    this.defenseOpts = { ...DEFAULT_DEFENSE, ...opts.defense };
    validateDefense(this.defenseOpts);
    this.softLimit = Math.max(1, Math.floor(max * this.defenseOpts.threshold));
    this.tbl = new ConnTable(bits, max, this.rng);
    this.icmpRate = opts.icmpRate ?? 1000;
    this.icmpTokens = this.icmpRate;
    this.recomputeTimeouts();
  }

  // ---------------------------------------------------------------- data path

  input(buf: Uint8Array, off: number, len: number, now: number, out: XmitOut): number {
    this.frames++;
    if (len < 34) return this.short(buf, off, len);
    let l3 = off + 14;
    let et = (buf[off + 12]! << 8) | buf[off + 13]!;
    if (et === 0x8100) {
      et = (buf[off + 16]! << 8) | buf[off + 17]!;
      l3 = off + 18;
      if (et === 0x8100 || et === 0x88a8) return this.ignore(I.vlan_stacked);
    } else if (et === 0x88a8) {
      return this.ignore(I.vlan_stacked);
    }
    if (et !== 0x0800) return this.ignore(I.non_ipv4);
    const avail = off + len - l3;
    if (avail < 20) return this.bad(D.truncated, false);
    const vihl = buf[l3]!;
    if ((vihl & 0xf0) !== 0x40) return this.bad(D.bad_ip_version, this.relevant(buf, l3));
    const ihl = (vihl & 0x0f) << 2;
    if (ihl < 20) return this.bad(D.bad_ihl, this.relevant(buf, l3));
    if (ihl > avail) return this.bad(D.truncated, this.relevant(buf, l3));
    const tot = (buf[l3 + 2]! << 8) | buf[l3 + 3]!;
    if (tot < ihl) return this.bad(D.bad_total_length, this.relevant(buf, l3));
    if (tot > avail) return this.bad(D.truncated, this.relevant(buf, l3));
    let sum = 0;
    for (let k = l3, e = l3 + ihl; k < e; k += 2) sum += (buf[k]! << 8) | buf[k + 1]!;
    sum = (sum & 0xffff) + (sum >>> 16);
    sum = (sum & 0xffff) + (sum >>> 16);
    if (sum !== 0xffff) return this.bad(D.bad_ip_checksum, this.relevant(buf, l3));
    if ((buf[l3 + 6]! & 0x3f) !== 0 || buf[l3 + 7] !== 0) return this.bad(D.fragment, this.relevant(buf, l3));
    if (ihl !== 20) return this.bad(D.ip_options, this.relevant(buf, l3));
    const saddr = ((buf[l3 + 12]! << 24) | (buf[l3 + 13]! << 16) | (buf[l3 + 14]! << 8) | buf[l3 + 15]!) >>> 0;
    const daddr = ((buf[l3 + 16]! << 24) | (buf[l3 + 17]! << 16) | (buf[l3 + 18]! << 8) | buf[l3 + 19]!) >>> 0;
    const sTop = saddr >>> 24;
    if (saddr === 0 || sTop >= 224 || sTop === 127) return this.bad(D.bad_saddr, this.relevant(buf, l3));
    const proto = buf[l3 + 9]!;
    const l4 = l3 + 20;
    const l4len = tot - 20;
    let tflags = 0;
    if (proto === 6) {
      if (l4len < 20) return this.bad(D.truncated, this.relevant(buf, l3));
      const doff = (buf[l4 + 12]! >>> 4) << 2;
      if (doff < 20 || doff > l4len) return this.bad(D.bad_tcp_doff, this.relevant(buf, l3));
      tflags = buf[l4 + 13]!;
    } else if (proto === 17) {
      if (l4len < 8) return this.bad(D.truncated, this.relevant(buf, l3));
      const ulen = (buf[l4 + 4]! << 8) | buf[l4 + 5]!;
      if (ulen < 8 || ulen > l4len) return this.bad(D.bad_udp_length, this.relevant(buf, l3));
    } else if (proto === 1) {
      return this.inputIcmp(buf, l3, tot, saddr, daddr, now, out);
    } else {
      return this.vips.has(daddr) ? this.drop(D.unknown_proto) : this.ignore(I.not_service);
    }
    const sport = (buf[l4]! << 8) | buf[l4 + 1]!;
    const dport = (buf[l4 + 2]! << 8) | buf[l4 + 3]!;
    if (sport === 0 || dport === 0) return this.bad(D.zero_port, this.relevant(buf, l3));

    const t = this.tbl;
    const nowTick = Math.floor(now / TICK_MS);
    // The filters spare NAT replies a certain miss on the in chains, and
    // client packets one on the out chains: a hash miss costs cache misses.
    const toVip = this.vipFilter[Math.imul(daddr, 0x9e3779b1) >>> 16] !== 0;
    if (toVip) {
      let i = t.findIn(proto, saddr, ((sport << 16) | dport) >>> 0, daddr);
      if (i >= 0) {
        const o = i << 4;
        // conn_reuse_mode 1: a new SYN on a closed, uncontrolled conn starts over.
        if ((tflags & 0x02) !== 0 && proto === 6 && t.s[o + C_CTL] === 0
          && (t.u[o + C_STATE] === TCP_S_TIME_WAIT || t.u[o + C_STATE] === TCP_S_CLOSE)) {
          this.expireConn(i, true);
          i = -1;
        } else {
          return this.inPacket(i, buf, l3, l4, tot, proto, tflags, nowTick, out);
        }
      }
    }
    if (this.ripFilter[Math.imul(saddr, 0x9e3779b1) >>> 16] !== 0) {
      const o = t.findOut(proto, saddr, sport, daddr, dport);
      if (o >= 0) return this.outPacket(o, buf, l3, l4, tot, proto, tflags, nowTick, out);
    }
    if (!toVip) return this.ignore(I.not_service);
    let svc = this.services.get(addrKey(proto, daddr, dport));
    if (svc === undefined) {
      svc = this.services.get(addrKey(proto, daddr, 0));
      if (svc === undefined) return this.ignore(I.not_service);
    }
    if (proto === 6 && (tflags & 0x06) !== 0x02) return this.drop(D.tcp_no_conn);
    return this.newConn(svc, buf, l3, l4, tot, proto, tflags, saddr, sport, daddr, dport, now, nowTick, out);
  }

  /** Client → RS packet of a tracked conn. */
  private inPacket(i: number, buf: Uint8Array, l3: number, l4: number, tot: number, proto: number, tflags: number,
    nowTick: number, out: XmitOut): number {
    const t = this.tbl;
    const d = this.dests[t.s[(i << 4) + C_DEST]!]!;
    if (!d.available) return this.drop(D.dest_unavailable);
    const dc = d.stats.c;
    dc[S_INPKTS]! += 1;
    dc[S_INBYTES]! += tot;
    const sc = d.svc.stats.c;
    sc[S_INPKTS]! += 1;
    sc[S_INBYTES]! += tot;
    const tc = this.totStats.c;
    tc[S_INPKTS]! += 1;
    tc[S_INBYTES]! += tot;
    if (proto === 6) this.tcpState(i, d, TCP_DIR_INPUT, tflags, nowTick);
    else t.setExpire(i, nowTick + this.udpTo);
    return this.xmit(i, (t.u[(i << 4) + C_FLAGS]! & CF_FWD_MASK) >>> CF_FWD_SHIFT, buf, l3, l4, tot, proto, out);
  }

  private xmit(i: number, fwd: number, buf: Uint8Array, l3: number, l4: number, tot: number, proto: number, out: XmitOut): number {
    const t = this.tbl;
    if (fwd === FWD_ROUTE) {
      xmitDr(out, buf, l3, tot, t.u[(i << 4) + C_DADDR]!);
    } else if (fwd === FWD_MASQ) {
      natIn(buf, l3, l4, proto, t.u[(i << 4) + C_DADDR]!, t.u[(i << 4) + C_DPORT]!);
      out.buf = buf;
      out.start = l3;
      out.len = tot;
      out.nextHop = t.u[(i << 4) + C_DADDR]!;
    } else {
      if (tot + IPIP_HLEN > this.tunMtu) {
        // No fragmentation here; and no ICMP error about an ICMP error (RFC 1122 3.2.2).
        if ((buf[l3 + 6]! & 0x40) === 0 || proto === 1) return this.drop(D.tun_too_big);
        const vaddr = t.u[(i << 4) + C_VADDR]!;
        const caddr = t.u[(i << 4) + C_CADDR]!;
        return this.sendIcmpError(3, 4, (this.tunMtu - IPIP_HLEN) & 0xffff, vaddr, caddr, buf, l3, tot, out, D.tun_too_big);
      }
      const d = this.dests[t.s[(i << 4) + C_DEST]!]!;
      this.ipId = (this.ipId + 1) & 0xffff;
      out.buf = buf;
      out.start = writeIpipOuter(buf, l3, tot, d.tunSource, t.u[(i << 4) + C_DADDR]!, this.ipId);
      out.len = tot + IPIP_HLEN;
      out.nextHop = t.u[(i << 4) + C_DADDR]!;
    }
    this.xmits++;
    return VERDICT_XMIT;
  }

  /** RS → client reply of a NAT conn. */
  private outPacket(i: number, buf: Uint8Array, l3: number, l4: number, tot: number, proto: number, tflags: number,
    nowTick: number, out: XmitOut): number {
    const t = this.tbl;
    const d = this.dests[t.s[(i << 4) + C_DEST]!]!;
    if (!natOut(buf, l3, l4, proto, t.u[(i << 4) + C_VADDR]!, t.u[(i << 4) + C_PORTS]! & 0xffff)) return this.drop(D.ttl_exceeded);
    if (d.available) {
      const dc = d.stats.c;
      dc[S_OUTPKTS]! += 1;
      dc[S_OUTBYTES]! += tot;
      const sc = d.svc.stats.c;
      sc[S_OUTPKTS]! += 1;
      sc[S_OUTBYTES]! += tot;
      const tc = this.totStats.c;
      tc[S_OUTPKTS]! += 1;
      tc[S_OUTBYTES]! += tot;
    }
    if (proto === 6) this.tcpState(i, d, TCP_DIR_OUTPUT, tflags, nowTick);
    else t.setExpire(i, nowTick + this.udpTo);
    out.buf = buf;
    out.start = l3;
    out.len = tot;
    out.nextHop = t.u[(i << 4) + C_CADDR]!;
    this.xmits++;
    return VERDICT_XMIT;
  }

  /** set_tcp_state(). */
  private tcpState(i: number, d: Dest, dir: number, tflags: number, nowTick: number): void {
    const t = this.tbl;
    let f = t.u[(i << 4) + C_FLAGS]!;
    let off = dir;
    if ((f & CF_NOOUTPUT) !== 0) {
      if (off === TCP_DIR_OUTPUT) f &= ~CF_NOOUTPUT;
      else off = TCP_DIR_INPUT_ONLY;
    }
    const old = t.u[(i << 4) + C_STATE]!;
    let idx: number;
    if (tflags & 0x04) idx = 3;
    else if (tflags & 0x02) idx = 0;
    else if (tflags & 0x01) idx = 1;
    else if (tflags & 0x10) idx = 2;
    else idx = -1;
    const ns = idx < 0 ? TCP_S_CLOSE : this.tcpTable[(off + idx) * 16 + old]!;
    if (ns !== old) {
      if ((f & CF_INACTIVE) === 0 && ns !== TCP_S_ESTABLISHED) {
        d.activeConns--;
        d.inactConns++;
        f |= CF_INACTIVE;
      } else if ((f & CF_INACTIVE) !== 0 && ns === TCP_S_ESTABLISHED) {
        d.activeConns++;
        d.inactConns--;
        f &= ~CF_INACTIVE;
      }
      t.u[(i << 4) + C_STATE] = ns;
    }
    t.u[(i << 4) + C_FLAGS] = f;
    t.setExpire(i, nowTick + this.tcpTo[ns]!);
  }

  private newConn(svc: Service, buf: Uint8Array, l3: number, l4: number, tot: number, proto: number, tflags: number,
    saddr: number, sport: number, daddr: number, dport: number, now: number, nowTick: number, out: XmitOut): number {
    if (!this.makeRoom()) return this.drop(D.conn_table_full);
    let dest: Dest | null;
    let tpl = -1;
    if (svc.persistMs > 0) {
      tpl = this.schedPersist(svc, saddr, sport, daddr, dport, proto, now, nowTick);
      if (tpl === -2) return this.drop(D.conn_table_full);
      dest = tpl >= 0 ? this.dests[this.tbl.s[(tpl << 4) + C_DEST]!]! : null;
      if (dest !== null && !this.makeRoom()) return this.drop(D.conn_table_full);
    } else {
      dest = this.schedule(svc, saddr, sport, daddr, dport, proto, now);
    }
    if (dest === null) {
      return this.sendIcmpError(3, 3, 0, daddr, saddr, buf, l3, tot, out, D.no_dest);
    }
    const rport = dest.port !== 0 ? dest.port : dport;
    const i = this.bindNew(proto, saddr, sport, daddr, dport, dest, rport, nowTick);
    if (i < 0) return this.drop(D.conn_table_full);
    if (tpl >= 0) {
      this.tbl.s[(i << 4) + C_CTL] = tpl + 1;
      this.tbl.s[(tpl << 4) + C_CTL]! += 1;
    }
    svc.stats.c[S_CONNS]! += 1;
    const v = this.inPacket(i, buf, l3, l4, tot, proto, tflags, nowTick, out);
    if (svc.ops) this.expireConn(i, true);
    return v;
  }

  /** ip_vs_conn_new() + ip_vs_bind_dest() for a conn. */
  private bindNew(proto: number, saddr: number, sport: number, daddr: number, dport: number, dest: Dest,
    rport: number, nowTick: number): number {
    const fwd = dest.fwd;
    let flags = CF_INACTIVE | (fwd << CF_FWD_SHIFT);
    flags |= fwd === FWD_MASQ ? CF_OUT_HASHED : CF_NOOUTPUT;
    const timeout = proto === 6 ? this.tcpTo[0]! : this.udpTo;
    const i = this.tbl.insert(proto, saddr, sport, daddr, dport, dest.addr, rport, flags, dest.id, nowTick + timeout);
    if (i < 0) return -1;
    dest.refcnt++;
    dest.inactConns++;
    dest.checkOverloadOnBind();
    dest.stats.c[S_CONNS]! += 1;
    this.totStats.c[S_CONNS]! += 1;
    this.connsCreated++;
    return i;
  }

  private schedule(svc: Service, saddr: number, sport: number, daddr: number, dport: number, proto: number, now: number): Dest | null {
    if (svc.dests.length === 0) return null;
    const f = this.flow;
    f.saddr = saddr;
    f.sport = sport;
    f.daddr = daddr;
    f.dport = dport;
    f.protocol = proto;
    f.now = now;
    return svc.scheduler.schedule(svc.dests, f) as Dest | null;
  }

  /**
   * ip_vs_sched_persist(): the template's slot (existing or new), -1 when no
   * dest is usable, -2 when the table has no room for a new template.
   */
  private schedPersist(svc: Service, saddr: number, sport: number, daddr: number, dport: number, proto: number,
    now: number, nowTick: number): number {
    const t = this.tbl;
    const snet = (saddr & svc.netmask) >>> 0;
    // <proto, caddr&mask, 0, vaddr, vport> — vport 0 for port-zero services and FTP (control + data).
    const tvport = dport === svc.vport && svc.vport !== FTPPORT ? dport : 0;
    const persistTicks = Math.ceil(svc.persistMs / TICK_MS);
    const ct = t.findIn(proto, snet, tvport, daddr);
    if (ct >= 0 && (t.u[(ct << 4) + C_FLAGS]! & CF_TEMPLATE) !== 0) {
      const td = this.dests[t.s[(ct << 4) + C_DEST]!]!;
      if (td.available) {
        t.setExpire(ct, nowTick + persistTicks);
        return ct;
      }
      // ip_vs_check_template(): retire it under an unfindable key; it goes when its conns do.
      t.rehashIn(ct, DEST_REMOVED_PORT);
      t.u[(ct << 4) + C_DPORT] = DEST_REMOVED_PORT;
      if (t.s[(ct << 4) + C_CTL] === 0) this.expireConn(ct, true);
    }
    const dest = this.schedule(svc, saddr, sport, daddr, dport, proto, now);
    if (dest === null) return -1;
    if (!this.makeRoom()) return -2;
    const flags = CF_TEMPLATE | CF_NOOUTPUT | (dest.fwd << CF_FWD_SHIFT);
    const i = t.insert(proto, snet, 0, daddr, tvport, dest.addr, dest.port, flags, dest.id, nowTick + persistTicks);
    if (i < 0) return -2;
    dest.refcnt++;
    dest.persistConns++;
    dest.checkOverloadOnBind();
    return i;
  }

  /**
   * Unbinds and frees a conn or template (ip_vs_conn_expire + ip_vs_unbind_dest).
   * A template that still controls conns is re-armed unless forced.
   */
  private expireConn(i: number, force: boolean): boolean {
    const t = this.tbl;
    const f = t.u[(i << 4) + C_FLAGS]!;
    const d = this.dests[t.s[(i << 4) + C_DEST]!]!;
    if ((f & CF_TEMPLATE) !== 0) {
      if (t.s[(i << 4) + C_CTL]! > 0 && !force) {
        t.u[(i << 4) + C_EXPIRE] = Math.floor(t.cursor) + Math.ceil(d.svc.persistMs / TICK_MS);
        return false;
      }
      d.persistConns--;
    } else {
      if ((f & CF_INACTIVE) !== 0) d.inactConns--;
      else d.activeConns--;
      const c = t.s[(i << 4) + C_CTL]!;
      if (c > 0) t.s[(c - 1 << 4) + C_CTL]! -= 1;
    }
    d.checkOverloadOnUnbind();
    t.remove(i);
    this.expiredTotal++;
    if (--d.refcnt === 0 && !d.available) this.releaseDest(d);
    return true;
  }

  /** Room for one more entry: the defense's eviction when full. */
  private makeRoom(): boolean {
    const t = this.tbl;
    if (t.count >= this.softLimit) {
      if (this.defenseLevel === DEFENSE_OFF) this.setDefense(DEFENSE_ON);
      if (t.count < t.capacity) return true;
      this.defenseLevel = DEFENSE_FULL;
      const victim = t.scanSoonest(this.defenseOpts.evictScan, this.pickEvictable);
      if (victim < 0) return false;
      this.expireConn(victim, true);
      this.evictions++;
      return true;
    }
    if (this.defenseLevel !== DEFENSE_OFF && t.count < this.softLimit) this.setDefense(DEFENSE_OFF);
    return true;
  }

  private setDefense(level: number): void {
    this.defenseLevel = level;
    const on = level !== DEFENSE_OFF;
    this.tcpTable = on ? TCP_STATES_DOS : TCP_STATES;
    this.tcpTo = on ? this.tcpToDefense : this.tcpToNormal;
  }

  private inputIcmp(buf: Uint8Array, l3: number, tot: number, saddr: number, daddr: number, now: number, out: XmitOut): number {
    const icmp = l3 + 20;
    const ilen = tot - 20;
    const rel = this.vips.has(daddr) || this.natRips.has(saddr);
    if (ilen < 8) return this.bad(D.icmp_truncated, rel);
    const type = buf[icmp]!;
    if (type !== 3 && type !== 4 && type !== 11 && type !== 12) return this.ignore(I.icmp_no_conn);
    const inner = icmp + 8;
    if (ilen < 8 + 28) return this.bad(D.icmp_truncated, rel);
    const ivihl = buf[inner]!;
    const iihl = (ivihl & 0x0f) << 2;
    if ((ivihl & 0xf0) !== 0x40 || iihl < 20 || 8 + iihl + 8 > ilen) return this.bad(D.icmp_truncated, rel);
    const iproto = buf[inner + 9]!;
    if (iproto !== 6 && iproto !== 17) return this.ignore(I.icmp_no_conn);
    const isrc = ((buf[inner + 12]! << 24) | (buf[inner + 13]! << 16) | (buf[inner + 14]! << 8) | buf[inner + 15]!) >>> 0;
    const idst = ((buf[inner + 16]! << 24) | (buf[inner + 17]! << 16) | (buf[inner + 18]! << 8) | buf[inner + 19]!) >>> 0;
    const il4 = inner + iihl;
    const isport = (buf[il4]! << 8) | buf[il4 + 1]!;
    const idport = (buf[il4 + 2]! << 8) | buf[il4 + 3]!;
    const t = this.tbl;
    const nowTick = Math.floor(now / TICK_MS);
    // Client side: the quote is our packet VIP:vport → client:cport.
    let i = t.findIn(iproto, idst, ((idport << 16) | isport) >>> 0, isrc);
    if (i >= 0 && (t.u[(i << 4) + C_FLAGS]! & CF_TEMPLATE) === 0 && t.u[(i << 4) + C_VADDR] === daddr) {
      if (!icmpChecksumOk(buf, icmp, ilen)) return this.drop(D.icmp_bad_checksum);
      const d = this.dests[t.s[(i << 4) + C_DEST]!]!;
      if (!d.available) return this.drop(D.dest_unavailable);
      d.stats.c[S_INPKTS]! += 1;
      d.stats.c[S_INBYTES]! += tot;
      d.svc.stats.c[S_INPKTS]! += 1;
      d.svc.stats.c[S_INBYTES]! += tot;
      this.totStats.c[S_INPKTS]! += 1;
      this.totStats.c[S_INBYTES]! += tot;
      t.setExpire(i, Math.max(t.u[(i << 4) + C_EXPIRE]!, nowTick));
      const fwd = (t.u[(i << 4) + C_FLAGS]! & CF_FWD_MASK) >>> CF_FWD_SHIFT;
      if (fwd === FWD_MASQ) {
        natIcmp(buf, l3, icmp, ilen, inner, iihl, l3 + 16, t.u[(i << 4) + C_DADDR]!, inner + 12, il4, t.u[(i << 4) + C_DADDR]!, t.u[(i << 4) + C_DPORT]!);
        out.buf = buf;
        out.start = l3;
        out.len = tot;
        out.nextHop = t.u[(i << 4) + C_DADDR]!;
        this.xmits++;
        return VERDICT_XMIT;
      }
      return this.xmit(i, fwd, buf, l3, icmp, tot, 1, out);
    }
    // RS side (NAT): the quote is the client's packet client:cport → RIP:rport.
    if (this.ripFilter[Math.imul(idst, 0x9e3779b1) >>> 16] !== 0) {
      i = t.findOut(iproto, idst, idport, isrc, isport);
      if (i >= 0) {
        if (!icmpChecksumOk(buf, icmp, ilen)) return this.drop(D.icmp_bad_checksum);
        const ttl = buf[l3 + 8]!;
        if (ttl <= 1) return this.drop(D.ttl_exceeded);
        const d = this.dests[t.s[(i << 4) + C_DEST]!]!;
        if (d.available) {
          d.stats.c[S_OUTPKTS]! += 1;
          d.stats.c[S_OUTBYTES]! += tot;
          d.svc.stats.c[S_OUTPKTS]! += 1;
          d.svc.stats.c[S_OUTBYTES]! += tot;
          this.totStats.c[S_OUTPKTS]! += 1;
          this.totStats.c[S_OUTBYTES]! += tot;
        }
        // Forwarded: TTL - 1 (checksum fixed together with the rest below).
        const c = (buf[l3 + 10]! << 8) | buf[l3 + 11]!;
        let s = (~c & 0xffff) + 0xfeff;
        s = (s & 0xffff) + (s >>> 16);
        s = (s & 0xffff) + (s >>> 16);
        const n = ~s & 0xffff;
        buf[l3 + 8] = ttl - 1;
        buf[l3 + 10] = n >>> 8;
        buf[l3 + 11] = n;
        natIcmp(buf, l3, icmp, ilen, inner, iihl, l3 + 12, t.u[(i << 4) + C_VADDR]!, inner + 16, il4 + 2, t.u[(i << 4) + C_VADDR]!, t.u[(i << 4) + C_PORTS]! & 0xffff);
        out.buf = buf;
        out.start = l3;
        out.len = tot;
        out.nextHop = daddr;
        this.xmits++;
        return VERDICT_XMIT;
      }
    }
    return this.ignore(I.icmp_no_conn);
  }

  /** An ICMP error from `src` to `dst` into the scratch buffer; rate-limited, else a drop for `reason`. */
  private sendIcmpError(type: number, code: number, info: number, src: number, dst: number, buf: Uint8Array,
    l3: number, tot: number, out: XmitOut, reason: number): number {
    if (this.icmpTokens < 1) return this.drop(reason);
    this.icmpTokens--;
    const len = writeIcmpError(this.scratch, HEADROOM, src, dst, type, code, info, buf, l3, tot);
    out.buf = this.scratch;
    out.start = HEADROOM;
    out.len = len;
    out.nextHop = dst;
    this.icmpGenerated++;
    this.xmits++;
    return VERDICT_XMIT;
  }

  private short(buf: Uint8Array, off: number, len: number): number {
    if (len >= 14) {
      const et = (buf[off + 12]! << 8) | buf[off + 13]!;
      if (et !== 0x0800 && et !== 0x8100 && et !== 0x88a8) return this.ignore(I.non_ipv4);
    }
    return this.bad(D.truncated, false);
  }

  /** Whether a (possibly malformed) IP header is addressed to a VIP or comes from a NAT real server. */
  private relevant(buf: Uint8Array, l3: number): boolean {
    const s = ((buf[l3 + 12]! << 24) | (buf[l3 + 13]! << 16) | (buf[l3 + 14]! << 8) | buf[l3 + 15]!) >>> 0;
    const d = ((buf[l3 + 16]! << 24) | (buf[l3 + 17]! << 16) | (buf[l3 + 18]! << 8) | buf[l3 + 19]!) >>> 0;
    return this.vips.has(d) || this.natRips.has(s);
  }

  private bad(reason: number, relevant: boolean): number {
    if (relevant) return this.drop(reason);
    return this.ignore(I.malformed_foreign);
  }

  private drop(reason: number): number {
    this.drops[reason]! += 1;
    return VERDICT_DROP;
  }

  private ignore(reason: number): number {
    this.ignores[reason]! += 1;
    return VERDICT_IGNORE;
  }

  // ---------------------------------------------------------------- time

  tick(now: number): void {
    const nowTick = Math.floor(now / TICK_MS);
    this.tbl.advance(nowTick, this.onDue);
    const n = this.tbl.count;
    this.setDefense(n >= this.tbl.capacity ? DEFENSE_FULL : n >= this.softLimit ? DEFENSE_ON : DEFENSE_OFF);
    if (this.estLast < 0) this.estLast = now;
    while (now - this.estLast >= EST_PERIOD_MS) {
      this.estimateAll();
      this.estLast += EST_PERIOD_MS;
    }
    if (this.icmpLast < 0) this.icmpLast = now;
    if (now > this.icmpLast) {
      this.icmpTokens = Math.min(this.icmpRate, this.icmpTokens + ((now - this.icmpLast) * this.icmpRate) / 1000);
      this.icmpLast = now;
    }
  }

  private estimateAll(): void {
    this.totStats.est.estimate(this.totStats.c);
    for (const svc of this.services.values()) svc.stats.est.estimate(svc.stats.c);
    for (const d of this.dests) if (d !== undefined) d.stats.est.estimate(d.stats.c);
  }

  // ---------------------------------------------------------------- control

  addService(s: ServiceSpec): void {
    const plan = this.checkService(s);
    if (this.services.has(plan.id)) throw err('EEXIST', 'Service already exists');
    this.installService(s, plan.id, this.makeScheduler(s));
  }

  editService(s: ServiceSpec): void {
    const plan = this.checkService(s);
    const svc = this.services.get(plan.id);
    if (svc === undefined) throw err('ESRCH', 'No such service');
    const sched = svc.spec.scheduler === s.scheduler ? svc.scheduler : this.makeScheduler(s);
    svc.apply(s, sched);
  }

  delService(k: ServiceKey): void {
    const id = this.keyId(k);
    const svc = this.services.get(id);
    if (svc === undefined) throw err('ESRCH', 'No such service');
    this.unlinkService(svc, id);
  }

  addDest(k: ServiceKey, d: DestSpec, extra: DestExtra = {}): void {
    const svc = this.findService(k, 'Service not defined');
    const addr = this.checkDest(d);
    if (svc.findDest(addr, d.port) !== undefined) throw err('EEXIST', 'Destination already exists');
    this.installDest(svc, d, addr, extra.tunSource ?? 0);
    svc.resched();
  }

  editDest(k: ServiceKey, d: DestSpec, extra: DestExtra = {}): void {
    const svc = this.findService(k, 'Service not defined');
    const addr = this.checkDest(d);
    const dest = svc.findDest(addr, d.port);
    if (dest === undefined) throw err('ENOENT', 'No such destination');
    this.updateDest(dest, d, extra.tunSource ?? dest.tunSource);
    svc.resched();
  }

  delDest(k: ServiceKey, addr: string, port: number): void {
    const svc = this.findService(k, 'Service not defined');
    if (!isIpv4(addr)) throw err('EINVAL', `Invalid real server address: ${addr}`);
    const dest = svc.findDest(ipToU32(addr), port);
    if (dest === undefined) throw err('ENOENT', 'No such destination');
    this.unlinkDest(svc, dest);
    svc.resched();
  }

  flush(): void {
    for (const [id, svc] of [...this.services]) this.unlinkService(svc, id);
  }

  zero(k?: ServiceKey): void {
    if (k === undefined) {
      for (const svc of this.services.values()) this.zeroService(svc);
      this.totStats.zero();
      return;
    }
    const svc = this.services.get(this.keyId(k));
    if (svc === undefined) throw err('ESRCH', 'No such service');
    this.zeroService(svc);
  }

  setTimeouts(t: Partial<Timeouts>): void {
    for (const [name, v] of Object.entries(t)) {
      if (v === undefined) continue;
      if (!Number.isInteger(v) || v < 0 || v > 2147483) throw err('EINVAL', `Invalid ${name} timeout: ${v}`);
    }
    if (t.tcp) this.tcpTimeouts[TCP_S_ESTABLISHED] = t.tcp;
    if (t.tcpfin) this.tcpTimeouts[TCP_S_FIN_WAIT] = t.tcpfin;
    if (t.udp) this.udpTimeout = t.udp;
    this.recomputeTimeouts();
  }

  getTimeouts(): Timeouts {
    return { tcp: this.tcpTimeouts[TCP_S_ESTABLISHED]!, tcpfin: this.tcpTimeouts[TCP_S_FIN_WAIT]!, udp: this.udpTimeout };
  }

  /** TUN path MTU (the route's MTU towards the real servers); default 1500. */
  setTunMtu(mtu: number): void {
    if (!Number.isInteger(mtu) || mtu < 68 + IPIP_HLEN || mtu > 65535) throw err('EINVAL', `Invalid tunnel MTU: ${mtu}`);
    this.tunMtu = mtu;
  }

  replace(r: Ruleset, extra?: (d: DestSpec) => DestExtra): void {
    // Validate everything before touching anything.
    const plans: PlannedService[] = [];
    const schedulers = new Map<number, Scheduler | null>();
    const seen = new Set<number>();
    for (const s of r.services) {
      const { id } = this.checkService(s);
      if (seen.has(id)) throw err('EEXIST', `Service already exists: ${describeKey(s.key)}`);
      seen.add(id);
      const old = this.services.get(id);
      schedulers.set(id, old !== undefined && old.spec.scheduler === s.scheduler ? null : this.makeScheduler(s));
      const dests: PlannedDest[] = [];
      const dseen = new Set<number>();
      for (const d of s.dests) {
        const addr = this.checkDest(d);
        const dk = addr * 65536 + d.port;
        if (dseen.has(dk)) throw err('EEXIST', `Destination already exists: ${d.addr}:${d.port} in ${describeKey(s.key)}`);
        dseen.add(dk);
        const ts = extra?.(d).tunSource;
        dests.push({ spec: d, addr, tunSource: ts ?? 0 });
      }
      plans.push({ spec: s, id, dests });
    }
    // Swap.
    for (const [id, svc] of [...this.services]) if (!seen.has(id)) this.unlinkService(svc, id);
    for (const p of plans) {
      const { dests: _dests, ...spec } = p.spec;
      void _dests;
      let svc = this.services.get(p.id);
      const sched = schedulers.get(p.id) ?? null;
      if (svc === undefined) svc = this.installService(spec, p.id, sched!);
      else svc.apply(spec, sched ?? svc.scheduler);
      const keep = new Set(p.dests.map((d) => d.addr * 65536 + d.spec.port));
      for (const d of [...svc.dests]) if (!keep.has(d.addr * 65536 + d.port)) this.unlinkDest(svc, d);
      for (const pd of p.dests) {
        const cur = svc.findDest(pd.addr, pd.spec.port);
        if (cur !== undefined) this.updateDest(cur, pd.spec, pd.tunSource || cur.tunSource);
        else this.installDest(svc, pd.spec, pd.addr, pd.tunSource);
      }
      svc.resched();
    }
  }

  listServices(k?: ServiceKey, _now?: number): ServiceStatus[] {
    if (k !== undefined) {
      const svc = this.services.get(this.keyId(k));
      if (svc === undefined) throw err('ESRCH', 'No such service');
      return [svc.status()];
    }
    return [...this.services.values()].map((s) => s.status());
  }

  listConns(now: number): ConnEntry[] {
    const t = this.tbl;
    const out: ConnEntry[] = [];
    for (let i = 0; i < t.hwm; i++) {
      const f = t.u[(i << 4) + C_FLAGS]!;
      if ((f & CF_INUSE) === 0) continue;
      const tpl = (f & CF_TEMPLATE) !== 0;
      const proto = t.u[(i << 4) + C_PROTO]!;
      const d = this.dests[t.s[(i << 4) + C_DEST]!];
      out.push({
        protocol: PROTO_NAME[proto] ?? 'ip',
        caddr: u32ToIp(t.u[(i << 4) + C_CADDR]!),
        cport: t.u[(i << 4) + C_PORTS]! >>> 16,
        vaddr: u32ToIp(t.u[(i << 4) + C_VADDR]!),
        vport: t.u[(i << 4) + C_PORTS]! & 0xffff,
        daddr: u32ToIp(t.u[(i << 4) + C_DADDR]!),
        dport: t.u[(i << 4) + C_DPORT]!,
        state: tpl ? 'NONE' : proto === 6 ? TCP_STATE_NAMES[t.u[(i << 4) + C_STATE]!]! : UDP_STATE_NAME,
        expiresMs: Math.max(0, t.u[(i << 4) + C_EXPIRE]! * TICK_MS - now),
        fwd: fwdName((f & CF_FWD_MASK) >>> CF_FWD_SHIFT),
        template: tpl,
        ...(d !== undefined && d.svc.fwmark !== 0 ? { fwmark: d.svc.fwmark } : {}),
      });
    }
    return out;
  }

  info(): EngineInfo {
    return { version: ENGINE_VERSION, connTableSize: this.tbl.buckets };
  }

  counters(): Record<string, number> {
    const c: Record<string, number> = {
      frames: this.frames,
      xmit: this.xmits,
    };
    DROP_REASONS.forEach((r, k) => { c[`drop_${r}`] = this.drops[k]!; });
    IGNORE_REASONS.forEach((r, k) => { c[`ignore_${r}`] = this.ignores[k]!; });
    c.conns = this.tbl.count - this.tbl.templates;
    c.templates = this.tbl.templates;
    c.conns_created = this.connsCreated;
    c.conns_expired = this.expiredTotal;
    c.conn_table_size = this.tbl.buckets;
    c.conn_table_capacity = this.tbl.capacity;
    c.conn_table_bytes = this.tbl.bytes();
    c.defense_level = this.defenseLevel;
    c.defense_evictions = this.evictions;
    c.icmp_generated = this.icmpGenerated;
    return c;
  }

  trace(k: ServiceKey, caddr: number, cport: number, now: number): TraceResult {
    const svc = this.services.get(this.keyId(k));
    if (svc === undefined) throw err('ESRCH', 'No such service');
    if (svc.fwmark !== 0) return { reason: 'fwmark service: lvsd cannot classify packets by mark' };
    const t = this.tbl;
    const i = t.findIn(svc.proto, caddr >>> 0, ((cport << 16) | svc.vport) >>> 0, svc.vaddr);
    if (i >= 0 && (t.u[(i << 4) + C_FLAGS]! & CF_TEMPLATE) === 0) {
      const d = this.dests[t.s[(i << 4) + C_DEST]!]!;
      return { dest: { ...d.spec }, reason: `existing connection (${TCP_STATE_NAMES[t.u[(i << 4) + C_STATE]!] ?? 'UDP'})` };
    }
    if (svc.persistMs > 0) {
      const snet = (caddr & svc.netmask) >>> 0;
      const tvport = svc.vport !== FTPPORT ? svc.vport : 0;
      const ct = t.findIn(svc.proto, snet, tvport, svc.vaddr);
      if (ct >= 0 && (t.u[(ct << 4) + C_FLAGS]! & CF_TEMPLATE) !== 0 && this.dests[t.s[(ct << 4) + C_DEST]!]!.available) {
        return { dest: { ...this.dests[t.s[(ct << 4) + C_DEST]!]!.spec }, reason: 'persistence template' };
      }
    }
    if (!PURE_SCHEDULERS.has(svc.spec.scheduler)) {
      return { reason: `new connection: ${svc.spec.scheduler} picks from its own state; cannot predict without advancing it` };
    }
    const d = this.schedule(svc, caddr >>> 0, cport, svc.vaddr, svc.vport, svc.proto, now);
    if (d === null) return { reason: 'new connection: no usable destination (client gets ICMP port unreachable)' };
    return { dest: { ...d.spec }, reason: `new connection: scheduled by ${svc.spec.scheduler}` };
  }

  hasVip(addr: number): boolean {
    return this.vips.has(addr >>> 0);
  }

  /** What the io layer must intercept: service VIP:ports, and NAT real servers' source addr:ports. */
  serviceKeys(): InterceptKeys {
    const services: InterceptKeys['services'] = [];
    const natDests: InterceptKeys['natDests'] = [];
    for (const svc of this.services.values()) {
      if (svc.key.kind !== 'addr') continue;
      const protocol = svc.key.protocol;
      services.push({ protocol, vaddr: svc.vaddr, vport: svc.vport });
      for (const d of svc.dests) {
        if (d.fwd === FWD_MASQ) natDests.push({ protocol, raddr: d.addr, rport: d.port !== 0 ? d.port : svc.vport });
      }
    }
    return { services, natDests };
  }

  // ---------------------------------------------------------------- control internals

  private keyId(k: ServiceKey): number {
    try {
      return serviceKeyId(k);
    } catch {
      throw err('EINVAL', `Invalid service address: ${describeKey(k)}`);
    }
  }

  private findService(k: ServiceKey, missing: string): Service {
    const svc = this.services.get(this.keyId(k));
    if (svc === undefined) throw err('ESRCH', missing);
    return svc;
  }

  private checkService(s: ServiceSpec): { id: number } {
    const k = s.key;
    if (k.kind === 'addr') {
      if (k.protocol === 'sctp') throw err('EOPNOTSUPP', 'SCTP services are not supported by lvsd');
      if (k.protocol !== 'tcp' && k.protocol !== 'udp') throw err('EINVAL', `Invalid protocol: ${String(k.protocol)}`);
      if (!isIpv4(k.addr)) throw err('EINVAL', `Invalid virtual service address: ${k.addr}`);
      if (!Number.isInteger(k.port) || k.port < 0 || k.port > 65535) throw err('EINVAL', `Invalid port: ${k.port}`);
      if (k.port === 0 && !(s.persistence > 0)) throw err('EINVAL', 'Zero port specified for non-persistent service');
      if (s.ops && k.protocol !== 'udp') throw err('EINVAL', 'One-Packet Scheduling is only for UDP virtual services');
    } else if (k.kind === 'fwmark') {
      if (!Number.isInteger(k.fwmark) || k.fwmark < 1 || k.fwmark > 0xffffffff) throw err('EINVAL', `Invalid fwmark: ${k.fwmark}`);
    } else {
      throw err('EINVAL', 'Invalid service key');
    }
    if (!isScheduler(s.scheduler)) throw err('ENOENT', 'Scheduler or persistence engine not found');
    if (s.pe !== undefined && s.pe !== '') throw err('ENOENT', 'Scheduler or persistence engine not found');
    if (!Number.isInteger(s.persistence) || s.persistence < 0 || s.persistence > 2147483) {
      throw err('EINVAL', `Invalid persistence timeout: ${s.persistence}`);
    }
    try {
      maskToPrefix(s.netmask);
    } catch {
      throw err('EINVAL', `Invalid netmask: ${s.netmask}`);
    }
    return { id: this.keyId(k) };
  }

  private checkDest(d: DestSpec): number {
    if (!isIpv4(d.addr)) throw err('EINVAL', `Invalid real server address: ${d.addr}`);
    if (!Number.isInteger(d.port) || d.port < 0 || d.port > 65535) throw err('EINVAL', `Invalid port: ${d.port}`);
    if (!Number.isInteger(d.weight) || d.weight < 0 || d.weight > 65535) throw err('EINVAL', `Invalid weight: ${d.weight}`);
    for (const v of [d.uThreshold, d.lThreshold]) {
      if (!Number.isInteger(v) || v < 0 || v > 2147483647) throw err('EINVAL', `Invalid threshold: ${v}`);
    }
    if (d.lThreshold > d.uThreshold) throw err('ERANGE', 'Numerical result out of range');
    if (d.fwd === 'local') throw err('EOPNOTSUPP', 'Local forwarding is not supported by lvsd');
    if (d.fwd !== 'masq' && d.fwd !== 'route' && d.fwd !== 'tunnel') throw err('EINVAL', `Invalid forwarding method: ${String(d.fwd)}`);
    if (d.fwd === 'tunnel' && d.tunType !== undefined && d.tunType !== 'ipip') {
      throw err('EOPNOTSUPP', `Tunnel type ${d.tunType} is not supported by lvsd (ipip only)`);
    }
    return ipToU32(d.addr);
  }

  private makeScheduler(s: ServiceSpec): Scheduler {
    return createScheduler(s.scheduler, { random: this.rng });
  }

  private installService(s: ServiceSpec, id: number, sched: Scheduler): Service {
    const svc = new Service(s, sched);
    this.services.set(id, svc);
    if (svc.fwmark === 0) this.vips.set(svc.vaddr, (this.vips.get(svc.vaddr) ?? 0) + 1);
    this.rebuildFilters();
    return svc;
  }

  private unlinkService(svc: Service, id: number): void {
    for (const d of [...svc.dests]) this.unlinkDest(svc, d);
    this.services.delete(id);
    if (svc.fwmark === 0) {
      const n = (this.vips.get(svc.vaddr) ?? 1) - 1;
      if (n <= 0) this.vips.delete(svc.vaddr);
      else this.vips.set(svc.vaddr, n);
      this.rebuildFilters();
    }
  }

  private installDest(svc: Service, spec: DestSpec, addr: number, tunSource: number): void {
    // ip_vs_trash_get_dest(): a dest deleted while conns used it comes back with them.
    const ti = svc.trash.findIndex((d) => d.addr === addr && d.port === spec.port);
    let dest: Dest;
    if (ti >= 0) {
      dest = svc.trash[ti]!;
      svc.trash.splice(ti, 1);
      dest.available = true;
      this.updateDest(dest, spec, tunSource);
    } else {
      const id = this.freeDestIds.length > 0 ? this.freeDestIds.pop()! : this.dests.length;
      dest = new Dest(id, svc, spec, tunSource);
      this.dests[id] = dest;
      if (dest.fwd === FWD_MASQ) this.natRef(dest.addr, 1);
    }
    svc.dests.push(dest);
  }

  private updateDest(dest: Dest, spec: DestSpec, tunSource: number): void {
    const wasNat = dest.fwd === FWD_MASQ;
    dest.update(spec, tunSource);
    const isNat = dest.fwd === FWD_MASQ;
    if (wasNat !== isNat) this.natRef(dest.addr, isNat ? 1 : -1);
  }

  private unlinkDest(svc: Service, dest: Dest): void {
    const k = svc.dests.indexOf(dest);
    if (k >= 0) svc.dests.splice(k, 1);
    dest.available = false;
    if (dest.refcnt === 0) this.releaseDest(dest);
    else svc.trash.push(dest);
  }

  private releaseDest(dest: Dest): void {
    const k = dest.svc.trash.indexOf(dest);
    if (k >= 0) dest.svc.trash.splice(k, 1);
    if (dest.fwd === FWD_MASQ) this.natRef(dest.addr, -1);
    this.dests[dest.id] = undefined;
    this.freeDestIds.push(dest.id);
  }

  private natRef(addr: number, delta: number): void {
    const n = (this.natRips.get(addr) ?? 0) + delta;
    if (n <= 0) this.natRips.delete(addr);
    else this.natRips.set(addr, n);
    this.rebuildFilters();
  }

  private rebuildFilters(): void {
    this.vipFilter.fill(0);
    this.ripFilter.fill(0);
    for (const a of this.vips.keys()) this.vipFilter[Math.imul(a, 0x9e3779b1) >>> 16] = 1;
    for (const a of this.natRips.keys()) this.ripFilter[Math.imul(a, 0x9e3779b1) >>> 16] = 1;
  }

  private zeroService(svc: Service): void {
    svc.stats.zero();
    for (const d of svc.dests) d.stats.zero();
  }

  private recomputeTimeouts(): void {
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

export { FWD_MASQ, FWD_ROUTE, FWD_TUNNEL };
