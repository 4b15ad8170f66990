// Weighted fail-over (ip_vs_fo.c): everything goes to the usable dest with
// the highest weight; the first in list order wins a tie.

import type { SchedDest, SchedFlags, SchedFlow, Scheduler } from './scheduler.js';
import { isUsable } from './common.js';

export class FoScheduler implements Scheduler {
  readonly name = 'fo';

  update(_dests: readonly SchedDest[], _flags: SchedFlags): void {}

  schedule(dests: readonly SchedDest[], _flow: SchedFlow): SchedDest | null {
    let best: SchedDest | null = null;
    let hw = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i]!;
      if (isUsable(d) && d.weight > hw) {
        best = d;
        hw = d.weight;
      }
    }
    return best;
  }
}
