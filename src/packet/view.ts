// Allocation-free parse of a frame for the data plane: one PacketView is
// reused for every frame of a batch, its fields overwritten in place, and the
// verdict is a small integer that indexes a drop counter. The object-returning
// decoders in the other files are for control paths and tests.
import { csumFold, csumPartial } from './checksum.js';
import { ETH_HLEN, ETHERTYPE_IPV4, ETHERTYPE_QINQ, ETHERTYPE_VLAN } from './ethernet.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IP_DF, IP_MF, IP_OFFMASK } from './ipv4.js';

export const PARSE_OK = 0;
export const PARSE_NOT_IPV4 = 1;
export const PARSE_ETH_TRUNCATED = 2;
export const PARSE_ETH_TOO_MANY_TAGS = 3;
export const PARSE_IP_TRUNCATED = 4;
export const PARSE_IP_BAD_VERSION = 5;
export const PARSE_IP_BAD_IHL = 6;
export const PARSE_IP_BAD_TOTAL_LENGTH = 7;
export const PARSE_IP_BAD_CHECKSUM = 8;
export const PARSE_TCP_TRUNCATED = 9;
export const PARSE_TCP_BAD_DOFF = 10;
export const PARSE_UDP_TRUNCATED = 11;
export const PARSE_UDP_BAD_LENGTH = 12;
export const PARSE_ICMP_TRUNCATED = 13;

/** Names by code, for metrics labels and logs. */
export const PARSE_RESULT_NAMES = [
  'ok', 'not-ipv4', 'eth-truncated', 'eth-too-many-tags',
  'ip-truncated', 'ip-bad-version', 'ip-bad-ihl', 'ip-bad-total-length', 'ip-bad-checksum',
  'tcp-truncated', 'tcp-bad-doff', 'udp-truncated', 'udp-bad-length', 'icmp-truncated',
] as const;
export type ParseResultName = (typeof PARSE_RESULT_NAMES)[number];

export class PacketView {
  buf: Uint8Array = new Uint8Array(0);
  frameOff = 0;
  frameLen = 0;
  /** Outermost VLAN id, -1 when untagged. */
  vlanId = -1;
  innerVlanId = -1;
  /** L3 ethertype after any tags. */
  ethertype = 0;
  l3Off = 0;

  ipHlen = 0;
  ipTotalLen = 0;
  tos = 0;
  ipId = 0;
  df = false;
  mf = false;
  /** In units of 8 bytes. */
  fragOff = 0;
  ttl = 0;
  protocol = 0;
  saddr = 0;
  daddr = 0;

  /** L4 offset and length (from the IP header; Ethernet padding excluded). */
  l4Off = 0;
  l4Len = 0;
  /** TCP/UDP ports, -1 for other protocols and non-first fragments. */
  sport = -1;
  dport = -1;
  tcpFlags = 0;
  tcpSeq = 0;
  tcpAck = 0;
  icmpType = -1;
  icmpCode = -1;
  payloadOff = 0;
  payloadLen = 0;

  /** True when this is a fragment other than the first (no L4 header present). */
  get isLaterFragment(): boolean {
    return this.fragOff !== 0;
  }

