// The connection table (ip_vs_conn.c): one 64-byte record per conn or
// persistence template in a single typed array (16 u32 words, one cache
// line), no object per connection. One record per cache line matters: with
// 1M flows a lookup is a hash-head miss plus a record miss, where a
// struct-of-arrays layout paid one miss per field.
//
// - Two hash chains per slot: "in" keyed (proto, caddr, cport, vaddr, vport)
//   as ip_vs_conn_in_get looks up client packets, and "out" keyed
//   (proto, daddr, dport, caddr, cport) for NAT replies (ip_vs_conn_out_get);
//   only NAT conns are on the out chains. Bucket heads are 2^bits Int32s;
//   chains are singly linked through hIn/hOut.
// - Templates share the in chains with cport 0 (client port 0 never reaches
//   the table: input() drops zero ports), as the kernel hashes them.
// - Expiry: a timing wheel of TICK_MS ticks. A packet only stores the new
//   deadline (no relinking); when the wheel reaches a slot, entries whose
//   deadline moved on are re-placed, the rest expire. A deadline that moves
//   earlier (a state with a shorter timeout) relinks at once so it is not
//   overslept. Deadlines are absolute ticks (u32: 8.7 years at 64 ms).
//
// Bytes per slot: 64, plus 8 per bucket (in + out heads).
//
// IPv6 conns live in the same table and take the same code paths (the
// kernel keeps one table with an af per conn). Their record holds, where an
// IPv4 one holds addresses, a seeded 32-bit digest of each address, and
// P_V6 in the protocol word, so hashing, chains, expiry and every field
// reader stay as they are and an IPv4 key can never match an IPv6 record.
// The full addresses (3 × 16 bytes) live in a side array indexed by slot,
// allocated with the first IPv6 conn and grown with the high-water mark:
// an IPv4-only director pays nothing for IPv6, in memory or per packet.
// Digests, not the kernel's xor fold, so a client cannot line up many
// addresses of its own prefix on one hash chain.

export const TICK_MS = 64;
export const WHEEL_BITS = 14;
const WHEEL_SLOTS = 1 << WHEEL_BITS;
const WHEEL_MASK = WHEEL_SLOTS - 1;

/** Persistence template (IP_VS_CONN_F_TEMPLATE). */
export const CF_TEMPLATE = 1;
/** Counted in the dest's inactConns rather than activeConns (IP_VS_CONN_F_INACTIVE). */
export const CF_INACTIVE = 2;
/** DR/TUN: no reply traffic seen, use the INPUT-ONLY table (IP_VS_CONN_F_NOOUTPUT). */
export const CF_NOOUTPUT = 4;
/** On an out chain (NAT). */
export const CF_OUT_HASHED = 8;
export const CF_INUSE = 16;
/** Forwarding method (dest.ts FWD_*) in bits 5-6, fixed when the conn is bound, as cp->flags keeps it. */
export const CF_FWD_SHIFT = 5;
export const CF_FWD_MASK = 0x60;
/** A fwmark service's conn: its client packets come marked, through the NFQUEUE path only. */
export const CF_FWMARK = 0x80;

export const BYTES_PER_SLOT = 64;
/** Record layout: word offsets within a slot's 16 words (slot i starts at i << 4). */
export const C_CADDR = 0, C_VADDR = 1, C_DADDR = 2, C_PORTS = 3, C_DPORT = 4, C_PROTO = 5, C_STATE = 6, C_FLAGS = 7;
export const C_DEST = 8, C_CTL = 9, C_EXPIRE = 10, C_WNEXT = 11, C_WPREV = 12, C_HIN = 13, C_HOUT = 14;
/** Sync bookkeeping (ip_vs_sync.c): cp->old_state in bits 0-3, cp->in_pkts in bits 4-31. */
export const C_SYNC = 15;
const SYNC_PKTS_MAX = 0x0fffffff;

/** In the protocol word of an IPv6 conn: lookups pass proto | P_V6. */
export const P_V6 = 0x100;
/** Side array: words per slot (caddr, vaddr, daddr, 4 words each) and each address's word offset. */
const A6_WORDS = 12;
export const A6_C = 0, A6_V = 4, A6_D = 8;

/** vport/dport of an invalidated template (ip_vs_check_template). */
const INVALID_PORT = 0xffff;

