// lc, wlc, sed, nq, fo, ovf, twos against brute-force readings of their
// kernel formulas.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LcScheduler } from '../../../src/ipvs/sched/lc.js';
import { WlcScheduler } from '../../../src/ipvs/sched/wlc.js';
import { SedScheduler } from '../../../src/ipvs/sched/sed.js';
import { NqScheduler } from '../../../src/ipvs/sched/nq.js';
import { FoScheduler } from '../../../src/ipvs/sched/fo.js';
import { OvfScheduler } from '../../../src/ipvs/sched/ovf.js';
import { TwosScheduler } from '../../../src/ipvs/sched/twos.js';
import { DEST_F_AVAILABLE, DEST_F_OVERLOAD, type Scheduler } from '../../../src/ipvs/sched/scheduler.js';
import { dest, flow, NO_FLAGS, seeded, usable, type TestDest } from './helpers.js';

const destsArb = fc
  .array(
    fc.record({
      weight: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 2 ** 31 - 1 })),
      overloaded: fc.boolean(),
      activeConns: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
      inactConns: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
    }),
    { minLength: 0, maxLength: 9 },
  )
  .map((specs) =>
    specs.map((s, i) =>
      dest(i, s.weight, {
        activeConns: s.activeConns,
        inactConns: s.inactConns,
        flags: DEST_F_AVAILABLE | (s.overloaded ? DEST_F_OVERLOAD : 0),
      }),
    ),
  );

/** First dest (list order) minimising num/den among `cands`, compared exactly. */
function argminRatio(cands: TestDest[], num: (d: TestDest) => bigint, den: (d: TestDest) => bigint): TestDest | null {
  let best: TestDest | null = null;
  for (const d of cands) {
    if (best === null || num(d) * den(best) < num(best) * den(d)) best = d;
  }
  return best;
}

const overhead = (d: TestDest) => BigInt(d.activeConns) * 256n + BigInt(d.inactConns);

const references: Record<string, [() => Scheduler, (ds: TestDest[]) => TestDest | null]> = {
  lc: [() => new LcScheduler(), (ds) => argminRatio(ds.filter(usable), overhead, () => 1n)],
  wlc: [() => new WlcScheduler(), (ds) => argminRatio(ds.filter(usable), overhead, (d) => BigInt(d.weight))],
  sed: [
    () => new SedScheduler(),
    (ds) => argminRatio(ds.filter(usable), (d) => BigInt(d.activeConns) + 1n, (d) => BigInt(d.weight)),
  ],
  nq: [
    () => new NqScheduler(),
    (ds) =>
      ds.find((d) => usable(d) && d.activeConns === 0) ??
      argminRatio(ds.filter(usable), (d) => BigInt(d.activeConns) + 1n, (d) => BigInt(d.weight)),
  ],
  fo: [() => new FoScheduler(), (ds) => argminRatio(ds.filter(usable), () => 1n, (d) => BigInt(d.weight))],
  ovf: [
    () => new OvfScheduler(),
    (ds) => argminRatio(ds.filter((d) => usable(d) && d.activeConns <= d.weight), () => 1n, (d) => BigInt(d.weight)),
  ],
};

describe.each(Object.keys(references).map((k) => [k]))('%s picks per its formula', (name) => {
  it('agrees with a brute-force reference, ties to the first in list order (property)', () => {
    const [make, ref] = references[name]!;
    fc.assert(
      fc.property(destsArb, (ds) => {
        const s = make();
        s.update(ds, NO_FLAGS);
        expect(s.schedule(ds, flow(1))).toBe(ref(ds));
      }),
      { numRuns: 400 },
    );
  });
});

