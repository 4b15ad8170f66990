// ICMP the director originates (port unreachable when no dest is usable, as
// ip_vs_leave does; frag-needed for the tunnel) and the translation of ICMP
// errors about NAT flows (ip_vs_nat_icmp): outer address, the quoted
// header's address and port, the quoted IP checksum, the quoted TCP/UDP
// checksum when the quote reaches it (the kernel leaves that one stale),
// and the ICMP checksum.
import { checksum, setCsum } from '../../packet/checksum.js';
import { writeIp } from '../../packet/addr.js';
import { writeU16, writeU32 } from '../../packet/input.js';
import { decrementHopLimit, decrementTtl, rewriteAddrPort, rewriteAddrPort6 } from './nat.js';
import { setIcmpv6Checksum } from '../../packet/icmpv6.js';
import { VERDICT_XMIT, type XmitOut } from '../verdict.js';

/** icmp_send() quotes as much of the offender as fits a 576-byte datagram. */
export const ICMP_ERROR_MAX = 576;

export function icmpChecksumOk(buf: Uint8Array, off: number, len: number): boolean {
  return checksum(buf, off, len) === 0;
}

/**
 * Writes an IPv4 ICMP error at out[start…) quoting the IP packet at
 * buf[l3, l3 + inLen); returns its length. TOS is 0xc0 (IPTOS_PREC_INTERNETCONTROL) as Linux sends errors.
 */
export function writeIcmpError(out: Uint8Array, start: number, src: number, dst: number, type: number, code: number,
  info: number, buf: Uint8Array, l3: number, inLen: number): number {
  const quote = Math.min(inLen, ICMP_ERROR_MAX - 28);
  const tot = 28 + quote;
  const o = start;
  out[o] = 0x45; out[o + 1] = 0xc0; writeU16(out, o + 2, tot);
  writeU32(out, o + 4, 0);
  out[o + 8] = 64; out[o + 9] = 1; writeU16(out, o + 10, 0);
  writeIp(out, o + 12, src);
  writeIp(out, o + 16, dst);
  setCsum(out, o + 10, checksum(out, o, 20));
  const m = o + 20;
  out[m] = type; out[m + 1] = code; writeU16(out, m + 2, 0);
  writeU32(out, m + 4, info);
  out.set(buf.subarray(l3, l3 + quote), m + 8);
  setCsum(out, m + 2, checksum(out, m, 8 + quote));
  return tot;
}

/**
 * Rewrites an ICMP error about a NAT flow, in place. `outerAddrOff` is the
 * outer address to replace (dst towards the RS, src towards the client);
 * `innerAddrOff`/`innerPortOff` the quoted header's matching fields.
 */
export function natIcmp(buf: Uint8Array, l3: number, icmpOff: number, icmpLen: number, inner: number, innerIhl: number,
  outerAddrOff: number, outerAddr: number, innerAddrOff: number, innerPortOff: number, addr: number, port: number): void {
  rewriteAddrPort(buf, outerAddrOff, outerAddr, -1, 0, l3 + 10, -1, false);
  const proto = buf[inner + 9]!;
  const innerL4 = inner + innerIhl;
  const end = icmpOff + icmpLen;
  const csumOff = innerL4 + (proto === 17 ? 6 : 16);
  rewriteAddrPort(buf, innerAddrOff, addr, innerPortOff, port, inner + 10, csumOff + 2 <= end ? csumOff : -1, proto === 17);
  writeU16(buf, icmpOff + 2, 0);
  setCsum(buf, icmpOff + 2, checksum(buf, icmpOff, icmpLen));
}

/**
 * An ICMP error from the client about a NAT flow, towards its real server
 * (ip_vs_in_icmp → ip_vs_nat_icmp): the VIP in the outer destination and in
 * the quoted source becomes the real server's address and port.
 */
export function natIcmpInXmit(out: XmitOut, buf: Uint8Array, l3: number, icmpOff: number, icmpLen: number, inner: number,
  innerIhl: number, tot: number, raddr: number, rport: number): number {
  natIcmp(buf, l3, icmpOff, icmpLen, inner, innerIhl, l3 + 16, raddr, inner + 12, inner + innerIhl, raddr, rport);
  out.buf = buf;
  out.start = l3;
  out.len = tot;
  out.nextHop = raddr;
  return VERDICT_XMIT;
}

