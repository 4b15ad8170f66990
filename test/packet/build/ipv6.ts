// IPv6 frames for tests and benchmarks: a client's TCP segment or UDP
// datagram to a VIP, optionally behind extension headers, and ICMPv6
// errors quoting a packet. Checksums are complete (over the IPv6
// pseudo-header) unless a test asks for a broken one.
import { writeEthernet } from '../../../src/packet/ethernet.js';
import { toBytes, writeU16, writeU32 } from '../../../src/packet/input.js';
import {
  ETHERTYPE_IPV6, IPV6_HLEN, NEXTHDR_AUTH, NEXTHDR_FRAGMENT, NEXTHDR_ICMP, NEXTHDR_ROUTING, NEXTHDR_TCP, NEXTHDR_UDP,
  upperChecksum6, writeIpv6Header,
} from '../../../src/packet/ipv6.js';
import { ICMPV6_ERROR_MAX, ICMPV6_HLEN, setIcmpv6Checksum } from '../../../src/packet/icmpv6.js';
import { type TcpFields, tcpHeaderLen, writeTcpHeader } from './tcp.js';
import { DEFAULT_DST_MAC, DEFAULT_SRC_MAC } from './frame.js';

export const CLIENT6 = '2001:db8::1';
export const VIP6 = '2001:db8::100';

/** One extension header: Hop-by-Hop (0), Routing (43), Fragment (44), Destination Options (60) or AH (51). */
export interface ExtHeader {
  type: number;
  /** Total bytes (a multiple of 8, or of 4 for AH); default 8 (12 for AH). */
  len?: number;
  /** Routing: segments left (default 0). */
  segmentsLeft?: number;
  /** Fragment: offset in 8-byte units and the M flag. */
  fragOffset?: number;
  more?: boolean;
}

export interface Frame6Options {
  srcMac?: string;
  dstMac?: string;
  src?: string;
  dst?: string;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  ext?: ExtHeader[];
  payload?: Uint8Array | string;
}

function extLen(e: ExtHeader): number {
  return e.len ?? (e.type === NEXTHDR_AUTH ? 12 : 8);
}

/** The extension headers' bytes, chained to `upper`; returns [bytes, first next-header]. */
export function extBytes(ext: ExtHeader[], upper: number): [Uint8Array, number] {
  const total = ext.reduce((n, e) => n + extLen(e), 0);
  const b = new Uint8Array(total);
  let p = 0;
  ext.forEach((e, i) => {
    const len = extLen(e);
    const next = i + 1 < ext.length ? ext[i + 1]!.type : upper;
    b[p] = next;
    if (e.type === NEXTHDR_FRAGMENT) {
      b[p + 1] = 0;
      writeU16(b, p + 2, ((e.fragOffset ?? 0) << 3) | (e.more ? 1 : 0));
      writeU32(b, p + 4, 0x1234);
    } else if (e.type === NEXTHDR_AUTH) {
      b[p + 1] = len / 4 - 2;
    } else {
      b[p + 1] = len / 8 - 1;
      if (e.type === NEXTHDR_ROUTING) { b[p + 2] = 4; b[p + 3] = e.segmentsLeft ?? 0; }
      else { b[p + 2] = 1; b[p + 3] = len - 4; } // one PadN option filling the header
    }
    p += len;
  });
  return [b, ext.length > 0 ? ext[0]!.type : upper];
}

function frame6(o: Frame6Options, upper: number, l4: Uint8Array): { frame: Uint8Array; l3: number; l4: number } {
  const [ext, first] = extBytes(o.ext ?? [], upper);
  const plen = ext.length + l4.length;
  const f = new Uint8Array(14 + IPV6_HLEN + plen);
  writeEthernet(f, 0, { dst: o.dstMac ?? DEFAULT_DST_MAC, src: o.srcMac ?? DEFAULT_SRC_MAC, ethertype: ETHERTYPE_IPV6 });
  writeIpv6Header(f, 14, {
    src: o.src ?? CLIENT6, dst: o.dst ?? VIP6, nextHeader: first, hopLimit: o.hopLimit ?? 64,
    trafficClass: o.trafficClass, flowLabel: o.flowLabel,
  }, plen);
  f.set(ext, 14 + IPV6_HLEN);
  f.set(l4, 14 + IPV6_HLEN + ext.length);
  return { frame: f, l3: 14, l4: 14 + IPV6_HLEN + ext.length };
}

