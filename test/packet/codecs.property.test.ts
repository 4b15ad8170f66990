// Round trips and checksum laws for every codec, over generated packets.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { csumFold, csumPartial, csumUpdate16, csumUpdate32, pseudoHeaderSum } from '../../src/packet/checksum.js';
import { readIp } from '../../src/packet/addr.js';
import { decodeEthernet, buildEthernet, ETHERTYPE_IPV4, ETHERTYPE_QINQ, ETHERTYPE_VLAN } from '../../src/packet/ethernet.js';
import { decodeArp, buildArpFrame } from '../../src/packet/arp.js';
import { decodeIpv4, buildIpv4, validateIpv4, setIpv4Checksum, fragmentIpv4, IPPROTO_UDP, IPPROTO_TCP } from '../../src/packet/ipv4.js';
import { decodeTcp, buildTcp, verifyTcpChecksum, tcpChecksum } from './build/tcp.js';
import { decodeUdp, buildUdp, verifyUdpChecksum, udpChecksum } from './build/udp.js';
import { decodeIcmp, decodeIcmpQuoted, buildIcmp, buildIcmpEcho, buildIcmpError, buildDestUnreachable, buildTimeExceeded, buildFragNeeded, verifyIcmpChecksum, ICMP_ECHO, ICMP_ECHOREPLY } from '../../src/packet/icmp.js';
import { encapsulateIpip, decapsulateIpip } from './build/ipip.js';
import { decodeVrrp, buildVrrp, decodeVrrpPacket, buildVrrpPacket } from '../../src/packet/vrrp.js';
import { encodePcap, decodePcap, decodeCapture } from './build/pcap.js';
import { buildFrame, parseFrame } from './build/frame.js';
import { decrementTtl, rewriteAddrPort } from '../../src/ipvs/xmit/nat.js';
import { natIcmp } from '../../src/ipvs/xmit/icmp.js';
import { buildIcmpErrorPacket, setIcmpChecksum } from '../../src/packet/icmp.js';
import { writeIp } from '../../src/packet/addr.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 0xff });
const mac = fc.uint8Array({ minLength: 6, maxLength: 6 });
const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const vlanId = fc.integer({ min: 0, max: 4095 });
const ipOptions = fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 }), { nil: undefined });
const tcpOpts = fc.option(fc.uint8Array({ minLength: 1, maxLength: 40 }), { nil: undefined });
const padded = (o: Uint8Array | undefined) => {
  if (!o) return new Uint8Array(0);
  const p = new Uint8Array((o.length + 3) & ~3);
  p.set(o);
  return p;
};

describe('ethernet', () => {
  it('round-trips MACs, ethertype and 0/1/2 VLAN tags', () => {
    fc.assert(fc.property(mac, mac, u16, fc.array(vlanId, { maxLength: 2 }), bytes(64), (dst, src, et, tags, payload) => {
      fc.pre(et !== ETHERTYPE_VLAN && et !== ETHERTYPE_QINQ);
      const f = buildEthernet({ dst, src, ethertype: et, vlan: tags.length ? tags : undefined, payload });
      const r = decodeEthernet(f);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect([...r.value.dst]).toEqual([...dst]);
      expect([...r.value.src]).toEqual([...src]);
      expect(r.value.ethertype).toBe(et);
      expect(r.value.vlanId).toBe(tags[0]);
      expect(r.value.innerVlanId).toBe(tags[1]);
      expect(r.value.l3Offset).toBe(14 + 4 * tags.length);
      expect([...f.subarray(r.value.l3Offset)]).toEqual([...payload]);
    }));
  });

  it('reports truncation instead of reading past the end', () => {
    const f = buildEthernet({ dst: new Uint8Array(6), src: new Uint8Array(6), ethertype: ETHERTYPE_IPV4, vlan: [1, 2] });
    for (let n = 0; n < 22; n++) expect(decodeEthernet(f, 0, n)).toEqual({ ok: false, reason: 'truncated' });
    expect(decodeEthernet(f).ok).toBe(true);
  });
});

