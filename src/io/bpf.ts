// Classic-BPF socket filter for the forwarder's packet socket: keep only what
// the engine needs, so the ring (and JS) never see the host's other traffic.
// Accepted: IPv4 (untagged or one 802.1Q tag) TCP/UDP whose (dst addr, dst
// port) is a virtual service or whose (src addr, src port) is a NAT real
// server; ICMP to or from any of those addresses (error translation, the TUN
// frag-needed path); non-first fragments to a VIP / from a real server (no
// L4 header to match). IPv6 the same way, by the 128-bit address: TCP/UDP
// right after the fixed header by port too; anything else to a VIP or from a
// NAT real server (extension headers, which classic BPF cannot walk,
// ICMPv6, fragments) whole, for the engine to judge. IPv6 branches exist
// only when some rule is IPv6. Everything else returns 0 (not queued).
//
// Only conditional jumps of +0/+1 are emitted and every longer jump is a `ja`
// (32-bit offset), so the program is valid whatever the rule count; above
// `maxEntries` rules an accept-all program is returned instead (the engine
// filters anyway; a giant linear program would cost more than it saves).
import { ipToU32 } from '../packet/addr.js';
import { formatIpv6, parseIpv6, readIp6Words } from '../packet/ipv6.js';

// <linux/bpf_common.h> / <linux/filter.h>
export const BPF_LD = 0x00, BPF_LDX = 0x01, BPF_ST = 0x02, BPF_STX = 0x03, BPF_ALU = 0x04, BPF_JMP = 0x05, BPF_RET = 0x06, BPF_MISC = 0x07;
export const BPF_W = 0x00, BPF_H = 0x08, BPF_B = 0x10;
export const BPF_IMM = 0x00, BPF_ABS = 0x20, BPF_IND = 0x40, BPF_MEM = 0x60, BPF_LEN = 0x80, BPF_MSH = 0xa0;
export const BPF_ADD = 0x00, BPF_SUB = 0x10, BPF_MUL = 0x20, BPF_DIV = 0x30, BPF_OR = 0x40, BPF_AND = 0x50, BPF_LSH = 0x60, BPF_RSH = 0x70, BPF_NEG = 0x80, BPF_MOD = 0x90, BPF_XOR = 0xa0;
export const BPF_JA = 0x00, BPF_JEQ = 0x10, BPF_JGT = 0x20, BPF_JGE = 0x30, BPF_JSET = 0x40;
export const BPF_K = 0x00, BPF_X = 0x08, BPF_A = 0x10;
export const BPF_TAX = 0x00, BPF_TXA = 0x80;
export const BPF_MEMWORDS = 16;
export const BPF_MAXINSNS = 4096;

/** Snap length returned on accept: the whole frame (as tcpdump's 262144). */
export const SNAP_ALL = 0x40000;
export const DEFAULT_MAX_ENTRIES = 200;

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_8021Q = 0x8100;
const IPPROTO_ICMP = 1;

export type L4Proto = 'tcp' | 'udp' | number;

export interface FilterEndpoint {
  protocol: L4Proto;
  /** IPv4 address (dotted quad or host-order u32), or IPv6 text. */
  addr: string | number;
  /** 0 = every port of that address (IPVS port-0 persistent services). */
  port: number;
}

export interface FilterRules {
  /** Virtual services: frames TO (addr, port). */
  services: FilterEndpoint[];
  /** NAT real servers: frames FROM (addr, port) — their replies, to be SNATed. */
  realServers?: FilterEndpoint[];
  /** More addresses whose ICMP (either direction) the engine wants, e.g. the director's own address for TUN frag-needed. */
  icmpAddrs?: (string | number)[];
  /** Above this many services + real servers, accept everything. Default 200. */
  maxEntries?: number;
  /** Bytes of an accepted frame to keep. Default SNAP_ALL. */
  snapLen?: number;
}

/** One instruction as the kernel's struct sock_filter. */
export type BpfInsn = [code: number, jt: number, jf: number, k: number];

