// Weighted least-connection (ip_vs_wlc.c), the default scheduler: smallest
// overhead/weight, compared without division as loh*dw > doh*lw. The first
// usable dest seeds the search; a later one must be strictly better.

import type { SchedDest, SchedFlags, SchedFlow, Scheduler } from './scheduler.js';
import { connOverhead, isUsable, productGreater } from './common.js';

/**
 * Index of the weighted least-connection dest, or -1. Shared by wlc, lblc
 * and lblcr (their __ip_vs_*_schedule is this same loop).
 */
export function weightedLeastConnIndex(dests: readonly SchedDest[]): number {
  const n = dests.length;
  let li = 0;
  for (; li < n; li++) {
    if (isUsable(dests[li]!)) break;
  }
  if (li === n) return -1;
  let least = dests[li]!;
  let loh = connOverhead(least);
  for (let i = li + 1; i < n; i++) {
    const d = dests[i]!;
    // Weight 0 needs no test: loh*0 > doh*lw never holds.
    if (!isUsable(d)) continue;
    const doh = connOverhead(d);
    if (productGreater(loh, d.weight, doh, least.weight)) {
      least = d;
      li = i;
      loh = doh;
    }
  }
  return li;
}

export class WlcScheduler implements Scheduler {
  readonly name = 'wlc';

  update(_dests: readonly SchedDest[], _flags: SchedFlags): void {}

  schedule(dests: readonly SchedDest[], _flow: SchedFlow): SchedDest | null {
    const i = weightedLeastConnIndex(dests);
    return i < 0 ? null : dests[i]!;
  }
}
