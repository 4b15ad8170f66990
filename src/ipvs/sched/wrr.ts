// Weighted round-robin (ip_vs_wrr.c): passes over the list with a falling
// current weight cw, from mw down to 1 in steps of di = gcd(weights), picking
// every dest whose weight >= cw. Over one cycle (mw/di passes) each dest is
// picked weight/di times. mw is max - (di - 1) so the last pass runs at cw = 1
// and still catches a dest whose weight dropped below di.

import { DEST_F_OVERLOAD, type SchedDest, type SchedFlags, type SchedFlow, type Scheduler } from './scheduler.js';
import { gcd } from './common.js';

const HEAD = -1;
const NONE = -2;

export class WrrScheduler implements Scheduler {
  readonly name = 'wrr';
  private cl = HEAD;
  private cw = 0;
  private mw = 0;
  private di = 1;

  update(dests: readonly SchedDest[], _flags: SchedFlags): void {
    let g = 0;
    let max = 0;
    for (const d of dests) {
      const w = d.weight;
      if (w > 0) g = g > 0 ? gcd(w, g) : w;
      if (w > max) max = w;
    }
    // ip_vs_wrr_dest_changed: restart from the head; keep cw if it is still
    // in range, realigned to the new step so no pass is skipped.
    this.cl = HEAD;
    this.di = g > 0 ? g : 1;
    this.mw = max - (this.di - 1);
    if (this.cw > this.mw || this.cw === 0) this.cw = this.mw;
    else if (this.di > 1) this.cw = Math.trunc(this.cw / this.di) * this.di + 1;
  }

  schedule(dests: readonly SchedDest[], _flow: SchedFlow): SchedDest | null {
    const n = dests.length;
    if (this.mw <= 0 || n === 0) return null;
    let dest = this.cl < n ? this.cl : HEAD;
    const last = dest;
    let stop = NONE;
    let lastPass = false;
    let restarted = false;
    for (;;) {
      for (let i = dest + 1; i < n; i++) {
        const d = dests[i]!;
        if ((d.flags & DEST_F_OVERLOAD) === 0 && d.weight >= this.cw) {
          this.cl = i;
          return d;
        }
        if (i === stop) {
          this.cl = i;
          return null;
        }
      }
      dest = HEAD;
      this.cw -= this.di;
      if (this.cw <= 0) {
        this.cw = this.mw;
        // A full traversal at cw = 1 already covered every dest: all overloaded.
        if (lastPass || last === HEAD) {
          this.cl = HEAD;
          return null;
        }
        restarted = true;
      }
      lastPass = this.cw <= this.di;
      if (lastPass && restarted && last !== HEAD) stop = last;
    }
  }
}
