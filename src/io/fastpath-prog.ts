// The fast path's two eBPF programs (see src/io/fastpath.ts for why and
// when). Both run the same flow test, emitted once by emitMatch():
//
//   a frame of at least 48 bytes, untagged IPv4 to this host's MAC, header without options, not a
//   fragment (or of at least 68 bytes, IPv6 with TCP or UDP right after the fixed header), TCP
//   without SYN/FIN/RST or UDP, whose (saddr, daddr, sport, dport, proto) is in
//   the family's flow map, whose IP total length fits the entry's
//   limit (the egress MTU) or, a TCP GSO/GRO super-frame, whose segments
//   will (gso_size + IP and TCP headers), and, when the entry decrements
//   the TTL (hop limit), whose TTL is above 1.
//
// - The tcx ingress program rewrites a matching frame as the entry says
//   (addresses, ports, TTL, checksums by the precomputed differences, MACs;
//   a TUN entry instead puts an IPIP header in front, as ip_vs_tunnel_xmit),
//   counts it in the entry and redirects it to the entry's interface. Any
//   other frame goes on (TCX_NEXT) to the netdev chain and lvsd's rings.
// - With --intercept tap, lvsd's rings are ETH_P_ALL taps, which run before
//   tcx: their socket filter drops a matching frame (without this lvsd would
//   forward it a second time) and runs lvsd's classic filter, translated, on
//   every other one. The flow test must be the same in both, or a frame is
//   lost (filtered out of the ring and not redirected) or sent twice: hence
//   one emitter. (Protocol-bound rings, the default, sit behind tcx and
//   keep the classic filter.)
import { emitClassic } from './cbpf-to-ebpf.js';
import {
  AND, Asm, B, FN_get_prandom_u32, FN_l4_csum_replace, FN_map_lookup_elem, FN_redirect, FN_skb_adjust_room, FN_skb_load_bytes, FN_skb_pull_data,
  H, JEQ, JGT, JLE, JNE, JSLT, LSH, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, RSH, SKB_DATA, SKB_DATA_END, SUB, W, XOR,
} from './ebpf.js';

/** IPv4 flow key: saddr, daddr (network order), sport, dport (network order), proto, 3 zero bytes. */
export const KEY_SIZE = 16;
/** IPv6 flow key: saddr, daddr, sport, dport, proto, 3 zero bytes. */
export const KEY6_SIZE = 40;
/**
 * Entry layout (byte offsets); see fastpath.ts for who writes what. An IPv6
 * entry is the IPv4 one (its V_SADDR, V_DADDR and V_L3DIFF unused) with the
 * new addresses after it, so the programs share every other offset.
 */
export const V_SADDR = 0, V_DADDR = 4, V_SPORT = 8, V_DPORT = 10, V_IFINDEX = 12, V_DMAC = 16, V_SMAC = 22;
export const V_MAXTOT = 28, V_FLAGS = 30, V_OWNER = 31, V_L3DIFF = 32, V_L4ADIFF = 36, V_L4PDIFF = 40;
export const V_PACKETS = 48, V_BYTES = 56;
export const VALUE_SIZE = 64;
export const V6_SADDR = 64, V6_DADDR = 80;
export const VALUE6_SIZE = 96;
/** V_FLAGS: the forward decrements the TTL (hop limit): the NAT reply direction. */
export const VF_TTL_DEC = 1;
/**
 * V_FLAGS: an IPv4 TUN flow. The frame is not rewritten but carried in an
 * IPIP header from V_SADDR (the director's tunnel source) to V_DADDR (the
 * real server); V_MAXTOT is then the inner packet's limit (the tunnel's
 * MTU less the outer header).
 */
export const VF_TUN = 2;
/** The IPIP header's length. */
const IPIP_HLEN = 20;

/** The flow maps the programs look frames up in. */
export interface FlowMaps {
  v4: number;
  /** Absent: IPv6 frames always miss (lvsd forwards them). */
  v6?: number;
}

/** Frame header copy on the stack: at R10 - 110, so the IP header (frame + 14) is word-aligned. */
const HDR = -110;
const KEY = -16;
const KEY6 = -40;
/** The frame's IP total length, kept for the count across helper calls. */
const TOT = -120;
/** Bytes read for the test: Ethernet + IP header + TCP up to its flags byte (UDP: the ports and more). */
const HDR_LEN = 48;
const HDR6_LEN = 68;

