// The fast path's two eBPF programs (see src/io/fastpath.ts for why and
// when). Both run the same flow test, emitted once by emitMatch():
//
//   a frame of at least 48 bytes, untagged IPv4 to this host's MAC, header without options, not a
//   fragment, TCP without SYN/FIN/RST or UDP, whose (saddr, daddr, sport,
//   dport, proto) is in the flow map, whose IP total length fits the entry's
//   limit (the egress MTU) or, a TCP GSO/GRO super-frame, whose segments
//   will (gso_size + IP and TCP headers), and, when the entry decrements
//   the TTL, whose TTL is above 1.
//
// - The tcx ingress program rewrites a matching frame as the entry says
//   (addresses, ports, TTL, checksums by the precomputed differences, MACs),
//   counts it in the entry and redirects it to the entry's interface. Any
//   other frame goes on (TCX_NEXT) to the netdev chain and the packet tap.
// - The socket filter of lvsd's packet sockets drops a matching frame (the
//   tap runs before tcx: without this lvsd would forward it a second time)
//   and runs lvsd's classic filter, translated, on every other one.
//
// The flow test must be the same in both, or a frame is lost (filtered out
// of the ring and not redirected) or sent twice: hence one emitter.
import { emitClassic } from './cbpf-to-ebpf.js';
import {
  AND, Asm, B, FN_l4_csum_replace, FN_map_lookup_elem, FN_redirect, FN_skb_load_bytes, FN_skb_pull_data,
  H, JEQ, JGT, JLE, JNE, JSLT, LSH, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, RSH, SKB_DATA, SKB_DATA_END, SUB, W, XOR,
} from './ebpf.js';

/** Flow key: saddr, daddr (network order), sport, dport (network order), proto, 3 zero bytes. */
export const KEY_SIZE = 16;
/** Entry layout (byte offsets); see fastpath.ts for who writes what. */
export const V_SADDR = 0, V_DADDR = 4, V_SPORT = 8, V_DPORT = 10, V_IFINDEX = 12, V_DMAC = 16, V_SMAC = 22;
export const V_MAXTOT = 28, V_FLAGS = 30, V_OWNER = 31, V_L3DIFF = 32, V_L4ADIFF = 36, V_L4PDIFF = 40;
export const V_PACKETS = 48, V_BYTES = 56;
export const VALUE_SIZE = 64;
/** V_FLAGS: the forward decrements the TTL (the NAT reply direction). */
export const VF_TTL_DEC = 1;

/** Frame header copy on the stack: at R10 - 66, so the IP header (frame + 14) is word-aligned. */
const HDR = -66;
const KEY = -16;
/** Bytes read for the test: Ethernet + IPv4 + TCP up to its flags byte (UDP: the ports and more). */
const HDR_LEN = 48;

// struct __sk_buff offsets.
const SKB_PKT_TYPE = 4, SKB_VLAN_PRESENT = 20, SKB_GSO_SIZE = 176;
const PACKET_HOST = 0;

const TCX_NEXT = -1;
const TC_ACT_SHOT = 2;
const BPF_F_PSEUDO_HDR = 0x10, BPF_F_MARK_MANGLED_0 = 0x20;

/**
 * The flow test. R6 = skb on entry. Falls through with R9 = the entry, R7 =
 * the IP total length and R8 = the IP protocol; jumps to `miss` otherwise.
 */
