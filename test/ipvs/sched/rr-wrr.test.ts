import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RrScheduler } from '../../../src/ipvs/sched/rr.js';
import { WrrScheduler } from '../../../src/ipvs/sched/wrr.js';
import type { Scheduler } from '../../../src/ipvs/sched/scheduler.js';
import { dest, flow, NO_FLAGS, overload, type TestDest } from './helpers.js';

function picks(s: Scheduler, dests: TestDest[], n: number): (number | null)[] {
  const out: (number | null)[] = [];
  for (let i = 0; i < n; i++) out.push(s.schedule(dests, flow(i))?.id ?? null);
  return out;
}

function gcdOf(ws: number[]): number {
  const g = (a: number, b: number): number => (b === 0 ? a : g(b, a % b));
  return ws.reduce((a, w) => g(w, a), 0);
}

describe('rr', () => {
  it('cycles through the usable dests in list order, skipping quiesced and overloaded ones', () => {
    const ds = [dest(0, 1), dest(1, 5), dest(2, 0), dest(3, 1)];
    const s = new RrScheduler();
    s.update(ds, NO_FLAGS);
    expect(picks(s, ds, 6)).toEqual([0, 1, 3, 0, 1, 3]);
    overload(ds[1]!);
    expect(picks(s, ds, 4)).toEqual([0, 3, 0, 3]);
  });

  it('keeps its cursor when a dest is added', () => {
    const ds = [dest(0, 1), dest(1, 1), dest(2, 1)];
    const s = new RrScheduler();
    s.update(ds, NO_FLAGS);
    expect(picks(s, ds, 2)).toEqual([0, 1]);
    const more = [...ds, dest(3, 1)];
    s.update(more, NO_FLAGS);
    expect(picks(s, more, 5)).toEqual([2, 3, 0, 1, 2]);
  });

  it('resumes after the deleted dest when the cursor was on it (ip_vs_rr_del_dest)', () => {
    const ds = [dest(0, 1), dest(1, 1), dest(2, 1), dest(3, 1)];
    const s = new RrScheduler();
    s.update(ds, NO_FLAGS);
    expect(picks(s, ds, 2)).toEqual([0, 1]);
    const without1 = [ds[0]!, ds[2]!, ds[3]!];
    s.update(without1, NO_FLAGS);
    expect(picks(s, without1, 3)).toEqual([2, 3, 0]);

    // Cursor on the first dest: it steps back to the list head.
    const without0 = [ds[2]!, ds[3]!];
    s.update(without0, NO_FLAGS);
    expect(picks(s, without0, 3)).toEqual([2, 3, 2]);
  });

  it('steps back past several deleted dests at once', () => {
    const ds = [dest(0, 1), dest(1, 1), dest(2, 1), dest(3, 1)];
    const s = new RrScheduler();
    s.update(ds, NO_FLAGS);
    expect(picks(s, ds, 3)).toEqual([0, 1, 2]);
    const left = [ds[0]!, ds[3]!];
    s.update(left, NO_FLAGS);
    expect(picks(s, left, 2)).toEqual([3, 0]);
  });

  it('visits every usable dest once per round, whatever the list (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 12 }), (ws) => {
        const ds = ws.map((w, i) => dest(i, w));
        const s = new RrScheduler();
        s.update(ds, NO_FLAGS);
        const live = ds.filter((d) => d.weight > 0).map((d) => d.id);
        const got = picks(s, ds, live.length * 3);
        if (live.length === 0) return got.every((x) => x === null);
        return got.every((id, i) => id === live[i % live.length]);
      }),
    );
  });
});

describe('wrr', () => {
  it('interleaves by falling current weight as the kernel does', () => {
    const ds = [dest(0, 4), dest(1, 3), dest(2, 2)];
    const s = new WrrScheduler();
    s.update(ds, NO_FLAGS);
    expect(picks(s, ds, 18)).toEqual([0, 0, 1, 0, 1, 2, 0, 1, 2, 0, 0, 1, 0, 1, 2, 0, 1, 2]);
  });

  it('steps by the gcd: weights 4 and 2 alternate as 2:1', () => {
    const ds = [dest(0, 4), dest(1, 2)];
    const s = new WrrScheduler();
    s.update(ds, NO_FLAGS);
    expect(picks(s, ds, 6)).toEqual([0, 0, 1, 0, 0, 1]);
  });

  it('hands out exactly each weight over sum(weights) picks (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 7 }), (ws) => {
        const ds = ws.map((w, i) => dest(i, w));
        const s = new WrrScheduler();
        s.update(ds, NO_FLAGS);
        const total = ws.reduce((a, b) => a + b, 0);
        const g = gcdOf(ws);
        const counts = new Array<number>(ws.length).fill(0);
        // One cycle (total/g picks) hands each dest weight/g turns …
        for (let i = 0; i < total / (g || 1); i++) counts[s.schedule(ds, flow(i))!.id]!++;
        expect(counts).toEqual(ws.map((w) => w / (g || 1)));
        // … and g cycles make it exactly the weights.
        for (let i = total / (g || 1); i < total; i++) counts[s.schedule(ds, flow(i))!.id]!++;
        expect(counts).toEqual(ws);
      }),
    );
  });

  it('follows new weights after update, from a mid-cycle state (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 6, maxLength: 6 }),
        fc.integer({ min: 0, max: 30 }),
        (before, after, warm) => {
          const ds = before.map((w, i) => dest(i, w));
          const s = new WrrScheduler();
          s.update(ds, NO_FLAGS);
          picks(s, ds, warm);
          ds.forEach((d, i) => (d.weight = after[i]!));
          s.update(ds, NO_FLAGS);
          const ws = ds.map((d) => d.weight);
          const g = gcdOf(ws);
          const total = ws.reduce((a, b) => a + b, 0);
          if (total === 0) {
            expect(s.schedule(ds, flow(0))).toBeNull();
            return;
          }
          const cycle = total / g;
          const rounds = 20;
          const counts = new Array<number>(ds.length).fill(0);
          for (let i = 0; i < rounds * cycle; i++) counts[s.schedule(ds, flow(i))!.id]!++;
          // A partial cycle at each end at most.
          ws.forEach((w, i) => expect(Math.abs(counts[i]! - (rounds * w) / g)).toBeLessThanOrEqual((2 * w) / g));
        },
      ),
    );
  });

  it('skips an overloaded dest and keeps the others in proportion', () => {
    const ds = [dest(0, 3), dest(1, 2), dest(2, 1)];
    const s = new WrrScheduler();
    s.update(ds, NO_FLAGS);
    overload(ds[0]!);
    const counts = [0, 0, 0];
    for (let i = 0; i < 60; i++) counts[s.schedule(ds, flow(i))!.id]!++;
    expect(counts[0]).toBe(0);
    expect(counts[1]! / counts[2]!).toBeCloseTo(2, 0);
  });

  it('catches a dest whose weight fell below the step when it is the only one left', () => {
    // Weights 4 and 2 (step 2); then the 4 is overloaded and the 2 drops to 1
    // without an update: the last pass at cw = 1 still finds it.
    const ds = [dest(0, 4), dest(1, 2)];
    const s = new WrrScheduler();
    s.update(ds, NO_FLAGS);
    overload(ds[0]!);
    ds[1]!.weight = 1;
    expect(picks(s, ds, 3)).toEqual([1, 1, 1]);
  });
});
