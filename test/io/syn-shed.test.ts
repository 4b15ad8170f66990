// SYN shedding: the BPF gate (judged by the classic-BPF interpreter; the
// kernel judges it in test/lab/native.test.ts) and the controller that
// decides the share of SYNs to let through from the rings' counters.
import { describe, expect, it } from 'vitest';
import { SKF_AD_OFF, SKF_AD_RANDOM, acceptAll, compileFilter, synGate } from '../../src/io/bpf.js';
import { CALM_TICKS, MIN_ACCEPT, SynShed, type ShedSample } from '../../src/io/syn-shed.js';
import { buildTcpFrame, buildUdpFrame } from '../packet/build/frame.js';
import { runBpf } from './bpf-interp.js';
import { RULES, VIP, CLIENT } from './native-bpf-cases.js';

const RANDOM_K = (SKF_AD_OFF + SKF_AD_RANDOM) >>> 0;

/** runBpf with SKF_AD_RANDOM answered by `rand` (other ancillary loads are not used by lvsd). */
const judge = (prog: Uint32Array, pkt: Uint8Array, rand: () => number): number =>
  runBpf(prog, pkt, (k) => { if (k !== RANDOM_K) throw new Error(`unexpected ancillary load ${k.toString(16)}`); return rand() >>> 0; });

describe('synGate', () => {
  const base = compileFilter(RULES);
  const syn = buildTcpFrame({ src: CLIENT, dst: VIP, dstPort: 80, flags: 'S' });

  it('returns the program itself when every SYN is let through', () => {
    expect(synGate(base, 1)).toBe(base);
    expect(synGate(base, 2)).toBe(base);
  });

  it('lets a pure SYN through exactly when the random word is at most the threshold', () => {
    const g = synGate(base, 0.25);
    expect(judge(g, syn, () => 0)).toBeGreaterThan(0);
    expect(judge(g, syn, () => 2 ** 30 - 1)).toBeGreaterThan(0); // 0.25 * 2^32 - 1
    expect(judge(g, syn, () => 2 ** 30)).toBe(0);
    expect(judge(g, syn, () => 0xffffffff)).toBe(0);
  });

  it('never touches anything but a pure SYN, and never asks for a random word for it', () => {
    const g = synGate(base, MIN_ACCEPT);
    const never = (): number => { throw new Error('the gate drew a random word for a frame it must pass'); };
    for (const flags of ['A', 'SA', 'R', 'RA', 'F', 'FA', 'PA', 'SR', 'SF']) {
      const f = buildTcpFrame({ src: CLIENT, dst: VIP, dstPort: 80, flags });
      expect(judge(g, f, never), flags).toBe(runBpf(base, f));
    }
    const udp = buildUdpFrame({ src: CLIENT, dst: VIP, dstPort: 53 });
    expect(judge(g, udp, never)).toBe(runBpf(base, udp));
    // A non-first fragment's bytes at the TCP flags offset are payload, not flags.
    const frag = buildTcpFrame({ src: CLIENT, dst: VIP, dstPort: 80, flags: 'S' });
    frag[20] = 0x00; frag[21] = 0x10; // fragment offset 16 (128 bytes)
    expect(judge(g, frag, never)).toBe(runBpf(base, frag));
  });

  it('with an IP header carrying options, reads the flags behind them (IHL)', () => {
    const g = synGate(acceptAll(), 0.5);
    const withOptions = (f: Uint8Array): Uint8Array => {
      const out = new Uint8Array(f.length + 4);
      out.set(f.subarray(0, 34));
      out.set([1, 1, 1, 1], 34); // four NOP options: IHL 6
      out.set(f.subarray(34), 38);
      out[14] = 0x46;
      return out;
    };
    const syn6 = withOptions(syn);
    const ack6 = withOptions(buildTcpFrame({ src: CLIENT, dst: VIP, dstPort: 80, flags: 'A' }));
    expect(judge(g, syn6, () => 0xffffffff)).toBe(0);
    expect(judge(g, syn6, () => 0)).toBeGreaterThan(0);
    expect(judge(g, ack6, () => { throw new Error('an ACK drew a random word'); })).toBeGreaterThan(0);
  });

  it('the share let through matches `accept` over many random words', () => {
    let seed = 12345;
    const rand = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return Math.imul(seed ^ (seed >>> 15), 2246822519) >>> 0; };
    for (const accept of [0.5, 0.125, 1 / 64]) {
      const g = synGate(acceptAll(), accept);
      let passed = 0;
      const n = 40_000;
      for (let i = 0; i < n; i++) if (judge(g, syn, rand) > 0) passed++;
      const sd = Math.sqrt(n * accept * (1 - accept));
      expect(Math.abs(passed - n * accept), `accept ${accept}`).toBeLessThan(6 * sd);
    }
  });
});