// struct __sk_buff offsets.
const SKB_PKT_TYPE = 4, SKB_VLAN_PRESENT = 20, SKB_GSO_SIZE = 176;
const PACKET_HOST = 0;

const TCX_NEXT = -1;
const TC_ACT_SHOT = 2;
const BPF_ADJ_ROOM_MAC = 1, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 = 2;
const BPF_F_PSEUDO_HDR = 0x10, BPF_F_MARK_MANGLED_0 = 0x20;
/** Ethertypes as a 16-bit load reads them (little-endian). */
const ETH_IP_LE = 0x0008, ETH_IPV6_LE = 0xdd86;

/** Per family: where the fields are in the header copy (offsets from the frame's start). */
interface Family {
  v6: boolean;
  hdrLen: number;
  ipLen: number;
  ttl: number;
  proto: number;
}
const FAM4: Family = { v6: false, hdrLen: HDR_LEN, ipLen: 20, ttl: 22, proto: 23 };
const FAM6: Family = { v6: true, hdrLen: HDR6_LEN, ipLen: 40, ttl: 21, proto: 20 };

/**
 * The flow test. R6 = skb on entry. A match jumps to its family's label
 * (`hit.v4`, `hit.v6`) with R9 = the entry, R7 = the IP total length (IPv6:
 * 40 + payload length) and R8 = the IP protocol; anything else jumps to
 * `miss`. (Separate labels: the verifier must know which map's value R9
 * points into.)
 */
function emitMatch(a: Asm, maps: FlowMaps, miss: string, hit: { v4: string; v6: string }): void {
  const v6 = a.fresh('v6');
  a.ldx(W, R1, R6, SKB_PKT_TYPE).jmpK(JNE, R1, PACKET_HOST, miss);
  a.ldx(W, R1, R6, SKB_VLAN_PRESENT).jmpK(JNE, R1, 0, miss);
  // One read for both protocols (a UDP frame shorter than 48 bytes stays the engine's); IPv6 reads more below.
  a.movX(R1, R6).movK(R2, 0).movX(R3, R10).alu64K(0 /* ADD */, R3, HDR).movK(R4, HDR_LEN).call(FN_skb_load_bytes);
  a.jmpK(JNE, R0, 0, miss);
  a.ldx(H, R1, R10, HDR + 12);
  if (maps.v6 !== undefined) a.jmpK(JEQ, R1, ETH_IPV6_LE, v6);
  a.jmpK(JNE, R1, ETH_IP_LE, miss);
  // Version 4 with a 20-byte header, no fragment bits.
  a.ldx(B, R1, R10, HDR + 14).jmpK(JNE, R1, 0x45, miss);
  a.ldx(H, R1, R10, HDR + 20).alu64K(AND, R1, 0xff3f).jmpK(JNE, R1, 0, miss);
  emitFamily(a, FAM4, maps.v4, miss, hit.v4);
  if (maps.v6 !== undefined) {
    a.label(v6);
    // Version 6, the whole fixed header and TCP's flags (a UDP frame shorter than 68 bytes stays the engine's).
    a.movX(R1, R6).movK(R2, 0).movX(R3, R10).alu64K(0, R3, HDR).movK(R4, HDR6_LEN).call(FN_skb_load_bytes);
    a.jmpK(JNE, R0, 0, miss);
    a.ldx(B, R1, R10, HDR + 14).alu64K(AND, R1, 0xf0).jmpK(JNE, R1, 0x60, miss);
    emitFamily(a, FAM6, maps.v6, miss, hit.v6);
  }
}