function emitMatch(a: Asm, mapFd: number, miss: string): void {
  const tcp = a.fresh('tcp');
  const key = a.fresh('key');
  const ttlOk = a.fresh('ttl');
  const fits = a.fresh('fits');
  a.ldx(W, R1, R6, SKB_PKT_TYPE).jmpK(JNE, R1, PACKET_HOST, miss);
  a.ldx(W, R1, R6, SKB_VLAN_PRESENT).jmpK(JNE, R1, 0, miss);
  // One read for both protocols (a UDP frame shorter than 48 bytes stays the engine's).
  a.movX(R1, R6).movK(R2, 0).movX(R3, R10).alu64K(0 /* ADD */, R3, HDR).movK(R4, HDR_LEN).call(FN_skb_load_bytes);
  a.jmpK(JNE, R0, 0, miss);
  // Ethertype 0x0800 (read little-endian: 0x0008), version 4 with a 20-byte header, no fragment bits.
  a.ldx(H, R1, R10, HDR + 12).jmpK(JNE, R1, 0x0008, miss);
  a.ldx(B, R1, R10, HDR + 14).jmpK(JNE, R1, 0x45, miss);
  a.ldx(H, R1, R10, HDR + 20).alu64K(AND, R1, 0xff3f).jmpK(JNE, R1, 0, miss);
  a.ldx(B, R8, R10, HDR + 23).jmpK(JEQ, R8, 6, tcp).jmpK(JNE, R8, 17, miss).ja(key);
  a.label(tcp);
  a.ldx(B, R1, R10, HDR + 47).alu64K(AND, R1, 0x07).jmpK(JNE, R1, 0, miss); // FIN, SYN, RST: the engine's
  a.label(key);
  a.ldx(W, R1, R10, HDR + 26).stx(W, R10, KEY, R1);
  a.ldx(W, R1, R10, HDR + 30).stx(W, R10, KEY + 4, R1);
  a.ldx(W, R1, R10, HDR + 34).stx(W, R10, KEY + 8, R1);
  a.stx(W, R10, KEY + 12, R8);
  a.ldMapFd(R1, mapFd).movX(R2, R10).alu64K(0, R2, KEY).call(FN_map_lookup_elem);
  a.jmpK(JEQ, R0, 0, miss).movX(R9, R0);
  // Total length within the entry's limit (the egress MTU); larger, a TCP super-frame (GRO on the way in, TSO
  // of a sender behind a veth) whose segments fit: the egress device or the kernel's GSO cuts it there, with
  // the rewritten headers. Anything else larger (a UDP super-frame, a frame that needs fragmenting or
  // frag-needed) is the engine's.
  a.ldx(H, R7, R10, HDR + 16).toBe(R7, 16);
  a.ldx(H, R1, R9, V_MAXTOT).jmpX(JLE, R7, R1, fits);
  a.jmpK(JNE, R8, 6, miss);
  a.ldx(W, R2, R6, SKB_GSO_SIZE).jmpK(JEQ, R2, 0, miss);
  a.ldx(B, R3, R10, HDR + 46).alu64K(RSH, R3, 4).alu64K(LSH, R3, 2).alu64X(0, R2, R3).alu64K(0, R2, 20);
  a.jmpX(JGT, R2, R1, miss);
  a.label(fits);
  a.ldx(B, R1, R9, V_FLAGS).alu64K(AND, R1, VF_TTL_DEC).jmpK(JEQ, R1, 0, ttlOk);
  a.ldx(B, R1, R10, HDR + 22).jmpK(JLE, R1, 1, miss);
  a.label(ttlOk);
}

/**
 * The tcx ingress program: forwards matching frames, passes the rest on.
 * The IP header, ports and MACs are written in place (direct packet access)
 * with the IP checksum by the entry's difference; the L4 checksum goes
 * through bpf_l4_csum_replace, which alone knows whether the field holds a
 * full checksum or (CHECKSUM_PARTIAL) only the pseudo-header's. Written this
 * way the skb's CHECKSUM_COMPLETE sum stays right too: each header's change
 * is cancelled by its checksum field's.
 */
