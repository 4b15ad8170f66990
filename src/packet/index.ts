// One import for integrators: import { buildTcpFrame, PacketView } from '../packet/index.js'.
//
// Conventions across the codecs:
// - IPv4 addresses are u32 in host order (ipToU32); builders also take dotted
//   quads or 4 bytes (IpLike), MACs as strings or 6 bytes (MacLike).
// - decodeX(buf, off, len) never throws on bad input: it returns
//   { ok: true, value } or { ok: false, reason } with a short reason string.
//   Decoded headers hold offsets and views into buf, never copies.
// - writeXHeader(buf, off, fields, …) fills a header in place (for TX buffers
//   with headroom); buildX(fields) returns a fresh Uint8Array. Both compute
//   checksums unless a `checksum` override is given (for broken test packets).
// - The data plane parses with one reused PacketView (no allocation, numeric
//   verdicts) and rewrites with rewrite.ts (RFC 1624 incremental updates).
export * from './checksum.js';
export * from './addr.js';
export * from './result.js';
export * from './input.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './tcp.js';
export * from './udp.js';
export * from './icmp.js';
export * from './ipip.js';
export * from './vrrp.js';
export * from './pcap.js';
export * from './frame.js';
export * from './rewrite.js';
export * from './view.js';