describe('least-connection family, worked examples', () => {
  it('lc ignores weight; wlc divides by it; sed counts the new job; nq prefers the idle', () => {
    // A: weight 1, idle. B: weight 3, one active conn.
    const ds = [dest(0, 1), dest(1, 3, { activeConns: 1 })];
    const pick = (s: Scheduler) => s.schedule(ds, flow(1))!.id;
    expect(pick(new LcScheduler())).toBe(0); // 0 < 256
    expect(pick(new WlcScheduler())).toBe(0); // 0/1 < 256/3
    expect(pick(new SedScheduler())).toBe(1); // (0+1)/1 > (1+1)/3
    expect(pick(new NqScheduler())).toBe(0); // A is idle

    // Inactive conns cost 1/256 of an active one for lc and wlc, nothing for sed.
    const ds2 = [dest(0, 1, { inactConns: 300 }), dest(1, 1, { activeConns: 1 })];
    expect(new LcScheduler().schedule(ds2, flow(1))!.id).toBe(1); // 300 > 256
    expect(new SedScheduler().schedule(ds2, flow(1))!.id).toBe(0); // 1 < 2
  });

  it('wlc compares exactly where doubles would round (products past 2^53)', () => {
    // loh*dw = doh*lw + 1 with both near 2^62: as doubles they are equal and
    // A would stay; exactly, A is (barely) heavier and B wins.
    const w1 = 2 ** 31 - 1;
    const w2 = w1 - 1;
    const loh = w1 - 1; // 8388607 active, 254 inactive
    const doh = w1 - 2; // 8388607 active, 253 inactive
    expect(loh * w2 > doh * w1).toBe(false);
    expect(BigInt(loh) * BigInt(w2) - BigInt(doh) * BigInt(w1)).toBe(1n);
    const ds = [
      dest(0, w1, { activeConns: Math.floor(loh / 256), inactConns: loh % 256 }),
      dest(1, w2, { activeConns: Math.floor(doh / 256), inactConns: doh % 256 }),
    ];
    expect(new WlcScheduler().schedule(ds, flow(1))!.id).toBe(1);
  });

  it('fo sends everything to the heaviest usable dest and fails over in weight order', () => {
    const ds = [dest(0, 2), dest(1, 5), dest(2, 5), dest(3, 1)];
    const s = new FoScheduler();
    expect(s.schedule(ds, flow(1))!.id).toBe(1);
    ds[1]!.weight = 0;
    expect(s.schedule(ds, flow(1))!.id).toBe(2);
    ds[2]!.flags |= DEST_F_OVERLOAD;
    expect(s.schedule(ds, flow(1))!.id).toBe(0);
  });

  it('ovf fills the heaviest dest up to activeconns == weight, then overflows', () => {
    const ds = [dest(0, 1), dest(1, 3)];
    const s = new OvfScheduler();
    const seq: number[] = [];
    for (let i = 0; i < 6; i++) {
      const d = ds.find((x) => x.id === s.schedule(ds, flow(i))?.id);
      if (!d) break;
      seq.push(d.id);
      d.activeConns++;
    }
    // B takes 4 (0..3 active are all <= 3), then A takes 2, then none.
    expect(seq).toEqual([1, 1, 1, 1, 0, 0]);
    expect(s.schedule(ds, flow(9))).toBeNull();
  });
});

describe('twos', () => {
  /** A random source that replays fixed draws. */
  const script = (xs: number[]) => {
    let i = 0;
    return () => xs[i++ % xs.length]!;
  };

  it('draws both choices by cumulative weight over [0, total] and keeps the lighter', () => {
    // Weights 1,1,1: total+1 = 4 draw values. 0 and 1 land on A, 2 on B, 3 on C.
    const ds = [dest(0, 1), dest(1, 1), dest(2, 1)];
    const s = new TwosScheduler({ random: script([0.0, 0.9]) }); // r1 = 0 → A, r2 = 3 → C
    expect(s.schedule(ds, flow(1))!.id).toBe(0); // equal load: choice1 wins the tie
    ds[0]!.activeConns = 1;
    expect(s.schedule(ds, flow(1))!.id).toBe(2); // C is lighter
    ds[2]!.activeConns = 2;
    expect(s.schedule(ds, flow(1))!.id).toBe(0); // now A is
    const t = new TwosScheduler({ random: script([0.6, 0.3]) }); // r1 = 2 → B, r2 = 1 → A
    ds.forEach((d) => (d.activeConns = 0));
    expect(t.schedule(ds, flow(1))!.id).toBe(1);
  });

  it('weights the draws: with equal load the first choice wins, so shares follow (w + [first]) / (total + 1)', () => {
    const ds = [dest(0, 1), dest(1, 2), dest(2, 7)];
    const s = new TwosScheduler({ random: seeded(42) });
    const counts = [0, 0, 0];
    const n = 22_000;
    for (let i = 0; i < n; i++) counts[s.schedule(ds, flow(i))!.id]!++;
    const expected = [2 / 11, 2 / 11, 7 / 11];
    counts.forEach((c, i) => expect(Math.abs(c / n - expected[i]!)).toBeLessThan(0.015));
  });

  it('steers away from a loaded dest more than weighted random would', () => {
    const ds = [dest(0, 1, { activeConns: 100 }), dest(1, 1)];
    const s = new TwosScheduler({ random: seeded(3) });
    let loaded = 0;
    for (let i = 0; i < 4000; i++) if (s.schedule(ds, flow(i))!.id === 0) loaded++;
    // Only when both draws land on A (about (2/3)^2) does A win.
    expect(loaded / 4000).toBeGreaterThan(0.38);
    expect(loaded / 4000).toBeLessThan(0.5);
  });
});
