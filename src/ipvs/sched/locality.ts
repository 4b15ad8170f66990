// What lblc and lblcr share: the table of destination address → entry, its
// garbage collection, and finding a remembered dest in the current list.
//
// The kernel collects stale entries from a timer every 60 s: every 30th run
// drops entries unused for lblc(r)_expiration (24 h by default); other runs
// act only when the table holds more than 16 entries per bucket
// (1024 * 16), dropping entries unused for 6 minutes until about 4/3 of the
// excess is gone. lvsd has no timers in ipvs/, so the same runs are replayed,
// at their due times, when schedule() sees flow.now pass them.

import type { SchedDest } from './scheduler.js';
import { destKey } from './common.js';

export const CHECK_EXPIRE_INTERVAL_MS = 60_000;
export const ENTRY_TIMEOUT_MS = 6 * 60_000;
export const DEFAULT_EXPIRATION_MS = 24 * 60 * 60_000;
const COUNT_FOR_FULL_EXPIRATION = 30;
/** IP_VS_LBLC_TAB_SIZE * 16 with CONFIG_IP_VS_LBLC_TAB_BITS=10. */
export const DEFAULT_MAX_ENTRIES = 1024 * 16;

export interface LocalityOptions {
  /** lblc_expiration / lblcr_expiration sysctl, ms; default 24 h. */
  expirationMs?: number;
  /** Entries above which the periodic run starts collecting; default 16384. */
  maxEntries?: number;
}

export interface LocalityEntry {
  lastuse: number;
}

export class LocalityTable<E extends LocalityEntry> {
  /** By destination address: the u32, or daddrKey()'s text for IPv6. */
  readonly entries = new Map<number | string, E>();
  readonly expirationMs: number;
  private readonly maxEntries: number;
  private nextCheck = -1;
  private counter = 1;

  constructor(opts: LocalityOptions = {}) {
    this.expirationMs = opts.expirationMs ?? DEFAULT_EXPIRATION_MS;
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  /** Run every periodic check that fell due by `now` (ip_vs_lblc_check_expire). */
  advance(now: number): void {
    if (this.nextCheck < 0) {
      this.nextCheck = now + CHECK_EXPIRE_INTERVAL_MS;
      return;
    }
    while (now >= this.nextCheck) {
      const t = this.nextCheck;
      if (this.counter % COUNT_FOR_FULL_EXPIRATION === 0) {
        this.collect(t, this.expirationMs, Infinity);
        this.counter = 1;
      } else if (this.entries.size <= this.maxEntries) {
        // Runs that only count: skip straight to the next full check or to now.
        const due = Math.floor((now - t) / CHECK_EXPIRE_INTERVAL_MS) + 1;
        const untilFull = COUNT_FOR_FULL_EXPIRATION - (this.counter % COUNT_FOR_FULL_EXPIRATION);
        const skip = Math.min(due, untilFull);
        this.counter += skip;
        this.nextCheck += skip * CHECK_EXPIRE_INTERVAL_MS;
        continue;
      } else {
        let goal = Math.trunc(((this.entries.size - this.maxEntries) * 4) / 3);
        goal = Math.min(goal, Math.trunc(this.maxEntries / 2));
        this.collect(t, ENTRY_TIMEOUT_MS, goal);
      }
      this.nextCheck += CHECK_EXPIRE_INTERVAL_MS;
    }
  }

  /**
   * Drop entries unused for `age` at time t, oldest insertion first, until
   * `goal` are gone. (The kernel walks hash buckets from a rover and checks
   * the goal per bucket; order and overshoot differ, the rule does not.)
   */
  private collect(t: number, age: number, goal: number): void {
    for (const [addr, en] of this.entries) {
      if (t < en.lastuse + age) continue;
      this.entries.delete(addr);
      if (--goal <= 0) return;
    }
  }
}

/** A dest an entry remembers; the kernel holds a reference, lvsd its addr:port. */
export interface DestRef {
  key: number | string;
  /** Where it was in the list last time; checked first. */
  hint: number;
  /** Last object seen, read when the dest has left the list (the kernel's trash). */
  last: SchedDest;
}

export function makeRef(dests: readonly SchedDest[], index: number): DestRef {
  const d = dests[index]!;
  return { key: destKey(d), hint: index, last: d };
}

/** The remembered dest as it is now, or null when it is no longer in the list. */
export function locate(dests: readonly SchedDest[], ref: DestRef): SchedDest | null {
  const h = dests[ref.hint];
  if (h !== undefined && destKey(h) === ref.key) {
    ref.last = h;
    return h;
  }
  for (let i = 0; i < dests.length; i++) {
    const d = dests[i]!;
    if (destKey(d) === ref.key) {
      ref.hint = i;
      ref.last = d;
      return d;
    }
  }
  return null;
}

/**
 * The lblc/lblcr overload rule: a dest with more active conns than its
 * weight is overloaded only while some dest in the service is below half of
 * its own weight (activeconns*2 < weight), i.e. there is somewhere better.
 */
export function overloadedVsOthers(d: SchedDest, dests: readonly SchedDest[]): boolean {
  if (d.activeConns <= d.weight) return false;
  for (let i = 0; i < dests.length; i++) {
    const o = dests[i]!;
    if (o.activeConns * 2 < o.weight) return true;
  }
  return false;
}
