// IP-in-IP tunnelling (ip_vs_tunnel_xmit): an outer IPv4 header, protocol
// 4, from the director's tunnel source to the real server, written into the
// headroom just before the inner packet. As the kernel does, TOS and TTL
// are the inner packet's and DF is copied, so path MTU discovery works
// end to end; a DF packet that does not fit the tunnel gets ICMP
// frag-needed with MTU = tunnel MTU - 20 (__mtu_check_toobig_v4), and an
// oversize packet without DF is dropped: the director does not fragment.
import { checksum, setCsum } from '../../packet/checksum.js';
import { writeIp } from '../../packet/addr.js';
import { writeU16 } from '../../packet/input.js';
import { D } from '../drops.js';
import { VERDICT_XMIT, type XmitOut } from '../verdict.js';

export const IPIP_HLEN = 20;

/** What the tunnel transmitter needs from the packet path. */
export interface TunContext {
  /** The route's MTU towards the real servers. */
  readonly tunMtu: number;
  /** The packet is a GSO super-frame: the io layer cuts it into segments that fit the tunnel (see engine.ts). */
  readonly rxGso: boolean;
  /** The next IP id for an outer header without DF. */
  nextIpId(): number;
  /** An ICMP error about the packet at buf[l3, l3+tot) from `src` to `dst`: a verdict, or a drop for `reason` when rate-limited. */
  icmpError(type: number, code: number, info: number, src: number, dst: number, buf: Uint8Array, l3: number, tot: number,
    out: XmitOut, reason: number): number;
  drop(reason: number): number;
}

/**
 * Writes the outer header at l3 - 20 for the inner packet at
 * buf[l3, l3 + innerLen). `id` is used only without DF (Linux sends 0 with DF).
 */
export function writeIpipOuter(buf: Uint8Array, l3: number, innerLen: number, src: number, dst: number, id: number): number {
  const o = l3 - IPIP_HLEN;
  const df = buf[l3 + 6]! & 0x40;
  buf[o] = 0x45;
  buf[o + 1] = buf[l3 + 1]!;
  writeU16(buf, o + 2, innerLen + IPIP_HLEN);
  writeU16(buf, o + 4, df ? 0 : id & 0xffff);
  buf[o + 6] = df;
  buf[o + 7] = 0;
  buf[o + 8] = buf[l3 + 8]!;
  buf[o + 9] = 4;
  buf[o + 10] = 0;
  buf[o + 11] = 0;
  writeIp(buf, o + 12, src);
  writeIp(buf, o + 16, dst);
  setCsum(buf, o + 10, checksum(buf, o, IPIP_HLEN));
  return o;
}

/**
 * ip_vs_tunnel_xmit for the packet at buf[l3, l3+tot) of a conn from
 * caddr to vaddr, tunnelled from `src` to the real server `raddr`.
 */
export function tunXmit(ctx: TunContext, out: XmitOut, buf: Uint8Array, l3: number, tot: number, proto: number,
  src: number, raddr: number, vaddr: number, caddr: number): number {
  const mtu = ctx.tunMtu;
  if (tot + IPIP_HLEN > mtu && !ctx.rxGso) {
    // No fragmentation here; and no ICMP error about an ICMP error (RFC 1122 3.2.2).
    if ((buf[l3 + 6]! & 0x40) === 0 || proto === 1) return ctx.drop(D.tun_too_big);
    return ctx.icmpError(3, 4, (mtu - IPIP_HLEN) & 0xffff, vaddr, caddr, buf, l3, tot, out, D.tun_too_big);
  }
  out.buf = buf;
  out.start = writeIpipOuter(buf, l3, tot, src, raddr, ctx.nextIpId());
  out.len = tot + IPIP_HLEN;
  out.nextHop = raddr;
  return VERDICT_XMIT;
}

// ---------------------------------------------------------------- IPv6
// ip_vs_tunnel_xmit_v6: an outer IPv6 header, next header 41 (IPv6 in
// IPv6, RFC 2473), from the director's address towards the real server;
// traffic class and hop limit of the inner packet, flow label 0. IPv6 is
// never fragmented on the way: a packet that does not fit the tunnel (route
// MTU - 40) gets ICMPv6 Packet Too Big with that MTU, as
// __ip_vs_get_out_rt_v6 sends it; a tunnel whose MTU would fall below the
// IPv6 minimum (1280) carries nothing.

export const IP6IP6_HLEN = 40;
const IPV6_MIN_MTU = 1280;

/** Writes the outer header at l3 - 40 for the inner IPv6 packet at buf[l3, l3 + innerLen). */
export function writeIp6ip6Outer(buf: Uint8Array, l3: number, innerLen: number, src: Uint8Array, dst: Uint8Array): number {
  const o = l3 - IP6IP6_HLEN;
  const tc = ((buf[l3]! & 0x0f) << 4) | (buf[l3 + 1]! >>> 4);
  buf[o] = 0x60 | (tc >>> 4);
  buf[o + 1] = (tc & 0x0f) << 4;
  buf[o + 2] = 0;
  buf[o + 3] = 0;
  writeU16(buf, o + 4, innerLen);
  buf[o + 6] = 41;
  buf[o + 7] = buf[l3 + 7]!;
  for (let k = 0; k < 16; k++) {
    buf[o + 8 + k] = src[k]!;
    buf[o + 24 + k] = dst[k]!;
  }
  return o;
}

/** What the IPv6 tunnel transmitter needs beyond TunContext. */
export interface Tun6Context extends TunContext {
  /** An ICMPv6 error about the IPv6 packet at buf[l3, l3+tot), from the VIP to the client it came from. */
  icmp6Reply(type: number, code: number, info: number, buf: Uint8Array, l3: number, tot: number, out: XmitOut, reason: number): number;
}

/**
 * ip_vs_tunnel_xmit_v6 for the IPv6 packet at buf[l3, l3+tot), tunnelled
 * from `src` to the real server `raddr` (16 bytes each); `nh6` is the
 * engine's next-hop array. `icmp`: the packet is an ICMPv6 error being
 * relayed (never answered with another one).
 */
export function tunXmit6(ctx: Tun6Context, out: XmitOut, buf: Uint8Array, l3: number, tot: number, icmp: boolean,
  src: Uint8Array, raddr: Uint8Array, nh6: Uint8Array): number {
  const mtu = ctx.tunMtu - IP6IP6_HLEN;
  if (mtu < IPV6_MIN_MTU) return ctx.drop(D.tun_too_big);
  if (tot > mtu && !ctx.rxGso) {
    if (icmp) return ctx.drop(D.tun_too_big);
    return ctx.icmp6Reply(2, 0, mtu, buf, l3, tot, out, D.tun_too_big);
  }
  out.buf = buf;
  out.start = writeIp6ip6Outer(buf, l3, tot, src, raddr);
  out.len = tot + IP6IP6_HLEN;
  nh6.set(raddr);
  out.nextHop6 = nh6;
  return VERDICT_XMIT;
}
