// keepalived's vrrp_ndisc.c: the unsolicited Neighbour Advertisement
// (RFC 4861 §4.4, §7.2.6) an IPv6 VRRP master sends for each VIP where IPv4
// sends a gratuitous ARP. keepalived builds the whole frame and sends it on a
// packet socket, and so do we, byte for byte as keepalived 2.2.7 does:
//   Ethernet  interface MAC → 33:33:00:00:00:01
//   IPv6      VIP → ff02::1 (all nodes), hop limit 255, traffic class 0
//   ICMPv6    type 136, Override set, Solicited clear, Router set when the
//             interface forwards IPv6 (net.ipv6.conf.IF.forwarding)
//   target    the VIP, with a target link-layer address option (the MAC)
// The source is the VIP itself, not the link-local address: a receiver's
// neighbour cache is updated for the target either way, and it is what
// keepalived puts there.
import { csumFold, csumPartial } from './checksum.js';
import { ETH_HLEN, writeEthernet } from './ethernet.js';
import { type MacLike, toMac, readU32, writeU16, writeU32, readU16 } from './input.js';
import {
  ETHERTYPE_IPV6, IPPROTO_ICMPV6, IPV6_HLEN, formatIpv6, ipv6MulticastMac, pseudoHeaderSum6, readIpv6Header, toIpv6Bytes,
  writeIpv6Header,
} from './addr6.js';
import { macToString } from './addr.js';

export const ND_NEIGHBOR_ADVERT = 136;
export const ND_NA_FLAG_ROUTER = 0x80000000;
export const ND_NA_FLAG_SOLICITED = 0x40000000;
export const ND_NA_FLAG_OVERRIDE = 0x20000000;
export const ND_OPT_TARGET_LINKADDR = 2;
/** RFC 4861 §7.1.2: a receiver discards neighbour discovery messages whose hop limit is not 255. */
export const NDISC_HOPLIMIT = 255;
export const ALL_NODES = 'ff02::1';

/** ICMPv6 NA header (type, code, checksum, flags, target) plus one 8-byte link-layer option. */
const NA_LEN = 4 + 4 + 16 + 8;
export const UNSOLICITED_NA_FRAME_LEN = ETH_HLEN + IPV6_HLEN + NA_LEN;

export interface UnsolicitedNaFields {
  /** The interface's MAC: Ethernet source and the target link-layer address option. */
  mac: MacLike;
  /** The address announced (a VIP). */
  target: string | Uint8Array;
  /** The R flag: keepalived sets it when the interface forwards IPv6. */
  router: boolean;
  /** IPv6 source; default the target, as keepalived. */
  src?: string | Uint8Array;
  /** Default ff02::1. */
  dst?: string | Uint8Array;
}

/** One unsolicited NA frame, ready for a packet socket. */
export function buildUnsolicitedNa(f: UnsolicitedNaFields): Uint8Array {
  const mac = toMac(f.mac);
  const target = toIpv6Bytes(f.target);
  const src = f.src === undefined ? target : toIpv6Bytes(f.src);
  const dst = toIpv6Bytes(f.dst ?? ALL_NODES);
  const frame = new Uint8Array(UNSOLICITED_NA_FRAME_LEN);
  writeEthernet(frame, 0, { dst: ipv6MulticastMac(dst), src: mac, ethertype: ETHERTYPE_IPV6 });
  writeIpv6Header(frame, ETH_HLEN, { src, dst, nextHeader: IPPROTO_ICMPV6, payloadLength: NA_LEN, hopLimit: NDISC_HOPLIMIT });
  const o = ETH_HLEN + IPV6_HLEN;
  frame[o] = ND_NEIGHBOR_ADVERT;
  frame[o + 1] = 0;
  writeU32(frame, o + 4, (ND_NA_FLAG_OVERRIDE | (f.router ? ND_NA_FLAG_ROUTER : 0)) >>> 0);
  frame.set(target, o + 8);
  frame[o + 24] = ND_OPT_TARGET_LINKADDR;
  frame[o + 25] = 1; // in units of 8 bytes
  frame.set(mac, o + 26);
  const sum = csumPartial(frame, o, NA_LEN, pseudoHeaderSum6(src, dst, IPPROTO_ICMPV6, NA_LEN));
  writeU16(frame, o + 2, csumFold(sum));
  return frame;
}

export interface NeighborAdvert {
  srcMac: string;
  dstMac: string;
  src: string;
  dst: string;
  hopLimit: number;
  router: boolean;
  solicited: boolean;
  override: boolean;
  target: string;
  /** The target link-layer address option, if present. */
  targetMac?: string;
  checksumOk: boolean;
}

/** Reads an Ethernet frame holding an ICMPv6 neighbour advertisement; undefined for anything else. */
export function decodeNeighborAdvert(frame: Uint8Array): NeighborAdvert | undefined {
  if (frame.length < ETH_HLEN + IPV6_HLEN + 24 || readU16(frame, 12) !== ETHERTYPE_IPV6) return undefined;
  const ip = readIpv6Header(frame, ETH_HLEN);
  if (!ip || ip.nextHeader !== IPPROTO_ICMPV6) return undefined;
  const o = ip.payloadOffset;
  const len = Math.min(ip.payloadLength, frame.length - o);
  if (len < 24 || frame[o] !== ND_NEIGHBOR_ADVERT) return undefined;
  const flags = readU32(frame, o + 4);
  let targetMac: string | undefined;
  for (let p = o + 24; p + 8 <= o + len;) {
    const olen = frame[p + 1]! * 8;
    if (olen === 0) break;
    if (frame[p] === ND_OPT_TARGET_LINKADDR && olen >= 8) targetMac = macToString(frame, p + 2);
    p += olen;
  }
  return {
    srcMac: macToString(frame, 6), dstMac: macToString(frame, 0),
    src: formatIpv6(ip.src), dst: formatIpv6(ip.dst), hopLimit: ip.hopLimit,
    router: (flags & ND_NA_FLAG_ROUTER) !== 0, solicited: (flags & ND_NA_FLAG_SOLICITED) !== 0, override: (flags & ND_NA_FLAG_OVERRIDE) !== 0,
    target: formatIpv6(frame, o + 8),
    ...(targetMac !== undefined ? { targetMac } : {}),
    checksumOk: csumFold(csumPartial(frame, o, len, pseudoHeaderSum6(ip.src, ip.dst, IPPROTO_ICMPV6, len))) === 0,
  };
}
