// VRRP advertisements for IPv4: version 2 (RFC 3768) and version 3 (RFC 5798).
// v2's checksum covers the VRRP message only; v3's adds the IPv4
// pseudo-header, as keepalived sends by default. keepalived's
// vrrp_v3_checksum_as_v2 (for peers that got this wrong) leaves it out.
// AH authentication (v2 auth type 2) puts an IPsec header before the VRRP
// message and is not handled here.
//
// VRRPv3 over IPv6 (RFC 5798 §5.1.2, §5.2.8) is the same message with 16-byte
// addresses, no auth data, and the checksum over the IPv6 pseudo-header; it
// goes to ff02::12 from the interface's link-local address. VrrpFields with
// family 6 selects it in the builders; decodeVrrp6 reads it.
import { csumPartial, csumFold, pseudoHeaderSum } from './checksum.js';
import { ipToU32, readIp, writeIp } from './addr.js';
import { type IpLike, type MacLike, toIpU32, readU16, writeU16, checkU8, toBytes } from './input.js';
import { type DecodeResult, ok, fail } from './result.js';
import { type Ipv4Header, type Ipv4Invalid, IPPROTO_VRRP, decodeIpv4, buildIpv4 } from './ipv4.js';
import { type VlanSpec, ETHERTYPE_IPV4, ethernetHeaderLen, writeEthernet } from './ethernet.js';
import {
  ETHERTYPE_IPV6, IPV6_HLEN, type Ipv6Header, isMulticastIpv6, parseIpv6, pseudoHeaderSum6, readIpv6Header, toIpv6Bytes, writeIpv6Header,
} from './addr6.js';

export const VRRP_HLEN = 8;
export const VRRP_AUTH_DATA_LEN = 8;
export const VRRP_TYPE_ADVERTISEMENT = 1;
export const VRRP_AUTH_NONE = 0;
export const VRRP_AUTH_PASS = 1;
export const VRRP_AUTH_AH = 2;
/** RFC 3768/5798: a router discards adverts whose TTL is not 255. */
export const VRRP_TTL = 255;
export const VRRP_MCAST_ADDR = ipToU32('224.0.0.18');
export const VRRP_MCAST_MAC: Uint8Array = Uint8Array.of(0x01, 0x00, 0x5e, 0x00, 0x00, 0x12);
/** keepalived's default TOS for adverts (IPTOS_PREC_INTERNETCONTROL). */
export const VRRP_TOS = 0xc0;

/** The VRRP virtual MAC 00:00:5e:00:01:{vrid} (use_vmac). */
export function vrrpVirtualMac(vrid: number): Uint8Array {
  return Uint8Array.of(0x00, 0x00, 0x5e, 0x00, 0x01, checkU8('vrid', vrid));
}

export type VrrpInvalid = 'short' | 'bad-version' | 'bad-type' | 'bad-checksum' | 'count-mismatch';

export interface VrrpAdvert {
  version: 2 | 3;
  type: number;
  vrid: number;
  priority: number;
  /** Count of IPv4 addresses as the packet states it. */
  count: number;
  /** v2 only (0 for v3). */
  authType: number;
  /** v2: advertisement interval in seconds (0 for v3). */
  adverInt: number;
  /** v3: max advertisement interval in centiseconds, 12 bits (0 for v2). */
  maxAdverInt: number;
  checksum: number;
  addrs: number[];
  /** v2: the 8 auth data bytes (a view); empty for v3. */
  authData: Uint8Array;
}

export interface VrrpChecksumOptions {
  /** keepalived's vrrp_v3_checksum_as_v2: a v3 checksum without the pseudo-header. */
  v3ChecksumAsV2?: boolean;
  /**
   * The v3 pseudo-header's destination when it is not the packet's own:
   * keepalived's old_unicast_checksum (pre-1.3.6 peers) keeps the multicast
   * group (VRRP_MCAST_ADDR) there even when the advert goes to a unicast peer.
   */
  pseudoHeaderDst?: number;
}

function messageLength(version: number, count: number): number {
  return VRRP_HLEN + 4 * count + (version === 2 ? VRRP_AUTH_DATA_LEN : 0);
}

function initialSum(version: number, len: number, src: number | undefined, dst: number | undefined, opts: VrrpChecksumOptions | undefined): number {
  if (version === 2 || opts?.v3ChecksumAsV2) return 0;
  dst = opts?.pseudoHeaderDst ?? dst;
  if (src === undefined || dst === undefined) {
    throw new RangeError('a VRRPv3 checksum covers the IPv4 pseudo-header: pass src and dst');
  }
  return pseudoHeaderSum(src >>> 0, dst >>> 0, IPPROTO_VRRP, len);
}

