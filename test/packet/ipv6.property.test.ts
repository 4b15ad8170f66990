// Property tests for the IPv6 codecs: text forms against glibc's own
// inet_pton/inet_ntop (through Python's socket module, one process for the
// whole batch), the extension-header walk against the chains the test
// builds, and RFC 1624 updates over the IPv6 pseudo-header against a full
// recomputation.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import {
  EXT_BAD, EXT_FRAGMENT, EXT_ROUTING, EXT_TRUNCATED, csumUpdate128, decodeIpv6, formatIpv6, ipv6Upper, parseIpv6, upperChecksum6,
  writeIpv6Header,
} from '../../src/packet/ipv6.js';
import { rewriteAddrPort6 } from '../../src/ipvs/xmit/nat.js';
import { buildTcp6Frame, buildUdp6Frame, extBytes, type ExtHeader } from './build/ipv6.js';

/** Python's socket.inet_ntop / inet_pton are glibc's. */
function glibc(kind: 'ntop' | 'pton', inputs: string[]): string[] {
  const py = kind === 'ntop'
    ? 'import sys,socket\nfor l in sys.stdin.read().split():\n  print(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(l)))'
    : 'import sys,socket\nfor l in sys.stdin.read().split("\\n"):\n  if not l: continue\n  try: print(socket.inet_pton(socket.AF_INET6, l).hex())\n  except OSError: print("-")';
  const r = spawnSync('python3', ['-c', py], { input: inputs.join('\n') + '\n', encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3: ${r.stderr}`);
  return r.stdout.trim().split('\n');
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// Addresses with many zero groups (where :: placement and the IPv4 forms matter).
const addrBytes = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
  .map((w) => { const b = new Uint8Array(16); w.forEach((x, i) => { b[i * 2] = x >>> 8; b[i * 2 + 1] = x & 255; }); return b; });

describe('IPv6 text forms', () => {
  it('formatIpv6 writes what glibc inet_ntop writes, and parseIpv6 reads it back', () => {
    const samples = fc.sample(addrBytes, { numRuns: 3000, seed: 6 });
    samples.push(new Uint8Array(16), Uint8Array.from([...new Array(15).fill(0), 1]),
      Uint8Array.from([...new Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 1]), Uint8Array.from([...new Array(12).fill(0), 10, 0, 0, 1]));
    const ref = glibc('ntop', samples.map(hex));
    samples.forEach((b, i) => {
      expect(formatIpv6(b), hex(b)).toBe(ref[i]);
      expect(parseIpv6(formatIpv6(b)), hex(b)).toEqual(b);
    });
  });

  it('parseIpv6 accepts exactly what glibc inet_pton accepts', () => {
    const tricky = [
      '::', '::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1::2::3', ':1::', '1::2:',
      '::ffff:1.2.3.4', '::1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '::01.2.3.4', '::1.2.3.256', '::1.2.3',
      '2001:DB8::1', '2001:db8::00001', 'g::1', '::%eth0', 'fe80::1%1', '1:2:3:4:5:6:7', ':::', '12345::', '0:0:0:0:0:0:0:0',
      '1.2.3.4', '::ffff:1.2.3.4:5', '1::2:3:4:5:6:7', '1::2:3:4:5:6:7:8', 'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255',
    ];
    const ref = glibc('pton', tricky);
    tricky.forEach((s, i) => {
      const b = parseIpv6(s);
      expect(b === null ? '-' : hex(b), JSON.stringify(s)).toBe(ref[i]);
    });
  });
});

// Extension-header chains: Hop-by-Hop only first, then Destination Options, Routing (no segments left) and AH in any order.
const middle = fc.oneof(
  fc.record({ type: fc.constant(60), len: fc.integer({ min: 1, max: 4 }).map((n) => n * 8) }),
  fc.record({ type: fc.constant(43), len: fc.integer({ min: 1, max: 3 }).map((n) => n * 8) }),
  fc.record({ type: fc.constant(51), len: fc.integer({ min: 3, max: 6 }).map((n) => n * 4) }),
);
const chain = fc.tuple(fc.boolean(), fc.array(middle, { maxLength: 6 }))
  .map(([hbh, rest]) => [...(hbh ? [{ type: 0, len: 8 } as ExtHeader] : []), ...rest]);

describe('extension headers', () => {
  it('ipv6Upper finds the transport header behind any chain', () => {
    fc.assert(fc.property(chain, fc.boolean(), (ext, udp) => {
      const f = udp ? buildUdp6Frame({ ext, payload: 'x' }) : buildTcp6Frame({ ext, payload: 'x' });
      const extLen = ext.reduce((n, e) => n + e.len!, 0);
      const r = ipv6Upper(f, 14, f.length);
      expect(r & 0xff).toBe(udp ? 17 : 6);
      expect(r >>> 8).toBe(40 + extLen);
      const d = decodeIpv6(f, 14);
      expect(d.ok && d.value.upperOffset).toBe(14 + 40 + extLen);
    }), { numRuns: 300 });
  });

  it('fragments, routing with segments left, a late Hop-by-Hop and every truncation are told apart', () => {
    fc.assert(fc.property(chain, fc.integer({ min: 0, max: 2 }), (ext, what) => {
      const bad: ExtHeader = what === 0 ? { type: 44, more: true } : what === 1 ? { type: 43, segmentsLeft: 2 } : { type: 0 };
      const all = what === 2 ? [{ type: 60 }, ...ext, bad] : [...ext, bad];
      const f = buildTcp6Frame({ ext: all });
      expect(ipv6Upper(f, 14, f.length)).toBe(what === 0 ? EXT_FRAGMENT : what === 1 ? EXT_ROUTING : EXT_BAD);
      // Cut anywhere inside the headers: never past the end; truncated (or, with a Hop-by-Hop header placed
      // second, refused once that header is whole).
      const [eb] = extBytes(all.slice(0, -1), 6);
      for (let cut = 40; cut < 40 + eb.length; cut++) {
        const r = ipv6Upper(f, 14, 14 + cut);
        expect(r === EXT_TRUNCATED || (what === 2 && r === EXT_BAD), `cut at ${cut}: ${r}`).toBe(true);
      }
    }), { numRuns: 200 });
  });

  it('more than 16 extension headers is refused, not walked', () => {
    const f = buildTcp6Frame({ ext: new Array(17).fill({ type: 60 }) });
    expect(ipv6Upper(f, 14, f.length)).toBe(EXT_BAD);
  });
});

describe('checksum updates over the IPv6 pseudo-header (RFC 1624)', () => {
  it('rewriting an address and a port incrementally gives the checksum a full computation gives', () => {
    fc.assert(fc.property(addrBytes, fc.integer({ min: 1, max: 65535 }), fc.boolean(), fc.boolean(), fc.uint8Array({ maxLength: 200 }), chain,
      (addr, port, udp, srcSide, payload, ext) => {
        const f = udp ? buildUdp6Frame({ ext, payload }) : buildTcp6Frame({ ext, payload });
        const l4 = 14 + (ipv6Upper(f, 14, f.length) >>> 8);
        const proto = udp ? 17 : 6;
        rewriteAddrPort6(f, srcSide ? 14 + 8 : 14 + 24, addr, 0, srcSide ? l4 : l4 + 2, port, l4 + (udp ? 6 : 16), udp);
        expect(upperChecksum6(f, 14, l4, f.length - l4, proto)).toBe(0);
        if (udp) expect(f[l4 + 6]! | f[l4 + 7]!).not.toBe(0);
      }), { numRuns: 500 });
  });

  it('csumUpdate128 with no change is the identity, and composes', () => {
    fc.assert(fc.property(addrBytes, addrBytes, addrBytes, fc.integer({ min: 0, max: 0xfffe }), (a, b, c, check) => {
      expect(csumUpdate128(check, a, 0, a, 0, 7, 7)).toBe(check);
      const once = csumUpdate128(check, a, 0, c, 0, 1, 2);
      const twice = csumUpdate128(csumUpdate128(check, a, 0, b, 0, 1, 3), b, 0, c, 0, 3, 2);
      // One's-complement arithmetic has two zeros: compare as sums.
      expect(once === 0xffff ? 0 : once).toBe(twice === 0xffff ? 0 : twice);
    }), { numRuns: 500 });
  });

  it('writeIpv6Header and decodeIpv6 agree on every field', () => {
    fc.assert(fc.property(addrBytes, addrBytes, fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xfffff }),
      fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 64 }), (src, dst, tc, fl, hl, plen) => {
        const b = new Uint8Array(40 + plen);
        writeIpv6Header(b, 0, { src, dst, nextHeader: 59, hopLimit: hl, trafficClass: tc, flowLabel: fl }, plen);
        const d = decodeIpv6(b);
        expect(d.ok).toBe(true);
        if (!d.ok) return;
        expect([d.value.src, d.value.dst, d.value.trafficClass, d.value.flowLabel, d.value.hopLimit, d.value.payloadLength, d.value.nextHeader])
          .toEqual([formatIpv6(src), formatIpv6(dst), tc, fl, hl, plen, 59]);
        expect(decodeIpv6(b, 0, 39 + plen).ok).toBe(false);
      }), { numRuns: 300 });
  });
});
