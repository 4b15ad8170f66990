// Overflow (ip_vs_ovf.c): the highest-weight dest takes connections until its
// active conns exceed its weight, then the next highest takes the overflow.
// The kernel skips a dest only when activeconns > weight, so a dest still
// takes a connection with activeconns == weight (weight + 1 in all).

import type { SchedDest, SchedFlags, SchedFlow, Scheduler } from './scheduler.js';
import { isUsable } from './common.js';

export class OvfScheduler implements Scheduler {
  readonly name = 'ovf';

  update(_dests: readonly SchedDest[], _flags: SchedFlags): void {}

  schedule(dests: readonly SchedDest[], _flow: SchedFlow): SchedDest | null {
    let best: SchedDest | null = null;
    let hw = 0;
    for (let i = 0; i < dests.length; i++) {
      const d = dests[i]!;
      if (!isUsable(d) || d.activeConns > d.weight) continue;
      if (best === null || d.weight > hw) {
        best = d;
        hw = d.weight;
      }
    }
    return best;
  }
}