/** The checksum field value for a VRRP message at `off` (its own field taken as zero). */
export function vrrpChecksum(
  buf: Uint8Array, off: number, len: number, src?: number, dst?: number, opts?: VrrpChecksumOptions,
): number {
  const version = buf[off]! >>> 4;
  let sum = initialSum(version, len, src, dst, opts);
  sum = csumPartial(buf, off, 6, sum);
  sum = csumPartial(buf, off + 8, len - 8, sum);
  return csumFold(sum);
}

/**
 * Decodes one VRRP message of exactly `len` bytes (the IP payload).
 * `src`/`dst` are the IPv4 addresses it arrived with, needed for a v3 checksum.
 */
export function decodeVrrp(
  buf: Uint8Array, off: number, len: number,
  ip?: { src: number; dst: number }, opts?: VrrpChecksumOptions,
): DecodeResult<VrrpAdvert, VrrpInvalid> {
  if (len < VRRP_HLEN) return fail('short');
  const version = buf[off]! >>> 4;
  if (version !== 2 && version !== 3) return fail('bad-version');
  const type = buf[off]! & 0x0f;
  if (type !== VRRP_TYPE_ADVERTISEMENT) return fail('bad-type');
  const count = buf[off + 3]!;
  if (len !== messageLength(version, count)) return fail('count-mismatch');
  const sum = initialSum(version, len, ip?.src, ip?.dst, opts);
  if (csumFold(csumPartial(buf, off, len, sum)) !== 0) return fail('bad-checksum');
  const addrs: number[] = [];
  for (let i = 0; i < count; i++) addrs.push(readIp(buf, off + VRRP_HLEN + 4 * i));
  const authOff = off + VRRP_HLEN + 4 * count;
  const w6 = readU16(buf, off + 4);
  return ok({
    version,
    type,
    vrid: buf[off + 1]!,
    priority: buf[off + 2]!,
    count,
    authType: version === 2 ? buf[off + 4]! : 0,
    adverInt: version === 2 ? buf[off + 5]! : 0,
    maxAdverInt: version === 3 ? w6 & 0x0fff : 0,
    checksum: readU16(buf, off + 6),
    addrs,
    authData: version === 2 ? buf.subarray(authOff, authOff + VRRP_AUTH_DATA_LEN) : buf.subarray(authOff, authOff),
  });
}

export type VrrpPacketInvalid = `ip-${Ipv4Invalid}` | 'not-vrrp' | 'bad-ttl' | VrrpInvalid;

export interface VrrpPacket {
  ip: Ipv4Header;
  vrrp: VrrpAdvert;
}

/**
 * Decodes an IPv4 packet carrying VRRP (what a raw IPPROTO_VRRP socket
 * receives), including RFC 3768 §7.1's TTL == 255 check.
 */
export function decodeVrrpPacket(
  buf: Uint8Array, off = 0, len = buf.length - off, opts?: VrrpChecksumOptions,
): DecodeResult<VrrpPacket, VrrpPacketInvalid> {
  const r = decodeIpv4(buf, off, len);
  if (!r.ok) return fail(`ip-${r.reason}`);
  const ip = r.value;
  if (ip.protocol !== IPPROTO_VRRP) return fail('not-vrrp');
  if (ip.ttl !== VRRP_TTL) return fail('bad-ttl');
  const v = decodeVrrp(buf, ip.payloadOffset, ip.payloadLength, ip, opts);
  if (!v.ok) return v;
  return ok({ ip, vrrp: v.value });
}

export interface VrrpFields {
  version: 2 | 3;
  /** 6: VRRPv3 over IPv6 (addrs are IPv6 text or 16 bytes; version must be 3). Default 4. */
  family?: 4 | 6;
  vrid: number;
  priority: number;
  addrs: IpLike[];
  /** Default 1 (advertisement). */
  type?: number;
  /** v2: seconds, default 1. */
  adverInt?: number;
  /** v2: default VRRP_AUTH_NONE, or VRRP_AUTH_PASS when authData is given. */
  authType?: number;
  /** v2: the password (auth_pass), at most 8 bytes, zero-padded. */
  authData?: Uint8Array | string;
  /** v3: centiseconds, 12 bits, default 100 (1 s). */
  maxAdverInt?: number;
  /** Overrides for broken adverts in tests. */
  count?: number;
  checksum?: number;
}

