// TCP header codec. Only what a load balancer reads or rewrites: ports,
// flags (for connection state), sequence numbers and options (MSS clamping).
import { type IpLike, toIpU32, toBytes, readU16, writeU16, readU32, writeU32, checkU16, checkU32 } from '../../../src/packet/input.js';
import { type DecodeResult, ok, fail } from '../../../src/packet/result.js';
import { l4Checksum, l4ChecksumOk } from './l4csum.js';
import { IPPROTO_TCP } from '../../../src/packet/ipv4.js';

export const TCP_HLEN = 20;
export const TCP_MAX_OPTIONS = 40;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_PERM = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;

export type TcpInvalid = 'truncated' | 'bad-doff';

export interface TcpHeader {
  offset: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** Data offset in 32-bit words. */
  dataOffset: number;
  headerLen: number;
  flags: number;
  window: number;
  checksum: number;
  urgent: number;
  optionsOffset: number;
  optionsLength: number;
  payloadOffset: number;
  payloadLength: number;
}

/** `len` is the segment length (IP payload length), not the buffer's. */
export function decodeTcp(buf: Uint8Array, off: number, len = buf.length - off): DecodeResult<TcpHeader, TcpInvalid> {
  if (len < TCP_HLEN) return fail('truncated');
  const dataOffset = buf[off + 12]! >>> 4;
  if (dataOffset < 5) return fail('bad-doff');
  const headerLen = dataOffset * 4;
  if (headerLen > len) return fail('bad-doff');
  return ok({
    offset: off,
    srcPort: readU16(buf, off),
    dstPort: readU16(buf, off + 2),
    seq: readU32(buf, off + 4),
    ack: readU32(buf, off + 8),
    dataOffset,
    headerLen,
    // The NS bit (low bit of byte 12) is historic (RFC 8311); not a flag here.
    flags: buf[off + 13]!,
    window: readU16(buf, off + 14),
    checksum: readU16(buf, off + 16),
    urgent: readU16(buf, off + 18),
    optionsOffset: off + TCP_HLEN,
    optionsLength: headerLen - TCP_HLEN,
    payloadOffset: off + headerLen,
    payloadLength: len - headerLen,
  });
}

const FLAG_LETTERS: ReadonlyArray<[string, number]> = [
  ['F', TCP_FIN], ['S', TCP_SYN], ['R', TCP_RST], ['P', TCP_PSH],
  ['A', TCP_ACK], ['U', TCP_URG], ['E', TCP_ECE], ['C', TCP_CWR],
];

/** "SA" → SYN|ACK. Letters as tcpdump prints them, with A (or '.') for ACK and C for CWR. */
export function parseTcpFlags(s: string): number {
  let f = 0;
  for (const ch of s.toUpperCase()) {
    if (ch === '.') { f |= TCP_ACK; continue; }
    const e = FLAG_LETTERS.find(([l]) => l === ch);
    if (!e) throw new RangeError(`unknown TCP flag letter '${ch}' in "${s}" (use F S R P A U E C)`);
    f |= e[1];
  }
  return f;
}

export function tcpFlagsToString(flags: number): string {
  let s = '';
  for (const [l, bit] of FLAG_LETTERS) if (flags & bit) s += l;
  return s;
}

/** Checksum over pseudo-header + segment, with the segment's own field taken as zero. */
export function tcpChecksum(buf: Uint8Array, off: number, len: number, src: number, dst: number): number {
  return l4Checksum(buf, off, len, 16, src, dst, IPPROTO_TCP);
}

export function verifyTcpChecksum(buf: Uint8Array, off: number, len: number, src: number, dst: number): boolean {
  return l4ChecksumOk(buf, off, len, src, dst, IPPROTO_TCP);
}

export function setTcpChecksum(buf: Uint8Array, off: number, len: number, src: number, dst: number): number {
  const c = tcpChecksum(buf, off, len, src, dst);
  writeU16(buf, off + 16, c);
  return c;
}

export interface TcpOption {
  kind: number;
  /** Offset of the option's kind byte. */
  offset: number;
  /** Total option length including kind (and length) byte. */
  length: number;
}

/**
 * Walks the options of a decoded header. Stops at EOL; returns undefined when
 * an option's length byte is missing, < 2 or runs past the header.
 */
export function tcpOptions(buf: Uint8Array, h: Pick<TcpHeader, 'optionsOffset' | 'optionsLength'>): TcpOption[] | undefined {
  const out: TcpOption[] = [];
  const end = h.optionsOffset + h.optionsLength;
  let p = h.optionsOffset;
  while (p < end) {
    const kind = buf[p]!;
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) { out.push({ kind, offset: p, length: 1 }); p++; continue; }
    if (p + 1 >= end) return undefined;
    const l = buf[p + 1]!;
    if (l < 2 || p + l > end) return undefined;
    out.push({ kind, offset: p, length: l });
    p += l;
  }
  return out;
}

