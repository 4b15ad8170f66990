import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConnTable, C_EXPIRE, CF_OUT_HASHED, TICK_MS, WHEEL_BITS } from '../../src/ipvs/conn.js';
import { mulberry } from './helpers.js';

function table(cap = 64, bits = 4) {
  return new ConnTable(bits, cap, mulberry(3));
}

describe('ConnTable', () => {
  it('finds conns in both directions, and only by their exact keys', () => {
    const t = table();
    const a = t.insert(6, 0x0a000001, 40000, 0x0a000064, 80, 0xc0a8010a, 8080, CF_OUT_HASHED, 0, 100);
    const b = t.insert(6, 0x0a000002, 40000, 0x0a000064, 80, 0xc0a8010a, 8080, 0, 0, 100);
    expect(t.findIn(6, 0x0a000001, (40000 << 16 | 80) >>> 0, 0x0a000064)).toBe(a);
    expect(t.findIn(17, 0x0a000001, (40000 << 16 | 80) >>> 0, 0x0a000064)).toBe(-1);
    expect(t.findIn(6, 0x0a000001, (40001 << 16 | 80) >>> 0, 0x0a000064)).toBe(-1);
    expect(t.findOut(6, 0xc0a8010a, 8080, 0x0a000001, 40000)).toBe(a);
    // b is not NAT: not on the out chains.
    expect(t.findOut(6, 0xc0a8010a, 8080, 0x0a000002, 40000)).toBe(-1);
    expect(t.findIn(6, 0x0a000002, (40000 << 16 | 80) >>> 0, 0x0a000064)).toBe(b);
    t.remove(a);
    expect(t.findIn(6, 0x0a000001, (40000 << 16 | 80) >>> 0, 0x0a000064)).toBe(-1);
    expect(t.findOut(6, 0xc0a8010a, 8080, 0x0a000001, 40000)).toBe(-1);
    expect(t.count).toBe(1);
    // The freed slot is reused.
    expect(t.insert(6, 9, 1, 9, 1, 9, 1, 0, 0, 100)).toBe(a);
  });

  it('is bounded', () => {
    const t = table(3);
    for (let k = 0; k < 3; k++) expect(t.insert(6, k + 1, 1, 1, 1, 1, 1, 0, 0, 10)).toBe(k);
    expect(t.insert(6, 9, 1, 1, 1, 1, 1, 0, 0, 10)).toBe(-1);
    expect(t.full()).toBe(true);
  });

  it('expires by the wheel: extended deadlines wait, shortened ones fire on time, beyond one turn too', () => {
    const t = table();
    const span = 1 << WHEEL_BITS;
    const a = t.insert(6, 1, 1, 1, 1, 1, 1, 0, 0, 10);
    const b = t.insert(6, 2, 1, 1, 1, 1, 1, 0, 0, 10);
    const c = t.insert(6, 3, 1, 1, 1, 1, 1, 0, 0, 1000);
    const d = t.insert(6, 4, 1, 1, 1, 1, 1, 0, 0, span * 2 + 5);
    t.setExpire(b, 50); // extended: stays in slot 10 until visited
    t.setExpire(c, 20); // shortened: relinked
    const gone: number[] = [];
    const due = (i: number) => { gone.push(i); t.remove(i); return true; };
    t.advance(9, due);
    expect(gone).toEqual([]);
    t.advance(10, due);
    expect(gone).toEqual([a]);
    t.advance(20, due);
    expect(gone).toEqual([a, c]);
    t.advance(49, due);
    expect(gone).toEqual([a, c]);
    t.advance(50, due);
    expect(gone).toEqual([a, c, b]);
    t.advance(span + 100, due);
    expect(gone).toEqual([a, c, b]);
    // A long sleep: one pass over the wheel still finds it.
    t.advance(span * 5, due);
    expect(gone).toEqual([a, c, b, d]);
    expect(t.count).toBe(0);
    expect(TICK_MS).toBe(64);
  });

  it('re-arms entries whose handler declines to remove them', () => {
    const t = table();
    const a = t.insert(6, 1, 1, 1, 1, 1, 1, 0, 0, 10);
    let calls = 0;
    t.advance(10, (i) => { calls++; t.u[(i << 4) + C_EXPIRE] = 30; return false; });
    expect(t.count).toBe(1);
    t.advance(29, () => { throw new Error('early'); });
    t.advance(30, (i) => { expect(i).toBe(a); t.remove(i); return true; });
    expect(calls).toBe(1);
    expect(t.count).toBe(0);
  });

  it('property: agrees with a Map model under random inserts, removes, refreshes and expiry', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(3), fc.nat(40), fc.nat(300)), { maxLength: 300 }), (ops) => {
      const t = table(48, 3);
      const model = new Map<number, { slot: number; expire: number }>();
      let now = 0;
      for (const [op, key, val] of ops) {
        if (op === 0 && !model.has(key)) {
          const slot = t.insert(17, key + 1, 7, 100, 53, 200, 53, key % 2 ? CF_OUT_HASHED : 0, 0, now + 1 + val);
          if (model.size >= 48) expect(slot).toBe(-1);
          else model.set(key, { slot, expire: now + 1 + val });
        } else if (op === 1 && model.has(key)) {
          t.remove(model.get(key)!.slot);
          model.delete(key);
        } else if (op === 2 && model.has(key)) {
          const m = model.get(key)!;
          m.expire = now + 1 + val;
          t.setExpire(m.slot, m.expire);
        } else if (op === 3) {
          now += val % 50;
          t.advance(now, (i) => { t.remove(i); return true; });
          for (const [k, m] of model) if (m.expire <= now) model.delete(k);
        }
        expect(t.count).toBe(model.size);
        for (const [k, m] of model) {
          expect(t.findIn(17, k + 1, (7 << 16 | 53) >>> 0, 100)).toBe(m.slot);
          expect(t.findOut(17, 200, 53, k + 1, 7)).toBe(k % 2 ? m.slot : -1);
        }
      }
    }), { numRuns: 200 });
  });
});