export function vrrpLength(f: Pick<VrrpFields, 'version' | 'addrs' | 'family'>): number {
  return f.family === 6 ? vrrp6Length(f.addrs.length) : messageLength(f.version, f.addrs.length);
}

/**
 * Writes a VRRP message at `off`; returns its length. `src`/`dst` are the
 * IPv4 addresses it will be sent with (v3 checksum).
 */
export function writeVrrp(
  buf: Uint8Array, off: number, f: VrrpFields, src?: IpLike, dst?: IpLike, opts?: VrrpChecksumOptions,
): number {
  if (f.family === 6) {
    if (f.version !== 3) throw new RangeError('VRRP over IPv6 is version 3 only (RFC 5798)');
    if (typeof src === 'number' || typeof dst === 'number') throw new RangeError('a VRRPv3/IPv6 checksum needs IPv6 src and dst');
    return writeVrrp6(buf, off, f, src, dst);
  }
  if (f.version !== 2 && f.version !== 3) throw new RangeError(`VRRP version must be 2 or 3, got ${f.version}`);
  const len = vrrpLength(f);
  buf[off] = (f.version << 4) | ((f.type ?? VRRP_TYPE_ADVERTISEMENT) & 0x0f);
  buf[off + 1] = checkU8('vrid', f.vrid);
  buf[off + 2] = checkU8('priority', f.priority);
  buf[off + 3] = checkU8('count', f.count ?? f.addrs.length);
  if (f.version === 2) {
    const auth = toBytes(f.authData);
    if (auth.length > VRRP_AUTH_DATA_LEN) throw new RangeError(`VRRPv2 auth data is at most 8 bytes, got ${auth.length}`);
    buf[off + 4] = checkU8('authType', f.authType ?? (f.authData !== undefined ? VRRP_AUTH_PASS : VRRP_AUTH_NONE));
    buf[off + 5] = checkU8('adverInt', f.adverInt ?? 1);
    const a = off + VRRP_HLEN + 4 * f.addrs.length;
    buf.fill(0, a, a + VRRP_AUTH_DATA_LEN);
    buf.set(auth, a);
  } else {
    const mai = f.maxAdverInt ?? 100;
    if (!Number.isInteger(mai) || mai < 0 || mai > 0xfff) throw new RangeError(`VRRPv3 max advert interval must be 0..4095 centiseconds, got ${mai}`);
    writeU16(buf, off + 4, mai);
  }
  f.addrs.forEach((a, i) => writeIp(buf, off + VRRP_HLEN + 4 * i, toIpU32(a)));
  writeU16(buf, off + 6, 0);
  const c = f.checksum ?? vrrpChecksum(buf, off, len,
    src === undefined ? undefined : toIpU32(src), dst === undefined ? undefined : toIpU32(dst), opts);
  writeU16(buf, off + 6, c);
  return len;
}

/** The VRRP message alone (the payload of a raw IPPROTO_VRRP socket send). */
export function buildVrrp(f: VrrpFields, src?: IpLike, dst?: IpLike, opts?: VrrpChecksumOptions): Uint8Array {
  const buf = new Uint8Array(vrrpLength(f));
  writeVrrp(buf, 0, f, src, dst, opts);
  return buf;
}

export interface VrrpIpFields extends VrrpChecksumOptions {
  /** The sender's primary address on the interface. */
  src: IpLike;
  /** Default 224.0.0.18; a peer's address for unicast. */
  dst?: IpLike;
  ttl?: number;
  id?: number;
  tos?: number;
}

/** An IPv4 packet with TTL 255 and TOS 0xc0 carrying one advert. */
export function buildVrrpPacket(f: VrrpFields, ipf: VrrpIpFields): Uint8Array {
  const dst = ipf.dst ?? VRRP_MCAST_ADDR;
  return buildIpv4({
    src: ipf.src, dst, protocol: IPPROTO_VRRP, ttl: ipf.ttl ?? VRRP_TTL, id: ipf.id ?? 0, tos: ipf.tos ?? VRRP_TOS,
    payload: buildVrrp(f, ipf.src, dst, ipf),
  });
}

/**
 * A whole frame. The destination MAC defaults to 01:00:5e:00:00:12 (only right
 * for the multicast group); the source MAC defaults to the virtual MAC.
 */
