// IPv6 (RFC 8200): addresses in text form as glibc's inet_pton/inet_ntop
// read and write them (ipvsadm prints what inet_ntop gives), the fixed
// header, the walk over extension headers to the upper-layer header (as the
// kernel's ipv6_find_hdr, which IPVS uses), and the pseudo-header of
// upper-layer checksums (RFC 8200 8.1). The engine keeps an IPv6 address
// as four u32 words in host order (w[0] holds bytes 0-3).
import { csumPartial, csumFold } from './checksum.js';
import { readU16, writeU16 } from './input.js';
import { type DecodeResult, ok, fail } from './result.js';

export const ETHERTYPE_IPV6 = 0x86dd;
export const IPV6_HLEN = 40;
/** Every IPv6 link carries at least this (RFC 8200 5); ICMPv6 errors never exceed it. */
export const IPV6_MIN_MTU = 1280;

export const NEXTHDR_HOP = 0;
export const NEXTHDR_TCP = 6;
export const NEXTHDR_UDP = 17;
export const NEXTHDR_IPV6 = 41;
export const NEXTHDR_ROUTING = 43;
export const NEXTHDR_FRAGMENT = 44;
export const NEXTHDR_ESP = 50;
export const NEXTHDR_AUTH = 51;
export const NEXTHDR_ICMP = 58;
export const NEXTHDR_NONE = 59;
export const NEXTHDR_DEST = 60;

// ---------------------------------------------------------------- addresses

/** inet_pton(AF_INET6): 16 bytes, or null (no zone ids, as inet_pton). */
export function parseIpv6(s: string): Uint8Array | null {
  if (s.length < 2 || s.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(s)) return null;
  const out = new Uint8Array(16);
  let body = s;
  let tail: number[] = [];
  const lastColon = body.lastIndexOf(':');
  if (lastColon < 0) return null;
  const last = body.slice(lastColon + 1);
  if (last.includes('.')) {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(last);
    if (!m) return null;
    const q = m.slice(1).map(Number);
    // glibc's inet_pton4 takes no leading zeros and no part above 255.
    if (q.some((x) => x > 255) || m.slice(1).some((p) => p.length > 1 && p.startsWith('0'))) return null;
    tail = [(q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!];
    body = body.slice(0, lastColon + 1);
    // "::1.2.3.4" leaves "::", "a::1.2.3.4" leaves "a::", "a:b:c:d:e:f:1.2.3.4" leaves "a:...:f:".
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1);
  }
  const halves = body.split('::');
  if (halves.length > 2) return null;
  const groups = (x: string): number[] | null => {
    if (x === '') return [];
    const g = x.split(':');
    if (!g.every((h) => /^[0-9A-Fa-f]{1,4}$/.test(h))) return null;
    return g.map((h) => parseInt(h, 16));
  };
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === null || rest === null) return null;
  const words = halves.length === 2 ? [...head, ...rest, ...tail] : [...head, ...tail];
  if (halves.length === 2) {
    if (words.length > 7) return null;
    const zeros = 8 - words.length;
    const all = [...head, ...new Array<number>(zeros).fill(0), ...rest, ...tail];
    for (let i = 0; i < 8; i++) writeU16(out, i * 2, all[i]!);
  } else {
    if (words.length !== 8) return null;
    for (let i = 0; i < 8; i++) writeU16(out, i * 2, words[i]!);
  }
  return out;
}

export function isIpv6(s: string): boolean {
  return parseIpv6(s) !== null;
}