/** The rest of the test for one family: protocol and flags, the key's lookup, length and TTL. */
function emitFamily(a: Asm, f: Family, mapFd: number, miss: string, matched: string): void {
  const tcp = a.fresh('tcp');
  const key = a.fresh('key');
  const ttlOk = a.fresh('ttl');
  const fits = a.fresh('fits');
  const l4 = HDR + 14 + f.ipLen;
  // Next header TCP or UDP right after the fixed header (IPv6 extension headers are the engine's).
  a.ldx(B, R8, R10, HDR + f.proto).jmpK(JEQ, R8, 6, tcp).jmpK(JNE, R8, 17, miss).ja(key);
  a.label(tcp);
  a.ldx(B, R1, R10, l4 + 13).alu64K(AND, R1, 0x07).jmpK(JNE, R1, 0, miss); // FIN, SYN, RST: the engine's
  a.label(key);
  // The key: addresses and ports as they stand in the header, then the protocol.
  const [k, words] = f.v6 ? [KEY6, 9] : [KEY, 3];
  const from = HDR + 14 + (f.v6 ? 8 : 12);
  for (let w = 0; w < words; w++) a.ldx(W, R1, R10, from + 4 * w).stx(W, R10, k + 4 * w, R1);
  a.stx(W, R10, k + 4 * words, R8);
  a.ldMapFd(R1, mapFd).movX(R2, R10).alu64K(0, R2, k).call(FN_map_lookup_elem);
  a.jmpK(JEQ, R0, 0, miss).movX(R9, R0);
  // Total length within the entry's limit (the egress MTU); larger, a TCP super-frame (GRO on the way in, TSO
  // of a sender behind a veth) whose segments fit: the egress device or the kernel's GSO cuts it there, with
  // the rewritten headers. Anything else larger (a UDP super-frame, a frame that needs fragmenting or
  // frag-needed) is the engine's.
  a.ldx(H, R7, R10, HDR + (f.v6 ? 18 : 16)).toBe(R7, 16);
  if (f.v6) a.alu64K(0, R7, 40);
  a.ldx(H, R1, R9, V_MAXTOT).jmpX(JLE, R7, R1, fits);
  a.jmpK(JNE, R8, 6, miss);
  a.ldx(W, R2, R6, SKB_GSO_SIZE).jmpK(JEQ, R2, 0, miss);
  a.ldx(B, R3, R10, l4 + 12).alu64K(RSH, R3, 4).alu64K(LSH, R3, 2).alu64X(0, R2, R3).alu64K(0, R2, f.ipLen);
  a.jmpX(JGT, R2, R1, miss);
  a.label(fits);
  a.ldx(B, R1, R9, V_FLAGS).alu64K(AND, R1, VF_TTL_DEC).jmpK(JEQ, R1, 0, ttlOk);
  a.ldx(B, R1, R10, HDR + f.ttl).jmpK(JLE, R1, 1, miss);
  a.label(ttlOk);
  a.ja(matched);
}

/**
 * The tcx ingress program: forwards matching frames, passes the rest on.
 * The IP header, ports and MACs are written in place (direct packet access)
 * with the IPv4 checksum by the entry's difference; the L4 checksum goes
 * through bpf_l4_csum_replace, which alone knows whether the field holds a
 * full checksum or (CHECKSUM_PARTIAL) only the pseudo-header's. Written this
 * way the skb's CHECKSUM_COMPLETE sum stays right too: each header's change
 * is cancelled by its checksum field's.
 */
export function buildIngress(maps: FlowMaps): Buffer {
  const a = new Asm();
  const miss = 'miss', drop = 'drop';
  a.movX(R6, R1);
  emitMatch(a, maps, miss, { v4: 'rewrite4', v6: 'rewrite6' });
  a.label('rewrite4');
  a.ldx(B, R1, R9, V_FLAGS).alu64K(AND, R1, VF_TUN).jmpK(JNE, R1, 0, 'encap4');
  emitRewrite(a, FAM4, drop);
  a.label('encap4');
  emitEncap(a, miss, drop);
  a.label('rewrite6');
  if (maps.v6 !== undefined) emitRewrite(a, FAM6, drop);
  a.label(drop).movK(R0, TC_ACT_SHOT).exit();
  a.label(miss).movK(R0, TCX_NEXT).exit();
  return a.finish();
}

