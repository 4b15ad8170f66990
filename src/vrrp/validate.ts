// Receive-side checks for one advert, in keepalived's vrrp_check_packet order.
// A packet that fails is counted under its reason and never reaches the state
// machine: bad input must not move an election.
import { decodeIpv4, IPPROTO_VRRP } from '../packet/ipv4.js';
import { VRRP_HLEN, VRRP_AUTH_DATA_LEN, VRRP_TTL, VRRP_AUTH_NONE, VRRP_AUTH_PASS, VRRP_TYPE_ADVERTISEMENT, vrrpChecksum, vrrp6Checksum, VRRP_MCAST_ADDR } from '../packet/vrrp.js';
import { readIp, u32ToIp } from '../packet/addr.js';
import { canonicalIpv6, formatIpv6, ipv6ToBigInt, isIpv6, isMulticastIpv6, parseIpv6 } from '../packet/addr6.js';
import type { RxAdvert } from './instance.js';

export const BAD_REASONS = [
  'short', 'bad-ip', 'unknown-vrid', 'bad-length', 'bad-ttl', 'bad-version', 'bad-auth-type',
  'auth-type-mismatch', 'auth-failure', 'interval-mismatch', 'bad-type', 'addr-count', 'bad-checksum',
  'cast-mismatch', 'addr-list', 'unknown-peer',
] as const;
export type BadReason = (typeof BAD_REASONS)[number];

export type BadCounters = Record<BadReason, number>;

export function emptyBadCounters(): BadCounters {
  return Object.fromEntries(BAD_REASONS.map((r) => [r, 0])) as BadCounters;
}

/** What validation needs to know about the receiving instance. */
export interface RxExpect {
  version: 2 | 3;
  /** v2: the configured interval in whole seconds (keepalived drops a mismatch). */
  adverIntSec: number;
  /** v2 PASS: the password, first 8 bytes, NUL padded; undefined = auth_type none. */
  authPass?: Uint8Array;
  /** The VIPs we expect in the advert, in order-insensitive form. */
  vips: number[];
  unicast: boolean;
  /** unicast_peer addresses (with keepalived's optional TTL range). */
  peers: { addr: number; minTtl: number; maxTtl: number }[];
  mcastGroup: number;
  v3ChecksumAsV2: boolean;
  /** vrrp_skip_check_adv_addr: do not insist the advert lists our VIPs. */
  skipCheckAdvAddr: boolean;
  /** 6: VRRPv3 over IPv6 (vips6 and peers6 apply, vips and peers do not). */
  family?: 6;
  /** IPv6 VIPs, canonical text. */
  vips6?: string[];
  /** IPv6 unicast_peer addresses, canonical text. */
  peers6?: { addr: string; minTtl: number; maxTtl: number }[];
}

export type RxResult =
  | { ok: true; vrid: number; advert: RxAdvert; ttl: number; dst: number | string }
  | { ok: false; reason: BadReason; vrid?: number; detail: string };

function bad(reason: BadReason, detail: string, vrid?: number): RxResult {
  return { ok: false, reason, detail, vrid };
}

/** Pads / cuts a password the way keepalived stores auth_data (8 bytes, NUL padded). */
export function authData(pass: string): Uint8Array {
  const a = new Uint8Array(VRRP_AUTH_DATA_LEN);
  a.set(new TextEncoder().encode(pass).subarray(0, VRRP_AUTH_DATA_LEN));
  return a;
}

/**
 * Validates one IPv4 packet (header included, as a raw IPPROTO_VRRP socket
 * delivers it). `lookup(vrid)` returns the expectations of the instance
 * with that VRID, or undefined when none is configured.
 */
