// Rules every scheduler keeps, whatever its policy (ip_vs_sched.c's contract).

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SCHEDULERS, type SchedulerName } from '../../../src/ipvs/types.js';
import {
  createScheduler,
  isScheduler,
  LblcrScheduler,
  LblcScheduler,
  MhScheduler,
  UnknownSchedulerError,
} from '../../../src/ipvs/sched/index.js';
import { DEST_F_AVAILABLE, DEST_F_OVERLOAD, type SchedFlags } from '../../../src/ipvs/sched/scheduler.js';
import { dest, flow, seeded, usable, type TestDest } from './helpers.js';

const destArb = fc.record({
  weight: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 70000 })),
  overloaded: fc.boolean(),
  activeConns: fc.integer({ min: 0, max: 40 }),
  inactConns: fc.integer({ min: 0, max: 100 }),
});
const destsArb = fc.array(destArb, { minLength: 0, maxLength: 8 }).map((specs) =>
  specs.map((s, i) =>
    dest(i, s.weight, {
      activeConns: s.activeConns,
      inactConns: s.inactConns,
      flags: DEST_F_AVAILABLE | (s.overloaded ? DEST_F_OVERLOAD : 0),
    }),
  ),
);
const flowsArb = fc.array(
  fc.record({
    saddr: fc.integer({ min: 0, max: 0xffffffff }),
    sport: fc.integer({ min: 1024, max: 65535 }),
    daddr: fc.integer({ min: 0, max: 0xffffffff }),
    now: fc.integer({ min: 0, max: 3 * 86_400_000 }),
  }),
  { minLength: 1, maxLength: 30 },
).map((fs) => fs.sort((a, b) => a.now - b.now));
const flagsArb = fc.record({ fallback: fc.boolean(), port: fc.boolean() });

function make(name: SchedulerName) {
  return createScheduler(name, { random: seeded(7) });
}

/** Schedulers that always find a usable dest when one exists (no hash table, no ovf cap). */
function alwaysFinds(name: SchedulerName, flags: SchedFlags, dests: TestDest[]): boolean {
  // sh deals max(weight, 1) buckets per dest in list order: past 256 buckets
  // the dests late in the list get none, so even fallback cannot reach them.
  if (name === 'sh') return flags.fallback && dests.reduce((a, d) => a + Math.max(d.weight, 1), 0) <= 256;
  if (name === 'mh') return flags.fallback;
  return name !== 'dh' && name !== 'ovf';
}

