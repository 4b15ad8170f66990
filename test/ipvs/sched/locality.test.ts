// lblc and lblcr: destination address → dest (set) tables, expired by flow.now.

import { describe, expect, it } from 'vitest';
import { LblcScheduler } from '../../../src/ipvs/sched/lblc.js';
import { LblcrScheduler } from '../../../src/ipvs/sched/lblcr.js';
import { destKey } from '../../../src/ipvs/sched/common.js';
import { dest, flow, NO_FLAGS, overload, type TestDest } from './helpers.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const X = 0xc0a80a01;
const Y = 0xc0a80a02;

const to = (daddr: number, now: number) => flow(0x0a640001, { daddr, now });

describe('lblc', () => {
  function setup() {
    const ds = [dest(0, 2), dest(1, 2), dest(2, 2)];
    const s = new LblcScheduler();
    s.update(ds, NO_FLAGS);
    return { ds, s };
  }

  it('sends a destination address to the wlc choice once, then sticks to it', () => {
    const { ds, s } = setup();
    ds[0]!.inactConns = 5;
    ds[2]!.inactConns = 5;
    expect(s.schedule(ds, to(X, 0))!.id).toBe(1);
    // B gets busier than the others but stays under its weight: X stays.
    ds[1]!.activeConns = 2;
    ds[1]!.inactConns = 50;
    for (let t = 1; t < 20; t++) expect(s.schedule(ds, to(X, t * 1000))!.id).toBe(1);
    // A new address goes by wlc now: A and C tie at 5, A is first.
    expect(s.schedule(ds, to(Y, 30_000))!.id).toBe(0);
  });

  it('moves off a dest with more active conns than weight only while another is under half its weight', () => {
    const { ds, s } = setup();
    expect(s.schedule(ds, to(X, 0))!.id).toBe(0);
    ds[0]!.activeConns = 3; // > weight 2
    ds[1]!.activeConns = 1; // 2*1 < 2 is false
    ds[2]!.activeConns = 1;
    expect(s.schedule(ds, to(X, 1))!.id).toBe(0);
    ds[2]!.activeConns = 0; // 0*2 < 2: somewhere better exists
    expect(s.schedule(ds, to(X, 2))!.id).toBe(2);
    // … and the entry now names C.
    ds[2]!.activeConns = 1;
    expect(s.schedule(ds, to(X, 3))!.id).toBe(2);
  });

  it('re-chooses when the remembered dest is quiesced, flagged overloaded or deleted', () => {
    const { ds, s } = setup();
    expect(s.schedule(ds, to(X, 0))!.id).toBe(0);
    ds[0]!.weight = 0;
    expect(s.schedule(ds, to(X, 1))!.id).toBe(1);
    overload(ds[1]!);
    expect(s.schedule(ds, to(X, 2))!.id).toBe(2);
    const left = [ds[0]!, ds[1]!];
    s.update(left, NO_FLAGS);
    ds[0]!.weight = 2;
    expect(s.schedule(left, to(X, 3))!.id).toBe(0);
  });

  it('finds its dest again after the list is reordered', () => {
    const { ds, s } = setup();
    ds[0]!.inactConns = 9;
    expect(s.schedule(ds, to(X, 0))!.id).toBe(1);
    const reordered = [ds[2]!, ds[1]!, ds[0]!];
    s.update(reordered, NO_FLAGS);
    expect(s.schedule(reordered, to(X, 1))!.id).toBe(1);
  });

  it('forgets an address unused for 24 h at the next 30-minute full check', () => {
    const { ds, s } = setup();
    // The first schedule (t=0) starts the 60 s runs; every 30th is a full check.
    s.schedule(ds, to(Y, 0));
    ds[0]!.inactConns = 5;
    ds[2]!.inactConns = 5;
    expect(s.schedule(ds, to(X, 5 * MIN))!.id).toBe(1);
    ds[1]!.inactConns = 9; // wlc would now pick A
    // Unused for a day, but the full check at 24 h came 5 minutes early.
    expect(s.schedule(ds, to(Y, 24 * HOUR + 10 * MIN))!.id).toBe(0);
    expect(s.table.entries.has(X)).toBe(true);
    // The one at 24 h 30 min collects it.
    expect(s.schedule(ds, to(Y, 24 * HOUR + 31 * MIN))!.id).toBe(0);
    expect(s.table.entries.has(X)).toBe(false);
    expect(s.schedule(ds, to(X, 24 * HOUR + 32 * MIN))!.id).toBe(0);
  });

  it('keeps an address that was used within the expiration', () => {
    const { ds, s } = setup();
    expect(s.schedule(ds, to(X, 0))!.id).toBe(0);
    ds[0]!.inactConns = 9;
    expect(s.schedule(ds, to(X, 20 * HOUR))!.id).toBe(0);
    expect(s.schedule(ds, to(X, 40 * HOUR))!.id).toBe(0);
  });

  it('collects entries idle for 6 minutes when the table grows past its limit', () => {
    const ds = [dest(0, 1)];
    const s = new LblcScheduler({ maxEntries: 4 });
    s.update(ds, NO_FLAGS);
    for (let i = 1; i <= 10; i++) s.schedule(ds, to(i, i));
    // From 7 minutes on, each minute's run drops up to max/2 = 2 stale entries
    // while the table is over 4.
    s.schedule(ds, to(10, 20 * MIN));
    expect([...s.table.entries.keys()].sort((a, b) => Number(a) - Number(b))).toEqual([7, 8, 9, 10]);
  });

  it('takes the expiration from its options', () => {
    const ds = [dest(0, 1), dest(1, 1)];
    const s = new LblcScheduler({ expirationMs: HOUR });
    s.update(ds, NO_FLAGS);
    s.schedule(ds, to(X, 0));
    s.schedule(ds, to(Y, 90 * MIN)); // the 30th run, at 30 min, is too early; the 60th, at 60 min, is exactly 1 h
    expect(s.table.entries.has(X)).toBe(false);
  });
});

