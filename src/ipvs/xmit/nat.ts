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

/** ~a & 0xffff summed for a 32-bit value's halves. */
function negSum32(v: number): number {
  return (~(v >>> 16) & 0xffff) + (~v & 0xffff);
}
function sum32(v: number): number {
  return (v >>> 16) + (v & 0xffff);
}
function fold(sum: number): number {
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * Replaces a 32-bit address at `addrOff` and a 16-bit port at `portOff`
 * (portOff < 0: no port), fixing the IP header checksum at `ipCsumOff` and
 * the L4 checksum at `l4CsumOff` (< 0: none). `udp` applies the zero rule.
 */
export function rewriteAddrPort(buf: Uint8Array, addrOff: number, newAddr: number, portOff: number, newPort: number,
  ipCsumOff: number, l4CsumOff: number, udp: boolean): void {
  const oldAddr = ((buf[addrOff]! << 24) | (buf[addrOff + 1]! << 16) | (buf[addrOff + 2]! << 8) | buf[addrOff + 3]!) >>> 0;
  buf[addrOff] = newAddr >>> 24;
  buf[addrOff + 1] = newAddr >>> 16;
  buf[addrOff + 2] = newAddr >>> 8;
  buf[addrOff + 3] = newAddr;
  const addrDelta = negSum32(oldAddr) + sum32(newAddr);
  if (ipCsumOff >= 0) {
    const c = (buf[ipCsumOff]! << 8) | buf[ipCsumOff + 1]!;
    const n = ~fold((~c & 0xffff) + addrDelta) & 0xffff;
    buf[ipCsumOff] = n >>> 8;
    buf[ipCsumOff + 1] = n;
  }
  let delta = addrDelta;
  if (portOff >= 0) {
    const oldPort = (buf[portOff]! << 8) | buf[portOff + 1]!;
    buf[portOff] = newPort >>> 8;
    buf[portOff + 1] = newPort;
    delta += (~oldPort & 0xffff) + newPort;
  }
  if (l4CsumOff >= 0) {
    const c = (buf[l4CsumOff]! << 8) | buf[l4CsumOff + 1]!;
    if (udp && c === 0) return;
    let n = ~fold((~c & 0xffff) + delta) & 0xffff;
    if (udp && n === 0) n = 0xffff;
    buf[l4CsumOff] = n >>> 8;
    buf[l4CsumOff + 1] = n;
  }
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
  const ttl = buf[l3 + 8]!;
  if (ttl <= 1) return false;
  // TTL is the high byte of the word at l3+8: decrementing it subtracts 0x100.
  const c = (buf[l3 + 10]! << 8) | buf[l3 + 11]!;
  const n = ~fold((~c & 0xffff) + 0xfeff) & 0xffff; // + ~0x0100
  buf[l3 + 8] = ttl - 1;
  buf[l3 + 10] = n >>> 8;
  buf[l3 + 11] = n;
  const udp = proto === 17;
  rewriteAddrPort(buf, l3 + 12, vaddr, l4, vport, l3 + 10, l4 + (udp ? 6 : 16), udp);
  return true;
}
