// Destination hashing (ip_vs_dh.c): like sh but keyed by the destination
// address and unweighted: the 256 buckets are dealt round-robin over the dest
// list, one bucket per dest per round. No fallback, no port flag.

import type { SchedDest, SchedFlags, SchedFlow, Scheduler } from './scheduler.js';
import { hash32, isUsable } from './common.js';
import { fillBuckets, SH_TAB_BITS, SH_TAB_SIZE } from './sh.js';

export class DhScheduler implements Scheduler {
  readonly name = 'dh';
  private readonly buckets = new Int32Array(SH_TAB_SIZE).fill(-1);

  update(dests: readonly SchedDest[], _flags: SchedFlags): void {
    fillBuckets(this.buckets, dests, false);
  }

  /** Index (in the last update's list) of the dest owning a bucket, or -1; for tests and diagnostics. */
  destIndexAt(bucket: number): number {
    return this.buckets[bucket] ?? -1;
  }

  schedule(dests: readonly SchedDest[], flow: SchedFlow): SchedDest | null {
    const idx = this.buckets[hash32(flow.daddr >>> 0, SH_TAB_BITS)]!;
    if (idx < 0) return null;
    const d = dests[idx];
    return d !== undefined && isUsable(d) ? d : null;
  }
}
