// The fanout program (src/io/fanout.ts), judged by the classic-BPF
// interpreter as the kernel runs it in fanout_demux_bpf (skb->data at the
// network header), against its JS twin workerOfConn: every packet of a conn
// (request, NAT reply, ICMP errors quoting either direction) must reach the
// worker the JS picks, on random rule sets and random flows. The kernel
// judges the same programs in test/lab/fanout.test.ts.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileFanout, fanoutHash, planFanout, steeringChanged, workerOfConn, workerOfConn6, type FanoutService } from '../../src/io/fanout.js';
import { buildIcmp6Frame, buildTcp6Frame, buildUdp6Frame } from '../packet/build/ipv6.js';
import { formatIpv6, parseIpv6 } from '../../src/packet/ipv6.js';
import { buildFrame, buildTcpFrame, buildUdpFrame } from '../packet/build/frame.js';
import { ipToU32, u32ToIp } from '../../src/packet/addr.js';
import { runBpf } from './bpf-interp.js';
import type { FwdMethod } from '../../src/ipvs/types.js';

const FANOUT_LAYOUT = { data: 14, net: 14, mac: 0 };
const PROTO_ANC = 0xfffff000; // SKF_AD_OFF + SKF_AD_PROTOCOL

function demux(prog: Uint32Array, frame: Uint8Array, ethertype = 0x0800): number {
  return runBpf(prog, frame, (k) => {
    if (k !== PROTO_ANC) throw new Error(`unexpected ancillary load ${k.toString(16)}`);
    return ethertype;
  }, FANOUT_LAYOUT);
}

function frameOf(proto: number, src: number, sport: number, dst: number, dport: number): Uint8Array {
  const o = { src: u32ToIp(src), dst: u32ToIp(dst), srcPort: sport, dstPort: dport };
  return proto === 6 ? buildTcpFrame({ ...o, flags: 'A' }) : buildUdpFrame(o);
}

/** An ICMP error from `from` to `to` quoting the IP packet of `quoted` (an Ethernet frame). */
function icmpAbout(from: number, to: number, quoted: Uint8Array, type = 3, code = 4): Uint8Array {
  return buildFrame({
    ip: { src: u32ToIp(from), dst: u32ToIp(to) },
    icmp: { type, code, ...(type === 3 && code === 4 ? { mtu: 1400 } : {}), quote: quoted.subarray(14) },
  });
}

const svc = (protocol: 'tcp' | 'udp', addr: string, port: number, dests: [string, number, FwdMethod][], persistence = 0, netmask = '255.255.255.255'): FanoutService => ({
  key: { kind: 'addr', protocol, addr, port }, persistence, netmask,
  dests: dests.map(([a, p, fwd]) => ({ addr: a, port: p, fwd })),
});

describe('fanout hash', () => {
  it('spreads flows over the workers and stays in range', () => {
    for (const n of [2, 3, 4, 7]) {
      const seen = new Array<number>(n).fill(0);
      for (let p = 1024; p < 1024 + 4000; p++) {
        const w = fanoutHash(ipToU32('192.168.150.1'), p, n);
        expect(w).toBeGreaterThanOrEqual(0);
        expect(w).toBeLessThan(n);
        seen[w]!++;
      }
      for (const s of seen) expect(s).toBeGreaterThan(4000 / n * 0.8);
    }
  });
});

