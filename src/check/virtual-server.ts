// One virtual_server's health checking, wired: a Checker per checker block
// of each real_server, their verdicts fed to VirtualServerState, and the
// result published as the dests IPVS should hold plus the notifications to
// run. This is what keepalived's checker process does for one
// virtual_server; the integrator applies 'dests' to lvsd and runs 'notify'.

import { EventEmitter } from 'node:events';
import { Checker, type CheckerStateEvent, type Timers } from './checker.js';
import { checkerName, createChecker } from './factory.js';
import type { MiscProbeTuning } from './misc-check.js';
import { VirtualServerState, type Notification, type RealServerConfig, type VirtualServerConfig } from './real-server-state.js';
import type { CheckOptions } from './types.js';

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

export class VirtualServerChecks extends EventEmitter<VirtualServerChecksEvents> {
  readonly state: VirtualServerState;
  private readonly checkers: { rs: string; id: string; checker: Checker }[] = [];
  private last = '';

  constructor(readonly cfg: VirtualServerChecksConfig, extras: VirtualServerChecksExtras = {}) {
    super();
    this.state = new VirtualServerState({
      ...cfg,
      realServers: cfg.realServers.map((r) => ({
        ...r,
        checkers: r.checkers.map((c, i) => ({ id: String(i), alpha: c.alpha ?? false })),
      })),
    });
    for (const r of cfg.realServers) {
      r.checkers.forEach((opts, i) => {
        const name = `${checkerName(opts)} for ${r.key} of ${cfg.name}`;
        const checker = createChecker(opts, { ...extras, name });
        this.checkers.push({ rs: r.key, id: String(i), checker });
      });
    }
  }

  /** Every checker, for metrics (checker.up, checker.name). */
  get allCheckers(): readonly { rs: string; id: string; checker: Checker }[] {
    return this.checkers;
  }

  dests(): Map<string, number> {
    return this.state.dests();
  }

  /** Puts the initial dests in place (emitted synchronously) and starts every checker. */
  start(): void {
    this.publish(this.state.init());
    for (const { rs, id, checker } of this.checkers) {
      checker.on('weight', (w) => this.publish(this.state.checkerWeight(rs, id, w)));
      checker.on('state', (event) => {
        this.emit('checker', { rs, checker: id, name: checker.name, event });
        this.publish(this.state.checkerState(rs, id, event.up));
      });
      checker.start();
    }
  }

  /** Stops every checker, then empties the dests (with omega's notifications). */
  async stop(): Promise<void> {
    await Promise.all(this.checkers.map((c) => c.checker.stop()));
    for (const c of this.checkers) c.checker.removeAllListeners();
    this.publish(this.state.stop());
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
