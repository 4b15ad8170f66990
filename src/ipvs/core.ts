// The packet path (the kernel's ip_vs_core.c, with the conn binding of
// ip_vs_conn.c and the scheduling entry points): one frame in, one verdict
// out, pure and synchronous. The contract with the io layer is in
// engine.ts's header and verdict.ts; the control operations that change
// what it reads are in ctl.ts; both share IpvsState.
import { checksum } from '../packet/checksum.js';
import { readIp } from '../packet/addr.js';
import { readU16 } from '../packet/input.js';
import { EXT_FRAGMENT, EXT_TRUNCATED, badSource6, fold6, ipv6Upper, maskWords6, readIp6Words, writeIp6Words } from '../packet/ipv6.js';
import { ICMPV6_ERROR_MAX, verifyIcmpv6Checksum, writeIcmpv6Error } from '../packet/icmpv6.js';
import type { SchedFlow } from './sched/scheduler.js';
import { A6_D, A6_V, CF_FWMARK, CF_INACTIVE, CF_NOOUTPUT, CF_OUT_HASHED, CF_TEMPLATE, CF_FWD_SHIFT, P_V6, TICK_MS, type ConnTable } from './conn.js';
import { type Dest, FWD_MASQ, FWD_ROUTE, FWD_TUNNEL } from './dest.js';
import { type Service, addrKey } from './service.js';
import { EST_PERIOD_MS, S_CONNS, S_INBYTES, S_INPKTS, S_OUTBYTES, S_OUTPKTS } from './est.js';
import {
  TCP_DIR_INPUT, TCP_DIR_INPUT_ONLY, TCP_DIR_OUTPUT, TCP_STATES, TCP_STATES_DOS,
  TCP_S_CLOSE, TCP_S_ESTABLISHED, TCP_S_LAST, TCP_S_TIME_WAIT,
} from './proto-tcp.js';
import { D, DROP_REASONS, I, IGNORE_REASONS } from './drops.js';
import { DEFENSE_FULL, DEFENSE_OFF, DEFENSE_ON, isEvictableTcpState } from './defense.js';
import { addrFilterSlot, type IpvsState } from './state.js';
import { DEFAULT_SYNC_PARAMS, SYNC_IN_RESULTS, type SyncConn, type SyncInResult, type SyncParams, describeConn, syncNeeded } from './sync.js';
import { IP_VS_CONN_F_BACKUP_MASK, IP_VS_CONN_F_INACTIVE, IP_VS_CONN_F_TEMPLATE, newSyncAddrs6, newSyncConn } from '../sync/message.js';
import { formatIpv6 } from '../packet/ipv6.js';
import { HEADROOM, VERDICT_DROP, VERDICT_IGNORE, VERDICT_XMIT, type XmitOut } from './verdict.js';
import { drXmit, drXmit6 } from './xmit/dr.js';
import { natIn6, natOut, natOut6, natXmit } from './xmit/nat.js';
import { tunXmit, tunXmit6, type Tun6Context } from './xmit/tun.js';
import {
  ICMP_ERROR_MAX, icmpChecksumOk, natIcmpInXmit, natIcmpInXmit6, natIcmpOutXmit, natIcmpOutXmit6, writeIcmpError,
} from './xmit/icmp.js';

const FTPPORT = 21;

export class IpvsCore implements Tun6Context {
  private readonly tbl: ConnTable;
  private readonly dests: (Dest | undefined)[];
  private readonly services: Map<number | string, Service>;
  private readonly vipFilter: Uint8Array;
  private readonly ripFilter: Uint8Array;
  private readonly vipFilter6: Uint8Array;
  private readonly ripFilter6: Uint8Array;
  // IPv6 scratch (no allocation per packet): the packet's source and
  // destination as words, a masked client address (templates), a quoted
  // header's addresses, 16 bytes for an address to write, and the next hop
  // handed to the io layer.
  private readonly s6 = new Uint32Array(4);
  private readonly d6 = new Uint32Array(4);
  private readonly m6 = new Uint32Array(4);
  private readonly q6s = new Uint32Array(4);
  private readonly q6d = new Uint32Array(4);
  /** An IPv6 fwmark template's vaddr: nf_inet_addr { .ip = htonl(fwmark) }, i.e. words [fwmark, 0, 0, 0]. */
  private readonly fw6 = new Uint32Array(4);
  private readonly tmp16 = new Uint8Array(16);
  private readonly nh6 = new Uint8Array(16);

  private tcpTo: Uint32Array;
  private tcpTable = TCP_STATES;
  defenseLevel = DEFENSE_OFF;

  private ipId = 0;
  private readonly scratch = new Uint8Array(HEADROOM + Math.max(ICMP_ERROR_MAX, ICMPV6_ERROR_MAX));
  private readonly icmpRate: number;
  private icmpTokens: number;
  private icmpLast = -1;
  private estLast = -1;

  // Counters: frames = xmit + Σdrops + Σignores.
  frames = 0;
  xmits = 0;
  readonly drops = new Float64Array(DROP_REASONS.length);
  readonly ignores = new Float64Array(IGNORE_REASONS.length);
  evictions = 0;
  icmpGenerated = 0;
  expiredTotal = 0;
  connsCreated = 0;

  // Sync (ip_vs_sync.c's decisions; the daemon does the I/O).
  /** The master daemon's sink: called with a reused object, to be encoded at once. Null: no master. */
  syncSink: ((c: SyncConn) => void) | null = null;
  syncParams: SyncParams = { ...DEFAULT_SYNC_PARAMS };
  private readonly syncScratch = newSyncConn();
  private readonly syncScratch6 = newSyncAddrs6();
  /** A received IPv6 entry's addresses as words (the table's form). */
  private readonly syncC6 = new Uint32Array(4);
  private readonly syncV6 = new Uint32Array(4);
  private readonly syncD6 = new Uint32Array(4);
  /** Entries handed to the master daemon. */
  syncQueued = 0;
  /** Backup side: what became of each received entry, by SYNC_IN_RESULTS. */
  readonly syncResults = new Float64Array(SYNC_IN_RESULTS.length);

  private readonly flow: SchedFlow = { saddr: 0, sport: 0, daddr: 0, dport: 0, protocol: 0, now: 0, af: 4, daddr6: this.d6 };
  private readonly onDue = (i: number): boolean => this.expireConn(i, false);
  private readonly pickEvictable = (i: number): boolean => {
    const t = this.tbl;
    return t.proto(i) === 6 && !t.isTemplate(i) && isEvictableTcpState(t.state(i));
  };

  constructor(private readonly st: IpvsState, icmpRate = 1000) {
    this.tbl = st.tbl;
    this.dests = st.dests;
    this.services = st.services;
    this.vipFilter = st.vipFilter;
    this.ripFilter = st.ripFilter;
    this.vipFilter6 = st.vipFilter6;
    this.ripFilter6 = st.ripFilter6;
    this.tcpTo = st.tcpToNormal;
    this.icmpRate = icmpRate;
    this.icmpTokens = icmpRate;
  }

  get tunMtu(): number {
    return this.st.tunMtu;
  }

  nextIpId(): number {
    this.ipId = (this.ipId + 1) & 0xffff;
    return this.ipId;
  }

  // ---------------------------------------------------------------- input