describe('arp', () => {
  it('round-trips', () => {
    fc.assert(fc.property(fc.constantFrom(1, 2), mac, u32, mac, u32, (op, sha, spa, tha, tpa) => {
      const f = buildArpFrame({ op, senderMac: sha, senderIp: spa, targetMac: tha, targetIp: tpa });
      const a = decodeArp(f, 14);
      expect(a.ok).toBe(true);
      if (!a.ok) return;
      expect(a.value.op).toBe(op);
      expect([...a.value.senderMac]).toEqual([...sha]);
      expect([...a.value.targetMac]).toEqual([...tha]);
      expect(a.value.senderIp).toBe(spa);
      expect(a.value.targetIp).toBe(tpa);
    }));
  });
});

const ipFieldsArb = fc.record({
  src: u32, dst: u32, protocol: u8, ttl: u8, id: u16, tos: u8, df: fc.boolean(), mf: fc.boolean(),
  fragOffset: fc.integer({ min: 0, max: 0x1fff }), options: ipOptions,
});

describe('ipv4', () => {
  it('round-trips every header field, and the checksum verifies', () => {
    fc.assert(fc.property(ipFieldsArb, bytes(100), (f, payload) => {
      const pkt = buildIpv4({ ...f, payload });
      expect(validateIpv4(pkt)).toBeUndefined();
      const r = decodeIpv4(pkt);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const h = r.value;
      expect({ src: h.src, dst: h.dst, protocol: h.protocol, ttl: h.ttl, id: h.id, tos: h.tos, df: h.df, mf: h.mf, fragOffset: h.fragOffset })
        .toEqual({ src: f.src, dst: f.dst, protocol: f.protocol, ttl: f.ttl, id: f.id, tos: f.tos, df: f.df, mf: f.mf, fragOffset: f.fragOffset });
      expect([...pkt.subarray(h.optionsOffset, h.optionsOffset + h.optionsLength)]).toEqual([...padded(f.options)]);
      expect(h.totalLength).toBe(pkt.length);
      expect([...pkt.subarray(h.payloadOffset)]).toEqual([...payload]);
      expect(csumFold(csumPartial(pkt, 0, h.headerLen))).toBe(0);
    }));
  });

  it('any single-bit flip in the header (outside IHL) is rejected', () => {
    fc.assert(fc.property(ipFieldsArb, bytes(40), fc.nat(), (f, payload, bitSeed) => {
      const pkt = buildIpv4({ ...f, payload });
      const hlen = (pkt[0]! & 0x0f) * 4;
      let bit = bitSeed % (hlen * 8);
      if (bit >= 4 && bit < 8) bit -= 4; // the IHL nibble moves the checksum's range; tested by reason below
      pkt[bit >> 3]! ^= 0x80 >> (bit & 7);
      expect(decodeIpv4(pkt).ok).toBe(false);
    }));
  });

  it('returns each validation reason', () => {
    const good = buildIpv4({ src: 1, dst: 2, protocol: 6, payload: new Uint8Array(10) });
    const mod = (fn: (b: Uint8Array) => void, reset = true) => { const b = good.slice(); fn(b); if (reset) setIpv4Checksum(b, 0); return b; };
    expect(validateIpv4(good.subarray(0, 19))).toBe('truncated');
    expect(validateIpv4(mod((b) => { b[0] = 0x65; }))).toBe('bad-version');
    expect(validateIpv4(mod((b) => { b[0] = 0x44; }, false))).toBe('bad-ihl');
    expect(validateIpv4(mod((b) => { b[0] = 0x4f; }, false))).toBe('truncated');
    expect(validateIpv4(mod((b) => { b[3] = 19; }))).toBe('bad-total-length');
    expect(validateIpv4(mod((b) => { b[3] = 31; }))).toBe('truncated');
    expect(validateIpv4(mod((b) => { b[8] ^= 1; }, false))).toBe('bad-checksum');
    expect(validateIpv4(mod((b) => { b[8] ^= 1; }, false), 0, 30, { verifyChecksum: false })).toBeUndefined();
    expect(decodeIpv4(good.subarray(0, 25), 0, 25, { quoted: true }).ok).toBe(true);
    expect(decodeIpv4(good.subarray(0, 25)).ok).toBe(false);
  });

  it('fragments reassemble to the original payload, each within the MTU', () => {
    fc.assert(fc.property(ipFieldsArb, bytes(3000), fc.integer({ min: 68, max: 1500 }), (f, payload, mtu) => {
      const pkt = buildIpv4({ ...f, df: false, mf: false, fragOffset: 0, payload });
      const frags = fragmentIpv4(pkt, mtu);
      const parts: Uint8Array[] = [];
      frags.forEach((fr, i) => {
        const r = decodeIpv4(fr);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(fr.length).toBeLessThanOrEqual(mtu);
        expect(r.value.mf).toBe(i < frags.length - 1);
        expect(r.value.fragOffset * 8).toBe(parts.reduce((n, p) => n + p.length, 0));
        expect(r.value.id).toBe(f.id);
        parts.push(fr.subarray(r.value.payloadOffset));
      });
      expect(Buffer.concat(parts).equals(Buffer.from(payload))).toBe(true);
    }));
  });
});

