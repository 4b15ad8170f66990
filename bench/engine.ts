// In-process speed of the forwarding engine (no I/O): established-flow
// packets per second for DR and NAT with 1M flows in the table, new
// connections per second (schedule + insert) for rr and mh, and the memory a
// tracked flow costs; then the same for an IPv6 service (the *6 figures). One JSON object per line; each figure is the median of
// several runs. Build and run: npx tsc -p tsconfig.json && node dist/bench/engine.js
//
// Time is CPU time of this process (process.cpuUsage), not wall time: the
// machines this runs on are shared, and a descheduled benchmark measures the
// neighbours. Wall-clock figures are printed alongside as `wall`.
//
// Frames are prepared in one big buffer (HEADROOM before each) so the loop
// measures input() alone, as the io layer calls it on a ring. NAT rewrites
// frames in place, so the NAT pool is restored from a pristine copy before
// each pass (one memcpy per pass, amortised over the pass).
import { HEADROOM, IpvsEngine, VERDICT_XMIT, type XmitOut } from '../src/ipvs/engine.js';
import type { DestSpec, SchedulerName, ServiceSpec } from '../src/ipvs/types.js';
import { buildTcpFrame } from '../test/packet/build/frame.js';
import { buildTcp6Frame } from '../test/packet/build/ipv6.js';

const FLOWS = 1_000_000;
/** Distinct flows cycled through in the established runs (env LVSD_BENCH_POOL). */
const POOL = Number(process.env.LVSD_BENCH_POOL ?? 16384);
const SLOT = 128; // bytes per frame slot in a pool: HEADROOM + 54-byte frame, padded
const SLOT6 = 192; // the same for a 74-byte IPv6 frame
const RUNS = 5;
const VIP = '10.0.0.100';

