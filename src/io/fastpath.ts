// The fast path (lvsd --fast-path): established flows forwarded by the
// kernel, lvsd as their control plane.
//
// A packet-socket data plane pays, per frame, a copy into the ring, a wake-
// up, the engine, a copy into the TX ring and a new skb sent through the
// driver again; nftables DNAT rewrites the skb it already has. For a flow
// whose every packet gets the same rewrite (an established NAT or DR conn)
// none of that is needed: this file learns each such flow from the packet
// the engine just forwarded and writes it into a BPF hash map, and a tcx
// ingress program (fastpath-prog.ts) rewrites and redirects the flow's
// later packets itself.
//
// - What is learnt: the engine's in-place rewrite of an IPv4 TCP/UDP packet
//   (addresses, ports, TTL), checked against the packet it read (length and
//   every other header word the same), and the MACs and interface the
//   forwarder chose. The checksum changes are precomputed here as one's
//   complement differences. Only conns the engine calls eligible
//   (IpvsCore.fastEligible: UDP, or TCP in ESTABLISHED, NAT or DR) are learnt.
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
// - The packet tap runs before tcx, so lvsd's socket filter becomes eBPF too
//   and drops what the program will forward (buildSocketFilter).
// - Cleanup: the tcx links are fds of this process; when lvsd exits or is
//   killed, the kernel detaches the program and frees the map. Nothing is
//   pinned, so nothing outlives the process.
import { buildIngress, buildSocketFilter, KEY_SIZE, V_BYTES, V_DADDR, V_DMAC, V_DPORT, V_FLAGS, V_IFINDEX,
  V_L3DIFF, V_L4ADIFF, V_L4PDIFF, V_MAXTOT, V_OWNER, V_PACKETS, V_SADDR, V_SPORT, VALUE_SIZE, VF_TTL_DEC } from './fastpath-prog.js';
import { BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_SOCKET_FILTER, bpfClose, mapCreateHash, mapForEachBatch, mapLookup,
  mapLookupAndDelete, mapUpdate, progLoad, tcxAttachIngress } from './ebpf-sys.js';

/** What the fast path needs of the engine (IpvsEngine, over IpvsCore). */
export interface FastPathEngine {
  readonly lastConn: number;
  readonly lastOut: boolean;
  fastEligible(i: number): boolean;
  fastCredit(i: number, proto: number, caddr: number, cport: number, vaddr: number, vport: number,
    reply: boolean, pkts: number, bytes: number): boolean;
  fastActivity(i: number, proto: number, caddr: number, cport: number, vaddr: number, vport: number,
    reply: boolean, pkts: number, bytes: number, now: number): boolean;
  /** Called with a conn slot when the conn leaves the table. */
  onConnRemove(cb: ((i: number) => void) | null): void;
}

export const DEFAULT_FAST_FLOWS = 262144;

/** The kernel side, made once per lvsd: the flow map, the ingress program and one tcx link per interface. */
export class FastPathKernel {
  readonly mapFd: number;
  readonly maxFlows: number;
  private progFd = -1;
  private readonly links: number[] = [];

  constructor(maxFlows = DEFAULT_FAST_FLOWS) {
    this.maxFlows = maxFlows;
    this.mapFd = mapCreateHash(KEY_SIZE, VALUE_SIZE, maxFlows, 'lvsd_flows');
  }

  /** Loads the ingress program and attaches it to each interface (tcx: Linux 6.6+). */
  attach(ifindexes: number[]): void {
    this.progFd = progLoad(BPF_PROG_TYPE_SCHED_CLS, buildIngress(this.mapFd), 'lvsd_fast');
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
    bpfClose(this.mapFd);
  }
}

/** lvsd's socket filter behind the fast path's test: a program fd to attach (SO_ATTACH_BPF), then close. */
export function loadSocketFilter(mapFd: number, classic: Uint32Array): number {
  return progLoad(BPF_PROG_TYPE_SOCKET_FILTER, buildSocketFilter(mapFd, classic), 'lvsd_filter');
}

interface Flow {
  key: Buffer;
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
  private readonly value = Buffer.alloc(VALUE_SIZE);
  // The packet as read before the engine rewrote it in place.
  private cSaddr = 0;
  private cDaddr = 0;
  private cPorts = 0;
  private cW0 = 0;
  private cW1 = 0;
  private cTtlProto = 0;
  private cL3 = -1;

  private sweeps = 0;
  /** From this many flows a sweep reads the whole map in batches instead of one lookup per flow. */
  private readonly batchFrom: number;
  private batchOk = true;

  /** `maxFlows`: the map's size (its bucket count decides what a batch read costs). */
  constructor(private readonly mapFd: number, private readonly engine: FastPathEngine, private readonly owner = 0,
    maxFlows = DEFAULT_FAST_FLOWS) {
    engine.onConnRemove((i) => this.forgetConn(i));
    this.batchFrom = batchFrom(maxFlows);
  }

  get size(): number {
    return this.flows.size;
  }

