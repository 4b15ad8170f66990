// The life of one checker as keepalived runs it (check_api.c and the
// *_final/epilog functions of each check_*.c):
//
// - the first round starts after a random delay in [0, warmup];
// - a checker starts UP, or DOWN with alpha;
// - at start-up one failure is enough to go DOWN (check_data.c sets
//   retry_it = retry "for non alpha mode, one failure is enough initially");
// - later, a failure of an UP checker is retried `retry` times, each after
//   delay_before_retry, and only then declared DOWN; a DOWN checker is not
//   retried, and one success brings it UP;
// - every decided round is followed by delay_loop.

import { EventEmitter } from 'node:events';
import type { CheckerTiming, Probe, ProbeResult } from './types.js';

export type { CheckerTiming } from './types.js';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** In [0, 1); only the warmup draw uses it. */
  random(): number;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  random: Math.random,
};


/** Emitted as 'state' whenever a round decides the checker's state and it changed, or on the first decision. */
export interface CheckerStateEvent {
  up: boolean;
  /** false only on the first decision when it confirmed the initial state. */
  changed: boolean;
  /** This is the checker's first decision since start(). */
  first: boolean;
  /** Why the last probe failed, for logs. */
  reason?: string;
}

/** Emitted as 'result' after every probe, including retries. */
export interface CheckerResultEvent {
  result: ProbeResult;
  /** 0 for the scheduled round, n for the n-th retry. */
  attempt: number;
  /** ms the probe took. */
  elapsed: number;
}

export interface CheckerEvents {
  state: [CheckerStateEvent];
  up: [CheckerStateEvent];
  down: [CheckerStateEvent];
  /** misc_dynamic: the weight the script asked for; undefined = back to the configured weight. */
  weight: [number | undefined];
  result: [CheckerResultEvent];
  retry: [{ attempt: number; of: number; reason: string }];
}

export class Checker extends EventEmitter<CheckerEvents> {
  private isUp: boolean;
  private ran = false;
  private retryIt: number;
  private dynWeight: number | undefined;
  private timer: unknown;
  private inflight: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private running = false;
  private enabled = true;

  constructor(
    readonly name: string,
    private readonly probe: Probe,
    readonly timing: CheckerTiming,
    private readonly timers: Timers = realTimers,
  ) {
    super();
    if (!(timing.delayLoop > 0)) throw new Error(`${name}: delay_loop must be > 0 ms, got ${timing.delayLoop}`);
    if (!Number.isInteger(timing.retry) || timing.retry < 0) throw new Error(`${name}: retry must be a whole number >= 0, got ${timing.retry}`);
    this.isUp = !timing.alpha;
    this.retryIt = timing.retry;
  }

  /** The checker's current verdict. */
  get up(): boolean {
    return this.isUp;
  }

  /** Whether a round has decided anything since start(). */
  get hasRun(): boolean {
    return this.ran;
  }

  /** misc_dynamic weight currently asked for; undefined = the configured weight. */
  get weight(): number | undefined {
    return this.dynWeight;
  }

  get started(): boolean {
    return this.running;
  }

  /**
   * ha_suspend: a disabled checker keeps its schedule but skips its probes
   * and keeps its verdict, as keepalived's checkers do while their
   * virtual_server's VIP is not held by this node.
   */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
  }

  get isEnabled(): boolean {
    return this.enabled;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const w = this.timing.warmup > 0 ? Math.floor(this.timing.warmup * this.timers.random()) : 0;
    this.schedule(w, 0);
  }

  /** Cancels the next round and aborts a probe in flight; resolves once it has let go of its socket or process. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.abort?.abort();
    await this.inflight;
  }

  private schedule(ms: number, attempt: number): void {
    if (!this.running) return;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      if (!this.enabled) return this.schedule(this.timing.delayLoop, 0);
      this.inflight = this.round(attempt);
    }, ms);
  }

  private async round(attempt: number): Promise<void> {
    const abort = new AbortController();
    this.abort = abort;
    const t0 = performance.now();
    let result: ProbeResult;
    try {
      result = await this.probe(abort.signal);
    } catch (err) {
      // Probes resolve by contract; a throw is a bug, but a health check must not die of it.
      result = { ok: false, reason: `probe threw: ${(err as Error)?.message ?? String(err)}` };
    }
    this.abort = undefined;
    if (!this.running) return;
    this.emit('result', { result, attempt, elapsed: performance.now() - t0 });
    this.decide(result);
  }

  private decide(r: ProbeResult): void {
    const t = this.timing;
    if (!r.ok) {
      if (this.isUp || !this.ran) {
        if (this.retryIt < t.retry) {
          this.retryIt++;
          this.ran = true;
          this.emit('retry', { attempt: this.retryIt, of: t.retry, reason: r.reason });
          this.schedule(t.delayBeforeRetry, this.retryIt);
          return;
        }
        // keepalived drops a misc_dynamic weight silently when the checker fails.
        this.dynWeight = undefined;
        this.setState(false, r.reason);
      }
    } else {
      if (r.weight !== this.dynWeight) {
        this.dynWeight = r.weight;
        this.emit('weight', r.weight);
      }
      if (!this.isUp || !this.ran) this.setState(true);
    }
    this.retryIt = 0;
    this.schedule(t.delayLoop, 0);
  }

  private setState(up: boolean, reason?: string): void {
    const first = !this.ran;
    const changed = this.isUp !== up;
    this.ran = true;
    this.isUp = up;
    const ev: CheckerStateEvent = { up, changed, first, ...(reason !== undefined ? { reason } : {}) };
    this.emit('state', ev);
    if (changed) this.emit(up ? 'up' : 'down', ev);
  }
}