const tcpFieldsArb = fc.record({
  srcPort: u16, dstPort: u16, seq: u32, ack: u32, flags: u8, window: u16, urgent: u16, options: tcpOpts,
});

describe('tcp', () => {
  it('round-trips, options are skipped by data offset, and the checksum verifies', () => {
    fc.assert(fc.property(tcpFieldsArb, u32, u32, bytes(200), (f, src, dst, payload) => {
      const seg = buildTcp({ ...f, payload }, src, dst);
      expect(verifyTcpChecksum(seg, 0, seg.length, src, dst)).toBe(true);
      expect(tcpChecksum(seg, 0, seg.length, src, dst)).toBe((seg[16]! << 8) | seg[17]!);
      const r = decodeTcp(seg, 0, seg.length);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const { srcPort, dstPort, seq, ack, flags, window, urgent } = r.value;
      expect({ srcPort, dstPort, seq, ack, flags, window, urgent })
        .toEqual({ srcPort: f.srcPort, dstPort: f.dstPort, seq: f.seq, ack: f.ack, flags: f.flags, window: f.window, urgent: f.urgent });
      expect(r.value.headerLen).toBe(20 + padded(f.options).length);
      expect([...seg.subarray(r.value.payloadOffset)]).toEqual([...payload]);
      expect(r.value.payloadLength).toBe(payload.length);
    }));
  });

  it('validates the data offset', () => {
    const seg = buildTcp({ srcPort: 1, dstPort: 2, payload: new Uint8Array(4) }, 1, 2);
    expect(decodeTcp(seg, 0, 19)).toEqual({ ok: false, reason: 'truncated' });
    for (let doff = 0; doff < 5; doff++) {
      const b = seg.slice(); b[12] = doff << 4;
      expect(decodeTcp(b, 0, b.length)).toEqual({ ok: false, reason: 'bad-doff' });
    }
    const b6 = seg.slice(); b6[12] = 6 << 4;
    expect(decodeTcp(b6, 0, b6.length).ok).toBe(true);
    const b7 = seg.slice(); b7[12] = 7 << 4;
    expect(decodeTcp(b7, 0, b7.length)).toEqual({ ok: false, reason: 'bad-doff' });
  });
});