export function acceptAll(snapLen = SNAP_ALL): Uint32Array {
  return Uint32Array.from([BPF_RET | BPF_K, 0, 0, snapLen]);
}

export function rejectAll(): Uint32Array {
  return Uint32Array.from([BPF_RET | BPF_K, 0, 0, 0]);
}

function protoNum(p: L4Proto): number {
  if (p === 'tcp') return 6;
  if (p === 'udp') return 17;
  if (typeof p === 'number' && Number.isInteger(p) && p >= 0 && p <= 255) return p;
  throw new RangeError(`BPF filter: protocol must be 'tcp', 'udp' or 0..255, got ${String(p)}`);
}

function addrNum(a: string | number): number {
  if (typeof a === 'string') return ipToU32(a);
  if (!Number.isInteger(a) || a < 0 || a > 0xffffffff) throw new RangeError(`BPF filter: address out of range: ${a}`);
  return a >>> 0;
}

function portNum(p: number): number {
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new RangeError(`BPF filter: port must be 0..65535, got ${p}`);
  return p;
}

/** Per address: exact (proto << 16 | port) keys, and protocols that match any port. */
interface AddrGroup {
  keys: Set<number>;
  anyPort: Set<number>;
}

function groupByAddr(eps: FilterEndpoint[]): Map<number, AddrGroup> {
  const m = new Map<number, AddrGroup>();
  for (const e of eps) {
    const a = addrNum(e.addr);
    const proto = protoNum(e.protocol);
    const port = portNum(e.port);
    let g = m.get(a);
    if (!g) m.set(a, (g = { keys: new Set(), anyPort: new Set() }));
    if (port === 0) g.anyPort.add(proto);
    else g.keys.add(((proto << 16) | port) >>> 0);
  }
  return m;
}

/** A tiny assembler: instructions with symbolic `ja` targets, resolved at the end (also used by fanout.ts). */
export class Asm {
  private insns: { code: number; jt: number; jf: number; k: number; label?: string }[] = [];
  private labels = new Map<string, number>();

  emit(code: number, k = 0, jt = 0, jf = 0): void {
    this.insns.push({ code, jt, jf, k: k >>> 0 });
  }
  label(name: string): void {
    if (this.labels.has(name)) throw new Error(`BPF assembler: duplicate label ${name}`);
    this.labels.set(name, this.insns.length);
  }
  ja(label: string): void {
    this.insns.push({ code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: 0, label });
  }
  /** if A == k then goto label (a jeq skipping one ja). */
  jeqTo(k: number, label: string): void {
    this.emit(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 1);
    this.ja(label);
  }
  /** if A == k then return snap. */
  jeqRet(k: number, snap: number): void {
    this.emit(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 1);
    this.emit(BPF_RET | BPF_K, snap);
  }
  ret(k: number): void {
    this.emit(BPF_RET | BPF_K, k);
  }
  assemble(): Uint32Array {
    const out = new Uint32Array(this.insns.length * 4);
    this.insns.forEach((ins, i) => {
      let k = ins.k;
      if (ins.label !== undefined) {
        const t = this.labels.get(ins.label);
        if (t === undefined) throw new Error(`BPF assembler: undefined label ${ins.label}`);
        if (t <= i) throw new Error(`BPF assembler: backward jump to ${ins.label}`);
        k = t - i - 1;
      }
      out.set([ins.code, ins.jt, ins.jf, k], i * 4);
    });
    return out;
  }
  get length(): number {
    return this.insns.length;
  }
}

// Scratch memory: M[0] = L2 header length, M[1] = L4 offset, M[2] = IP protocol,
// M[3] = proto<<16|dport, M[4] = proto<<16|sport.
const M_L2 = 0, M_L4 = 1, M_PROTO = 2, M_DKEY = 3, M_SKEY = 4;

/**
 * Compiles `rules` to a flat Uint32Array [code, jt, jf, k, ...] for
 * PacketSocket.setFilter / openPacket({filter}).
 */
