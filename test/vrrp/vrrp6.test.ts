// The VRRP runtime over IPv6 without a network: the instance spec an IPv6
// vrrp_instance becomes, receive validation in keepalived's order, the
// election with 128-bit addresses, unsolicited NAs where IPv4 sends
// gratuitous ARPs, and an IPv4 and an IPv6 instance sharing a VRID on one
// interface without hearing each other. (test/lab/vrrp-v6-interop.test.ts
// does it on the wire against keepalived.)
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { ipToU32 } from '../../src/packet/addr.js';
import { ipv6ToBigInt, parseIpv6 } from '../../src/packet/addr6.js';
import { buildVrrp, type VrrpFields } from '../../src/packet/vrrp.js';
import { vrrpData } from '../../src/vrrp/data.js';
import { VrrpInstance, type InstanceConfig } from '../../src/vrrp/instance.js';
import { VrrpScheduler } from '../../src/vrrp/scheduler.js';
import { validateAdvert6, type RxExpect, type Rx6Meta } from '../../src/vrrp/validate.js';
import { addLines, delLines, toVipSpec } from '../../src/vrrp/vip.js';
import { ipv6Forwarding } from '../../src/vrrp/ndisc.js';
import { fakeIo } from './helpers.js';

const LL = 'fe80::ff:fe00:7702';
const PEER_LL = 'fe80::ff:fe00:7703';
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

const conf = `
vrrp_instance V4 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  virtual_ipaddress {
    192.168.150.100/24
  }
}
vrrp_instance V6 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 0.1
  virtual_ipaddress {
    fe80::51:1/64
    2001:db8::100/64
  }
  virtual_ipaddress_excluded {
    2001:db8::200/64 -nodad
  }
}
`;
const model = parseConfigText(conf).model;
const data = vrrpData(model, () => '192.168.150.11', () => LL);
const v6 = data.instances.find((s) => s.model.name === 'V6')!;
const v4 = data.instances.find((s) => s.model.name === 'V4')!;

describe('an IPv6 vrrp_instance becomes', () => {
  it('VRRPv3 to ff02::12 from the link-local address, with 16-byte VIPs', () => {
    expect({ family: v6.family, src: v6.src, dsts: v6.dsts, fields: v6.fields }).toEqual({
      family: 6, src: LL, dsts: ['ff02::12'],
      fields: { version: 3, family: 6, vrid: 51, addrs: ['fe80::51:1', '2001:db8::100'], maxAdverInt: 10 },
    });
    expect(v6.cfg.srcIp).toBe(ipv6ToBigInt(parseIpv6(LL)));
    expect(v6.expect).toMatchObject({ version: 3, family: 6, vips6: ['fe80::51:1', '2001:db8::100'], unicast: false });
    expect(v4.family).toBe(4);
  });

  it('VIPs added with nodad (keepalived sets IFA_F_NODAD) unless -nodad; removed without flags', () => {
    expect(addLines(v6.vipSpecs)).toEqual([
      'addr add fe80::51:1/64 dev eth0 nodad',
      'addr add 2001:db8::100/64 dev eth0 nodad',
      'addr add 2001:db8::200/64 dev eth0',
    ]);
    expect(delLines(v6.vipSpecs)).toEqual([
      'addr del fe80::51:1/64 dev eth0',
      'addr del 2001:db8::100/64 dev eth0',
      'addr del 2001:db8::200/64 dev eth0',
    ]);
    expect(toVipSpec({ pos: { file: '', line: 0, col: 0 }, addr: '2001:db8::1', prefix: 64, extra: ['preferred_lft', '0'] }, 'eth1'))
      .toEqual({ addr: '2001:db8::1', prefix: 64, dev: 'eth1', nodad: true, preferredLft: '0', brd: undefined, scope: undefined, label: undefined });
  });

  it('unicast over IPv6: from unicast_src_ip to each peer; no link-local needed', () => {
    const u = vrrpData(parseConfigText(`vrrp_instance U {
  interface eth0
  virtual_router_id 7
  unicast_src_ip 2001:db8::1
  unicast_peer {
    2001:db8::2
  }
  virtual_ipaddress {
    2001:db8::100/64
  }
}
`).model, () => undefined, () => undefined).instances[0]!;
    expect({ src: u.src, dsts: u.dsts, unicast: u.unicast }).toEqual({ src: '2001:db8::1', dsts: ['2001:db8::2'], unicast: true });
    expect(u.expect.peers6).toEqual([{ addr: '2001:db8::2', minTtl: 0, maxTtl: 255 }]);
  });

  it('an interface without a link-local address is an error that says so', () => {
    expect(() => vrrpData(model, () => '192.168.150.11', () => undefined)).toThrow(/^keepalived\.conf:12:1: vrrp_instance V6: interface eth0 has no IPv6 link-local address to send adverts from — bring the interface up/);
  });
});

