// Shortest expected delay (ip_vs_sed.c): smallest (activeconns + 1)/weight;
// inactive conns do not count. Counting the incoming job favours heavier
// servers more than wlc when all are lightly loaded.

import type { SchedDest, SchedFlags, SchedFlow, Scheduler } from './scheduler.js';
import { isUsable, productGreater } from './common.js';

export class SedScheduler implements Scheduler {
  readonly name = 'sed';

  update(_dests: readonly SchedDest[], _flags: SchedFlags): void {}

  schedule(dests: readonly SchedDest[], _flow: SchedFlow): SchedDest | null {
    let least: SchedDest | null = null;
    let loh = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i]!;
      if (!isUsable(d)) continue;
      const doh = d.activeConns + 1;
      if (least === null || productGreater(loh, d.weight, doh, least.weight)) {
        least = d;
        loh = doh;
      }
    }
    return least;
  }
}