export function hashKey(seed: number, proto: number, a: number, ports: number, b: number): number {
  let h = seed ^ proto;
  h = Math.imul(h ^ a, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h ^ ports, 0x85ebca77);
  h ^= h >>> 13;
  h = Math.imul(h ^ b, 0xc2b2ae3d);
  h ^= h >>> 16;
  return h;
}

export class ConnTable {
  readonly capacity: number;
  readonly buckets: number;
  readonly mask: number;
  readonly seed: number;

  /** Records as u32 (addresses, ports, expire…) and, over the same memory, as i32 (links, dest, ctl). */
  readonly u: Uint32Array;
  readonly s: Int32Array;
  readonly headsIn: Int32Array;
  readonly headsOut: Int32Array;
  readonly wheel: Int32Array;

  count = 0;
  templates = 0;
  /** One past the highest slot ever used (listing bound). */
  hwm = 0;
  /** Last tick the wheel has processed. */
  cursor = -1;
  private freeHead = -1;
  /** cp->sync_endtime (ticks, low 2 bits: retries), only once sync_refresh_period is used. */
  private syncEnds: Uint32Array | null = null;
  /** IPv6 addresses by slot (A6_WORDS each); empty until the first IPv6 conn. */
  a6: Uint32Array = new Uint32Array(0);
  private readonly seed6: number;

  constructor(bits: number, capacity: number, rng: () => number) {
    this.capacity = capacity;
    this.buckets = 1 << bits;
    this.mask = this.buckets - 1;
    this.seed = Math.floor(rng() * 4294967296) | 0;
    this.seed6 = Math.floor(rng() * 4294967296) | 0;
    const ab = new ArrayBuffer(capacity * BYTES_PER_SLOT);
    this.u = new Uint32Array(ab);
    this.s = new Int32Array(ab);
    this.headsIn = new Int32Array(this.buckets).fill(-1);
    this.headsOut = new Int32Array(this.buckets).fill(-1);
    this.wheel = new Int32Array(WHEEL_SLOTS).fill(-1);
  }

  /** Bytes held by the table's arrays. */
  bytes(): number {
    return this.capacity * BYTES_PER_SLOT + this.buckets * 8 + WHEEL_SLOTS * 4 + this.a6.byteLength;
  }

  /** The record's stand-in for an IPv6 address (4 words at w[o…)): a seeded digest. */
  digest6(w: Uint32Array, o = 0): number {
    let h = Math.imul(this.seed6 ^ w[o]!, 0x9e3779b1);
    h ^= h >>> 15;
    h = Math.imul(h ^ w[o + 1]!, 0x85ebca77);
    h ^= h >>> 13;
    h = Math.imul(h ^ w[o + 2]!, 0xc2b2ae3d);
    h ^= h >>> 16;
    h = Math.imul(h ^ w[o + 3]!, 0x27d4eb2f);
    h ^= h >>> 15;
    return h >>> 0;
  }

  /**
   * An IPv6 conn by its client packet's key: `proto` | P_V6, the digests of
   * caddr and vaddr as the record holds them, and the full addresses.
   */
  findIn6(proto: number, cdig: number, ports: number, vdig: number, c: Uint32Array, co: number, v: Uint32Array, vo: number): number {
    const u = this.u;
    const a = this.a6;
    let i = this.headsIn[hashKey(this.seed, proto, cdig, ports, vdig) & this.mask]!;
    while (i >= 0) {
      const o = i << 4;
      if (u[o + C_CADDR] === cdig && u[o + C_PORTS] === ports && u[o + C_VADDR] === vdig && u[o + C_PROTO] === proto) {
        const x = i * A6_WORDS;
        if (a[x] === c[co] && a[x + 1] === c[co + 1] && a[x + 2] === c[co + 2] && a[x + 3] === c[co + 3]
          && a[x + 4] === v[vo] && a[x + 5] === v[vo + 1] && a[x + 6] === v[vo + 2] && a[x + 7] === v[vo + 3]) return i;
      }
      i = this.s[o + C_HIN]!;
    }
    return -1;
  }

