// Steering for `lvsd --workers N`: the classic-BPF program of a
// PACKET_FANOUT_CBPF group, which picks the worker (the group member) for
// every frame, and its JavaScript twin, which picks the same worker for a
// connection (connection sync installs a received conn where its packets
// will arrive; --trace asks the worker that owns the flow).
//
// Each worker keeps its own connection table, so both directions of a flow
// must reach the same worker. A request (client → VIP:vport) and a NAT reply
// (RIP:rport → client) share only the client end, so the program hashes the
// CLIENT end: the source of a frame to a virtual service, the destination of
// a frame from a NAT real server. An ICMP error is steered by the packet it
// quotes, turned around (the quote of a reply is the reply's direction).
// Persistence templates are per client (masked by -M), and a new conn must
// find its client's template in its own worker: a service that is
// persistent hashes the masked client address alone. Services that share a
// NAT real-server endpoint share its replies, so they share the rule: such
// services form one group whose mode is "client address only" (with the
// widest -M among them) as soon as one of them is persistent.
//
// af_packet.c (fanout_demux_bpf) takes the program's return value modulo the
// number of members and hands the frame to f->arr[index]: members in join
// order (a member that leaves is replaced by the last one). lvsd's workers
// join in index order, so the program returns the worker index itself. The
// fwmark services (their requests come through one NFQUEUE, src/io/nfqueue.ts)
// are steered whole to worker 0, which reads that queue: their NAT replies,
// and the flows of any service sharing a real server with them, go there.
// IPv6 is steered the same way. Its addresses are compared and hashed as
// the kernel's IPv6 fold (the four words xored, as ip_vs_sh_hashkey does): a
// frame whose fold only collides with a service's is hashed to some worker
// whose socket filter then rejects it, as worker 0's would. The hash key of an
// IPv6 client is the fold of its address masked by the service's -M prefix.
// Only frames whose next header is TCP, UDP, SCTP or ICMPv6 are steered; an
// IPv6 frame with extension headers goes to worker 0 (a flow that changes
// between the two forms splits: rare, and such a flow's later frames are
// dropped as unknown, not misforwarded). IPv6 fwmark services' replies go to
// worker 0 with every other fwmark flow.
//
// The program runs before the chosen socket's own filter, on every frame of the
// interface, with skb->data at the network header (the Ethernet header is
// already pulled on receive); loads are SKF_NET_OFF-relative so they do not
// depend on that, and the protocol comes from skb->protocol (the kernel has
// untagged a VLAN frame by then). Frames that are neither for a service nor
// from a NAT real server return 0: worker 0's socket filter rejects them.
import {
  Asm, BPF_ABS, BPF_A, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_H, BPF_IMM, BPF_IND, BPF_JMP, BPF_JEQ, BPF_JSET, BPF_K, BPF_LD,
  BPF_LDX, BPF_LSH, BPF_MAXINSNS, BPF_MEM, BPF_MISC, BPF_MOD, BPF_MSH, BPF_MUL, BPF_OR, BPF_RET, BPF_RSH, BPF_ST, BPF_TAX,
  BPF_W, BPF_X, BPF_XOR, SKF_AD_OFF,
} from './bpf.js';
import { ipToU32, isIpv4 } from '../packet/addr.js';
import { fold6, ip6Words, maskWords6, readIp6Words } from '../packet/ipv6.js';
import type { FwdMethod, Protocol } from '../ipvs/types.js';

/** <linux/filter.h>: loads relative to the network header. */
export const SKF_NET_OFF = -0x100000;
/** <linux/filter.h>: ancillary load of skb->protocol (network byte order, as a 16-bit value). */
export const SKF_AD_PROTOCOL = 0;
/** PACKET_FANOUT allows at most this many members (PACKET_FANOUT_MAX). */
export const FANOUT_MAX_MEMBERS = 256;

const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

/** What steering needs of a virtual service (ServiceStatus / ServiceRules have it). */
export interface FanoutService {
  key: { kind: 'addr'; protocol: Protocol; addr: string; port: number } | { kind: 'fwmark'; fwmark: number };
  /** Persistence timeout (-p); > 0 = persistent. */
  persistence: number;
  /** Persistence granularity (-M), dotted quad. */
  netmask: string;
  dests: readonly { addr: string; port: number; fwd: FwdMethod }[];
}