describe('fanout program', () => {
  const services = [
    svc('tcp', '10.1.0.100', 80, [['10.2.0.11', 80, 'masq'], ['10.2.0.12', 8080, 'masq']]),
    svc('udp', '10.1.0.100', 53, [['10.2.0.11', 53, 'masq']]),
    svc('tcp', '10.1.0.101', 443, [['10.2.0.13', 443, 'route']], 300, '255.255.255.0'),
    svc('tcp', '10.1.0.102', 0, [['10.2.0.14', 0, 'masq']], 60),
  ];
  const { prog, plan } = compileFanout(services, 2);

  it('steers request and NAT reply of each flow to the same worker, the one workerOfConn names', () => {
    const counts = [0, 0];
    for (let i = 0; i < 300; i++) {
      const c = (ipToU32('192.168.7.0') + (i % 50)) >>> 0;
      const cport = 20000 + i * 7;
      const req = demux(prog, frameOf(6, c, cport, ipToU32('10.1.0.100'), 80));
      const rep = demux(prog, frameOf(6, ipToU32('10.2.0.12'), 8080, c, cport));
      expect(rep).toBe(req);
      expect(req).toBe(workerOfConn(plan, 6, c, cport, ipToU32('10.1.0.100'), 80));
      counts[req]!++;
    }
    expect(counts[0]).toBeGreaterThan(50);
    expect(counts[1]).toBeGreaterThan(50);
  });

  it('a persistent service sends a client (its -M network) to one worker whatever its ports', () => {
    const ws = new Set<number>();
    for (let p = 1000; p < 1200; p++) {
      for (const host of [1, 77, 200]) ws.add(demux(prog, frameOf(6, ipToU32(`192.168.9.${host}`), p, ipToU32('10.1.0.101'), 443)));
    }
    expect(ws.size).toBe(1);
    // The template (client network, port 0) lives there too.
    expect([...ws][0]).toBe(workerOfConn(plan, 6, ipToU32('192.168.9.0'), 0, ipToU32('10.1.0.101'), 443));
    // A port-0 persistent NAT service: any port of the VIP, replies from any port of the RS.
    const c = ipToU32('172.16.5.5');
    const w = demux(prog, frameOf(6, c, 40000, ipToU32('10.1.0.102'), 2222));
    expect(demux(prog, frameOf(6, c, 40001, ipToU32('10.1.0.102'), 25))).toBe(w);
    expect(demux(prog, frameOf(6, ipToU32('10.2.0.14'), 2222, c, 40000))).toBe(w);
    expect(workerOfConn(plan, 6, c, 40000, ipToU32('10.1.0.102'), 2222)).toBe(w);
  });

  it('an ICMP error is steered by the flow it quotes, from either side', () => {
    for (let i = 0; i < 200; i++) {
      const c = (ipToU32('192.168.7.0') + i) >>> 0;
      const cport = 30000 + i;
      const w = workerOfConn(plan, 6, c, cport, ipToU32('10.1.0.100'), 80);
      // Client side: a router tells the VIP that its reply VIP:80 → c:cport did not fit.
      const reply = frameOf(6, ipToU32('10.1.0.100'), 80, c, cport);
      expect(demux(prog, icmpAbout(ipToU32('192.168.7.254'), ipToU32('10.1.0.100'), reply))).toBe(w);
      // RS side: the real server's router tells the client its DNATed packet c:cport → RIP:rport did not fit.
      const toRs = frameOf(6, c, cport, ipToU32('10.2.0.11'), 80);
      expect(demux(prog, icmpAbout(ipToU32('10.2.0.1'), c, toRs, 11, 0))).toBe(w);
    }
  });

  it('frames of no service, non-IPv4 frames, later fragments and ICMP of other types go to worker 0', () => {
    for (let i = 0; i < 50; i++) {
      expect(demux(prog, frameOf(6, ipToU32('192.168.7.1'), 40000 + i, ipToU32('10.1.0.100'), 81))).toBe(0);
      expect(demux(prog, frameOf(17, ipToU32('10.2.0.11'), 54, ipToU32('192.168.7.1'), 40000 + i))).toBe(0);
    }
    const f = frameOf(6, ipToU32('192.168.7.3'), 40001, ipToU32('10.1.0.100'), 80);
    expect(demux(prog, f, 0x86dd)).toBe(0);
    const frag = buildFrame({ ip: { src: '192.168.7.3', dst: '10.1.0.100', id: 9, fragOffset: 185, protocol: 6 }, payload: new Uint8Array(40) });
    expect(demux(prog, frag)).toBe(0);
    const echo = buildFrame({ ip: { src: '192.168.7.3', dst: '10.1.0.100' }, icmp: { type: 8, code: 0, id: 1, seq: 1 } });
    expect(demux(prog, echo)).toBe(0);
    // Truncated frames: a load past the end ends the program with 0, as in the kernel.
    for (let len = 14; len < 14 + 24; len++) expect(demux(prog, f.subarray(0, len))).toBeLessThan(2);
  });

  it('services sharing a NAT endpoint with a persistent one hash the client address alone', () => {
    const shared = [
      svc('tcp', '10.1.0.100', 80, [['10.2.0.11', 80, 'masq']]),
      svc('tcp', '10.1.0.200', 80, [['10.2.0.11', 80, 'masq']], 100, '255.255.0.0'),
      svc('tcp', '10.1.0.201', 80, [['10.2.0.12', 80, 'masq']]),
    ];
    const p = planFanout(shared, 4);
    const c = ipToU32('192.168.44.7');
    const ws = new Set<number>();
    for (let port = 1000; port < 1100; port++) ws.add(workerOfConn(p, 6, c, port, ipToU32('10.1.0.100'), 80));
    expect(ws.size).toBe(1);
    // The /16 of the persistent service is the group's granularity.
    expect(workerOfConn(p, 6, ipToU32('192.168.1.1'), 5, ipToU32('10.1.0.100'), 80)).toBe([...ws][0]);
    // The unrelated service still spreads one client's flows.
    const free = new Set<number>();
    for (let port = 1000; port < 1100; port++) free.add(workerOfConn(p, 6, c, port, ipToU32('10.1.0.201'), 80));
    expect(free.size).toBeGreaterThan(1);
  });

  it('random rule sets and flows: every packet of a conn reaches workerOfConn(conn)', () => {
    const arbSvc = fc.record({
      proto: fc.constantFrom<'tcp' | 'udp'>('tcp', 'udp'),
      vip: fc.integer({ min: 0, max: 3 }),
      port: fc.constantFrom(0, 80, 443, 53, 8080),
      persist: fc.boolean(),
      prefix: fc.integer({ min: 8, max: 32 }),
      dests: fc.array(fc.record({ rip: fc.integer({ min: 0, max: 3 }), port: fc.constantFrom(0, 80, 8080), fwd: fc.constantFrom<FwdMethod>('masq', 'route', 'tunnel') }), { minLength: 1, maxLength: 3 }),
    });
    const arbFlow = fc.record({ s: fc.nat(), d: fc.nat(), c: fc.integer({ min: 1, max: 0xdfffffff }), cport: fc.integer({ min: 1, max: 65535 }), vport: fc.integer({ min: 1, max: 65535 }) });
    fc.assert(fc.property(fc.array(arbSvc, { minLength: 1, maxLength: 6 }), fc.array(arbFlow, { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 8 }), (specs, flows, workers) => {
      // One service per (proto, vip, port), as the engine allows; port 0 only persistent.
      const seen = new Set<string>();
      const list: FanoutService[] = [];
      for (const s of specs) {
        const k = `${s.proto}|${s.vip}|${s.port}`;
        if (seen.has(k)) continue;
        seen.add(k);
        const mask = u32ToIp(s.prefix === 0 ? 0 : (0xffffffff << (32 - s.prefix)) >>> 0);
        const dseen = new Set<string>();
        const dests: [string, number, FwdMethod][] = [];
        for (const d of s.dests) { const dk = `${d.rip}|${d.port}`; if (!dseen.has(dk)) { dseen.add(dk); dests.push([`10.2.0.${10 + d.rip}`, d.port, d.fwd]); } }
        list.push(svc(s.proto, `10.1.0.${100 + s.vip}`, s.port, dests, s.persist || s.port === 0 ? 60 : 0, mask));
      }
      const { prog: p, plan: pl } = compileFanout(list, workers);
      for (const f of flows) {
        const sv = list[f.s % list.length]!;
        if (sv.key.kind !== 'addr') continue;
        const proto = sv.key.protocol === 'tcp' ? 6 : 17;
        const vaddr = ipToU32(sv.key.addr);
        const vport = sv.key.port || f.vport;
        // The engine picks the exact service before the port-0 one: skip flows another service would take.
        if (sv.key.port === 0 && list.some((o) => o !== sv && o.key.kind === 'addr' && o.key.protocol === (sv.key as { protocol: string }).protocol && o.key.addr === (sv.key as { addr: string }).addr && o.key.port === vport)) continue;
        const dest = sv.dests[f.d % sv.dests.length]!;
        const c = f.c >>> 0;
        if (pl.vips.has(c) || pl.rips.has(c)) continue; // a client that is also a VIP or RS is another story
        const want = workerOfConn(pl, proto, c, f.cport, vaddr, vport);
        if (want < 0 || want >= workers) return false;
        if (demux(p, frameOf(proto, c, f.cport, vaddr, vport)) !== want) return false;
        const icmpIn = icmpAbout(0x0a090901, vaddr, frameOf(proto, vaddr, vport, c, f.cport));
        if (demux(p, icmpIn) !== want) return false;
        if (dest.fwd === 'masq') {
          const raddr = ipToU32(dest.addr);
          const rport = dest.port || vport;
          // A reply from an endpoint another NAT service also uses hashes by that group's rule: the same rule, by construction.
          if (demux(p, frameOf(proto, raddr, rport, c, f.cport)) !== want) return false;
          if (demux(p, icmpAbout(raddr, c, frameOf(proto, c, f.cport, raddr, rport))) !== want) return false;
        }
        if (sv.persistence > 0) {
          const tplAddr = (c & ipToU32(sv.netmask)) >>> 0;
          if (workerOfConn(pl, proto, tplAddr, 0, vaddr, sv.key.port) !== want) return false;
        }
      }
      return true;
    }), { numRuns: 300 });
  });

  it('fwmark services: their NAT replies (any port, TCP and UDP) and their conns go to worker 0 (which reads the queue), with every service sharing their real servers', () => {
    const list: FanoutService[] = [
      { key: { kind: 'fwmark', fwmark: 7 }, persistence: 0, netmask: '255.255.255.255', dests: [{ addr: '10.2.0.21', port: 0, fwd: 'masq' }] },
      svc('tcp', '10.1.0.150', 80, [['10.2.0.21', 80, 'masq']]),
      svc('tcp', '10.1.0.151', 80, [['10.2.0.22', 80, 'masq']]),
    ];
    for (const workers of [2, 3, 5]) {
      const { prog: p, plan: pl } = compileFanout(list, workers);
      expect(pl.fwmarkWorker).toBe(0);
      const spread = new Set<number>();
      for (let i = 0; i < 64; i++) {
        const c = ipToU32('192.168.3.0') + i;
        expect(workerOfConn(pl, 6, c, 3000 + i, ipToU32('10.1.0.99'), 443, 7)).toBe(pl.fwmarkWorker);
        expect(demux(p, frameOf(6, ipToU32('10.2.0.21'), 1000 + i, c, 3000 + i))).toBe(pl.fwmarkWorker);
        expect(demux(p, frameOf(17, ipToU32('10.2.0.21'), 53, c, 3000 + i))).toBe(pl.fwmarkWorker);
        // An addr service on the same real server follows it; one on another real server spreads.
        expect(demux(p, frameOf(6, c, 3000 + i, ipToU32('10.1.0.150'), 80))).toBe(pl.fwmarkWorker);
        expect(workerOfConn(pl, 6, c, 3000 + i, ipToU32('10.1.0.150'), 80)).toBe(pl.fwmarkWorker);
        spread.add(demux(p, frameOf(6, c, 3000 + i, ipToU32('10.1.0.151'), 80)));
      }
      expect(spread.size).toBeGreaterThan(1);
    }
  });

  it('one worker needs no steering; a rule set too big for one program falls back to addresses, then to worker 0', () => {
    expect(workerOfConn(planFanout(services, 1), 6, 1, 2, ipToU32('10.1.0.100'), 80)).toBe(0);
    const many: FanoutService[] = [];
    for (let i = 0; i < 600; i++) many.push(svc('tcp', u32ToIp(ipToU32('10.8.0.0') + i), 80 + (i % 3), [[u32ToIp(ipToU32('10.9.0.0') + i), 80, 'masq']]));
    const big = compileFanout(many, 2);
    expect(big.degraded).toBe('address-only');
    expect(big.prog.length / 4).toBeLessThanOrEqual(4096);
    const c = ipToU32('192.168.1.9');
    const vaddr = ipToU32('10.8.0.5');
    const want = workerOfConn(big.plan, 6, c, 1234, vaddr, 82);
    expect(demux(big.prog, frameOf(6, c, 1234, vaddr, 82))).toBe(want);
    expect(demux(big.prog, frameOf(6, c, 999, vaddr, 82))).toBe(want); // the client address alone
    expect(demux(big.prog, frameOf(6, ipToU32('10.9.0.5'), 80, c, 1234))).toBe(want);
    const huge: FanoutService[] = [];
    for (let i = 0; i < 3000; i++) huge.push(svc('tcp', u32ToIp(ipToU32('10.8.0.0') + i), 80, [[u32ToIp(ipToU32('10.9.0.0') + i), 80, 'masq']]));
    const h = compileFanout(huge, 2);
    expect(h.degraded).toBe('single-worker');
    expect(workerOfConn(h.plan, 6, c, 1234, ipToU32('10.8.0.5'), 80)).toBe(0);
    expect(demux(h.prog, frameOf(6, c, 1234, ipToU32('10.8.0.5'), 80))).toBe(0);
  });
});