export function buildVrrpFrame(
  f: VrrpFields, ipf: VrrpIpFields & { srcMac?: MacLike; dstMac?: MacLike; vlan?: VlanSpec },
): Uint8Array {
  const pkt = buildVrrpPacket(f, ipf);
  const hlen = ethernetHeaderLen(ipf.vlan);
  const frame = new Uint8Array(hlen + pkt.length);
  writeEthernet(frame, 0, {
    dst: ipf.dstMac ?? VRRP_MCAST_MAC, src: ipf.srcMac ?? vrrpVirtualMac(f.vrid), ethertype: ETHERTYPE_IPV4, vlan: ipf.vlan,
  });
  frame.set(pkt, hlen);
  return frame;
}

/** The password in a v2 advert's auth data, as keepalived compares it (up to the first NUL). */
export function vrrpAuthPass(a: Pick<VrrpAdvert, 'authData'>): string {
  const end = a.authData.indexOf(0);
  return new TextDecoder().decode(end < 0 ? a.authData : a.authData.subarray(0, end));
}

// ---------------------------------------------------------------- VRRPv3 over IPv6

export const VRRP_MCAST_ADDR6 = 'ff02::12';
export const VRRP_MCAST_ADDR6_BYTES: Uint8Array = parseIpv6(VRRP_MCAST_ADDR6);
export const VRRP_MCAST_MAC6: Uint8Array = Uint8Array.of(0x33, 0x33, 0x00, 0x00, 0x00, 0x12);
/** keepalived's IPV6_TCLASS for adverts (0xc0, DSCP CS6), the IPv6 twin of VRRP_TOS. */
export const VRRP_TCLASS6 = 0xc0;

/** The IPv6 virtual MAC 00:00:5e:00:02:{vrid} (RFC 5798 §7.3). */
export function vrrpVirtualMac6(vrid: number): Uint8Array {
  return Uint8Array.of(0x00, 0x00, 0x5e, 0x00, 0x02, checkU8('vrid', vrid));
}

export function vrrp6Length(count: number): number {
  return VRRP_HLEN + 16 * count;
}

/** The checksum field value of a VRRPv3/IPv6 message at `off` (its own field taken as zero). */
export function vrrp6Checksum(buf: Uint8Array, off: number, len: number, src: string | Uint8Array, dst: string | Uint8Array): number {
  let sum = pseudoHeaderSum6(toIpv6Bytes(src), toIpv6Bytes(dst), IPPROTO_VRRP, len);
  sum = csumPartial(buf, off, 6, sum);
  sum = csumPartial(buf, off + 8, len - 8, sum);
  return csumFold(sum);
}

function writeVrrp6(buf: Uint8Array, off: number, f: VrrpFields, src: string | Uint8Array | undefined, dst: string | Uint8Array | undefined): number {
  const len = vrrp6Length(f.addrs.length);
  buf[off] = (3 << 4) | ((f.type ?? VRRP_TYPE_ADVERTISEMENT) & 0x0f);
  buf[off + 1] = checkU8('vrid', f.vrid);
  buf[off + 2] = checkU8('priority', f.priority);
  buf[off + 3] = checkU8('count', f.count ?? f.addrs.length);
  const mai = f.maxAdverInt ?? 100;
  if (!Number.isInteger(mai) || mai < 0 || mai > 0xfff) throw new RangeError(`VRRPv3 max advert interval must be 0..4095 centiseconds, got ${mai}`);
  writeU16(buf, off + 4, mai);
  f.addrs.forEach((a, i) => {
    if (typeof a === 'number') throw new RangeError('VRRPv3/IPv6 addresses are IPv6 text or 16 bytes');
    buf.set(toIpv6Bytes(a), off + VRRP_HLEN + 16 * i);
  });
  writeU16(buf, off + 6, 0);
  let c = f.checksum;
  if (c === undefined) {
    if (src === undefined || dst === undefined) throw new RangeError('a VRRPv3 checksum covers the IPv6 pseudo-header: pass src and dst');
    c = vrrp6Checksum(buf, off, len, src, dst);
  }
  writeU16(buf, off + 6, c);
  return len;
}

export interface VrrpAdvert6 {
  version: 3;
  type: number;
  vrid: number;
  priority: number;
  /** Count of IPv6 addresses as the packet states it. */
  count: number;
  /** Max advertisement interval in centiseconds, 12 bits. */
  maxAdverInt: number;
  checksum: number;
  /** Views into the packet, 16 bytes each. */
  addrs: Uint8Array[];
}

/**
 * Decodes one VRRPv3 message over IPv6 of exactly `len` bytes (what a raw
 * IPv6 socket delivers: no IP header). `ip` is the source and destination it
 * arrived with, for the checksum; without it the checksum is not verified.
 */
