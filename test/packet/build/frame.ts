// Whole Ethernet frames with correct checksums in one call, and a layered
// parse of a frame back, for tests and tools. The data plane uses the
// per-layer codecs directly; this is the convenient edge.
import { type IpLike, type MacLike, toIpU32, toBytes } from '../../../src/packet/input.js';
import { type DecodeResult, ok, fail } from '../../../src/packet/result.js';
import { type VlanSpec, type EthernetHeader, ETHERTYPE_IPV4, ETHERTYPE_ARP, decodeEthernet, ethernetHeaderLen, writeEthernet } from '../../../src/packet/ethernet.js';
import { type Ipv4Fields, type Ipv4Header, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_VRRP, decodeIpv4, ipv4HeaderLen, writeIpv4Header, isFragment } from '../../../src/packet/ipv4.js';
import { type TcpFields, type TcpHeader, decodeTcp, tcpHeaderLen, writeTcpHeader, verifyTcpChecksum } from './tcp.js';
import { type UdpFields, type UdpHeader, UDP_HLEN, decodeUdp, writeUdpHeader, verifyUdpChecksum } from './udp.js';
import { type IcmpFields, type IcmpHeader, ICMP_HLEN, decodeIcmp, quoteOffending, writeIcmpHeader } from '../../../src/packet/icmp.js';
import { type ArpPacket, decodeArp } from '../../../src/packet/arp.js';
import { type VrrpAdvert, type VrrpInvalid, decodeVrrp } from '../../../src/packet/vrrp.js';

export const DEFAULT_SRC_MAC = '02:00:00:00:00:01';
export const DEFAULT_DST_MAC = '02:00:00:00:00:02';

export interface FrameIcmpFields extends IcmpFields {
  /** An offending IPv4 packet to quote (header + 8 bytes) before `payload`. */
  quote?: Uint8Array;
}

export interface FrameSpec {
  /** Default 02:00:00:00:00:01. */
  srcMac?: MacLike;
  /** Default 02:00:00:00:00:02. */
  dstMac?: MacLike;
  vlan?: VlanSpec;
  /** `protocol` is implied by tcp/udp/icmp; give it for a raw payload (VRRP, IPIP…). */
  ip: Omit<Ipv4Fields, 'protocol'> & { protocol?: number };
  /** At most one of tcp / udp / icmp. */
  tcp?: TcpFields;
  udp?: UdpFields;
  icmp?: FrameIcmpFields;
  /** L4 payload (or the whole IP payload when no L4 header is given). */
  payload?: Uint8Array | string;
}

export function buildFrame(spec: FrameSpec): Uint8Array {
  const l4count = (spec.tcp ? 1 : 0) + (spec.udp ? 1 : 0) + (spec.icmp ? 1 : 0);
  if (l4count > 1) throw new RangeError('buildFrame: give at most one of tcp, udp, icmp');
  let payload = toBytes(spec.payload);
  let protocol: number;
  let l4hlen = 0;
  if (spec.tcp) { protocol = IPPROTO_TCP; l4hlen = tcpHeaderLen(spec.tcp.options); }
  else if (spec.udp) { protocol = IPPROTO_UDP; l4hlen = UDP_HLEN; }
  else if (spec.icmp) {
    protocol = IPPROTO_ICMP;
    l4hlen = ICMP_HLEN;
    if (spec.icmp.quote) {
      const q = quoteOffending(spec.icmp.quote);
      const joined = new Uint8Array(q.length + payload.length);
      joined.set(q);
      joined.set(payload, q.length);
      payload = joined;
    }
  } else {
    if (spec.ip.protocol === undefined) throw new RangeError('buildFrame: ip.protocol is required without tcp/udp/icmp');
    protocol = spec.ip.protocol;
  }
  if (spec.ip.protocol !== undefined && spec.ip.protocol !== protocol) {
    throw new RangeError(`buildFrame: ip.protocol ${spec.ip.protocol} contradicts the L4 header given (${protocol})`);
  }
  const ethLen = ethernetHeaderLen(spec.vlan);
  const ipLen = ipv4HeaderLen(spec.ip.options);
  const l4Off = ethLen + ipLen;
  const frame = new Uint8Array(l4Off + l4hlen + payload.length);
  writeEthernet(frame, 0, {
    dst: spec.dstMac ?? DEFAULT_DST_MAC, src: spec.srcMac ?? DEFAULT_SRC_MAC,
    ethertype: ETHERTYPE_IPV4, vlan: spec.vlan,
  });
  writeIpv4Header(frame, ethLen, { ...spec.ip, protocol }, l4hlen + payload.length);
  frame.set(payload, l4Off + l4hlen);
  const src = toIpU32(spec.ip.src);
  const dst = toIpU32(spec.ip.dst);
  if (spec.tcp) writeTcpHeader(frame, l4Off, spec.tcp, src, dst, payload.length);
  else if (spec.udp) writeUdpHeader(frame, l4Off, spec.udp, src, dst, payload.length);
  else if (spec.icmp) writeIcmpHeader(frame, l4Off, spec.icmp, payload.length);
  return frame;
}