export interface Tcp6FrameOptions extends Frame6Options, Partial<TcpFields> {}

/** A client's TCP segment to the VIP: [2001:db8::1]:40000 → [2001:db8::100]:80, SYN, unless told otherwise. */
export function buildTcp6Frame(o: Tcp6FrameOptions = {}): Uint8Array {
  const payload = toBytes(o.payload);
  const f: TcpFields = {
    srcPort: o.srcPort ?? 40000, dstPort: o.dstPort ?? 80, seq: o.seq ?? 1, ack: o.ack ?? 0, flags: o.flags ?? 'S',
    window: o.window ?? 65535, urgent: o.urgent, options: o.options, dataOffset: o.dataOffset, checksum: 0,
  };
  const hlen = tcpHeaderLen(f.options);
  const seg = new Uint8Array(hlen + payload.length);
  seg.set(payload, hlen);
  writeTcpHeader(seg, 0, f, 0, 0, payload.length);
  const r = frame6(o, NEXTHDR_TCP, seg);
  const sum = o.checksum ?? upperChecksum6(r.frame, r.l3, r.l4, seg.length, NEXTHDR_TCP);
  writeU16(r.frame, r.l4 + 16, sum);
  return r.frame;
}

export interface Udp6FrameOptions extends Frame6Options {
  srcPort?: number;
  dstPort?: number;
  /** false: a zero checksum (invalid over IPv6); a number: that value. */
  checksum?: boolean | number;
}

/** A client's UDP datagram to the VIP: [2001:db8::1]:40000 → [2001:db8::100]:53. */
export function buildUdp6Frame(o: Udp6FrameOptions = {}): Uint8Array {
  const payload = toBytes(o.payload);
  const seg = new Uint8Array(8 + payload.length);
  writeU16(seg, 0, o.srcPort ?? 40000);
  writeU16(seg, 2, o.dstPort ?? 53);
  writeU16(seg, 4, seg.length);
  seg.set(payload, 8);
  const r = frame6(o, NEXTHDR_UDP, seg);
  const c = o.checksum ?? true;
  let sum = c === true ? upperChecksum6(r.frame, r.l3, r.l4, seg.length, NEXTHDR_UDP) : c === false ? 0 : c;
  if (c === true && sum === 0) sum = 0xffff;
  writeU16(r.frame, r.l4 + 6, sum);
  return r.frame;
}

export interface Icmp6FrameOptions extends Frame6Options {
  type: number;
  code?: number;
  /** The 4 bytes after the checksum (MTU of a Packet Too Big). */
  info?: number;
  /** The IPv6 packet an error quotes (cut to fit 1280 bytes). */
  quote?: Uint8Array;
}

/** An ICMPv6 message (an error quoting `quote`, or `payload`), checksum complete. */
export function buildIcmp6Frame(o: Icmp6FrameOptions): Uint8Array {
  const body = o.quote ? o.quote.subarray(0, ICMPV6_ERROR_MAX - IPV6_HLEN - ICMPV6_HLEN) : toBytes(o.payload);
  const msg = new Uint8Array(ICMPV6_HLEN + body.length);
  msg[0] = o.type;
  msg[1] = o.code ?? 0;
  writeU32(msg, 4, o.info ?? 0);
  msg.set(body, ICMPV6_HLEN);
  const r = frame6({ ...o, payload: undefined }, NEXTHDR_ICMP, msg);
  setIcmpv6Checksum(r.frame, r.l3, r.l4, msg.length);
  return r.frame;
}

/** The IP packet of a frame (no link header). */
export function l3Of(frame: Uint8Array): Uint8Array {
  return frame.subarray(14);
}

/** Ethernet around an IPv6 packet (to feed the engine's own output back in, or to hand tshark). */
export function eth6(pkt: Uint8Array, src = '02:00:00:00:00:0a', dst = '02:00:00:00:00:0b'): Uint8Array {
  const f = new Uint8Array(14 + pkt.length);
  writeEthernet(f, 0, { dst, src, ethertype: ETHERTYPE_IPV6 });
  f.set(pkt, 14);
  return f;
}

export { NEXTHDR_AUTH, NEXTHDR_FRAGMENT, NEXTHDR_ROUTING };