/** One family's rewrite, count and redirect (R9 = the entry, R8 = the protocol). */
function emitRewrite(a: Asm, f: Family, drop: string): void {
  const udp = a.fresh('udp'), csum = a.fresh('csum'), noTtl = a.fresh('nottl');
  a.stx(W, R10, TOT, R7); // the total length, for the count
  emitLinear(a, f.hdrLen, drop);
  // Addresses and ports.
  if (f.v6) {
    for (let w = 0; w < 8; w++) a.ldx(W, R1, R9, V6_SADDR + 4 * w).stx(W, R2, 22 + 4 * w, R1);
    a.ldx(W, R1, R9, V_SPORT).stx(W, R2, 54, R1);
  } else {
    for (const [at, from] of [[26, V_SADDR], [30, V_DADDR], [34, V_SPORT]] as const) a.ldx(W, R1, R9, from).stx(W, R2, at, R1);
  }
  a.ldx(B, R1, R9, V_FLAGS).alu64K(AND, R1, VF_TTL_DEC).jmpK(JEQ, R1, 0, noTtl);
  a.ldx(B, R1, R2, f.ttl).alu64K(SUB, R1, 1).stx(B, R2, f.ttl, R1);
  a.label(noTtl);
  if (!f.v6) {
    // IP checksum: ~fold(~old + diff), all in the byte order the CPU reads them. (IPv6 has none.)
    a.ldx(H, R1, R2, 24).alu64K(XOR, R1, 0xffff).ldx(W, R4, R9, V_L3DIFF).alu64X(0, R1, R4);
    for (let k = 0; k < 2; k++) a.movX(R4, R1).alu64K(RSH, R4, 16).alu64K(AND, R1, 0xffff).alu64X(0, R1, R4);
    a.alu64K(XOR, R1, 0xffff).stx(H, R2, 24, R1);
  }
  emitMacs(a);
  // L4 checksum: the addresses as pseudo-header, the ports as data. UDP's 0 (no checksum) stays 0.
  const l4 = 14 + f.ipLen;
  a.jmpK(JNE, R8, 6, udp);
  a.movK(R8, l4 + 16).movK(R7 /* flags, data */, 0).ja(csum);
  a.label(udp);
  a.movK(R8, l4 + 6).movK(R7, BPF_F_MARK_MANGLED_0);
  a.label(csum);
  a.movX(R1, R6).movX(R2, R8).movK(R3, 0).ldx(W, R4, R9, V_L4ADIFF).movX(R5, R7).alu64K(0x40 /* OR */, R5, BPF_F_PSEUDO_HDR);
  a.call(FN_l4_csum_replace).jmpK(JSLT, R0, 0, drop);
  a.movX(R1, R6).movX(R2, R8).movK(R3, 0).ldx(W, R4, R9, V_L4PDIFF).movX(R5, R7).call(FN_l4_csum_replace);
  a.jmpK(JSLT, R0, 0, drop);
  // Count (the IP total length, as the engine counts) and send.
  emitCountRedirect(a);
}

/** The frame's first `len` bytes in the linear part (pulled there if they are not); R2 = its start, R3 = the end. */
function emitLinear(a: Asm, len: number, drop: string): void {
  const linear = a.fresh('linear');
  const ptrs = () => a.ldx(W, R2, R6, SKB_DATA).ldx(W, R3, R6, SKB_DATA_END).movX(R4, R2).alu64K(0, R4, len);
  ptrs().jmpX(JLE, R4, R3, linear);
  a.movX(R1, R6).movK(R2, len).call(FN_skb_pull_data).jmpK(JNE, R0, 0, drop);
  ptrs().jmpX(JGT, R4, R3, drop);
  a.label(linear);
}

/** The entry's next-hop MACs into the frame at R2. */
function emitMacs(a: Asm): void {
  a.ldx(W, R1, R9, V_DMAC).stx(W, R2, 0, R1);
  a.ldx(H, R1, R9, V_DMAC + 4).stx(H, R2, 4, R1);
  a.ldx(H, R1, R9, V_SMAC).stx(H, R2, 6, R1);
  a.ldx(W, R1, R9, V_SMAC + 2).stx(W, R2, 8, R1);
}

/** One more packet and TOT bytes in the entry (R9); send it to the entry's interface. */
function emitCountRedirect(a: Asm): void {
  a.movK(R1, 1).atomicAdd64(R9, V_PACKETS, R1);
  a.ldx(W, R1, R10, TOT).atomicAdd64(R9, V_BYTES, R1);
  a.ldx(W, R1, R9, V_IFINDEX).movK(R2, 0).call(FN_redirect).exit();
}

