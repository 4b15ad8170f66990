import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Estimator } from '../../src/ipvs/est.js';
import { dest, engine, send, svc, udp, udpKey } from './helpers.js';

/** ip_vs_est.c in s64 arithmetic, with BigInt's floor shifts. */
function reference(deltas: bigint[][]): bigint[][] {
  const last = [0n, 0n, 0n, 0n, 0n];
  const avg = [0n, 0n, 0n, 0n, 0n];
  const cur = [0n, 0n, 0n, 0n, 0n];
  const reads: bigint[][] = [];
  for (const d of deltas) {
    for (let i = 0; i < 5; i++) {
      cur[i]! += d[i]!;
      const rate = (cur[i]! - last[i]!) << (i < 3 ? 9n : 4n);
      last[i] = cur[i]!;
      avg[i]! += (rate - avg[i]!) >> 2n;
    }
    reads.push([
      (avg[0]! + 0x1ffn) >> 10n, (avg[1]! + 0x1ffn) >> 10n, (avg[2]! + 0x1ffn) >> 10n,
      (avg[3]! + 0xfn) >> 5n, (avg[4]! + 0xfn) >> 5n,
    ]);
  }
  return reads;
}

describe('rate estimator (ip_vs_est.c)', () => {
  it('first periods of a steady 1000 pps / 1 MB/s stream, by hand', () => {
    const e = new Estimator();
    const c = new Float64Array(5);
    const reads = [];
    for (let k = 0; k < 3; k++) {
      c[0]! += 20; c[1]! += 2000; c[3]! += 2_000_000;
      e.estimate(c);
      reads.push(e.read());
    }
    // avg1 = 1024000/4 = 256000 → (256000+511)>>10 = 250; avg2 = 256000 + (1024000-256000)/4 = 448000 → 437
    expect(reads.map((r) => r.inpps)).toEqual([250, 437, 578]);
    expect(reads.map((r) => r.cps)).toEqual([2, 4, 6]);
    // bytes: rate = 2e6 << 4 = 32e6, avg1 = 8e6 → (8e6+15)>>5 = 250000
    expect(reads[0]!.inbps).toBe(250000);
    for (let k = 0; k < 100; k++) { c[1]! += 2000; c[3]! += 2_000_000; e.estimate(c); }
    expect(e.read().inpps).toBe(1000);
    expect(e.read().inbps).toBe(1_000_000);
  });

  it('matches an s64 reference on random traffic, including decay to zero', () => {
    fc.assert(fc.property(
      fc.array(fc.array(fc.bigInt({ min: 0n, max: 1n << 36n }), { minLength: 5, maxLength: 5 }), { maxLength: 40 }),
      fc.nat(10),
      (deltas, idle) => {
        const all = [...deltas, ...Array.from({ length: idle }, () => [0n, 0n, 0n, 0n, 0n])];
        const ref = reference(all);
        const e = new Estimator();
        const c = new Float64Array(5);
        all.forEach((d, k) => {
          for (let i = 0; i < 5; i++) c[i]! += Number(d[i]!);
          e.estimate(c);
          const r = e.read();
          expect([r.cps, r.inpps, r.outpps, r.inbps, r.outbps]).toEqual(ref[k]!.map(Number));
        });
      },
    ), { numRuns: 300 });
  });

  it('the engine estimates every 2 s of tick() and zero() resets rates', () => {
    const e = engine();
    e.addService(svc(udpKey()));
    e.addDest(udpKey(), dest('192.168.1.10', 53));
    e.tick(0);
    for (let s = 0; s < 20; s++) {
      for (let p = 0; p < 100; p++) send(e, udp({ srcPort: 1000 + p, payload: 'x' }), s * 1000);
      e.tick((s + 1) * 1000);
    }
    const st = e.listServices()[0]!;
    expect(st.rates.inpps).toBeGreaterThan(90);
    expect(st.rates.inpps).toBeLessThanOrEqual(100);
    expect(st.dests[0]!.rates.inbps).toBe(st.rates.inbps);
    expect(st.stats.inbytes).toBe(2000 * 29);
    e.zero();
    const z = e.listServices()[0]!;
    expect(z.rates).toEqual({ cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
    expect(z.stats.inpkts).toBe(0);
  });
});
