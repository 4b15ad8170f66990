// IPv4 header codec. Validation follows the kernel's ip_rcv_core() order so a
// drop reason here means what the kernel's counters would have said.
import { csumPartial, csumFold } from './checksum.js';
import { readIp, writeIp } from './addr.js';
import { type IpLike, toIpU32, toBytes, readU16, writeU16, checkU8, checkU16 } from './input.js';
import { type DecodeResult, ok, fail } from './result.js';

export const IPV4_HLEN = 20;
export const IPV4_MAX_OPTIONS = 40;

export const IPPROTO_ICMP = 1;
export const IPPROTO_IPIP = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_VRRP = 112;

export const IP_DF = 0x4000;
export const IP_MF = 0x2000;
export const IP_OFFMASK = 0x1fff;

export type Ipv4Invalid =
  | 'truncated' // fewer bytes than a header, the IHL or the total length claims
  | 'bad-version'
  | 'bad-ihl' // IHL < 5
  | 'bad-total-length' // total length < header length
  | 'bad-checksum';

export interface Ipv4Header {
  /** Offset of the IP header in the buffer. */
  offset: number;
  version: number;
  /** Header length in 32-bit words. */
  ihl: number;
  /** Header length in bytes (ihl * 4). */
  headerLen: number;
  tos: number;
  totalLength: number;
  id: number;
  df: boolean;
  mf: boolean;
  /** Fragment offset in units of 8 bytes, as in the header. */
  fragOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  src: number;
  dst: number;
  optionsOffset: number;
  optionsLength: number;
  payloadOffset: number;
  /** totalLength - headerLen (for a quoted header this may exceed what is present). */
  payloadLength: number;
}

export interface Ipv4DecodeOptions {
  /** Default true. The engine may skip it when the NIC already verified. */
  verifyChecksum?: boolean;
  /**
   * For a header quoted inside an ICMP error: only the header and a few bytes
   * follow it, so total length is not checked against the bytes present.
   */
  quoted?: boolean;
}

/** Allocation-free validity check; undefined when the header is valid. */
export function validateIpv4(
  buf: Uint8Array, off = 0, len = buf.length - off, opts?: Ipv4DecodeOptions,
): Ipv4Invalid | undefined {
  if (len < IPV4_HLEN) return 'truncated';
  const vihl = buf[off]!;
  if (vihl >>> 4 !== 4) return 'bad-version';
  const hlen = (vihl & 0x0f) * 4;
  if (hlen < IPV4_HLEN) return 'bad-ihl';
  if (hlen > len) return 'truncated';
  const tot = readU16(buf, off + 2);
  if (!opts?.quoted && tot > len) return 'truncated';
  if (tot < hlen) return 'bad-total-length';
  if ((opts?.verifyChecksum ?? true) && csumFold(csumPartial(buf, off, hlen)) !== 0) return 'bad-checksum';
  return undefined;
}

export function decodeIpv4(
  buf: Uint8Array, off = 0, len = buf.length - off, opts?: Ipv4DecodeOptions,
): DecodeResult<Ipv4Header, Ipv4Invalid> {
  const bad = validateIpv4(buf, off, len, opts);
  if (bad !== undefined) return fail(bad);
  const ihl = buf[off]! & 0x0f;
  const headerLen = ihl * 4;
  const totalLength = readU16(buf, off + 2);
  const frag = readU16(buf, off + 6);
  return ok({
    offset: off,
    version: 4,
    ihl,
    headerLen,
    tos: buf[off + 1]!,
    totalLength,
    id: readU16(buf, off + 4),
    df: (frag & IP_DF) !== 0,
    mf: (frag & IP_MF) !== 0,
    fragOffset: frag & IP_OFFMASK,
    ttl: buf[off + 8]!,
    protocol: buf[off + 9]!,
    checksum: readU16(buf, off + 10),
    src: readIp(buf, off + 12),
    dst: readIp(buf, off + 16),
    optionsOffset: off + IPV4_HLEN,
    optionsLength: headerLen - IPV4_HLEN,
    payloadOffset: off + headerLen,
    payloadLength: totalLength - headerLen,
  });
}

export function isFragment(h: Pick<Ipv4Header, 'mf' | 'fragOffset'>): boolean {
  return h.mf || h.fragOffset !== 0;
}

export interface Ipv4Fields {
  src: IpLike;
  dst: IpLike;
  protocol: number;
  /** Default 64. */
  ttl?: number;
  /** Default 0. */
  id?: number;
  df?: boolean;
  mf?: boolean;
  /** In units of 8 bytes. */
  fragOffset?: number;
  tos?: number;
  /** Raw option bytes; padded with End-of-Option-List to a multiple of 4. */
  options?: Uint8Array;
  /** Overrides for building deliberately broken packets in tests. */
  totalLength?: number;
  checksum?: number;
  version?: number;
  ihl?: number;
}

export function ipv4HeaderLen(options?: Uint8Array): number {
  const olen = options ? (options.length + 3) & ~3 : 0;
  if (olen > IPV4_MAX_OPTIONS) throw new RangeError(`IPv4 options must fit in 40 bytes, got ${options!.length}`);
  return IPV4_HLEN + olen;
}

/** Recomputes the header checksum in place (e.g. after a TTL or address rewrite). */
export function setIpv4Checksum(buf: Uint8Array, off: number): number {
  const hlen = (buf[off]! & 0x0f) * 4;
  buf[off + 10] = 0;
  buf[off + 11] = 0;
  const c = csumFold(csumPartial(buf, off, hlen));
  writeU16(buf, off + 10, c);
  return c;
}

