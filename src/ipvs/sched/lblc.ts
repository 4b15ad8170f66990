// Locality-based least-connection (ip_vs_lblc.c), for cache clusters: each
// destination address sticks to one dest, chosen by wlc the first time, so a
// cache server keeps seeing the same objects. The dest is re-chosen when it
// left the list, is quiesced or overloaded, or has more active conns than
// its weight while another dest is below half of its own.
//
// One addition to the kernel: a remembered dest carrying DEST_F_OVERLOAD
// (upper threshold reached) is re-chosen too; the kernel's lblc only checks
// it on the wlc path.

import type { SchedDest, SchedFlags, SchedFlow, Scheduler } from './scheduler.js';
import { daddrKey, destKey, isUsable } from './common.js';
import { weightedLeastConnIndex } from './wlc.js';
import {
  LocalityTable,
  locate,
  makeRef,
  overloadedVsOthers,
  type DestRef,
  type LocalityEntry,
  type LocalityOptions,
} from './locality.js';

interface LblcEntry extends LocalityEntry {
  dest: DestRef;
}

export class LblcScheduler implements Scheduler {
  readonly name = 'lblc';
  readonly table: LocalityTable<LblcEntry>;

  constructor(opts: LocalityOptions = {}) {
    this.table = new LocalityTable(opts);
  }

  update(_dests: readonly SchedDest[], _flags: SchedFlags): void {}

  schedule(dests: readonly SchedDest[], flow: SchedFlow): SchedDest | null {
    const now = flow.now;
    this.table.advance(now);
    const daddr = daddrKey(flow);
    const en = this.table.entries.get(daddr);
    if (en !== undefined) {
      en.lastuse = now;
      const d = locate(dests, en.dest);
      if (d !== null && isUsable(d) && !overloadedVsOthers(d, dests)) return d;
    }

    const i = weightedLeastConnIndex(dests);
    if (i < 0) return null;
    const chosen = dests[i]!;
    // ip_vs_lblc_new: keep the entry when it already names this dest,
    // otherwise replace it with a fresh one.
    if (en !== undefined && en.dest.key === destKey(chosen)) return chosen;
    if (en !== undefined) this.table.entries.delete(daddr);
    this.table.entries.set(daddr, { lastuse: now, dest: makeRef(dests, i) });
    return chosen;
  }
}