/**
 * How the client end is hashed: (addr & mask, port & pmask); an IPv6 client
 * as fold(addr & mask6). Flow: all of both; persistent: the masked address only.
 */
export interface FanoutMode { mask: number; pmask: number; mask6: readonly number[]; /** worker 0, unhashed */ pin?: true }
const ALL6: readonly number[] = [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff];
const FLOW: FanoutMode = { mask: 0xffffffff, pmask: 0xffff, mask6: ALL6 };
/** Every flow to worker 0: fwmark services. */
const PIN: FanoutMode = { mask: 0, pmask: 0, mask6: [0, 0, 0, 0], pin: true };

/** The four mask words of an IPv6 prefix length. */
function prefixWords6(prefix: number): number[] {
  const w = new Uint32Array(4);
  maskWords6(Uint32Array.from(ALL6), 0, prefix, w);
  return [...w];
}

/** An address as the program compares it: IPv4 as its u32, IPv6 as its fold. */
function addrKey(addr: string): { v6: boolean; key: number } {
  return isIpv4(addr) ? { v6: false, key: ipToU32(addr) } : { v6: true, key: fold6(ip6Words(addr)) };
}

/** Endpoints of one address: exact (proto << 16 | port) keys, and protocols that match any port (port 0). */
interface AddrEntries { exact: Map<number, FanoutMode>; any: Map<number, FanoutMode> }

export interface FanoutPlan {
  readonly workers: number;
  /** Request side: VIP → its services' endpoints. */
  readonly vips: Map<number, AddrEntries>;
  /** Reply side: NAT real-server address → its endpoints (rport 0: any port). */
  readonly rips: Map<number, AddrEntries>;
  /** The same for IPv6, keyed by the addresses' folds. */
  readonly vips6: Map<number, AddrEntries>;
  readonly rips6: Map<number, AddrEntries>;
  /** The worker that reads the fwmark services' NFQUEUE and owns their conns: 0, the one IPv6 extension-header frames go to. */
  readonly fwmarkWorker: 0;
  /**
   * The fallback for rule sets too big for one program: endpoints compared by
   * address alone, and every flow hashed by this one mode (the client
   * address, masked by the widest -M of all persistent services).
   */
  readonly addressOnly?: FanoutMode;
}

/** The hash of the client end, as the BPF program computes it (u32 arithmetic), reduced to a worker index. */
export function fanoutHash(key: number, port: number, workers: number): number {
  let h = (key ^ ((port << 16) | port)) >>> 0;
  h = Math.imul(h, 0x9e3779b1) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  return h % workers;
}

class UnionFind {
  private readonly p: number[];
  constructor(n: number) { this.p = Array.from({ length: n }, (_, i) => i); }
  find(i: number): number { while (this.p[i] !== i) { this.p[i] = this.p[this.p[i]!]!; i = this.p[i]!; } return i; }
  union(a: number, b: number): void { this.p[this.find(a)] = this.find(b); }
}

/**
 * The steering plan for `workers` workers: which endpoints are requests and
 * which replies, and how each hashes its client end.
 */