describe('validateAdvert6', () => {
  const exp = v6.expect;
  const good: VrrpFields = { version: 3, family: 6, vrid: 51, priority: 150, addrs: ['fe80::51:1', '2001:db8::100'], maxAdverInt: 10 };
  const meta = (o: Partial<Rx6Meta> = {}): Rx6Meta => ({ from: PEER_LL, dst: 'ff02::12', hopLimit: 255, ...o });
  const run = (f: Partial<VrrpFields>, m: Partial<Rx6Meta> = {}, e: RxExpect = exp) => {
    const mm = meta(m);
    const pkt = buildVrrp({ ...good, ...f } as VrrpFields, mm.from, mm.dst || 'ff02::12');
    return validateAdvert6(pkt, mm, (vrid) => (vrid === 51 ? e : undefined));
  };
  const reason = (...a: Parameters<typeof run>) => { const r = run(...a); return r.ok ? 'ok' : r.reason; };

  it('accepts keepalived\'s advert; the source is a 128-bit number for the election', () => {
    expect(run({})).toEqual({ ok: true, vrid: 51, ttl: 255, dst: 'ff02::12', advert: { priority: 150, maxAdverIntCs: 10, src: ipv6ToBigInt(parseIpv6(PEER_LL)) } });
  });

  it('refuses, in keepalived\'s order: short, unknown VRID, length, hop limit, version, type, count, checksum, cast, VIPs', () => {
    expect(validateAdvert6(new Uint8Array(5), meta(), () => exp)).toMatchObject({ ok: false, reason: 'short' });
    expect(reason({ vrid: 9 })).toBe('unknown-vrid');
    const pkt = buildVrrp(good, PEER_LL, 'ff02::12');
    expect(validateAdvert6(pkt.subarray(0, pkt.length - 4), meta(), () => exp)).toMatchObject({ reason: 'bad-length' });
    expect(reason({}, { hopLimit: 64 })).toBe('bad-ttl');
    const v2 = Uint8Array.from(pkt); v2[0] = 0x21;
    expect(validateAdvert6(v2, meta(), () => exp)).toMatchObject({ reason: 'bad-version' });
    const t2 = Uint8Array.from(pkt); t2[0] = 0x32;
    expect(validateAdvert6(t2, meta(), () => exp)).toMatchObject({ reason: 'bad-type' });
    expect(reason({ addrs: ['fe80::51:1'] })).toBe('addr-count');
    expect(reason({ checksum: 0xbeef })).toBe('bad-checksum');
    // The checksum covers the source: a packet claiming another sender fails it.
    expect(validateAdvert6(pkt, meta({ from: 'fe80::666' }), () => exp)).toMatchObject({ reason: 'bad-checksum' });
    expect(reason({}, { dst: 'fe80::ff:fe00:7702' })).toBe('cast-mismatch');
    expect(reason({ addrs: ['fe80::51:1', '2001:db8::999'] })).toBe('addr-list');
  });

  it('a global source is accepted (keepalived 2.2.7 does not insist on link-local), as a unicast peer must be', () => {
    expect(reason({}, { from: '2001:db8::77' })).toBe('ok');
    const u: RxExpect = { ...exp, unicast: true, peers6: [{ addr: '2001:db8::2', minTtl: 0, maxTtl: 255 }] };
    expect(reason({}, { from: '2001:db8:0::2', dst: '2001:db8::1', hopLimit: 64 }, u)).toBe('ok');
    expect(reason({}, { from: '2001:db8::3', dst: '2001:db8::1' }, u)).toBe('unknown-peer');
    expect(reason({}, { from: '2001:db8::2', dst: 'ff02::12' }, u)).toBe('cast-mismatch');
    const ranged: RxExpect = { ...u, peers6: [{ addr: '2001:db8::2', minTtl: 250, maxTtl: 255 }] };
    expect(reason({}, { from: '2001:db8::2', dst: '2001:db8::1', hopLimit: 64 }, ranged)).toBe('bad-ttl');
  });

  it('vrrp_skip_check_adv_addr: another VIP list is fine', () => {
    expect(reason({ addrs: ['2001:db8::5'] }, {}, { ...exp, skipCheckAdvAddr: true })).toBe('ok');
  });
});