export function compileFilter(rules: FilterRules): Uint32Array {
  const snap = rules.snapLen ?? SNAP_ALL;
  const svcAll = rules.services;
  const rsAll = rules.realServers ?? [];
  if (svcAll.length + rsAll.length > (rules.maxEntries ?? DEFAULT_MAX_ENTRIES)) return acceptAll(snap);
  const is6 = (e: FilterEndpoint) => typeof e.addr === 'string' && e.addr.includes(':');
  const svc = svcAll.filter((e) => !is6(e));
  const rs = rsAll.filter((e) => !is6(e));
  const dst6 = groupByAddr6(svcAll.filter(is6));
  const src6 = groupByAddr6(rsAll.filter(is6));
  const v6 = dst6.size + src6.size > 0;
  const dst = groupByAddr(svc);
  const src = groupByAddr(rs);
  const icmp = new Set<number>([...dst.keys(), ...src.keys(), ...(rules.icmpAddrs ?? []).map(addrNum)]);
  if (dst.size === 0 && src.size === 0 && icmp.size === 0 && !v6) return rejectAll();

  const a = new Asm();
  const LD_ABS_H = BPF_LD | BPF_H | BPF_ABS;
  const LD_IND_W = BPF_LD | BPF_W | BPF_IND;
  const LD_IND_H = BPF_LD | BPF_H | BPF_IND;
  const LD_IND_B = BPF_LD | BPF_B | BPF_IND;

  // L2: IPv4 (or IPv6) untagged, or one 802.1Q tag then IPv4 (or IPv6).
  a.emit(LD_ABS_H, 12);
  a.jeqTo(ETH_P_IP, 'untagged');
  a.jeqTo(ETH_P_8021Q, 'tagged');
  if (v6) a.jeqTo(ETH_P_IPV6, 'untagged6');
  a.ret(0);
  for (const [name, l2] of [['untagged', 14], ['tagged', 18]] as const) {
    a.label(name);
    if (l2 === 18) {
      a.emit(LD_ABS_H, 16);
      if (v6) {
        a.emit(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 3, 0);
        a.jeqTo(ETH_P_IPV6, 'tagged6');
      } else {
        a.emit(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 1, 0);
      }
      a.ret(0);
    }
    a.emit(BPF_LD | BPF_IMM, l2);
    a.emit(BPF_ST, M_L2);
    a.emit(BPF_LDX | BPF_B | BPF_MSH, l2); // X = IP header length
    a.emit(BPF_MISC | BPF_TXA);
    a.emit(BPF_ALU | BPF_ADD | BPF_K, l2);
    a.emit(BPF_ST, M_L4);
    a.ja('l3');
  }

  a.label('l3');
  a.emit(BPF_LDX | BPF_W | BPF_MEM, M_L2);
  a.emit(LD_IND_B, 9);
  a.emit(BPF_ST, M_PROTO);
  a.emit(LD_IND_H, 6);
  a.emit(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 0, 1); // non-first fragment: no L4 header
  a.ja('frag');
  a.emit(BPF_LD | BPF_W | BPF_MEM, M_PROTO);
  a.jeqTo(IPPROTO_ICMP, 'icmp');

  // Ports as proto<<16|port keys, one compare per rule. The L4 header is
  // read at M[1]; a frame too short for it makes the load abort (reject).
  if (dst.size + src.size > 0) {
    for (const [slot, portOff] of [[M_DKEY, 2], [M_SKEY, 0]] as const) {
      a.emit(BPF_LDX | BPF_W | BPF_MEM, M_L4);
      a.emit(LD_IND_H, portOff);
      a.emit(BPF_MISC | BPF_TAX);
      a.emit(BPF_LD | BPF_W | BPF_MEM, M_PROTO);
      a.emit(BPF_ALU | BPF_LSH | BPF_K, 16);
      a.emit(BPF_ALU | BPF_OR | BPF_X);
      a.emit(BPF_ST, slot);
    }
  }
  a.emit(BPF_LDX | BPF_W | BPF_MEM, M_L2);
  a.emit(LD_IND_W, 16);
  let i = 0;
  for (const addr of dst.keys()) a.jeqTo(addr, `d${i++}`);
  a.ja('srcside');
  i = 0;
  for (const g of dst.values()) {
    a.label(`d${i++}`);
    emitPortChecks(a, g, M_DKEY, snap);
    a.ja('srcside'); // a VIP:other-port frame may still be a real server's reply
  }
  a.label('srcside');
  a.emit(BPF_LDX | BPF_W | BPF_MEM, M_L2);
  a.emit(LD_IND_W, 12);
  i = 0;
  for (const addr of src.keys()) a.jeqTo(addr, `s${i++}`);
  a.ret(0);
  i = 0;
  for (const g of src.values()) {
    a.label(`s${i++}`);
    emitPortChecks(a, g, M_SKEY, snap);
    a.ret(0);
  }

  a.label('frag');
  a.emit(BPF_LDX | BPF_W | BPF_MEM, M_L2);
  a.emit(BPF_LD | BPF_W | BPF_MEM, M_PROTO);
  a.jeqTo(IPPROTO_ICMP, 'icmp');
  a.emit(LD_IND_W, 16);
  for (const addr of dst.keys()) a.jeqRet(addr, snap);
  a.emit(LD_IND_W, 12);
  for (const addr of src.keys()) a.jeqRet(addr, snap);
  a.ret(0);

  a.label('icmp');
  a.emit(BPF_LDX | BPF_W | BPF_MEM, M_L2);
  a.emit(LD_IND_W, 16);
  for (const addr of icmp) a.jeqRet(addr, snap);
  a.emit(LD_IND_W, 12);
  for (const addr of icmp) a.jeqRet(addr, snap);
  a.ret(0);

  if (v6) {
    emitIpv6(a, 14, 'untagged6', dst6, src6, snap);
    emitIpv6(a, 18, 'tagged6', dst6, src6, snap);
  }

  if (a.length > BPF_MAXINSNS) return acceptAll(snap);
  return a.assemble();
}