export function planFanout(services: readonly FanoutService[], workers: number, addressOnly = false): FanoutPlan {
  if (!Number.isInteger(workers) || workers < 1 || workers > FANOUT_MAX_MEMBERS) throw new RangeError(`fanout: workers must be 1..${FANOUT_MAX_MEMBERS}, got ${workers}`);
  const svcs = services.filter((s) => s.key.kind === 'fwmark' || PROTO_NUM[s.key.protocol] !== undefined);
  /** A service's NAT endpoints: [proto, raddr, rport]; a fwmark service's replies may come from any port, TCP or UDP. */
  const natEndpoints = (s: FanoutService): [number, string, number][] => {
    const out: [number, string, number][] = [];
    for (const d of s.dests) {
      if (d.fwd !== 'masq') continue;
      if (s.key.kind === 'fwmark') out.push([6, d.addr, 0], [17, d.addr, 0]);
      else out.push([PROTO_NUM[s.key.protocol]!, d.addr, d.port !== 0 ? d.port : s.key.port]);
    }
    return out;
  };
  // Services whose NAT replies come from one endpoint are one group. An
  // any-port endpoint (rport 0) overlaps every port of its address, so it
  // joins every endpoint of that address and protocol.
  const uf = new UnionFind(svcs.length);
  const byEndpoint = new Map<string, number>();
  const byAddr = new Map<string, { first: number; any: boolean; members: number[] }>();
  svcs.forEach((s, i) => {
    for (const [proto, raddr, rport] of natEndpoints(s)) {
      const ep = `${proto}|${raddr}|${rport}`;
      const seen = byEndpoint.get(ep);
      if (seen === undefined) byEndpoint.set(ep, i); else uf.union(i, seen);
      const ak = `${proto}|${raddr}`;
      let a = byAddr.get(ak);
      if (!a) byAddr.set(ak, (a = { first: i, any: false, members: [] }));
      a.members.push(i);
      if (rport === 0) a.any = true;
    }
  });
  for (const a of byAddr.values()) if (a.any) for (const m of a.members) uf.union(m, a.first);
  // A group with a fwmark service goes to the fwmark worker; else, with a
  // persistent service, it hashes the client address alone, masked by the
  // widest -M of its persistent services.
  // (A group is of one family: a NAT real server is of its service's.)
  const pinned = new Set<number>();
  const groupMask = new Map<number, number>();
  const groupPrefix = new Map<number, number>();
  svcs.forEach((s, i) => {
    const r = uf.find(i);
    if (s.key.kind === 'fwmark') pinned.add(r);
    else if (s.persistence > 0 && isIpv4(s.key.addr)) groupMask.set(r, ((groupMask.get(r) ?? 0xffffffff) & ipToU32(s.netmask)) >>> 0);
    else if (s.persistence > 0) groupPrefix.set(r, Math.min(groupPrefix.get(r) ?? 128, prefixOf6(s.netmask)));
  });
  let widest = 0xffffffff;
  for (const m of groupMask.values()) widest = (widest & m) >>> 0;
  let widest6 = 128;
  for (const p of groupPrefix.values()) widest6 = Math.min(widest6, p);
  const global: FanoutMode | undefined = !addressOnly ? undefined : pinned.size ? PIN : { mask: widest, pmask: 0, mask6: prefixWords6(widest6) };
  const modeOf = (i: number): FanoutMode => {
    if (global) return global;
    const r = uf.find(i);
    if (pinned.has(r)) return PIN;
    const m = groupMask.get(r);
    if (m !== undefined) return { mask: m, pmask: 0, mask6: ALL6 };
    const p = groupPrefix.get(r);
    return p === undefined ? FLOW : { mask: 0xffffffff, pmask: 0, mask6: prefixWords6(p) };
  };
  const vips = new Map<number, AddrEntries>();
  const rips = new Map<number, AddrEntries>();
  const vips6 = new Map<number, AddrEntries>();
  const rips6 = new Map<number, AddrEntries>();
  const put = (side: 'vip' | 'rip', address: string, proto: number, port: number, mode: FanoutMode) => {
    const { v6, key: addr } = addrKey(address);
    const tbl = side === 'vip' ? (v6 ? vips6 : vips) : (v6 ? rips6 : rips);
    let e = tbl.get(addr);
    if (!e) tbl.set(addr, (e = { exact: new Map(), any: new Map() }));
    if (port === 0 || addressOnly) { if (!e.any.has(proto)) e.any.set(proto, mode); }
    else { const k = ((proto << 16) | port) >>> 0; if (!e.exact.has(k)) e.exact.set(k, mode); }
  };
  svcs.forEach((s, i) => {
    const mode = modeOf(i);
    if (s.key.kind === 'addr') put('vip', s.key.addr, PROTO_NUM[s.key.protocol]!, s.key.port, mode);
    for (const [proto, raddr, rport] of natEndpoints(s)) put('rip', raddr, proto, rport, mode);
  });
  return { workers, vips, rips, vips6, rips6, fwmarkWorker: 0, ...(global ? { addressOnly: global } : {}) };
}

/** -M of an IPv6 service: its prefix length ('128' when unset, as ipvsadm lists it). */
function prefixOf6(netmask: string): number {
  const n = /^\d{1,3}$/.test(netmask) ? Number(netmask) : 128;
  return n >= 1 && n <= 128 ? n : 128;
}

function lookup(tbl: Map<number, AddrEntries>, addr: number, proto: number, port: number): FanoutMode | undefined {
  const e = tbl.get(addr >>> 0);
  if (!e) return undefined;
  return e.exact.get(((proto << 16) | port) >>> 0) ?? e.any.get(proto);
}