  /** An IPv6 NAT conn by its reply's key, as findOut. */
  findOut6(proto: number, ddig: number, dport: number, cdig: number, cport: number, d: Uint32Array, dO: number, c: Uint32Array, co: number): number {
    const u = this.u;
    const a = this.a6;
    let i = this.headsOut[hashKey(this.seed, proto, ddig, (dport << 16 | cport) >>> 0, cdig) & this.mask]!;
    while (i >= 0) {
      const o = i << 4;
      if (u[o + C_DADDR] === ddig && u[o + C_CADDR] === cdig && u[o + C_DPORT] === dport
        && (u[o + C_PORTS]! >>> 16) === cport && u[o + C_PROTO] === proto) {
        const x = i * A6_WORDS;
        if (a[x + 8] === d[dO] && a[x + 9] === d[dO + 1] && a[x + 10] === d[dO + 2] && a[x + 11] === d[dO + 3]
          && a[x] === c[co] && a[x + 1] === c[co + 1] && a[x + 2] === c[co + 2] && a[x + 3] === c[co + 3]) return i;
      }
      i = this.s[o + C_HOUT]!;
    }
    return -1;
  }

  /**
   * insert() for an IPv6 conn or template: addresses as 4 words each at
   * c[co…), v[vo…), d[dO…); `proto` without P_V6.
   */
  insert6(proto: number, c: Uint32Array, co: number, cport: number, v: Uint32Array, vo: number, vport: number,
    d: Uint32Array, dO: number, dport: number, flags: number, dest: number, expire: number): number {
    // The side array first: insert() takes the slot insert6 then fills, and a slot past it must exist.
    const next = this.freeHead >= 0 ? this.freeHead : this.hwm;
    if (next < this.capacity && (next + 1) * A6_WORDS > this.a6.length) this.growA6(next + 1);
    const i = this.insert(proto | P_V6, this.digest6(c, co), cport, this.digest6(v, vo), vport, this.digest6(d, dO), dport, flags, dest, expire);
    if (i < 0) return -1;
    const x = i * A6_WORDS;
    const a = this.a6;
    for (let k = 0; k < 4; k++) {
      a[x + A6_C + k] = c[co + k]!;
      a[x + A6_V + k] = v[vo + k]!;
      a[x + A6_D + k] = d[dO + k]!;
    }
    return i;
  }

  private growA6(slots: number): void {
    let n = Math.max(1024, this.a6.length / A6_WORDS);
    while (n < slots) n *= 2;
    n = Math.min(n, this.capacity);
    const a = new Uint32Array(n * A6_WORDS);
    a.set(this.a6);
    this.a6 = a;
  }

  /** The word offset in `a6` of an IPv6 conn's address (A6_C, A6_V or A6_D). */
  a6At(i: number, which: number): number {
    return i * A6_WORDS + which;
  }

  full(): boolean {
    return this.count >= this.capacity;
  }

  findIn(proto: number, caddr: number, ports: number, vaddr: number): number {
    const u = this.u;
    let i = this.headsIn[hashKey(this.seed, proto, caddr, ports, vaddr) & this.mask]!;
    while (i >= 0) {
      const o = i << 4;
      if (u[o + C_CADDR] === caddr && u[o + C_PORTS] === ports && u[o + C_VADDR] === vaddr && u[o + C_PROTO] === proto) return i;
      i = this.s[o + C_HIN]!;
    }
    return -1;
  }

  /** A NAT conn by its reply's (proto, RS addr, RS port, client addr, client port). */
  findOut(proto: number, daddr: number, dport: number, caddr: number, cport: number): number {
    const u = this.u;
    let i = this.headsOut[hashKey(this.seed, proto, daddr, (dport << 16 | cport) >>> 0, caddr) & this.mask]!;
    while (i >= 0) {
      const o = i << 4;
      if (u[o + C_DADDR] === daddr && u[o + C_CADDR] === caddr && u[o + C_DPORT] === dport
        && (u[o + C_PORTS]! >>> 16) === cport && u[o + C_PROTO] === proto) return i;
      i = this.s[o + C_HOUT]!;
    }
    return -1;
  }