describe('udp', () => {
  it('round-trips and the checksum verifies', () => {
    fc.assert(fc.property(u16, u16, u32, u32, bytes(200), (sp, dp, src, dst, payload) => {
      const d = buildUdp({ srcPort: sp, dstPort: dp, payload }, src, dst);
      expect(verifyUdpChecksum(d, 0, d.length, src, dst)).toBe(true);
      expect((d[6]! << 8) | d[7]!).not.toBe(0);
      const r = decodeUdp(d, 0, d.length);
      expect(r.ok && r.value.srcPort === sp && r.value.dstPort === dp && r.value.payloadLength === payload.length).toBe(true);
    }));
  });

  it('a checksum that computes to 0 is sent as 0xffff (RFC 768)', () => {
    fc.assert(fc.property(u16, u16, u32, u32, bytes(100), (sp, dp, src, dst, body) => {
      const payload = new Uint8Array(((body.length + 1) & ~1) + 2);
      payload.set(body);
      const probe = buildUdp({ srcPort: sp, dstPort: dp, payload }, src, dst);
      const c = udpChecksum(probe, 0, probe.length, src, dst);
      // Adding the complement of the sum as a data word makes the sum 0xffff: checksum 0.
      payload[payload.length - 2] = c >>> 8;
      payload[payload.length - 1] = c & 0xff;
      const d = buildUdp({ srcPort: sp, dstPort: dp, payload }, src, dst);
      expect((d[6]! << 8) | d[7]!).toBe(0xffff);
      expect(verifyUdpChecksum(d, 0, d.length, src, dst)).toBe(true);
    }));
  });

  it('validates the length field', () => {
    const d = buildUdp({ srcPort: 1, dstPort: 2, payload: new Uint8Array(4) }, 1, 2);
    expect(decodeUdp(d, 0, 7)).toEqual({ ok: false, reason: 'truncated' });
    expect(decodeUdp(buildUdp({ srcPort: 1, dstPort: 2, length: 7 }, 1, 2), 0, 8)).toEqual({ ok: false, reason: 'bad-length' });
    expect(decodeUdp(buildUdp({ srcPort: 1, dstPort: 2, length: 13 }, 1, 2), 0, 8)).toEqual({ ok: false, reason: 'truncated' });
  });
});

describe('icmp', () => {
  it('echo round-trips and verifies', () => {
    fc.assert(fc.property(fc.boolean(), u16, u16, bytes(100), (reply, id, seq, payload) => {
      const m = buildIcmpEcho({ reply, id, seq, payload });
      const r = decodeIcmp(m, 0, m.length);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.value.type).toBe(reply ? ICMP_ECHOREPLY : ICMP_ECHO);
      expect([r.value.id, r.value.seq]).toEqual([id, seq]);
      m[m.length - 1]! ^= 1;
      if (m.length > 8) expect(decodeIcmp(m, 0, m.length)).toEqual({ ok: false, reason: 'bad-checksum' });
    }));
  });

  it('frag-needed quotes header + 8 bytes and the quote decodes to the offending flow', () => {
    fc.assert(fc.property(tcpFieldsArb, ipFieldsArb, bytes(100), fc.integer({ min: 68, max: 9000 }), (t, ipf, payload, mtu) => {
      const seg = buildTcp({ ...t, payload }, ipf.src, ipf.dst);
      const off = buildIpv4({ ...ipf, protocol: IPPROTO_TCP, fragOffset: 0, payload: seg });
      const m = buildFragNeeded(off, mtu);
      const r = decodeIcmp(m, 0, m.length);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.value.mtu).toBe(mtu);
      const hlen = (off[0]! & 0x0f) * 4;
      expect(r.value.payloadLength).toBe(hlen + 8);
      const q = decodeIcmpQuoted(m, r.value);
      expect(q.ok).toBe(true);
      if (!q.ok) return;
      expect([q.value.ip.src, q.value.ip.dst, q.value.srcPort, q.value.dstPort]).toEqual([ipf.src, ipf.dst, t.srcPort, t.dstPort]);
      expect(q.value.l4Length).toBe(8);
    }));
  });

  it('dest-unreachable and time-exceeded carry their type, code and quote', () => {
    const off = buildIpv4({ src: 0x0a000001, dst: 0x0a000002, protocol: IPPROTO_UDP, options: Uint8Array.of(1, 1, 1, 0), payload: buildUdp({ srcPort: 1000, dstPort: 2000, payload: 'x'.repeat(30) }, 1, 2) });
    for (const [m, type, code] of [[buildDestUnreachable(off, 3), 3, 3], [buildTimeExceeded(off), 11, 0], [buildTimeExceeded(off, 1), 11, 1]] as const) {
      const r = decodeIcmp(m, 0, m.length);
      expect(r.ok && [r.value.type, r.value.code, r.value.payloadLength]).toEqual([type, code, 24 + 8]);
      const q = r.ok ? decodeIcmpQuoted(m, r.value) : undefined;
      expect(q?.ok && [q.value.srcPort, q.value.dstPort, q.value.ip.headerLen]).toEqual([1000, 2000, 24]);
    }
    expect(() => buildIcmpError(8, 0, off)).toThrow(/not an error/);
  });

  it('rejects quoting from a non-error and a broken inner header', () => {
    const echo = buildIcmpEcho({ id: 1, seq: 1, payload: new Uint8Array(28) });
    const e = decodeIcmp(echo, 0, echo.length);
    expect(e.ok && decodeIcmpQuoted(echo, e.value)).toEqual({ ok: false, reason: 'not-an-error' });
    const off = buildIpv4({ src: 1, dst: 2, protocol: 17, payload: new Uint8Array(8) });
    off[0] = 0x55;
    const m = buildFragNeeded(off, 1400);
    const r = decodeIcmp(m, 0, m.length);
    expect(r.ok && decodeIcmpQuoted(m, r.value)).toEqual({ ok: false, reason: 'inner-bad-version' });
    expect(verifyIcmpChecksum(m, 0, m.length)).toBe(true);
  });
});

