// Round-robin (ip_vs_rr.c). The kernel keeps a cursor on the last chosen
// dest in the service's list; it survives additions and, when the dest under
// it is deleted, steps back to the previous entry so the rotation resumes
// with the dest that followed the deleted one.

import type { SchedDest, SchedFlags, SchedFlow, Scheduler } from './scheduler.js';
import { destKey, isUsable } from './common.js';

export class RrScheduler implements Scheduler {
  readonly name = 'rr';
  /** Index of the last chosen dest; -1 is the list head (start from the first). */
  private cursor = -1;
  /** destKey of each dest at the last update, to re-find the cursor after changes. */
  private keys: (number | string)[] = [];

  update(dests: readonly SchedDest[], _flags: SchedFlags): void {
    const newKeys = dests.map(destKey);
    if (this.cursor >= 0 && this.cursor < this.keys.length) {
      const pos = new Map<number | string, number>();
      newKeys.forEach((k, i) => pos.set(k, i));
      let next = -1;
      for (let i = this.cursor; i >= 0; i--) {
        const at = pos.get(this.keys[i]!);
        if (at !== undefined) {
          next = at;
          break;
        }
      }
      this.cursor = next;
    } else {
      this.cursor = -1;
    }
    this.keys = newKeys;
  }

  schedule(dests: readonly SchedDest[], _flow: SchedFlow): SchedDest | null {
    const n = dests.length;
    let i = this.cursor < n ? this.cursor : -1;
    for (let k = 0; k < n; k++) {
      if (++i === n) i = 0;
      const d = dests[i]!;
      if (isUsable(d)) {
        this.cursor = i;
        return d;
      }
    }
    return null;
  }
}
