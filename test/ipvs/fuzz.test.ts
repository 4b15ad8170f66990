// 1M+ random and mutated frames through one engine: input() must never
// throw, every frame must land in exactly one counter, every XMIT must point
// inside the buffer with room for the Ethernet header and carry a valid IPv4
// header, and the dests' conn counts must match the table.
import { describe, expect, it } from 'vitest';
import { HEADROOM, VERDICT_XMIT, type XmitOut } from '../../src/ipvs/engine.js';
import { ipToU32 } from '../../src/packet/addr.js';
import { buildFrame } from '../packet/build/frame.js';
import { CLIENT, VIP, dest, engine, svc, tcp, tcpKey, udp, udpKey } from './helpers.js';
import { parseIpv6 } from '../../src/packet/ipv6.js';
import { VIP6, buildIcmp6Frame, buildTcp6Frame, buildUdp6Frame, l3Of } from '../packet/build/ipv6.js';

const RS_NAT = '192.168.1.10';

function bases(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const flags of ['S', 'SA', 'A', 'PA', 'FA', 'R', '', 'SR']) {
    out.push(tcp({ flags, srcPort: 1000 + out.length, payload: 'abcdef' }));
    out.push(tcp({ flags, dstPort: 443, srcPort: 2000 + out.length }));
    out.push(tcp({ flags, dstPort: 8443, srcPort: 3000, vlan: 5 }));
    out.push(tcp({ flags, src: RS_NAT, dst: CLIENT, srcPort: 8080, dstPort: 1000 }));
  }
  out.push(udp({ srcPort: 5353, payload: 'q' }), udp({ srcPort: 5354, checksum: 0 }));
  out.push(udp({ src: RS_NAT, dst: CLIENT, srcPort: 53, dstPort: 5353 }));
  const reply = buildFrame({ ip: { src: VIP, dst: CLIENT }, tcp: { srcPort: 80, dstPort: 1000, flags: 'SA' } }).subarray(14);
  out.push(buildFrame({ ip: { src: '10.0.0.254', dst: VIP }, icmp: { type: 3, code: 4, mtu: 1300, quote: reply } }));
  const toRs = buildFrame({ ip: { src: CLIENT, dst: RS_NAT }, tcp: { srcPort: 1000, dstPort: 8080, flags: 'S' } }).subarray(14);
  out.push(buildFrame({ ip: { src: RS_NAT, dst: CLIENT }, icmp: { type: 3, code: 3, quote: toRs } }));
  out.push(buildFrame({ ip: { src: CLIENT, dst: VIP }, icmp: { type: 8, id: 1, seq: 1 } }));
  out.push(tcp({ flags: 'S', payload: new Uint8Array(1460) }));
  out.push(tcp({ flags: 'A', dstPort: 443, srcPort: 2001, payload: new Uint8Array(1400) }));
  return out;
}

