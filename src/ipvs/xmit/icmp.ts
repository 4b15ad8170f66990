// ICMP the director originates (port unreachable when no dest is usable, as
// ip_vs_leave does; frag-needed for the tunnel) and the translation of ICMP
// errors about NAT flows (ip_vs_nat_icmp): outer address, the quoted
// header's address and port, the quoted IP checksum, the quoted TCP/UDP
// checksum when the quote reaches it (the kernel leaves that one stale),
// and the ICMP checksum.
import { rewriteAddrPort } from './nat.js';

/** icmp_send() quotes as much of the offender as fits a 576-byte datagram. */
export const ICMP_ERROR_MAX = 576;

function csum(buf: Uint8Array, off: number, len: number): number {
  let sum = 0;
  const end = off + (len & ~1);
  for (let i = off; i < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (len & 1) sum += buf[end]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function icmpChecksumOk(buf: Uint8Array, off: number, len: number): boolean {
  return csum(buf, off, len) === 0;
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
  out[o] = 0x45; out[o + 1] = 0xc0; out[o + 2] = tot >>> 8; out[o + 3] = tot;
  out[o + 4] = 0; out[o + 5] = 0; out[o + 6] = 0; out[o + 7] = 0;
  out[o + 8] = 64; out[o + 9] = 1; out[o + 10] = 0; out[o + 11] = 0;
  out[o + 12] = src >>> 24; out[o + 13] = src >>> 16; out[o + 14] = src >>> 8; out[o + 15] = src;
  out[o + 16] = dst >>> 24; out[o + 17] = dst >>> 16; out[o + 18] = dst >>> 8; out[o + 19] = dst;
  const ic = csum(out, o, 20);
  out[o + 10] = ic >>> 8; out[o + 11] = ic;
  const m = o + 20;
  out[m] = type; out[m + 1] = code; out[m + 2] = 0; out[m + 3] = 0;
  out[m + 4] = info >>> 24; out[m + 5] = info >>> 16; out[m + 6] = info >>> 8; out[m + 7] = info;
  out.set(buf.subarray(l3, l3 + quote), m + 8);
  const c = csum(out, m, 8 + quote);
  out[m + 2] = c >>> 8; out[m + 3] = c;
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
  buf[icmpOff + 2] = 0;
  buf[icmpOff + 3] = 0;
  const c = csum(buf, icmpOff, icmpLen);
  buf[icmpOff + 2] = c >>> 8;
  buf[icmpOff + 3] = c;
}
