// The fast path's programs judged by the kernel itself (BPF_PROG_TEST_RUN:
// the verifier loads them, the kernel runs them over a frame):
// - the tcx program's output for a learnt flow is, byte for byte, what the
//   engine makes of the same packet (addresses, ports, TTL, IP and L4
//   checksums), plus the MACs the forwarder chose: NAT both ways, DR, TCP and
//   UDP (a zero UDP checksum stays zero), random flows, payloads, TTLs;
// - a frame the program leaves to the engine (SYN, FIN, RST, TTL 1 on a
//   reply, a flow not learnt) is passed on, and the socket filter queues it;
//   a frame the program forwards, the socket filter drops (else lvsd sends
//   it twice);
// - lvsd's classic filters, translated to eBPF, give the classic
//   interpreter's verdict on every frame of the filter compiler's cases.
// Needs root (bpf(2)); skipped elsewhere unless CI, where it must run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { FastPath, FastPathKernel, loadSocketFilter } from '../../src/io/fastpath.js';
import { buildIngress } from '../../src/io/fastpath-prog.js';
import { BPF_PROG_TYPE_SCHED_CLS, bpfClose, progLoad, progTestRun } from '../../src/io/ebpf-sys.js';
import { buildSocketFilter } from '../../src/io/fastpath-prog.js';
import { compileFilter, lengthGate, synGate } from '../../src/io/bpf.js';
import { HEADROOM, VERDICT_XMIT, type IpvsEngine, type XmitOut } from '../../src/ipvs/engine.js';
import { VIP, dest, engine, svc, tcpKey, udpKey } from '../ipvs/helpers.js';
import { buildTcpFrame, buildUdpFrame } from '../packet/build/frame.js';
import { VIP6, buildTcp6Frame, buildUdp6Frame } from '../packet/build/ipv6.js';
import { RULES, cases } from './native-bpf-cases.js';
import { ipToU32 } from '../../src/packet/addr.js';
import { checksum } from '../../src/packet/checksum.js';
import { runBpf } from './bpf-interp.js';

const root = process.getuid?.() === 0;
const skip = !root && process.env.CI !== 'true';
const TC_ACT_REDIRECT = 7;
const TCX_NEXT = -1;
/** BPF_PROG_TEST_RUN makes the frame a received one on lo, whose MAC is zero: to that MAC it is PACKET_HOST. */
const HOST_MAC = '00:00:00:00:00:00';
const NEXT_MACS = [0x02, 0xaa, 0, 0, 0, 0x11, 0x02, 0xbb, 0, 0, 0, 0x22];
const OUT_IFINDEX = 7;

/** The engine on one frame, as the forwarder runs it with the fast path on: capture, input, MACs, offer. */
function forward(e: IpvsEngine, fp: FastPath | null, frame: Uint8Array, now: number): Uint8Array | null {
  const buf = new Uint8Array(HEADROOM + frame.length);
  buf.set(frame, HEADROOM);
  const out: XmitOut = { buf, start: 0, len: 0, nextHop: 0 };
  const cand = fp?.capture(buf, HEADROOM, frame.length) ?? false;
  if (e.input(buf, HEADROOM, frame.length, now, out) !== VERDICT_XMIT) return null;
  const l2 = out.start - 14;
  out.buf.set(NEXT_MACS, l2);
  const v6 = out.buf[out.start]! >> 4 === 6;
  out.buf[l2 + 12] = v6 ? 0x86 : 0x08;
  out.buf[l2 + 13] = v6 ? 0xdd : 0x00;
  if (cand) fp!.offer(out.buf, out.buf === buf, l2, out.len, OUT_IFINDEX, 1500);
  return out.buf.slice(l2, out.start + out.len);
}