  // Field access: the only code outside this class that reads or writes a
  // record goes through these (the layout above is this file's business).
  caddr(i: number): number { return this.u[(i << 4) + C_CADDR]!; }
  vaddr(i: number): number { return this.u[(i << 4) + C_VADDR]!; }
  daddr(i: number): number { return this.u[(i << 4) + C_DADDR]!; }
  cport(i: number): number { return this.u[(i << 4) + C_PORTS]! >>> 16; }
  vport(i: number): number { return this.u[(i << 4) + C_PORTS]! & 0xffff; }
  dport(i: number): number { return this.u[(i << 4) + C_DPORT]!; }
  /** IP protocol number (6, 17); the record's key word also carries P_V6. */
  proto(i: number): number { return this.u[(i << 4) + C_PROTO]! & 0xff; }
  /** An IPv6 conn: its addresses are in a6 (caddr/vaddr/daddr() give digests). */
  isV6(i: number): boolean { return (this.u[(i << 4) + C_PROTO]! & P_V6) !== 0; }
  /** TCP state (proto-tcp.ts TCP_S_*); 0 for UDP and templates. */
  state(i: number): number { return this.u[(i << 4) + C_STATE]!; }
  setState(i: number, state: number): void { this.u[(i << 4) + C_STATE] = state; }
  /** CF_* bits. */
  flags(i: number): number { return this.u[(i << 4) + C_FLAGS]!; }
  setFlags(i: number, flags: number): void { this.u[(i << 4) + C_FLAGS] = flags; }
  isTemplate(i: number): boolean { return (this.u[(i << 4) + C_FLAGS]! & CF_TEMPLATE) !== 0; }
  inUse(i: number): boolean { return (this.u[(i << 4) + C_FLAGS]! & CF_INUSE) !== 0; }
  /** The forwarding method the conn was bound with (dest.ts FWD_*). */
  fwd(i: number): number { return (this.u[(i << 4) + C_FLAGS]! & CF_FWD_MASK) >>> CF_FWD_SHIFT; }
  /** The engine's dest id. */
  destId(i: number): number { return this.s[(i << 4) + C_DEST]!; }
  /**
   * The control link (cp->control): on a conn, 1 + its template's slot (0:
   * none); on a template, how many conns it controls.
   */
  ctl(i: number): number { return this.s[(i << 4) + C_CTL]!; }
  setCtl(i: number, v: number): void { this.s[(i << 4) + C_CTL] = v; }
  /** Deadline, absolute ticks. */
  expire(i: number): number { return this.u[(i << 4) + C_EXPIRE]!; }

  /** cp->in_pkts: client packets counted while a master sync daemon runs. */
  syncPkts(i: number): number { return this.u[(i << 4) + C_SYNC]! >>> 4; }
  /** Counts one more packet (saturating) and returns the new count. */
  incSyncPkts(i: number): number {
    const o = (i << 4) + C_SYNC;
    const w = this.u[o]!;
    let n = w >>> 4;
    if (n < SYNC_PKTS_MAX) n++;
    this.u[o] = ((n << 4) | (w & 15)) >>> 0;
    return n;
  }
  setSyncPkts(i: number, n: number): void {
    const o = (i << 4) + C_SYNC;
    this.u[o] = ((Math.min(n, SYNC_PKTS_MAX) << 4) | (this.u[o]! & 15)) >>> 0;
  }
  /** cp->old_state: the state last synced. */
  syncOldState(i: number): number { return this.u[(i << 4) + C_SYNC]! & 15; }
  setSyncOldState(i: number, s: number): void {
    const o = (i << 4) + C_SYNC;
    this.u[o] = ((this.u[o]! & ~15) | (s & 15)) >>> 0;
  }
  /** cp->sync_endtime; 0 until set. */
  syncEnd(i: number): number { return this.syncEnds === null ? 0 : this.syncEnds[i]!; }
  setSyncEnd(i: number, v: number): void {
    this.syncEnds ??= new Uint32Array(this.capacity);
    this.syncEnds[i] = v >>> 0;
  }

  /** Binds conn `i` to template `tpl` (ip_vs_control_add). */
  controlAdd(i: number, tpl: number): void {
    this.s[(i << 4) + C_CTL] = tpl + 1;
    this.s[(tpl << 4) + C_CTL]! += 1;
  }

  /** Unbinds conn `i` from its template, if any (ip_vs_control_del). */
  controlDel(i: number): void {
    const c = this.s[(i << 4) + C_CTL]!;
    if (c > 0) this.s[(c - 1 << 4) + C_CTL]! -= 1;
  }

  /**
   * A new deadline without relinking: only for an entry handed to advance()'s
   * onDue, which places it again when onDue returns false.
   */
  postpone(i: number, expire: number): void {
    this.u[(i << 4) + C_EXPIRE] = expire;
  }