/** Writes a header for `payloadLength` bytes of payload at `off`; returns the header length. */
export function writeIpv4Header(buf: Uint8Array, off: number, f: Ipv4Fields, payloadLength: number): number {
  const hlen = ipv4HeaderLen(f.options);
  const fragOffset = f.fragOffset ?? 0;
  if (!Number.isInteger(fragOffset) || fragOffset < 0 || fragOffset > IP_OFFMASK) {
    throw new RangeError(`fragOffset must be 0..8191 (units of 8 bytes), got ${fragOffset}`);
  }
  const tot = f.totalLength ?? hlen + payloadLength;
  checkU16('IPv4 total length', tot);
  buf[off] = ((f.version ?? 4) << 4) | (f.ihl ?? hlen / 4);
  buf[off + 1] = checkU8('tos', f.tos ?? 0);
  writeU16(buf, off + 2, tot);
  writeU16(buf, off + 4, checkU16('id', f.id ?? 0));
  writeU16(buf, off + 6, (f.df ? IP_DF : 0) | (f.mf ? IP_MF : 0) | fragOffset);
  buf[off + 8] = checkU8('ttl', f.ttl ?? 64);
  buf[off + 9] = checkU8('protocol', f.protocol);
  writeIp(buf, off + 12, toIpU32(f.src));
  writeIp(buf, off + 16, toIpU32(f.dst));
  if (f.options) {
    buf.set(f.options, off + IPV4_HLEN);
    buf.fill(0, off + IPV4_HLEN + f.options.length, off + hlen);
  }
  if (f.checksum !== undefined) writeU16(buf, off + 10, checkU16('checksum', f.checksum));
  else setIpv4Checksum(buf, off);
  return hlen;
}

/** A whole IPv4 packet: header followed by `payload`. */
export function buildIpv4(f: Ipv4Fields & { payload?: Uint8Array | string }): Uint8Array {
  const payload = toBytes(f.payload);
  const hlen = ipv4HeaderLen(f.options);
  const buf = new Uint8Array(hlen + payload.length);
  writeIpv4Header(buf, 0, f, payload.length);
  buf.set(payload, hlen);
  return buf;
}

/** Option helpers for tests and tools (RFC 791 type octets). */
export const IPOPT_EOL = 0;
export const IPOPT_NOP = 1;
export const IPOPT_RR = 7;
export const IPOPT_TS = 68;
export const IPOPT_RA = 148;

/** Router Alert (RFC 2113), 4 bytes: what IGMP and some VRRP stacks put in. */
export function routerAlertOption(): Uint8Array {
  return Uint8Array.of(IPOPT_RA, 4, 0, 0);
}

/** An empty Record Route option with room for `slots` addresses. */
export function recordRouteOption(slots: number): Uint8Array {
  if (!Number.isInteger(slots) || slots < 1 || slots > 9) throw new RangeError(`record route slots must be 1..9, got ${slots}`);
  const o = new Uint8Array(3 + 4 * slots);
  o[0] = IPOPT_RR;
  o[1] = o.length;
  o[2] = 4; // pointer: first free slot, 1-based from the option start
  return o;
}

/**
 * Options a non-first fragment carries: those with the copied flag (RFC 791
 * §3.1), padded to 4 bytes. Malformed options end the walk.
 */
export function copiedOptions(buf: Uint8Array, optOff: number, optLen: number): Uint8Array {
  const out: number[] = [];
  const end = optOff + optLen;
  let p = optOff;
  while (p < end) {
    const t = buf[p]!;
    if (t === IPOPT_EOL) break;
    if (t === IPOPT_NOP) { p++; continue; }
    if (p + 1 >= end) break;
    const l = buf[p + 1]!;
    if (l < 2 || p + l > end) break;
    if (t & 0x80) for (let i = 0; i < l; i++) out.push(buf[p + i]!);
    p += l;
  }
  return Uint8Array.from(out);
}

/**
 * Splits an IPv4 packet into fragments of at most `mtu` bytes, as a router
 * does for a packet without DF. A packet that fits is returned as is.
 * Throws when DF is set (the answer is an ICMP frag-needed, not fragments).
 */
export function fragmentIpv4(packet: Uint8Array, mtu: number): Uint8Array[] {
  const r = decodeIpv4(packet, 0, packet.length);
  if (!r.ok) throw new RangeError(`cannot fragment an invalid IPv4 packet (${r.reason})`);
  const h = r.value;
  if (h.totalLength <= mtu) return [packet.subarray(0, h.totalLength)];
  if (h.df) throw new RangeError('cannot fragment a packet with DF set; send ICMP fragmentation-needed');
  const firstOpts = packet.subarray(h.optionsOffset, h.optionsOffset + h.optionsLength);
  const laterOpts = copiedOptions(packet, h.optionsOffset, h.optionsLength);
  const payload = packet.subarray(h.payloadOffset, h.offset + h.totalLength);
  const frags: Uint8Array[] = [];
  let pos = 0;
  while (pos < payload.length) {
    const opts = pos === 0 ? firstOpts : laterOpts;
    const hlen = ipv4HeaderLen(opts);
    const room = (mtu - hlen) & ~7;
    if (room <= 0) throw new RangeError(`MTU ${mtu} leaves no room for fragment data`);
    const take = Math.min(room, payload.length - pos);
    const last = pos + take >= payload.length;
    frags.push(buildIpv4({
      src: h.src, dst: h.dst, protocol: h.protocol, ttl: h.ttl, id: h.id, tos: h.tos,
      mf: !last || h.mf, fragOffset: h.fragOffset + pos / 8, options: opts.length ? opts : undefined,
      payload: payload.subarray(pos, pos + take),
    }));
    pos += take;
  }
  return frags;
}