  /** The frame being input is a GSO super-frame the io layer segments after the verdict (see engine.ts). */
  rxGso = false;
  /**
   * skb->mark of the packet being input: set only on the NFQUEUE path (the
   * kernel hands it over with the packet); a packet socket never sees marks,
   * so frames from the rings are input with 0.
   */
  rxMark = 0;

  /**
   * The conn slot whose packet the last input() forwarded (-1: none), and
   * whether it was a NAT reply: the fast path (src/io/fastpath.ts) learns
   * flows from it.
   */
  lastConn = -1;
  lastOut = false;

  input(buf: Uint8Array, off: number, len: number, now: number, out: XmitOut, gso = false, mark = 0): number {
    this.lastConn = -1;
    this.rxGso = gso;
    this.rxMark = mark;
    this.frames++;
    if (len < 34) return this.short(buf, off, len);
    let l3 = off + 14;
    let et = readU16(buf, off + 12);
    if (et === 0x8100) {
      et = readU16(buf, off + 16);
      l3 = off + 18;
      if (et === 0x8100 || et === 0x88a8) return this.ignore(I.vlan_stacked);
    } else if (et === 0x88a8) {
      return this.ignore(I.vlan_stacked);
    }
    if (et !== 0x0800) return et === 0x86dd ? this.input6(buf, l3, off + len, now, out, mark) : this.ignore(I.non_ip);
    const avail = off + len - l3;
    if (avail < 20) return this.bad(D.truncated, false);
    const vihl = buf[l3]!;
    if ((vihl & 0xf0) !== 0x40) return this.bad(D.bad_ip_version, this.relevant(buf, l3));
    const ihl = (vihl & 0x0f) << 2;
    if (ihl < 20) return this.bad(D.bad_ihl, this.relevant(buf, l3));
    if (ihl > avail) return this.bad(D.truncated, this.relevant(buf, l3));
    const tot = readU16(buf, l3 + 2);
    if (tot < ihl) return this.bad(D.bad_total_length, this.relevant(buf, l3));
    if (tot > avail) return this.bad(D.truncated, this.relevant(buf, l3));
    if (checksum(buf, l3, ihl) !== 0) return this.bad(D.bad_ip_checksum, this.relevant(buf, l3));
    if ((buf[l3 + 6]! & 0x3f) !== 0 || buf[l3 + 7] !== 0) return this.bad(D.fragment, this.relevant(buf, l3));
    if (ihl !== 20) return this.bad(D.ip_options, this.relevant(buf, l3));
    const saddr = readIp(buf, l3 + 12);
    const daddr = readIp(buf, l3 + 16);
    const sTop = saddr >>> 24;
    if (saddr === 0 || sTop >= 224 || sTop === 127) return this.bad(D.bad_saddr, this.relevant(buf, l3));
    const proto = buf[l3 + 9]!;
    const l4 = l3 + 20;
    const l4len = tot - 20;
    let tflags = 0;
    if (proto === 6 || proto === 17) {
      const p = l4Problem(buf, l4, l4len, proto);
      if (p >= 0) return this.bad(p, this.relevant(buf, l3));
      if (proto === 6) tflags = buf[l4 + 13]!;
    } else if (proto === 1) {
      return this.inputIcmp(buf, l3, tot, saddr, daddr, now, out);
    } else {
      return this.st.vips.has(daddr) ? this.drop(D.unknown_proto) : this.ignore(I.not_service);
    }
    const sport = readU16(buf, l4);
    const dport = readU16(buf, l4 + 2);
    if (sport === 0 || dport === 0) return this.bad(D.zero_port, this.relevant(buf, l3));

    const t = this.tbl;
    const nowTick = Math.floor(now / TICK_MS);
    // The filters spare NAT replies a certain miss on the in chains, and
    // client packets one on the out chains: a hash miss costs cache misses.
    // A marked packet may go to any local address (the user's MARK rule
    // chose it), not only to a VIP of an addr service.
    const toVip = mark !== 0 || this.vipFilter[addrFilterSlot(daddr)] !== 0;
    if (toVip) {
      const i = t.findIn(proto, saddr, ((sport << 16) | dport) >>> 0, daddr);
      if (i >= 0) {
        // A fwmark service's conn takes its packets from the queue, where they
        // carry the mark; a copy a packet socket also saw (an accept-all
        // socket filter) must not be forwarded a second time.
        if (mark === 0 && (t.flags(i) & CF_FWMARK) !== 0) return this.ignore(I.fwmark_unmarked);
        if (!this.reuseClosed(i, proto, tflags)) return this.inPacket(i, buf, l3, l4, tot, proto, tflags, nowTick, out);
      }
    }
    if (this.ripFilter[addrFilterSlot(saddr)] !== 0) {
      const o = t.findOut(proto, saddr, sport, daddr, dport);
      if (o >= 0) return this.outPacket(o, buf, l3, l4, tot, proto, tflags, nowTick, out);
    }
    if (!toVip) return this.ignore(I.not_service);
    // ip_vs_service_find(): the fwmark service of a marked packet first.
    let svc = mark !== 0 ? this.services.get(-1 - mark) : undefined;
    if (svc === undefined) {
      svc = this.services.get(addrKey(proto, daddr, dport)) ?? this.services.get(addrKey(proto, daddr, 0));
      if (svc === undefined) return this.ignore(I.not_service);
    }
    if (!this.mayStart(proto, tflags)) return this.drop(D.tcp_no_conn);
    return this.newConn(svc, buf, l3, l4, tot, proto, tflags, saddr, sport, daddr, dport, now, nowTick, out);
  }

  /** ip_vs_in_stats(). */
  /**
   * conn_reuse_mode 1: a new SYN on a closed (TIME_WAIT, CLOSE), uncontrolled
   * conn expires it, and the packet starts a new connection (true).
   */
  private reuseClosed(i: number, proto: number, tflags: number): boolean {
    if ((tflags & 0x02) === 0 || proto !== 6) return false;
    const t = this.tbl;
    const s = t.state(i);
    if (t.ctl(i) !== 0 || (s !== TCP_S_TIME_WAIT && s !== TCP_S_CLOSE)) return false;
    this.expireConn(i, true);
    return true;
  }

  /** tcp_conn_schedule(): whether a packet may start a connection: not TCP, a SYN without RST, or with sloppy_tcp anything without RST. */
  private mayStart(proto: number, tflags: number): boolean {
    return proto !== 6 || ((tflags & 0x04) === 0 && ((tflags & 0x02) !== 0 || this.st.sloppyTcp));
  }

  private countIn(d: Dest, bytes: number): void {
    const dc = d.stats.c;
    dc[S_INPKTS]! += 1;
    dc[S_INBYTES]! += bytes;
    const sc = d.svc.stats.c;
    sc[S_INPKTS]! += 1;
    sc[S_INBYTES]! += bytes;
    const tc = this.st.totStats.c;
    tc[S_INPKTS]! += 1;
    tc[S_INBYTES]! += bytes;
  }

  /** ip_vs_out_stats(). */
  private countOut(d: Dest, bytes: number): void {
    const dc = d.stats.c;
    dc[S_OUTPKTS]! += 1;
    dc[S_OUTBYTES]! += bytes;
    const sc = d.svc.stats.c;
    sc[S_OUTPKTS]! += 1;
    sc[S_OUTBYTES]! += bytes;
    const tc = this.st.totStats.c;
    tc[S_OUTPKTS]! += 1;
    tc[S_OUTBYTES]! += bytes;
  }