describe.each(SCHEDULERS.map((n) => [n]))('%s keeps the scheduler contract', (name) => {
  it('returns only listed, usable dests, and null when none is usable', () => {
    fc.assert(
      fc.property(destsArb, flowsArb, flagsArb, (dests, flows, flags) => {
        const s = make(name);
        s.update(dests, flags);
        const anyUsable = dests.some(usable);
        for (const f of flows) {
          const d = s.schedule(dests, flow(f.saddr, f));
          if (d === null) {
            if (anyUsable && alwaysFinds(name, flags, dests)) {
              expect.fail(`${name} returned null with a usable dest`);
            }
            continue;
          }
          expect(dests).toContain(d);
          expect(d.weight).toBeGreaterThan(0);
          expect(d.flags & DEST_F_OVERLOAD).toBe(0);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('returns null for an empty service and for an all-quiesced one', () => {
    const s = make(name);
    s.update([], { fallback: true, port: false });
    expect(s.schedule([], flow(1))).toBeNull();
    const quiesced = [dest(0, 0), dest(1, 0), dest(2, 0)];
    s.update(quiesced, { fallback: true, port: false });
    for (let i = 0; i < 50; i++) expect(s.schedule(quiesced, flow(i * 7919, { daddr: i }))).toBeNull();
    const overloaded = [dest(0, 3), dest(1, 1)];
    overloaded.forEach((d) => (d.flags |= DEST_F_OVERLOAD));
    s.update(overloaded, { fallback: true, port: false });
    for (let i = 0; i < 50; i++) expect(s.schedule(overloaded, flow(i * 7919, { daddr: i }))).toBeNull();
  });

  it('makes the same choices for the same inputs (twos with the same seed)', () => {
    fc.assert(
      fc.property(destsArb, flowsArb, flagsArb, (dests, flows, flags) => {
        const a = make(name);
        const b = make(name);
        a.update(dests, flags);
        b.update(dests, flags);
        for (const f of flows) {
          expect(a.schedule(dests, flow(f.saddr, f))).toBe(b.schedule(dests, flow(f.saddr, f)));
        }
      }),
      { numRuns: 50 },
    );
  });
});

type Op =
  | { op: 'add'; weight: number }
  | { op: 'del'; at: number }
  | { op: 'weight'; at: number; weight: number }
  | { op: 'overload'; at: number }
  | { op: 'conns'; at: number; active: number; inact: number }
  | { op: 'schedule'; saddr: number; daddr: number; dt: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('add' as const), weight: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ op: fc.constant('del' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('weight' as const), at: fc.nat(), weight: fc.integer({ min: 0, max: 6 }) }),
  fc.record({ op: fc.constant('overload' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('conns' as const), at: fc.nat(), active: fc.nat(20), inact: fc.nat(50) }),
  ...Array.from({ length: 4 }, () =>
    fc.record({
      op: fc.constant('schedule' as const),
      saddr: fc.integer({ min: 0, max: 0xffffffff }),
      daddr: fc.integer({ min: 0, max: 15 }),
      dt: fc.integer({ min: 0, max: 40 * 60_000 }),
    }),
  ),
);

describe.each(SCHEDULERS.map((n) => [n]))('%s through add/delete/edit sequences', (name) => {
  it('keeps the contract after every change (property)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), flagsArb, (ops, flags) => {
        const s = make(name);
        let ds: TestDest[] = [];
        let nextId = 0;
        let now = 0;
        s.update(ds, flags);
        for (const o of ops) {
          if (o.op === 'schedule') {
            now += o.dt;
            const d = s.schedule(ds, flow(o.saddr, { daddr: o.daddr, now }));
            if (d !== null) {
              expect(ds).toContain(d);
              expect(usable(d)).toBe(true);
            } else if (ds.some(usable) && alwaysFinds(name, flags, ds)) {
              expect.fail(`${name} returned null with a usable dest`);
            }
            continue;
          }
          if (o.op === 'add') {
            const id = nextId++;
            ds = [...ds, dest(id, o.weight)];
          } else if (ds.length === 0) {
            continue;
          } else {
            const d = ds[o.at % ds.length]!;
            if (o.op === 'del') ds = ds.filter((x) => x !== d);
            else if (o.op === 'weight') d.weight = o.weight;
            else {
              // Counters and the overload bit move without an update, as in the engine.
              if (o.op === 'overload') d.flags ^= DEST_F_OVERLOAD;
              else {
                d.activeConns = o.active;
                d.inactConns = o.inact;
              }
              continue;
            }
          }
          s.update(ds, flags);
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('index', () => {
  it('knows exactly the kernel scheduler names', () => {
    for (const n of SCHEDULERS) expect(isScheduler(n)).toBe(true);
    for (const n of ['', 'RR', 'wrr ', 'maglev', 'lblcr2']) expect(isScheduler(n)).toBe(false);
  });

  it('makes a new instance per call and names it', () => {
    for (const n of SCHEDULERS) {
      const a = createScheduler(n);
      expect(a.name).toBe(n);
      expect(createScheduler(n)).not.toBe(a);
    }
  });

  it('passes options to the schedulers that take them', () => {
    expect((createScheduler('lblc', { expirationMs: 5000 }) as LblcScheduler).table.expirationMs).toBe(5000);
    expect((createScheduler('lblcr', { expirationMs: 7000 }) as LblcrScheduler).table.expirationMs).toBe(7000);
    expect((createScheduler('mh', { mhTableSize: 251 }) as MhScheduler).tableSize).toBe(251);
    expect((createScheduler('mh') as MhScheduler).tableSize).toBe(4093);
    const twos = createScheduler('twos', { random: () => 0 });
    const ds = [dest(0, 1, { activeConns: 5 }), dest(1, 1)];
    twos.update(ds, { fallback: false, port: false });
    // Both draws are 0 and land on the first dest, loaded or not.
    expect(twos.schedule(ds, flow(1))!.id).toBe(0);
  });

  it('throws UnknownSchedulerError for an unknown name', () => {
    expect(() => createScheduler('nope' as SchedulerName)).toThrow(UnknownSchedulerError);
  });
});