/** inet_ntop(AF_INET6) exactly as glibc writes it (the longest zero run of 2+ groups as "::", first on a tie; ::ffff:a.b.c.d and ::a.b.c.d). */
export function formatIpv6(b: Uint8Array, off = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(readU16(b, off + i * 2));
  let bestBase = -1, bestLen = 0, curBase = -1, curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      if (curBase === -1) { curBase = i; curLen = 1; } else curLen++;
    } else if (curBase !== -1) {
      if (bestBase === -1 || curLen > bestLen) { bestBase = curBase; bestLen = curLen; }
      curBase = -1;
    }
  }
  if (curBase !== -1 && (bestBase === -1 || curLen > bestLen)) { bestBase = curBase; bestLen = curLen; }
  if (bestBase !== -1 && bestLen < 2) bestBase = -1;
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) s += ':';
      continue;
    }
    if (i !== 0) s += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      s += `${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
      return s;
    }
    s += w[i]!.toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) s += ':';
  return s;
}

/** The text form ipvsadm would print for an address, or null when it is not IPv6. */
export function canonicalIpv6(s: string): string | null {
  const b = parseIpv6(s);
  return b === null ? null : formatIpv6(b);
}

/** Four host-order words of the address at b[off, off+16), into `out`. */
export function readIp6Words(b: Uint8Array, off: number, out: Uint32Array, o = 0): void {
  for (let k = 0; k < 4; k++) {
    const p = off + k * 4;
    out[o + k] = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }
}

export function writeIp6Words(b: Uint8Array, off: number, w: Uint32Array, o = 0): void {
  for (let k = 0; k < 4; k++) {
    const v = w[o + k]!;
    const p = off + k * 4;
    b[p] = v >>> 24; b[p + 1] = (v >>> 16) & 255; b[p + 2] = (v >>> 8) & 255; b[p + 3] = v & 255;
  }
}

export function ip6Words(s: string): Uint32Array {
  const b = parseIpv6(s);
  if (b === null) throw new RangeError(`not an IPv6 address: ${s}`);
  const w = new Uint32Array(4);
  readIp6Words(b, 0, w);
  return w;
}

export function wordsToIpv6(w: Uint32Array, o = 0): string {
  const b = new Uint8Array(16);
  writeIp6Words(b, 0, w, o);
  return formatIpv6(b);
}

/**
 * The kernel's IPv6 address fold (ip_vs_sh_hashkey, ip_vs_dh_hashkey,
 * ip_vs_mh_hashkey, ip_vs_lblc_hashkey …): the four words xored, read in
 * host order. The hashing schedulers take it where they take an IPv4 address.
 */
export function fold6(w: Uint32Array, o = 0): number {
  return (w[o]! ^ w[o + 1]! ^ w[o + 2]! ^ w[o + 3]!) >>> 0;
}

/** The address with only its first `prefix` bits kept (IPv6 -M persistence granularity). */
export function maskWords6(src: Uint32Array, so: number, prefix: number, dst: Uint32Array, d = 0): void {
  for (let k = 0; k < 4; k++) {
    const bits = prefix - k * 32;
    const m = bits >= 32 ? 0xffffffff : bits <= 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    dst[d + k] = (src[so + k]! & m) >>> 0;
  }
}

/** Unspecified (::), loopback (::1), multicast (ff00::/8) or IPv4-mapped (::ffff:0:0/96): never a client on the wire (ipv6_rcv, RFC 4291 2.5.5.2). */
export function badSource6(b: Uint8Array, off: number): boolean {
  if (b[off] === 0xff) return true;
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  if (b[off + 10] === 0xff && b[off + 11] === 0xff) return true;
  if (b[off + 10] !== 0 || b[off + 11] !== 0 || b[off + 12] !== 0 || b[off + 13] !== 0 || b[off + 14] !== 0) return false;
  return b[off + 15]! <= 1;
}

// ---------------------------------------------------------------- header

export interface Ipv6Header {
  offset: number;
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: string;
  dst: string;
  /** The upper-layer header after any extension headers, or undefined (fragment, ESP, none). */
  upperProtocol?: number;
  upperOffset?: number;
}

export type Ipv6Invalid = 'truncated' | 'bad-version' | 'bad-extension';

export interface Ipv6Fields {
  src: string | Uint8Array;
  dst: string | Uint8Array;
  nextHeader: number;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
}

function addrBytes(a: string | Uint8Array): Uint8Array {
  if (typeof a !== 'string') {
    if (a.length !== 16) throw new RangeError(`IPv6 address must be 16 bytes, got ${a.length}`);
    return a;
  }
  const b = parseIpv6(a);
  if (b === null) throw new RangeError(`not an IPv6 address: ${a}`);
  return b;
}

/** Writes the fixed header at buf[off, off+40) for a payload of `payloadLength` bytes. */
export function writeIpv6Header(buf: Uint8Array, off: number, f: Ipv6Fields, payloadLength: number): void {
  const tc = f.trafficClass ?? 0;
  const fl = f.flowLabel ?? 0;
  buf[off] = 0x60 | (tc >>> 4);
  buf[off + 1] = ((tc & 0x0f) << 4) | ((fl >>> 16) & 0x0f);
  writeU16(buf, off + 2, fl & 0xffff);
  writeU16(buf, off + 4, payloadLength);
  buf[off + 6] = f.nextHeader;
  buf[off + 7] = f.hopLimit ?? 64;
  buf.set(addrBytes(f.src), off + 8);
  buf.set(addrBytes(f.dst), off + 24);
}

export function decodeIpv6(buf: Uint8Array, off = 0, len = buf.length - off): DecodeResult<Ipv6Header, Ipv6Invalid> {
  if (len < IPV6_HLEN) return fail('truncated');
  if (buf[off]! >>> 4 !== 6) return fail('bad-version');
  const payloadLength = readU16(buf, off + 4);
  if (IPV6_HLEN + payloadLength > len) return fail('truncated');
  const h: Ipv6Header = {
    offset: off,
    trafficClass: ((buf[off]! & 0x0f) << 4) | (buf[off + 1]! >>> 4),
    flowLabel: ((buf[off + 1]! & 0x0f) << 16) | readU16(buf, off + 2),
    payloadLength,
    nextHeader: buf[off + 6]!,
    hopLimit: buf[off + 7]!,
    src: formatIpv6(buf, off + 8),
    dst: formatIpv6(buf, off + 24),
  };
  const r = ipv6Upper(buf, off, off + IPV6_HLEN + payloadLength);
  if (r === EXT_TRUNCATED) return fail('truncated');
  if (r === EXT_BAD) return fail('bad-extension');
  if (r >= 0) { h.upperProtocol = r & 0xff; h.upperOffset = off + (r >>> 8); }
  return ok(h);
}

// ---------------------------------------------------------------- extension headers

/** ipv6Upper(): the packet ran out inside a header. */
export const EXT_TRUNCATED = -1;
/** A Fragment header: IPVS sees reassembled packets; lvsd does not reassemble. */
export const EXT_FRAGMENT = -2;
/** A Routing header with segments left: the packet is not for this node yet (RFC 8200 4.4). */
export const EXT_ROUTING = -3;
/** A Hop-by-Hop header not first, or more extension headers than any sane packet carries. */
export const EXT_BAD = -4;
const MAX_EXT_HEADERS = 16;

/**
 * The upper-layer header of the IPv6 packet at buf[l3, end): skips
 * Hop-by-Hop, Destination Options, Routing (with no segments left) and AH,
 * as ipv6_find_hdr does. Returns ((offset from l3) << 8) | protocol, where
 * protocol is the first next-header value that is not one of those (TCP,
 * UDP, ICMPv6, ESP, No Next Header, …), or a negative EXT_* code. Allocates
 * nothing: the engine calls it per packet.
 */
export function ipv6Upper(buf: Uint8Array, l3: number, end: number): number {
  let nh = buf[l3 + 6]!;
  let p = l3 + IPV6_HLEN;
  for (let n = 0; ; n++) {
    switch (nh) {
      case NEXTHDR_HOP: case NEXTHDR_DEST: case NEXTHDR_ROUTING: case NEXTHDR_AUTH: {
        if (nh === NEXTHDR_HOP && n !== 0) return EXT_BAD;
        if (n >= MAX_EXT_HEADERS) return EXT_BAD;
        if (p + 8 > end) return EXT_TRUNCATED;
        if (nh === NEXTHDR_ROUTING && buf[p + 3] !== 0) return EXT_ROUTING;
        const hlen = nh === NEXTHDR_AUTH ? (buf[p + 1]! + 2) << 2 : (buf[p + 1]! + 1) << 3;
        if (p + hlen > end) return EXT_TRUNCATED;
        nh = buf[p]!;
        p += hlen;
        break;
      }
      case NEXTHDR_FRAGMENT:
        if (p + 8 > end) return EXT_TRUNCATED;
        return EXT_FRAGMENT;
      default:
        return ((p - l3) << 8) | nh;
    }
  }
}

// ---------------------------------------------------------------- checksums

/** Sum (unfolded) of the IPv6 pseudo-header (RFC 8200 8.1) for addresses at buf[saddr] and buf[daddr]. */
export function pseudoHeaderSum6(buf: Uint8Array, saddr: number, daddr: number, protocol: number, upperLen: number): number {
  return csumPartial(buf, saddr, 16, csumPartial(buf, daddr, 16)) + (upperLen >>> 16) + (upperLen & 0xffff) + protocol;
}

/** The full upper-layer checksum of buf[l4, l4+len) over the IPv6 pseudo-header of the header at l3 (field zeroed by the caller, or verify: 0 = good). */
export function upperChecksum6(buf: Uint8Array, l3: number, l4: number, len: number, protocol: number): number {
  return csumFold(csumPartial(buf, l4, len, pseudoHeaderSum6(buf, l3 + 8, l3 + 24, protocol, len)));
}

/**
 * RFC 1624 update of a checksum for a 128-bit address changing from the one
 * at old[oo, oo+16) to the one at neu[no, no+16), and optionally a 16-bit
 * port from `oldPort` to `newPort` (pass equal values for none): one fold,
 * as ip_vs_check_diff16 + ip_vs_check_diff2 compute it.
 */
export function csumUpdate128(check: number, old: Uint8Array, oo: number, neu: Uint8Array, no: number, oldPort: number, newPort: number): number {
  let sum = (~check & 0xffff) + (~oldPort & 0xffff) + (newPort & 0xffff);
  for (let i = 0; i < 16; i += 2) {
    sum += (~((old[oo + i]! << 8) | old[oo + i + 1]!) & 0xffff) + ((neu[no + i]! << 8) | neu[no + i + 1]!);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
