// In-place NAT rewrites with RFC 1624 incremental checksum updates, as
// ip_vs_nat_xmit() and the SNAT of replies do: O(1) per packet, whatever
// the payload length. Addresses are u32, ports numbers; `ipOff` is the IPv4
// header's offset and the header is assumed already validated.
import { csumUpdate16, csumUpdate32 } from './checksum.js';
import { readIp, writeIp } from './addr.js';
import { readU16, writeU16 } from './input.js';
import { IPPROTO_TCP, IPPROTO_UDP, IP_OFFMASK } from './ipv4.js';

/** Offset of the L4 checksum field, or -1 when there is none to fix (not TCP/UDP, or a non-first fragment). */
function l4CsumOffset(buf: Uint8Array, ipOff: number): number {
  if ((readU16(buf, ipOff + 6) & IP_OFFMASK) !== 0) return -1;
  const l4 = ipOff + (buf[ipOff]! & 0x0f) * 4;
  const proto = buf[ipOff + 9]!;
  if (proto === IPPROTO_TCP) return l4 + 16;
  if (proto === IPPROTO_UDP) return l4 + 6;
  return -1;
}

function updateL4(buf: Uint8Array, ipOff: number, fieldOff: number, update: (c: number) => number): void {
  const proto = buf[ipOff + 9]!;
  const old = readU16(buf, fieldOff);
  if (proto === IPPROTO_UDP) {
    // Zero means the sender computed no checksum; it stays that way. A
    // computed zero is sent as 0xffff (RFC 768).
    if (old === 0) return;
    const c = update(old);
    writeU16(buf, fieldOff, c === 0 ? 0xffff : c);
    return;
  }
  writeU16(buf, fieldOff, update(old));
}

/** Rewrites the source or destination address, fixing the IP and (pseudo-header) L4 checksums. */
export function rewriteIpv4Addr(buf: Uint8Array, ipOff: number, which: 'src' | 'dst', addr: number): void {
  const at = ipOff + (which === 'src' ? 12 : 16);
  const old = readIp(buf, at);
  const neu = addr >>> 0;
  if (old === neu) return;
  writeIp(buf, at, neu);
  writeU16(buf, ipOff + 10, csumUpdate32(readU16(buf, ipOff + 10), old, neu));
  const f = l4CsumOffset(buf, ipOff);
  if (f >= 0) updateL4(buf, ipOff, f, (c) => csumUpdate32(c, old, neu));
}

/** Rewrites the TCP/UDP source or destination port, fixing the L4 checksum. No-op for other protocols and non-first fragments. */
export function rewriteL4Port(buf: Uint8Array, ipOff: number, which: 'src' | 'dst', port: number): void {
  const f = l4CsumOffset(buf, ipOff);
  if (f < 0) return;
  const l4 = ipOff + (buf[ipOff]! & 0x0f) * 4;
  const at = l4 + (which === 'src' ? 0 : 2);
  const old = readU16(buf, at);
  if (old === port) return;
  writeU16(buf, at, port);
  updateL4(buf, ipOff, f, (c) => csumUpdate16(c, old, port));
}

/** Decrements the TTL (a router's duty when forwarding), fixing the header checksum; returns the new TTL. */
export function decrementTtl(buf: Uint8Array, ipOff: number): number {
  const ttl = buf[ipOff + 8]!;
  if (ttl === 0) return 0;
  const oldWord = readU16(buf, ipOff + 8);
  buf[ipOff + 8] = ttl - 1;
  writeU16(buf, ipOff + 10, csumUpdate16(readU16(buf, ipOff + 10), oldWord, readU16(buf, ipOff + 8)));
  return ttl - 1;
}

/**
 * Rewrites the datagram quoted in an ICMP error (ip_vs_nat_icmp): the inner
 * source or destination address, and the port when a TCP/UDP header is
 * quoted, fixing the inner IP checksum and the ICMP checksum incrementally.
 * The quoted L4 checksum is left alone: it covers bytes the quote lacks.
 * `ipOff` is the outer IPv4 header; the caller has checked it carries an
 * ICMP error whose quote holds at least an IP header. Returns false (and
 * changes nothing) when the quote is too short to hold what is rewritten.
 */
export function rewriteIcmpInner(
  buf: Uint8Array, ipOff: number, which: 'src' | 'dst', addr: number, port?: number,
): boolean {
  const icmp = ipOff + (buf[ipOff]! & 0x0f) * 4;
  const end = ipOff + readU16(buf, ipOff + 2);
  const inner = icmp + 8;
  if (inner + 20 > end) return false;
  const ihl = (buf[inner]! & 0x0f) * 4;
  const proto = buf[inner + 9]!;
  const l4 = inner + ihl;
  const firstFrag = (readU16(buf, inner + 6) & IP_OFFMASK) === 0;
  const hasPorts = port !== undefined && firstFrag && (proto === IPPROTO_TCP || proto === IPPROTO_UDP) && l4 + 4 <= end;
  if (ihl < 20 || inner + ihl > end) return false;
  let icmpSum = readU16(buf, icmp + 2);

  const at = inner + (which === 'src' ? 12 : 16);
  const oldAddr = readIp(buf, at);
  const neu = addr >>> 0;
  writeIp(buf, at, neu);
  icmpSum = csumUpdate32(icmpSum, oldAddr, neu);
  const oldIpSum = readU16(buf, inner + 10);
  const newIpSum = csumUpdate32(oldIpSum, oldAddr, neu);
  writeU16(buf, inner + 10, newIpSum);
  icmpSum = csumUpdate16(icmpSum, oldIpSum, newIpSum);

  if (hasPorts) {
    const pAt = l4 + (which === 'src' ? 0 : 2);
    const oldPort = readU16(buf, pAt);
    writeU16(buf, pAt, port);
    icmpSum = csumUpdate16(icmpSum, oldPort, port);
  }
  writeU16(buf, icmp + 2, icmpSum);
  return true;
}
