// sh, dh and mh: bucket/slot tables built from the dest list, looked up by hash.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ShScheduler, SH_TAB_SIZE } from '../../../src/ipvs/sched/sh.js';
import { DhScheduler } from '../../../src/ipvs/sched/dh.js';
import { MhScheduler, MH_PRIMES } from '../../../src/ipvs/sched/mh.js';
import { hash32 } from '../../../src/ipvs/sched/common.js';
import { hsiphashShort } from '../../../src/ipvs/sched/hsiphash.js';
import type { SchedFlags } from '../../../src/ipvs/sched/scheduler.js';
import { dest, flow, NO_FLAGS, overload, seeded, type TestDest } from './helpers.js';

const FALLBACK: SchedFlags = { fallback: true, port: false };
const PORT: SchedFlags = { fallback: false, port: true };

function randomKeys(n: number, seed: number): number[] {
  const r = seeded(seed);
  return Array.from({ length: n }, () => Math.floor(r() * 2 ** 32));
}

/** Share of table entries held by each dest index. */
function shares(s: { destIndexAt(i: number): number }, size: number, n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (let i = 0; i < size; i++) c[s.destIndexAt(i)]!++;
  return c;
}

describe('hash_32', () => {
  it('is the kernel multiplicative hash: top bits of val * 0x61C88647 mod 2^32', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 31 }), (v, bits) => {
        const ref = Number(((BigInt(v) * 0x61c88647n) & 0xffffffffn) >> BigInt(32 - bits));
        expect(hash32(v, bits)).toBe(ref);
      }),
    );
  });
});

describe('hsiphash', () => {
  it('matches the kernel self-test vectors for 0..4 bytes (lib/siphash_kunit.c, 64-bit)', () => {
    // Key bytes 00..0f; message bytes 00, 01, 02, … as in the kernel test.
    const vectors = [0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328];
    const data = [0, 0x00, 0x0100, 0x020100, 0x03020100];
    vectors.forEach((v, len) => {
      expect(hsiphashShort(data[len]!, len, 0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c)).toBe(v);
    });
  });
});

describe('sh', () => {
  it('deals max(weight, 1) consecutive buckets per dest, round after round', () => {
    const ds = [dest(0, 1), dest(1, 2), dest(2, 5)];
    const s = new ShScheduler();
    s.update(ds, NO_FLAGS);
    expect(shares(s, SH_TAB_SIZE, 3)).toEqual([32, 64, 160]);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map((b) => s.destIndexAt(b))).toEqual([0, 1, 1, 2, 2, 2, 2, 2, 0]);
    // A quiesced dest keeps one bucket per round, so the others do not move.
    ds[1]!.weight = 0;
    s.update(ds, NO_FLAGS);
    expect(shares(s, SH_TAB_SIZE, 3)).toEqual([37, 37, 182]);
  });

  it('maps a client to bucket hash_32(saddr, 8), the same one on every call and update', () => {
    const ds = [dest(0, 1), dest(1, 1), dest(2, 1)];
    const s = new ShScheduler();
    s.update(ds, NO_FLAGS);
    for (const saddr of randomKeys(500, 1)) {
      const bucket = Number(((BigInt(saddr) * 0x61c88647n) & 0xffffffffn) >> 24n);
      const d = s.schedule(ds, flow(saddr));
      expect(d).toBe(ds[s.destIndexAt(bucket)]);
      s.update(ds, NO_FLAGS);
      expect(s.schedule(ds, flow(saddr, { sport: 1234 }))).toBe(d);
    }
  });

  it('adds the source port to the key with sh-port (TCP/UDP/SCTP only)', () => {
    const ds = [dest(0, 1), dest(1, 1), dest(2, 1), dest(3, 1)];
    const s = new ShScheduler();
    s.update(ds, PORT);
    const saddr = 0xc0000201;
    const seen = new Set<number>();
    for (let sport = 1024; sport < 1100; sport++) {
      const d = s.schedule(ds, flow(saddr, { sport }))!;
      expect(d).toBe(ds[s.destIndexAt(hash32((saddr + sport) >>> 0, 8))]);
      seen.add(d.id);
    }
    expect(seen.size).toBe(4);
    const icmp = new Set<number>();
    for (let sport = 1024; sport < 1100; sport++) icmp.add(s.schedule(ds, flow(saddr, { sport, protocol: 1 }))!.id);
    expect(icmp.size).toBe(1);
  });

  it('without sh-fallback an unusable bucket dest means no dest; with it, another usable one', () => {
    const ds = [dest(0, 1), dest(1, 1), dest(2, 1)];
    const plain = new ShScheduler();
    const fb = new ShScheduler();
    plain.update(ds, NO_FLAGS);
    fb.update(ds, FALLBACK);
    overload(ds[1]!);
    let hitDown = 0;
    for (const saddr of randomKeys(300, 2)) {
      const home = ds[plain.destIndexAt(hash32(saddr, 8))]!;
      const p = plain.schedule(ds, flow(saddr));
      const f = fb.schedule(ds, flow(saddr))!;
      if (home.id === 1) {
        hitDown++;
        expect(p).toBeNull();
        expect(f.id).not.toBe(1);
        expect(fb.schedule(ds, flow(saddr))).toBe(f);
      } else {
        expect(p).toBe(home);
        expect(f).toBe(home);
      }
    }
    expect(hitDown).toBeGreaterThan(50);
  });
});

