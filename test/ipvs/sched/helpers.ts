import { DEST_F_AVAILABLE, DEST_F_OVERLOAD, type SchedDest, type SchedFlags, type SchedFlow } from '../../../src/ipvs/sched/scheduler.js';

/** The engine's dests are live objects whose counters move; tests mutate them too. */
export interface TestDest {
  id: number;
  addr: number;
  port: number;
  weight: number;
  activeConns: number;
  inactConns: number;
  persistConns: number;
  flags: number;
  uThreshold: number;
}

export function dest(id: number, weight: number, extra: Partial<TestDest> = {}): TestDest {
  return {
    id,
    addr: (0x0a000000 + id + 1) >>> 0, // 10.0.0.(id+1)
    port: 80,
    weight,
    activeConns: 0,
    inactConns: 0,
    persistConns: 0,
    flags: DEST_F_AVAILABLE,
    uThreshold: 0,
    ...extra,
  };
}

export function overload(d: TestDest, on = true): void {
  d.flags = on ? d.flags | DEST_F_OVERLOAD : d.flags & ~DEST_F_OVERLOAD;
}

export function flow(saddr: number, extra: Partial<SchedFlow> = {}): SchedFlow {
  return { saddr: saddr >>> 0, sport: 40000, daddr: 0xc0a80001, dport: 80, protocol: 6, now: 0, ...extra };
}

export const NO_FLAGS: SchedFlags = { fallback: false, port: false };

export function usable(d: SchedDest): boolean {
  return d.weight > 0 && (d.flags & DEST_F_OVERLOAD) === 0;
}

/** Deterministic [0,1) stream (mulberry32) for twos and for key generation. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
