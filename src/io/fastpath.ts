// The fast path (lvsd --fast-path): established flows forwarded by the
// kernel, lvsd as their control plane.
//
// A packet-socket data plane pays, per frame, a copy into the ring, a wake-
// up, the engine, a copy into the TX ring and a new skb sent through the
// driver again; nftables DNAT rewrites the skb it already has. For a flow
// whose every packet gets the same rewrite (an established NAT or DR conn)
// or the same outer header (an IPv4 TUN conn) none of that is needed: this
// file learns each such flow from the packet the engine just forwarded and
// writes it into a BPF hash map, and a tcx ingress program
// (fastpath-prog.ts) rewrites and redirects the flow's later packets itself.
//
// - What is learnt: the engine's in-place rewrite of an IPv4 or IPv6 TCP/UDP
//   packet (addresses, ports, TTL or hop limit), checked against the packet it read (length and
//   every other header word the same), and the MACs and interface the
//   forwarder chose, into the family's map (an IPv6 entry carries the new
//   addresses after the IPv4 layout). The checksum changes are precomputed here as one's
//   complement differences. An IPv4 TUN packet is learnt from the IPIP
//   header the engine wrote in front of the untouched packet: the entry
//   holds the tunnel's ends and the inner packet's limit (the tunnel MTU
//   less 20), and the program writes the header itself. Only conns the
//   engine calls eligible (IpvsCore.fastEligible: UDP, or TCP in
//   ESTABLISHED; NAT, DR or IPv4 TUN) are learnt.
// - What still reaches the engine: every SYN, FIN and RST (so the state
//   machine sees each transition; a FIN makes the conn ineligible and its
//   flows are forgotten), fragments, IP options, frames above the egress MTU
//   other than TCP super-frames whose segments fit it (UDP super-frames,
//   frames that need fragmenting or frag-needed), replies with TTL 1, and
//   every flow not learnt yet. A flow is learnt from a super-frame the
//   engine forwarded as well as from an ordinary frame (a bulk upload sends
//   nothing else).
// - Accounting: the program counts packets and bytes per flow; sweep()
//   (once a second) hands the increments to the engine (fastActivity), which
//   counts them in the dest, service and totals, restarts the conn's timer
//   and offers it to sync, as a packet would. A conn that is gone (expired,
//   flushed, handed to another worker) takes its flows out of the map at
//   once (ConnTable.onRemove); one that left eligibility at the next sweep.
// - With --intercept tap the packet taps run before tcx, so lvsd's socket
//   filter becomes eBPF too and drops what the program will forward
//   (buildSocketFilter). Protocol-bound rings (the default) sit behind tcx.
// - Cleanup: the tcx links are fds of this process; when lvsd exits or is
//   killed, the kernel detaches the program and frees the map. Nothing is
//   pinned, so nothing outlives the process.
import { endianness as osEndianness } from 'node:os';
import { buildIngress, buildSocketFilter, KEY_SIZE, KEY6_SIZE, V_BYTES, V_DADDR, V_DMAC, V_DPORT, V_FLAGS, V_IFINDEX,
  V_L3DIFF, V_L4ADIFF, V_L4PDIFF, V_MAXTOT, V_OWNER, V_PACKETS, V_SADDR, V_SPORT, V6_SADDR, VALUE_SIZE, VALUE6_SIZE,
  VF_TTL_DEC, VF_TUN, type FlowMaps } from './fastpath-prog.js';
import { IPIP_HLEN } from '../ipvs/xmit/tun.js';
import { BPF_F_NO_PREALLOC, BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_SOCKET_FILTER, bpfClose, mapCreateHash, mapForEachBatch, mapLookup,
  mapLookupAndDelete, mapUpdate, progLoad, tcxAttachIngress } from './ebpf-sys.js';