  /** Client → RS packet of a tracked conn. */
  private inPacket(i: number, buf: Uint8Array, l3: number, l4: number, tot: number, proto: number, tflags: number,
    nowTick: number, out: XmitOut): number {
    const t = this.tbl;
    const d = this.dests[t.destId(i)]!;
    if (!d.available) return this.drop(D.dest_unavailable);
    this.countIn(d, tot);
    if (proto === 6) this.tcpState(i, d, TCP_DIR_INPUT, tflags, nowTick);
    else t.setExpire(i, nowTick + this.st.udpTo);
    // cp->in_pkts: ip_vs_in() counts every client packet, sync master or not (the fast path reads it too).
    const pkts = t.incSyncPkts(i);
    if (this.syncSink !== null) this.syncOut(i, nowTick, pkts);
    this.lastConn = i;
    this.lastOut = false;
    return this.xmit(i, d, buf, l3, l4, tot, proto, out);
  }

  /**
   * ip_vs_in()'s call to ip_vs_sync_conn(): with the conn's packet count
   * (already counted), send the conn if ip_vs_sync_conn_needed() says so,
   * then count and consider its template.
   */
  private syncOut(i: number, nowTick: number, first: number): void {
    const t = this.tbl;
    let k = i;
    let pkts = first;
    for (;;) {
      const d = this.dests[t.destId(k)]!;
      // One-packet conns are never synced (IP_VS_CONN_F_ONE_PACKET); their template may be.
      if (!(d.svc.ops && !t.isTemplate(k)) && syncNeeded(t, k, pkts, nowTick, this.timeoutTicks(k, d), this.syncParams)) {
        const secs = Math.floor((this.timeoutTicks(k, d) * TICK_MS) / 1000);
        this.syncSink!(describeConn(t, k, secs, d.svc.fwmark, this.syncScratch, this.syncScratch6));
        this.syncQueued++;
      }
      if (t.isTemplate(k)) return;
      const c = t.ctl(k);
      if (c <= 0) return;
      k = c - 1;
      pkts = t.incSyncPkts(k);
    }
  }

  /** cp->timeout: the entry's current timeout in ticks. */
  private timeoutTicks(i: number, d: Dest): number {
    const t = this.tbl;
    if (t.isTemplate(i)) return Math.ceil(d.svc.persistMs / TICK_MS);
    return t.proto(i) === 6 ? this.tcpTo[t.state(i)]! : this.st.udpTo;
  }

  /**
   * The backup's ip_vs_proc_conn(): one received entry creates or updates a
   * conn or template with the sent state and timeout, bound to this
   * director's own dest of that address:port in the matching service; it is
   * never scheduled anew. Unlike the kernel, an entry with no such service
   * or dest is refused (counted), not kept unbound: lvsd has no unbound conns.
   */
  syncIn(c: SyncConn, now: number): SyncInResult {
    const r = this.syncInner(c, Math.floor(now / TICK_MS));
    this.syncResults[SYNC_IN_RESULTS.indexOf(r)]! += 1;
    return r;
  }

  /** An entry handed over by another worker (re-steering): installed as a synced one, counted apart from sync. */
  adopt(c: SyncConn, now: number): SyncInResult {
    const r = this.syncInner(c, Math.floor(now / TICK_MS));
    if (r === 'created' || r === 'updated') this.adopted++; else this.adoptFailed++;
    return r;
  }

  /** Entry i leaves this table as if it had expired (re-steering hands it to another worker). */
  release(i: number): void {
    if (this.expireConn(i, true)) { this.handedOver++; this.expiredTotal--; }
  }
  adopted = 0;
  adoptFailed = 0;
  handedOver = 0;

  private syncInner(c: SyncConn, nowTick: number): SyncInResult {
    const t = this.tbl;
    const proto = c.protocol;
    const flags = c.flags & IP_VS_CONN_F_BACKUP_MASK;
    const tpl = (flags & IP_VS_CONN_F_TEMPLATE) !== 0;
    const inactive = (flags & IP_VS_CONN_F_INACTIVE) !== 0;
    // A fwmark service's template is IPPROTO_IP (ip_vs_sched_persist).
    if (proto !== 6 && proto !== 17 && !(proto === 0 && tpl && c.fwmark !== 0)) return 'bad_protocol';
    if (!tpl && (proto === 6 ? c.state >= TCP_S_LAST : c.state !== 0)) return 'bad_state';
    const state = tpl || proto !== 6 ? 0 : c.state;
    // An IPv6 entry (ip_vs_sync_v6) is found, compared and inserted by its
    // whole addresses (words in syncC6/V6/D6), an IPv4 one by its u32s.
    const a6 = c.v6;
    const c6 = this.syncC6, v6 = this.syncV6, d6 = this.syncD6;
    if (a6 !== undefined) {
      readIp6Words(a6.caddr, 0, c6);
      readIp6Words(a6.vaddr, 0, v6);
      readIp6Words(a6.daddr, 0, d6);
    }
    const caddr = c.caddr >>> 0;
    const vaddr = c.vaddr >>> 0;
    const daddr = c.daddr >>> 0;
    const ports = ((c.cport << 16) | c.vport) >>> 0;
    let i = a6 !== undefined
      ? t.findIn6(proto | P_V6, t.digest6(c6), ports, t.digest6(v6), c6, 0, v6, 0)
      : t.findIn(proto, caddr, ports, vaddr);
    if (i >= 0 && t.isTemplate(i) !== tpl) return 'key_clash';
    const otherDest = i >= 0 && (t.dport(i) !== c.dport
      || (a6 !== undefined ? !sameWords(t.a6, t.a6At(i, A6_D), d6) : t.daddr(i) !== daddr));
    if (i >= 0 && !tpl && otherDest) {
      // The master moved this flow to another dest: an active entry replaces ours; an inactive one is the old conn's last word.
      if (inactive) return 'ignored_replaced';
      this.expireConn(i, true);
      i = -1;
    }
    let timeout: number;
    if (c.timeout > 0) timeout = Math.ceil((Math.min(c.timeout, 2147483) * 1000) / TICK_MS);
    else if (tpl) timeout = Math.ceil(180_000 / TICK_MS);
    else timeout = proto === 6 ? this.tcpTo[state]! : this.st.udpTo;
    let result: SyncInResult;
    if (i >= 0) {
      if (!tpl) {
        const d = this.dests[t.destId(i)]!;
        let f = t.flags(i);
        if (((f & CF_INACTIVE) !== 0) !== inactive) {
          if (inactive) { d.activeConns--; d.inactConns++; f |= CF_INACTIVE; } else { d.activeConns++; d.inactConns--; f &= ~CF_INACTIVE; }
          t.setFlags(i, f);
        }
      }
      result = 'updated';
    } else {
      // ip_vs_find_dest(): the service of the entry's family, then its dest.
      let svc: Service | undefined;
      if (c.fwmark !== 0) svc = this.services.get(a6 !== undefined ? -1 - c.fwmark - 4294967296 : -1 - c.fwmark);
      if (a6 !== undefined) {
        const vfold = fold6(v6, 0);
        svc ??= this.findService6(proto, vfold, c.vport, v6) ?? this.findService6(proto, vfold, 0, v6);
      } else {
        svc ??= this.services.get(addrKey(proto, vaddr, c.vport)) ?? this.services.get(addrKey(proto, vaddr, 0));
      }
      if (svc === undefined) return 'no_service';
      const ident: number | string = a6 !== undefined ? formatIpv6(a6.daddr) : daddr;
      // A persistent fwmark conn keeps the client's port whatever its dest's is.
      const dest = svc.findDest(ident, c.dport) ?? svc.findDest(ident, 0)
        ?? (svc.fwmark !== 0 ? svc.dests.find((d) => d.ident === ident) : undefined);
      if (dest === undefined) return 'no_dest';
      if (!this.makeRoom()) return 'table_full';
      const fwd = dest.fwd;
      let cf = fwd << CF_FWD_SHIFT;
      if (tpl) cf |= CF_TEMPLATE | CF_NOOUTPUT;
      else {
        cf |= fwd === FWD_MASQ ? CF_OUT_HASHED : CF_NOOUTPUT;
        if (inactive) cf |= CF_INACTIVE;
        if (svc.fwmark !== 0) cf |= CF_FWMARK;
      }
      i = a6 !== undefined
        ? t.insert6(proto, c6, 0, c.cport, v6, 0, c.vport, dest.addr6!, 0, c.dport, cf, dest.id, nowTick + timeout)
        : t.insert(proto, caddr, c.cport, vaddr, c.vport, daddr, c.dport, cf, dest.id, nowTick + timeout);
      if (i < 0) return 'table_full';
      dest.refcnt++;
      if (tpl) dest.persistConns++;
      else if (inactive) dest.inactConns++;
      else dest.activeConns++;
      dest.checkOverloadOnBind();
      result = 'created';
    }
    t.setState(i, state);
    t.setSyncPkts(i, this.syncParams.threshold);
    t.setSyncOldState(i, state);
    t.setExpire(i, nowTick + timeout);
    return result;
  }