describe('fanout program, IPv6', () => {
  const ip6 = (s: string): Uint8Array => parseIpv6(s)!;
  const frame6 = (proto: number, src: string, sport: number, dst: string, dport: number, ext?: { type: number }[]): Uint8Array => {
    const o = { src, dst, srcPort: sport, dstPort: dport, ...(ext ? { ext } : {}) };
    return proto === 6 ? buildTcp6Frame({ ...o, flags: 'A' }) : buildUdp6Frame(o);
  };
  /** An ICMPv6 error from `from` to `to` quoting the IPv6 packet of `quoted`. */
  const icmp6About = (from: string, to: string, quoted: Uint8Array, type = 2): Uint8Array =>
    buildIcmp6Frame({ src: from, dst: to, type, code: 0, ...(type === 2 ? { info: 1400 } : {}), quote: quoted.subarray(14) });
  const d6 = (prog: Uint32Array, f: Uint8Array) => demux(prog, f, 0x86dd);
  const services = [
    svc('tcp', '2001:db8:1::100', 80, [['2001:db8:2::11', 80, 'masq'], ['2001:db8:2::12', 8080, 'masq']]),
    svc('udp', '2001:db8:1::100', 53, [['2001:db8:2::11', 53, 'masq']]),
    svc('tcp', '2001:db8:1::101', 443, [['2001:db8:2::13', 443, 'route']], 300, '64'),
    svc('tcp', '10.1.0.100', 80, [['10.2.0.11', 80, 'masq']]),
  ];
  const { prog, plan } = compileFanout(services, 2);
  const client = (i: number) => `2001:db8:7::${(i % 50).toString(16)}:${(i * 7919 % 65536).toString(16)}`;

  it('steers request, NAT reply and ICMPv6 errors of each IPv6 flow to the worker workerOfConn6 names, and spreads flows', () => {
    const counts = [0, 0];
    for (let i = 0; i < 300; i++) {
      const c = client(i);
      const cport = 20000 + i * 7;
      const want = workerOfConn6(plan, 6, ip6(c), cport, ip6('2001:db8:1::100'), 80);
      expect(d6(prog, frame6(6, c, cport, '2001:db8:1::100', 80))).toBe(want);
      expect(d6(prog, frame6(6, '2001:db8:2::12', 8080, c, cport))).toBe(want);
      // A router on the client side about the VIP's reply; the RS side's about the DNATed request.
      expect(d6(prog, icmp6About('2001:db8:7::fe', '2001:db8:1::100', frame6(6, '2001:db8:1::100', 80, c, cport)))).toBe(want);
      expect(d6(prog, icmp6About('2001:db8:2::1', c, frame6(6, c, cport, '2001:db8:2::11', 80), 3))).toBe(want);
      counts[want]!++;
    }
    expect(counts[0]).toBeGreaterThan(50);
    expect(counts[1]).toBeGreaterThan(50);
  });

  it('a persistent IPv6 service sends every client of one -M prefix to one worker, templates included', () => {
    const ws = new Set<number>();
    for (let p = 1000; p < 1100; p++) {
      for (const c of ['2001:db8:9:1::1', '2001:db8:9:1:abcd::1', '2001:db8:9:1:ffff:ffff:ffff:ffff']) ws.add(d6(prog, frame6(6, c, p, '2001:db8:1::101', 443)));
    }
    expect(ws.size).toBe(1);
    expect([...ws][0]).toBe(workerOfConn6(plan, 6, ip6('2001:db8:9:1::'), 0, ip6('2001:db8:1::101'), 443));
    // Other /64s spread.
    const nets = new Set<number>();
    for (let n = 0; n < 64; n++) nets.add(d6(prog, frame6(6, `2001:db8:9:${(n + 2).toString(16)}::5`, 4000, '2001:db8:1::101', 443)));
    expect(nets.size).toBe(2);
  });

  it('IPv6 frames of no service, with extension headers, and ICMPv6 that is not an error go to worker 0', () => {
    for (let i = 0; i < 40; i++) {
      expect(d6(prog, frame6(6, client(i), 40000 + i, '2001:db8:1::100', 81))).toBe(0);
      expect(d6(prog, frame6(17, '2001:db8:2::11', 54, client(i), 40000 + i))).toBe(0);
      expect(d6(prog, frame6(6, client(i), 40000 + i, '2001:db8:1::100', 80, [{ type: 60 }]))).toBe(0);
    }
    expect(d6(prog, buildIcmp6Frame({ src: client(1), dst: '2001:db8:1::100', type: 128, payload: 'ping' }))).toBe(0);
    // The IPv4 service of the same rule set still steers as before.
    const c = ipToU32('192.168.7.9');
    expect(demux(prog, frameOf(6, c, 5555, ipToU32('10.1.0.100'), 80))).toBe(workerOfConn(plan, 6, c, 5555, ipToU32('10.1.0.100'), 80));
    const f = frame6(6, client(3), 40001, '2001:db8:1::100', 80);
    for (let len = 14; len < 14 + 44; len++) expect(d6(prog, f.subarray(0, len))).toBeLessThan(2);
  });

  it('random IPv6 rule sets and flows: every packet of a conn reaches workerOfConn6(conn)', () => {
    const arbSvc = fc.record({
      proto: fc.constantFrom<'tcp' | 'udp'>('tcp', 'udp'),
      vip: fc.integer({ min: 0, max: 3 }),
      port: fc.constantFrom(0, 80, 443, 53),
      persist: fc.boolean(),
      prefix: fc.integer({ min: 16, max: 128 }),
      dests: fc.array(fc.record({ rip: fc.integer({ min: 0, max: 3 }), port: fc.constantFrom(0, 80, 8080), fwd: fc.constantFrom<FwdMethod>('masq', 'route', 'tunnel') }), { minLength: 1, maxLength: 3 }),
    });
    const arbFlow = fc.record({ s: fc.nat(), d: fc.nat(), c: fc.uint8Array({ minLength: 16, maxLength: 16 }), cport: fc.integer({ min: 1, max: 65535 }), vport: fc.integer({ min: 1, max: 65535 }) });
    fc.assert(fc.property(fc.array(arbSvc, { minLength: 1, maxLength: 6 }), fc.array(arbFlow, { minLength: 1, maxLength: 20 }), fc.integer({ min: 1, max: 8 }), (specs, flows, workers) => {
      const seen = new Set<string>();
      const list: FanoutService[] = [];
      for (const s of specs) {
        const k = `${s.proto}|${s.vip}|${s.port}`;
        if (seen.has(k)) continue;
        seen.add(k);
        const dseen = new Set<string>();
        const dests: [string, number, FwdMethod][] = [];
        for (const d of s.dests) { const dk = `${d.rip}|${d.port}`; if (!dseen.has(dk)) { dseen.add(dk); dests.push([`2001:db8:2::${10 + d.rip}`, d.port, d.fwd]); } }
        list.push(svc(s.proto, `2001:db8:1::${100 + s.vip}`, s.port, dests, s.persist || s.port === 0 ? 60 : 0, String(s.prefix)));
      }
      const { prog: p, plan: pl } = compileFanout(list, workers);
      for (const f of flows) {
        const sv = list[f.s % list.length]!;
        if (sv.key.kind !== 'addr') continue;
        const proto = sv.key.protocol === 'tcp' ? 6 : 17;
        const vport = sv.key.port || f.vport;
        if (sv.key.port === 0 && list.some((o) => o !== sv && o.key.kind === 'addr' && o.key.protocol === (sv.key as { protocol: string }).protocol && o.key.addr === (sv.key as { addr: string }).addr && o.key.port === vport)) continue;
        const dest = sv.dests[f.d % sv.dests.length]!;
        f.c[0] = 0x20; f.c[1] = 0x01; f.c[2] = 0x0d; f.c[3] = 0xb9; // a global unicast client, never a VIP or RS fold by design of the test
        const c = formatIpv6(f.c);
        const vaddr = sv.key.addr;
        const want = workerOfConn6(pl, proto, f.c, f.cport, ip6(vaddr), vport);
        if (want < 0 || want >= workers) return false;
        if (d6(p, frame6(proto, c, f.cport, vaddr, vport)) !== want) return false;
        if (d6(p, icmp6About('2001:db8:9::1', vaddr, frame6(proto, vaddr, vport, c, f.cport))) !== want) return false;
        if (dest.fwd === 'masq') {
          const rport = dest.port || vport;
          if (d6(p, frame6(proto, dest.addr, rport, c, f.cport)) !== want) return false;
          if (d6(p, icmp6About(dest.addr, c, frame6(proto, c, f.cport, dest.addr, rport), 1)) !== want) return false;
        }
        if (sv.persistence > 0) {
          const prefix = Number(sv.netmask);
          const tpl = new Uint8Array(16);
          for (let b = 0; b < 16; b++) { const bits = Math.max(0, Math.min(8, prefix - b * 8)); tpl[b] = f.c[b]! & ((0xff << (8 - bits)) & 0xff); }
          if (workerOfConn6(pl, proto, tpl, 0, ip6(vaddr), sv.key.port) !== want) return false;
        }
      }
      return true;
    }), { numRuns: 300 });
  });

  it('a rule set too big for one program steers IPv6 by the client address alone', () => {
    const many: FanoutService[] = [];
    for (let i = 0; i < 600; i++) many.push(svc('tcp', `2001:db8:8::${(i + 1).toString(16)}`, 80 + (i % 3), [[`2001:db8:9::${(i + 1).toString(16)}`, 80, 'masq']]));
    const big = compileFanout(many, 2);
    expect(big.degraded).toBe('address-only');
    const want = workerOfConn6(big.plan, 6, ip6('2001:db8:7::9'), 1234, ip6('2001:db8:8::6'), 82);
    expect(d6(big.prog, frame6(6, '2001:db8:7::9', 1234, '2001:db8:8::6', 82))).toBe(want);
    expect(d6(big.prog, frame6(6, '2001:db8:7::9', 999, '2001:db8:8::6', 82))).toBe(want);
    expect(d6(big.prog, frame6(6, '2001:db8:9::6', 80, '2001:db8:7::9', 1234))).toBe(want);
  });
});