export function buildIngress(mapFd: number): Buffer {
  const a = new Asm();
  const miss = 'miss', drop = 'drop', udp = 'udp', csum = 'csum', noTtl = 'nottl', linear = 'linear';
  a.movX(R6, R1);
  emitMatch(a, mapFd, miss);
  // The headers in the linear part (pulled there if they are not).
  const ptrs = () => a.ldx(W, R2, R6, SKB_DATA).ldx(W, R3, R6, SKB_DATA_END).movX(R4, R2).alu64K(0, R4, HDR_LEN);
  ptrs().jmpX(JLE, R4, R3, linear);
  a.movX(R1, R6).movK(R2, HDR_LEN).call(FN_skb_pull_data).jmpK(JNE, R0, 0, drop);
  ptrs().jmpX(JGT, R4, R3, drop);
  a.label(linear);
  // Addresses and ports.
  for (const [at, from] of [[26, V_SADDR], [30, V_DADDR], [34, V_SPORT]] as const) a.ldx(W, R1, R9, from).stx(W, R2, at, R1);
  a.ldx(B, R1, R9, V_FLAGS).alu64K(AND, R1, VF_TTL_DEC).jmpK(JEQ, R1, 0, noTtl);
  a.ldx(B, R1, R2, 22).alu64K(SUB, R1, 1).stx(B, R2, 22, R1);
  a.label(noTtl);
  // IP checksum: ~fold(~old + diff), all in the byte order the CPU reads them.
  a.ldx(H, R1, R2, 24).alu64K(XOR, R1, 0xffff).ldx(W, R4, R9, V_L3DIFF).alu64X(0, R1, R4);
  for (let k = 0; k < 2; k++) a.movX(R4, R1).alu64K(RSH, R4, 16).alu64K(AND, R1, 0xffff).alu64X(0, R1, R4);
  a.alu64K(XOR, R1, 0xffff).stx(H, R2, 24, R1);
  // MACs.
  a.ldx(W, R1, R9, V_DMAC).stx(W, R2, 0, R1);
  a.ldx(H, R1, R9, V_DMAC + 4).stx(H, R2, 4, R1);
  a.ldx(H, R1, R9, V_SMAC).stx(H, R2, 6, R1);
  a.ldx(W, R1, R9, V_SMAC + 2).stx(W, R2, 8, R1);
  // L4 checksum: the addresses as pseudo-header, the ports as data. UDP's 0 (no checksum) stays 0.
  a.jmpK(JNE, R8, 6, udp);
  a.movK(R8, 14 + 20 + 16).movK(R7 /* flags, data */, 0).ja(csum);
  a.label(udp);
  a.movK(R8, 14 + 20 + 6).movK(R7, BPF_F_MARK_MANGLED_0);
  a.label(csum);
  a.movX(R1, R6).movX(R2, R8).movK(R3, 0).ldx(W, R4, R9, V_L4ADIFF).movX(R5, R7).alu64K(0x40 /* OR */, R5, BPF_F_PSEUDO_HDR);
  a.call(FN_l4_csum_replace).jmpK(JSLT, R0, 0, drop);
  a.movX(R1, R6).movX(R2, R8).movK(R3, 0).ldx(W, R4, R9, V_L4PDIFF).movX(R5, R7).call(FN_l4_csum_replace);
  a.jmpK(JSLT, R0, 0, drop);
  // Count (the IP total length, as the engine counts) and send.
  a.movK(R1, 1).atomicAdd64(R9, V_PACKETS, R1);
  a.ldx(H, R1, R10, HDR + 16).toBe(R1, 16).atomicAdd64(R9, V_BYTES, R1);
  a.ldx(W, R1, R9, V_IFINDEX).movK(R2, 0).call(FN_redirect).exit();
  a.label(drop).movK(R0, TC_ACT_SHOT).exit();
  a.label(miss).movK(R0, TCX_NEXT).exit();
  return a.finish();
}

/** lvsd's socket filter with the fast path in front: matching frames are not queued; the rest meet `classic`. */
export function buildSocketFilter(mapFd: number, classic: Uint32Array): Buffer {
  const a = new Asm();
  a.movX(R6, R1);
  emitMatch(a, mapFd, 'classic');
  a.mov32K(R0, 0).exit();
  a.label('classic');
  emitClassic(a, classic);
  return a.finish();
}