describe('ipip', () => {
  it('encapsulates with DF, TTL and TOS copied from the inner packet and decapsulates to the same bytes', () => {
    fc.assert(fc.property(ipFieldsArb, u32, u32, bytes(100), (f, osrc, odst, payload) => {
      const inner = buildIpv4({ ...f, payload });
      const outer = encapsulateIpip(inner, { src: osrc, dst: odst, id: 7 });
      const r = decapsulateIpip(outer);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect([r.value.outer.src, r.value.outer.dst, r.value.outer.protocol]).toEqual([osrc, odst, 4]);
      expect([r.value.outer.df, r.value.outer.ttl, r.value.outer.tos]).toEqual([f.df, f.ttl, f.tos]);
      expect(Buffer.from(outer.subarray(r.value.innerOffset, r.value.innerOffset + r.value.innerLength)).equals(Buffer.from(inner))).toBe(true);
    }));
  });

  it('refuses what is not a well-formed tunnel packet', () => {
    const inner = buildIpv4({ src: 1, dst: 2, protocol: 6, payload: new Uint8Array(20) });
    expect(decapsulateIpip(inner)).toEqual({ ok: false, reason: 'not-ipip' });
    const outer = encapsulateIpip(inner, { src: 3, dst: 4, ttl: 9, df: true });
    outer[20] = 0x46;
    expect(decapsulateIpip(outer)).toEqual({ ok: false, reason: 'inner-bad-checksum' });
  });
});

const vrrpArb = fc.record({
  version: fc.constantFrom(2 as const, 3 as const),
  vrid: fc.integer({ min: 1, max: 255 }),
  priority: u8,
  addrs: fc.array(u32, { minLength: 1, maxLength: 20 }),
  adverInt: u8,
  maxAdverInt: fc.integer({ min: 0, max: 4095 }),
  authData: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: undefined }),
});

