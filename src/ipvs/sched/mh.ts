// Maglev hashing (ip_vs_mh.c; Eisenbud et al., NSDI '16, §3.4). Every dest
// gets a permutation of the lookup table's slots from (offset, skip) hashed
// off its addr:port; dests take turns claiming their next free preferred slot
// until the prime-sized table is full. Removing one of N dests moves only
// about 1/N of the keys, so directors that share the dest list agree.
//
// Weights, as the kernel does them: each dest claims `turns` slots per round,
// turns = (last_weight / gcd) >> rshift (at least 1 for a non-zero weight),
// where rshift keeps the largest turns within IP_VS_MH_TAB_BITS bits. The
// weight used is the dest's last non-zero weight, so quiescing a dest
// (weight 0) keeps its slots: its keys get no dest (or a fallback one)
// instead of reshuffling everyone else's.
//
// Hash: the kernel's own, hsiphash with its fixed keys over the u32
// (offset + port + addr), as 64-bit kernels compute it (hsiphash.ts). For the
// same dests in the same list order with the same weights, the table is the
// kernel's slot for slot, so lvsd and kernel directors behind one ECMP route
// pick the same real server for a client.

import type { SchedDest, SchedFlags, SchedFlow, Scheduler } from './scheduler.js';
import { destKey, gcd, hasPorts, isUsable } from './common.js';
import { hsiphashShort } from './hsiphash.js';

export const MH_PRIMES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071] as const;
/** CONFIG_IP_VS_MH_TAB_INDEX=12 → primes[12 - 8]. */
export const MH_DEFAULT_TAB_SIZE = 4093;
/** IP_VS_MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX / 2. */
const MH_TAB_BITS = 6;

/** generate_hash_secret(): both words of hash1 / hash2 are these. */
const KEY1 = 2654435761;
const KEY2 = 2654446892;

/** ip_vs_mh_hashkey() for IPv4: v = offset + port + addr, hashed as 4 bytes. */
export function mhHash(v: number, key: number): number {
  return hsiphashShort(v, 4, key, 0, key, 0);
}

function fls(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

export interface MhOptions {
  /** One of MH_PRIMES; default 4093 as the kernel's default config. */
  tableSize?: number;
}

export class MhScheduler implements Scheduler {
  readonly name = 'mh';
  readonly tableSize: number;
  /** Slot → index into the dest list of the last update; -1 = empty. */
  private readonly lookup: Int32Array;
  private readonly used: Uint8Array;
  private fallback = false;
  private port = false;
  /** destKey → last non-zero weight (the kernel's dest->last_weight). */
  private lastWeight = new Map<number | string, number>();

  constructor(opts: MhOptions = {}) {
    const size = opts.tableSize ?? MH_DEFAULT_TAB_SIZE;
    if (!(MH_PRIMES as readonly number[]).includes(size)) {
      throw new RangeError(`mh table size ${size} is not one of ${MH_PRIMES.join(', ')}`);
    }
    this.tableSize = size;
    this.lookup = new Int32Array(size).fill(-1);
    this.used = new Uint8Array(size);
  }

  update(dests: readonly SchedDest[], flags: SchedFlags): void {
    this.fallback = flags.fallback;
    this.port = flags.port;
    const size = this.tableSize;
    const n = dests.length;
    if (n > size) throw new RangeError(`mh: ${n} dests do not fit a ${size}-slot table`);

    // __ip_vs_update_dest: last_weight follows weight on add and on every
    // non-zero change, so a quiesced dest keeps its share of the table.
    const lw = new Array<number>(n);
    const nextLast = new Map<number | string, number>();
    let g = 0;
    let maxw = 0;
    for (let i = 0; i < n; i++) {
      const d = dests[i]!;
      const key = destKey(d);
      const prev = this.lastWeight.get(key);
      const w = prev === undefined || d.weight !== 0 ? d.weight : prev;
      nextLast.set(key, w);
      lw[i] = w;
      if (w > 0) g = g > 0 ? gcd(w, g) : w;
      if (w > maxw) maxw = w;
    }
    this.lastWeight = nextLast;

    if (g < 1) {
      this.lookup.fill(-1);
      return;
    }
    const shift = Math.max(0, fls(Math.trunc(maxw / g)) - MH_TAB_BITS);

    const perm = new Int32Array(n);
    const skip = new Int32Array(n);
    const turns = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const d = dests[i]!;
      const v = (d.port + d.addr) >>> 0;
      perm[i] = mhHash(v, KEY1) % size;
      skip[i] = (mhHash(v, KEY2) % (size - 1)) + 1;
      const t = Math.trunc(lw[i]! / g) >> shift;
      turns[i] = t !== 0 ? t : lw[i] !== 0 ? 1 : 0;
    }

    // ip_vs_mh_populate: a dest claims `turns` slots in a row, then the next
    // dest goes; rounds repeat until every slot is taken.
    const used = this.used;
    used.fill(0);
    const lookup = this.lookup;
    let filled = 0;
    let dtCount = 0;
    fill: while (filled < size) {
      for (let i = 0; i < n; ) {
        if (turns[i]! < 1) {
          i++;
          continue;
        }
        let c = perm[i]!;
        while (used[c] !== 0) {
          c += skip[i]!;
          if (c >= size) c -= size;
        }
        perm[i] = c;
        used[c] = 1;
        lookup[c] = i;
        if (++filled === size) break fill;
        if (++dtCount >= turns[i]!) {
          dtCount = 0;
          i++;
        }
      }
    }
  }

  /** Index (in the last update's list) of the dest owning a slot, or -1; for tests and diagnostics. */
  destIndexAt(slot: number): number {
    return this.lookup[slot] ?? -1;
  }

  schedule(dests: readonly SchedDest[], flow: SchedFlow): SchedDest | null {
    const size = this.tableSize;
    const base = (flow.saddr + (this.port && hasPorts(flow.protocol) ? flow.sport : 0)) >>> 0;
    const ihash = mhHash(base, KEY1) % size;
    const first = this.lookup[ihash]!;
    if (first < 0) return null;
    const d = dests[first];
    if (d === undefined) return null;
    if (isUsable(d)) return d;
    if (!this.fallback) return null;
    // ip_vs_mh_get_fallback: rehash with a growing offset added to the key.
    for (let offset = 0; offset < size; offset++) {
      let roffset = offset + ihash;
      if (roffset >= size) roffset -= size;
      const idx = this.lookup[mhHash((base + roffset) >>> 0, KEY1) % size]!;
      if (idx < 0) break;
      const c = dests[idx];
      if (c !== undefined && isUsable(c)) return c;
    }
    return null;
  }
}