function director(): IpvsEngine {
  const e = engine();
  e.setFastMinPackets(0); // learn from the first packet after the handshake (lvsd waits for 8)
  e.addService(svc(udpKey(53)));
  e.addDest(udpKey(53), dest('10.0.1.11', 5353, { fwd: 'masq' }));
  e.addService(svc(tcpKey(80)));
  e.addDest(tcpKey(80), dest('10.0.1.12', 8080, { fwd: 'masq' }));
  e.addService(svc(tcpKey(443)));
  e.addDest(tcpKey(443), dest('10.0.1.13', 443, { fwd: 'route' }));
  e.addService(svc(udpKey(53, VIP6)));
  e.addDest(udpKey(53, VIP6), dest(RS6[0], 5353, { fwd: 'masq' }));
  e.addService(svc(tcpKey(80, VIP6)));
  e.addDest(tcpKey(80, VIP6), dest(RS6[1], 8080, { fwd: 'masq' }));
  e.addService(svc(tcpKey(443, VIP6)));
  e.addDest(tcpKey(443, VIP6), dest(RS6[2], 443, { fwd: 'route' }));
  return e;
}

const RS6 = ['2001:db8:1::11', '2001:db8:1::12', '2001:db8:1::13'] as const;

describe('fast path on a big-endian CPU', () => {
  it('is refused before any map is made (its checksum differences assume little-endian words): lvsd then forwards every packet itself', () => {
    expect(() => new FastPathKernel(4096, 'BE')).toThrow(/little-endian CPUs only/);
  });
});