  /** cp->packet_xmit: the transmitter of the conn's forwarding method. */
  private xmit(i: number, d: Dest, buf: Uint8Array, l3: number, l4: number, tot: number, proto: number, out: XmitOut): number {
    const t = this.tbl;
    if (t.isV6(i)) return this.xmit6(i, d, buf, l3, l4, tot, proto, out);
    const fwd = t.fwd(i);
    let v: number;
    if (fwd === FWD_ROUTE) v = drXmit(out, buf, l3, tot, t.daddr(i));
    else if (fwd === FWD_MASQ) v = natXmit(out, buf, l3, l4, tot, proto, t.daddr(i), t.dport(i));
    else if (d.tunSource === 0) v = this.drop(D.tun_no_route); // __ip_vs_get_out_rt() failed: tx_error
    else v = tunXmit(this, out, buf, l3, tot, proto, d.tunSource, t.daddr(i), t.vaddr(i), t.caddr(i));
    if (v === VERDICT_XMIT) this.xmits++;
    return v;
  }

  /** RS → client reply of a NAT conn. */
  private outPacket(i: number, buf: Uint8Array, l3: number, l4: number, tot: number, proto: number, tflags: number,
    nowTick: number, out: XmitOut): number {
    const t = this.tbl;
    const d = this.dests[t.destId(i)]!;
    if (t.isV6(i)) {
      writeIp6Words(this.tmp16, 0, t.a6, t.a6At(i, A6_V));
      if (!natOut6(buf, l3, l4, proto, this.tmp16, t.vport(i))) return this.drop(D.ttl_exceeded);
      copy16(this.nh6, buf, l3 + 24);
      out.nextHop6 = this.nh6;
    } else {
      if (!natOut(buf, l3, l4, proto, t.vaddr(i), t.vport(i))) return this.drop(D.ttl_exceeded);
      out.nextHop = t.caddr(i);
    }
    if (d.available) this.countOut(d, tot);
    if (proto === 6) this.tcpState(i, d, TCP_DIR_OUTPUT, tflags, nowTick);
    else t.setExpire(i, nowTick + this.st.udpTo);
    out.buf = buf;
    out.start = l3;
    out.len = tot;
    this.xmits++;
    this.lastConn = i;
    this.lastOut = true;
    return VERDICT_XMIT;
  }

  /**
   * Whether conn i's packets may bypass the engine (src/io/fastpath.ts): an
   * IPv4 or IPv6 NAT or DR conn, not a template, fwmark or one-packet conn, UDP or
   * TCP in ESTABLISHED (every SYN, FIN and RST still comes here, so the
   * state machine sees each transition).
   */
  fastEligible(i: number): boolean {
    const t = this.tbl;
    if (i < 0 || !t.inUse(i) || t.isTemplate(i) || (t.flags(i) & CF_FWMARK) !== 0) return false;
    const fwd = t.fwd(i);
    // TUN: IPv4 in IPIP only (the program has no IPv6-in-IPv6 encapsulation).
    if (fwd !== FWD_MASQ && fwd !== FWD_ROUTE && (fwd !== FWD_TUNNEL || t.isV6(i))) return false;
    const d = this.dests[t.destId(i)];
    if (d === undefined || d.svc.ops || !d.available) return false;
    const p = t.proto(i);
    if (p !== 17 && (p !== 6 || t.state(i) !== TCP_S_ESTABLISHED)) return false;
    // Short flows are not worth learning (a map write and delete each way, which a
    // Connection: close request never pays back): a flow is learnt from its
    // fastMinPkts-th client packet on. And a sync master sends a conn on its
    // sync_threshold-th packet (ip_vs_sync_conn_needed): that one still comes
    // here, so the backup hears of the conn as soon as with IPVS.
    const n = t.syncPkts(i);
    return n >= this.fastMinPkts && (this.syncSink === null || n >= this.syncParams.threshold);
  }

  /** Client packets a conn shows the engine before the fast path may take it over (fastEligible). */
  fastMinPkts = 8;

  /**
   * fastCredit(): the counting part of fastActivity(), for a flow's last
   * packets when it leaves the map (the conn may be closing or going away:
   * only its identity is checked).
   *
   * fastActivity(): packets of conn i that the fast path forwarded since the last call,
   * accounted as inPacket()/outPacket() would: counted in the dest, service
   * and totals, the conn's timer restarted, the conn offered to sync. The
   * flow is named by its client key so a slot reused by another conn is not
   * credited; false when slot i no longer holds that conn or it may no
   * longer bypass the engine (the fast path then forgets the flow).
   */
  fastCredit(i: number, proto: number, caddr: number, cport: number, vaddr: number, vport: number,
    reply: boolean, pkts: number, bytes: number): boolean {
    const t = this.tbl;
    if (i < 0 || !t.inUse(i) || t.proto(i) !== proto || t.cport(i) !== cport || t.vport(i) !== vport) return false;
    // An IPv6 conn is named by its family and ports (caddr = vaddr = -1); the slot cannot have changed hands
    // unnoticed in any case: a conn leaving the table takes its flows out first (ConnTable.onRemove).
    if (t.isV6(i) ? caddr !== -1 : t.caddr(i) !== caddr || t.vaddr(i) !== vaddr) return false;
    if (pkts === 0) return true;
    const d = this.dests[t.destId(i)]!;
    const c = reply ? S_OUTPKTS : S_INPKTS;
    const b = reply ? S_OUTBYTES : S_INBYTES;
    for (const st of [d.stats.c, d.svc.stats.c, this.st.totStats.c]) {
      st[c]! += pkts;
      st[b]! += bytes;
    }
    return true;
  }