describe('vrrp', () => {
  it('round-trips v2 and v3 (v3 checksum over the pseudo-header)', () => {
    fc.assert(fc.property(vrrpArb, u32, u32, (f, src, dst) => {
      const m = buildVrrp(f, src, dst);
      const r = decodeVrrp(m, 0, m.length, { src, dst });
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const v = r.value;
      expect([v.version, v.vrid, v.priority, v.count, v.addrs]).toEqual([f.version, f.vrid, f.priority, f.addrs.length, f.addrs]);
      if (f.version === 2) {
        expect(v.adverInt).toBe(f.adverInt);
        expect(v.authType).toBe(f.authData ? 1 : 0);
        expect([...v.authData]).toEqual([...padded8(f.authData)]);
      } else {
        expect(v.maxAdverInt).toBe(f.maxAdverInt);
        const pseudo = csumFold(pseudoHeaderSum(src, dst, 112, m.length));
        // The pseudo-header is in the v3 checksum unless it happens to sum to zero.
        if (pseudo !== 0 && pseudo !== 0xffff) expect(decodeVrrp(m, 0, m.length, { src, dst }, { v3ChecksumAsV2: true }).ok).toBe(false);
        const asV2 = buildVrrp(f, src, dst, { v3ChecksumAsV2: true });
        expect(decodeVrrp(asV2, 0, asV2.length, { src, dst }, { v3ChecksumAsV2: true }).ok).toBe(true);
      }
    }));
  });

  it('returns each validation reason', () => {
    const v2 = buildVrrp({ version: 2, vrid: 1, priority: 100, addrs: [1, 2], authData: 'pw' });
    const ip = { src: 1, dst: 2 };
    expect(decodeVrrp(v2, 0, 7, ip)).toEqual({ ok: false, reason: 'short' });
    const v = (fn: (b: Uint8Array) => void) => { const b = v2.slice(); fn(b); return decodeVrrp(b, 0, b.length, ip); };
    expect(v((b) => { b[0] = 0x41; })).toEqual({ ok: false, reason: 'bad-version' });
    expect(v((b) => { b[0] = 0x22; })).toEqual({ ok: false, reason: 'bad-type' });
    expect(v((b) => { b[3] = 3; })).toEqual({ ok: false, reason: 'count-mismatch' });
    expect(decodeVrrp(v2, 0, v2.length - 1, ip)).toEqual({ ok: false, reason: 'count-mismatch' });
    expect(v((b) => { b[2] ^= 1; })).toEqual({ ok: false, reason: 'bad-checksum' });
    expect(v(() => {}).ok).toBe(true);
  });

  it('a whole packet is checked for TTL 255', () => {
    const p = buildVrrpPacket({ version: 3, vrid: 5, priority: 200, addrs: ['10.0.0.100'] }, { src: '10.0.0.2' });
    const r = decodeVrrpPacket(p);
    expect(r.ok && r.value.vrrp.vrid === 5 && readIp(p, 16) === 0xe0000012).toBe(true);
    const hop = buildVrrpPacket({ version: 3, vrid: 5, priority: 200, addrs: ['10.0.0.100'] }, { src: '10.0.0.2', ttl: 254 });
    expect(decodeVrrpPacket(hop)).toEqual({ ok: false, reason: 'bad-ttl' });
  });
});

function padded8(a: Uint8Array | undefined): Uint8Array {
  const p = new Uint8Array(8);
  if (a) p.set(a);
  return p;
}

describe('pcap', () => {
  it('round-trips records', () => {
    fc.assert(fc.property(fc.array(bytes(300), { maxLength: 10 }), (frames) => {
      const r = decodePcap(encodePcap(frames));
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.value.linktype).toBe(1);
      expect(r.value.records.map((x) => [...x.data])).toEqual(frames.map((f) => [...f]));
      expect(decodePcap(encodePcap(frames).subarray(0, 23))).toEqual({ ok: false, reason: 'truncated' });
    }));
  });
});

describe('decoders never throw on arbitrary bytes', () => {
  it('parseFrame, decodeVrrpPacket, decapsulateIpip, decodeIcmpQuoted', () => {
    fc.assert(fc.property(bytes(120), (b) => {
      parseFrame(b);
      decodeVrrpPacket(b);
      decapsulateIpip(b);
      const i = decodeIcmp(b, 0, b.length, { verifyChecksum: false });
      if (i.ok) decodeIcmpQuoted(b, { ...i.value, type: 3 }, { verifyChecksum: false });
    }), { numRuns: 500 });
  });

  it('capture readers, also behind a valid pcap/pcapng magic', () => {
    const shb = Uint8Array.of(0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255, 28, 0, 0, 0);
    const pcapHdr = encodePcap([]);
    fc.assert(fc.property(bytes(200), fc.constantFrom('none', 'pcapng', 'pcap'), (b, prefix) => {
      const head = prefix === 'pcapng' ? shb : prefix === 'pcap' ? pcapHdr : new Uint8Array(0);
      const buf = new Uint8Array(head.length + b.length);
      buf.set(head);
      buf.set(b, head.length);
      const r = decodeCapture(buf);
      if (r.ok) for (const rec of r.value.records) expect(rec.data.byteOffset + rec.data.length).toBeLessThanOrEqual(buf.byteOffset + buf.length);
    }), { numRuns: 500 });
  });
});