describe('steeringChanged (when lvsd hands conns over between workers)', () => {
  const base = [
    svc('tcp', '10.1.0.100', 80, [['10.2.0.11', 80, 'masq'], ['10.2.0.12', 80, 'masq']]),
    svc('tcp', '10.1.0.101', 443, [['10.2.0.13', 443, 'route']]),
    svc('tcp', '2001:db8:1::100', 80, [['2001:db8:2::11', 80, 'masq']]),
  ];
  const plan = (l: FanoutService[], w = 2) => planFanout(l, w);
  it('is false for what moves no flow: a new real server, a new service, the same rules again', () => {
    expect(steeringChanged(plan(base), plan(base))).toBe(false);
    expect(steeringChanged(plan(base), plan([{ ...base[0]!, dests: [...base[0]!.dests, { addr: '10.2.0.14', port: 80, fwd: 'masq' }] }, base[1]!, base[2]!]))).toBe(false);
    expect(steeringChanged(plan(base), plan([...base, svc('udp', '10.1.0.100', 53, [['10.2.0.15', 53, 'masq']])]))).toBe(false);
  });
  it('is true when a service both plans know hashes another way, or the worker count or fallback changes', () => {
    expect(steeringChanged(plan(base), plan([{ ...base[0]!, persistence: 300 }, base[1]!, base[2]!]))).toBe(true);
    expect(steeringChanged(plan([{ ...base[1]!, persistence: 300 }]), plan([{ ...base[1]!, persistence: 300, netmask: '255.255.255.0' }]))).toBe(true);
    expect(steeringChanged(plan(base), plan([base[0]!, base[1]!, { ...base[2]!, persistence: 60, netmask: '64' }]))).toBe(true);
    // A persistent service that shares rs 10.2.0.11:80 pulls the first one's group to client-address hashing.
    expect(steeringChanged(plan(base), plan([...base, svc('tcp', '10.1.0.102', 80, [['10.2.0.11', 80, 'masq']], 300)]))).toBe(true);
    expect(steeringChanged(planFanout([], 1), plan(base))).toBe(true);
    expect(steeringChanged(plan(base), planFanout(base, 2, true))).toBe(true);
  });
});
