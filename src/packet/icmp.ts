// ICMP for IPv4: echo, and the errors a director must relay or originate.
// An error quotes the offending packet's IP header and at least 8 bytes of
// its payload (RFC 792), which is enough to find the connection it concerns.
import { csumPartial, csumFold } from './checksum.js';
import { type IpLike, toBytes, readU16, writeU16, readU32, writeU32, checkU8, checkU16, checkU32 } from './input.js';
import { type DecodeResult, ok, fail } from './result.js';
import { type Ipv4Header, type Ipv4Invalid, type Ipv4Fields, decodeIpv4, buildIpv4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from './ipv4.js';

export const ICMP_HLEN = 8;

export const ICMP_ECHOREPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETERPROB = 12;

// Codes for ICMP_DEST_UNREACH.
export const ICMP_NET_UNREACH = 0;
export const ICMP_HOST_UNREACH = 1;
export const ICMP_PROT_UNREACH = 2;
export const ICMP_PORT_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;
// Codes for ICMP_TIME_EXCEEDED.
export const ICMP_EXC_TTL = 0;
export const ICMP_EXC_FRAGTIME = 1;

export type IcmpInvalid = 'truncated' | 'bad-checksum';

export interface IcmpHeader {
  offset: number;
  type: number;
  code: number;
  checksum: number;
  /** The 4 "rest of header" bytes as u32. */
  rest: number;
  /** Echo identifier / sequence (meaningful for echo and echo reply). */
  id: number;
  seq: number;
  /** Next-hop MTU (meaningful for type 3 code 4). */
  mtu: number;
  payloadOffset: number;
  payloadLength: number;
}

/** Errors that quote an offending datagram (and must never be answered with another error). */
export function isIcmpError(type: number): boolean {
  return type === ICMP_DEST_UNREACH || type === ICMP_SOURCE_QUENCH || type === ICMP_REDIRECT
    || type === ICMP_TIME_EXCEEDED || type === ICMP_PARAMETERPROB;
}

export function icmpChecksum(buf: Uint8Array, off: number, len: number): number {
  return csumFold(csumPartial(buf, off + 4, len - 4, csumPartial(buf, off, 2)));
}

export function verifyIcmpChecksum(buf: Uint8Array, off: number, len: number): boolean {
  return csumFold(csumPartial(buf, off, len)) === 0;
}

export function setIcmpChecksum(buf: Uint8Array, off: number, len: number): number {
  const c = icmpChecksum(buf, off, len);
  writeU16(buf, off + 2, c);
  return c;
}

/** `len` is the ICMP message length (IP payload length). */
export function decodeIcmp(
  buf: Uint8Array, off: number, len = buf.length - off, opts?: { verifyChecksum?: boolean },
): DecodeResult<IcmpHeader, IcmpInvalid> {
  if (len < ICMP_HLEN) return fail('truncated');
  if ((opts?.verifyChecksum ?? true) && !verifyIcmpChecksum(buf, off, len)) return fail('bad-checksum');
  const rest = readU32(buf, off + 4);
  return ok({
    offset: off,
    type: buf[off]!,
    code: buf[off + 1]!,
    checksum: readU16(buf, off + 2),
    rest,
    id: rest >>> 16,
    seq: rest & 0xffff,
    mtu: rest & 0xffff,
    payloadOffset: off + ICMP_HLEN,
    payloadLength: len - ICMP_HLEN,
  });
}

export type IcmpQuotedInvalid = 'not-an-error' | `inner-${Ipv4Invalid}`;

export interface IcmpQuoted {
  /** The quoted header; its payloadLength is what the original carried, not what was quoted. */
  ip: Ipv4Header;
  /** Offset and length of the quoted L4 bytes actually present. */
  l4Offset: number;
  l4Length: number;
  /** Ports of a quoted TCP/UDP header (present when >= 4 bytes were quoted and it is the first fragment). */
  srcPort?: number;
  dstPort?: number;
}

/** Decodes the datagram quoted in an ICMP error (from decodeIcmp's result). */
export function decodeIcmpQuoted(
  buf: Uint8Array, icmp: IcmpHeader, opts?: { verifyChecksum?: boolean },
): DecodeResult<IcmpQuoted, IcmpQuotedInvalid> {
  if (!isIcmpError(icmp.type)) return fail('not-an-error');
  const r = decodeIpv4(buf, icmp.payloadOffset, icmp.payloadLength, { quoted: true, verifyChecksum: opts?.verifyChecksum });
  if (!r.ok) return fail(`inner-${r.reason}`);
  const ip = r.value;
  const l4Offset = ip.payloadOffset;
  const l4Length = Math.min(icmp.payloadOffset + icmp.payloadLength - l4Offset, ip.payloadLength);
  const q: IcmpQuoted = { ip, l4Offset, l4Length };
  if ((ip.protocol === IPPROTO_TCP || ip.protocol === IPPROTO_UDP) && ip.fragOffset === 0 && l4Length >= 4) {
    q.srcPort = readU16(buf, l4Offset);
    q.dstPort = readU16(buf, l4Offset + 2);
  }
  return ok(q);
}

export interface IcmpFields {
  type: number;
  code?: number;
  /** The 4 rest-of-header bytes; or give id/seq (echo) or mtu (frag needed). */
  rest?: number;
  id?: number;
  seq?: number;
  mtu?: number;
  /** Override for deliberately broken messages in tests. */
  checksum?: number;
}

function restValue(f: IcmpFields): number {
  if (f.rest !== undefined) return checkU32('rest', f.rest);
  if (f.mtu !== undefined) return checkU16('mtu', f.mtu);
  return ((checkU16('id', f.id ?? 0) << 16) | checkU16('seq', f.seq ?? 0)) >>> 0;
}

/** Writes the header at `off`; the body must already follow it. Returns 8. */
export function writeIcmpHeader(buf: Uint8Array, off: number, f: IcmpFields, bodyLength: number): number {
  buf[off] = checkU8('type', f.type);
  buf[off + 1] = checkU8('code', f.code ?? 0);
  writeU32(buf, off + 4, restValue(f));
  if (f.checksum !== undefined) writeU16(buf, off + 2, checkU16('checksum', f.checksum));
  else setIcmpChecksum(buf, off, ICMP_HLEN + bodyLength);
  return ICMP_HLEN;
}

export function buildIcmp(f: IcmpFields & { payload?: Uint8Array | string }): Uint8Array {
  const body = toBytes(f.payload);
  const buf = new Uint8Array(ICMP_HLEN + body.length);
  buf.set(body, ICMP_HLEN);
  writeIcmpHeader(buf, 0, f, body.length);
  return buf;
}

export function buildIcmpEcho(f: { reply?: boolean; id: number; seq: number; payload?: Uint8Array | string }): Uint8Array {
  return buildIcmp({ type: f.reply ? ICMP_ECHOREPLY : ICMP_ECHO, id: f.id, seq: f.seq, payload: f.payload });
}

/**
 * The bytes an error quotes from `offending` (an IPv4 packet at `offset`):
 * its header and the first `extra` (default 8) bytes of its payload.
 */
export function quoteOffending(offending: Uint8Array, offset = 0, extra = 8): Uint8Array {
  const hlen = (offending[offset]! & 0x0f) * 4;
  const tot = offending.length - offset >= 4 ? readU16(offending, offset + 2) : 0;
  const avail = Math.min(offending.length - offset, Math.max(tot, hlen));
  return offending.subarray(offset, offset + Math.min(avail, hlen + extra));
}

/** An ICMP error message (no IP header) quoting `offending`. */
export function buildIcmpError(
  type: number, code: number, offending: Uint8Array,
  opts?: { offset?: number; mtu?: number; rest?: number; extra?: number },
): Uint8Array {
  if (!isIcmpError(type)) throw new RangeError(`ICMP type ${type} is not an error type`);
  return buildIcmp({ type, code, rest: opts?.rest, mtu: opts?.mtu, payload: quoteOffending(offending, opts?.offset, opts?.extra) });
}

/** Destination unreachable (type 3) with `code` (ICMP_PORT_UNREACH…), ICMP message only. */
export function buildDestUnreachable(offending: Uint8Array, code: number, offset = 0): Uint8Array {
  return buildIcmpError(ICMP_DEST_UNREACH, code, offending, { offset });
}

/** Time exceeded (type 11), TTL (code 0) by default, ICMP message only. */
export function buildTimeExceeded(offending: Uint8Array, code = ICMP_EXC_TTL, offset = 0): Uint8Array {
  return buildIcmpError(ICMP_TIME_EXCEEDED, code, offending, { offset });
}

/** Destination unreachable, fragmentation needed (type 3 code 4, RFC 1191), ICMP message only. */
export function buildFragNeeded(offending: Uint8Array, mtu: number, offset = 0): Uint8Array {
  return buildIcmpError(ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, offending, { offset, mtu });
}

/**
 * A whole IPv4 packet carrying an ICMP error back to the offending packet's
 * source, from `src` (the director). TTL 64, DF clear, TOS 0xc0 as Linux's
 * icmp_send uses for errors.
 */
export function buildIcmpErrorPacket(
  offending: Uint8Array,
  f: { src: IpLike; type: number; code: number; mtu?: number; offset?: number; ttl?: number; id?: number },
): Uint8Array {
  const off = f.offset ?? 0;
  const body = buildIcmpError(f.type, f.code, offending, { offset: off, mtu: f.mtu });
  const ipf: Ipv4Fields = {
    src: f.src, dst: offending.subarray(off + 12, off + 16), protocol: IPPROTO_ICMP,
    ttl: f.ttl ?? 64, id: f.id ?? 0, tos: 0xc0,
  };
  return buildIpv4({ ...ipf, payload: body });
}