  fastActivity(i: number, proto: number, caddr: number, cport: number, vaddr: number, vport: number,
    reply: boolean, pkts: number, bytes: number, now: number): boolean {
    const t = this.tbl;
    if (!this.fastEligible(i) || !this.fastCredit(i, proto, caddr, cport, vaddr, vport, reply, pkts, bytes)) return false;
    if (pkts === 0) return true;
    const nowTick = Math.floor(now / TICK_MS);
    t.setExpire(i, nowTick + (proto === 6 ? this.tcpTo[t.state(i)]! : this.st.udpTo));
    if (this.syncSink !== null && !reply) this.syncOutMany(i, pkts, nowTick);
    return true;
  }

  /**
   * syncOut() for `n` client packets at once (a fast-path sweep): the conn is
   * sent if IPVS would have sent it for any of them (its packet count passes
   * threshold + k × period), and its count moves on by n.
   */
  private syncOutMany(i: number, n: number, nowTick: number): void {
    const t = this.tbl;
    const { threshold, period } = this.syncParams;
    const old = t.syncPkts(i);
    const now = Math.min(old + n, 0x0fffffff);
    // The first count in (old, now] at which a send is due, if any.
    let hit = -1;
    if (period > 0) {
      const k = Math.ceil((old + 1 - threshold) / period);
      const v = threshold + Math.max(0, k) * period;
      if (v > old && v <= now) hit = v;
    } else if (old < threshold && threshold <= now) hit = threshold;
    if (hit < 0) { t.setSyncPkts(i, now); return; }
    t.setSyncPkts(i, hit);
    this.syncOut(i, nowTick, hit);
    t.setSyncPkts(i, Math.max(t.syncPkts(i), now));
  }

