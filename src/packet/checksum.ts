// Internet checksum (RFC 1071) and incremental update (RFC 1624), over
// Uint8Array without copies. All functions work on 16-bit big-endian words.

/** Sum of 16-bit big-endian words of buf[off, off+len), not folded. */
export function csumPartial(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  const end = off + (len & ~1);
  let i = off;
  for (; i < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (len & 1) sum += buf[end]! << 8;
  // Fold periodically is unnecessary: JS numbers hold 2^53, packets are < 2^17 words.
  return sum;
}

/** Fold a 32+-bit sum to 16 bits and complement: the value to write in a checksum field. */
export function csumFold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Full checksum of a region (e.g. an IPv4 header with its checksum field zeroed). */
export function checksum(buf: Uint8Array, off: number, len: number): number {
  return csumFold(csumPartial(buf, off, len));
}

/** IPv4 pseudo-header sum for TCP/UDP (addresses as u32, host order). */
export function pseudoHeaderSum(saddr: number, daddr: number, protocol: number, l4len: number): number {
  return (saddr >>> 16) + (saddr & 0xffff) + (daddr >>> 16) + (daddr & 0xffff) + protocol + l4len;
}

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit word changing from
 * `oldWord` to `newWord`. Returns the new checksum field value.
 */
export function csumUpdate16(check: number, oldWord: number, newWord: number): number {
  let sum = (~check & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** RFC 1624 for a 32-bit field (an IPv4 address) changing from `oldVal` to `newVal` (u32). */
export function csumUpdate32(check: number, oldVal: number, newVal: number): number {
  let sum = (~check & 0xffff)
    + (~(oldVal >>> 16) & 0xffff) + (~oldVal & 0xffff)
    + ((newVal >>> 16) & 0xffff) + (newVal & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** RFC 1624 for an address (u32) and a port changing together, as NAT rewrites them: one fold. */
export function csumUpdateAddrPort(check: number, oldAddr: number, newAddr: number, oldPort: number, newPort: number): number {
  let sum = (~check & 0xffff)
    + (~(oldAddr >>> 16) & 0xffff) + (~oldAddr & 0xffff)
    + ((newAddr >>> 16) & 0xffff) + (newAddr & 0xffff)
    + (~oldPort & 0xffff) + (newPort & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Read/write a 16-bit big-endian checksum field. */
export function getCsum(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}
export function setCsum(buf: Uint8Array, off: number, value: number): void {
  buf[off] = value >>> 8;
  buf[off + 1] = value & 0xff;
}