describe('dh', () => {
  it('keys by destination address and ignores weights', () => {
    const ds = [dest(0, 1), dest(1, 9), dest(2, 3)];
    const s = new DhScheduler();
    s.update(ds, NO_FLAGS);
    expect(shares(s, 256, 3)).toEqual([86, 85, 85]);
    for (const daddr of randomKeys(200, 3)) {
      const d = s.schedule(ds, flow(1, { daddr }));
      expect(d).toBe(ds[s.destIndexAt(hash32(daddr, 8))]);
      expect(s.schedule(ds, flow(0xdeadbeef, { daddr, sport: 9 }))).toBe(d);
    }
  });

  it('gives no dest when the bucket dest is quiesced', () => {
    const ds = [dest(0, 1), dest(1, 1)];
    const s = new DhScheduler();
    s.update(ds, NO_FLAGS);
    ds[0]!.weight = 0;
    for (const daddr of randomKeys(100, 4)) {
      const home = s.destIndexAt(hash32(daddr, 8));
      expect(s.schedule(ds, flow(1, { daddr }))).toBe(home === 0 ? null : ds[1]);
    }
  });
});

describe('mh', () => {
  const KEYS = randomKeys(20_000, 5);

  function mapping(s: MhScheduler, ds: TestDest[]): (number | null)[] {
    return KEYS.map((k) => s.schedule(ds, flow(k))?.id ?? null);
  }

  it('fills every slot of the 4093-slot table, and only with dests of non-zero weight', () => {
    const ds = [dest(0, 1), dest(1, 1), dest(2, 1)];
    const s = new MhScheduler();
    expect(s.tableSize).toBe(4093);
    s.update(ds, NO_FLAGS);
    const c = shares(s, 4093, 3);
    expect(c.reduce((a, b) => a + b)).toBe(4093);
    c.forEach((x) => expect(Math.abs(x - 4093 / 3)).toBeLessThanOrEqual(1));
  });

  it('is stable for a key across calls, updates with the same dests, and instances', () => {
    const ds = Array.from({ length: 7 }, (_, i) => dest(i, 1 + (i % 3)));
    const a = new MhScheduler();
    const b = new MhScheduler();
    a.update(ds, NO_FLAGS);
    b.update(ds, NO_FLAGS);
    const first = mapping(a, ds);
    a.update(ds, NO_FLAGS);
    expect(mapping(a, ds)).toEqual(first);
    expect(mapping(b, ds)).toEqual(first);
    expect(first.every((x) => x !== null)).toBe(true);
  });

  it.each([5, 10, 20])('removing one of %i dests remaps about 1/N of the keys', (n) => {
    const ds = Array.from({ length: n }, (_, i) => dest(i, 1));
    const s = new MhScheduler();
    s.update(ds, NO_FLAGS);
    const before = mapping(s, ds);
    const gone = 2;
    const rest = ds.filter((d) => d.id !== gone);
    s.update(rest, NO_FLAGS);
    const after = mapping(s, rest);
    let moved = 0;
    let survivorsMoved = 0;
    let survivors = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] !== after[i]) moved++;
      if (before[i] !== gone) {
        survivors++;
        if (before[i] !== after[i]) survivorsMoved++;
      }
    }
    expect(moved / KEYS.length).toBeLessThan(1 / n + 0.03);
    expect(survivorsMoved / survivors).toBeLessThan(0.03);
    // Putting it back restores the original table.
    s.update(ds, NO_FLAGS);
    expect(mapping(s, ds)).toEqual(before);
  });

  it('shapes slot shares by weight', () => {
    const ws = [1, 2, 3, 4];
    const ds = ws.map((w, i) => dest(i, w));
    const s = new MhScheduler();
    s.update(ds, NO_FLAGS);
    const c = shares(s, 4093, 4);
    c.forEach((x, i) => expect(Math.abs(x / 4093 - ws[i]! / 10)).toBeLessThan(0.005));
  });

  it('reduces weights by their gcd and shifts large ones into IP_VS_MH_TAB_BITS', () => {
    // gcd 100 → turns 1 and 3.
    const s = new MhScheduler();
    s.update([dest(0, 100), dest(1, 300)], NO_FLAGS);
    expect(shares(s, 4093, 2)[0]! / 4093).toBeCloseTo(0.25, 2);
    // 1 and 1000: fls(1000) = 10, shift 4 → turns 1 (at least one) and 62.
    s.update([dest(0, 1), dest(1, 1000)], NO_FLAGS);
    expect(shares(s, 4093, 2)[0]! / 4093).toBeCloseTo(1 / 63, 3);
  });

  it('keeps a quiesced dest in the table: its keys get none (or a fallback), nobody else moves', () => {
    const ds = Array.from({ length: 6 }, (_, i) => dest(i, 1));
    const s = new MhScheduler();
    s.update(ds, NO_FLAGS);
    const before = mapping(s, ds);
    ds[3]!.weight = 0;
    s.update(ds, NO_FLAGS);
    const after = mapping(s, ds);
    for (let i = 0; i < KEYS.length; i++) expect(after[i]).toBe(before[i] === 3 ? null : before[i]);

    s.update(ds, FALLBACK);
    const fb = mapping(s, ds);
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] === 3) expect(fb[i]).not.toBeNull();
      else expect(fb[i]).toBe(before[i]);
    }
    expect(fb.includes(3)).toBe(false);

    // Back to weight 1: the same table as before.
    ds[3]!.weight = 1;
    s.update(ds, NO_FLAGS);
    expect(mapping(s, ds)).toEqual(before);
  });

  it('gives a dest added with weight 0 no slots (its last_weight is 0)', () => {
    const ds = Array.from({ length: 4 }, (_, i) => dest(i, 1));
    const s = new MhScheduler();
    s.update(ds, NO_FLAGS);
    const before = mapping(s, ds);
    const more = [...ds, dest(4, 0)];
    s.update(more, NO_FLAGS);
    expect(mapping(s, more)).toEqual(before);
  });

  it('an overloaded dest also falls back without moving other keys', () => {
    const ds = Array.from({ length: 5 }, (_, i) => dest(i, 1));
    const s = new MhScheduler();
    s.update(ds, FALLBACK);
    const before = mapping(s, ds);
    overload(ds[0]!);
    const after = mapping(s, ds);
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] === 0) expect(after[i]).not.toBe(0);
      else expect(after[i]).toBe(before[i]);
    }
  });

  it('spreads one client over dests by source port with mh-port', () => {
    const ds = Array.from({ length: 4 }, (_, i) => dest(i, 1));
    const s = new MhScheduler();
    s.update(ds, PORT);
    const seen = new Set<number>();
    for (let sport = 1024; sport < 1200; sport++) seen.add(s.schedule(ds, flow(0x0a0a0a0a, { sport }))!.id);
    expect(seen.size).toBe(4);
    s.update(ds, NO_FLAGS);
    const one = new Set<number>();
    for (let sport = 1024; sport < 1200; sport++) one.add(s.schedule(ds, flow(0x0a0a0a0a, { sport }))!.id);
    expect(one.size).toBe(1);
  });

  it('takes any of the kernel primes as table size and refuses others', () => {
    for (const p of MH_PRIMES.slice(0, 4)) {
      const s = new MhScheduler({ tableSize: p });
      s.update([dest(0, 1), dest(1, 1)], NO_FLAGS);
      expect(shares(s, p, 2).reduce((a, b) => a + b)).toBe(p);
    }
    expect(() => new MhScheduler({ tableSize: 4096 })).toThrow(RangeError);
  });
});