/** What the fast path needs of the engine (IpvsEngine, over IpvsCore). */
export interface FastPathEngine {
  readonly lastConn: number;
  readonly lastOut: boolean;
  /** The path MTU towards TUN real servers (--tun-mtu): a TUN flow's outer packets must fit it. */
  readonly tunMtu: number;
  fastEligible(i: number): boolean;
  /** caddr, vaddr: the IPv4 addresses; -1 for an IPv6 conn (its slot is checked by family, protocol and ports). */
  fastCredit(i: number, proto: number, caddr: number, cport: number, vaddr: number, vport: number,
    reply: boolean, pkts: number, bytes: number): boolean;
  fastActivity(i: number, proto: number, caddr: number, cport: number, vaddr: number, vport: number,
    reply: boolean, pkts: number, bytes: number, now: number): boolean;
  /** Called with a conn slot when the conn leaves the table. */
  onConnRemove(cb: ((i: number) => void) | null): void;
}

export const DEFAULT_FAST_FLOWS = 262144;

/** The kernel side, made once per lvsd: the flow maps (IPv4, IPv6), the ingress program and one tcx link per interface. */
export class FastPathKernel {
  readonly maps: Required<FlowMaps>;
  /** Each map's size. */
  readonly maxFlows: number;
  private progFd = -1;
  private readonly links: number[] = [];

  constructor(maxFlows = DEFAULT_FAST_FLOWS, endianness: 'LE' | 'BE' = osEndianness()) {
    // The map values hold checksum differences summed as a little-endian CPU reads the header's words
    // (csumDiff) and fields the program reads natively: on a big-endian host they would be wrong, and
    // no such host was there to test a second layout on. lvsd then forwards every packet itself.
    if (endianness !== 'LE') throw new Error('the fast path is built for little-endian CPUs only (this one is big-endian)');
    this.maxFlows = maxFlows;
    // Not preallocated: only lvsd inserts (a syscall per learnt flow), the programs only look up and count,
    // so allocation never happens in the packet path, and memory follows the flows (a preallocated pair
    // would hold 86 MiB of kernel memory at the default size, IPv6 served or not).
    const v4 = mapCreateHash(KEY_SIZE, VALUE_SIZE, maxFlows, 'lvsd_flows', BPF_F_NO_PREALLOC);
    try {
      this.maps = { v4, v6: mapCreateHash(KEY6_SIZE, VALUE6_SIZE, maxFlows, 'lvsd_flows6', BPF_F_NO_PREALLOC) };
    } catch (err) {
      bpfClose(v4);
      throw err;
    }
  }

  /** Loads the ingress program and attaches it to each interface (tcx: Linux 6.6+). */
  attach(ifindexes: number[]): void {
    this.progFd = progLoad(BPF_PROG_TYPE_SCHED_CLS, buildIngress(this.maps), 'lvsd_fast');
    for (const ix of ifindexes) {
      try {
        this.links.push(tcxAttachIngress(this.progFd, ix));
      } catch (err) {
        throw new Error(`${String((err as Error).message)}: --fast-path needs tcx (Linux 6.6 or later)`);
      }
    }
  }

  close(): void {
    for (const l of this.links.splice(0)) bpfClose(l);
    if (this.progFd >= 0) bpfClose(this.progFd);
    this.progFd = -1;
    bpfClose(this.maps.v4);
    bpfClose(this.maps.v6);
  }
}

/** lvsd's socket filter behind the fast path's test: a program fd to attach (SO_ATTACH_BPF), then close. */
export function loadSocketFilter(maps: FlowMaps, classic: Uint32Array): number {
  return progLoad(BPF_PROG_TYPE_SOCKET_FILTER, buildSocketFilter(maps, classic), 'lvsd_filter');
}

interface Flow {
  key: Buffer;
  id: string;
  v6: boolean;
  conn: number;
  reply: boolean;
  proto: number;
  caddr: number;
  cport: number;
  vaddr: number;
  vport: number;
  pkts: bigint;
  bytes: bigint;
  /** The sweep that last found it in a batch read, and the counts it read. */
  seen: number;
  seenPkts: bigint;
  seenBytes: bigint;
}

