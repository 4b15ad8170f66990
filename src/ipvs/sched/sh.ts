// Source hashing (ip_vs_sh.c): a 256-bucket table filled by walking the dest
// list and giving each dest `weight` consecutive buckets (at least one, so a
// quiesced dest keeps its place), cycling until the table is full. A client
// address (plus source port with sh-port) picks a bucket with hash_32.
// Without sh-fallback an unusable bucket dest means no dest; with it, the
// kernel probes other buckets in a fixed order from the original hash.

import type { SchedDest, SchedFlags, SchedFlow, Scheduler } from './scheduler.js';
import { hash32, hasPorts, isUsable } from './common.js';

export const SH_TAB_BITS = 8;
export const SH_TAB_SIZE = 1 << SH_TAB_BITS;
const SH_TAB_MASK = SH_TAB_SIZE - 1;

/** ip_vs_sh_reassign: also used by dh with every weight taken as 1. */
export function fillBuckets(table: Int32Array, dests: readonly SchedDest[], weighted: boolean): void {
  const n = dests.length;
  if (n === 0) {
    table.fill(-1);
    return;
  }
  let p = 0;
  let count = 0;
  for (let i = 0; i < table.length; i++) {
    table[i] = p;
    if (!weighted || ++count >= dests[p]!.weight) {
      if (++p === n) p = 0;
      count = 0;
    }
  }
}

export class ShScheduler implements Scheduler {
  readonly name = 'sh';
  /** Bucket → index into the dest list of the last update; -1 = empty. */
  private readonly buckets = new Int32Array(SH_TAB_SIZE).fill(-1);
  private fallback = false;
  private port = false;

  update(dests: readonly SchedDest[], flags: SchedFlags): void {
    this.fallback = flags.fallback;
    this.port = flags.port;
    fillBuckets(this.buckets, dests, true);
  }

  /** Index (in the last update's list) of the dest owning a bucket, or -1; for tests and diagnostics. */
  destIndexAt(bucket: number): number {
    return this.buckets[bucket] ?? -1;
  }

  /** Which bucket a source maps to (for tests and diagnostics). */
  bucketOf(saddr: number, sport: number): number {
    return hash32((saddr + sport) >>> 0, SH_TAB_BITS) & SH_TAB_MASK;
  }

  schedule(dests: readonly SchedDest[], flow: SchedFlow): SchedDest | null {
    const port = this.port && hasPorts(flow.protocol) ? flow.sport : 0;
    const h = hash32((flow.saddr + port) >>> 0, SH_TAB_BITS);
    const ihash = h & SH_TAB_MASK;
    const first = this.buckets[ihash]!;
    if (first < 0) return null;
    const d = dests[first];
    if (d === undefined) return null;
    if (isUsable(d)) return d;
    if (!this.fallback) return null;
    // ip_vs_sh_get_fallback: roffset runs from ihash, and the hash key adds
    // it again, so the probe order is (offset + 2*ihash) mod 256.
    for (let offset = 0; offset < SH_TAB_SIZE; offset++) {
      const roffset = (offset + ihash) & SH_TAB_MASK;
      const idx = this.buckets[(roffset + h) & SH_TAB_MASK]!;
      if (idx < 0) break;
      const c = dests[idx];
      if (c !== undefined && isUsable(c)) return c;
    }
    return null;
  }
}