describe('SynShed', () => {
  /**
   * Feeds `ticks` samples 100 ms apart; per tick `arrive` frames are offered, of which `newShare` are
   * SYNs of new connections; the gate lets `accept` of those through, lvsd walks up to `walk`.
   */
  function drive(shed: SynShed, s: ShedSample & { t: number }, ticks: number, arrive: number, walk: number, newShare: number, ringCap = 50_000): number[] {
    const out: number[] = [];
    for (let i = 0; i < ticks; i++) {
      s.t += 100;
      const syns = arrive * newShare;
      const passing = arrive - syns + syns * shed.accept;
      const queued = s.packets - s.drops - s.walked;
      const room = Math.max(0, ringCap - queued);
      const taken = Math.min(passing, room);
      s.packets += passing;
      s.drops += passing - taken;
      const w = Math.min(walk, queued + taken);
      s.walked += w;
      s.created += Math.round(w * ((syns * shed.accept) / Math.max(1, passing)));
      shed.update({ ...s, ringFrames: ringCap }, s.t);
      out.push(shed.accept);
    }
    return out;
  }
  const fresh = (): ShedSample & { t: number } => ({ packets: 0, drops: 0, walked: 0, created: 0, t: 0 });

  it('stays open while lvsd keeps up', () => {
    const shed = new SynShed();
    const acc = drive(shed, fresh(), 50, 10_000, 14_000, 0.5);
    expect(acc.every((a) => a === 1)).toBe(true);
  });

  it('halves the share while a flood of new connections keeps the ring behind, and holds it low (never doubles it back)', () => {
    const shed = new SynShed();
    const acc = drive(shed, fresh(), 30, 47_000, 14_000, 0.9);
    expect(Math.min(...acc)).toBeLessThan(0.5);
    // Behind: at least a halving; caught up: growth by a half or a quarter. Never the doubling kept for overloads that are not SYNs.
    for (let i = 1; i < acc.length; i++) {
      if (acc[i] === acc[i - 1]) continue;
      const r = +(acc[i]! / acc[i - 1]!).toFixed(9);
      if (r < 1) expect(r).toBeLessThanOrEqual(0.5);
      else expect([1.25, 1.5]).toContain(r);
    }
    const sh2 = new SynShed();
    const acc2 = drive(sh2, fresh(), 200, 1_000_000, 14_000, 0.99);
    expect(Math.min(...acc2)).toBe(MIN_ACCEPT);
    expect(Math.max(...acc2.slice(50))).toBeLessThan(1 / 32);
    expect(sh2.shedTicks).toBeGreaterThan(150);
  });

  it('under a steady flood it settles where the ring keeps up: established frames are rarely lost', () => {
    // lvsd walks 14k frames a tick; 5k are established traffic; a flood offers 60k SYNs a tick.
    const shed = new SynShed();
    const s = fresh();
    let lostEstablished = 0, offeredEstablished = 0, behindTicks = 0;
    const ringCap = 20_000;
    for (let t = 0; t < 300; t++) {
      s.t += 100;
      const est = 5_000, syns = 60_000 * shed.accept;
      const queued = s.packets - s.drops - s.walked;
      const room = Math.max(0, ringCap - queued);
      const arriving = est + syns;
      const taken = Math.min(arriving, room);
      s.packets += arriving;
      s.drops += arriving - taken;
      if (t >= 50) { offeredEstablished += est; lostEstablished += est * (arriving - taken) / arriving; if (arriving > taken) behindTicks++; }
      const w = Math.min(14_000, queued + taken);
      s.walked += w;
      s.created += Math.round(w * (syns / arriving));
      shed.update({ ...s, ringFrames: ringCap }, s.t);
    }
    expect(shed.capacity).toBeGreaterThan(100); // 14k frames per 100 ms, measured
    expect(lostEstablished / offeredEstablished).toBeLessThan(0.05);
    // It holds there, probing upwards now and then (each probe that overshoots costs a tick or two of drops).
    expect(behindTicks).toBeLessThan(10);
    // It let through about what fits: 80 % of 14k minus 5k established, of 60k SYNs.
    expect(shed.accept).toBeGreaterThan(0.05);
    expect(shed.accept).toBeLessThan(0.3);
  });

  it('a backlog that stays under half the ring (lvsd descheduled a moment) is not an overload', () => {
    const shed = new SynShed();
    const s = fresh();
    // Every tick 3000 frames, half of them new connections, and 1500 still waiting at the tick: no drops.
    for (let t = 0; t < 50; t++) {
      s.t += 100; s.packets += 3000; s.walked += 3000; s.created += 1500;
      const d = shed.update({ ...s, walked: s.walked - 1500, ringFrames: 4096 }, s.t);
      expect(d).toBeUndefined();
    }
    expect(shed.accept).toBe(1);
  });

  it('does not turn SYNs away when what overloads lvsd is established traffic', () => {
    const shed = new SynShed();
    const acc = drive(shed, fresh(), 30, 47_000, 14_000, 0.001);
    expect(acc.every((a) => a === 1)).toBe(true);
  });

  it('an overload that is not new connections (a UDP blast after a burst of new flows) lets every SYN through again', () => {
    const shed = new SynShed();
    const s = fresh();
    drive(shed, s, 10, 200_000, 14_000, 0.95);
    expect(shed.accept).toBeLessThan(0.05);
    // The SYN flood turns into a flood of established (or UDP) traffic: still behind, but SYNs are not why.
    const acc = drive(shed, s, 30, 200_000, 14_000, 0);
    expect(acc[acc.length - 1]).toBe(1);
    // It recovers while behind, within a few ticks, not only after calm ones.
    expect(acc.indexOf(1)).toBeLessThan(12);
  });

  it('once the flood is over, grows the share back to every SYN after calm ticks', () => {
    const shed = new SynShed();
    const s = fresh();
    drive(shed, s, 40, 200_000, 14_000, 0.95);
    const low = shed.accept;
    expect(low).toBeLessThan(0.05);
    // The flood stops; the ring drains, then nothing is behind any more.
    const acc = drive(shed, s, 200, 2_000, 14_000, 0.05);
    // Back by steps (x1.5 per CALM_TICKS calm ticks), never down again, to every SYN.
    expect(acc[0]).toBeLessThan(0.1);
    for (let i = 1; i < acc.length; i++) expect(acc[i]).toBeGreaterThanOrEqual(acc[i - 1]!);
    expect(acc.indexOf(1)).toBeGreaterThan(5 * CALM_TICKS);
    expect(acc[acc.length - 1]).toBe(1);
  });
});
