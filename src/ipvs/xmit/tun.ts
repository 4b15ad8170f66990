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