// RFC 1624: rewriting an address or port with an incremental update must give
// exactly the checksum a full recomputation gives.
describe('incremental checksum updates equal full recomputation', () => {
  const frameArb = fc.record({
    proto: fc.constantFrom('tcp', 'udp', 'udp0'),
    src: u32, dst: u32, sport: u16, dport: u16, ttl: fc.integer({ min: 1, max: 255 }), id: u16,
    options: ipOptions, payload: bytes(100),
  });
  type F = typeof frameArb extends fc.Arbitrary<infer T> ? T : never;
  const build = (f: F) => buildFrame({
    ip: { src: f.src, dst: f.dst, ttl: f.ttl, id: f.id, options: f.options },
    ...(f.proto === 'tcp' ? { tcp: { srcPort: f.sport, dstPort: f.dport, seq: 1, flags: 'PA' } }
      : { udp: { srcPort: f.sport, dstPort: f.dport, checksum: f.proto === 'udp' } }),
    payload: f.payload,
  });

  // The engine's own rewrite (src/ipvs/xmit/nat.ts), as natIn/natOut call it.
  const rewrite = (frame: Uint8Array, which: 'src' | 'dst', addr: number, port: number | undefined) => {
    const l4 = 14 + (frame[14]! & 0x0f) * 4;
    const udp = frame[23] === IPPROTO_UDP;
    const portOff = port === undefined ? -1 : l4 + (which === 'src' ? 0 : 2);
    rewriteAddrPort(frame, 14 + (which === 'src' ? 12 : 16), addr, portOff, port ?? 0, 24, l4 + (udp ? 6 : 16), udp);
  };

  it('for DNAT/SNAT rewrites of addresses and ports (IPv4 header, TCP/UDP with pseudo-header)', () => {
    fc.assert(fc.property(frameArb, u32, u32, u16, u16, (f, nsrc, ndst, nsport, ndport) => {
      const frame = build(f);
      rewrite(frame, 'dst', ndst, ndport);
      rewrite(frame, 'src', nsrc, nsport);
      const full = build({ ...f, src: nsrc, dst: ndst, sport: nsport, dport: ndport });
      expect(Buffer.from(frame).equals(Buffer.from(full))).toBe(true);
    }));
  });

  it('with raw csumUpdate16/32 on the IPv4 header', () => {
    fc.assert(fc.property(ipFieldsArb, u32, u8, (f, naddr, nttl) => {
      const pkt = buildIpv4(f);
      const c0 = (pkt[10]! << 8) | pkt[11]!;
      const oldAddr = readIp(pkt, 12);
      const oldWord = (pkt[8]! << 8) | pkt[9]!;
      pkt[12] = naddr >>> 24; pkt[13] = (naddr >>> 16) & 255; pkt[14] = (naddr >>> 8) & 255; pkt[15] = naddr & 255;
      pkt[8] = nttl;
      const inc = csumUpdate16(csumUpdate32(c0, oldAddr, naddr), oldWord, (pkt[8]! << 8) | pkt[9]!);
      expect(inc).toBe(setIpv4Checksum(pkt, 0));
    }));
  });

  it('decrementTtl keeps the header valid, and refuses a TTL that would expire', () => {
    fc.assert(fc.property(ipFieldsArb, (f) => {
      const ttl = Math.max(1, f.ttl);
      const pkt = buildIpv4({ ...f, ttl });
      const before = pkt.slice();
      expect(decrementTtl(pkt, 0)).toBe(ttl > 1);
      if (ttl > 1) expect(pkt[8]).toBe(ttl - 1);
      else expect([...pkt]).toEqual([...before]);
      expect(validateIpv4(pkt)).toBeUndefined();
    }));
  });

  it('UDP edge: a zero (absent) checksum stays zero, and a rewrite that computes zero writes 0xffff', () => {
    fc.assert(fc.property(u32, u32, u16, u16, u32, bytes(60), (src, dst, sp, dp, ndst, body) => {
      // Pick a payload whose checksum after the DNAT is exactly zero.
      const payload = new Uint8Array(((body.length + 1) & ~1) + 2);
      payload.set(body);
      const probe = buildUdp({ srcPort: sp, dstPort: dp, payload }, src, ndst);
      const c = udpChecksum(probe, 0, probe.length, src, ndst);
      payload[payload.length - 2] = c >>> 8;
      payload[payload.length - 1] = c & 0xff;
      const spec = (d: number, checksum: boolean) => ({ ip: { src, dst: d }, udp: { srcPort: sp, dstPort: dp, checksum }, payload });
      const frame = buildFrame(spec(dst, true));
      rewrite(frame, 'dst', ndst, undefined);
      const off = 14 + 20 + 6;
      expect((frame[off]! << 8) | frame[off + 1]!).toBe(0xffff);
      expect(Buffer.from(frame).equals(Buffer.from(buildFrame(spec(ndst, true))))).toBe(true);
      const none = buildFrame(spec(dst, false));
      rewrite(none, 'dst', ndst, dp ^ 0x5555);
      expect((none[off]! << 8) | none[off + 1]!).toBe(0);
    }));
  });
});