/** The MSS option's value, or undefined when absent or malformed. */
export function tcpMss(buf: Uint8Array, h: Pick<TcpHeader, 'optionsOffset' | 'optionsLength'>): number | undefined {
  const o = tcpOptions(buf, h)?.find((x) => x.kind === TCPOPT_MSS && x.length === 4);
  return o ? readU16(buf, o.offset + 2) : undefined;
}

export function mssOption(mss: number): Uint8Array {
  return Uint8Array.of(TCPOPT_MSS, 4, (checkU16('mss', mss) >>> 8) & 0xff, mss & 0xff);
}
export function wscaleOption(shift: number): Uint8Array {
  if (!Number.isInteger(shift) || shift < 0 || shift > 14) throw new RangeError(`window scale must be 0..14, got ${shift}`);
  return Uint8Array.of(TCPOPT_WSCALE, 3, shift);
}
export function sackPermOption(): Uint8Array {
  return Uint8Array.of(TCPOPT_SACK_PERM, 2);
}
export function timestampOption(tsval: number, tsecr: number): Uint8Array {
  const o = new Uint8Array(10);
  o[0] = TCPOPT_TIMESTAMP;
  o[1] = 10;
  writeU32(o, 2, checkU32('tsval', tsval));
  writeU32(o, 6, checkU32('tsecr', tsecr));
  return o;
}
export function nopOption(): Uint8Array {
  return Uint8Array.of(TCPOPT_NOP);
}
/** Concatenates options (pass to `options`; padding to 4 bytes is done by the builder). */
export function tcpOptionBytes(...opts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(opts.reduce((n, o) => n + o.length, 0));
  let p = 0;
  for (const o of opts) { out.set(o, p); p += o.length; }
  return out;
}

export interface TcpFields {
  srcPort: number;
  dstPort: number;
  /** Default 0. */
  seq?: number;
  /** Default 0. */
  ack?: number;
  /** Number, or letters as in parseTcpFlags ("S", "SA", "PA", "FA", "R"). Default SYN. */
  flags?: number | string;
  /** Default 65535. */
  window?: number;
  urgent?: number;
  /** Raw option bytes; padded with EOL to a multiple of 4. */
  options?: Uint8Array;
  /** Overrides for deliberately broken segments in tests. */
  checksum?: number;
  dataOffset?: number;
}

export function tcpHeaderLen(options?: Uint8Array): number {
  const olen = options ? (options.length + 3) & ~3 : 0;
  if (olen > TCP_MAX_OPTIONS) throw new RangeError(`TCP options must fit in 40 bytes, got ${options!.length}`);
  return TCP_HLEN + olen;
}

function flagsValue(flags: number | string | undefined): number {
  if (flags === undefined) return TCP_SYN;
  if (typeof flags === 'string') return parseTcpFlags(flags);
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) throw new RangeError(`TCP flags must be 0..255, got ${flags}`);
  return flags;
}

/**
 * Writes the header at `off`; the payload must already be at off + headerLen
 * (`payloadLength` bytes) since the checksum covers it. Returns the header length.
 */
export function writeTcpHeader(
  buf: Uint8Array, off: number, f: TcpFields, src: IpLike, dst: IpLike, payloadLength: number,
): number {
  const hlen = tcpHeaderLen(f.options);
  writeU16(buf, off, checkU16('srcPort', f.srcPort));
  writeU16(buf, off + 2, checkU16('dstPort', f.dstPort));
  writeU32(buf, off + 4, checkU32('seq', f.seq ?? 0));
  writeU32(buf, off + 8, checkU32('ack', f.ack ?? 0));
  buf[off + 12] = (f.dataOffset ?? hlen / 4) << 4;
  buf[off + 13] = flagsValue(f.flags);
  writeU16(buf, off + 14, checkU16('window', f.window ?? 65535));
  writeU16(buf, off + 18, checkU16('urgent', f.urgent ?? 0));
  if (f.options) {
    buf.set(f.options, off + TCP_HLEN);
    buf.fill(0, off + TCP_HLEN + f.options.length, off + hlen);
  }
  if (f.checksum !== undefined) writeU16(buf, off + 16, checkU16('checksum', f.checksum));
  else setTcpChecksum(buf, off, hlen + payloadLength, toIpU32(src), toIpU32(dst));
  return hlen;
}

/** A TCP segment (header + payload) with its checksum over the given addresses. */
export function buildTcp(f: TcpFields & { payload?: Uint8Array | string }, src: IpLike, dst: IpLike): Uint8Array {
  const payload = toBytes(f.payload);
  const hlen = tcpHeaderLen(f.options);
  const buf = new Uint8Array(hlen + payload.length);
  buf.set(payload, hlen);
  writeTcpHeader(buf, 0, f, src, dst, payload.length);
  return buf;
}
