// One place to make a scheduler by its ipvsadm name (-s). Each service gets
// its own instance: rr, wrr, sh, dh, mh, lblc and lblcr keep per-service state.
//
// Contract with the engine (ip_vs_sched.c's, translated):
// - call update(dests, flags) once before the first schedule() and again on
//   every add, delete or edit of a dest (weight changes included);
// - pass schedule() the same list, in the same order, as the last update();
//   counters and flags (activeConns, DEST_F_OVERLOAD, ...) may change in between;
// - a dest in the list is available; a deleted one must leave the list.

import { SCHEDULERS, type SchedulerName } from '../types.js';
import type { Scheduler } from './scheduler.js';
import { RrScheduler } from './rr.js';
import { WrrScheduler } from './wrr.js';
import { LcScheduler } from './lc.js';
import { WlcScheduler } from './wlc.js';
import { SedScheduler } from './sed.js';
import { NqScheduler } from './nq.js';
import { ShScheduler } from './sh.js';
import { DhScheduler } from './dh.js';
import { MhScheduler } from './mh.js';
import { FoScheduler } from './fo.js';
import { OvfScheduler } from './ovf.js';
import { LblcScheduler } from './lblc.js';
import { LblcrScheduler } from './lblcr.js';
import { TwosScheduler } from './twos.js';

export { RrScheduler, WrrScheduler, LcScheduler, WlcScheduler, SedScheduler, NqScheduler };
export { ShScheduler, DhScheduler, MhScheduler, FoScheduler, OvfScheduler };
export { LblcScheduler, LblcrScheduler, TwosScheduler };
export { MH_PRIMES, MH_DEFAULT_TAB_SIZE, type MhOptions } from './mh.js';
export { SH_TAB_SIZE } from './sh.js';
export type { TwosOptions } from './twos.js';
export type { LocalityOptions } from './locality.js';

export interface SchedulerOptions {
  /** twos: uniform [0, 1) source; default Math.random. */
  random?: () => number;
  /** lblc/lblcr: the *_expiration sysctl in ms; default 24 h. */
  expirationMs?: number;
  /** mh: table size, one of MH_PRIMES; default 4093. */
  mhTableSize?: number;
}

/** The kernel's answer (ENOENT) for an unknown -s, as ipvsadm prints it. */
export class UnknownSchedulerError extends Error {
  constructor(readonly scheduler: string) {
    super(`Scheduler or persistence engine not found: ${scheduler}`);
    this.name = 'UnknownSchedulerError';
  }
}

const NAMES: ReadonlySet<string> = new Set(SCHEDULERS);

export function isScheduler(name: string): name is SchedulerName {
  return NAMES.has(name);
}

/** A new scheduler for one service. Throws UnknownSchedulerError for a name not in SCHEDULERS. */
export function createScheduler(name: SchedulerName, opts: SchedulerOptions = {}): Scheduler {
  switch (name) {
    case 'rr': return new RrScheduler();
    case 'wrr': return new WrrScheduler();
    case 'lc': return new LcScheduler();
    case 'wlc': return new WlcScheduler();
    case 'sed': return new SedScheduler();
    case 'nq': return new NqScheduler();
    case 'sh': return new ShScheduler();
    case 'dh': return new DhScheduler();
    case 'mh': return new MhScheduler({ tableSize: opts.mhTableSize });
    case 'fo': return new FoScheduler();
    case 'ovf': return new OvfScheduler();
    case 'lblc': return new LblcScheduler({ expirationMs: opts.expirationMs });
    case 'lblcr': return new LblcrScheduler({ expirationMs: opts.expirationMs });
    case 'twos': return new TwosScheduler({ random: opts.random });
    default: throw new UnknownSchedulerError(String(name));
  }
}