describe('ICMP error NAT (the quoted datagram)', () => {
  it('the engine\'s incremental rewrite (outer address, inner address and port, checksums) equals a field-by-field reference', () => {
    fc.assert(fc.property(
      fc.constantFrom(IPPROTO_TCP, IPPROTO_UDP), ipOptions, u32, u32, u16, u16, u32, u32, u16, fc.constantFrom('src' as const, 'dst' as const), bytes(40),
      (proto, options, src, dst, sp, dp, nouter, naddr, nport, which, body) => {
        const l4 = proto === IPPROTO_TCP ? buildTcp({ srcPort: sp, dstPort: dp, payload: body }, src, dst)
          : buildUdp({ srcPort: sp, dstPort: dp, payload: body }, src, dst);
        const offending = buildIpv4({ src, dst, protocol: proto, options, payload: l4 });
        const pkt = buildIcmpErrorPacket(offending, { src: '10.0.0.254', type: 3, code: 4, mtu: 1400 });
        const ref = pkt.slice();
        const inner = 28;
        const ihl = (pkt[inner]! & 0x0f) * 4;
        const addrAt = inner + (which === 'src' ? 12 : 16);
        const portAt = inner + ihl + (which === 'src' ? 0 : 2);
        // The engine rewrites the outer destination towards the RS, the outer source towards the client.
        const outerAt = which === 'src' ? 12 : 16;
        natIcmp(pkt, 0, 20, pkt.length - 20, inner, ihl, outerAt, nouter, addrAt, portAt, naddr, nport);
        writeIp(ref, outerAt, nouter);
        setIpv4Checksum(ref, 0);
        const oldAddr = readIp(ref, addrAt);
        const oldPort = (ref[portAt]! << 8) | ref[portAt + 1]!;
        writeIp(ref, addrAt, naddr);
        ref[portAt] = nport >>> 8; ref[portAt + 1] = nport & 0xff;
        setIpv4Checksum(ref, inner);
        const cAt = inner + ihl + (proto === IPPROTO_UDP ? 6 : 16);
        if (cAt + 2 <= ref.length) {
          const c = (ref[cAt]! << 8) | ref[cAt + 1]!;
          if (!(proto === IPPROTO_UDP && c === 0)) {
            let n = csumUpdate16(csumUpdate32(c, oldAddr, naddr), oldPort, nport);
            if (proto === IPPROTO_UDP && n === 0) n = 0xffff;
            ref[cAt] = n >>> 8; ref[cAt + 1] = n & 0xff;
          }
        }
        setIcmpChecksum(ref, 20, ref.length - 20);
        expect(Buffer.from(pkt).toString('hex')).toBe(Buffer.from(ref).toString('hex'));
        expect(verifyIcmpChecksum(pkt, 20, pkt.length - 20)).toBe(true);
        const q = decodeIcmp(pkt, 20, pkt.length - 20);
        expect(q.ok && decodeIcmpQuoted(pkt, q.value).ok).toBe(true);
      }));
  });
});