/**
 * The worker whose sockets receive the packets of the conn
 * client caddr:cport → vaddr:vport (the worker that owns it): for connection
 * sync and --trace. Templates (cport 0, caddr already masked) land with their
 * client's conns; a conn of a fwmark service (`fwmark` set) is the fwmark
 * worker's. A conn of no known service hashes as a flow.
 */
export function workerOfConn(plan: FanoutPlan, protocol: number, caddr: number, cport: number, vaddr: number, vport: number, fwmark = 0): number {
  if (plan.workers === 1) return 0;
  if (fwmark !== 0) return plan.fwmarkWorker;
  const m = (plan.addressOnly && plan.vips.has(vaddr >>> 0) ? plan.addressOnly : lookup(plan.vips, vaddr, protocol, vport)) ?? FLOW;
  if (m.pin) return 0;
  return fanoutHash((caddr & m.mask) >>> 0, cport & m.pmask, plan.workers);
}

const w6 = new Uint32Array(4);
/**
 * workerOfConn for an IPv6 conn (addresses as their 16 wire bytes): the
 * client address is hashed as fold(caddr & -M prefix), as the program does.
 */
export function workerOfConn6(plan: FanoutPlan, protocol: number, caddr: Uint8Array, cport: number, vaddr: Uint8Array, vport: number, fwmark = 0): number {
  if (plan.workers === 1) return 0;
  if (fwmark !== 0) return plan.fwmarkWorker;
  readIp6Words(vaddr, 0, w6);
  const vkey = fold6(w6);
  const m = (plan.addressOnly && plan.vips6.has(vkey) ? plan.addressOnly : lookup(plan.vips6, vkey, protocol, vport)) ?? FLOW;
  if (m.pin) return 0;
  readIp6Words(caddr, 0, w6);
  const key = ((w6[0]! & m.mask6[0]!) ^ (w6[1]! & m.mask6[1]!) ^ (w6[2]! & m.mask6[2]!) ^ (w6[3]! & m.mask6[3]!)) >>> 0;
  return fanoutHash(key, cport & m.pmask, plan.workers);
}

/** The worker a synced (or handed-over) entry belongs to under `plan`: workerOfConn or workerOfConn6. */
export function workerOfSyncConn(plan: FanoutPlan, c: { protocol: number; caddr: number; cport: number; vaddr: number; vport: number; fwmark: number;
  v6?: { caddr: Uint8Array; vaddr: Uint8Array } | undefined }): number {
  return c.v6
    ? workerOfConn6(plan, c.protocol, c.v6.caddr, c.cport, c.v6.vaddr, c.vport, c.fwmark)
    : workerOfConn(plan, c.protocol, c.caddr, c.cport, c.vaddr, c.vport, c.fwmark);
}

const modeKey = (m: FanoutMode): string => `${m.pin ? 'pin' : `${m.mask >>> 0}/${m.pmask}/${m.mask6.join(',')}`}`;
const sameModes = (a: Map<number, AddrEntries>, b: Map<number, AddrEntries>): boolean => {
  for (const [addr, ea] of a) {
    const eb = b.get(addr);
    if (!eb) continue;
    for (const [k, m] of ea.exact) { const n = eb.exact.get(k); if (n && modeKey(n) !== modeKey(m)) return false; }
    for (const [k, m] of ea.any) { const n = eb.any.get(k); if (n && modeKey(n) !== modeKey(m)) return false; }
  }
  return true;
};

/**
 * Whether going from plan `a` to plan `b` may change the worker of a flow
 * that exists under both: another worker count, another fallback, or an
 * endpoint both know hashed another way (-p/-M changed, or grouping with a
 * persistent service). New endpoints have no flows yet; a dest's weight or a
 * new real server moves nothing.
 */
export function steeringChanged(a: FanoutPlan, b: FanoutPlan): boolean {
  if (a.workers !== b.workers) return true;
  if ((a.addressOnly ? modeKey(a.addressOnly) : '') !== (b.addressOnly ? modeKey(b.addressOnly) : '')) return true;
  return !sameModes(a.vips, b.vips) || !sameModes(a.rips, b.rips) || !sameModes(a.vips6, b.vips6) || !sameModes(a.rips6, b.rips6);
}