interface AddrGroup6 extends AddrGroup {
  words: Uint32Array;
}

function groupByAddr6(eps: FilterEndpoint[]): Map<string, AddrGroup6> {
  const m = new Map<string, AddrGroup6>();
  for (const e of eps) {
    const b = parseIpv6(String(e.addr));
    if (b === null) throw new RangeError(`BPF filter: not an IPv6 address: ${String(e.addr)}`);
    const key = formatIpv6(b);
    const proto = protoNum(e.protocol);
    const port = portNum(e.port);
    let g = m.get(key);
    if (!g) {
      const words = new Uint32Array(4);
      readIp6Words(b, 0, words);
      m.set(key, (g = { keys: new Set(), anyPort: new Set(), words }));
    }
    if (port === 0) g.anyPort.add(proto);
    else g.keys.add(((proto << 16) | port) >>> 0);
  }
  return m;
}

/**
 * The IPv6 half for an IPv6 header at `l2` (14 untagged, 18 tagged):
 * destination = a VIP, then source = a NAT real server, each a 4-word
 * compare; on a match, TCP/UDP right after the fixed header is held to the
 * group's ports, any other next header is accepted whole.
 */
function emitIpv6(a: Asm, l2: number, name: string, dst: Map<string, AddrGroup6>, src: Map<string, AddrGroup6>, snap: number): void {
  a.label(name);
  a.emit(BPF_LD | BPF_B | BPF_ABS, l2 + 6);
  a.emit(BPF_ST, M_PROTO);
  let i = 0;
  for (const g of dst.values()) emitAddr6Match(a, l2 + 24, g.words, `${name}d${i}`, `${name}dn${i++}`);
  a.ja(`${name}src`);
  i = 0;
  for (const g of dst.values()) {
    a.label(`${name}d${i++}`);
    emitPort6Checks(a, l2, g, 2, snap);
    a.ja(`${name}src`); // a VIP:other-port frame may still be a real server's reply
  }
  a.label(`${name}src`);
  i = 0;
  for (const g of src.values()) emitAddr6Match(a, l2 + 8, g.words, `${name}s${i}`, `${name}sn${i++}`);
  a.ret(0);
  i = 0;
  for (const g of src.values()) {
    a.label(`${name}s${i++}`);
    emitPort6Checks(a, l2, g, 0, snap);
    a.ret(0);
  }
}

