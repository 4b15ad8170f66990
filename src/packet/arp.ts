// ARP for Ethernet/IPv4 (RFC 826), the only kind a director speaks.
import { readIp, writeIp } from './addr.js';
import { type IpLike, type MacLike, toIpU32, toMac, readU16, writeU16 } from './input.js';
import { type DecodeResult, ok, fail } from './result.js';
import { BROADCAST_MAC, ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, type VlanSpec, ethernetHeaderLen, writeEthernet } from './ethernet.js';

export const ARP_LEN = 28;
export const ARPHRD_ETHER = 1;
export const ARPOP_REQUEST = 1;
export const ARPOP_REPLY = 2;

const ZERO_MAC = new Uint8Array(6);

export type ArpInvalid = 'truncated' | 'unsupported';

export interface ArpPacket {
  offset: number;
  op: number;
  /** Views into the buffer. */
  senderMac: Uint8Array;
  senderIp: number;
  targetMac: Uint8Array;
  targetIp: number;
}

export function decodeArp(buf: Uint8Array, off: number, len = buf.length - off): DecodeResult<ArpPacket, ArpInvalid> {
  if (len < 8) return fail('truncated');
  if (readU16(buf, off) !== ARPHRD_ETHER || readU16(buf, off + 2) !== ETHERTYPE_IPV4
    || buf[off + 4] !== 6 || buf[off + 5] !== 4) return fail('unsupported');
  if (len < ARP_LEN) return fail('truncated');
  return ok({
    offset: off,
    op: readU16(buf, off + 6),
    senderMac: buf.subarray(off + 8, off + 14),
    senderIp: readIp(buf, off + 14),
    targetMac: buf.subarray(off + 18, off + 24),
    targetIp: readIp(buf, off + 24),
  });
}

/** A gratuitous ARP announces its sender: sender IP == target IP. */
export function isGratuitousArp(a: Pick<ArpPacket, 'senderIp' | 'targetIp'>): boolean {
  return a.senderIp === a.targetIp;
}

export interface ArpFields {
  /** ARPOP_REQUEST (default) or ARPOP_REPLY. */
  op?: number;
  senderMac: MacLike;
  senderIp: IpLike;
  /** Default 00:00:00:00:00:00 (unknown, as in a request). */
  targetMac?: MacLike;
  targetIp: IpLike;
}

export function writeArp(buf: Uint8Array, off: number, f: ArpFields): number {
  writeU16(buf, off, ARPHRD_ETHER);
  writeU16(buf, off + 2, ETHERTYPE_IPV4);
  buf[off + 4] = 6;
  buf[off + 5] = 4;
  writeU16(buf, off + 6, f.op ?? ARPOP_REQUEST);
  buf.set(toMac(f.senderMac), off + 8);
  writeIp(buf, off + 14, toIpU32(f.senderIp));
  buf.set(f.targetMac === undefined ? ZERO_MAC : toMac(f.targetMac), off + 18);
  writeIp(buf, off + 24, toIpU32(f.targetIp));
  return ARP_LEN;
}

export function buildArp(f: ArpFields): Uint8Array {
  const buf = new Uint8Array(ARP_LEN);
  writeArp(buf, 0, f);
  return buf;
}

export interface ArpFrameFields extends ArpFields {
  /** Default: broadcast for a request, the target's MAC for a reply. */
  dstMac?: MacLike;
  /** Default: the sender MAC. */
  srcMac?: MacLike;
  vlan?: VlanSpec;
}

/** A whole Ethernet frame carrying one ARP packet (42 bytes untagged, unpadded). */
export function buildArpFrame(f: ArpFrameFields): Uint8Array {
  const hlen = ethernetHeaderLen(f.vlan);
  const buf = new Uint8Array(hlen + ARP_LEN);
  const isReply = (f.op ?? ARPOP_REQUEST) === ARPOP_REPLY;
  const dst = f.dstMac ?? (isReply && f.targetMac !== undefined ? f.targetMac : BROADCAST_MAC);
  writeEthernet(buf, 0, { dst, src: f.srcMac ?? f.senderMac, ethertype: ETHERTYPE_ARP, vlan: f.vlan });
  writeArp(buf, hlen, f);
  return buf;
}

/**
 * The gratuitous ARP keepalived sends for a VIP: a broadcast ARP request with
 * sender = target = VIP and target MAC ff:ff:ff:ff:ff:ff (vrrp_arp.c), 42 bytes.
 * `ip` is the VIP as u32.
 */
export function buildGratuitousArp(mac: Uint8Array, ip: number): Uint8Array {
  const buf = new Uint8Array(ETH_HLEN + ARP_LEN);
  writeEthernet(buf, 0, { dst: BROADCAST_MAC, src: mac, ethertype: ETHERTYPE_ARP });
  writeArp(buf, ETH_HLEN, { op: ARPOP_REQUEST, senderMac: mac, senderIp: ip, targetMac: BROADCAST_MAC, targetIp: ip });
  return buf;
}
