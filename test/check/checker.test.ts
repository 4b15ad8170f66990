import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { Checker, type CheckerStateEvent, type CheckerTiming, type Timers } from '../../src/check/checker.js';
import { createChecker } from '../../src/check/index.js';
import { timingFor, type ProbeResult } from '../../src/check/types.js';
import { close, listen, sleep } from './helpers.js';

// A virtual clock: timers fire in time order as advance() walks forward, and
// the probe's promise chain is drained before the next timer is looked at.
class FakeClock implements Timers {
  now = 0;
  private seq = 0;
  private pending = new Map<number, { at: number; fn: () => void }>();
  constructor(private readonly rnd = 0.5) {}
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.pending.delete(h as number);
  }
  random(): number {
    return this.rnd;
  }
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      await drain();
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.pending) if (!next || e[1].at < next[1].at) next = e;
      if (!next || next[1].at > end) break;
      this.pending.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
    await drain();
  }
}

async function drain(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

const OK: ProbeResult = { ok: true };
const FAIL: ProbeResult = { ok: false, reason: 'nope' };

/** A probe that answers from a script (last answer repeats) and logs when it ran. */
function scripted(clock: FakeClock, answers: ProbeResult[]) {
  const calls: number[] = [];
  let i = 0;
  const probe = async (): Promise<ProbeResult> => {
    calls.push(clock.now);
    const r = answers[Math.min(i, answers.length - 1)]!;
    i++;
    return r;
  };
  return { probe, calls };
}

function make(answers: ProbeResult[], timing: Partial<CheckerTiming> = {}, rnd = 0.5) {
  const clock = new FakeClock(rnd);
  const { probe, calls } = scripted(clock, answers);
  const t: CheckerTiming = { delayLoop: 1000, retry: 2, delayBeforeRetry: 100, warmup: 0, alpha: false, ...timing };
  const c = new Checker('test', probe, t, clock);
  const states: (CheckerStateEvent & { at: number })[] = [];
  c.on('state', (e) => states.push({ ...e, at: clock.now }));
  return { clock, c, calls, states };
}

describe('Checker scheduling (keepalived semantics)', () => {
  it('starts up; a success confirms it, then rounds follow every delay_loop', async () => {
    const { clock, c, calls, states } = make([OK]);
    expect(c.up).toBe(true);
    c.start();
    await clock.advance(3500);
    expect(calls).toEqual([0, 1000, 2000, 3000]);
    expect(states).toEqual([{ up: true, changed: false, first: true, at: 0 }]);
  });

  it('at start-up one failure is enough: no retries before the first DOWN', async () => {
    const { clock, c, calls, states } = make([FAIL, FAIL]);
    c.start();
    await clock.advance(1500);
    expect(calls).toEqual([0, 1000]);
    expect(states).toEqual([{ up: false, changed: true, first: true, reason: 'nope', at: 0 }]);
    expect(c.up).toBe(false);
  });

  it('an UP checker retries `retry` times, delay_before_retry apart, before going DOWN', async () => {
    const { clock, c, calls, states } = make([OK, FAIL, FAIL, FAIL, FAIL]);
    const retries: number[] = [];
    c.on('retry', (r) => retries.push(r.attempt));
    c.start();
    await clock.advance(2500);
    expect(calls).toEqual([0, 1000, 1100, 1200, 2200]);
    expect(retries).toEqual([1, 2]);
    expect(states.map((s) => [s.up, s.at])).toEqual([[true, 0], [false, 1200]]);
  });

  it('a retry that succeeds keeps the checker UP and restarts the loop', async () => {
    const { clock, c, calls, states } = make([OK, FAIL, OK, FAIL, FAIL, FAIL]);
    c.start();
    await clock.advance(2250);
    // 0 ok, 1000 fail, 1100 retry ok, 2100 fail, 2200 retry 1 fail
    expect(calls).toEqual([0, 1000, 1100, 2100, 2200]);
    expect(states.map((s) => s.up)).toEqual([true]);
    await clock.advance(50);
    expect(states.map((s) => [s.up, s.at])).toEqual([[true, 0], [false, 2300]]);
  });

  it('a DOWN checker is not retried, and one success brings it UP', async () => {
    const { clock, c, calls, states } = make([FAIL, FAIL, OK]);
    c.start();
    await clock.advance(2500);
    expect(calls).toEqual([0, 1000, 2000]);
    expect(states.map((s) => [s.up, s.changed, s.at])).toEqual([[false, true, 0], [true, true, 2000]]);
  });

  it('alpha starts DOWN: a first failure confirms it, a first success is a change', async () => {
    const a = make([FAIL], { alpha: true });
    expect(a.c.up).toBe(false);
    a.c.start();
    await a.clock.advance(10);
    expect(a.states).toEqual([{ up: false, changed: false, first: true, reason: 'nope', at: 0 }]);
    const b = make([OK], { alpha: true });
    const ups: boolean[] = [];
    b.c.on('up', () => ups.push(true));
    b.c.start();
    await b.clock.advance(10);
    expect(b.states).toEqual([{ up: true, changed: true, first: true, at: 0 }]);
    expect(ups).toEqual([true]);
  });

  it('warmup delays the first round by a random share of warmup', async () => {
    const { clock, c, calls } = make([OK], { warmup: 800 }, 0.25);
    c.start();
    await clock.advance(1500);
    expect(calls).toEqual([200, 1200]);
  });

  it('misc_dynamic weight changes are reported once, and dropped on failure', async () => {
    const { clock, c } = make([{ ok: true, weight: 5 }, { ok: true, weight: 5 }, { ok: true, weight: 7 }, { ok: true }, FAIL], { retry: 0 });
    const weights: (number | undefined)[] = [];
    c.on('weight', (w) => weights.push(w));
    c.start();
    await clock.advance(4500);
    expect(weights).toEqual([5, 7, undefined]);
    expect(c.up).toBe(false);
    expect(c.weight).toBeUndefined();
  });

  it('stop() aborts the probe in flight and nothing runs afterwards', async () => {
    const clock = new FakeClock();
    let aborted = false;
    let calls = 0;
    const probe = (signal: AbortSignal): Promise<ProbeResult> =>
      new Promise((resolve) => {
        calls++;
        signal.addEventListener('abort', () => {
          aborted = true;
          resolve({ ok: false, reason: 'stopped' });
        });
      });
    const c = new Checker('t', probe, { delayLoop: 1000, retry: 0, delayBeforeRetry: 100, warmup: 0, alpha: false }, clock);
    const states: unknown[] = [];
    c.on('state', (s) => states.push(s));
    c.start();
    await clock.advance(10);
    await c.stop();
    await clock.advance(5000);
    expect(aborted).toBe(true);
    expect(calls).toBe(1);
    expect(states).toEqual([]);
  });

  it('a disabled checker (ha_suspend) skips its rounds and keeps its verdict', async () => {
    const { clock, c, calls, states } = make([OK, FAIL]);
    c.start();
    await clock.advance(10);
    c.setEnabled(false);
    await clock.advance(3000);
    expect(calls).toEqual([0]);
    c.setEnabled(true);
    await clock.advance(1000);
    expect(calls).toEqual([0, 4000]);
    expect(states.map((s) => s.up)).toEqual([true]);
  });

  it('rejects nonsense timing', () => {
    const probe = async (): Promise<ProbeResult> => OK;
    expect(() => new Checker('t', probe, { delayLoop: 0, retry: 0, delayBeforeRetry: 0, warmup: 0, alpha: false })).toThrow(/delay_loop/);
    expect(() => new Checker('t', probe, { delayLoop: 10, retry: -1, delayBeforeRetry: 0, warmup: 0, alpha: false })).toThrow(/retry/);
  });
});

describe('keepalived defaults per checker type', () => {
  it('retry and delay_before_retry defaults differ by type; warmup defaults to delay_loop', () => {
    const net = { connectIp: '127.0.0.1', connectPort: 80 };
    expect(timingFor({ type: 'HTTP_GET', urls: [{ path: '/' }], ...net })).toEqual({ delayLoop: 60000, retry: 1, delayBeforeRetry: 3000, warmup: 60000, alpha: false });
    expect(timingFor({ type: 'TCP_CHECK', ...net, delayLoop: 6000 })).toMatchObject({ retry: 1, delayBeforeRetry: 1000, warmup: 6000 });
    expect(timingFor({ type: 'DNS_CHECK', connectIp: '127.0.0.1', delayLoop: 7000 })).toMatchObject({ retry: 3, delayBeforeRetry: 7000 });
    expect(timingFor({ type: 'MISC_CHECK', miscPath: 'true' })).toMatchObject({ retry: 0, delayBeforeRetry: 1000 });
    expect(timingFor({ type: 'MISC_CHECK', miscPath: 'true', retry: 4, delayBeforeRetry: 5, warmup: 0, alpha: true })).toEqual({
      delayLoop: 60000, retry: 4, delayBeforeRetry: 5, warmup: 0, alpha: true,
    });
  });
});

describe('createChecker with real timers', () => {
  it('TCP_CHECK goes DOWN after its retries when the server goes away, and UP when it returns', async () => {
    const server = net.createServer((s) => s.resume());
    const port = await listen(server);
    const c = createChecker({
      type: 'TCP_CHECK', connectIp: '127.0.0.1', connectPort: port, connectTimeout: 200,
      delayLoop: 100, retry: 2, delayBeforeRetry: 60, warmup: 0,
    });
    const events: { up: boolean; at: number }[] = [];
    const attempts: number[] = [];
    const t0 = performance.now();
    c.on('state', (e) => events.push({ up: e.up, at: performance.now() - t0 }));
    c.on('result', (r) => attempts.push(performance.now() - t0));
    try {
      c.start();
      await sleep(50);
      expect(events.map((e) => e.up)).toEqual([true]);
      await close(server);
      const closedAt = performance.now() - t0;
      await sleep(500);
      const down = events[1];
      expect(down?.up).toBe(false);
      // One failing round plus two retries 60 ms apart, so >= 120 ms after the first failed attempt.
      const failed = attempts.filter((a) => a > closedAt);
      expect(failed.length).toBeGreaterThanOrEqual(3);
      expect(failed[1]! - failed[0]!).toBeGreaterThanOrEqual(55);
      expect(failed[2]! - failed[1]!).toBeGreaterThanOrEqual(55);
      expect(down!.at - failed[0]!).toBeGreaterThanOrEqual(115);
      expect(down!.at - closedAt).toBeLessThan(100 + 120 + 100);
      // Back on the same port: the next round brings it UP.
      const again = net.createServer((s) => s.resume());
      await new Promise<void>((r) => again.listen(port, '127.0.0.1', () => r()));
      await sleep(250);
      await close(again);
      expect(events.map((e) => e.up)).toEqual([true, false, true]);
    } finally {
      await c.stop();
    }
  });
});
