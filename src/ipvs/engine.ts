// The forwarding engine: what lvsd holds of IPVS, one pure, synchronous
// object. No sockets, no timers: the io layer hands it frames and the time,
// and sends what it returns. It is cut as the kernel cuts IPVS:
//   state.ts   what both halves share (struct netns_ipvs)
//   core.ts    the packet path, input() and tick() (ip_vs_core.c)
//   ctl.ts     the control operations (ip_vs_ctl.c)
//   conn.ts    the connection table (ip_vs_conn.c)
//   xmit/      the transmitters, one per forwarding method (ip_vs_xmit.c)
//   verdict.ts the contract below, in types
//   sync.ts    what connection sync decides (ip_vs_sync.c without its I/O):
//              setSyncMaster(sink) hands the daemon each conn to send,
//              syncConn(entry) applies a received one (src/sync/daemon.ts)
//
// ## The io ↔ engine contract
//
// input(buf, off, len, now, out) takes the Ethernet frame at buf[off, off+len)
// (one 802.1Q tag allowed) and returns a verdict:
// - VERDICT_XMIT: out.buf[out.start, out.start + out.len) is the IP packet
//   to send (no link header): IPv4 or IPv6, as its version nibble says (the
//   ethertype to write). For IPv4, out.nextHop is the address (u32, host
//   order) to route and ARP for; for IPv6, out.nextHop6 holds the 16-byte
//   address to route and resolve (neighbour discovery), in the engine's own
//   array, valid until the next input(). The next hop is the real server
//   for DR, TUN and NAT towards the RS; the client for NAT replies and for
//   ICMP(v6) errors the engine generates. The caller writes the Ethernet
//   header at out.start - 14 (src = egress MAC, dst = the neighbour's MAC
//   for the route to the next hop); the engine guarantees 14 writable bytes
//   there. out.buf is either `buf` (rewritten in place; TUN writes the outer
//   header up to 40 bytes before the IP header, which is why the caller
//   guarantees HEADROOM bytes before `off`) or the engine's scratch buffer
//   (generated ICMP), valid until the next input() call.
// - VERDICT_DROP: the frame was for a service (or a tracked flow) and must
//   not be delivered; counted under drop_<reason>.
// - VERDICT_IGNORE: not the engine's business (neither IPv4 nor IPv6, no
//   service, no conn, neighbour discovery); counted under ignore_<reason>,
//   never as a drop.
// Every frame ends in exactly one of those: frames = xmit + Σdrop_* + Σignore_*.
// input() never throws on frame contents.
//
// `now` is monotonic milliseconds. tick(now) runs the expiry wheel (64 ms
// ticks: a conn lives its timeout rounded up to the next tick) and, every
// 2 s, the rate estimators; call it a few times a second.
//
// Interception: serviceKeys() lists the VIP:port of every addr service,
// the RIP:port of every NAT dest (replies to SNAT; any port for a fwmark
// service's), and the fwmark services' marks per family (fwmarks,
// fwmarks6); hasVip(addr) answers for one address. Packets to an address
// that is no longer a VIP are ignored, even if conns to it remain (the io
// layer no longer intercepts them).
//
// Control (ctl.ts) mirrors ip_vs_ctl.c and throws ControlError (errors.ts)
// with its errno; replace() validates the whole ruleset before changing anything.
//
// ## Semantics chosen where IPVS has a choice (see the kernel sources named)
// - New TCP conns only on SYN without RST (tcp_conn_schedule); other TCP
//   for a service with no conn: drop_tcp_no_conn. setSloppyTcp(true)
//   (sloppy_tcp): any TCP packet without RST may create one.
// - Sync backup: an entry whose service or dest this director lacks is
//   refused and counted (sync_in_no_service / no_dest); IPVS keeps such a
//   conn unbound, lvsd has no unbound conns.
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
// - IPv6: services, dests and conns of either family in the same table
//   (conn.ts); a dest must have its service's family (the kernel allows
//   another one for tunnel dests; lvsd refuses it). Extension headers are
//   walked as ipv6_find_hdr walks them (Hop-by-Hop, Destination Options,
//   Routing without segments left, AH); a Fragment header is a fragment, a
//   Routing header with segments left is dropped (ipv6_ext_header). UDP with
//   a zero checksum is dropped (RFC 8200 8.1). ICMPv6 errors (types 1-4) about
//   tracked flows are translated or relayed as ICMP errors are; echo and
//   neighbour discovery are ignored (the host answers them). No dest: ICMPv6
//   port unreachable; TUN: IPv6-in-IPv6 (next header 41), Packet Too Big with
//   the tunnel MTU - 40 for any oversize packet (IPv6 has no DF: nobody
//   fragments on the way), nothing at all through a tunnel whose MTU would
//   fall below 1280. IPv6 conns are synced as ip_vs_sync_v6 entries (whole
//   addresses; the table's digests never reach the wire), in the same
//   messages as IPv4 ones; a backup binds them to its IPv6 service and dest.
// - Hashing schedulers hash an IPv6 address's xor fold of its four words,
//   as ip_vs_sh/dh/mh_hashkey do; lblc/lblcr remember whole addresses.
// - fwmark services: a packet socket never sees skb->mark, so a marked
//   packet reaches input() another way: the io layer queues packets that
//   carry a fwmark service's mark (set by the user's MARK rules in
//   prerouting) and are routed to this host (IPVS runs at LOCAL_IN) to
//   itself (NFQUEUE, src/io/nfqueue.ts) and calls input(..., mark). With a
//   mark, the fwmark service is looked up first (ip_vs_service_find), and
//   any local destination address counts, not only addr services' VIPs.
//   Templates are <IPPROTO_IP, caddr & mask, 0, mark, 0> so every port and
//   protocol of the group sticks to one dest; conns keep the real
//   VIP:vport, and a persistent one the client's port (ip_vs_sched_persist).
//   A fwmark conn's packets are forwarded only when they come with the mark
//   (ignore_fwmark_unmarked otherwise): a packet socket with an accept-all
//   filter sees them too, and each packet is forwarded once. Where a packet
//   is both for an addr service's VIP:port and marked, the addr service
//   wins (the io layer takes it before prerouting, where marks are set);
//   IPVS would pick the fwmark service.
//   IPv6 packets come through the same queue (from an ip6 table) and input6
//   takes their mark the same way; the fwmark lookup is per family, as IPVS
//   keys fwmark services by (af, mark): an IPv6 packet marked N belongs to
//   `-f N -6`, never to `-f N`. An IPv6 fwmark template is <IPPROTO_IP,
//   caddr masked to -M's prefix, 0, [mark, 0, 0, 0], 0> (the kernel's
//   nf_inet_addr { .ip = htonl(mark) }).
// - TUN: only ipip; an oversize DF packet gets ICMP frag-needed, an
//   oversize non-DF one is dropped (drop_tun_too_big): no fragmentation.
// - GSO super-frames (input(..., gso = true)): the io layer got a TSO/GRO
//   frame (PACKET_VNET_HDR) and forwards it as one: NAT/DR rewrite it as any
//   packet (the io layer keeps its CHECKSUM_PARTIAL field consistent); TUN
//   skips the size check and writes an outer header whose total length is
//   not final: the io layer cuts the packet into segments that fit the
//   tunnel, as the kernel's GSO does for IPVS's SKB_GSO_IPXIP4 (IPXIP6) skbs.