// Scratch memory of the program (all 16 words, BPF_MEMWORDS). IPv6 keeps
// its address folds in M_SADDR/M_DADDR and the offsets of the addresses in
// M_SOFF/M_DOFF, for the masked fold of the client's.
const M_SADDR = 0, M_DADDR = 1, M_SPORT = 2, M_DPORT = 3, M_PROTO = 4, M_KEY = 5, M_PORT = 6, M_MASK = 7, M_PMASK = 8, M_DKEY = 9, M_SKEY = 10;
const M_MASK1 = 11, M_MASK2 = 12, M_MASK3 = 13, M_SOFF = 14, M_DOFF = 15, M_LAST = 15;
const M_MASK6 = [M_MASK, M_MASK1, M_MASK2, M_MASK3] as const;

/** The program as `planFanout` describes it; undefined when it would exceed BPF_MAXINSNS. */
function assemble(plan: FanoutPlan): Uint32Array | undefined {
  const a = new Asm();
  const N = SKF_NET_OFF >>> 0;
  const net = (off: number) => (SKF_NET_OFF + off) >>> 0;
  const LDW = BPF_LD | BPF_W | BPF_ABS, LDH = BPF_LD | BPF_H | BPF_ABS, LDB = BPF_LD | BPF_B | BPF_ABS;
  const LDH_X = BPF_LD | BPF_H | BPF_IND, LDB_X = BPF_LD | BPF_B | BPF_IND, LDW_X = BPF_LD | BPF_W | BPF_IND;
  const ld = (slot: number) => a.emit(BPF_LD | BPF_W | BPF_MEM, slot);
  const ldx = (slot: number) => a.emit(BPF_LDX | BPF_W | BPF_MEM, slot);
  const st = (slot: number) => a.emit(BPF_ST, slot);
  const tax = () => a.emit(BPF_MISC | BPF_TAX);
  const imm = (k: number, slot: number) => { a.emit(BPF_LD | BPF_IMM, k); st(slot); };
  /** M[slot] = the IPv6 fold of the address at net(off). */
  const fold = (off: number, slot: number) => {
    a.emit(LDW, net(off));
    for (let k = 1; k < 4; k++) { tax(); a.emit(LDW, net(off + 4 * k)); a.emit(BPF_ALU | BPF_XOR | BPF_X); }
    st(slot);
  };

  // The kernel's checker (check_load_and_stores) refuses a load of scratch
  // memory that some path, as it sees paths (a `ret` does not end one), may
  // reach unwritten: every slot starts at 0.
  a.emit(BPF_LD | BPF_IMM, 0);
  for (let m = 0; m <= M_LAST; m++) st(m);
  // IPv4 (first fragments only: a later one has no ports) or IPv6, by skb->protocol.
  a.emit(LDH, (SKF_AD_OFF + SKF_AD_PROTOCOL) >>> 0);
  a.jeqTo(ETH_P_IPV6, 'ip6');
  a.emit(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 1, 0);
  a.ret(0);
  a.emit(LDH, net(6));
  a.emit(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 0, 1);
  a.ret(0);
  a.emit(BPF_LDX | BPF_B | BPF_MSH, N); // X = outer IP header length
  a.emit(LDB, net(9));
  a.jeqTo(1, 'icmp');
  st(M_PROTO);
  a.emit(LDW, net(12)); st(M_SADDR);
  a.emit(LDW, net(16)); st(M_DADDR);
  a.emit(LDH_X, net(0)); st(M_SPORT);
  a.emit(LDH_X, net(2)); st(M_DPORT);
  a.ja('classify');

  // ICMP errors: the quoted packet, turned around, is steered as a frame of its flow.
  a.label('icmp');
  a.emit(LDB_X, net(0)); // type
  a.jeqTo(3, 'quote');
  a.jeqTo(4, 'quote');
  a.jeqTo(11, 'quote');
  a.jeqTo(12, 'quote');
  a.ret(0);
  a.label('quote');
  a.emit(LDB_X, net(8 + 9));
  st(M_PROTO);
  a.emit(LDW_X, net(8 + 12)); st(M_DADDR); // quoted source → destination
  a.emit(LDW_X, net(8 + 16)); st(M_SADDR);
  a.emit(LDB_X, net(8)); // quoted version/IHL
  a.emit(BPF_ALU | BPF_AND | BPF_K, 0x0f);
  a.emit(BPF_ALU | BPF_LSH | BPF_K, 2);
  a.emit(BPF_ALU | BPF_ADD | BPF_X); // + outer IHL
  tax();
  a.emit(LDH_X, net(8)); st(M_DPORT);
  a.emit(LDH_X, net(8 + 2)); st(M_SPORT);
  a.ja('classify');

  // IPv6: the upper header right after the fixed one (extension headers:
  // no service matches their next header, so worker 0), or an ICMPv6 error
  // quoting the packet of a flow (destination unreachable, packet too big,
  // time exceeded, parameter problem), turned around.
  a.label('ip6');
  a.emit(LDB, net(6));
  a.jeqTo(58, 'icmp6');
  st(M_PROTO);
  fold(8, M_SADDR); fold(24, M_DADDR);
  imm(8, M_SOFF); imm(24, M_DOFF);
  a.emit(LDH, net(40)); st(M_SPORT);
  a.emit(LDH, net(42)); st(M_DPORT);
  a.ja('classify6');
  a.label('icmp6');
  a.emit(LDB, net(40));
  for (const t of [1, 2, 3, 4]) a.jeqTo(t, 'quote6');
  a.ret(0);
  a.label('quote6');
  a.emit(LDB, net(48 + 6)); st(M_PROTO);
  fold(48 + 8, M_DADDR); fold(48 + 24, M_SADDR);
  imm(48 + 8, M_DOFF); imm(48 + 24, M_SOFF);
  a.emit(LDH, net(48 + 40)); st(M_DPORT);
  a.emit(LDH, net(48 + 42)); st(M_SPORT);
  a.ja('classify6');

  // (saddr, sport) → (daddr, dport): to a service: the client is the source;
  // from a NAT real server: the client is the destination; else worker 0.
  const keys = () => {
    // Keys as proto << 16 | port for one compare each.
    for (const [port, key] of [[M_DPORT, M_DKEY], [M_SPORT, M_SKEY]] as const) {
      ldx(port);
      ld(M_PROTO);
      a.emit(BPF_ALU | BPF_LSH | BPF_K, 16);
      a.emit(BPF_ALU | BPF_OR | BPF_X);
      st(key);
    }
  };
  const setMode = (m: FanoutMode) => {
    imm(m.mask, M_MASK);
    imm(m.pmask, M_PMASK);
  };
  const setMode6 = (m: FanoutMode) => {
    m.mask6.forEach((w, k) => imm(w, M_MASK6[k]!));
    imm(m.pmask, M_PMASK);
  };
  const emitSide = (tbl: Map<number, AddrEntries>, addrSlot: number, keySlot: number, prefix: string, client: string, next: string, set: (m: FanoutMode) => void) => {
    ld(addrSlot);
    if (plan.addressOnly) {
      for (const addr of tbl.keys()) a.jeqTo(addr, client);
      a.ja(next);
      return;
    }
    let i = 0;
    for (const addr of tbl.keys()) a.jeqTo(addr, `${prefix}${i++}`);
    a.ja(next);
    // Endpoints jump to one block per distinct mode (most share FLOW): ~5
    // instructions an endpoint instead of ~10, twice the rule set in one program.
    const modeLabels = new Map<string, { label: string; m: FanoutMode }>();
    const modeLabel = (m: FanoutMode): string => {
      const k = modeKey(m);
      let e = modeLabels.get(k);
      if (!e) modeLabels.set(k, (e = { label: `${prefix}mode${modeLabels.size}`, m }));
      return e.label;
    };
    i = 0;
    for (const e of tbl.values()) {
      a.label(`${prefix}${i}`);
      if (e.exact.size) {
        ld(keySlot);
        for (const [k, m] of e.exact) a.jeqTo(k, modeLabel(m));
      }
      if (e.any.size) {
        ld(M_PROTO);
        for (const [p, m] of e.any) a.jeqTo(p, modeLabel(m));
      }
      a.ja(next);
      i++;
    }
    for (const { label, m } of modeLabels.values()) {
      a.label(label);
      if (m.pin) { a.ret(0); continue; }
      set(m);
      a.ja(client);
    }
  };
  const pinnedAll = plan.addressOnly?.pin === true;

  // Each family: its services' endpoints (the client is the source), then its NAT real
  // servers' (the client is the destination), else worker 0.
  const classify = (six: boolean) => {
    const sfx = six ? '6' : '';
    const [vips, rips, set] = six ? [plan.vips6, plan.rips6, setMode6] : [plan.vips, plan.rips, setMode];
    a.label(`classify${sfx}`);
    if (vips.size + rips.size === 0 || pinnedAll) { a.ret(0); return; }
    keys();
    if (plan.addressOnly) set(plan.addressOnly);
    emitSide(vips, M_DADDR, M_DKEY, six ? 'w' : 'v', `client_src${sfx}`, `reply${sfx}`, set);
    a.label(`reply${sfx}`);
    emitSide(rips, M_SADDR, M_SKEY, six ? 's' : 'r', `client_dst${sfx}`, `none${sfx}`, set);
    a.label(`none${sfx}`);
    a.ret(0);
  };
  classify(false);
  classify(true);

  a.label('client_src');
  ld(M_SADDR); st(M_KEY);
  ld(M_SPORT); st(M_PORT);
  a.ja('hash');
  a.label('client_dst');
  ld(M_DADDR); st(M_KEY);
  ld(M_DPORT); st(M_PORT);
  a.ja('hash');

  // IPv6 client: M_KEY = fold(address & mask6), the address at offset M_SADDR
  // (the folds are no longer needed).
  a.label('client_src6');
  ld(M_SOFF); st(M_SADDR);
  ld(M_SPORT); st(M_PORT);
  a.ja('key6');
  a.label('client_dst6');
  ld(M_DOFF); st(M_SADDR);
  ld(M_DPORT); st(M_PORT);
  a.label('key6');
  for (let k = 0; k < 4; k++) {
    ldx(M_SADDR);
    a.emit(LDW_X, net(4 * k));
    ldx(M_MASK6[k]!);
    a.emit(BPF_ALU | BPF_AND | BPF_X);
    if (k > 0) { ldx(M_KEY); a.emit(BPF_ALU | BPF_XOR | BPF_X); }
    st(M_KEY);
  }
  a.ja('hashp');

  // fanoutHash(key & mask, port & pmask), modulo the worker count.
  a.label('hash');
  ldx(M_MASK); ld(M_KEY); a.emit(BPF_ALU | BPF_AND | BPF_X); st(M_KEY);
  a.label('hashp');
  ldx(M_PMASK); ld(M_PORT); a.emit(BPF_ALU | BPF_AND | BPF_X);
  tax();
  a.emit(BPF_ALU | BPF_LSH | BPF_K, 16);
  a.emit(BPF_ALU | BPF_OR | BPF_X);
  tax(); ld(M_KEY); a.emit(BPF_ALU | BPF_XOR | BPF_X);
  a.emit(BPF_ALU | BPF_MUL | BPF_K, 0x9e3779b1);
  tax(); a.emit(BPF_ALU | BPF_RSH | BPF_K, 16); a.emit(BPF_ALU | BPF_XOR | BPF_X);
  a.emit(BPF_ALU | BPF_MUL | BPF_K, 0x85ebca6b);
  tax(); a.emit(BPF_ALU | BPF_RSH | BPF_K, 13); a.emit(BPF_ALU | BPF_XOR | BPF_X);
  a.emit(BPF_ALU | BPF_MOD | BPF_K, plan.workers);
  a.emit(BPF_RET | BPF_A);
  return finish(a);
}

function finish(a: Asm): Uint32Array | undefined {
  return a.length > BPF_MAXINSNS ? undefined : a.assemble();
}

/**
 * The fanout program for `services` over `workers` workers, and the plan its
 * JS twin (workerOfConn) must be given. A rule set too big for one program
 * is steered by addresses alone (every service then hashes the client
 * address only); beyond that, every frame goes to worker 0 (`degraded`).
 */
export function compileFanout(services: readonly FanoutService[], workers: number):
  { prog: Uint32Array; plan: FanoutPlan; degraded?: 'address-only' | 'single-worker' } {
  let plan = planFanout(services, workers);
  let prog = assemble(plan);
  if (prog) return { prog, plan };
  plan = planFanout(services, workers, true);
  prog = assemble(plan);
  if (prog) return { prog, plan, degraded: 'address-only' };
  // A plan of one worker: workerOfConn answers 0, as the program does.
  return { prog: Uint32Array.from([BPF_RET | BPF_K, 0, 0, 0]), plan: planFanout([], 1), degraded: 'single-worker' };
}