  /**
   * Moves a template to a key no lookup matches, vport and dport 0xffff, as
   * ip_vs_check_template() does with a template whose dest is gone; it stays
   * until its conns do.
   */
  invalidate(i: number): void {
    this.rehashIn(i, INVALID_PORT);
    this.u[(i << 4) + C_DPORT] = INVALID_PORT;
  }

  /** A free slot filled and hashed, or -1 when the table is full. */
  insert(proto: number, caddr: number, cport: number, vaddr: number, vport: number,
    daddr: number, dport: number, flags: number, dest: number, expire: number): number {
    let i: number;
    if (this.freeHead >= 0) {
      i = this.freeHead;
      this.freeHead = this.s[(i << 4) + C_WNEXT]!;
    } else if (this.hwm < this.capacity) {
      i = this.hwm++;
    } else {
      return -1;
    }
    const ports = (cport << 16 | vport) >>> 0;
    this.u[(i << 4) + C_CADDR] = caddr;
    this.u[(i << 4) + C_VADDR] = vaddr;
    this.u[(i << 4) + C_DADDR] = daddr;
    this.u[(i << 4) + C_PORTS] = ports;
    this.u[(i << 4) + C_DPORT] = dport;
    this.u[(i << 4) + C_PROTO] = proto;
    this.u[(i << 4) + C_STATE] = 0;
    this.u[(i << 4) + C_FLAGS] = flags | CF_INUSE;
    this.s[(i << 4) + C_DEST] = dest;
    this.s[(i << 4) + C_CTL] = 0;
    this.u[(i << 4) + C_EXPIRE] = expire;
    this.u[(i << 4) + C_SYNC] = 0;
    if (this.syncEnds !== null) this.syncEnds[i] = 0;
    const b = hashKey(this.seed, proto, caddr, ports, vaddr) & this.mask;
    this.s[(i << 4) + C_HIN] = this.headsIn[b]!;
    this.headsIn[b] = i;
    if (flags & CF_OUT_HASHED) {
      const o = hashKey(this.seed, proto, daddr, (dport << 16 | cport) >>> 0, caddr) & this.mask;
      this.s[(i << 4) + C_HOUT] = this.headsOut[o]!;
      this.headsOut[o] = i;
    }
    this.wheelAdd(i);
    this.count++;
    if (flags & CF_TEMPLATE) this.templates++;
    return i;
  }

  /** New deadline; relinks only when it moves earlier than where the entry waits. */
  setExpire(i: number, expire: number): void {
    const old = this.u[(i << 4) + C_EXPIRE]!;
    this.u[(i << 4) + C_EXPIRE] = expire;
    if (expire < old) {
      this.wheelUnlink(i);
      this.wheelAdd(i);
    }
  }

  private wheelAdd(i: number): void {
    let t = this.u[(i << 4) + C_EXPIRE]!;
    if (t <= this.cursor) t = this.cursor + 1;
    this.pushSlot(i, t & WHEEL_MASK);
  }

  private pushSlot(i: number, s: number): void {
    const h = this.wheel[s]!;
    this.s[(i << 4) + C_WNEXT] = h;
    this.s[(i << 4) + C_WPREV] = ~s;
    if (h >= 0) this.s[(h << 4) + C_WPREV] = i;
    this.wheel[s] = i;
  }

  private wheelUnlink(i: number): void {
    const p = this.s[(i << 4) + C_WPREV]!;
    const n = this.s[(i << 4) + C_WNEXT]!;
    if (p < 0) this.wheel[~p] = n;
    else this.s[(p << 4) + C_WNEXT] = n;
    if (n >= 0) this.s[(n << 4) + C_WPREV] = p;
  }

  /** Moves an entry to a new in-key (ports only). */
  private rehashIn(i: number, ports: number): void {
    this.unlinkIn(i);
    this.u[(i << 4) + C_PORTS] = ports >>> 0;
    const b = hashKey(this.seed, this.u[(i << 4) + C_PROTO]!, this.u[(i << 4) + C_CADDR]!, this.u[(i << 4) + C_PORTS]!, this.u[(i << 4) + C_VADDR]!) & this.mask;
    this.s[(i << 4) + C_HIN] = this.headsIn[b]!;
    this.headsIn[b] = i;
  }