export function validateAdvert(pkt: Uint8Array, lookup: (vrid: number) => RxExpect | undefined): RxResult {
  const r = decodeIpv4(pkt, 0, pkt.length);
  if (!r.ok) return bad(r.reason === 'truncated' ? 'short' : 'bad-ip', `IPv4 header: ${r.reason}`);
  const ip = r.value;
  if (ip.protocol !== IPPROTO_VRRP) return bad('bad-ip', `protocol ${ip.protocol}, not VRRP`);
  const off = ip.payloadOffset;
  const len = Math.min(ip.payloadLength, pkt.length - off);
  if (len < VRRP_HLEN) return bad('short', `VRRP message of ${len} bytes`);
  const vrid = pkt[off + 1]!;
  const exp = lookup(vrid);
  if (!exp) return bad('unknown-vrid', `VRID ${vrid} is not configured here`, vrid);
  const version = pkt[off]! >>> 4;
  const naddr = pkt[off + 3]!;
  // keepalived computes the expected length from the header's own version and count.
  const expectedLen = VRRP_HLEN + 4 * naddr + (version === 2 ? VRRP_AUTH_DATA_LEN : 0);
  if (len !== expectedLen || ip.totalLength !== pkt.length) {
    return bad('bad-length', `length ${len}, expected ${expectedLen}`, vrid);
  }
  if (!exp.unicast && ip.ttl !== VRRP_TTL) return bad('bad-ttl', `TTL ${ip.ttl}, expected 255`, vrid);
  if (version !== exp.version) return bad('bad-version', `version ${version}, expected ${exp.version}`, vrid);
  if (version === 2) {
    const authType = pkt[off + 4]!;
    if (authType !== VRRP_AUTH_NONE && authType !== VRRP_AUTH_PASS && authType !== 2) {
      return bad('bad-auth-type', `auth type ${authType}`, vrid);
    }
    const mine = exp.authPass ? VRRP_AUTH_PASS : VRRP_AUTH_NONE;
    if (authType !== mine) return bad('auth-type-mismatch', `auth type ${authType}, expected ${mine}`, vrid);
    if (exp.authPass) {
      const a = off + len - VRRP_AUTH_DATA_LEN;
      for (let i = 0; i < VRRP_AUTH_DATA_LEN; i++) {
        if (pkt[a + i] !== exp.authPass[i]) return bad('auth-failure', 'wrong auth_pass', vrid);
      }
    }
    const adv = pkt[off + 5]!;
    if (adv !== exp.adverIntSec) return bad('interval-mismatch', `advert_int ${adv}s, ours ${exp.adverIntSec}s`, vrid);
  }
  const type = pkt[off]! & 0x0f;
  if (type !== VRRP_TYPE_ADVERTISEMENT) return bad('bad-type', `type ${type}`, vrid);
  if (!exp.skipCheckAdvAddr && naddr !== exp.vips.length) {
    return bad('addr-count', `${naddr} addresses, expected ${exp.vips.length}`, vrid);
  }
  // Checksum: v3 over the pseudo-header with the packet's destination; a
  // unicast v3 advert from an old keepalived used the multicast group instead.
  const given = (pkt[off + 6]! << 8) | pkt[off + 7]!;
  const asV2 = { v3ChecksumAsV2: exp.v3ChecksumAsV2 };
  let sumOk = vrrpChecksum(pkt, off, len, ip.src, ip.dst, asV2) === given;
  if (!sumOk && version === 3 && exp.unicast && ip.dst !== exp.mcastGroup) {
    sumOk = vrrpChecksum(pkt, off, len, ip.src, exp.mcastGroup, asV2) === given;
  }
  if (!sumOk) return bad('bad-checksum', `checksum 0x${given.toString(16)}`, vrid);
  const isMcast = (ip.dst >>> 28) === 0xe;
  if (isMcast === exp.unicast) {
    return bad('cast-mismatch', `expected ${exp.unicast ? 'unicast' : 'multicast'}, got ${u32ToIp(ip.dst)}`, vrid);
  }
  if (!exp.skipCheckAdvAddr) {
    const got = new Set<number>();
    for (let i = 0; i < naddr; i++) got.add(readIp(pkt, off + VRRP_HLEN + 4 * i) >>> 0);
    for (const v of exp.vips) {
      if (!got.has(v >>> 0)) return bad('addr-list', `${u32ToIp(v)} not in the advert`, vrid);
    }
  }
  if (exp.unicast) {
    const peer = exp.peers.find((p) => p.addr >>> 0 === ip.src >>> 0);
    if (!peer) return bad('unknown-peer', `${u32ToIp(ip.src)} is not a unicast_peer`, vrid);
    if (ip.ttl < peer.minTtl || ip.ttl > peer.maxTtl) return bad('bad-ttl', `TTL ${ip.ttl} outside ${peer.minTtl}-${peer.maxTtl}`, vrid);
  }
  const maxAdverIntCs = version === 3 ? (((pkt[off + 4]! << 8) | pkt[off + 5]!) & 0x0fff) : 0;
  return { ok: true, vrid, ttl: ip.ttl, dst: ip.dst, advert: { priority: pkt[off + 2]!, maxAdverIntCs, src: ip.src } };
}