/** Jump to `match` when the 16 bytes at `off` are `w`; fall through (at label `next`) otherwise. */
function emitAddr6Match(a: Asm, off: number, w: Uint32Array, match: string, next: string): void {
  for (let j = 0; j < 4; j++) {
    a.emit(BPF_LD | BPF_W | BPF_ABS, off + j * 4);
    a.emit(BPF_JMP | BPF_JEQ | BPF_K, w[j]!, 1, 0);
    a.ja(next);
  }
  a.ja(match);
  a.label(next);
}

/** Next header TCP/UDP: accept when proto<<16|port (at l2+40+portOff) is one of the group's, or the proto is any-port; other next headers: accept. */
function emitPort6Checks(a: Asm, l2: number, g: AddrGroup, portOff: number, snap: number): void {
  a.emit(BPF_LD | BPF_W | BPF_MEM, M_PROTO);
  a.emit(BPF_JMP | BPF_JEQ | BPF_K, 6, 2, 0);
  a.emit(BPF_JMP | BPF_JEQ | BPF_K, 17, 1, 0);
  a.ret(snap);
  if (g.keys.size > 0) {
    a.emit(BPF_LD | BPF_H | BPF_ABS, l2 + 40 + portOff);
    a.emit(BPF_MISC | BPF_TAX);
    a.emit(BPF_LD | BPF_W | BPF_MEM, M_PROTO);
    a.emit(BPF_ALU | BPF_LSH | BPF_K, 16);
    a.emit(BPF_ALU | BPF_OR | BPF_X);
    for (const k of g.keys) a.jeqRet(k, snap);
  }
  if (g.anyPort.size > 0) {
    a.emit(BPF_LD | BPF_W | BPF_MEM, M_PROTO);
    for (const p of g.anyPort) a.jeqRet(p, snap);
  }
}

function emitPortChecks(a: Asm, g: AddrGroup, slot: number, snap: number): void {
  if (g.keys.size > 0) {
    a.emit(BPF_LD | BPF_W | BPF_MEM, slot);
    for (const k of g.keys) a.jeqRet(k, snap);
  }
  if (g.anyPort.size > 0) {
    a.emit(BPF_LD | BPF_W | BPF_MEM, M_PROTO);
    for (const p of g.anyPort) a.jeqRet(p, snap);
  }
}

/** [[code, jt, jf, k], ...] from the flat form, for printing and tests. */
export function toInsns(prog: Uint32Array): BpfInsn[] {
  const out: BpfInsn[] = [];
  for (let i = 0; i < prog.length; i += 4) out.push([prog[i]!, prog[i + 1]!, prog[i + 2]!, prog[i + 3]!]);
  return out;
}

/**
 * `prog` behind a frame-length gate: only frames of at most `maxLen` bytes
 * (or, with `above`, only longer ones) reach it, the rest are rejected. lvsd
 * runs two rings per interface with the same rules: page-sized blocks for
 * ordinary frames (they close fast, so latency stays low) and 128 KiB blocks
 * for the few frames that cannot fit a page (GSO/GRO super-frames, jumbo).
 * Jumps in `prog` are relative, so prepending keeps it valid.
 */
export function lengthGate(prog: Uint32Array, maxLen: number, above = false): Uint32Array {
  const gate = Uint32Array.from([
    BPF_LD | BPF_W | BPF_LEN, 0, 0, 0,
    // len > maxLen: jt; else jf. Reject (the next insn) on the side not wanted.
    BPF_JMP | BPF_JGT | BPF_K, above ? 1 : 0, above ? 0 : 1, maxLen,
    BPF_RET | BPF_K, 0, 0, 0,
  ]);
  const out = new Uint32Array(gate.length + prog.length);
  out.set(gate);
  out.set(prog, gate.length);
  return out;
}

