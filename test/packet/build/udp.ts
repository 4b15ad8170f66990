// UDP header codec. A zero checksum field means "none" (RFC 768), so a
// computed zero is sent as 0xffff, and a rewrite must leave a zero field alone.
import { type IpLike, toIpU32, toBytes, readU16, writeU16, checkU16 } from '../../../src/packet/input.js';
import { type DecodeResult, ok, fail } from '../../../src/packet/result.js';
import { l4Checksum, l4ChecksumOk } from './l4csum.js';
import { IPPROTO_UDP } from '../../../src/packet/ipv4.js';

export const UDP_HLEN = 8;

export type UdpInvalid = 'truncated' | 'bad-length';

export interface UdpHeader {
  offset: number;
  srcPort: number;
  dstPort: number;
  /** The length field (header + payload). */
  length: number;
  checksum: number;
  payloadOffset: number;
  payloadLength: number;
}

/** `len` is the bytes available (IP payload length); the length field must fit in it. */
export function decodeUdp(buf: Uint8Array, off: number, len = buf.length - off): DecodeResult<UdpHeader, UdpInvalid> {
  if (len < UDP_HLEN) return fail('truncated');
  const length = readU16(buf, off + 4);
  if (length < UDP_HLEN) return fail('bad-length');
  if (length > len) return fail('truncated');
  return ok({
    offset: off,
    srcPort: readU16(buf, off),
    dstPort: readU16(buf, off + 2),
    length,
    checksum: readU16(buf, off + 6),
    payloadOffset: off + UDP_HLEN,
    payloadLength: length - UDP_HLEN,
  });
}

/** The value to put in the field: never 0 (a computed 0 is sent as 0xffff). */
export function udpChecksum(buf: Uint8Array, off: number, len: number, src: number, dst: number): number {
  const c = l4Checksum(buf, off, len, 6, src, dst, IPPROTO_UDP);
  return c === 0 ? 0xffff : c;
}

/** True for a correct checksum or for none (field 0). */
export function verifyUdpChecksum(buf: Uint8Array, off: number, len: number, src: number, dst: number): boolean {
  if (readU16(buf, off + 6) === 0) return true;
  return l4ChecksumOk(buf, off, len, src, dst, IPPROTO_UDP);
}

export function setUdpChecksum(buf: Uint8Array, off: number, len: number, src: number, dst: number): number {
  const c = udpChecksum(buf, off, len, src, dst);
  writeU16(buf, off + 6, c);
  return c;
}

export interface UdpFields {
  srcPort: number;
  dstPort: number;
  /** true (default): compute; false: send 0 (no checksum); a number: write as is. */
  checksum?: boolean | number;
  /** Override of the length field, for broken datagrams in tests. */
  length?: number;
}

/** Writes the header at `off`; the payload must already follow it. Returns 8. */
export function writeUdpHeader(
  buf: Uint8Array, off: number, f: UdpFields, src: IpLike, dst: IpLike, payloadLength: number,
): number {
  writeU16(buf, off, checkU16('srcPort', f.srcPort));
  writeU16(buf, off + 2, checkU16('dstPort', f.dstPort));
  const len = UDP_HLEN + payloadLength;
  writeU16(buf, off + 4, checkU16('UDP length', f.length ?? len));
  const c = f.checksum ?? true;
  if (c === true) setUdpChecksum(buf, off, len, toIpU32(src), toIpU32(dst));
  else writeU16(buf, off + 6, c === false ? 0 : checkU16('checksum', c));
  return UDP_HLEN;
}

export function buildUdp(f: UdpFields & { payload?: Uint8Array | string }, src: IpLike, dst: IpLike): Uint8Array {
  const payload = toBytes(f.payload);
  const buf = new Uint8Array(UDP_HLEN + payload.length);
  buf.set(payload, UDP_HLEN);
  writeUdpHeader(buf, 0, f, src, dst, payload.length);
  return buf;
}