/**
 * A TUN flow's frame (R9 = the entry, R7 = the inner total length): room
 * for the outer header after the Ethernet one (BPF_F_ADJ_ROOM_ENCAP_L3_IPV4:
 * the skb knows it is IPIP-encapsulated, so a GSO super-frame's segments
 * are cut with an outer header each, and its gso_size shrinks by 20 so
 * they still fit), then the header as the engine writes it (writeIpipOuter):
 * TOS, TTL and DF of the inner packet, id 0 with DF (else a random one,
 * where the engine counts), protocol 4. The inner packet and its checksums
 * stay as they are; a CHECKSUM_COMPLETE sum stays right too (a header with
 * a right checksum adds nothing to a one's complement sum).
 */
function emitEncap(a: Asm, miss: string, drop: string): void {
  const df = a.fresh('df'), idDone = a.fresh('id');
  const o = 14, inner = 14 + IPIP_HLEN;
  a.stx(W, R10, TOT, R7);
  a.movX(R1, R6).movK(R2, IPIP_HLEN).movK(R3, BPF_ADJ_ROOM_MAC).movK(R4, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4).movK(R5, 0);
  // Refused (a GSO kind it cannot grow, e.g. UDP's): nothing was changed yet, the engine takes the frame.
  a.call(FN_skb_adjust_room).jmpK(JNE, R0, 0, miss);
  // The id first (the helper call clobbers R1-R5 and the packet pointers), from the DF bit in the flow test's header copy.
  a.movK(R7, 0);
  a.ldx(B, R1, R10, HDR + 14 + 6).alu64K(AND, R1, 0x40).jmpK(JNE, R1, 0, idDone);
  a.call(FN_get_prandom_u32).movX(R7, R0).alu64K(AND, R7, 0xffff);
  a.label(idDone);
  emitLinear(a, inner + 20, drop);
  a.movK(R1, 0x45).stx(B, R2, o, R1);
  a.ldx(B, R1, R2, inner + 1).stx(B, R2, o + 1, R1);
  a.ldx(W, R1, R10, TOT).alu64K(0, R1, IPIP_HLEN).toBe(R1, 16).stx(H, R2, o + 2, R1);
  a.ldx(B, R1, R2, inner + 6).alu64K(AND, R1, 0x40).stx(B, R2, o + 6, R1);
  a.jmpK(JEQ, R1, 0, df);
  a.movK(R7, 0);
  a.label(df);
  a.toBe(R7, 16).stx(H, R2, o + 4, R7);
  a.movK(R1, 0).stx(B, R2, o + 7, R1).stx(H, R2, o + 10, R1);
  a.ldx(B, R1, R2, inner + 8).stx(B, R2, o + 8, R1);
  a.movK(R1, 4).stx(B, R2, o + 9, R1);
  a.ldx(W, R1, R9, V_SADDR).stx(W, R2, o + 12, R1);
  a.ldx(W, R1, R9, V_DADDR).stx(W, R2, o + 16, R1);
  // Its checksum: the one's complement sum of its ten words (read and written in the same byte order).
  a.movK(R1, 0);
  for (let w = 0; w < 10; w++) a.ldx(H, R4, R2, o + 2 * w).alu64X(0, R1, R4);
  for (let k = 0; k < 2; k++) a.movX(R4, R1).alu64K(RSH, R4, 16).alu64K(AND, R1, 0xffff).alu64X(0, R1, R4);
  a.alu64K(XOR, R1, 0xffff).stx(H, R2, o + 10, R1);
  // MACs, count (the inner length, as the engine counts a TUN packet), send.
  emitMacs(a);
  emitCountRedirect(a);
}

/** lvsd's socket filter with the fast path in front: matching frames are not queued; the rest meet `classic`. */
export function buildSocketFilter(maps: FlowMaps, classic: Uint32Array): Buffer {
  const a = new Asm();
  a.movX(R6, R1);
  emitMatch(a, maps, 'classic', { v4: 'hit', v6: 'hit' });
  a.label('hit');
  a.mov32K(R0, 0).exit();
  a.label('classic');
  emitClassic(a, classic);
  return a.finish();
}