describe('lblcr', () => {
  function setup(expirationMs?: number) {
    const ds = [dest(0, 2), dest(1, 2), dest(2, 2)];
    const s = new LblcrScheduler({ expirationMs });
    s.update(ds, NO_FLAGS);
    return { ds, s };
  }
  const keys = (...d: TestDest[]) => d.map(destKey);

  it('starts a set with the wlc choice and serves from it while it is not overloaded', () => {
    const { ds, s } = setup();
    expect(s.schedule(ds, to(X, 0))!.id).toBe(0);
    ds[0]!.inactConns = 50;
    expect(s.schedule(ds, to(X, 1))!.id).toBe(0);
    expect(s.serverSet(X)).toEqual(keys(ds[0]!));
  });

  it('replicates: an overloaded member brings the wlc-least dest into the set', () => {
    const { ds, s } = setup();
    expect(s.schedule(ds, to(X, 0))!.id).toBe(0);
    ds[0]!.activeConns = 3;
    expect(s.schedule(ds, to(X, 1))!.id).toBe(1);
    expect(s.serverSet(X)).toEqual(keys(ds[1]!, ds[0]!));
    // The set's wlc-least member serves now: B (0 conns) over A.
    expect(s.schedule(ds, to(X, 2))!.id).toBe(1);
    ds[1]!.activeConns = 1;
    ds[0]!.activeConns = 1;
    // Equal load: the newest member comes first and wins the tie.
    expect(s.schedule(ds, to(X, 3))!.id).toBe(1);
  });

  it('sheds the most loaded member once the set has not changed for the expiration', () => {
    const { ds, s } = setup(10 * MIN);
    s.schedule(ds, to(X, 0));
    ds[0]!.activeConns = 3;
    s.schedule(ds, to(X, 1)); // set {B, A}, lastmod 1
    ds[0]!.activeConns = 2;
    expect(s.schedule(ds, to(X, 5 * MIN))!.id).toBe(1);
    expect(s.serverSet(X)).toHaveLength(2);
    // After 10 minutes without change A, the heavier, leaves; B serves.
    expect(s.schedule(ds, to(X, 10 * MIN + 2))!.id).toBe(1);
    expect(s.serverSet(X)).toEqual(keys(ds[1]!));
  });

  it('skips members that left the list or are quiesced', () => {
    const { ds, s } = setup();
    s.schedule(ds, to(X, 0));
    ds[0]!.activeConns = 3;
    s.schedule(ds, to(X, 1)); // {B, A}
    ds[0]!.activeConns = 0;
    ds[1]!.activeConns = 1;
    expect(s.schedule(ds, to(X, 2))!.id).toBe(0);
    const left = [ds[1]!, ds[2]!];
    s.update(left, NO_FLAGS);
    expect(s.schedule(left, to(X, 3))!.id).toBe(1);
    ds[1]!.weight = 0;
    expect(s.schedule(left, to(X, 4))!.id).toBe(2);
    expect(s.serverSet(X)).toEqual(keys(ds[2]!, ds[1]!, ds[0]!));
  });
});