interface CommonFrameOptions {
  srcMac?: MacLike;
  dstMac?: MacLike;
  vlan?: VlanSpec;
  /** Default 10.0.0.1. */
  src?: IpLike;
  /** Default 10.0.0.100 (a VIP). */
  dst?: IpLike;
  /** Default 64. */
  ttl?: number;
  id?: number;
  /** Default true, as Linux sends TCP and most UDP. */
  df?: boolean;
  tos?: number;
  ipOptions?: Uint8Array;
  payload?: Uint8Array | string;
}

export interface TcpFrameOptions extends CommonFrameOptions, Partial<TcpFields> {}
export interface UdpFrameOptions extends CommonFrameOptions, Partial<UdpFields> {}

export const DEFAULT_CLIENT_IP = '10.0.0.1';
export const DEFAULT_VIP = '10.0.0.100';
export const DEFAULT_CLIENT_PORT = 40000;

function ipFields(o: CommonFrameOptions): FrameSpec['ip'] {
  return {
    src: o.src ?? DEFAULT_CLIENT_IP, dst: o.dst ?? DEFAULT_VIP, ttl: o.ttl ?? 64, id: o.id ?? 0,
    df: o.df ?? true, tos: o.tos ?? 0, options: o.ipOptions,
  };
}

/** A client's TCP segment to a VIP: 10.0.0.1:40000 → 10.0.0.100:80, SYN, seq 1, unless told otherwise. */
export function buildTcpFrame(o: TcpFrameOptions = {}): Uint8Array {
  return buildFrame({
    srcMac: o.srcMac, dstMac: o.dstMac, vlan: o.vlan, ip: ipFields(o), payload: o.payload,
    tcp: {
      srcPort: o.srcPort ?? DEFAULT_CLIENT_PORT, dstPort: o.dstPort ?? 80,
      seq: o.seq ?? 1, ack: o.ack ?? 0, flags: o.flags ?? 'S', window: o.window ?? 65535,
      urgent: o.urgent, options: o.options, checksum: o.checksum, dataOffset: o.dataOffset,
    },
  });
}

/** A client's UDP datagram to a VIP: 10.0.0.1:40000 → 10.0.0.100:53, unless told otherwise. */
export function buildUdpFrame(o: UdpFrameOptions = {}): Uint8Array {
  return buildFrame({
    srcMac: o.srcMac, dstMac: o.dstMac, vlan: o.vlan, ip: ipFields(o), payload: o.payload,
    udp: { srcPort: o.srcPort ?? DEFAULT_CLIENT_PORT, dstPort: o.dstPort ?? 53, checksum: o.checksum, length: o.length },
  });
}

