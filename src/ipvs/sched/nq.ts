// Never queue (ip_vs_nq.c): the first idle dest (no active conns) in list
// order takes the job at once; when none is idle, sed's (active + 1)/weight.

import type { SchedDest, SchedFlags, SchedFlow, Scheduler } from './scheduler.js';
import { isUsable, productGreater } from './common.js';

export class NqScheduler implements Scheduler {
  readonly name = 'nq';

  update(_dests: readonly SchedDest[], _flags: SchedFlags): void {}

  schedule(dests: readonly SchedDest[], _flow: SchedFlow): SchedDest | null {
    let least: SchedDest | null = null;
    let loh = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i]!;
      if (!isUsable(d)) continue;
      if (d.activeConns === 0) return d;
      const doh = d.activeConns + 1;
      if (least === null || productGreater(loh, d.weight, doh, least.weight)) {
        least = d;
        loh = doh;
      }
    }
    return least;
  }
}
