// One virtual_server's health checking, wired: a Checker per checker block
// of each real_server, their verdicts fed to VirtualServerState, and the
// result published as the dests IPVS should hold plus the notifications to
// run. This is what keepalived's checker process does for one
// virtual_server; the integrator applies 'dests' to lvsd and runs 'notify'.

import { EventEmitter } from 'node:events';
import { Checker, type CheckerStateEvent, type Timers } from './checker.js';
import { checkerName, createChecker } from './factory.js';
import { runScript, type ScriptOutcome, type ScriptPolicy } from '../core/notify.js';
import type { MiscProbeTuning } from './misc-check.js';
import { VirtualServerState, type Notification, type RealServerConfig, type VirtualServerConfig } from './real-server-state.js';
import type { CheckOptions } from './types.js';

/**
 * Runs a notification's script as keepalived does (core/notify.ts, as the
 * configuration's script_user): the configured command line and nothing appended; without a time limit normally, but killed after
 * one second when sent on the way down (keepalived's TIMER_HZ at shutdown).
 * Resolves undefined when the notification has no script.
 */
export function runNotification(n: Notification, policy?: ScriptPolicy): Promise<ScriptOutcome | undefined> {
  if (n.script === undefined) return Promise.resolve(undefined);
  return runScript(n.script, { ...(policy ? { policy } : {}), ...(n.stopping ? { timeout: 1000, killGrace: 500 } : {}) });
}

export interface RealServerChecks extends Omit<RealServerConfig, 'checkers'> {
  /** A real server without checkers is always alive, as in keepalived. */
  checkers: readonly CheckOptions[];
}

export interface VirtualServerChecksConfig extends Omit<VirtualServerConfig, 'realServers'> {
  realServers: readonly RealServerChecks[];
}

export interface CheckerStateReport {
  rs: string;
  checker: string;
  name: string;
  event: CheckerStateEvent;
}

export interface VirtualServerChecksEvents {
  /** The whole set of dests IPVS should hold (key → weight), after any change. */
  dests: [Map<string, number>];
  notify: [Notification];
  /** Every checker decision, for logs and metrics. */
  checker: [CheckerStateReport];
}

export interface VirtualServerChecksExtras extends MiscProbeTuning {
  timers?: Timers;
}

interface Slot {
  rs: string;
  id: string;
  options: CheckOptions;
  checker?: Checker;
}

/** A checker's identity across reloads: its real server and its exact options. */
function checkerIds(checkers: readonly CheckOptions[]): string[] {
  const seen = new Map<string, number>();
  return checkers.map((c) => {
    const base = JSON.stringify(c);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return n === 0 ? base : `${base}#${n}`;
  });
}

export class VirtualServerChecks extends EventEmitter<VirtualServerChecksEvents> {
  readonly state: VirtualServerState;
  private slots: Slot[] = [];
  private last = '';
  private handedOver = false;
  private enabled = true;

  constructor(readonly cfg: VirtualServerChecksConfig, private readonly extras: VirtualServerChecksExtras = {}) {
    super();
    const realServers = cfg.realServers.map((r) => {
      const ids = checkerIds(r.checkers);
      r.checkers.forEach((options, i) => this.slots.push({ rs: r.key, id: ids[i]!, options }));
      return { ...r, checkers: r.checkers.map((c, i) => ({ id: ids[i]!, alpha: c.alpha ?? false })) };
    });
    this.state = new VirtualServerState({ ...cfg, realServers });
  }

  /** Every running checker, for metrics (checker.up, checker.name). */
  get allCheckers(): readonly { rs: string; id: string; checker: Checker }[] {
    return this.slots.flatMap((s) => (s.checker ? [{ rs: s.rs, id: s.id, checker: s.checker }] : []));
  }

  dests(): Map<string, number> {
    return this.state.dests();
  }

  /**
   * Puts the initial dests in place (emitted synchronously) and starts every
   * checker. With `previous` — the same virtual_server before a reload — its
   * state is carried over (see VirtualServerState.init) and its checkers
   * whose real server and options are unchanged keep running with their
   * verdict and retry count; the others are stopped. Listen before calling.
   */
  start(previous?: VirtualServerChecks): void {
    if (previous?.handedOver) throw new Error(`virtual_server ${this.cfg.name}: the previous instance was already reloaded`);
    const notes = this.state.init(previous?.state);
    const carried = new Map<string, Checker>();
    if (previous) {
      previous.handedOver = true;
      for (const p of previous.slots) if (p.checker) carried.set(`${p.rs}\n${p.id}`, p.checker);
    }
    for (const slot of this.slots) {
      const key = `${slot.rs}\n${slot.id}`;
      const kept = carried.get(key);
      if (kept) {
        carried.delete(key);
        kept.removeAllListeners();
        slot.checker = kept;
      } else {
        const name = `${checkerName(slot.options)} for ${slot.rs} of ${this.cfg.name}`;
        // The checker starts in the state the quorum logic gave it (alpha, or a reload's rules).
        const options = { ...slot.options, alpha: !this.state.checkerUp(slot.rs, slot.id) };
        slot.checker = createChecker(options, { ...this.extras, name });
      }
    }
    for (const gone of carried.values()) {
      gone.removeAllListeners();
      void gone.stop();
    }
    this.publish(notes);
    for (const { rs, id, checker } of this.slots as Required<Slot>[]) {
      checker.setEnabled(this.enabled);
      checker.on('weight', (w) => this.publish(this.state.checkerWeight(rs, id, w)));
      checker.on('state', (event) => {
        this.emit('checker', { rs, checker: id, name: checker.name, event });
        this.publish(this.state.checkerState(rs, id, event.up));
      });
      checker.start();
    }
  }

  /** ha_suspend: pause (false) or resume (true) every checker of this virtual_server. */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    for (const s of this.slots) s.checker?.setEnabled(enabled);
  }

  /**
   * Stops every checker, then empties the dests (with omega's notifications;
   * with `removed`, for a virtual_server a reload dropped, notify_down for
   * each alive real server). A no-op once a successor took over by start(this).
   */
  async stop(opts: { removed?: boolean } = {}): Promise<void> {
    if (this.handedOver) return;
    await Promise.all(this.slots.map((s) => s.checker?.stop()));
    for (const s of this.slots) s.checker?.removeAllListeners();
    this.publish(this.state.stop(opts));
  }

  private publish(ns: Notification[]): void {
    const dests = this.state.dests();
    const sig = JSON.stringify([...dests].sort());
    if (sig !== this.last) {
      this.last = sig;
      this.emit('dests', dests);
    }
    for (const n of ns) this.emit('notify', n);
  }
}