/** What a raw IPv6 socket says about a packet besides its payload. */
export interface Rx6Meta {
  /** Source address (text). */
  from: string;
  /** Where it was sent (IPV6_PKTINFO); '' when the kernel did not say. */
  dst: string;
  /** IPV6_HOPLIMIT; -1 when the kernel did not say. */
  hopLimit: number;
}

/**
 * Validates one VRRPv3 message over IPv6 (a raw IPv6 socket delivers the
 * payload only), in keepalived's vrrp_check_packet order for AF_INET6: the
 * length from the header's own count, the hop limit (multicast only), the
 * version, the type, the address count, the checksum, multicast or unicast
 * as configured, the VIPs, the unicast peer. keepalived leaves the checksum
 * to the kernel (IPV6_CHECKSUM), which drops bad ones silently; we check it
 * here so that they are counted like IPv4's. The source need not be
 * link-local: keepalived 2.2.7 does not insist, and unicast peers are not.
 */
export function validateAdvert6(pkt: Uint8Array, meta: Rx6Meta, lookup: (vrid: number) => RxExpect | undefined): RxResult {
  const len = pkt.length;
  if (len < VRRP_HLEN) return bad('short', `VRRP message of ${len} bytes`);
  const vrid = pkt[1]!;
  const exp = lookup(vrid);
  if (!exp) return bad('unknown-vrid', `VRID ${vrid} is not configured here`, vrid);
  const version = pkt[0]! >>> 4;
  const naddr = pkt[3]!;
  const expectedLen = VRRP_HLEN + 16 * naddr;
  if (len !== expectedLen) return bad('bad-length', `length ${len}, expected ${expectedLen}`, vrid);
  if (!exp.unicast && meta.hopLimit !== -1 && meta.hopLimit !== VRRP_TTL) return bad('bad-ttl', `hop limit ${meta.hopLimit}, expected 255`, vrid);
  if (version !== exp.version) return bad('bad-version', `version ${version}, expected ${exp.version}`, vrid);
  const type = pkt[0]! & 0x0f;
  if (type !== VRRP_TYPE_ADVERTISEMENT) return bad('bad-type', `type ${type}`, vrid);
  const vips = exp.vips6 ?? [];
  if (!exp.skipCheckAdvAddr && naddr !== vips.length) return bad('addr-count', `${naddr} addresses, expected ${vips.length}`, vrid);
  if (!isIpv6(meta.from) || (meta.dst !== '' && !isIpv6(meta.dst))) return bad('bad-ip', `addresses ${meta.from} → ${meta.dst}`, vrid);
  const given = (pkt[6]! << 8) | pkt[7]!;
  if (meta.dst === '' || vrrp6Checksum(pkt, 0, len, meta.from, meta.dst) !== given) return bad('bad-checksum', `checksum 0x${given.toString(16)}`, vrid);
  const isMcast = isMulticastIpv6(parseIpv6(meta.dst));
  if (isMcast === exp.unicast) return bad('cast-mismatch', `expected ${exp.unicast ? 'unicast' : 'multicast'}, got ${meta.dst}`, vrid);
  if (!exp.skipCheckAdvAddr) {
    const got = new Set<string>();
    for (let i = 0; i < naddr; i++) got.add(formatIpv6(pkt, VRRP_HLEN + 16 * i));
    for (const v of vips) if (!got.has(v)) return bad('addr-list', `${v} not in the advert`, vrid);
  }
  const from = canonicalIpv6(meta.from);
  if (exp.unicast) {
    const peer = (exp.peers6 ?? []).find((p) => p.addr === from);
    if (!peer) return bad('unknown-peer', `${from} is not a unicast_peer`, vrid);
    if (meta.hopLimit !== -1 && (meta.hopLimit < peer.minTtl || meta.hopLimit > peer.maxTtl)) {
      return bad('bad-ttl', `hop limit ${meta.hopLimit} outside ${peer.minTtl}-${peer.maxTtl}`, vrid);
    }
  }
  const maxAdverIntCs = ((pkt[4]! << 8) | pkt[5]!) & 0x0fff;
  return { ok: true, vrid, ttl: meta.hopLimit, dst: meta.dst, advert: { priority: pkt[2]!, maxAdverIntCs, src: ipv6ToBigInt(parseIpv6(from)) } };
}

export { VRRP_MCAST_ADDR };