export function decodeVrrp6(
  buf: Uint8Array, off: number, len: number, ip?: { src: string | Uint8Array; dst: string | Uint8Array },
): DecodeResult<VrrpAdvert6, VrrpInvalid> {
  if (len < VRRP_HLEN) return fail('short');
  if (buf[off]! >>> 4 !== 3) return fail('bad-version');
  const type = buf[off]! & 0x0f;
  if (type !== VRRP_TYPE_ADVERTISEMENT) return fail('bad-type');
  const count = buf[off + 3]!;
  if (len !== vrrp6Length(count)) return fail('count-mismatch');
  const checksum = readU16(buf, off + 6);
  if (ip && vrrp6Checksum(buf, off, len, ip.src, ip.dst) !== checksum) return fail('bad-checksum');
  const addrs: Uint8Array[] = [];
  for (let i = 0; i < count; i++) addrs.push(buf.subarray(off + VRRP_HLEN + 16 * i, off + VRRP_HLEN + 16 * (i + 1)));
  return ok({
    version: 3, type, vrid: buf[off + 1]!, priority: buf[off + 2]!, count,
    maxAdverInt: readU16(buf, off + 4) & 0x0fff, checksum, addrs,
  });
}

export type Vrrp6PacketInvalid = 'ip-truncated' | 'not-vrrp' | 'bad-ttl' | VrrpInvalid;

/** An IPv6 packet carrying VRRP (a captured frame's payload), with RFC 5798 §7.1's hop limit == 255 check. */
export function decodeVrrp6Packet(buf: Uint8Array, off = 0, len = buf.length - off): DecodeResult<{ ip: Ipv6Header; vrrp: VrrpAdvert6 }, Vrrp6PacketInvalid> {
  const ip = readIpv6Header(buf, off, len);
  if (!ip || ip.payloadLength > len - IPV6_HLEN) return fail('ip-truncated');
  if (ip.nextHeader !== IPPROTO_VRRP) return fail('not-vrrp');
  if (ip.hopLimit !== VRRP_TTL) return fail('bad-ttl');
  const v = decodeVrrp6(buf, ip.payloadOffset, ip.payloadLength, ip);
  if (!v.ok) return v;
  return ok({ ip, vrrp: v.value });
}

export interface Vrrp6IpFields {
  /** The sender's link-local address. */
  src: string | Uint8Array;
  /** Default ff02::12; a peer's address for unicast. */
  dst?: string | Uint8Array;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
}

/** An IPv6 packet with hop limit 255 and traffic class 0xc0 carrying one advert. */
export function buildVrrp6Packet(f: Omit<VrrpFields, 'family' | 'version'>, ipf: Vrrp6IpFields): Uint8Array {
  const dst = ipf.dst ?? VRRP_MCAST_ADDR6;
  const payload = buildVrrp({ ...f, version: 3, family: 6 }, ipf.src, dst);
  const pkt = new Uint8Array(IPV6_HLEN + payload.length);
  writeIpv6Header(pkt, 0, {
    src: ipf.src, dst, nextHeader: IPPROTO_VRRP, payloadLength: payload.length, hopLimit: ipf.hopLimit ?? VRRP_TTL,
    trafficClass: ipf.trafficClass ?? VRRP_TCLASS6, ...(ipf.flowLabel !== undefined ? { flowLabel: ipf.flowLabel } : {}),
  });
  pkt.set(payload, IPV6_HLEN);
  return pkt;
}

/** A whole frame; the destination MAC is the group's (33:33:00:00:00:12) unless the destination is unicast and dstMac is given. */
export function buildVrrp6Frame(f: Omit<VrrpFields, 'family' | 'version'>, ipf: Vrrp6IpFields & { srcMac: MacLike; dstMac?: MacLike }): Uint8Array {
  const pkt = buildVrrp6Packet(f, ipf);
  const dst = toIpv6Bytes(ipf.dst ?? VRRP_MCAST_ADDR6);
  const dstMac = ipf.dstMac ?? (isMulticastIpv6(dst) ? Uint8Array.of(0x33, 0x33, dst[12]!, dst[13]!, dst[14]!, dst[15]!) : undefined);
  if (!dstMac) throw new RangeError('a unicast VRRPv3/IPv6 frame needs dstMac');
  const frame = new Uint8Array(14 + pkt.length);
  writeEthernet(frame, 0, { dst: dstMac, src: ipf.srcMac, ethertype: ETHERTYPE_IPV6 });
  frame.set(pkt, 14);
  return frame;
}