describe('the election with IPv6 addresses', () => {
  const cfg = (srcIp: bigint): InstanceConfig => ({
    name: 'V6', vrid: 51, version: 3, priority: 100, advertIntMs: 100, initialState: 'MASTER', nopreempt: false, preemptDelayMs: 0,
    downTimerAdverts: 3, srcIp, garpDelayMs: 0, garpRepeat: 1, garpRefreshMs: 0, garpRefreshRepeat: 1,
    higherPrioSendAdvert: false, lowerPrioNoAdvert: false, hasReference: false,
  });
  it('equal priority: the higher address (all 128 bits compared) stays master, the lower yields', () => {
    const low = ipv6ToBigInt(parseIpv6('fe80::1:0:0:1'));
    const high = ipv6ToBigInt(parseIpv6('fe80::2:0:0:0'));
    for (const [mine, theirs, yields] of [[low, high, true], [high, low, false]] as const) {
      const sm = new VrrpInstance(cfg(mine));
      sm.start(0);
      sm.tick(1000);
      expect(sm.state).toBe('MASTER');
      sm.onAdvert(1100, { priority: 100, maxAdverIntCs: 10, src: theirs });
      expect(sm.state).toBe(yields ? 'BACKUP' : 'MASTER');
    }
  });
});

describe('VrrpScheduler with an IPv4 and an IPv6 instance on one VRID', () => {
  it('the IPv6 one takes over by itself, sends to ff02::12 and announces with NAs; an IPv4 advert for VRID 51 does not touch it', () => {
    const f = fakeIo();
    const s = new VrrpScheduler(data.instances, f.io, { log: quiet });
    s.start();
    // Keep the IPv4 instance a backup: its master speaks every second.
    const v4Master = { priority: 200, maxAdverIntCs: 0, src: ipToU32('192.168.150.12') };
    for (let i = 0; i < 5; i++) {
      s.onAdvert('eth0', 51, v4Master, '192.168.150.12', 4);
      f.advance(100);
    }
    expect(s.instances.get('V6')!.state).toBe('MASTER');
    expect(s.instances.get('V4')!.state).toBe('BACKUP');
    expect(f.ev).toEqual(expect.arrayContaining(['advert prio 100 to ff02::12', 'na fe80::51:1 x1', 'na 2001:db8::100 x1', 'na 2001:db8::200 x1']));
    expect(f.ev.filter((e) => e.startsWith('garp'))).toEqual([]);
    // An IPv6 master of priority 200 speaks: V6 yields; V4 is untouched.
    s.onAdvert('eth0', 51, { priority: 200, maxAdverIntCs: 10, src: ipv6ToBigInt(parseIpv6(PEER_LL)) }, PEER_LL, 6);
    expect(s.instances.get('V6')!.state).toBe('BACKUP');
    expect(s.metrics().instances.map((m) => [m.name, m.advertsReceived])).toEqual([['V4', 5], ['V6', 1]]);
    // A bad IPv6 packet is counted on the IPv6 instance only.
    s.onBadPacket('eth0', 51, 'bad-ttl', 'hop limit 64', PEER_LL, 6);
    expect(s.metrics().instances.map((m) => m.badPackets['bad-ttl'])).toEqual([0, 1]);
    expect([...s.expectations('eth0', 6).keys()]).toEqual([51]);
    expect(s.expectations('eth0', 6).get(51)!.family).toBe(6);
    expect(s.expectations('eth0', 4).get(51)!.family).toBeUndefined();
    void s.stop(false);
  });
});

describe('the NA router flag', () => {
  it('follows net.ipv6.conf.IF.forwarding, read again after 5 s as keepalived does', () => {
    let value = '1';
    let reads = 0;
    const read = () => { reads++; return `${value}\n`; };
    expect(ipv6Forwarding('lvtest0', 1_000, read)).toBe(true);
    value = '0';
    expect(ipv6Forwarding('lvtest0', 3_000, read)).toBe(true);
    expect(ipv6Forwarding('lvtest0', 6_001, read)).toBe(false);
    expect(reads).toBe(2);
    expect(ipv6Forwarding('lvtest-none', 0, () => { throw new Error('ENOENT'); })).toBe(false);
  });
});
