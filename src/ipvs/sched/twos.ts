// Weighted power of two choices (ip_vs_twos.c): draw two dests with
// probability proportional to weight (the same one may be drawn twice), keep
// the one with the smaller overhead/weight; choice1 wins a tie.

import type { SchedDest, SchedFlags, SchedFlow, Scheduler } from './scheduler.js';
import { connOverhead, isUsable, productGreater } from './common.js';

export interface TwosOptions {
  /** Uniform in [0, 1); injectable so tests are deterministic. Default Math.random. */
  random?: () => number;
}

export class TwosScheduler implements Scheduler {
  readonly name = 'twos';
  private readonly random: () => number;

  constructor(opts: TwosOptions = {}) {
    this.random = opts.random ?? Math.random;
  }

  update(_dests: readonly SchedDest[], _flags: SchedFlags): void {}

  schedule(dests: readonly SchedDest[], _flow: SchedFlow): SchedDest | null {
    const n = dests.length;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const d = dests[i]!;
      if (isUsable(d)) total += d.weight;
    }
    if (total === 0) return null;
    // get_random_u32_below(total + 1): the kernel draws from [0, total]
    // inclusive, so a draw of 0 lands on the first usable dest too.
    let r1 = Math.floor(this.random() * (total + 1));
    let r2 = Math.floor(this.random() * (total + 1));
    let choice1: SchedDest | null = null;
    let choice2: SchedDest | null = null;
    let w1 = -1;
    let w2 = -1;
    let oh1 = 0;
    let oh2 = 0;
    for (let i = 0; i < n; i++) {
      const d = dests[i]!;
      if (!isUsable(d)) continue;
      r1 -= d.weight;
      r2 -= d.weight;
      if (r1 <= 0 && w1 === -1) {
        choice1 = d;
        w1 = d.weight;
        oh1 = connOverhead(d);
      }
      if (r2 <= 0 && w2 === -1) {
        choice2 = d;
        w2 = d.weight;
        oh2 = connOverhead(d);
      }
      if (w1 !== -1 && w2 !== -1) break;
    }
    if (choice2 !== null && productGreater(w2, oh1, w1, oh2)) return choice2;
    return choice1 ?? choice2;
  }
}
