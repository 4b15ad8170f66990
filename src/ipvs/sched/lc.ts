// Least-connection (ip_vs_lc.c): smallest activeconns*256 + inactconns wins;
// the first in list order wins a tie.

import type { SchedDest, SchedFlags, SchedFlow, Scheduler } from './scheduler.js';
import { connOverhead, isUsable } from './common.js';

export class LcScheduler implements Scheduler {
  readonly name = 'lc';

  update(_dests: readonly SchedDest[], _flags: SchedFlags): void {}

  schedule(dests: readonly SchedDest[], _flow: SchedFlow): SchedDest | null {
    let least: SchedDest | null = null;
    let loh = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i]!;
      if (!isUsable(d)) continue;
      const doh = connOverhead(d);
      if (least === null || doh < loh) {
        least = d;
        loh = doh;
      }
    }
    return least;
  }
}
