// IP-in-IP (RFC 2003), IPVS's tunnel method: the outer header goes from the
// director to the real server, which decapsulates and answers the client
// directly. As ip_vs_tunnel_xmit() does, TOS, TTL and DF come from the inner
// packet unless told otherwise, so path MTU discovery keeps working.
import { type IpLike } from '../../../src/packet/input.js';
import { type DecodeResult, ok, fail } from '../../../src/packet/result.js';
import { type Ipv4Header, type Ipv4Invalid, IPV4_HLEN, IPPROTO_IPIP, IP_DF, decodeIpv4, writeIpv4Header } from '../../../src/packet/ipv4.js';

/** Bytes the outer header adds; a tunnel's MTU is the link MTU minus this. */
export const IPIP_OVERHEAD = IPV4_HLEN;

export interface IpipFields {
  /** Outer source: the director's address. */
  src: IpLike;
  /** Outer destination: the real server's address. */
  dst: IpLike;
  /** Default: the inner packet's TTL. */
  ttl?: number;
  /** Default: the inner packet's TOS. */
  tos?: number;
  /** Default: the inner packet's DF. */
  df?: boolean;
  id?: number;
}

/**
 * Writes the outer header at `off` for an inner IPv4 packet already at
 * off + 20 (`innerLen` bytes) — e.g. into a TX buffer with headroom.
 * Returns the outer packet's length.
 */
export function writeIpipHeader(buf: Uint8Array, off: number, innerLen: number, f: IpipFields): number {
  const inner = off + IPV4_HLEN;
  const innerDf = ((buf[inner + 6]! << 8) & IP_DF) !== 0;
  writeIpv4Header(buf, off, {
    src: f.src, dst: f.dst, protocol: IPPROTO_IPIP,
    ttl: f.ttl ?? buf[inner + 8]!, tos: f.tos ?? buf[inner + 1]!, df: f.df ?? innerDf, id: f.id ?? 0,
  }, innerLen);
  return IPV4_HLEN + innerLen;
}

/** A new buffer: outer header + a copy of `inner` (an IPv4 packet). */
export function encapsulateIpip(inner: Uint8Array, f: IpipFields): Uint8Array {
  const buf = new Uint8Array(IPV4_HLEN + inner.length);
  buf.set(inner, IPV4_HLEN);
  writeIpipHeader(buf, 0, inner.length, f);
  return buf;
}

export type IpipInvalid = `outer-${Ipv4Invalid}` | 'not-ipip' | 'outer-fragment' | `inner-${Ipv4Invalid}`;

export interface IpipDecap {
  outer: Ipv4Header;
  inner: Ipv4Header;
  /** The inner packet: offset and its total length. */
  innerOffset: number;
  innerLength: number;
}

/** Validates both headers; the inner packet is left in place (a view, no copy). */
export function decapsulateIpip(buf: Uint8Array, off = 0, len = buf.length - off): DecodeResult<IpipDecap, IpipInvalid> {
  const o = decodeIpv4(buf, off, len);
  if (!o.ok) return fail(`outer-${o.reason}`);
  const outer = o.value;
  if (outer.protocol !== IPPROTO_IPIP) return fail('not-ipip');
  // Reassembly is the kernel's business; a fragmented tunnel packet is not decapsulated here.
  if (outer.mf || outer.fragOffset !== 0) return fail('outer-fragment');
  const i = decodeIpv4(buf, outer.payloadOffset, outer.payloadLength);
  if (!i.ok) return fail(`inner-${i.reason}`);
  return ok({ outer, inner: i.value, innerOffset: outer.payloadOffset, innerLength: i.value.totalLength });
}