import { IpvsCore } from './core.js';
import { IpvsCtl } from './ctl.js';
import { type EngineOptions, IpvsState } from './state.js';
import type { XmitOut } from './verdict.js';
import { D, type DropReason } from './drops.js';

export { HEADROOM, VERDICT_DROP, VERDICT_IGNORE, VERDICT_XMIT, type XmitOut } from './verdict.js';
export type { EngineOptions } from './state.js';
export type { DestExtra, InterceptKeys } from './ctl.js';

export class IpvsEngine extends IpvsCtl {
  constructor(opts: EngineOptions = {}) {
    const st = new IpvsState(opts);
    super(st, new IpvsCore(st, opts.icmpRate));
  }

  /**
   * One Ethernet frame: a verdict, and for VERDICT_XMIT the packet to send in
   * `out`. Never throws on frame contents. `mark`: the packet's skb->mark,
   * known only on the NFQUEUE path (0 otherwise).
   */
  input(buf: Uint8Array, off: number, len: number, now: number, out: XmitOut, gso = false, mark = 0): number {
    return this.core.input(buf, off, len, now, out, gso, mark);
  }

  // The fast path's view (src/io/fastpath.ts; IpvsCore has the details).
  get lastConn(): number { return this.core.lastConn; }
  get lastOut(): boolean { return this.core.lastOut; }
  fastEligible(i: number): boolean { return this.core.fastEligible(i); }
  /** Client packets a conn shows the engine before the fast path may learn it (default 8). */
  setFastMinPackets(n: number): void { this.core.fastMinPkts = n; }
  fastCredit(i: number, proto: number, caddr: number, cport: number, vaddr: number, vport: number,
    reply: boolean, pkts: number, bytes: number): boolean {
    return this.core.fastCredit(i, proto, caddr, cport, vaddr, vport, reply, pkts, bytes);
  }
  fastActivity(i: number, proto: number, caddr: number, cport: number, vaddr: number, vport: number,
    reply: boolean, pkts: number, bytes: number, now: number): boolean {
    return this.core.fastActivity(i, proto, caddr, cport, vaddr, vport, reply, pkts, bytes, now);
  }
  onConnRemove(cb: ((i: number) => void) | null): void { this.st.tbl.onRemove = cb; }

  /** The MTU towards tunnel real servers (--tun-mtu; default 1500). */
  get tunMtu(): number {
    return this.core.tunMtu;
  }

  /** One drop counter (counters() builds them all). */
  dropCount(reason: DropReason): number {
    return this.core.drops[D[reason]]!;
  }

  /** Expiry, rate estimators and the ICMP budget, up to `now` (monotonic ms). */
  tick(now: number): void {
    this.core.tick(now);
  }
}