describe('fuzz', () => {
  it('survives 1.2M random and mutated frames with consistent counters', () => {
    const e = engine({ maxConns: 5000, connTableBits: 10 });
    e.addService(svc(tcpKey(80), { scheduler: 'wlc' }));
    e.addDest(tcpKey(80), dest(RS_NAT, 8080, { fwd: 'masq' }));
    e.addDest(tcpKey(80), dest('192.168.1.11', 80, { uThreshold: 50 }));
    e.addService(svc(tcpKey(443), { scheduler: 'mh', persistence: 60, netmask: '255.255.0.0' }));
    e.addDest(tcpKey(443), dest('192.168.1.12', 443, { fwd: 'tunnel' }), { tunSource: ipToU32('192.168.1.1') });
    e.addDest(tcpKey(443), dest('192.168.1.13', 443));
    e.addService(svc(tcpKey(8443), { scheduler: 'sh' }));
    e.addDest(tcpKey(8443), dest('192.168.1.14', 8443, { fwd: 'tunnel' }));
    e.addService(svc(udpKey(53), { ops: false }));
    e.addDest(udpKey(53), dest(RS_NAT, 53, { fwd: 'masq' }));
    e.setTunMtu(1400);

    const frames = bases();
    const buf = new Uint8Array(HEADROOM + 1600);
    const out: XmitOut = { buf, start: 0, len: 0, nextHop: 0 };
    let seed = 0x9e3779b9;
    const rnd = () => {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5;
      return seed >>> 0;
    };
    const N = 1_200_000;
    let xmit = 0;
    let badOut = 0;
    let now = 0;
    for (let n = 0; n < N; n++) {
      let len: number;
      const r = rnd();
      if ((r & 15) === 0) {
        // Pure noise, often dressed as IPv4.
        len = rnd() % 120;
        for (let k = 0; k < len; k++) buf[HEADROOM + k] = rnd();
        if (len > 14 && (r & 16)) { buf[HEADROOM + 12] = 8; buf[HEADROOM + 13] = 0; buf[HEADROOM + 14] = 0x45; }
      } else {
        const base = frames[(r >>> 4) % frames.length]!;
        buf.set(base, HEADROOM);
        len = base.length;
        const muts = (r >>> 12) & 3;
        for (let m = 0; m < muts; m++) {
          const pos = rnd() % (len + 2);
          if (pos < len) buf[HEADROOM + pos] = rnd();
        }
        if ((r >>> 14) & 1) {
          // Addresses drawn from a small set so mutated flows still meet services and conns.
          buf[HEADROOM + 29] = 1 + (rnd() & 7);
        }
        if (((r >>> 15) & 7) === 0) len = rnd() % (len + 1);
        if (((r >>> 18) & 7) === 1) len = Math.min(len + (rnd() % 40), buf.length - HEADROOM);
        if ((r >>> 21) & 1) {
          // Fix the IP header checksum so mutations reach the deeper layers.
          const l3 = HEADROOM + (buf[HEADROOM + 12] === 0x81 ? 18 : 14);
          const ihl = (buf[l3]! & 15) * 4;
          if (ihl >= 20 && l3 + ihl <= HEADROOM + len) {
            buf[l3 + 10] = 0; buf[l3 + 11] = 0;
            let s = 0;
            for (let k = 0; k < ihl; k += 2) s += (buf[l3 + k]! << 8) | buf[l3 + k + 1]!;
            while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
            buf[l3 + 10] = (~s >> 8) & 0xff; buf[l3 + 11] = ~s & 0xff;
          }
        }
      }
      const v = e.input(buf, HEADROOM, len, now, out);
      if (v === VERDICT_XMIT) {
        xmit++;
        const o = out.buf;
        if (out.start < 14 || out.start + out.len > o.length || out.len < 20 || (o[out.start]! >> 4) !== 4) badOut++;
        else {
          let s = 0;
          const ihl = (o[out.start]! & 15) * 4;
          for (let k = 0; k < ihl; k += 2) s += (o[out.start + k]! << 8) | o[out.start + k + 1]!;
          while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
          if (s !== 0xffff || ((o[out.start + 2]! << 8) | o[out.start + 3]!) !== out.len) badOut++;
        }
      } else if (v !== 0 && v !== 2) {
        badOut++;
      }
      if ((n & 0x3fff) === 0) {
        now += 700;
        e.tick(now);
      }
    }
    const c = e.counters();
    const drops = Object.entries(c).filter(([k]) => k.startsWith('drop_')).reduce((a, [, v]) => a + v, 0);
    const ignores = Object.entries(c).filter(([k]) => k.startsWith('ignore_')).reduce((a, [, v]) => a + v, 0);
    expect(badOut).toBe(0);
    expect(c.frames).toBe(N);
    expect(c.xmit).toBe(xmit);
    expect(c.xmit + drops + ignores).toBe(N);
    expect(xmit).toBeGreaterThan(N / 20);
    expect(c.conns_created).toBeGreaterThan(100);
    expect(c.icmp_generated).toBeGreaterThan(0);
    const dests = e.listServices().flatMap((s) => s.dests);
    expect(dests.reduce((a, d) => a + d.activeConns + d.inactConns, 0)).toBe(c.conns);
    expect(dests.reduce((a, d) => a + d.persistConns, 0)).toBe(c.templates);
    expect(e.listConns(now)).toHaveLength(c.conns + c.templates);
    // Everything expires in the end and the counts come back to zero.
    e.tick(now + 3_600_000);
    e.tick(now + 7_200_000);
    expect(e.counters().conns + e.counters().templates).toBe(0);
    expect(e.listServices().flatMap((s) => s.dests).every((d) => d.activeConns === 0 && d.inactConns === 0 && d.persistConns === 0)).toBe(true);
  }, 30_000);
});