export interface ParsedFrame {
  eth: EthernetHeader;
  arp?: ArpPacket;
  ip?: Ipv4Header;
  tcp?: TcpHeader;
  udp?: UdpHeader;
  icmp?: IcmpHeader;
  /** A VRRP advert (v3 checksum checked with the pseudo-header, as keepalived sends by default). */
  vrrp?: VrrpAdvert;
  /** Why the IP payload with protocol 112 is not a valid advert; the frame itself still parses. */
  vrrpInvalid?: VrrpInvalid;
  /** L4 checksum verdict (TCP/UDP with pseudo-header, ICMP); undefined for non-first fragments or other protocols. */
  l4ChecksumOk?: boolean;
  /** View of the innermost payload decoded (L4 payload, or the IP payload for other protocols / fragments). */
  payload: Uint8Array;
}

/** "layer:reason", e.g. "ipv4:bad-checksum", "tcp:bad-doff". */
export type ParseFrameInvalid = string;

/**
 * Decodes a frame layer by layer. IP and L4 lengths come from the IP header,
 * so Ethernet padding is ignored. L4 checksums are reported, not enforced;
 * an ICMP message with a bad checksum is still returned.
 */
export function parseFrame(buf: Uint8Array, off = 0, len = buf.length - off): DecodeResult<ParsedFrame, ParseFrameInvalid> {
  const e = decodeEthernet(buf, off, len);
  if (!e.ok) return fail(`ethernet:${e.reason}`);
  const eth = e.value;
  const end = off + len;
  const l3 = eth.l3Offset;
  if (eth.ethertype === ETHERTYPE_ARP) {
    const a = decodeArp(buf, l3, end - l3);
    if (!a.ok) return fail(`arp:${a.reason}`);
    return ok({ eth, arp: a.value, payload: buf.subarray(l3 + 28, end) });
  }
  if (eth.ethertype !== ETHERTYPE_IPV4) return ok({ eth, payload: buf.subarray(l3, end) });
  const i = decodeIpv4(buf, l3, end - l3);
  if (!i.ok) return fail(`ipv4:${i.reason}`);
  const ip = i.value;
  const l4 = ip.payloadOffset;
  const l4len = ip.payloadLength;
  const ipPayload = buf.subarray(l4, l4 + l4len);
  if (isFragment(ip) && ip.fragOffset !== 0) return ok({ eth, ip, payload: ipPayload });
  // A first fragment carries an L4 header whose checksum covers bytes not here.
  const whole = !ip.mf;
  if (ip.protocol === IPPROTO_TCP) {
    const t = decodeTcp(buf, l4, l4len);
    if (!t.ok) return fail(`tcp:${t.reason}`);
    return ok({
      eth, ip, tcp: t.value, payload: buf.subarray(t.value.payloadOffset, l4 + l4len),
      l4ChecksumOk: whole ? verifyTcpChecksum(buf, l4, l4len, ip.src, ip.dst) : undefined,
    });
  }
  if (ip.protocol === IPPROTO_UDP) {
    const u = decodeUdp(buf, l4, l4len);
    if (!u.ok) return fail(`udp:${u.reason}`);
    return ok({
      eth, ip, udp: u.value, payload: buf.subarray(u.value.payloadOffset, u.value.payloadOffset + u.value.payloadLength),
      l4ChecksumOk: whole ? verifyUdpChecksum(buf, l4, u.value.length, ip.src, ip.dst) : undefined,
    });
  }
  if (ip.protocol === IPPROTO_ICMP) {
    const c = decodeIcmp(buf, l4, l4len, { verifyChecksum: false });
    if (!c.ok) return fail(`icmp:${c.reason}`);
    const sumOk = decodeIcmp(buf, l4, l4len).ok;
    return ok({ eth, ip, icmp: c.value, payload: buf.subarray(c.value.payloadOffset, l4 + l4len), l4ChecksumOk: whole ? sumOk : undefined });
  }
  if (ip.protocol === IPPROTO_VRRP && whole) {
    const v = decodeVrrp(buf, l4, l4len, ip);
    return ok(v.ok ? { eth, ip, vrrp: v.value, payload: ipPayload } : { eth, ip, vrrpInvalid: v.reason, payload: ipPayload });
  }
  return ok({ eth, ip, payload: ipPayload });
}
