// Real keepalived bytes (fixtures/, captured by fixtures/capture-keepalived.sh):
// our decoders accept them, and our builders reproduce them byte for byte.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { decodePcap } from './build/pcap.js';
import { parseFrame } from './build/frame.js';
import { decodeVrrpPacket, buildVrrpFrame, vrrpAuthPass, VRRP_MCAST_ADDR } from '../../src/packet/vrrp.js';
import { buildGratuitousArp, isGratuitousArp } from '../../src/packet/arp.js';
import { parseMac, u32ToIp } from '../../src/packet/addr.js';
import { ETHERTYPE_ARP } from '../../src/packet/ethernet.js';

const MASTER_MAC = '02:00:00:00:77:02';
const VIPS = ['192.168.77.100', '192.168.77.101'];

function records(name: string): Uint8Array[] {
  const r = decodePcap(new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url))));
  if (!r.ok) throw new Error(`${name}: ${r.reason}`);
  return r.value.records.map((x) => x.data);
}

describe.each([
  { version: 2 as const, file: 'keepalived-v2.pcap' },
  { version: 3 as const, file: 'keepalived-v3.pcap' },
])('keepalived 2.2.7 VRRPv$version', ({ version, file }) => {
  const frames = records(file);
  const adverts = frames.filter((f) => ((f[12]! << 8) | f[13]!) === 0x0800 && f[23] === 112);
  const garps = frames.filter((f) => ((f[12]! << 8) | f[13]!) === ETHERTYPE_ARP);

  it('the capture holds adverts and gratuitous ARPs', () => {
    expect(adverts.length).toBeGreaterThanOrEqual(2);
    expect(garps.length).toBeGreaterThanOrEqual(2);
  });

  it('decodes its adverts (v3 checksum with the pseudo-header)', () => {
    for (const f of adverts) {
      const r = decodeVrrpPacket(f, 14);
      expect(r.ok, JSON.stringify(r)).toBe(true);
      if (!r.ok) continue;
      const { ip, vrrp } = r.value;
      expect(u32ToIp(ip.src)).toBe('192.168.77.2');
      expect(ip.dst).toBe(VRRP_MCAST_ADDR);
      expect([vrrp.version, vrrp.vrid, vrrp.priority, vrrp.addrs.map(u32ToIp)]).toEqual([version, 51, 150, VIPS]);
      if (version === 2) {
        expect([vrrp.authType, vrrp.adverInt, vrrpAuthPass(vrrp)]).toEqual([1, 1, 'secret12']);
      } else {
        expect(vrrp.maxAdverInt).toBe(100);
        expect(decodeVrrpPacket(f, 14, f.length - 14, { v3ChecksumAsV2: true })).toEqual({ ok: false, reason: 'bad-checksum' });
      }
    }
  });

  it('buildVrrpFrame reproduces its adverts byte for byte', () => {
    for (const f of adverts) {
      const id = (f[18]! << 8) | f[19]!;
      const built = buildVrrpFrame(
        { version, vrid: 51, priority: 150, addrs: VIPS, adverInt: 1, maxAdverInt: 100, authData: version === 2 ? 'secret12' : undefined },
        { src: '192.168.77.2', id, srcMac: MASTER_MAC },
      );
      expect(Buffer.from(built).toString('hex')).toBe(Buffer.from(f).toString('hex'));
    }
  });

  it('buildGratuitousArp reproduces its gratuitous ARPs byte for byte', () => {
    for (const f of garps) {
      const p = parseFrame(f);
      expect(p.ok && p.value.arp && isGratuitousArp(p.value.arp)).toBe(true);
      if (!p.ok || !p.value.arp) continue;
      const vip = p.value.arp.senderIp;
      expect(VIPS).toContain(u32ToIp(vip));
      expect(Buffer.from(buildGratuitousArp(parseMac(MASTER_MAC), vip)).toString('hex'))
        .toBe(Buffer.from(f).toString('hex'));
    }
  });
});

describe.each([
  { file: 'keepalived-v3-unicast.pcap', old: false },
  { file: 'keepalived-v3-unicast-old.pcap', old: true },
])('keepalived 2.2.7 unicast VRRPv3 ($file)', ({ file, old }) => {
  const adverts = records(file).filter((f) => ((f[12]! << 8) | f[13]!) === 0x0800 && f[23] === 112);
  const peer = '192.168.77.3';
  const opts = old ? { pseudoHeaderDst: VRRP_MCAST_ADDR } : {};

  it('decodes with the pseudo-header keepalived used (the peer, or the group for old_unicast_checksum)', () => {
    expect(adverts.length).toBeGreaterThanOrEqual(2);
    for (const f of adverts) {
      const r = decodeVrrpPacket(f, 14, f.length - 14, opts);
      expect(r.ok, JSON.stringify(r)).toBe(true);
      expect(r.ok && u32ToIp(r.value.ip.dst)).toBe(peer);
      const other = old ? {} : { pseudoHeaderDst: VRRP_MCAST_ADDR };
      expect(decodeVrrpPacket(f, 14, f.length - 14, other)).toEqual({ ok: false, reason: 'bad-checksum' });
    }
  });

  it('buildVrrpFrame reproduces them byte for byte', () => {
    for (const f of adverts) {
      const built = buildVrrpFrame(
        { version: 3, vrid: 51, priority: 150, addrs: VIPS, maxAdverInt: 100 },
        { src: '192.168.77.2', dst: peer, id: (f[18]! << 8) | f[19]!, srcMac: MASTER_MAC, dstMac: f.subarray(0, 6), ...opts },
      );
      expect(Buffer.from(built).toString('hex')).toBe(Buffer.from(f).toString('hex'));
    }
  });
});