function bases6(): Uint8Array[] {
  const C = '2001:db8::1';
  const R = '2001:db8:1::10';
  const out: Uint8Array[] = [];
  for (const flags of ['S', 'SA', 'A', 'PA', 'FA', 'R', '', 'SR']) {
    out.push(buildTcp6Frame({ flags, srcPort: 1000 + out.length, payload: 'abcdef' }));
    out.push(buildTcp6Frame({ flags, dstPort: 443, srcPort: 2000 + out.length, ext: [{ type: 0 }, { type: 60, len: 16 }] }));
    out.push(buildTcp6Frame({ flags, dstPort: 8443, srcPort: 3000 }));
    out.push(buildTcp6Frame({ flags, src: R, dst: C, srcPort: 8080, dstPort: 1000 }));
  }
  out.push(buildUdp6Frame({ srcPort: 5353, payload: 'q' }), buildUdp6Frame({ srcPort: 5354, checksum: false }));
  out.push(buildUdp6Frame({ src: R, dst: C, srcPort: 53, dstPort: 5353 }));
  out.push(buildTcp6Frame({ ext: [{ type: 44, more: true }] }), buildTcp6Frame({ ext: [{ type: 43, segmentsLeft: 1 }] }));
  const reply = l3Of(buildTcp6Frame({ src: VIP6, dst: C, srcPort: 80, dstPort: 1000, flags: 'SA' }));
  out.push(buildIcmp6Frame({ src: C, dst: VIP6, type: 2, info: 1300, quote: reply }));
  const toRs = l3Of(buildTcp6Frame({ src: C, dst: R, srcPort: 1000, dstPort: 8080, flags: 'S' }));
  out.push(buildIcmp6Frame({ src: R, dst: C, type: 1, code: 4, quote: toRs }));
  out.push(buildIcmp6Frame({ src: C, dst: VIP6, type: 128, payload: 'ping' }));
  out.push(buildTcp6Frame({ flags: 'S', payload: new Uint8Array(1440) }));
  out.push(buildTcp6Frame({ flags: 'A', dstPort: 443, srcPort: 2001, payload: new Uint8Array(1400) }));
  return out;
}