/**
 * An ICMP error from a NAT real server about a reply, towards the client
 * (ip_vs_out_icmp): routed, so it loses one hop (the caller has checked
 * that the TTL is above 1), and the real server's address becomes the VIP:vport.
 */
export function natIcmpOutXmit(out: XmitOut, buf: Uint8Array, l3: number, icmpOff: number, icmpLen: number, inner: number,
  innerIhl: number, tot: number, vaddr: number, vport: number, caddr: number): number {
  decrementTtl(buf, l3);
  natIcmp(buf, l3, icmpOff, icmpLen, inner, innerIhl, l3 + 12, vaddr, inner + 16, inner + innerIhl + 2, vaddr, vport);
  out.buf = buf;
  out.start = l3;
  out.len = tot;
  out.nextHop = caddr;
  return VERDICT_XMIT;
}

// ---------------------------------------------------------------- IPv6
// ip_vs_nat_icmp_v6: the outer address, the quoted header's address and
// port, the quoted TCP/UDP checksum when the quote reaches it (the kernel
// leaves that one stale, as for IPv4), and the ICMPv6 checksum, which
// covers the outer addresses through the pseudo-header.

/**
 * Rewrites an ICMPv6 error about a NAT flow in place: the outer address at
 * `outerAddrOff` and the quoted address at `innerAddrOff` become the one at
 * addr[0…16), the quoted port at `innerPortOff` becomes `port`. `innerL4`
 * is the quoted upper-layer header, `iproto` its protocol.
 */
export function natIcmp6(buf: Uint8Array, l3: number, icmpOff: number, icmpLen: number, innerL4: number, iproto: number,
  outerAddrOff: number, innerAddrOff: number, innerPortOff: number, addr: Uint8Array, port: number): void {
  const end = icmpOff + icmpLen;
  const csumOff = innerL4 + (iproto === 17 ? 6 : 16);
  rewriteAddrPort6(buf, innerAddrOff, addr, 0, innerPortOff, port, csumOff + 2 <= end ? csumOff : -1, iproto === 17);
  for (let k = 0; k < 16; k++) buf[outerAddrOff + k] = addr[k]!;
  setIcmpv6Checksum(buf, l3, icmpOff, icmpLen);
}

/** The client's ICMPv6 error about our reply, towards its real server (ip_vs_in_icmp_v6): VIP:vport → RIP:rport. */
export function natIcmpInXmit6(out: XmitOut, buf: Uint8Array, l3: number, icmpOff: number, icmpLen: number, inner: number,
  innerL4: number, iproto: number, tot: number, raddr: Uint8Array, rport: number, nh6: Uint8Array): number {
  natIcmp6(buf, l3, icmpOff, icmpLen, innerL4, iproto, l3 + 24, inner + 8, innerL4, raddr, rport);
  out.buf = buf;
  out.start = l3;
  out.len = tot;
  nh6.set(raddr);
  out.nextHop6 = nh6;
  return VERDICT_XMIT;
}

/**
 * An ICMPv6 error from the real server's side about the client's DNATed
 * packet, towards the client (ip_vs_out_icmp_v6): routed, so one hop less
 * (the caller has checked the hop limit is above 1), and shown as from the
 * VIP:vport.
 */
export function natIcmpOutXmit6(out: XmitOut, buf: Uint8Array, l3: number, icmpOff: number, icmpLen: number, inner: number,
  innerL4: number, iproto: number, tot: number, vaddr: Uint8Array, vport: number, nh6: Uint8Array): number {
  decrementHopLimit(buf, l3);
  natIcmp6(buf, l3, icmpOff, icmpLen, innerL4, iproto, l3 + 8, inner + 24, innerL4 + 2, vaddr, vport);
  out.buf = buf;
  out.start = l3;
  out.len = tot;
  nh6.set(buf.subarray(l3 + 24, l3 + 40));
  out.nextHop6 = nh6;
  return VERDICT_XMIT;
}
