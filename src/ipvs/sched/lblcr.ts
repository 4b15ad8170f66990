// Locality-based least-connection with replication (ip_vs_lblcr.c): like
// lblc, but a destination address maps to a set of dests. The set's wlc-least
// member serves it; when that one is overloaded (the lblc rule), the
// service-wide wlc-least joins the set. A set that has not changed for
// lblcr_expiration sheds its most loaded member, so replication shrinks back
// once the hot spot cools.

import { DEST_F_OVERLOAD, type SchedDest, type SchedFlags, type SchedFlow, type Scheduler } from './scheduler.js';
import { connOverhead, daddrKey, destKey, productGreater } from './common.js';
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

interface DestSet {
  /** Newest first, as list_add_rcu puts them. */
  members: DestRef[];
  lastmod: number;
}

interface LblcrEntry extends LocalityEntry {
  set: DestSet;
}

/**
 * ip_vs_dest_set_min: wlc over the set. A member that has left the list is
 * the kernel's "not AVAILABLE" and cannot be chosen.
 */
function setMin(set: DestSet, dests: readonly SchedDest[]): SchedDest | null {
  let least: SchedDest | null = null;
  let loh = 0;
  for (const ref of set.members) {
    const cur = locate(dests, ref);
    const d = cur ?? ref.last;
    if ((d.flags & DEST_F_OVERLOAD) !== 0) continue;
    if (least === null) {
      if (d.weight > 0 && cur !== null) {
        least = cur;
        loh = connOverhead(cur);
      }
      continue;
    }
    const doh = connOverhead(d);
    if (cur !== null && productGreater(loh, d.weight, doh, least.weight)) {
      least = cur;
      loh = doh;
    }
  }
  return least;
}

/** ip_vs_dest_set_max: the member with the largest overhead/weight. */
function setMax(set: DestSet, dests: readonly SchedDest[]): DestRef | null {
  let most: DestRef | null = null;
  let moh = 0;
  let mw = 0;
  for (const ref of set.members) {
    const d = locate(dests, ref) ?? ref.last;
    if (most === null) {
      if (d.weight > 0) {
        most = ref;
        moh = connOverhead(d);
        mw = d.weight;
      }
      continue;
    }
    const doh = connOverhead(d);
    if (d.weight > 0 && productGreater(doh, mw, moh, d.weight)) {
      most = ref;
      moh = doh;
      mw = d.weight;
    }
  }
  return most;
}

export class LblcrScheduler implements Scheduler {
  readonly name = 'lblcr';
  readonly table: LocalityTable<LblcrEntry>;

  constructor(opts: LocalityOptions = {}) {
    this.table = new LocalityTable(opts);
  }

  update(_dests: readonly SchedDest[], _flags: SchedFlags): void {}

  /** Keys of the dests serving a destination address, newest first (for tests and listings). */
  serverSet(daddr: number): (number | string)[] {
    return this.table.entries.get(daddr >>> 0)?.set.members.map((r) => r.key) ?? [];
  }

  schedule(dests: readonly SchedDest[], flow: SchedFlow): SchedDest | null {
    const now = flow.now;
    this.table.advance(now);
    const daddr = daddrKey(flow);
    const en = this.table.entries.get(daddr);
    if (en !== undefined) {
      en.lastuse = now;
      const set = en.set;
      const d = setMin(set, dests);
      if (set.members.length > 1 && now > set.lastmod + this.table.expirationMs) {
        const m = setMax(set, dests);
        if (m !== null) {
          set.members.splice(set.members.indexOf(m), 1);
          set.lastmod = now;
        }
      }
      if (d !== null && !overloadedVsOthers(d, dests)) return d;

      const i = weightedLeastConnIndex(dests);
      if (i < 0) return null;
      const chosen = dests[i]!;
      const key = destKey(chosen);
      if (!set.members.some((r) => r.key === key)) {
        set.members.unshift(makeRef(dests, i));
        set.lastmod = now;
      }
      return chosen;
    }

    const i = weightedLeastConnIndex(dests);
    if (i < 0) return null;
    this.table.entries.set(daddr, { lastuse: now, set: { members: [makeRef(dests, i)], lastmod: now } });
    return dests[i]!;
  }
}
