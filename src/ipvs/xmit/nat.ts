// Masquerading (ip_vs_nat_xmit and the SNAT of replies in ip_vs_out):
// in place, O(1), with RFC 1624 incremental checksum updates of the IPv4
// header and of the TCP/UDP checksum over the pseudo-header. A UDP checksum
// of 0 means "none" and stays 0; a result of 0 is sent as 0xffff.
//
// TTL: the client → RS direction is not decremented: IPVS takes those
// packets at LOCAL_IN (the VIP is local) and sends them with ip_local_out,
// so ip_forward never runs. Replies RS → client are routed through the
// director (FORWARD hook, after ip_forward has decremented the TTL), so they
// lose one hop, and a reply that arrives with TTL <= 1 is not forwarded.
import { csumUpdate16, csumUpdate32, csumUpdateAddrPort, getCsum, setCsum } from '../../packet/checksum.js';
import { csumUpdate128 } from '../../packet/ipv6.js';
import { readIp, writeIp } from '../../packet/addr.js';
import { readU16, writeU16 } from '../../packet/input.js';
import { VERDICT_XMIT, type XmitOut } from '../verdict.js';

/**
 * Replaces a 32-bit address at `addrOff` and a 16-bit port at `portOff`
 * (portOff < 0: no port), fixing the IP header checksum at `ipCsumOff` and
 * the L4 checksum at `l4CsumOff` (< 0: none). `udp` applies the zero rule.
 */
export function rewriteAddrPort(buf: Uint8Array, addrOff: number, newAddr: number, portOff: number, newPort: number,
  ipCsumOff: number, l4CsumOff: number, udp: boolean): void {
  const oldAddr = readIp(buf, addrOff);
  writeIp(buf, addrOff, newAddr);
  if (ipCsumOff >= 0) setCsum(buf, ipCsumOff, csumUpdate32(getCsum(buf, ipCsumOff), oldAddr, newAddr));
  let oldPort = 0;
  if (portOff >= 0) {
    oldPort = readU16(buf, portOff);
    writeU16(buf, portOff, newPort);
  }
  if (l4CsumOff < 0) return;
  const c = getCsum(buf, l4CsumOff);
  if (udp && c === 0) return;
  let n = portOff >= 0 ? csumUpdateAddrPort(c, oldAddr, newAddr, oldPort, newPort) : csumUpdate32(c, oldAddr, newAddr);
  if (udp && n === 0) n = 0xffff;
  setCsum(buf, l4CsumOff, n);
}

/**
 * The forwarding TTL decrement of a packet routed through the director, with
 * the header checksum; false (nothing changed) when the TTL would expire.
 */
export function decrementTtl(buf: Uint8Array, l3: number): boolean {
  const ttl = buf[l3 + 8]!;
  if (ttl <= 1) return false;
  const word = readU16(buf, l3 + 8);
  buf[l3 + 8] = ttl - 1;
  setCsum(buf, l3 + 10, csumUpdate16(getCsum(buf, l3 + 10), word, word - 0x100));
  return true;
}

/** DNAT of a client packet: VIP:vport → RIP:rport. `l4` is the L4 header's offset. */
export function natIn(buf: Uint8Array, l3: number, l4: number, proto: number, raddr: number, rport: number): void {
  const udp = proto === 17;
  rewriteAddrPort(buf, l3 + 16, raddr, l4 + 2, rport, l3 + 10, l4 + (udp ? 6 : 16), udp);
}

/**
 * SNAT of a reply: RIP:rport → VIP:vport, and the forwarding TTL decrement.
 * Returns false (nothing changed) when the TTL would expire.
 */
export function natOut(buf: Uint8Array, l3: number, l4: number, proto: number, vaddr: number, vport: number): boolean {
  if (!decrementTtl(buf, l3)) return false;
  const udp = proto === 17;
  rewriteAddrPort(buf, l3 + 12, vaddr, l4, vport, l3 + 10, l4 + (udp ? 6 : 16), udp);
  return true;
}

/** ip_vs_nat_xmit: the client's packet DNATed to the real server, which is the next hop. */
export function natXmit(out: XmitOut, buf: Uint8Array, l3: number, l4: number, totLen: number, proto: number,
  raddr: number, rport: number): number {
  natIn(buf, l3, l4, proto, raddr, rport);
  out.buf = buf;
  out.start = l3;
  out.len = totLen;
  out.nextHop = raddr;
  return VERDICT_XMIT;
}

// ---------------------------------------------------------------- IPv6
// The same rewrites for IPv6 (ip_vs_nat_xmit_v6, the v6 half of
// tcp/udp_snat_handler): no header checksum, the 128-bit address folded
// into the TCP/UDP checksum through the pseudo-header (ip_vs_check_diff16).
// `l4` is the upper-layer header found past any extension headers.

/**
 * Replaces the 16-byte address at buf[addrOff] with the one at
 * addr[aOff…), and the port at `portOff` (< 0: none), fixing the L4
 * checksum at `l4CsumOff` (< 0: none). UDP over IPv6 always has a checksum
 * (the engine drops a zero one), and a result of 0 is sent as 0xffff.
 */
export function rewriteAddrPort6(buf: Uint8Array, addrOff: number, addr: Uint8Array, aOff: number, portOff: number, newPort: number,
  l4CsumOff: number, udp: boolean): void {
  let oldPort = newPort;
  if (portOff >= 0) oldPort = readU16(buf, portOff);
  if (l4CsumOff >= 0) {
    let n = csumUpdate128(getCsum(buf, l4CsumOff), buf, addrOff, addr, aOff, oldPort, newPort);
    if (udp && n === 0) n = 0xffff;
    setCsum(buf, l4CsumOff, n);
  }
  for (let k = 0; k < 16; k++) buf[addrOff + k] = addr[aOff + k]!;
  if (portOff >= 0) writeU16(buf, portOff, newPort);
}

/** The forwarding hop-limit decrement; false (nothing changed) when it would expire (ip6_forward). */
export function decrementHopLimit(buf: Uint8Array, l3: number): boolean {
  const h = buf[l3 + 7]!;
  if (h <= 1) return false;
  buf[l3 + 7] = h - 1;
  return true;
}

/** DNAT of a client packet: VIP:vport → RIP:rport. */
export function natIn6(buf: Uint8Array, l3: number, l4: number, proto: number, raddr: Uint8Array, rport: number): void {
  const udp = proto === 17;
  rewriteAddrPort6(buf, l3 + 24, raddr, 0, l4 + 2, rport, l4 + (udp ? 6 : 16), udp);
}

/** SNAT of a reply: RIP:rport → VIP:vport, one hop less; false (nothing changed) when the hop limit would expire. */
export function natOut6(buf: Uint8Array, l3: number, l4: number, proto: number, vaddr: Uint8Array, vport: number): boolean {
  if (!decrementHopLimit(buf, l3)) return false;
  const udp = proto === 17;
  rewriteAddrPort6(buf, l3 + 8, vaddr, 0, l4, vport, l4 + (udp ? 6 : 16), udp);
  return true;
}