  /** set_tcp_state(). */
  private tcpState(i: number, d: Dest, dir: number, tflags: number, nowTick: number): void {
    const t = this.tbl;
    let f = t.flags(i);
    let off = dir;
    if ((f & CF_NOOUTPUT) !== 0) {
      if (off === TCP_DIR_OUTPUT) f &= ~CF_NOOUTPUT;
      else off = TCP_DIR_INPUT_ONLY;
    }
    const old = t.state(i);
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
      t.setState(i, ns);
    }
    t.setFlags(i, f);
    t.setExpire(i, nowTick + this.tcpTo[ns]!);
  }

  /**
   * A new conn for the packet. IPv6 (`v6`): saddr and daddr are the folds of
   * the addresses in s6 and d6, which are what the conn is keyed and bound by.
   */
  private newConn(svc: Service, buf: Uint8Array, l3: number, l4: number, tot: number, proto: number, tflags: number,
    saddr: number, sport: number, daddr: number, dport: number, now: number, nowTick: number, out: XmitOut, v6 = false): number {
    if (!this.makeRoom()) return this.drop(D.conn_table_full);
    let dest: Dest | null;
    let tpl = -1;
    if (svc.persistMs > 0) {
      tpl = this.schedPersist(svc, saddr, sport, daddr, dport, proto, now, nowTick, v6);
      if (tpl === -2) return this.drop(D.conn_table_full);
      dest = tpl >= 0 ? this.dests[this.tbl.destId(tpl)]! : null;
      if (dest !== null && !this.makeRoom()) return this.drop(D.conn_table_full);
    } else {
      dest = this.schedule(svc, saddr, sport, daddr, dport, proto, now, v6);
    }
    if (dest === null) {
      // ip_vs_leave: port unreachable from the VIP (ICMPV6_PORT_UNREACH for IPv6).
      const v = v6 ? this.icmp6Reply(1, 4, 0, buf, l3, tot, out, D.no_dest) : this.icmpError(3, 3, 0, daddr, saddr, buf, l3, tot, out, D.no_dest);
      if (v === VERDICT_XMIT) this.xmits++;
      return v;
    }
    // ip_vs_sched_persist() forwards to the dest's port only for the
    // service's own port; a persistent fwmark or port-zero service keeps the
    // client's (ip_vs_schedule: dest->port, else the client's).
    const rport = dest.port !== 0 && (svc.persistMs === 0 || dport === svc.vport) ? dest.port : dport;
    const i = this.bindNew(proto, saddr, sport, daddr, dport, dest, rport, nowTick, v6);
    if (i < 0) return this.drop(D.conn_table_full);
    if (tpl >= 0) this.tbl.controlAdd(i, tpl);
    svc.stats.c[S_CONNS]! += 1;
    const v = this.inPacket(i, buf, l3, l4, tot, proto, tflags, nowTick, out);
    if (svc.ops) this.expireConn(i, true);
    return v;
  }

  /** ip_vs_conn_new() + ip_vs_bind_dest() for a conn. */
  private bindNew(proto: number, saddr: number, sport: number, daddr: number, dport: number, dest: Dest,
    rport: number, nowTick: number, v6: boolean): number {
    const fwd = dest.fwd;
    let flags = CF_INACTIVE | (fwd << CF_FWD_SHIFT);
    flags |= fwd === FWD_MASQ ? CF_OUT_HASHED : CF_NOOUTPUT;
    if (dest.svc.fwmark !== 0) flags |= CF_FWMARK;
    const timeout = proto === 6 ? this.tcpTo[0]! : this.st.udpTo;
    const i = v6
      ? this.tbl.insert6(proto, this.s6, 0, sport, this.d6, 0, dport, dest.addr6!, 0, rport, flags, dest.id, nowTick + timeout)
      : this.tbl.insert(proto, saddr, sport, daddr, dport, dest.addr, rport, flags, dest.id, nowTick + timeout);
    if (i < 0) return -1;
    dest.refcnt++;
    dest.inactConns++;
    dest.checkOverloadOnBind();
    dest.stats.c[S_CONNS]! += 1;
    this.st.totStats.c[S_CONNS]! += 1;
    this.connsCreated++;
    return i;
  }

  /** The service's scheduler for one flow (also what lvsadm --trace asks). */
  /** IPv6 (`v6`): saddr/daddr are the addresses' folds and d6 holds the destination (see SchedFlow). */
  schedule(svc: Service, saddr: number, sport: number, daddr: number, dport: number, proto: number, now: number, v6 = false): Dest | null {
    if (svc.dests.length === 0) return null;
    const f = this.flow;
    f.af = v6 ? 6 : 4;
    f.saddr = saddr;
    f.sport = sport;
    f.daddr = daddr;
    f.dport = dport;
    f.protocol = proto;
    f.now = now;
    return svc.scheduler.schedule(svc.dests, f) as Dest | null;
  }

  /**
   * schedule() for an IPv6 client (words) of an IPv6 service, as lvsadm
   * --trace asks it. A fwmark service has no VIP of its own: the packet's
   * destination is unknown there (::, port 0, TCP), as traceFwmark asks for IPv4.
   */
  schedule6(svc: Service, c: Uint32Array, cport: number, dport: number, now: number): Dest | null {
    this.s6.set(c);
    if (svc.vaddr6 !== null) this.d6.set(svc.vaddr6);
    else this.d6.fill(0);
    return this.schedule(svc, fold6(c, 0), cport, svc.vaddr, svc.fwmark !== 0 ? 0 : dport, svc.fwmark !== 0 ? 6 : svc.proto, now, true);
  }

  /**
   * ip_vs_sched_persist(): the template's slot (existing or new), -1 when no
   * dest is usable, -2 when the table has no room for a new template.
   */
  private schedPersist(svc: Service, saddr: number, sport: number, daddr: number, dport: number, proto: number,
    now: number, nowTick: number, v6: boolean): number {
    const t = this.tbl;
    const persistTicks = Math.ceil(svc.persistMs / TICK_MS);
    const snet = templateNet(svc, saddr);
    const tvport = templatePort(svc, dport);
    // A fwmark template is <IPPROTO_IP, caddr, 0, fwmark, 0>: one for every
    // port and protocol the mark groups, so they all stick to one dest.
    // IPv6: <proto, caddr masked to -M's prefix, 0, vaddr, vport>, the masked
    // address in m6; for a fwmark service the vaddr is the kernel's
    // nf_inet_addr { .ip = htonl(fwmark) } (words [fwmark, 0, 0, 0]), which
    // is also what sync carries.
    const tproto = svc.fwmark !== 0 ? 0 : proto;
    const tvaddr = svc.fwmark !== 0 ? svc.fwmark : daddr;
    let tv6 = this.d6;
    if (v6) {
      maskWords6(this.s6, 0, svc.prefix6, this.m6, 0);
      if (svc.fwmark !== 0) {
        this.fw6[0] = svc.fwmark;
        tv6 = this.fw6;
      }
    }
    const ct = v6
      ? t.findIn6(tproto | P_V6, t.digest6(this.m6), tvport, t.digest6(tv6), this.m6, 0, tv6, 0)
      : t.findIn(tproto, snet, tvport, tvaddr);
    if (ct >= 0 && t.isTemplate(ct)) {
      const td = this.dests[t.destId(ct)]!;
      if (td.available) {
        t.setExpire(ct, nowTick + persistTicks);
        return ct;
      }
      // ip_vs_check_template(): retire it under an unfindable key; it goes when its conns do.
      t.invalidate(ct);
      if (t.ctl(ct) === 0) this.expireConn(ct, true);
    }
    const dest = this.schedule(svc, saddr, sport, daddr, dport, proto, now, v6);
    if (dest === null) return -1;
    if (!this.makeRoom()) return -2;
    const flags = CF_TEMPLATE | CF_NOOUTPUT | (dest.fwd << CF_FWD_SHIFT);
    const i = v6
      ? t.insert6(tproto, this.m6, 0, 0, tv6, 0, tvport, dest.addr6!, 0, dest.port, flags, dest.id, nowTick + persistTicks)
      : t.insert(tproto, snet, 0, tvaddr, tvport, dest.addr, dest.port, flags, dest.id, nowTick + persistTicks);
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
    const f = t.flags(i);
    const d = this.dests[t.destId(i)]!;
    if ((f & CF_TEMPLATE) !== 0) {
      if (t.ctl(i) > 0 && !force) {
        t.postpone(i, Math.floor(t.cursor) + Math.ceil(d.svc.persistMs / TICK_MS));
        return false;
      }
      d.persistConns--;
    } else {
      if ((f & CF_INACTIVE) !== 0) d.inactConns--;
      else d.activeConns--;
      t.controlDel(i);
    }
    d.checkOverloadOnUnbind();
    t.remove(i);
    this.expiredTotal++;
    if (--d.refcnt === 0 && !d.available) this.st.releaseDest(d);
    return true;
  }

  /** Room for one more entry: the defense's eviction when full. */
  private makeRoom(): boolean {
    const t = this.tbl;
    const soft = this.st.softLimit;
    if (t.count >= soft) {
      if (this.defenseLevel === DEFENSE_OFF) this.setDefense(DEFENSE_ON);
      if (t.count < t.capacity) return true;
      this.defenseLevel = DEFENSE_FULL;
      const victim = t.scanSoonest(this.st.defenseOpts.evictScan, this.pickEvictable);
      if (victim < 0) return false;
      this.expireConn(victim, true);
      this.evictions++;
      return true;
    }
    if (this.defenseLevel !== DEFENSE_OFF && t.count < soft) this.setDefense(DEFENSE_OFF);
    return true;
  }

  private setDefense(level: number): void {
    this.defenseLevel = level;
    const on = level !== DEFENSE_OFF;
    this.tcpTable = on ? TCP_STATES_DOS : TCP_STATES;
    this.tcpTo = on ? this.st.tcpToDefense : this.st.tcpToNormal;
  }

  /** ip_vs_in_icmp / ip_vs_out_icmp: ICMP errors that quote a tracked flow. */
  private inputIcmp(buf: Uint8Array, l3: number, tot: number, saddr: number, daddr: number, now: number, out: XmitOut): number {
    const icmp = l3 + 20;
    const ilen = tot - 20;
    const rel = this.st.vips.has(daddr) || this.st.natRips.has(saddr);
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
    const isrc = readIp(buf, inner + 12);
    const idst = readIp(buf, inner + 16);
    const il4 = inner + iihl;
    const isport = readU16(buf, il4);
    const idport = readU16(buf, il4 + 2);
    const t = this.tbl;
    const nowTick = Math.floor(now / TICK_MS);
    // Client side: the quote is our packet VIP:vport → client:cport.
    let i = t.findIn(iproto, idst, ((idport << 16) | isport) >>> 0, isrc);
    if (i >= 0 && !t.isTemplate(i) && t.vaddr(i) === daddr) {
      if (!icmpChecksumOk(buf, icmp, ilen)) return this.drop(D.icmp_bad_checksum);
      const d = this.dests[t.destId(i)]!;
      if (!d.available) return this.drop(D.dest_unavailable);
      this.countIn(d, tot);
      t.setExpire(i, Math.max(t.expire(i), nowTick));
      if (t.fwd(i) === FWD_MASQ) {
        this.xmits++;
        return natIcmpInXmit(out, buf, l3, icmp, ilen, inner, iihl, tot, t.daddr(i), t.dport(i));
      }
      return this.xmit(i, d, buf, l3, icmp, tot, 1, out);
    }
    // RS side (NAT): the quote is the client's packet client:cport → RIP:rport.
    if (this.ripFilter[addrFilterSlot(idst)] !== 0) {
      i = t.findOut(iproto, idst, idport, isrc, isport);
      if (i >= 0) {
        if (!icmpChecksumOk(buf, icmp, ilen)) return this.drop(D.icmp_bad_checksum);
        if (buf[l3 + 8]! <= 1) return this.drop(D.ttl_exceeded);
        const d = this.dests[t.destId(i)]!;
        if (d.available) this.countOut(d, tot);
        this.xmits++;
        return natIcmpOutXmit(out, buf, l3, icmp, ilen, inner, iihl, tot, t.vaddr(i), t.vport(i), daddr);
      }
    }
    return this.ignore(I.icmp_no_conn);
  }

  /** An ICMP error from `src` to `dst` into the scratch buffer; rate-limited, else a drop for `reason`. */
  icmpError(type: number, code: number, info: number, src: number, dst: number, buf: Uint8Array,
    l3: number, tot: number, out: XmitOut, reason: number): number {
    if (this.icmpTokens < 1) return this.drop(reason);
    this.icmpTokens--;
    const len = writeIcmpError(this.scratch, HEADROOM, src, dst, type, code, info, buf, l3, tot);
    out.buf = this.scratch;
    out.start = HEADROOM;
    out.len = len;
    out.nextHop = dst;
    this.icmpGenerated++;
    return VERDICT_XMIT;
  }

  private short(buf: Uint8Array, off: number, len: number): number {
    if (len >= 14) {
      const et = readU16(buf, off + 12);
      if (et !== 0x0800 && et !== 0x86dd && et !== 0x8100 && et !== 0x88a8) return this.ignore(I.non_ip);
    }
    return this.bad(D.truncated, false);
  }

  /** Whether a (possibly malformed) IP header is addressed to a VIP or comes from a NAT real server. */
  private relevant(buf: Uint8Array, l3: number): boolean {
    return this.rxMark !== 0 || this.st.vips.has(readIp(buf, l3 + 16)) || this.st.natRips.has(readIp(buf, l3 + 12));
  }

  private bad(reason: number, relevant: boolean): number {
    if (relevant) return this.drop(reason);
    return this.ignore(I.malformed_foreign);
  }

  drop(reason: number): number {
    this.drops[reason]! += 1;
    return VERDICT_DROP;
  }

  private ignore(reason: number): number {
    this.ignores[reason]! += 1;
    return VERDICT_IGNORE;
  }

  // ---------------------------------------------------------------- IPv6
  // The IPv6 half of ip_vs_in/ip_vs_out: the same conn table, schedulers,
  // state machine and counters; what differs is the header (extension
  // headers walked to the transport, as ipv6_find_hdr), the addresses
  // (scratch words s6/d6, records keyed by digests, see conn.ts), the
  // transmitters and ICMPv6.

  /** The IPv6 packet at buf[l3, end) (end: the frame's end; padding past the payload length is ignored). */
  private input6(buf: Uint8Array, l3: number, end: number, now: number, out: XmitOut, mark: number): number {
    const avail = end - l3;
    if (avail < 40) return this.bad(D.truncated, false);
    const s6 = this.s6;
    const d6 = this.d6;
    readIp6Words(buf, l3 + 8, s6, 0);
    readIp6Words(buf, l3 + 24, d6, 0);
    const sfold = fold6(s6, 0);
    const dfold = fold6(d6, 0);
    if ((buf[l3]! & 0xf0) !== 0x60) return this.bad(D.bad_ip_version, this.relevant6(sfold, dfold));
    const tot = 40 + readU16(buf, l3 + 4);
    if (tot > avail) return this.bad(D.truncated, this.relevant6(sfold, dfold));
    if (badSource6(buf, l3 + 8)) return this.bad(D.bad_saddr, this.relevant6(sfold, dfold));
    const r = ipv6Upper(buf, l3, l3 + tot);
    if (r < 0) {
      const reason = r === EXT_FRAGMENT ? D.fragment : r === EXT_TRUNCATED ? D.truncated : D.ipv6_ext_header;
      return this.bad(reason, this.relevant6(sfold, dfold));
    }
    const proto = r & 0xff;
    const l4 = l3 + (r >>> 8);
    const l4len = l3 + tot - l4;
    let tflags = 0;
    if (proto === 6 || proto === 17) {
      const p = l4Problem(buf, l4, l4len, proto);
      if (p >= 0) return this.bad(p, this.relevant6(sfold, dfold));
      if (proto === 6) tflags = buf[l4 + 13]!;
      // UDP over IPv6 must carry a checksum (RFC 8200 8.1).
      else if (buf[l4 + 6] === 0 && buf[l4 + 7] === 0) return this.bad(D.udp_zero_checksum, this.relevant6(sfold, dfold));
    } else if (proto === 58) {
      return this.inputIcmp6(buf, l3, l4, tot, sfold, dfold, now, out);
    } else {
      return this.st.vips6.has(dfold) ? this.drop(D.unknown_proto) : this.ignore(I.not_service);
    }
    const sport = readU16(buf, l4);
    const dport = readU16(buf, l4 + 2);
    if (sport === 0 || dport === 0) return this.bad(D.zero_port, this.relevant6(sfold, dfold));

    const t = this.tbl;
    const pk = proto | P_V6;
    const nowTick = Math.floor(now / TICK_MS);
    // As for IPv4: a marked packet (NFQUEUE path) may go to any local address.
    const toVip = mark !== 0 || this.vipFilter6[addrFilterSlot(dfold)] !== 0;
    if (toVip) {
      const i = t.findIn6(pk, t.digest6(s6), ((sport << 16) | dport) >>> 0, t.digest6(d6), s6, 0, d6, 0);
      if (i >= 0) {
        // A fwmark conn's packets are forwarded from the queue only (see input()).
        if (mark === 0 && (t.flags(i) & CF_FWMARK) !== 0) return this.ignore(I.fwmark_unmarked);
        if (!this.reuseClosed(i, proto, tflags)) return this.inPacket(i, buf, l3, l4, tot, proto, tflags, nowTick, out);
      }
    }
    if (this.ripFilter6[addrFilterSlot(sfold)] !== 0) {
      const o = t.findOut6(pk, t.digest6(s6), sport, t.digest6(d6), dport, s6, 0, d6, 0);
      if (o >= 0) return this.outPacket(o, buf, l3, l4, tot, proto, tflags, nowTick, out);
    }
    if (!toVip) return this.ignore(I.not_service);
    // ip_vs_service_find(): the IPv6 fwmark service of a marked packet first
    // (an IPv4 fwmark service of the same mark is another service).
    const svc = (mark !== 0 ? this.services.get(-1 - mark - 4294967296) : undefined)
      ?? this.findService6(proto, dfold, dport, d6) ?? this.findService6(proto, dfold, 0, d6);
    if (svc === undefined) return this.ignore(I.not_service);
    if (!this.mayStart(proto, tflags)) return this.drop(D.tcp_no_conn);
    return this.newConn(svc, buf, l3, l4, tot, proto, tflags, sfold, sport, dfold, dport, now, nowTick, out, true);
  }

  /** The IPv6 addr service for (proto, VIP, port); `fold` is the VIP's fold, `w` its words. */
  private findService6(proto: number, fold: number, port: number, w: Uint32Array): Service | undefined {
    const list = this.st.services6.get(addrKey(proto, fold, port));
    if (list === undefined) return undefined;
    for (let k = 0; k < list.length; k++) if (list[k]!.isVaddr6(w, 0)) return list[k];
    return undefined;
  }

  /** Whether a (possibly malformed) IPv6 packet is marked, to a VIP or from a NAT real server (by the addresses' folds). */
  private relevant6(sfold: number, dfold: number): boolean {
    return this.rxMark !== 0 || this.st.vips6.has(dfold) || this.st.natRips6.has(sfold);
  }

  /** cp->packet_xmit for an IPv6 conn (the ip_vs_*_xmit_v6 transmitters). */
  private xmit6(i: number, d: Dest, buf: Uint8Array, l3: number, l4: number, tot: number, proto: number, out: XmitOut): number {
    const t = this.tbl;
    const fwd = t.fwd(i);
    let v: number;
    if (fwd === FWD_ROUTE) v = drXmit6(out, buf, l3, tot, d.addr6Bytes!, this.nh6);
    else if (fwd === FWD_MASQ) {
      natIn6(buf, l3, l4, proto, d.addr6Bytes!, t.dport(i));
      out.buf = buf;
      out.start = l3;
      out.len = tot;
      this.nh6.set(d.addr6Bytes!);
      out.nextHop6 = this.nh6;
      v = VERDICT_XMIT;
    } else if (d.tunSource6 === null) v = this.drop(D.tun_no_route);
    else v = tunXmit6(this, out, buf, l3, tot, proto === 58, d.tunSource6, d.addr6Bytes!, this.nh6);
    if (v === VERDICT_XMIT) this.xmits++;
    return v;
  }

  /** ip_vs_in_icmp_v6 / ip_vs_out_icmp_v6: ICMPv6 errors that quote a tracked flow. */
  private inputIcmp6(buf: Uint8Array, l3: number, icmp: number, tot: number, sfold: number, dfold: number, now: number, out: XmitOut): number {
    const end = l3 + tot;
    const ilen = end - icmp;
    const rel = this.relevant6(sfold, dfold);
    if (ilen < 8) return this.bad(D.icmp_truncated, rel);
    const type = buf[icmp]!;
    // Errors only (ICMPV6_INFOMSG_MASK clear): echo and neighbour discovery are the host's.
    if (type < 1 || type > 4) return this.ignore(I.icmp_no_conn);
    const inner = icmp + 8;
    if (ilen < 8 + 40 || (buf[inner]! & 0xf0) !== 0x60) return this.bad(D.icmp_truncated, rel);
    const r = ipv6Upper(buf, inner, end);
    if (r === EXT_TRUNCATED) return this.bad(D.icmp_truncated, rel);
    if (r < 0) return this.ignore(I.icmp_no_conn);
    const iproto = r & 0xff;
    if (iproto !== 6 && iproto !== 17) return this.ignore(I.icmp_no_conn);
    const il4 = inner + (r >>> 8);
    if (il4 + 8 > end) return this.bad(D.icmp_truncated, rel);
    const qs = this.q6s;
    const qd = this.q6d;
    readIp6Words(buf, inner + 8, qs, 0);
    readIp6Words(buf, inner + 24, qd, 0);
    const isport = readU16(buf, il4);
    const idport = readU16(buf, il4 + 2);
    const t = this.tbl;
    const pk = iproto | P_V6;
    const nowTick = Math.floor(now / TICK_MS);
    // Client side: the quote is our packet VIP:vport → client:cport, and the error is for that VIP.
    let i = t.findIn6(pk, t.digest6(qd), ((idport << 16) | isport) >>> 0, t.digest6(qs), qd, 0, qs, 0);
    if (i >= 0 && !t.isTemplate(i) && sameWords(t.a6, t.a6At(i, A6_V), this.d6)) {
      if (!verifyIcmpv6Checksum(buf, l3, icmp, ilen)) return this.drop(D.icmp_bad_checksum);
      const d = this.dests[t.destId(i)]!;
      if (!d.available) return this.drop(D.dest_unavailable);
      this.countIn(d, tot);
      t.setExpire(i, Math.max(t.expire(i), nowTick));
      if (t.fwd(i) === FWD_MASQ) {
        this.xmits++;
        return natIcmpInXmit6(out, buf, l3, icmp, ilen, inner, il4, iproto, tot, d.addr6Bytes!, t.dport(i), this.nh6);
      }
      return this.xmit(i, d, buf, l3, icmp, tot, 58, out);
    }
    // RS side (NAT): the quote is the client's packet client:cport → RIP:rport.
    if (this.ripFilter6[addrFilterSlot(fold6(qd, 0))] !== 0) {
      i = t.findOut6(pk, t.digest6(qd), idport, t.digest6(qs), isport, qd, 0, qs, 0);
      if (i >= 0) {
        if (!verifyIcmpv6Checksum(buf, l3, icmp, ilen)) return this.drop(D.icmp_bad_checksum);
        if (buf[l3 + 7]! <= 1) return this.drop(D.ttl_exceeded);
        const d = this.dests[t.destId(i)]!;
        if (d.available) this.countOut(d, tot);
        writeIp6Words(this.tmp16, 0, t.a6, t.a6At(i, A6_V));
        this.xmits++;
        return natIcmpOutXmit6(out, buf, l3, icmp, ilen, inner, il4, iproto, tot, this.tmp16, t.vport(i), this.nh6);
      }
    }
    return this.ignore(I.icmp_no_conn);
  }

  /**
   * An ICMPv6 error about the IPv6 packet at buf[l3, l3+tot), from its
   * destination (the VIP) back to its source, into the scratch buffer;
   * rate-limited with the IPv4 errors, else a drop for `reason`.
   */
  icmp6Reply(type: number, code: number, info: number, buf: Uint8Array, l3: number, tot: number, out: XmitOut, reason: number): number {
    if (this.icmpTokens < 1) return this.drop(reason);
    this.icmpTokens--;
    const len = writeIcmpv6Error(this.scratch, HEADROOM, buf, l3 + 24, buf, l3 + 8, type, code, info, buf, l3, tot);
    copy16(this.nh6, buf, l3 + 8);
    out.buf = this.scratch;
    out.start = HEADROOM;
    out.len = len;
    out.nextHop6 = this.nh6;
    this.icmpGenerated++;
    return VERDICT_XMIT;
  }

  // ---------------------------------------------------------------- time

  tick(now: number): void {
    const nowTick = Math.floor(now / TICK_MS);
    const t = this.tbl;
    t.advance(nowTick, this.onDue);
    const n = t.count;
    this.setDefense(n >= t.capacity ? DEFENSE_FULL : n >= this.st.softLimit ? DEFENSE_ON : DEFENSE_OFF);
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
    const tot = this.st.totStats;
    tot.est.estimate(tot.c);
    for (const svc of this.services.values()) svc.stats.est.estimate(svc.stats.c);
    for (const d of this.dests) if (d !== undefined) d.stats.est.estimate(d.stats.c);
  }
}

