// Builders accept addresses in whatever form a test or tool has at hand;
// decoders always return u32 (IPv4) and Uint8Array views (MAC).
import { ipToU32, parseMac, readIp } from './addr.js';

/** Dotted quad, u32 in host order, or 4 bytes in network order. */
export type IpLike = string | number | Uint8Array;
/** "02:00:00:00:00:01", or 6 bytes. */
export type MacLike = string | Uint8Array;

export function toIpU32(ip: IpLike): number {
  if (typeof ip === 'string') return ipToU32(ip);
  if (typeof ip === 'number') {
    if (!Number.isInteger(ip) || ip < -0x80000000 || ip > 0xffffffff) {
      throw new RangeError(`not an IPv4 address (u32): ${ip}`);
    }
    return ip >>> 0;
  }
  if (ip.length !== 4) throw new RangeError(`IPv4 address must be 4 bytes, got ${ip.length}`);
  return readIp(ip, 0);
}

export function toMac(mac: MacLike): Uint8Array {
  if (typeof mac === 'string') return parseMac(mac);
  if (mac.length !== 6) throw new RangeError(`MAC address must be 6 bytes, got ${mac.length}`);
  return mac;
}

export function toBytes(data: Uint8Array | string | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  if (typeof data === 'string') return new TextEncoder().encode(data);
  return data;
}

export function checkU16(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${name} must be 0..65535, got ${v}`);
  return v;
}

export function checkU8(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`${name} must be 0..255, got ${v}`);
  return v;
}

export function checkU32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${name} must be 0..2^32-1, got ${v}`);
  return v;
}

export function readU16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}

export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}
