// The filter compiler judged by a classic-BPF interpreter written from
// Documentation/networking/filter.rst (the kernel judges the same cases in
// test/lab/native.test.ts), plus random rule sets against a reference predicate.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  BPF_MAXINSNS, DEFAULT_MAX_ENTRIES, SNAP_ALL, acceptAll, compileFilter, rejectAll, toInsns,
  type FilterEndpoint, type FilterRules,
} from '../../src/io/bpf.js';
import { buildTcpFrame, buildUdpFrame } from '../packet/build/frame.js';
import { buildTcp6Frame, buildUdp6Frame } from '../packet/build/ipv6.js';
import { u32ToIp } from '../../src/packet/addr.js';
import { RULES, cases } from './native-bpf-cases.js';
import { runBpf } from './bpf-interp.js';


/** Forward-only jumps inside the program and a RET at the end: what the kernel's sk_chk_filter demands. */
function checkStructure(prog: Uint32Array): void {
  const insns = toInsns(prog);
  expect(insns.length).toBeGreaterThan(0);
  expect(insns.length).toBeLessThanOrEqual(BPF_MAXINSNS);
  insns.forEach(([code, jt, jf, k], i) => {
    if ((code & 7) !== 0x05) return;
    if ((code & 0xf0) === 0) expect(i + 1 + k).toBeLessThan(insns.length);
    else {
      expect(i + 1 + jt).toBeLessThan(insns.length);
      expect(i + 1 + jf).toBeLessThan(insns.length);
    }
  });
  expect(insns[insns.length - 1]![0] & 7).toBe(0x06);
}

describe('compileFilter', () => {
  const prog = compileFilter(RULES);

  it('is structurally valid', () => checkStructure(prog));

  for (const c of cases()) {
    it(`${c.accept ? 'accepts' : 'rejects'} ${c.name}`, () => {
      expect(runBpf(prog, c.frame)).toBe(c.accept ? SNAP_ALL : 0);
    });
  }

  it('rejects every truncated prefix of an accepted frame that cuts the ports', () => {
    const f = buildTcpFrame({ src: '10.0.0.1', dst: '10.77.0.100', dstPort: 80 });
    expect(runBpf(prog, f)).toBe(SNAP_ALL);
    for (let len = 0; len < 14 + 20 + 4; len++) expect(runBpf(prog, f.subarray(0, len))).toBe(0);
  });

  it('rejects everything without rules, accepts everything above maxEntries', () => {
    expect(compileFilter({ services: [] })).toEqual(rejectAll());
    const many: FilterEndpoint[] = Array.from({ length: DEFAULT_MAX_ENTRIES + 1 }, (_, i) => ({ protocol: 'tcp', addr: 0x0a000000 + i, port: 80 }));
    expect(compileFilter({ services: many })).toEqual(acceptAll());
    expect(compileFilter({ services: many.slice(0, 10), maxEntries: 5 })).toEqual(acceptAll());
  });

  it('honours snapLen', () => {
    const p = compileFilter({ ...RULES, snapLen: 128 });
    expect(runBpf(p, buildTcpFrame({ src: '10.0.0.1', dst: '10.77.0.100', dstPort: 80 }))).toBe(128);
  });

  it('refuses bad rules with a message naming the field', () => {
    expect(() => compileFilter({ services: [{ protocol: 'sctp' as never, addr: '10.0.0.1', port: 1 }] })).toThrow(/protocol/);
    expect(() => compileFilter({ services: [{ protocol: 'tcp', addr: '10.0.0.300', port: 1 }] })).toThrow(/IPv4/);
    expect(() => compileFilter({ services: [{ protocol: 'tcp', addr: '10.0.0.1', port: 70000 }] })).toThrow(/port/);
  });

  it('IPv6: agrees with a reference predicate on random rule sets and frames, IPv4 rules beside them', () => {
    const addr = fc.integer({ min: 1, max: 6 }).map((i) => `2001:db8:${i & 1}::${i}`);
    const port = fc.constantFrom(0, 53, 80, 8080);
    const proto = fc.constantFrom<'tcp' | 'udp'>('tcp', 'udp');
    const ep = fc.record({ protocol: proto, addr, port });
    const frame = fc.record({ proto, src: addr, dst: addr, sport: port.filter((p) => p !== 0), dport: port.filter((p) => p !== 0) });
    fc.assert(fc.property(fc.array(ep, { maxLength: 40 }), fc.array(ep, { maxLength: 20 }), fc.array(frame, { minLength: 1, maxLength: 20 }),
      (services, realServers, frames) => {
        const rules: FilterRules = { services: [...services, { protocol: 'tcp', addr: '10.0.0.5', port: 80 }], realServers };
        const p = compileFilter(rules);
        checkStructure(p);
        const m = (e: FilterEndpoint, a: string, pr: string, po: number) => e.addr === a && e.protocol === pr && (e.port === 0 || e.port === po);
        for (const f of frames) {
          const want = services.some((e) => m(e, f.dst, f.proto, f.dport)) || realServers.some((e) => m(e, f.src, f.proto, f.sport));
          const o = { src: f.src, dst: f.dst, srcPort: f.sport, dstPort: f.dport };
          const bytes = f.proto === 'tcp' ? buildTcp6Frame(o) : buildUdp6Frame(o);
          if ((runBpf(p, bytes) !== 0) !== want) return false;
        }
        return true;
      },
    ), { numRuns: 200 });
  });

  it('IPv4-only rules keep IPv6 frames out before any IPv6 code (none is emitted)', () => {
    const p = compileFilter({ services: [{ protocol: 'tcp', addr: '10.0.0.5', port: 80 }] });
    expect(runBpf(p, buildTcp6Frame({ dst: '2001:db8::100', dstPort: 80 }))).toBe(0);
    expect(toInsns(p).some(([, , , k]) => k === 0x86dd)).toBe(false);
  });

  it('agrees with a reference predicate on random rule sets and frames (up to 200 rules)', () => {
    // Small address/port alphabets so random frames hit rules often.
    const addr = fc.integer({ min: 1, max: 12 }).map((i) => 0x0a4d0000 + i);
    const port = fc.constantFrom(0, 53, 80, 443, 8080);
    const proto = fc.constantFrom<'tcp' | 'udp'>('tcp', 'udp');
    const ep = fc.record({ protocol: proto, addr, port });
    const frame = fc.record({ proto, src: addr, dst: addr, sport: port.filter((p) => p !== 0), dport: port.filter((p) => p !== 0), vlan: fc.boolean() });
    fc.assert(fc.property(
      fc.array(ep, { maxLength: 120 }), fc.array(ep, { maxLength: 80 }), fc.array(frame, { minLength: 1, maxLength: 20 }),
      (services, realServers, frames) => {
        const rules: FilterRules = { services, realServers };
        const p = compileFilter(rules);
        checkStructure(p);
        const m = (e: FilterEndpoint, a: number, pr: string, po: number) => e.addr === a && e.protocol === pr && (e.port === 0 || e.port === po);
        for (const f of frames) {
          const want = services.some((e) => m(e, f.dst, f.proto, f.dport)) || realServers.some((e) => m(e, f.src, f.proto, f.sport));
          const o = { src: u32ToIp(f.src), dst: u32ToIp(f.dst), srcPort: f.sport, dstPort: f.dport, vlan: f.vlan ? 7 : undefined };
          const bytes = f.proto === 'tcp' ? buildTcpFrame(o) : buildUdpFrame(o);
          if ((runBpf(p, bytes) !== 0) !== want) return false;
        }
        return true;
      },
    ), { numRuns: 300 });
  });
});