describe.skipIf(skip)('fast path programs in the kernel (BPF_PROG_TEST_RUN)', () => {
  let k: FastPathKernel;
  let ingress: number;
  let filter: number;
  const classic = compileFilter({
    services: [{ protocol: 'udp', addr: VIP, port: 53 }, { protocol: 'tcp', addr: VIP, port: 80 }, { protocol: 'tcp', addr: VIP, port: 443 },
      { protocol: 'udp', addr: VIP6, port: 53 }, { protocol: 'tcp', addr: VIP6, port: 80 }, { protocol: 'tcp', addr: VIP6, port: 443 }],
    realServers: [{ protocol: 'udp', addr: '10.0.1.11', port: 5353 }, { protocol: 'tcp', addr: '10.0.1.12', port: 8080 },
      { protocol: 'udp', addr: RS6[0], port: 5353 }, { protocol: 'tcp', addr: RS6[1], port: 8080 }],
  });

  beforeAll(() => {
    k = new FastPathKernel(4096);
    ingress = progLoad(BPF_PROG_TYPE_SCHED_CLS, buildIngress(k.maps), 'test_ingress');
    // The socket filter as a tc program: the same context (an skb from its Ethernet header) and the same helpers.
    filter = progLoad(BPF_PROG_TYPE_SCHED_CLS, buildSocketFilter(k.maps, classic), 'test_filter');
  });
  afterAll(() => {
    bpfClose(ingress);
    bpfClose(filter);
    k.close();
  });

  type Dir = 'udp-nat' | 'udp-nat-reply' | 'tcp-nat' | 'tcp-nat-reply' | 'tcp-dr';
  const flow = fc.record({
    dir: fc.constantFrom<Dir>('udp-nat', 'udp-nat-reply', 'tcp-nat', 'tcp-nat-reply', 'tcp-dr'),
    client: fc.tuple(fc.integer({ min: 1, max: 223 }).filter((x) => x !== 127), fc.nat(255), fc.nat(255), fc.integer({ min: 1, max: 254 })).map((a) => a.join('.')),
    cport: fc.integer({ min: 1024, max: 65535 }),
    payloads: fc.array(fc.uint8Array({ minLength: 6, maxLength: 300 }), { minLength: 2, maxLength: 4 }),
    ttl: fc.integer({ min: 2, max: 255 }),
    id: fc.nat(0xffff),
    tos: fc.nat(0xff).map((x) => x & 0xfc),
    zeroUdpSum: fc.boolean(),
    v6: fc.boolean(),
    client6: fc.tuple(fc.nat(0xffff), fc.integer({ min: 1, max: 0xffff })).map(([a, b]) => `2001:db8:${a.toString(16)}::${b.toString(16)}`),
  });

  it('forwards a learnt flow exactly as the engine does, and the socket filter drops what it forwards', () => {
    let n = 0;
    fc.assert(fc.property(flow, (f) => {
      const e = director();
      const fp = new FastPath(k.maps, e);
      const now = 10_000 + n++;
      const udp = f.dir.startsWith('udp');
      const port = udp ? 53 : f.dir === 'tcp-dr' ? 443 : 80;
      const v6 = f.v6;
      const rsIx = udp ? 0 : f.dir === 'tcp-dr' ? 2 : 1;
      const rs = [v6 ? RS6[rsIx] : ['10.0.1.11', '10.0.1.12', '10.0.1.13'][rsIx]!, [5353, 8080, 443][rsIx]!] as const;
      const client = v6 ? f.client6 : f.client, vip = v6 ? VIP6 : VIP;
      const reply = f.dir.endsWith('reply');
      // IPv6: the traffic class and flow label stand for the TOS and IP id; its UDP checksum is never 0.
      const frame = (src: string, dst: string, sport: number, dport: number, payload: Uint8Array, flags: string, ttl: number, seq: number, ack: number) => v6
        ? udp ? buildUdp6Frame({ dstMac: HOST_MAC, src, dst, srcPort: sport, dstPort: dport, payload, hopLimit: ttl, trafficClass: f.tos, flowLabel: f.id })
          : buildTcp6Frame({ dstMac: HOST_MAC, src, dst, srcPort: sport, dstPort: dport, payload, hopLimit: ttl, trafficClass: f.tos, flowLabel: f.id, flags, seq, ack })
        : udp ? buildUdpFrame({ dstMac: HOST_MAC, src, dst, srcPort: sport, dstPort: dport, payload, ttl, id: f.id, tos: f.tos, ...(f.zeroUdpSum ? { checksum: 0 } : {}) })
          : buildTcpFrame({ dstMac: HOST_MAC, src, dst, srcPort: sport, dstPort: dport, payload, ttl, id: f.id, tos: f.tos, flags, seq, ack });
      const fromClient = (payload: Uint8Array, flags = 'PA', ttl = f.ttl) => frame(client, vip, f.cport, port, payload, flags, ttl, 100, 200);
      const fromRs = (payload: Uint8Array, flags = 'PA', ttl = f.ttl) => frame(rs[0], client, rs[1], f.cport, payload, flags, ttl, 200, 101);
      const make = reply ? fromRs : fromClient;
      // The conn: a datagram, or a handshake (NAT: the RS's SYN-ACK too).
      if (udp) expect(forward(e, fp, fromClient(new Uint8Array(1)), now)).not.toBeNull();
      else {
        forward(e, fp, fromClient(new Uint8Array(0), 'S'), now);
        if (f.dir !== 'tcp-dr') forward(e, fp, fromRs(new Uint8Array(0), 'SA'), now);
        forward(e, fp, fromClient(new Uint8Array(0), 'A'), now);
      }
      // The first packet in this direction goes through the engine and teaches the flow.
      expect(forward(e, fp, make(f.payloads[0]!), now)).not.toBeNull();
      expect(fp.size).toBeGreaterThan(0);
      for (const p of f.payloads.slice(1)) {
        const frame = make(p);
        const got = progTestRun(ingress, frame);
        const want = forward(e, null, frame, now)!;
        expect(got.retval).toBe(TC_ACT_REDIRECT);
        expect(Buffer.from(got.data).toString('hex')).toBe(Buffer.from(want).toString('hex'));
        expect(progTestRun(filter, frame).retval, 'socket filter').toBe(0);
      }
      // What the engine must see: no flags bypass it (TCP), nor a reply that would expire.
      const left = [make(new Uint8Array(4), 'FA'), make(new Uint8Array(4), 'R'), make(new Uint8Array(4), 'S')];
      for (const frame of udp ? [] : left) {
        expect(progTestRun(ingress, frame).retval).toBe(TCX_NEXT);
        expect(progTestRun(filter, frame).retval).toBe(runBpf(classic, frame));
        expect(runBpf(classic, frame)).toBeGreaterThan(0);
      }
      if (udp) {
        // Under 48 bytes the programs do not look: the engine's.
        const tiny = make(new Uint8Array(5));
        expect(progTestRun(ingress, tiny).retval).toBe(TCX_NEXT);
        expect(progTestRun(filter, tiny).retval).toBe(runBpf(classic, tiny));
      }
      if (reply) {
        const last = make(new Uint8Array(4), 'PA', 1);
        expect(progTestRun(ingress, last).retval).toBe(TCX_NEXT);
        expect(progTestRun(filter, last).retval).toBeGreaterThan(0);
      }
      fp.clear();
      expect(progTestRun(ingress, make(new Uint8Array(4))).retval, 'forgotten').toBe(TCX_NEXT);
    }), { numRuns: 150 });
  });

  it('a TCP super-frame whose segments fit the egress MTU goes through the kernel as the engine would rewrite it; any other stays the engine\'s', () => {
    const TS = new Uint8Array([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]); // NOP NOP timestamps: a 32-byte TCP header
    for (const [dir, v6] of ['tcp-nat', 'tcp-nat-reply', 'tcp-dr'].flatMap((d) => [[d, false], [d, true]] as const)) {
      const e = director();
      const fp = new FastPath(k.maps, e);
      const port = dir === 'tcp-dr' ? 443 : 80;
      const rs = dir === 'tcp-dr' ? [v6 ? RS6[2] : '10.0.1.13', 443] as const : [v6 ? RS6[1] : '10.0.1.12', 8080] as const;
      const client = v6 ? '2001:db8:9::7' : '10.9.8.7';
      const tcpFrame = (o: Parameters<typeof buildTcpFrame>[0] & Parameters<typeof buildTcp6Frame>[0]) => v6 ? buildTcp6Frame(o) : buildTcpFrame(o);
      const c = (payload: Uint8Array, flags = 'PA', options?: Uint8Array) => tcpFrame({ dstMac: HOST_MAC, src: client, dst: v6 ? VIP6 : VIP, srcPort: 41000, dstPort: port, payload, flags, seq: 100, ack: 200, ...(options ? { options } : {}) });
      const r = (payload: Uint8Array, flags = 'PA', options?: Uint8Array) => tcpFrame({ dstMac: HOST_MAC, src: rs[0], dst: client, srcPort: rs[1], dstPort: 41000, payload, flags, seq: 200, ack: 101, ...(options ? { options } : {}) });
      forward(e, fp, c(new Uint8Array(0), 'S'), 0);
      if (dir !== 'tcp-dr') forward(e, fp, r(new Uint8Array(0), 'SA'), 0);
      forward(e, fp, c(new Uint8Array(0), 'A'), 0);
      const make = dir === 'tcp-nat-reply' ? r : c;
      forward(e, fp, make(new Uint8Array(10)), 0); // teaches the flow (egress MTU 1500)
      expect(fp.size, dir).toBeGreaterThan(0);
      const payload = Uint8Array.from({ length: 2920 }, (_, j) => (j * 7) & 0xff);
      const ip = v6 ? 40 : 20;
      const cases: [string, Uint8Array, { size: number; segs: number } | undefined, boolean][] = [
        [`segments of ${1480 - ip} + ${ip} + 20 bytes`, make(payload), { size: 1480 - ip, segs: 3 }, true],
        [`segments of ${1468 - ip} + ${ip} + 32 bytes (timestamps)`, make(payload, 'PA', TS), { size: 1468 - ip, segs: 3 }, true],
        [`segments of ${1481 - ip} + ${ip} + 20: one byte over`, make(payload), { size: 1481 - ip, segs: 3 }, false],
        [`segments of ${1469 - ip} + ${ip} + 32: one byte over`, make(payload, 'PA', TS), { size: 1469 - ip, segs: 3 }, false],
        ['not a super-frame: a frame above the MTU that needs fragmenting', make(payload), undefined, false],
      ];
      for (const [name, frame, gso, fast] of cases) {
        const got = progTestRun(ingress, frame, 4096, gso);
        const what = `${dir}${v6 ? ' IPv6' : ''}: ${name}`;
        expect(got.retval, what).toBe(fast ? TC_ACT_REDIRECT : TCX_NEXT);
        expect(progTestRun(filter, frame, 4096, gso).retval, `${what}, socket filter`).toBe(fast ? 0 : runBpf(classic, frame));
        if (fast) expect(Buffer.from(got.data).toString('hex'), what).toBe(Buffer.from(forward(e, null, frame, 0)!).toString('hex'));
      }
      fp.clear();
    }
    // A UDP super-frame (UDP GRO, GSO_UDP_L4) stays the engine's, whatever its segments.
    const e = director();
    const fp = new FastPath(k.maps, e);
    const dg = (n: number) => buildUdpFrame({ dstMac: HOST_MAC, src: '10.9.8.6', dst: VIP, srcPort: 41001, dstPort: 53, payload: new Uint8Array(n) });
    forward(e, fp, dg(8), 0);
    forward(e, fp, dg(8), 0);
    expect(progTestRun(ingress, dg(100), 4096).retval).toBe(TC_ACT_REDIRECT);
    expect(progTestRun(ingress, dg(2000), 4096, { size: 1000, segs: 2 }).retval).toBe(TCX_NEXT);
    fp.clear();
  });

  it('an IPv4 TUN flow goes through the kernel in the IPIP header the engine writes (a random id without DF); what does not fit the tunnel stays the engine\'s', () => {
    const TUN_SRC = '10.0.1.1', RS = '10.0.1.14';
    for (const [proto, df] of [['tcp', true], ['tcp', false], ['udp', true], ['udp', false]] as const) {
      const e = engine();
      e.setFastMinPackets(0);
      const key = proto === 'tcp' ? tcpKey(8443) : udpKey(5300);
      e.addService(svc(key));
      e.addDest(key, dest(RS, proto === 'tcp' ? 8443 : 5300, { fwd: 'tunnel' }), { tunSource: ipToU32(TUN_SRC) });
      const fp = new FastPath(k.maps, e);
      const c = (payload: Uint8Array, flags = 'PA', o: { ttl?: number; tos?: number; id?: number } = {}) => proto === 'tcp'
        ? buildTcpFrame({ dstMac: HOST_MAC, src: '10.9.8.6', dst: VIP, srcPort: 41001, dstPort: 8443, payload, flags, seq: 100, ack: 200, df, ...o })
        : buildUdpFrame({ dstMac: HOST_MAC, src: '10.9.8.6', dst: VIP, srcPort: 41001, dstPort: 5300, payload, df, ...o });
      if (proto === 'tcp') { forward(e, fp, c(new Uint8Array(0), 'S'), 1000); forward(e, fp, c(new Uint8Array(0), 'A'), 1000); }
      expect(forward(e, fp, c(new Uint8Array(40)), 1000), `${proto} df=${df}: the engine tunnels`).not.toBeNull();
      expect(fp.size, `${proto} df=${df}: learnt`).toBe(1);
      for (const [n, o] of [[6, { ttl: 64, tos: 0x10, id: 7 }], [1300, { ttl: 9, tos: 0, id: 0xfffe }], [1500 - 20 - 20 - (proto === 'tcp' ? 20 : 8), {}]] as const) {
        const frame = c(new Uint8Array(n).fill(0x5a), 'PA', o);
        const got = progTestRun(ingress, frame, 4096);
        const want = forward(e, null, frame, 1000)!;
        expect(got.retval, `${proto} df=${df} ${n}`).toBe(TC_ACT_REDIRECT);
        const outer = Buffer.from(got.data.subarray(14, 34));
        expect(checksum(outer, 0, 20), 'the outer header\'s checksum').toBe(0);
        // Without DF both sides pick an id (the engine counts, the kernel draws): compare the rest.
        const blank = (b: Uint8Array) => { const x = Buffer.from(b); if (!df) x.fill(0, 18, 20).fill(0, 24, 26); return x.toString('hex'); };
        expect(blank(got.data), `${proto} df=${df} ${n}`).toBe(blank(want));
      }
      // One byte more than the tunnel takes: the engine's (frag-needed with DF, a drop without).
      const big = c(new Uint8Array(1500 - 20 - 20 - (proto === 'tcp' ? 20 : 8) + 1));
      expect(progTestRun(ingress, big, 4096).retval).toBe(TCX_NEXT);
      if (proto === 'tcp') {
        // A super-frame whose segments fit the tunnel: the kernel takes it (and cuts it with an outer header
        // each), or, where bpf_skb_adjust_room refuses its GSO kind, leaves it to the engine untouched. (A test
        // run's skb has a gso_size but no gso_type, which the helper refuses: the lab's TUN bulk test sends real
        // TSO super-frames.) Never dropped.
        const sf = c(new Uint8Array(2900));
        const got = progTestRun(ingress, sf, 4096, { size: 1400, segs: 3 });
        expect([TC_ACT_REDIRECT, TCX_NEXT]).toContain(got.retval);
        if (got.retval === TC_ACT_REDIRECT) {
          expect(got.data.readUInt16BE(16)).toBe(sf.length - 14 + 20);
          expect(got.data[23]).toBe(4);
        } else expect(Buffer.from(got.data).equals(Buffer.from(sf))).toBe(true);
        expect(progTestRun(ingress, sf, 4096, { size: 1441, segs: 3 }).retval, 'segments too large for the tunnel').toBe(TCX_NEXT);
      }
      fp.clear();
    }
  });

  it('a flow the engine forgets (its conn expires) leaves the map at once, its last packets counted', () => {
    const e = director();
    const fp = new FastPath(k.maps, e);
    const dg = (p: number) => buildUdpFrame({ dstMac: HOST_MAC, src: '10.9.9.9', dst: VIP, srcPort: 33333, dstPort: 53, payload: new Uint8Array(p) });
    forward(e, fp, dg(8), 0);
    forward(e, fp, dg(9), 0);
    expect(fp.size).toBe(1);
    for (let i = 0; i < 5; i++) expect(progTestRun(ingress, dg(10)).retval).toBe(TC_ACT_REDIRECT);
    const before = e.listServices()[0]!.stats;
    e.tick(10 * 60_000); // past the UDP timeout: the conn expires, and the flow with it
    expect(fp.size).toBe(0);
    expect(fp.counters.packets).toBe(5);
    expect(e.listServices()[0]!.stats.inpkts - before.inpkts).toBe(5);
    expect(progTestRun(ingress, dg(10)).retval).toBe(TCX_NEXT);
  });

  it('a sweep that reads the map in batches counts what lookups count, and only its own plane\'s flows', () => {
    // Two planes (workers) on one map; plane 0 sweeps in batches (a 1-flow map's size: from 17 flows on), plane 1 by lookups.
    const e0 = director(), e1 = director();
    const fp0 = new FastPath(k.maps, e0, 0, 1), fp1 = new FastPath(k.maps, e1, 1);
    const dg = (src: string, port: number) => buildUdpFrame({ dstMac: HOST_MAC, src, dst: VIP, srcPort: port, dstPort: 53, payload: new Uint8Array(20) });
    const mine = Array.from({ length: 40 }, (_, j) => dg(`10.8.0.${j + 1}`, 40000 + j));
    const theirs = Array.from({ length: 3 }, (_, j) => dg(`10.7.0.${j + 1}`, 30000 + j));
    const mine6 = Array.from({ length: 10 }, (_, j) => buildUdp6Frame({ dstMac: HOST_MAC, src: `2001:db8:8::${j + 1}`, dst: VIP6, srcPort: 42000 + j, dstPort: 53, payload: new Uint8Array(20) }));
    for (const f of [...mine, ...mine6]) { forward(e0, fp0, f, 0); forward(e0, fp0, f, 0); }
    for (const f of theirs) { forward(e1, fp1, f, 0); forward(e1, fp1, f, 0); }
    expect([fp0.size, fp1.size]).toEqual([50, 3]);
    let want = 0, want6 = 0;
    mine.forEach((f, j) => { for (let r = 0; r < j % 4; r++, want++) expect(progTestRun(ingress, f).retval).toBe(TC_ACT_REDIRECT); });
    mine6.forEach((f, j) => { for (let r = 0; r < j % 3; r++, want6++) expect(progTestRun(ingress, f).retval).toBe(TC_ACT_REDIRECT); });
    for (const f of theirs) for (let r = 0; r < 5; r++) expect(progTestRun(ingress, f).retval).toBe(TC_ACT_REDIRECT);
    const before = e0.listServices()[0]!.stats;
    fp0.sweep(1000);
    fp1.sweep(1000);
    expect(fp0.counters.batchSweeps).toBe(1);
    expect(fp1.counters.batchSweeps).toBe(0);
    expect(fp0.counters.packets).toBe(want + want6);
    expect(fp1.counters.packets).toBe(15);
    const udp6 = e0.listServices().find((x) => x.key.kind === 'addr' && x.key.addr === VIP6 && x.key.port === 53)!.stats;
    expect(udp6.inbytes, 'IPv6: 40 + 8 + 20 bytes a datagram, and the 2 that taught each flow').toBe((want6 + 20) * 68);
    const after = e0.listServices()[0]!.stats;
    expect(after.inpkts - before.inpkts).toBe(want);
    expect(after.inbytes - before.inbytes).toBe(want * (20 + 8 + 20));
    // A second sweep hands over only what came since.
    expect(progTestRun(ingress, mine[0]!).retval).toBe(TC_ACT_REDIRECT);
    fp0.sweep(2000);
    expect(fp0.counters.packets).toBe(want + want6 + 1);
    fp0.clear();
    fp1.clear();
  });

  it('the maps are not preallocated: kernel memory follows the flows learnt, not --fast-path-flows', () => {
    const big = new FastPathKernel(262144);
    try {
      const memlock = (fd: number) => Number(/memlock:\s*(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]);
      // Preallocated, the pair would hold 86 MiB; empty, only their buckets (~4 MiB each).
      expect(memlock(big.maps.v4) + memlock(big.maps.v6)).toBeLessThan(16 << 20);
    } finally {
      big.close();
    }
  });

  it('lvsd\'s classic filters, translated, give the classic verdict on every case', () => {
    const progs = [compileFilter(RULES), lengthGate(compileFilter(RULES), 100), lengthGate(compileFilter(RULES), 100, true), synGate(compileFilter(RULES), 0)];
    for (const prog of progs) {
      const fd = progLoad(BPF_PROG_TYPE_SCHED_CLS, buildSocketFilter(k.maps, prog), 'test_xlate');
      try {
        for (const c of cases()) expect(progTestRun(fd, c.frame).retval, c.name).toBe(runBpf(prog, c.frame, () => 0xffffffff));
      } finally {
        bpfClose(fd);
      }
    }
    // With the random SYN gate the verifier takes it (the kernel's random load is a helper call).
    const fd = loadSocketFilter(k.maps, synGate(compileFilter(RULES), 0.5));
    bpfClose(fd);
  });
});