function emit(bench: string, value: number, unit: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ bench, value: Number(value.toPrecision(4)), unit, ...extra })}\n`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function spec(scheduler: SchedulerName): ServiceSpec {
  return { key: { kind: 'addr', protocol: 'tcp', addr: VIP, port: 80 }, scheduler, persistence: 0, netmask: '255.255.255.255', ops: false, schedFlags: [] };
}

function makeEngine(scheduler: SchedulerName, fwd: DestSpec['fwd']): IpvsEngine {
  const e = new IpvsEngine({ connTableBits: 20, maxConns: 1 << 20 });
  const s = spec(scheduler);
  e.addService(s);
  for (let d = 0; d < 16; d++) {
    e.addDest(s.key, { addr: `192.168.1.${10 + d}`, port: 8080, fwd, weight: 1 + (d % 3), uThreshold: 0, lThreshold: 0 });
  }
  e.tick(0);
  return e;
}

/** Client address and port of flow k: 16 ports per address over 10.64.0.0/10. */
function flowAddr(k: number): number {
  return (0x0a400000 + (k >>> 4)) >>> 0;
}
function flowPort(k: number): number {
  return 1024 + (k & 15);
}

function fixIpChecksum(buf: Uint8Array, l3: number): void {
  buf[l3 + 10] = 0;
  buf[l3 + 11] = 0;
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (buf[l3 + i]! << 8) | buf[l3 + i + 1]!;
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  buf[l3 + 10] = (~s >>> 8) & 0xff;
  buf[l3 + 11] = ~s & 0xff;
}

function setFlow(buf: Uint8Array, at: number, src: number, sport: number): void {
  const l3 = at + 14;
  buf[l3 + 12] = src >>> 24; buf[l3 + 13] = src >>> 16; buf[l3 + 14] = src >>> 8; buf[l3 + 15] = src;
  buf[l3 + 20] = sport >>> 8; buf[l3 + 21] = sport;
  fixIpChecksum(buf, l3);
}

/** Creates flows [from, to) with SYNs; returns new conns per CPU second and per wall second. */
function populate(e: IpvsEngine, from: number, to: number): [number, number] {
  const syn = buildTcpFrame({ flags: 'S', dst: VIP, dstPort: 80 });
  const buf = new Uint8Array(HEADROOM + syn.length);
  const out: XmitOut = { buf, start: 0, len: 0, nextHop: 0 };
  // Pre-build a batch so address writes and checksums stay out of the timed loop.
  const BATCH = 8192;
  const pool = new Uint8Array(BATCH * SLOT);
  let t = 0;
  let wall = 0;
  for (let k = from; k < to; k += BATCH) {
    const n = Math.min(BATCH, to - k);
    for (let j = 0; j < n; j++) {
      pool.set(syn, j * SLOT + HEADROOM);
      setFlow(pool, j * SLOT + HEADROOM, flowAddr(k + j), flowPort(k + j));
    }
    const w0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    for (let j = 0; j < n; j++) {
      if (e.input(pool, j * SLOT + HEADROOM, syn.length, 1000, out) !== VERDICT_XMIT) throw new Error(`flow ${k + j} not forwarded`);
    }
    const c1 = process.cpuUsage(c0);
    t += (c1.user + c1.system) * 1000;
    wall += Number(process.hrtime.bigint() - w0);
  }
  return [(to - from) / (t / 1e9), (to - from) / (wall / 1e9)];
}

/** A pool of ACKs (or RS replies) for random existing flows. */
function ackPool(reply: boolean): { pristine: Uint8Array; len: number } {
  const f = reply
    ? buildTcpFrame({ flags: 'A', src: '192.168.1.10', dst: '10.64.0.0', srcPort: 8080, dstPort: 1024, ttl: 255 })
    : buildTcpFrame({ flags: 'A', dst: VIP, dstPort: 80 });
  const pool = new Uint8Array(POOL * SLOT);
  let seed = 12345;
  for (let j = 0; j < POOL; j++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const k = seed % FLOWS;
    const at = j * SLOT + HEADROOM;
    pool.set(f, at);
    const l3 = at + 14;
    if (reply) {
      // rr over 16 dests from a fresh service: flow k went to dest k % 16.
      buf4(pool, l3 + 12, (0xc0a8010a + (k % 16)) >>> 0);
      const c = flowAddr(k);
      buf4(pool, l3 + 16, c);
      const p = flowPort(k);
      pool[l3 + 22] = p >>> 8; pool[l3 + 23] = p;
      fixIpChecksum(pool, l3);
    } else {
      setFlow(pool, at, flowAddr(k), flowPort(k));
    }
  }
  return { pristine: pool, len: f.length };
}

function buf4(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24; b[at + 1] = v >>> 16; b[at + 2] = v >>> 8; b[at + 3] = v;
}

/** [CPU, wall] Mpps over `passes` passes of the pool; `restore` copies the pristine pool back before each pass. */
function established(e: IpvsEngine, pools: { pristine: Uint8Array; len: number; slot?: number }[], passes: number, restore: boolean): [number, number] {
  const work = pools.map((p) => new Uint8Array(p.pristine));
  const out: XmitOut = { buf: work[0]!, start: 0, len: 0, nextHop: 0 };
  let pkts = 0;
  let bad = 0;
  let ns = 0;
  let wall = 0;
  let now = 1000;
  for (let p = 0; p < passes; p++) {
    const w = work[p % work.length]!;
    const src = pools[p % pools.length]!;
    if (restore) w.set(src.pristine);
    const len = src.len;
    const slot = src.slot ?? SLOT;
    const w0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    for (let j = 0; j < POOL; j++) {
      if (e.input(w, j * slot + HEADROOM, len, now, out) !== VERDICT_XMIT) bad++;
    }
    const c1 = process.cpuUsage(c0);
    ns += (c1.user + c1.system) * 1000;
    wall += Number(process.hrtime.bigint() - w0);
    pkts += POOL;
    now += 1;
    if ((p & 63) === 0) e.tick(now);
  }
  if (bad > 0) throw new Error(`${bad} packets of tracked flows not forwarded`);
  return [pkts / (ns / 1e3), pkts / (wall / 1e3)];
}

function report(bench: string, runs: [number, number][], unit: string, extra: Record<string, unknown> = {}): void {
  const cpu = runs.map((r) => r[0]);
  const wall = runs.map((r) => r[1]);
  const fmt = (x: number) => Number(x.toPrecision(3));
  emit(bench, median(cpu), unit, { ...extra, wall: fmt(median(wall)), runs: cpu.map(fmt) });
}

function main(): void {
  const rr: [number, number][] = [];
  const mh: [number, number][] = [];
  let dr: IpvsEngine | undefined;
  const rssBefore = process.memoryUsage().rss;
  for (let r = 0; r < 3; r++) {
    dr = makeEngine('rr', 'route');
    rr.push(populate(dr, 0, FLOWS));
    if (r === 0) {
      const rss = process.memoryUsage().rss - rssBefore;
      emit('bytes-per-flow', rss / FLOWS, 'B', {
        flows: FLOWS, note: 'process RSS growth while the first 1M-flow table filled',
        tableBytesPerFlow: Number((dr.counters().conn_table_bytes! / FLOWS).toFixed(1)),
      });
    }
    if (r < 2) dr = undefined;
  }
  for (let r = 0; r < 3; r++) mh.push(populate(makeEngine('mh', 'route'), 0, FLOWS));
  report('new-flows-rr', rr, 'conns/s');
  report('new-flows-mh', mh, 'conns/s');

  const acks = ackPool(false);
  established(dr!, [acks], 20, false); // warm-up
  const drRuns: [number, number][] = [];
  for (let r = 0; r < RUNS; r++) drRuns.push(established(dr!, [acks], 120, false));
  report('established-dr', drRuns, 'Mpps', { flows: dr!.counters().conns, pool: POOL });
  dr = undefined;

  const nat = makeEngine('rr', 'masq');
  populate(nat, 0, FLOWS);
  // Alternate client → VIP packets and RS → client replies, both rewritten in place.
  const pools = [ackPool(false), ackPool(true)];
  established(nat, pools, 20, true);
  const natRuns: [number, number][] = [];
  for (let r = 0; r < RUNS; r++) natRuns.push(established(nat, pools, 120, true));
  report('established-nat', natRuns, 'Mpps', { flows: nat.counters().conns, pool: POOL });
  ipv6();
}

// ---------------------------------------------------------------- IPv6
// The same runs for an IPv6 service: clients 2001:db8:40::/64 (16 ports per
// address), VIP 2001:db8::100, 16 real servers 2001:db8:1::10…; the
// engine does not verify L4 checksums, so frames are only re-addressed.

const VIP6 = '2001:db8::100';

function setFlow6(buf: Uint8Array, at: number, k: number, reply: boolean): void {
  const l3 = at + 14;
  const a = l3 + (reply ? 24 : 8);
  buf[a] = 0x20; buf[a + 1] = 0x01; buf[a + 2] = 0x0d; buf[a + 3] = 0xb8; buf[a + 4] = 0; buf[a + 5] = 0x40;
  buf.fill(0, a + 6, a + 12);
  buf4(buf, a + 12, k >>> 4);
  const p = flowPort(k);
  buf[l3 + 40 + (reply ? 2 : 0)] = p >>> 8; buf[l3 + 40 + (reply ? 3 : 1)] = p;
  if (reply) buf[l3 + 8 + 15] = 0x10 + (k % 16);
}

function makeEngine6(scheduler: SchedulerName, fwd: DestSpec['fwd']): IpvsEngine {
  const e = new IpvsEngine({ connTableBits: 20, maxConns: 1 << 20 });
  const s = { ...spec(scheduler), key: { kind: 'addr' as const, protocol: 'tcp' as const, addr: VIP6, port: 80 } };
  e.addService(s);
  for (let d = 0; d < 16; d++) {
    e.addDest(s.key, { addr: `2001:db8:1::${(0x10 + d).toString(16)}`, port: 8080, fwd, weight: 1 + (d % 3), uThreshold: 0, lThreshold: 0 });
  }
  e.tick(0);
  return e;
}

function populate6(e: IpvsEngine, from: number, to: number): [number, number] {
  const syn = buildTcp6Frame({ flags: 'S', dst: VIP6, dstPort: 80 });
  const BATCH = 8192;
  const pool = new Uint8Array(BATCH * SLOT6);
  const out: XmitOut = { buf: pool, start: 0, len: 0, nextHop: 0 };
  let t = 0;
  let wall = 0;
  for (let k = from; k < to; k += BATCH) {
    const n = Math.min(BATCH, to - k);
    for (let j = 0; j < n; j++) {
      pool.set(syn, j * SLOT6 + HEADROOM);
      setFlow6(pool, j * SLOT6 + HEADROOM, k + j, false);
    }
    const w0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    for (let j = 0; j < n; j++) {
      if (e.input(pool, j * SLOT6 + HEADROOM, syn.length, 1000, out) !== VERDICT_XMIT) throw new Error(`IPv6 flow ${k + j} not forwarded`);
    }
    const c1 = process.cpuUsage(c0);
    t += (c1.user + c1.system) * 1000;
    wall += Number(process.hrtime.bigint() - w0);
  }
  return [(to - from) / (t / 1e9), (to - from) / (wall / 1e9)];
}

function ackPool6(reply: boolean): { pristine: Uint8Array; len: number; slot: number } {
  const f = reply
    ? buildTcp6Frame({ flags: 'A', src: '2001:db8:1::10', dst: VIP6, srcPort: 8080, dstPort: 1024, hopLimit: 255 })
    : buildTcp6Frame({ flags: 'A', dst: VIP6, dstPort: 80 });
  const pool = new Uint8Array(POOL * SLOT6);
  let seed = 12345;
  for (let j = 0; j < POOL; j++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const k = seed % FLOWS;
    pool.set(f, j * SLOT6 + HEADROOM);
    setFlow6(pool, j * SLOT6 + HEADROOM, k, reply);
  }
  return { pristine: pool, len: f.length, slot: SLOT6 };
}

function ipv6(): void {
  const rr: [number, number][] = [];
  let dr: IpvsEngine | undefined;
  for (let r = 0; r < 3; r++) {
    dr = makeEngine6('rr', 'route');
    rr.push(populate6(dr, 0, FLOWS));
    if (r === 0) {
      emit('bytes-per-flow6', dr.counters().conn_table_bytes! / FLOWS, 'B', { flows: FLOWS, note: 'table bytes per flow with the IPv6 address side array' });
    }
    if (r < 2) dr = undefined;
  }
  report('new-flows-rr6', rr, 'conns/s');
  const acks = ackPool6(false);
  established(dr!, [acks], 20, false);
  const drRuns: [number, number][] = [];
  for (let r = 0; r < RUNS; r++) drRuns.push(established(dr!, [acks], 120, false));
  report('established-dr6', drRuns, 'Mpps', { flows: dr!.counters().conns, pool: POOL });
  dr = undefined;
  const nat = makeEngine6('rr', 'masq');
  populate6(nat, 0, FLOWS);
  const pools = [ackPool6(false), ackPool6(true)];
  established(nat, pools, 20, true);
  const natRuns: [number, number][] = [];
  for (let r = 0; r < RUNS; r++) natRuns.push(established(nat, pools, 120, true));
  report('established-nat6', natRuns, 'Mpps', { flows: nat.counters().conns, pool: POOL });
}

main();