describe('fuzz, IPv6', () => {
  it('survives 600k random and mutated IPv6 frames with consistent counters', () => {
    const e = engine({ maxConns: 5000, connTableBits: 10 });
    const k = (port: number, protocol: 'tcp' | 'udp' = 'tcp') => ({ kind: 'addr' as const, protocol, addr: VIP6, port });
    e.addService(svc(k(80), { scheduler: 'wlc' }));
    e.addDest(k(80), dest('2001:db8:1::10', 8080, { fwd: 'masq' }));
    e.addDest(k(80), dest('2001:db8:1::11', 80, { uThreshold: 50 }));
    e.addService(svc(k(443), { scheduler: 'mh', persistence: 60, netmask: '64' }));
    e.addDest(k(443), dest('2001:db8:1::12', 443, { fwd: 'tunnel' }), { tunSource6: parseIpv6('2001:db8:1::1')! });
    e.addDest(k(443), dest('2001:db8:1::13', 443));
    e.addService(svc(k(8443), { scheduler: 'sh' }));
    e.addDest(k(8443), dest('2001:db8:1::14', 8443, { fwd: 'tunnel' }));
    e.addService(svc(k(53, 'udp')));
    e.addDest(k(53, 'udp'), dest('2001:db8:1::10', 53, { fwd: 'masq' }));
    e.setTunMtu(1400);

    const frames = bases6();
    const buf = new Uint8Array(HEADROOM + 1600);
    const out: XmitOut = { buf, start: 0, len: 0, nextHop: 0 };
    let seed = 0x2545f491;
    const rnd = () => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return seed >>> 0; };
    const N = 600_000;
    let xmit = 0;
    let badOut = 0;
    let now = 0;
    for (let n = 0; n < N; n++) {
      let len: number;
      const r = rnd();
      if ((r & 15) === 0) {
        len = rnd() % 120;
        for (let q = 0; q < len; q++) buf[HEADROOM + q] = rnd();
        if (len > 14 && (r & 16)) { buf[HEADROOM + 12] = 0x86; buf[HEADROOM + 13] = 0xdd; buf[HEADROOM + 14] = 0x60; }
      } else {
        const base = frames[(r >>> 4) % frames.length]!;
        buf.set(base, HEADROOM);
        len = base.length;
        const muts = (r >>> 12) & 3;
        for (let m = 0; m < muts; m++) {
          // Mostly in the headers, where the walk and the keys are.
          const pos = rnd() % Math.min(len + 2, (r >>> 20) & 1 ? 120 : len + 2);
          if (pos < len) buf[HEADROOM + pos] = rnd();
        }
        // Client addresses from a small set so mutated flows still meet services and conns.
        if ((r >>> 14) & 1) buf[HEADROOM + 14 + 23] = 1 + (rnd() & 7);
        if (((r >>> 15) & 7) === 0) len = rnd() % (len + 1);
        if (((r >>> 18) & 7) === 1) len = Math.min(len + (rnd() % 40), buf.length - HEADROOM);
      }
      const v = e.input(buf, HEADROOM, len, now, out);
      if (v === VERDICT_XMIT) {
        xmit++;
        const o = out.buf;
        if (out.start < 14 || out.start + out.len > o.length || out.len < 40 || (o[out.start]! >> 4) !== 6
          || 40 + ((o[out.start + 4]! << 8) | o[out.start + 5]!) !== out.len || out.nextHop6?.length !== 16) badOut++;
      } else if (v !== 0 && v !== 2) {
        badOut++;
      }
      if ((n & 0x3fff) === 0) { now += 700; e.tick(now); }
    }
    const c = e.counters();
    const drops = Object.entries(c).filter(([x]) => x.startsWith('drop_')).reduce((a, [, v]) => a + v, 0);
    const ignores = Object.entries(c).filter(([x]) => x.startsWith('ignore_')).reduce((a, [, v]) => a + v, 0);
    expect(badOut).toBe(0);
    expect(c.frames).toBe(N);
    expect(c.xmit + drops + ignores).toBe(N);
    expect(xmit).toBeGreaterThan(N / 20);
    expect(c.conns_created).toBeGreaterThan(100);
    const dests = e.listServices().flatMap((s) => s.dests);
    expect(dests.reduce((a, d) => a + d.activeConns + d.inactConns, 0)).toBe(c.conns);
    expect(dests.reduce((a, d) => a + d.persistConns, 0)).toBe(c.templates);
    expect(e.listConns(now)).toHaveLength(c.conns + c.templates);
    e.tick(now + 3_600_000);
    e.tick(now + 7_200_000);
    expect(e.counters().conns + e.counters().templates).toBe(0);
  }, 30_000);
});