/** dst[0, 16) ← src[off, off+16), without a subarray view. */
/** The TCP (6) or UDP (17) header at l4, checked alike for both families: a drop reason (D.*), or -1 when sound. */
function l4Problem(buf: Uint8Array, l4: number, l4len: number, proto: number): number {
  if (proto === 6) {
    if (l4len < 20) return D.truncated;
    const doff = (buf[l4 + 12]! >>> 4) << 2;
    if (doff < 20 || doff > l4len) return D.bad_tcp_doff;
  } else {
    if (l4len < 8) return D.truncated;
    const ulen = readU16(buf, l4 + 4);
    if (ulen < 8 || ulen > l4len) return D.bad_udp_length;
  }
  return -1;
}

function copy16(dst: Uint8Array, src: Uint8Array, off: number): void {
  for (let k = 0; k < 16; k++) dst[k] = src[off + k]!;
}

/** Whether a[o, o+4) holds the words of w. */
function sameWords(a: Uint32Array, o: number, w: Uint32Array): boolean {
  return a[o] === w[0] && a[o + 1] === w[1] && a[o + 2] === w[2] && a[o + 3] === w[3];
}

// The in-key of a service's persistence template for a client:
// <proto, caddr & netmask, 0, vaddr, vport>, vport 0 for port-zero services
// and FTP (control + data).

export function templateNet(svc: Service, caddr: number): number {
  return (caddr & svc.netmask) >>> 0;
}

export function templatePort(svc: Service, dport: number): number {
  return dport === svc.vport && svc.vport !== FTPPORT ? dport : 0;
}