  private unlinkIn(i: number): void {
    const b = hashKey(this.seed, this.u[(i << 4) + C_PROTO]!, this.u[(i << 4) + C_CADDR]!, this.u[(i << 4) + C_PORTS]!, this.u[(i << 4) + C_VADDR]!) & this.mask;
    let j = this.headsIn[b]!;
    if (j === i) this.headsIn[b] = this.s[(i << 4) + C_HIN]!;
    else {
      while (j >= 0 && this.s[(j << 4) + C_HIN] !== i) j = this.s[(j << 4) + C_HIN]!;
      if (j >= 0) this.s[(j << 4) + C_HIN] = this.s[(i << 4) + C_HIN]!;
    }
  }

  /** Told of every slot freed (the fast path forgets the conn's flows: src/io/fastpath.ts). */
  onRemove: ((i: number) => void) | null = null;

  /** Unhash and free a slot. */
  remove(i: number): void {
    if (this.onRemove !== null) this.onRemove(i);
    const f = this.u[(i << 4) + C_FLAGS]!;
    this.wheelUnlink(i);
    const ports = this.u[(i << 4) + C_PORTS]!;
    this.unlinkIn(i);
    if (f & CF_OUT_HASHED) {
      const o = hashKey(this.seed, this.u[(i << 4) + C_PROTO]!, this.u[(i << 4) + C_DADDR]!, (this.u[(i << 4) + C_DPORT]! << 16 | ports >>> 16) >>> 0, this.u[(i << 4) + C_CADDR]!) & this.mask;
      let k = this.headsOut[o]!;
      if (k === i) this.headsOut[o] = this.s[(i << 4) + C_HOUT]!;
      else {
        while (k >= 0 && this.s[(k << 4) + C_HOUT] !== i) k = this.s[(k << 4) + C_HOUT]!;
        if (k >= 0) this.s[(k << 4) + C_HOUT] = this.s[(i << 4) + C_HOUT]!;
      }
    }
    if (f & CF_TEMPLATE) this.templates--;
    this.u[(i << 4) + C_FLAGS] = 0;
    this.s[(i << 4) + C_WNEXT] = this.freeHead;
    this.freeHead = i;
    this.count--;
  }

  /**
   * Runs the wheel up to `nowTick`. `onDue(i)` is called for each entry whose
   * deadline has passed; it either removes the entry (returns true) or sets a
   * later deadline (returns false) and the entry is placed again.
   */
  advance(nowTick: number, onDue: (i: number) => boolean): number {
    let expired = 0;
    // A long sleep (or the first run) needs at most one full turn: every slot is visited once.
    let from = this.cursor < 0 ? nowTick - WHEEL_SLOTS + 1 : this.cursor + 1;
    if (nowTick - from >= WHEEL_SLOTS) from = nowTick - WHEEL_SLOTS + 1;
    for (let t = from; t <= nowTick; t++) {
      const s = t & WHEEL_MASK;
      let i = this.wheel[s]!;
      if (i < 0) continue;
      this.wheel[s] = -1;
      this.cursor = t;
      while (i >= 0) {
        const next = this.s[(i << 4) + C_WNEXT]!;
        if (this.u[(i << 4) + C_EXPIRE]! <= nowTick) {
          // Linked back into this slot first so remove() can unlink it as usual.
          this.pushSlot(i, s);
          if (onDue(i)) expired++;
          else { this.wheelUnlink(i); this.wheelAdd(i); }
        } else {
          this.wheelAdd(i);
        }
        i = next;
      }
    }
    if (nowTick > this.cursor) this.cursor = nowTick;
    return expired;
  }

  /**
   * Up to `budget` entries in wheel order from the cursor on: the entries
   * due soonest, i.e. the oldest of a kind that share a timeout. Entries
   * waiting in a slot earlier than their deadline (refreshed since) are moved
   * to their true slot on the way, so they stop hiding the real candidates.
   */
  scanSoonest(budget: number, pick: (i: number) => boolean): number {
    const start = this.cursor + 1;
    let moves = budget * 16;
    for (let k = 0; k < WHEEL_SLOTS && budget > 0; k++) {
      const tick = start + k;
      let i = this.wheel[tick & WHEEL_MASK]!;
      while (i >= 0 && budget > 0) {
        const next = this.s[(i << 4) + C_WNEXT]!;
        if (this.u[(i << 4) + C_EXPIRE]! > tick && moves > 0) {
          moves--;
          this.wheelUnlink(i);
          this.wheelAdd(i);
        } else {
          if (pick(i)) return i;
          budget--;
        }
        i = next;
      }
    }
    return -1;
  }
}