// <linux/filter.h> ancillary loads: `ld [SKF_AD_OFF + SKF_AD_RANDOM]` puts a
// fresh prandom_u32() in A.
export const SKF_AD_OFF = -0x1000;
export const SKF_AD_RANDOM = 56;

const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_ACK = 0x10;

/**
 * `prog` behind a SYN gate: a TCP segment whose flags are SYN alone (a new
 * connection: no ACK, RST or FIN) passes with probability `accept`, and is
 * rejected otherwise, before it costs a ring slot or any JavaScript; every
 * other frame goes on to `prog` untouched. lvsd puts it in front of the
 * filter while a SYN flood overloads it (src/io/syn-shed.ts), so the packets
 * of established connections keep getting through. `accept` >= 1 returns
 * `prog` itself.
 * - IPv4 (untagged): TCP past the IHL-long header; a non-first fragment passes.
 * - IPv6 (untagged): TCP right after the fixed header (next header 6). With
 *   extension headers in between (classic BPF cannot walk them, as
 *   compileFilter says) the frame passes: the engine judges it.
 * A truncated IP/TCP header is rejected while the gate is on (a classic-BPF
 * load past the end of a frame ends the program with 0).
 */
export function synGate(prog: Uint32Array, accept: number): Uint32Array {
  if (!(accept < 1)) return prog;
  // rand <= threshold passes: P = (threshold + 1) / 2^32.
  const threshold = Math.max(0, Math.floor(Math.max(0, accept) * 2 ** 32) - 1) >>> 0;
  const GATE = 18; // instructions below; `pass` is the first instruction of `prog`
  const pass = (i: number): number => GATE - i - 1;
  const FLAGS = 13; // the flags byte's offset in the TCP header
  const gate = Uint32Array.from([
    /* 0 */ BPF_LD | BPF_H | BPF_ABS, 0, 0, 12,
    /* 1 */ BPF_JMP | BPF_JEQ | BPF_K, 0, 9 - 1 - 1, ETH_P_IP, // not IPv4: the IPv6 test at 9
    /* 2 */ BPF_LD | BPF_B | BPF_ABS, 0, 0, 14 + 9,
    /* 3 */ BPF_JMP | BPF_JEQ | BPF_K, 0, pass(3), 6,
    /* 4 */ BPF_LD | BPF_H | BPF_ABS, 0, 0, 14 + 6,
    /* 5 */ BPF_JMP | BPF_JSET | BPF_K, pass(5), 0, 0x1fff, // a non-first fragment has no TCP header
    /* 6 */ BPF_LDX | BPF_B | BPF_MSH, 0, 0, 14,
    /* 7 */ BPF_LD | BPF_B | BPF_IND, 0, 0, 14 + FLAGS,
    /* 8 */ BPF_JMP | BPF_JA, 0, 0, 13 - 8 - 1, // to the flags test
    /* 9 */ BPF_JMP | BPF_JEQ | BPF_K, 0, pass(9), ETH_P_IPV6,
    /* 10 */ BPF_LD | BPF_B | BPF_ABS, 0, 0, 14 + 6, // next header
    /* 11 */ BPF_JMP | BPF_JEQ | BPF_K, 0, pass(11), 6,
    /* 12 */ BPF_LD | BPF_B | BPF_ABS, 0, 0, 14 + 40 + FLAGS,
    /* 13 */ BPF_ALU | BPF_AND | BPF_K, 0, 0, TCP_FIN | TCP_SYN | TCP_RST | TCP_ACK,
    /* 14 */ BPF_JMP | BPF_JEQ | BPF_K, 0, pass(14), TCP_SYN,
    /* 15 */ BPF_LD | BPF_W | BPF_ABS, 0, 0, (SKF_AD_OFF + SKF_AD_RANDOM) >>> 0,
    /* 16 */ BPF_JMP | BPF_JGT | BPF_K, 0, pass(16), threshold,
    /* 17 */ BPF_RET | BPF_K, 0, 0, 0,
  ]);
  const out = new Uint32Array(gate.length + prog.length);
  out.set(gate);
  out.set(prog, gate.length);
  return out;
}