  /**
   * Parses Ethernet (≤2 tags), IPv4 and TCP/UDP/ICMP headers of the frame at
   * buf[off, off+len). Returns PARSE_OK or another PARSE_* code; fields past
   * the failing layer are stale. L4 checksums are not verified here.
   */
  parse(buf: Uint8Array, off: number, len: number, verifyIpChecksum = true): number {
    this.buf = buf;
    this.frameOff = off;
    this.frameLen = len;
    this.vlanId = -1;
    this.innerVlanId = -1;
    this.sport = -1;
    this.dport = -1;
    this.tcpFlags = 0;
    this.icmpType = -1;
    this.icmpCode = -1;
    if (len < ETH_HLEN) return PARSE_ETH_TRUNCATED;
    const end = off + len;
    let p = off + 12;
    let et = (buf[p]! << 8) | buf[p + 1]!;
    if (et === ETHERTYPE_VLAN || et === ETHERTYPE_QINQ) {
      if (p + 6 > end) return PARSE_ETH_TRUNCATED;
      this.vlanId = ((buf[p + 2]! << 8) | buf[p + 3]!) & 0x0fff;
      p += 4;
      et = (buf[p]! << 8) | buf[p + 1]!;
      if (et === ETHERTYPE_VLAN || et === ETHERTYPE_QINQ) {
        if (p + 6 > end) return PARSE_ETH_TRUNCATED;
        this.innerVlanId = ((buf[p + 2]! << 8) | buf[p + 3]!) & 0x0fff;
        p += 4;
        et = (buf[p]! << 8) | buf[p + 1]!;
        if (et === ETHERTYPE_VLAN || et === ETHERTYPE_QINQ) return PARSE_ETH_TOO_MANY_TAGS;
      }
    }
    this.ethertype = et;
    const ip = p + 2;
    this.l3Off = ip;
    if (et !== ETHERTYPE_IPV4) return PARSE_NOT_IPV4;

    const avail = end - ip;
    if (avail < 20) return PARSE_IP_TRUNCATED;
    const vihl = buf[ip]!;
    if (vihl >>> 4 !== 4) return PARSE_IP_BAD_VERSION;
    const hlen = (vihl & 0x0f) << 2;
    if (hlen < 20) return PARSE_IP_BAD_IHL;
    if (hlen > avail) return PARSE_IP_TRUNCATED;
    const tot = (buf[ip + 2]! << 8) | buf[ip + 3]!;
    if (tot > avail) return PARSE_IP_TRUNCATED;
    if (tot < hlen) return PARSE_IP_BAD_TOTAL_LENGTH;
    if (verifyIpChecksum && csumFold(csumPartial(buf, ip, hlen)) !== 0) return PARSE_IP_BAD_CHECKSUM;
    const frag = (buf[ip + 6]! << 8) | buf[ip + 7]!;
    this.ipHlen = hlen;
    this.ipTotalLen = tot;
    this.tos = buf[ip + 1]!;
    this.ipId = (buf[ip + 4]! << 8) | buf[ip + 5]!;
    this.df = (frag & IP_DF) !== 0;
    this.mf = (frag & IP_MF) !== 0;
    this.fragOff = frag & IP_OFFMASK;
    this.ttl = buf[ip + 8]!;
    const proto = buf[ip + 9]!;
    this.protocol = proto;
    this.saddr = ((buf[ip + 12]! << 24) | (buf[ip + 13]! << 16) | (buf[ip + 14]! << 8) | buf[ip + 15]!) >>> 0;
    this.daddr = ((buf[ip + 16]! << 24) | (buf[ip + 17]! << 16) | (buf[ip + 18]! << 8) | buf[ip + 19]!) >>> 0;
    const l4 = ip + hlen;
    const l4len = tot - hlen;
    this.l4Off = l4;
    this.l4Len = l4len;
    this.payloadOff = l4;
    this.payloadLen = l4len;
    if (this.fragOff !== 0) return PARSE_OK;

    if (proto === IPPROTO_TCP) {
      if (l4len < 20) return PARSE_TCP_TRUNCATED;
      const th = (buf[l4 + 12]! >>> 4) << 2;
      if (th < 20 || th > l4len) return PARSE_TCP_BAD_DOFF;
      this.sport = (buf[l4]! << 8) | buf[l4 + 1]!;
      this.dport = (buf[l4 + 2]! << 8) | buf[l4 + 3]!;
      this.tcpSeq = ((buf[l4 + 4]! << 24) | (buf[l4 + 5]! << 16) | (buf[l4 + 6]! << 8) | buf[l4 + 7]!) >>> 0;
      this.tcpAck = ((buf[l4 + 8]! << 24) | (buf[l4 + 9]! << 16) | (buf[l4 + 10]! << 8) | buf[l4 + 11]!) >>> 0;
      this.tcpFlags = buf[l4 + 13]!;
      this.payloadOff = l4 + th;
      this.payloadLen = l4len - th;
    } else if (proto === IPPROTO_UDP) {
      if (l4len < 8) return PARSE_UDP_TRUNCATED;
      const ulen = (buf[l4 + 4]! << 8) | buf[l4 + 5]!;
      if (ulen < 8) return PARSE_UDP_BAD_LENGTH;
      if (ulen > l4len) return PARSE_UDP_TRUNCATED;
      this.sport = (buf[l4]! << 8) | buf[l4 + 1]!;
      this.dport = (buf[l4 + 2]! << 8) | buf[l4 + 3]!;
      this.payloadOff = l4 + 8;
      this.payloadLen = ulen - 8;
    } else if (proto === IPPROTO_ICMP) {
      if (l4len < 8) return PARSE_ICMP_TRUNCATED;
      this.icmpType = buf[l4]!;
      this.icmpCode = buf[l4 + 1]!;
      this.payloadOff = l4 + 8;
      this.payloadLen = l4len - 8;
    }
    return PARSE_OK;
  }
}
