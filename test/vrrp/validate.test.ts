// Bad input is counted by reason and never reaches the state machine; good
// adverts built by the packet codecs (which match keepalived byte for byte)
// round-trip through validation.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { validateAdvert, authData, type RxExpect } from '../../src/vrrp/validate.js';
import { buildVrrpPacket, type VrrpFields } from '../../src/packet/vrrp.js';
import { ipToU32 } from '../../src/packet/addr.js';
import { setIpv4Checksum } from '../../src/packet/ipv4.js';

const VIP = ipToU32('192.168.150.100');
const SRC = '192.168.150.14';
const MCAST = ipToU32('224.0.0.18');

function expect2(over: Partial<RxExpect> = {}): RxExpect {
  return {
    version: 2, adverIntSec: 1, authPass: authData('1111'), vips: [VIP], unicast: false, peers: [],
    mcastGroup: MCAST, v3ChecksumAsV2: false, skipCheckAdvAddr: false, ...over,
  };
}
const v2: VrrpFields = { version: 2, vrid: 51, priority: 100, addrs: ['192.168.150.100'], adverInt: 1, authData: '1111' };
const v3: VrrpFields = { version: 3, vrid: 51, priority: 100, addrs: ['192.168.150.100'], maxAdverInt: 10 };

function check(pkt: Uint8Array, e: RxExpect = expect2()) {
  return validateAdvert(pkt, (vrid) => (vrid === 51 ? e : undefined));
}
function reason(pkt: Uint8Array, e?: RxExpect): string {
  const r = check(pkt, e);
  return r.ok ? 'ok' : r.reason;
}

describe('validateAdvert', () => {
  it('accepts a keepalived-shaped v2 PASS advert and a v3 one (pseudo-header checksum)', () => {
    const r = check(buildVrrpPacket(v2, { src: SRC }));
    expect(r).toMatchObject({ ok: true, vrid: 51, ttl: 255, advert: { priority: 100, maxAdverIntCs: 0, src: ipToU32(SRC) } });
    const r3 = check(buildVrrpPacket(v3, { src: SRC }), expect2({ version: 3, authPass: undefined }));
    expect(r3).toMatchObject({ ok: true, advert: { priority: 100, maxAdverIntCs: 10 } });
  });

  it('v3_checksum_as_v2 on both sides agrees; one side only is a bad checksum', () => {
    const p = buildVrrpPacket(v3, { src: SRC, v3ChecksumAsV2: true });
    expect(reason(p, expect2({ version: 3, authPass: undefined, v3ChecksumAsV2: true }))).toBe('ok');
    expect(reason(p, expect2({ version: 3, authPass: undefined }))).toBe('bad-checksum');
  });

  it('rejects each kind of bad input with its own reason', () => {
    expect(reason(buildVrrpPacket(v2, { src: SRC, ttl: 64 }))).toBe('bad-ttl');
    expect(reason(buildVrrpPacket({ ...v2, vrid: 52 }, { src: SRC }))).toBe('unknown-vrid');
    expect(reason(buildVrrpPacket(v3, { src: SRC }))).toBe('bad-version');
    expect(reason(buildVrrpPacket({ ...v2, authData: '2222' }, { src: SRC }))).toBe('auth-failure');
    expect(reason(buildVrrpPacket({ ...v2, authData: undefined, authType: 0 }, { src: SRC }))).toBe('auth-type-mismatch');
    expect(reason(buildVrrpPacket({ ...v2, authType: 7 }, { src: SRC }))).toBe('bad-auth-type');
    expect(reason(buildVrrpPacket({ ...v2, adverInt: 2 }, { src: SRC }))).toBe('interval-mismatch');
    expect(reason(buildVrrpPacket({ ...v2, type: 2 }, { src: SRC }))).toBe('bad-type');
    expect(reason(buildVrrpPacket({ ...v2, checksum: 0x1234 }, { src: SRC }))).toBe('bad-checksum');
    expect(reason(buildVrrpPacket({ ...v2, addrs: ['192.168.150.101'] }, { src: SRC }))).toBe('addr-list');
    expect(reason(buildVrrpPacket({ ...v2, addrs: ['192.168.150.100', '192.168.150.101'] }, { src: SRC }))).toBe('addr-count');
    expect(reason(buildVrrpPacket(v2, { src: SRC, dst: '192.168.150.11' }))).toBe('cast-mismatch');
    // Unicast: the source must be a configured peer.
    const uni = expect2({ unicast: true, peers: [{ addr: ipToU32('192.168.150.99'), minTtl: 0, maxTtl: 255 }] });
    expect(reason(buildVrrpPacket(v2, { src: SRC, dst: '192.168.150.11' }), uni)).toBe('unknown-peer');
  });

  it('short and truncated packets', () => {
    const p = buildVrrpPacket(v2, { src: SRC });
    expect(reason(p.subarray(0, 10))).toBe('short');
    // Cut the VRRP message but keep the IP header consistent: a short VRRP message.
    const cut = p.slice(0, 20 + 6);
    cut[2] = 0; cut[3] = 26; setIpv4Checksum(cut, 0);
    expect(reason(cut)).toBe('short');
    // Count says 2 addresses, the message has 1.
    const lie = buildVrrpPacket({ ...v2, count: 2 }, { src: SRC });
    expect(reason(lie)).toBe('bad-length');
  });

  it('unicast v3 from an old keepalived (checksum over the multicast group) is accepted', () => {
    const p = buildVrrpPacket(v3, { src: SRC, dst: '192.168.150.11' });
    const peers = [{ addr: ipToU32(SRC), minTtl: 0, maxTtl: 255 }];
    const e = expect2({ version: 3, authPass: undefined, unicast: true, peers });
    expect(reason(p, e)).toBe('ok');
    // Rebuild with the multicast group in the pseudo-header but sent unicast.
    const old = buildVrrpPacket({ ...v3, checksum: undefined }, { src: SRC, dst: '224.0.0.18' });
    const asUnicast = old.slice();
    asUnicast.set([192, 168, 150, 11], 16); setIpv4Checksum(asUnicast, 0);
    expect(reason(asUnicast, e)).toBe('ok');
  });

  it('property: any single-byte corruption of a good advert is rejected or decodes to the same fields', () => {
    const good = buildVrrpPacket(v2, { src: SRC });
    fc.assert(fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
      const p = good.slice();
      p[at] = p[at]! ^ x;
      const r = check(p);
      // The IP header's id/TOS/src may change without the VRRP checks noticing; the VRRP fields may not.
      if (r.ok) expect(at === 1 || (at >= 4 && at <= 5) || (at >= 12 && at < 16)).toBe(true);
    }), { numRuns: 500 });
  });
});