  /**
   * Before the engine: remembers an untagged IPv4 TCP/UDP frame's header
   * (false for anything else, which is never learnt).
   */
  capture(u8: Uint8Array, off: number, len: number): boolean {
    this.cL3 = -1;
    if (len < 48 || u8[off + 12] !== 0x08 || u8[off + 13] !== 0x00 || u8[off + 14] !== 0x45) return false;
    const l3 = off + 14;
    const p = u8[l3 + 9];
    if (p !== 6 && p !== 17) return false;
    this.cW0 = rd32(u8, l3);
    this.cW1 = rd32(u8, l3 + 4);
    this.cTtlProto = (u8[l3 + 8]! << 8) | p;
    this.cSaddr = rd32(u8, l3 + 12);
    this.cDaddr = rd32(u8, l3 + 16);
    this.cPorts = rd32(u8, l3 + 20);
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
    if (!sameBuf || l3 !== this.cL3 || len !== (this.cW0 & 0xffff)) return;
    if (rd32(buf, l3) !== this.cW0 || rd32(buf, l3 + 4) !== this.cW1 || buf[l3 + 9] !== (this.cTtlProto & 0xff)) return;
    const ttl = this.cTtlProto >>> 8;
    const nttl = buf[l3 + 8]!;
    if (nttl !== ttl && nttl !== ttl - 1) return;
    const proto = this.cTtlProto & 0xff;
    const id = `${this.cSaddr}:${this.cDaddr}:${this.cPorts}:${proto}`;
    if (this.flows.has(id)) return;
    const saddr = rd32(buf, l3 + 12), daddr = rd32(buf, l3 + 16), ports = rd32(buf, l3 + 20);
    const key = Buffer.alloc(KEY_SIZE);
    key.writeUInt32BE(this.cSaddr, 0);
    key.writeUInt32BE(this.cDaddr, 4);
    key.writeUInt32BE(this.cPorts, 8);
    key[12] = proto;
    const v = this.value;
    v.fill(0);
    v.writeUInt32BE(saddr, V_SADDR);
    v.writeUInt32BE(daddr, V_DADDR);
    v.writeUInt16BE(ports >>> 16, V_SPORT);
    v.writeUInt16BE(ports & 0xffff, V_DPORT);
    v.writeUInt32LE(outIfindex, V_IFINDEX);
    for (let k = 0; k < 12; k++) v[V_DMAC + k] = buf[l2 + k]!;
    v.writeUInt16LE(Math.min(outMtu, 0xffff), V_MAXTOT);
    v[V_FLAGS] = nttl !== ttl ? VF_TTL_DEC : 0;
    v[V_OWNER] = this.owner & 0xff;
    const addrDiff = csumDiff([this.cSaddr, this.cDaddr], [saddr, daddr]);
    v.writeUInt32LE(fold(addrDiff + (nttl !== ttl ? 0xfffe : 0)), V_L3DIFF);
    v.writeUInt32LE(addrDiff, V_L4ADIFF);
    v.writeUInt32LE(csumDiff([this.cPorts], [ports]), V_L4PDIFF);
    if (!mapUpdate(this.mapFd, key, v)) { this.counters.full++; return; }
    const reply = e.lastOut;
    const f: Flow = {
      key, conn: i, reply, proto, pkts: 0n, bytes: 0n, seen: -1, seenPkts: 0n, seenBytes: 0n,
      caddr: reply ? daddr : this.cSaddr, cport: reply ? ports & 0xffff : this.cPorts >>> 16,
      vaddr: reply ? saddr : this.cDaddr, vport: reply ? ports >>> 16 : this.cPorts & 0xffff,
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

  /** Out of the map, its last counts credited to the conn (read and deleted in one step: none is lost). */
  private drop(f: Flow): void {
    const v = this.value;
    if (mapLookupAndDelete(this.mapFd, f.key, v)) {
      const dp = Number(v.readBigUInt64LE(V_PACKETS) - f.pkts), db = Number(v.readBigUInt64LE(V_BYTES) - f.bytes);
      if (dp > 0 && this.engine.fastCredit(f.conn, f.proto, f.caddr, f.cport, f.vaddr, f.vport, f.reply, dp, db)) {
        this.counters.packets += dp;
        this.counters.bytes += db;
      }
    }
    this.flows.delete(`${f.key.readUInt32BE(0)}:${f.key.readUInt32BE(4)}:${f.key.readUInt32BE(8)}:${f.key[12]}`);
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
        if (batch ? f.seen === sweep : mapLookup(this.mapFd, f.key, v)) {
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
   * Reads every entry of the map (BPF_MAP_LOOKUP_BATCH) and notes this
   * plane's flows' counts in them; false when the kernel has no batch ops
   * (the sweep then looks each flow up, as it does below batchFrom).
   */
  private readBatch(sweep: number): boolean {
    try {
      mapForEachBatch(this.mapFd, KEY_SIZE, VALUE_SIZE, (keys, values, n) => {
        for (let k = 0; k < n; k++) {
          const vo = k * VALUE_SIZE;
          if (values[vo + V_OWNER] !== (this.owner & 0xff)) continue;
          const ko = k * KEY_SIZE;
          const f = this.flows.get(`${keys.readUInt32BE(ko)}:${keys.readUInt32BE(ko + 4)}:${keys.readUInt32BE(ko + 8)}:${keys[ko + 12]}`);
          if (f === undefined) continue;
          f.seen = sweep;
          f.seenPkts = values.readBigUInt64LE(vo + V_PACKETS);
          f.seenBytes = values.readBigUInt64LE(vo + V_BYTES);
        }
      });
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
 * (bench/fastpath-sweep.ts measured 15, 70 and ~3,800). At 262,144 flows
 * a batch sweep takes 91 ms where lookups took 1.15 s, more than the
 * sweep's period.
 */
export function batchFrom(maxFlows: number): number {
  let buckets = 1;
  while (buckets < maxFlows) buckets *= 2;
  return 16 + Math.ceil(buckets / 4096);
}

function rd32(u8: Uint8Array, o: number): number {
  return ((u8[o]! << 24) | (u8[o + 1]! << 16) | (u8[o + 2]! << 8) | u8[o + 3]!) >>> 0;
}
