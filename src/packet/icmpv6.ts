// ICMPv6 (RFC 4443): the errors a director relays or originates, and the
// checksum over the IPv6 pseudo-header. An error quotes as much of the
// offending packet as fits a 1280-byte datagram (RFC 4443 2.4 (c)), which
// always reaches the upper-layer ports a director needs to find its flow.
// Neighbour discovery (RFC 4861, types 133-137) is the host's business:
// lvsd leaves it to the kernel, whose neighbour table it reads.
import { csumPartial, csumFold } from './checksum.js';
import { readU16, readU32, writeU16, writeU32 } from './input.js';
import { type DecodeResult, ok, fail } from './result.js';
import { IPV6_HLEN, IPV6_MIN_MTU, NEXTHDR_ICMP, pseudoHeaderSum6, writeIpv6Header } from './ipv6.js';

export const ICMPV6_HLEN = 8;

export const ICMPV6_DEST_UNREACH = 1;
export const ICMPV6_PKT_TOOBIG = 2;
export const ICMPV6_TIME_EXCEED = 3;
export const ICMPV6_PARAMPROB = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const NDISC_NEIGHBOUR_SOLICITATION = 135;
export const NDISC_NEIGHBOUR_ADVERTISEMENT = 136;

// Codes for ICMPV6_DEST_UNREACH.
export const ICMPV6_NOROUTE = 0;
export const ICMPV6_ADM_PROHIBITED = 1;
export const ICMPV6_ADDR_UNREACH = 3;
export const ICMPV6_PORT_UNREACH = 4;

/** The largest error the director sends: header, ICMPv6 header and quote within the minimum MTU. */
export const ICMPV6_ERROR_MAX = IPV6_MIN_MTU;

/** Types below 128 are errors (ICMPV6_INFOMSG_MASK clear): never answered with another error. */
export function isIcmpv6Error(type: number): boolean {
  return type < 128;
}

/** The checksum of the ICMPv6 message at buf[off, off+len) in the IPv6 packet at l3 (field zeroed first); 0 when verifying a good one. */
export function icmpv6Checksum(buf: Uint8Array, l3: number, off: number, len: number): number {
  return csumFold(csumPartial(buf, off, len, pseudoHeaderSum6(buf, l3 + 8, l3 + 24, NEXTHDR_ICMP, len)));
}

export function verifyIcmpv6Checksum(buf: Uint8Array, l3: number, off: number, len: number): boolean {
  return icmpv6Checksum(buf, l3, off, len) === 0;
}

/** Recomputes the checksum of the message at buf[off, off+len) in place. */
export function setIcmpv6Checksum(buf: Uint8Array, l3: number, off: number, len: number): void {
  writeU16(buf, off + 2, 0);
  writeU16(buf, off + 2, icmpv6Checksum(buf, l3, off, len));
}

/**
 * Writes a whole IPv6 packet carrying an ICMPv6 error at out[start…) from
 * `src` to `dst` (16-byte addresses at their offsets), quoting the IPv6
 * packet at buf[l3, l3+inLen); returns its length. Hop limit 64 and traffic
 * class 0, as Linux's icmp6_send sends.
 */
export function writeIcmpv6Error(out: Uint8Array, start: number, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number,
  type: number, code: number, info: number, buf: Uint8Array, l3: number, inLen: number): number {
  const quote = Math.min(inLen, ICMPV6_ERROR_MAX - IPV6_HLEN - ICMPV6_HLEN);
  const plen = ICMPV6_HLEN + quote;
  // Copy the addresses first: src/dst may point into buf, which the quote may overlap only if out === buf (it never is).
  out[start] = 0x60; out[start + 1] = 0; writeU16(out, start + 2, 0);
  writeU16(out, start + 4, plen);
  out[start + 6] = NEXTHDR_ICMP;
  out[start + 7] = 64;
  out.set(src.subarray(srcOff, srcOff + 16), start + 8);
  out.set(dst.subarray(dstOff, dstOff + 16), start + 24);
  const m = start + IPV6_HLEN;
  out[m] = type; out[m + 1] = code; writeU16(out, m + 2, 0);
  writeU32(out, m + 4, info);
  out.set(buf.subarray(l3, l3 + quote), m + ICMPV6_HLEN);
  writeU16(out, m + 2, icmpv6Checksum(out, start, m, plen));
  return IPV6_HLEN + plen;
}

export interface Icmpv6Header {
  offset: number;
  type: number;
  code: number;
  checksum: number;
  /** The 4 bytes after the checksum: the MTU of a Packet Too Big, the pointer of a Parameter Problem. */
  rest: number;
  payloadOffset: number;
  payloadLength: number;
}

export type Icmpv6Invalid = 'truncated' | 'bad-checksum';

/** The ICMPv6 message at buf[off, off+len) in the IPv6 packet at l3. */
export function decodeIcmpv6(buf: Uint8Array, l3: number, off: number, len: number, verify = true): DecodeResult<Icmpv6Header, Icmpv6Invalid> {
  if (len < ICMPV6_HLEN) return fail('truncated');
  if (verify && !verifyIcmpv6Checksum(buf, l3, off, len)) return fail('bad-checksum');
  return ok({
    offset: off, type: buf[off]!, code: buf[off + 1]!, checksum: readU16(buf, off + 2), rest: readU32(buf, off + 4),
    payloadOffset: off + ICMPV6_HLEN, payloadLength: len - ICMPV6_HLEN,
  });
}

/** A whole IPv6 packet with an ICMPv6 error quoting `offending` (an IPv6 packet), for tests and tools. */
export function buildIcmpv6Error(offending: Uint8Array, o: { src: string | Uint8Array; dst?: string | Uint8Array; type: number; code?: number; info?: number; hopLimit?: number }): Uint8Array {
  const quote = Math.min(offending.length, ICMPV6_ERROR_MAX - IPV6_HLEN - ICMPV6_HLEN);
  const pkt = new Uint8Array(IPV6_HLEN + ICMPV6_HLEN + quote);
  writeIpv6Header(pkt, 0, { src: o.src, dst: o.dst ?? offending.subarray(8, 24), nextHeader: NEXTHDR_ICMP, hopLimit: o.hopLimit ?? 64 }, ICMPV6_HLEN + quote);
  pkt[40] = o.type; pkt[41] = o.code ?? 0;
  writeU32(pkt, 44, o.info ?? 0);
  pkt.set(offending.subarray(0, quote), 48);
  setIcmpv6Checksum(pkt, 0, 40, ICMPV6_HLEN + quote);
  return pkt;
}