export class FastPathCounters {
  /** Flows written into the map. */
  learnt = 0;
  /** Flows taken out (conn gone, ineligible, or left ESTABLISHED). */
  forgotten = 0;
  /** The map was full: the flow stays on the slow path. */
  full = 0;
  /** Packets and bytes the kernel forwarded, as handed to the engine. */
  packets = 0;
  bytes = 0;
  /** Sweeps that read the whole map in batches (the rest looked each flow up: below batchFrom()). */
  batchSweeps = 0;
}

/** Sum of 16-bit words as the CPU reads them (little-endian) of the 4 bytes of v (network order in memory, v = host-order u32). */
function words(v: number): number {
  // bytes b0..b3 = v >>> 24 .. v & 0xff; LE words: b0 | b1 << 8, b2 | b3 << 8
  return (((v >>> 24) & 0xff) | (((v >>> 16) & 0xff) << 8)) + (((v >>> 8) & 0xff) | ((v & 0xff) << 8));
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The one's complement difference that turns a checksum over `olds` into one over `news` (u32 host-order values). */
export function csumDiff(olds: number[], news: number[]): number {
  let s = 0;
  for (const o of olds) s += 0x1fffe - words(o); // ~w1 + ~w2 (each 0xffff - w)
  for (const n of news) s += words(n);
  return fold(s);
}

/** One worker's (or the single plane's) view: the flows its engine taught, their accounting. */
export class FastPath {
  readonly counters = new FastPathCounters();
  private readonly flows = new Map<string, Flow>();
  private readonly byConn = new Map<number, Flow[]>();
  private readonly value = Buffer.alloc(VALUE6_SIZE);
  /** The value buffer cut to each family's entry size, and scratch keys for offer(). */
  private readonly value4 = this.value.subarray(0, VALUE_SIZE);
  private readonly key4 = Buffer.alloc(KEY_SIZE);
  private readonly key6 = Buffer.alloc(KEY6_SIZE);
  // The packet as read before the engine rewrote it in place: IPv4, the
  // header's words 0-1, TTL and protocol, addresses and ports; IPv6, words
  // 0-1 (version..flow label; payload length, next header, hop limit),
  // the addresses (8 words) and ports.
  private cV6 = false;
  private cSaddr = 0;
  private cDaddr = 0;
  private cPorts = 0;
  private cW0 = 0;
  private cW1 = 0;
  private cTtlProto = 0;
  private readonly cAddr6 = new Uint32Array(8);
  private cL3 = -1;
  private sweeps = 0;
  /** From this many flows a sweep reads the whole map in batches instead of one lookup per flow. */
  private readonly batchFrom: number;
  private batchOk = true;

  /** `maxFlows`: each map's size (its bucket count decides what a batch read costs). */
  constructor(private readonly maps: FlowMaps, private readonly engine: FastPathEngine, private readonly owner = 0,
    maxFlows = DEFAULT_FAST_FLOWS) {
    engine.onConnRemove((i) => this.forgetConn(i));
    this.batchFrom = batchFrom(maxFlows);
  }

  get size(): number {
    return this.flows.size;
  }

  /**
   * Before the engine: remembers an untagged IPv4 or IPv6 TCP/UDP frame's
   * header (false for anything else, which is never learnt).
   */
  capture(u8: Uint8Array, off: number, len: number): boolean {
    this.cL3 = -1;
    const l3 = off + 14;
    if (len >= 48 && u8[off + 12] === 0x08 && u8[off + 13] === 0x00 && u8[l3] === 0x45) {
      const p = u8[l3 + 9];
      if (p !== 6 && p !== 17) return false;
      this.cV6 = false;
      this.cW0 = rd32(u8, l3);
      this.cW1 = rd32(u8, l3 + 4);
      this.cTtlProto = (u8[l3 + 8]! << 8) | p;
      this.cSaddr = rd32(u8, l3 + 12);
      this.cDaddr = rd32(u8, l3 + 16);
      this.cPorts = rd32(u8, l3 + 20);
      this.cL3 = l3;
      return true;
    }
    if (this.maps.v6 === undefined || len < 68 || u8[off + 12] !== 0x86 || u8[off + 13] !== 0xdd || (u8[l3]! >> 4) !== 6) return false;
    const p = u8[l3 + 6];
    if (p !== 6 && p !== 17) return false;
    this.cV6 = true;
    this.cW0 = rd32(u8, l3);
    this.cW1 = rd32(u8, l3 + 4);
    this.cTtlProto = (u8[l3 + 7]! << 8) | p;
    for (let w = 0; w < 8; w++) this.cAddr6[w] = rd32(u8, l3 + 8 + 4 * w);
    this.cPorts = rd32(u8, l3 + 40);
    this.cL3 = l3;
    return true;
  }

  /**
   * After the forwarder addressed the engine's packet (MACs written at l2):
   * learns the flow when the conn is eligible and the rewrite is one the
   * program can repeat; forgets the conn's flows when it is not eligible.
   */
  offer(buf: Uint8Array, sameBuf: boolean, l2: number, len: number, outIfindex: number, outMtu: number): void {
    const e = this.engine;
    const i = e.lastConn;
    if (i < 0 || this.cL3 < 0) return;
    if (!e.fastEligible(i)) { this.forgetConn(i); return; }
    const l3 = l2 + 14;
    const v6 = this.cV6;
    if (!sameBuf) return;
    // TUN: the packet untouched behind an IPIP header the engine wrote into the headroom.
    const tun = !v6 && l3 === this.cL3 - IPIP_HLEN;
    if (tun) {
      const c = this.cL3;
      if (len !== (this.cW0 & 0xffff) + IPIP_HLEN || buf[l3] !== 0x45 || buf[l3 + 9] !== 4 || rd32(buf, c) !== this.cW0
        || rd32(buf, c + 4) !== this.cW1 || ((buf[c + 8]! << 8) | buf[c + 9]!) !== this.cTtlProto || rd32(buf, c + 12) !== this.cSaddr
        || rd32(buf, c + 16) !== this.cDaddr || rd32(buf, c + 20) !== this.cPorts) return;
    } else if (l3 !== this.cL3) return;
    // Everything but addresses, ports and TTL as it was (IPv6: the payload length and next header in word 1).
    else if (v6 ? len !== 40 + (this.cW1 >>> 16) || (rd32(buf, l3 + 4) >>> 8) !== (this.cW1 >>> 8)
      : len !== (this.cW0 & 0xffff) || rd32(buf, l3 + 4) !== this.cW1 || buf[l3 + 9] !== (this.cTtlProto & 0xff)) return;
    if (!tun && rd32(buf, l3) !== this.cW0) return;
    const ttl = this.cTtlProto >>> 8;
    const nttl = tun ? ttl : buf[l3 + (v6 ? 7 : 8)]!;
    if (nttl !== ttl && nttl !== ttl - 1) return;
    const proto = this.cTtlProto & 0xff;
    // The key in a scratch buffer; copied only when the flow is new.
    const scratch = v6 ? this.key6 : this.key4;
    if (v6) {
      for (let w = 0; w < 8; w++) scratch.writeUInt32BE(this.cAddr6[w]!, 4 * w);
      scratch.writeUInt32BE(this.cPorts, 32);
      scratch[36] = proto;
    } else {
      scratch.writeUInt32BE(this.cSaddr, 0);
      scratch.writeUInt32BE(this.cDaddr, 4);
      scratch.writeUInt32BE(this.cPorts, 8);
      scratch[12] = proto;
    }
    const id = flowId(scratch, 0, v6);
    if (this.flows.has(id)) return;
    const key = Buffer.from(scratch);
    const ports = tun ? this.cPorts : rd32(buf, l3 + (v6 ? 40 : 20));
    const v = this.value;
    v.fill(0);
    let addrDiff: number;
    let caddr = -1, vaddr = -1;
    if (v6) {
      const news: number[] = [];
      for (let w = 0; w < 8; w++) {
        const n = rd32(buf, l3 + 8 + 4 * w);
        news.push(n);
        v.writeUInt32BE(n, V6_SADDR + 4 * w);
      }
      addrDiff = csumDiff([...this.cAddr6], news);
    } else {
      const saddr = rd32(buf, l3 + 12), daddr = rd32(buf, l3 + 16);
      v.writeUInt32BE(saddr, V_SADDR);
      v.writeUInt32BE(daddr, V_DADDR);
      addrDiff = csumDiff([this.cSaddr, this.cDaddr], [saddr, daddr]);
      v.writeUInt32LE(fold(addrDiff + (nttl !== ttl ? 0xfffe : 0)), V_L3DIFF);
      caddr = e.lastOut ? daddr : this.cSaddr;
      vaddr = e.lastOut ? saddr : this.cDaddr;
      // TUN: V_SADDR/V_DADDR are the outer header's (the tunnel's ends); the L3 and L4 differences go unused.
    }
    v.writeUInt16BE(ports >>> 16, V_SPORT);
    v.writeUInt16BE(ports & 0xffff, V_DPORT);
    v.writeUInt32LE(outIfindex, V_IFINDEX);
    for (let k = 0; k < 12; k++) v[V_DMAC + k] = buf[l2 + k]!;
    // TUN: the inner packet's limit, so that it fits the tunnel with its outer header (the engine's frag-needed rule).
    v.writeUInt16LE(tun ? Math.max(0, Math.min(outMtu, e.tunMtu, 0xffff) - IPIP_HLEN) : Math.min(outMtu, 0xffff), V_MAXTOT);
    v[V_FLAGS] = tun ? VF_TUN : nttl !== ttl ? VF_TTL_DEC : 0;
    v[V_OWNER] = this.owner & 0xff;
    v.writeUInt32LE(addrDiff, V_L4ADIFF);
    v.writeUInt32LE(csumDiff([this.cPorts], [ports]), V_L4PDIFF);
    if (!mapUpdate(v6 ? this.maps.v6! : this.maps.v4, key, v6 ? v : this.value4)) { this.counters.full++; return; }
    const reply = e.lastOut;
    const f: Flow = {
      key, id, v6, conn: i, reply, proto, pkts: 0n, bytes: 0n, seen: -1, seenPkts: 0n, seenBytes: 0n,
      caddr, cport: reply ? ports & 0xffff : this.cPorts >>> 16,
      vaddr, vport: reply ? ports >>> 16 : this.cPorts & 0xffff,
    };
    this.flows.set(id, f);
    const list = this.byConn.get(i);
    if (list === undefined) this.byConn.set(i, [f]); else list.push(f);
    this.counters.learnt++;
  }

  /** Takes conn i's flows out of the map (their next packets meet the engine). */
  forgetConn(i: number): void {
    const list = this.byConn.get(i);
    if (list === undefined) return;
    this.byConn.delete(i);
    for (const f of list) this.drop(f);
  }

  private mapOf(f: Flow): number {
    return f.v6 ? this.maps.v6! : this.maps.v4;
  }

  /** The value buffer at f's family's entry size. */
  private valueOf(f: Flow): Buffer {
    return f.v6 ? this.value : this.value4;
  }

  /** Out of the map, its last counts credited to the conn (read and deleted in one step: none is lost). */
  private drop(f: Flow): void {
    const v = this.value;
    if (mapLookupAndDelete(this.mapOf(f), f.key, this.valueOf(f))) {
      const dp = Number(v.readBigUInt64LE(V_PACKETS) - f.pkts), db = Number(v.readBigUInt64LE(V_BYTES) - f.bytes);
      if (dp > 0 && this.engine.fastCredit(f.conn, f.proto, f.caddr, f.cport, f.vaddr, f.vport, f.reply, dp, db)) {
        this.counters.packets += dp;
        this.counters.bytes += db;
      }
    }
    this.flows.delete(f.id);
    this.counters.forgotten++;
  }

  /** Hands the kernel's counts since the last sweep to the engine; forgets flows whose conn is gone or ineligible. */
  sweep(now: number): void {
    const v = this.value;
    const sweep = ++this.sweeps;
    const batch = this.flows.size >= this.batchFrom && this.batchOk && this.readBatch(sweep);
    for (const [i, list] of [...this.byConn]) {
      for (const f of [...list]) {
        let dp = 0, db = 0;
        if (batch ? f.seen === sweep : mapLookup(this.mapOf(f), f.key, this.valueOf(f))) {
          const p = batch ? f.seenPkts : v.readBigUInt64LE(V_PACKETS), b = batch ? f.seenBytes : v.readBigUInt64LE(V_BYTES);
          dp = Number(p - f.pkts);
          db = Number(b - f.bytes);
          f.pkts = p;
          f.bytes = b;
        }
        if (!this.engine.fastActivity(i, f.proto, f.caddr, f.cport, f.vaddr, f.vport, f.reply, dp, db, now)) {
          // Gone or closing: what it forwarded still counts, if the slot is still that conn's.
          if (dp > 0 && this.engine.fastCredit(i, f.proto, f.caddr, f.cport, f.vaddr, f.vport, f.reply, dp, db)) {
            this.counters.packets += dp;
            this.counters.bytes += db;
          }
          this.forgetConn(i);
          break;
        }
        this.counters.packets += dp;
        this.counters.bytes += db;
      }
    }
  }

  /**
   * Reads every entry of the maps (BPF_MAP_LOOKUP_BATCH) and notes this
   * plane's flows' counts in them; false when the kernel has no batch ops
   * (the sweep then looks each flow up, as it does below batchFrom).
   */
  private readBatch(sweep: number): boolean {
    const own = this.owner & 0xff;
    const note = (f: Flow | undefined, values: Buffer, vo: number) => {
      if (f === undefined) return;
      f.seen = sweep;
      f.seenPkts = values.readBigUInt64LE(vo + V_PACKETS);
      f.seenBytes = values.readBigUInt64LE(vo + V_BYTES);
    };
    try {
      mapForEachBatch(this.maps.v4, KEY_SIZE, VALUE_SIZE, (keys, values, n) => {
        for (let k = 0; k < n; k++) {
          const vo = k * VALUE_SIZE;
          if (values[vo + V_OWNER] !== own) continue;
          note(this.flows.get(flowId(keys, k * KEY_SIZE, false)), values, vo);
        }
      });
      if (this.maps.v6 !== undefined) {
        mapForEachBatch(this.maps.v6, KEY6_SIZE, VALUE6_SIZE, (keys, values, n) => {
          for (let k = 0; k < n; k++) {
            const vo = k * VALUE6_SIZE;
            if (values[vo + V_OWNER] === own) note(this.flows.get(flowId(keys, k * KEY6_SIZE, true)), values, vo);
          }
        });
      }
    } catch (err) {
      if ((err as { code?: string }).code !== 'EINVAL') throw err;
      this.batchOk = false;
      return false;
    }
    this.counters.batchSweeps++;
    return true;
  }

  /** Forgets every flow (the map entries go too). */
  clear(): void {
    for (const i of [...this.byConn.keys()]) this.forgetConn(i);
  }
}

/**
 * From how many flows a sweep should read the whole map in batches. A
 * lookup costs ~3.5 µs (the syscall and its JS wrapping); a batch walk
 * ~60 µs, plus ~0.7 ns per bucket (the kernel skips empty buckets without
 * locking them; the map has max_entries rounded up to a power of two) and
 * ~0.35 µs per entry. Equal at about 16 + buckets / 4096 flows: 20 for a
 * 1,024-flow map, 80 for the default 262,144, 4,112 for 16M
 * (bench/fastpath-sweep.ts measured 15, 70 and ~3,100-3,800). At 262,144
 * flows a batch sweep takes 83-91 ms where lookups took 0.74-1.15 s, about
 * the sweep's period.
 */
export function batchFrom(maxFlows: number): number {
  let buckets = 1;
  while (buckets < maxFlows) buckets *= 2;
  return 16 + Math.ceil(buckets / 4096);
}

/** A flow's name: its key's addresses, ports and protocol (the key at `at` in `keys`). */
function flowId(keys: Buffer, at: number, v6: boolean): string {
  return keys.toString('hex', at, at + (v6 ? 37 : 13));
}

function rd32(u8: Uint8Array, o: number): number {
  return ((u8[o]! << 24) | (u8[o + 1]! << 16) | (u8[o + 2]! << 8) | u8[o + 3]!) >>> 0;
}
