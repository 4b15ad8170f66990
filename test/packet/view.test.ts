import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { PacketView, PARSE_OK, PARSE_NOT_IPV4, PARSE_RESULT_NAMES, PARSE_IP_BAD_CHECKSUM } from '../../src/packet/view.js';
import { buildFrame, parseFrame, buildTcpFrame } from '../../src/packet/frame.js';
import { buildArpFrame } from '../../src/packet/arp.js';
import { TCP_SYN, TCP_ACK } from '../../src/packet/tcp.js';
import { setIpv4Checksum } from '../../src/packet/ipv4.js';

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

const frameArb = fc.record({
  l4: fc.constantFrom('tcp', 'udp', 'icmp', 'raw'),
  src: u32, dst: u32, sport: u16, dport: u16, flags: fc.integer({ min: 0, max: 255 }), seq: u32, ack: u32,
  vlan: fc.array(fc.integer({ min: 0, max: 4095 }), { maxLength: 2 }),
  fragOffset: fc.constantFrom(0, 0, 0, 5), mf: fc.boolean(),
  options: fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 }), { nil: undefined }),
  payload: fc.uint8Array({ maxLength: 64 }),
}).map((r) => buildFrame({
  vlan: r.vlan.length ? r.vlan : undefined,
  ip: { src: r.src, dst: r.dst, fragOffset: r.fragOffset, mf: r.mf, options: r.options, protocol: r.l4 === 'raw' ? 47 : undefined },
  ...(r.l4 === 'tcp' ? { tcp: { srcPort: r.sport, dstPort: r.dport, flags: r.flags, seq: r.seq, ack: r.ack } }
    : r.l4 === 'udp' ? { udp: { srcPort: r.sport, dstPort: r.dport } }
      : r.l4 === 'icmp' ? { icmp: { type: 8, id: r.sport, seq: r.dport } } : {}),
  payload: r.payload,
}));

/** parseFrame's "layer:reason" in PacketView's naming. */
function expectedName(frame: Uint8Array): string {
  const r = parseFrame(frame);
  if (r.ok) return r.value.ip ? 'ok' : 'not-ipv4';
  const [layer, reason] = r.reason.split(':');
  if (layer === 'arp') return 'not-ipv4';
  return `${({ ethernet: 'eth', ipv4: 'ip' } as Record<string, string>)[layer!] ?? layer}-${reason}`;
}

describe('PacketView', () => {
  const view = new PacketView();

  it('agrees with parseFrame on valid frames, field by field', () => {
    fc.assert(fc.property(frameArb, (frame) => {
      const code = view.parse(frame, 0, frame.length);
      const p = parseFrame(frame);
      expect(p.ok).toBe(true);
      if (!p.ok) return;
      expect(PARSE_RESULT_NAMES[code]).toBe('ok');
      const ip = p.value.ip!;
      expect([view.saddr, view.daddr, view.protocol, view.ipHlen, view.ipTotalLen, view.fragOff, view.mf, view.ttl])
        .toEqual([ip.src, ip.dst, ip.protocol, ip.headerLen, ip.totalLength, ip.fragOffset, ip.mf, ip.ttl]);
      expect(view.vlanId).toBe(p.value.eth.vlanId ?? -1);
      expect(view.innerVlanId).toBe(p.value.eth.innerVlanId ?? -1);
      const l4 = p.value.tcp ?? p.value.udp;
      expect([view.sport, view.dport]).toEqual(l4 ? [l4.srcPort, l4.dstPort] : [-1, -1]);
      if (p.value.tcp) expect([view.tcpFlags, view.tcpSeq, view.tcpAck]).toEqual([p.value.tcp.flags, p.value.tcp.seq, p.value.tcp.ack]);
      if (p.value.icmp) expect(view.icmpType).toBe(p.value.icmp.type);
      expect([view.payloadOff, view.payloadLen]).toEqual([p.value.payload.byteOffset - frame.byteOffset, p.value.payload.length]);
    }));
  });

  it('gives the same verdict as parseFrame on damaged and truncated frames', () => {
    fc.assert(fc.property(frameArb, fc.nat(), u16, fc.nat(), fc.boolean(), (frame, at, val, cut, fixIpSum) => {
      // Damage lands in the headers, and half the time the IP checksum is made
      // right again so the damage reaches the length and L4 checks behind it.
      const p = parseFrame(frame);
      const hdrEnd = p.ok ? p.value.payload.byteOffset - frame.byteOffset : frame.length;
      const b = frame.slice(0, frame.length - (cut % 8));
      b[at % Math.min(b.length, Math.max(hdrEnd, 1))] = val & 0xff;
      const ip = p.ok && p.value.ip ? p.value.ip.offset : -1;
      if (fixIpSum && ip >= 0 && (b[ip]! & 0x0f) >= 5 && ip + (b[ip]! & 0x0f) * 4 <= b.length) setIpv4Checksum(b, ip);
      const code = view.parse(b, 0, b.length);
      expect(PARSE_RESULT_NAMES[code]).toBe(expectedName(b));
    }), { numRuns: 1000 });
  });

  it('handles a frame at an offset inside a larger buffer (a ring slot)', () => {
    const f = buildTcpFrame({ flags: 'SA', srcPort: 80, dstPort: 1234 });
    const ring = new Uint8Array(4096).fill(0xee);
    ring.set(f, 1000);
    expect(view.parse(ring, 1000, f.length)).toBe(PARSE_OK);
    expect([view.sport, view.dport, view.tcpFlags]).toEqual([80, 1234, TCP_SYN | TCP_ACK]);
    expect(view.l3Off).toBe(1014);
  });

  it('reports non-IPv4 and can skip the header checksum', () => {
    const arp = buildArpFrame({ senderMac: '02:00:00:00:00:01', senderIp: 1, targetIp: 2 });
    expect(view.parse(arp, 0, arp.length)).toBe(PARSE_NOT_IPV4);
    const bad = buildTcpFrame();
    bad[24] ^= 0xff;
    expect(view.parse(bad, 0, bad.length)).toBe(PARSE_IP_BAD_CHECKSUM);
    expect(view.parse(bad, 0, bad.length, false)).toBe(PARSE_OK);
  });
});
