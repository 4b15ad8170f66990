// IPv6 addresses as 16 bytes in network order, and the IPv6 pseudo-header
// sum (RFC 8200 §8.1) that VRRPv3 and ICMPv6 checksums cover. Strings appear
// only at the edges, as for IPv4 (addr.ts); what is compared on the wire
// (VRRP's equal-priority rule, the VIP list in an advert) is the bytes.

/** Parses an IPv6 address (RFC 4291 §2.2 text forms, embedded IPv4 allowed, no zone); throws RangeError. */
export function parseIpv6(s: string): Uint8Array {
  const bad = (): never => { throw new RangeError(`not an IPv6 address: ${s}`); };
  if (typeof s !== 'string' || s.length < 2 || s.length > 45) bad();
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) bad();
  const groups = (t: string, tailAllowsV4: boolean): number[] => {
    if (t === '') return [];
    const parts = t.split(':');
    const out: number[] = [];
    parts.forEach((p, i) => {
      if (tailAllowsV4 && i === parts.length - 1 && p.includes('.')) {
        const q = p.split('.');
        if (q.length !== 4 || q.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) bad();
        out.push((Number(q[0]) << 8) | Number(q[1]), (Number(q[2]) << 8) | Number(q[3]));
        return;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(p)) bad();
      out.push(parseInt(p, 16));
    });
    return out;
  };
  let words: number[];
  if (dbl < 0) {
    words = groups(s, true);
    if (words.length !== 8) bad();
  } else {
    const head = groups(s.slice(0, dbl), false);
    const tail = groups(s.slice(dbl + 2), true);
    // "::" stands for at least one zero group.
    if (head.length + tail.length > 7) bad();
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  const b = new Uint8Array(16);
  words.forEach((w, i) => { b[2 * i] = w >>> 8; b[2 * i + 1] = w & 0xff; });
  return b;
}

export function isIpv6(s: string): boolean {
  try { parseIpv6(s); return true; } catch { return false; }
}

/** RFC 5952 text: lower case, the longest run (≥ 2) of zero groups as "::", the first of equal runs. */
export function formatIpv6(b: Uint8Array, off = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!);
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

/** The canonical text of an IPv6 address given in any accepted form. */
export function canonicalIpv6(s: string): string {
  return formatIpv6(parseIpv6(s));
}

export function ipv6ToBigInt(b: Uint8Array, off = 0): bigint {
  let v = 0n;
  for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(b[off + i]!);
  return v;
}

export function bigIntToIpv6(v: bigint): Uint8Array {
  if (v < 0n || v >> 128n !== 0n) throw new RangeError(`not a 128-bit value: ${v}`);
  const b = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) { b[i] = Number(v & 0xffn); v >>= 8n; }
  return b;
}

export function equalIpv6(a: Uint8Array, b: Uint8Array, aOff = 0, bOff = 0): boolean {
  for (let i = 0; i < 16; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

/** fe80::/10 (IN6_IS_ADDR_LINKLOCAL). */
export function isLinkLocalIpv6(b: Uint8Array): boolean {
  return b[0] === 0xfe && (b[1]! & 0xc0) === 0x80;
}

/** ff00::/8 (IN6_IS_ADDR_MULTICAST). */
export function isMulticastIpv6(b: Uint8Array): boolean {
  return b[0] === 0xff;
}

/** A link-scope multicast address, ffX2::/16 (IN6_IS_ADDR_MC_LINKLOCAL). */
export function isLinkLocalMulticastIpv6(b: Uint8Array): boolean {
  return b[0] === 0xff && (b[1]! & 0x0f) === 0x02;
}

/** The Ethernet address an IPv6 multicast group maps to (RFC 2464 §7): 33:33 and the group's last 32 bits. */
export function ipv6MulticastMac(group: Uint8Array): Uint8Array {
  return Uint8Array.of(0x33, 0x33, group[12]!, group[13]!, group[14]!, group[15]!);
}

/**
 * The sum (not folded) of the IPv6 pseudo-header: source, destination, the
 * upper-layer packet length as 32 bits, and the next header value. Feed it to
 * csumPartial as the initial sum.
 */
export function pseudoHeaderSum6(src: Uint8Array, dst: Uint8Array, nextHeader: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < 16; i += 2) sum += ((src[i]! << 8) | src[i + 1]!) + ((dst[i]! << 8) | dst[i + 1]!);
  return sum + (len >>> 16) + (len & 0xffff) + nextHeader;
}

/** Bytes of an IPv6 address given as text or as 16 bytes. */
export function toIpv6Bytes(a: string | Uint8Array): Uint8Array {
  if (typeof a === 'string') return parseIpv6(a);
  if (a.length !== 16) throw new RangeError(`IPv6 address must be 16 bytes, got ${a.length}`);
  return a;
}

/** The fixed IPv6 header (RFC 8200 §3), without extension headers: what VRRP and neighbour discovery frames carry. */
export const IPV6_HLEN = 40;
export const ETHERTYPE_IPV6 = 0x86dd;
export const IPPROTO_ICMPV6 = 58;

export interface Ipv6HeaderFields {
  src: string | Uint8Array;
  dst: string | Uint8Array;
  nextHeader: number;
  payloadLength: number;
  hopLimit: number;
  /** Traffic class byte (DSCP << 2 | ECN). */
  trafficClass?: number;
  flowLabel?: number;
}

export function writeIpv6Header(buf: Uint8Array, off: number, f: Ipv6HeaderFields): number {
  const tc = f.trafficClass ?? 0;
  const fl = f.flowLabel ?? 0;
  buf[off] = 0x60 | (tc >>> 4);
  buf[off + 1] = ((tc & 0x0f) << 4) | ((fl >>> 16) & 0x0f);
  buf[off + 2] = (fl >>> 8) & 0xff;
  buf[off + 3] = fl & 0xff;
  buf[off + 4] = f.payloadLength >>> 8;
  buf[off + 5] = f.payloadLength & 0xff;
  buf[off + 6] = f.nextHeader;
  buf[off + 7] = f.hopLimit;
  buf.set(toIpv6Bytes(f.src), off + 8);
  buf.set(toIpv6Bytes(f.dst), off + 24);
  return IPV6_HLEN;
}

export interface Ipv6Header {
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  /** Views into the packet. */
  src: Uint8Array;
  dst: Uint8Array;
  payloadOffset: number;
}

/** The fixed header at `off`, or undefined when it is not one (too short, version not 6). */
export function readIpv6Header(buf: Uint8Array, off: number, len = buf.length - off): Ipv6Header | undefined {
  if (len < IPV6_HLEN || buf[off]! >>> 4 !== 6) return undefined;
  return {
    trafficClass: ((buf[off]! & 0x0f) << 4) | (buf[off + 1]! >>> 4),
    flowLabel: ((buf[off + 1]! & 0x0f) << 16) | (buf[off + 2]! << 8) | buf[off + 3]!,
    payloadLength: (buf[off + 4]! << 8) | buf[off + 5]!,
    nextHeader: buf[off + 6]!,
    hopLimit: buf[off + 7]!,
    src: buf.subarray(off + 8, off + 24),
    dst: buf.subarray(off + 24, off + 40),
    payloadOffset: off + IPV6_HLEN,
  };
}
