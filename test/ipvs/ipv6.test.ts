// The engine's IPv6 half: DR, NAT and TUN for IPv6 services, extension
// headers, ICMPv6 (originated and translated), persistence by prefix, the
// hashing schedulers on the kernel's address fold, and IPv4 beside it in
// the same table. Packets are decoded here by the project's codecs; tshark
// judges the same outputs in xmit-tshark.test.ts.
import { describe, expect, it } from 'vitest';
import { VERDICT_DROP, VERDICT_IGNORE, VERDICT_XMIT, type IpvsEngine } from '../../src/ipvs/engine.js';
import { ControlError } from '../../src/ipvs/errors.js';
import { decodeIpv6, fold6, formatIpv6, ip6Words, parseIpv6, upperChecksum6 } from '../../src/packet/ipv6.js';
import { decodeIcmpv6 } from '../../src/packet/icmpv6.js';
import { hash32 } from '../../src/ipvs/sched/common.js';
import { SH_TAB_BITS } from '../../src/ipvs/sched/sh.js';
import type { ServiceKey } from '../../src/ipvs/types.js';
import { CLIENT6, VIP6, buildIcmp6Frame, buildTcp6Frame, buildUdp6Frame, eth6, l3Of } from '../packet/build/ipv6.js';
import { dest, engine, send, svc, tcp, tcpKey } from './helpers.js';

const RS6 = '2001:db8:1::10';
const RS6B = '2001:db8:1::11';
const TUN_SRC6 = '2001:db8:1::1';
const key6 = (port = 80, protocol: 'tcp' | 'udp' = 'tcp'): ServiceKey => ({ kind: 'addr', protocol, addr: VIP6, port });

function nh(r: { out: { nextHop6?: Uint8Array } }): string {
  return formatIpv6(r.out.nextHop6!);
}

function ip6(pkt: Uint8Array) {
  const d = decodeIpv6(pkt, 0, pkt.length);
  if (!d.ok) throw new Error(`engine output does not decode: ${d.reason}`);
  return d.value;
}

function l4ok(pkt: Uint8Array, proto: number): boolean {
  const h = ip6(pkt);
  return upperChecksum6(pkt, 0, h.upperOffset!, pkt.length - h.upperOffset!, proto) === 0;
}

function invariant(e: IpvsEngine): void {
  const c = e.counters();
  let sum = c.xmit!;
  for (const [k, v] of Object.entries(c)) if (/^(drop|ignore)_/.test(k)) sum += v;
  expect(sum).toBe(c.frames);
}

function withDests(fwd: 'route' | 'masq' | 'tunnel', port = 80, o: { protocol?: 'tcp' | 'udp'; rport?: number } = {}): IpvsEngine {
  const e = engine();
  const k = key6(port, o.protocol);
  e.addService(svc(k));
  const extra = fwd === 'tunnel' ? { tunSource6: parseIpv6(TUN_SRC6)! } : {};
  e.addDest(k, dest(RS6, o.rport ?? port, { fwd }), extra);
  e.tick(0);
  return e;
}

describe('IPv6 DR', () => {
  it('forwards the packet unchanged to the real server, and the conn lists in inet_ntop form', () => {
    const e = withDests('route');
    const f = buildTcp6Frame({ payload: 'hello' });
    const r = send(e, f);
    expect(r.verdict).toBe(VERDICT_XMIT);
    expect(r.pkt).toEqual(l3Of(f));
    expect(nh(r)).toBe(RS6);
    expect(send(e, buildTcp6Frame({ flags: 'A', seq: 2 })).verdict).toBe(VERDICT_XMIT);
    const [c] = e.listConns(0);
    expect(c).toMatchObject({ protocol: 'tcp', caddr: CLIENT6, cport: 40000, vaddr: VIP6, vport: 80, daddr: RS6, dport: 80, fwd: 'route' });
    expect(e.listServices()[0]!.dests[0]!.stats.inpkts).toBe(2);
    invariant(e);
  });

  it('a non-SYN without a conn is dropped; another port of the VIP is not ours', () => {
    const e = withDests('route');
    expect(send(e, buildTcp6Frame({ flags: 'A' })).verdict).toBe(VERDICT_DROP);
    expect(send(e, buildTcp6Frame({ dstPort: 81 })).verdict).toBe(VERDICT_IGNORE);
    expect(send(e, buildTcp6Frame({ dst: '2001:db8::200' })).verdict).toBe(VERDICT_IGNORE);
    expect(e.counters()).toMatchObject({ drop_tcp_no_conn: 1, ignore_not_service: 2 });
  });
});

describe('IPv6 NAT', () => {
  it('DNATs to RIP:rport with a valid checksum and hop limit untouched; SNATs replies one hop less; hop limit 1 is dropped', () => {
    const e = withDests('masq', 80, { rport: 8080 });
    const r = send(e, buildTcp6Frame({ hopLimit: 17, payload: 'hello' }));
    expect(r.verdict).toBe(VERDICT_XMIT);
    const h = ip6(r.pkt!);
    expect([h.src, h.dst, h.hopLimit]).toEqual([CLIENT6, RS6, 17]);
    expect(r.pkt![h.upperOffset! + 2]! << 8 | r.pkt![h.upperOffset! + 3]!).toBe(8080);
    expect(l4ok(r.pkt!, 6)).toBe(true);
    expect(nh(r)).toBe(RS6);

    const back = send(e, buildTcp6Frame({ src: RS6, dst: CLIENT6, srcPort: 8080, dstPort: 40000, flags: 'SA', hopLimit: 64, payload: 'x' }));
    expect(back.verdict).toBe(VERDICT_XMIT);
    const b = ip6(back.pkt!);
    expect([b.src, b.dst, b.hopLimit]).toEqual([VIP6, CLIENT6, 63]);
    expect(back.pkt![b.upperOffset!]! << 8 | back.pkt![b.upperOffset! + 1]!).toBe(80);
    expect(l4ok(back.pkt!, 6)).toBe(true);
    expect(nh(back)).toBe(CLIENT6);

    const dead = send(e, buildTcp6Frame({ src: RS6, dst: CLIENT6, srcPort: 8080, dstPort: 40000, flags: 'A', hopLimit: 1 }));
    expect(dead.verdict).toBe(VERDICT_DROP);
    expect(e.counters().drop_ttl_exceeded).toBe(1);
    invariant(e);
  });

  it('UDP: rewritten with a valid checksum; a zero (invalid in IPv6) checksum is dropped', () => {
    const e = withDests('masq', 53, { protocol: 'udp', rport: 5353 });
    const r = send(e, buildUdp6Frame({ payload: 'query' }));
    expect(r.verdict).toBe(VERDICT_XMIT);
    expect(l4ok(r.pkt!, 17)).toBe(true);
    expect(ip6(r.pkt!).dst).toBe(RS6);
    expect(send(e, buildUdp6Frame({ srcPort: 40001, checksum: false })).verdict).toBe(VERDICT_DROP);
    expect(e.counters().drop_udp_zero_checksum).toBe(1);
  });

  it('rewrites the transport header behind extension headers (Hop-by-Hop, Destination Options, AH)', () => {
    const e = withDests('masq', 80, { rport: 8080 });
    const f = buildTcp6Frame({ ext: [{ type: 0 }, { type: 60, len: 16 }, { type: 51 }, { type: 43 }], payload: 'ext' });
    const r = send(e, f);
    expect(r.verdict).toBe(VERDICT_XMIT);
    const h = ip6(r.pkt!);
    expect(h.upperOffset).toBe(40 + 8 + 16 + 12 + 8);
    expect(h.dst).toBe(RS6);
    expect(l4ok(r.pkt!, 6)).toBe(true);
  });

  it('drops fragments, routing headers with segments left and a misplaced Hop-by-Hop header, for a VIP; ignores them for others', () => {
    const e = withDests('masq');
    const cases: [Parameters<typeof buildTcp6Frame>[0], string][] = [
      [{ ext: [{ type: 44, more: true }] }, 'drop_fragment'],
      [{ ext: [{ type: 44, fragOffset: 10 }] }, 'drop_fragment'],
      [{ ext: [{ type: 43, segmentsLeft: 1 }] }, 'drop_ipv6_ext_header'],
      [{ ext: [{ type: 60 }, { type: 0 }] }, 'drop_ipv6_ext_header'],
      [{ src: 'ff02::1' }, 'drop_bad_saddr'],
      [{ src: '::1' }, 'drop_bad_saddr'],
      [{ src: '::ffff:10.0.0.1' }, 'drop_bad_saddr'],
      [{ src: '::' }, 'drop_bad_saddr'],
    ];
    for (const [o, counter] of cases) {
      const before = e.counters()[counter] ?? 0;
      expect(send(e, buildTcp6Frame(o)).verdict, counter).toBe(VERDICT_DROP);
      expect(e.counters()[counter], counter).toBe(before + 1);
    }
    expect(send(e, buildTcp6Frame({ dst: '2001:db8::999', ext: [{ type: 44, more: true }] })).verdict).toBe(VERDICT_IGNORE);
    const trunc = buildTcp6Frame().subarray(0, 14 + 40 + 10);
    expect(send(e, trunc).verdict).toBe(VERDICT_DROP);
    invariant(e);
  });
});

describe('IPv6 TUN', () => {
  it('encapsulates IPv6 in IPv6 (next header 41): source from routing, traffic class and hop limit of the inner packet, flow label 0', () => {
    const e = withDests('tunnel');
    const f = buildTcp6Frame({ hopLimit: 33, trafficClass: 0xb8, flowLabel: 0x12345 });
    const r = send(e, f);
    expect(r.verdict).toBe(VERDICT_XMIT);
    const o = ip6(r.pkt!);
    expect([o.src, o.dst, o.nextHeader, o.hopLimit, o.trafficClass, o.flowLabel, o.payloadLength])
      .toEqual([TUN_SRC6, RS6, 41, 33, 0xb8, 0, f.length - 14]);
    expect(r.pkt!.subarray(40)).toEqual(l3Of(f));
    expect(nh(r)).toBe(RS6);
  });

  it('an oversize packet gets Packet Too Big from the VIP with MTU = tunnel MTU - 40; none for an ICMPv6 error', () => {
    const e = withDests('tunnel');
    e.setTunMtu(1400);
    send(e, buildTcp6Frame());
    const big = buildTcp6Frame({ flags: 'A', payload: 'z'.repeat(1400 - 40 - 20 - 40 + 1) });
    const r = send(e, big);
    expect(r.verdict).toBe(VERDICT_XMIT);
    const h = ip6(r.pkt!);
    expect([h.src, h.dst, h.nextHeader, h.hopLimit]).toEqual([VIP6, CLIENT6, 58, 64]);
    const m = decodeIcmpv6(r.pkt!, 0, 40, r.pkt!.length - 40);
    expect(m.ok && [m.value.type, m.value.code, m.value.rest]).toEqual([2, 0, 1360]);
    expect(r.pkt!.length).toBeLessThanOrEqual(1280);
    expect(nh(r)).toBe(CLIENT6);
    // Exactly the tunnel MTU: fits.
    expect(ip6(send(e, buildTcp6Frame({ flags: 'A', payload: 'z'.repeat(1400 - 40 - 20 - 40) })).pkt!).nextHeader).toBe(41);
    // The client's ICMPv6 error about our reply: never above 1280 bytes (RFC 4443 2.4), so it always fits a tunnel that works.
    const reply = l3Of(buildTcp6Frame({ src: VIP6, dst: CLIENT6, srcPort: 80, dstPort: 40000, flags: 'A', payload: 'q'.repeat(1300) }));
    const err = buildIcmp6Frame({ src: CLIENT6, dst: VIP6, type: 2, info: 1280, quote: reply });
    const relayed = send(e, err);
    expect(relayed.verdict).toBe(VERDICT_XMIT);
    expect(ip6(relayed.pkt!).nextHeader).toBe(41);
    expect(relayed.pkt!.subarray(40)).toEqual(l3Of(err));
    expect(e.counters().icmp_generated).toBe(1);
  });

  it('a tunnel MTU that leaves less than 1280 carries nothing; no route means drop_tun_no_route until a source is set', () => {
    const e = withDests('tunnel');
    e.setTunMtu(1300);
    expect(send(e, buildTcp6Frame()).verdict).toBe(VERDICT_DROP);
    expect(e.counters().drop_tun_too_big).toBe(1);
    const n = engine();
    n.addService(svc(key6()));
    n.addDest(key6(), dest(RS6, 80, { fwd: 'tunnel' }));
    expect(send(n, buildTcp6Frame()).verdict).toBe(VERDICT_DROP);
    expect(n.counters().drop_tun_no_route).toBe(1);
    expect([...n.tunnelDests6()]).toEqual([[RS6, null]]);
    expect(n.setTunSource6('2001:DB8:1:0::10', parseIpv6(TUN_SRC6)!)).toBe(1);
    expect(send(n, buildTcp6Frame({ srcPort: 40001 })).verdict).toBe(VERDICT_XMIT);
  });
});

describe('ICMPv6', () => {
  it('no usable dest: port unreachable (type 1 code 4) from the VIP quoting the packet', () => {
    const e = engine();
    e.addService(svc(key6()));
    e.tick(0);
    const f = buildTcp6Frame({ payload: 'p'.repeat(2000) });
    const r = send(e, f);
    expect(r.verdict).toBe(VERDICT_XMIT);
    const h = ip6(r.pkt!);
    expect([h.src, h.dst]).toEqual([VIP6, CLIENT6]);
    const m = decodeIcmpv6(r.pkt!, 0, 40, r.pkt!.length - 40);
    expect(m.ok && [m.value.type, m.value.code]).toEqual([1, 4]);
    expect(r.pkt!.length).toBe(1280);
    expect(r.pkt!.subarray(48, 88)).toEqual(l3Of(f).subarray(0, 40));
    expect(e.counters().icmp_generated).toBe(1);
  });

  it('NAT: the client\'s Packet Too Big about our reply goes to the real server, translated; the RS side\'s error goes to the client as from the VIP', () => {
    const e = withDests('masq', 80, { rport: 8080 });
    send(e, buildTcp6Frame());
    const reply = l3Of(buildTcp6Frame({ src: VIP6, dst: CLIENT6, srcPort: 80, dstPort: 40000, flags: 'A', payload: 'q'.repeat(100) }));
    const r = send(e, buildIcmp6Frame({ src: CLIENT6, dst: VIP6, type: 2, info: 1300, quote: reply }));
    expect(r.verdict).toBe(VERDICT_XMIT);
    expect(nh(r)).toBe(RS6);
    const h = ip6(r.pkt!);
    expect([h.src, h.dst]).toEqual([CLIENT6, RS6]);
    const m = decodeIcmpv6(r.pkt!, 0, 40, r.pkt!.length - 40);
    expect(m.ok && [m.value.type, m.value.rest]).toEqual([2, 1300]);
    const q = ip6(r.pkt!.subarray(48));
    expect([q.src, q.dst]).toEqual([RS6, CLIENT6]);
    expect(r.pkt![48 + 40]! << 8 | r.pkt![48 + 41]!).toBe(8080);
    expect(upperChecksum6(r.pkt!.subarray(48), 0, 40, r.pkt!.length - 88, 6)).toBe(0);

    const toRs = l3Of(buildTcp6Frame({ src: CLIENT6, dst: RS6, srcPort: 40000, dstPort: 8080, flags: 'A', payload: 'p'.repeat(60) }));
    const r2 = send(e, buildIcmp6Frame({ src: '2001:db8:1::fe', dst: CLIENT6, type: 3, quote: toRs, hopLimit: 64 }));
    expect(r2.verdict).toBe(VERDICT_XMIT);
    expect(nh(r2)).toBe(CLIENT6);
    const h2 = ip6(r2.pkt!);
    expect([h2.src, h2.dst, h2.hopLimit]).toEqual([VIP6, CLIENT6, 63]);
    const q2 = ip6(r2.pkt!.subarray(48));
    expect([q2.src, q2.dst]).toEqual([CLIENT6, VIP6]);
    expect(decodeIcmpv6(r2.pkt!, 0, 40, r2.pkt!.length - 40).ok).toBe(true);
    invariant(e);
  });

  it('a bad checksum is dropped; echo and neighbour discovery are the host\'s', () => {
    const e = withDests('masq', 80, { rport: 8080 });
    send(e, buildTcp6Frame());
    const reply = l3Of(buildTcp6Frame({ src: VIP6, dst: CLIENT6, srcPort: 80, dstPort: 40000, flags: 'A' }));
    const bad = buildIcmp6Frame({ src: CLIENT6, dst: VIP6, type: 1, quote: reply });
    bad[14 + 40 + 2]! ^= 0x55;
    expect(send(e, bad).verdict).toBe(VERDICT_DROP);
    expect(e.counters().drop_icmp_bad_checksum).toBe(1);
    const ns = new Uint8Array(24);
    ns.set(parseIpv6(VIP6)!, 8);
    expect(send(e, buildIcmp6Frame({ src: CLIENT6, dst: 'ff02::1:ff00:100', type: 135, payload: ns })).verdict).toBe(VERDICT_IGNORE);
    expect(send(e, buildIcmp6Frame({ src: CLIENT6, dst: VIP6, type: 128, payload: 'ping' })).verdict).toBe(VERDICT_IGNORE);
    expect(e.counters().ignore_icmp_no_conn).toBe(2);
  });

  it('DR: the client\'s error about our flow is forwarded to the real server as it is', () => {
    const e = withDests('route');
    send(e, buildTcp6Frame());
    const reply = l3Of(buildTcp6Frame({ src: VIP6, dst: CLIENT6, srcPort: 80, dstPort: 40000, flags: 'A' }));
    const err = buildIcmp6Frame({ src: CLIENT6, dst: VIP6, type: 2, info: 1400, quote: reply });
    const r = send(e, err);
    expect(r.verdict).toBe(VERDICT_XMIT);
    expect(r.pkt).toEqual(l3Of(err));
    expect(nh(r)).toBe(RS6);
  });
});

describe('IPv6 persistence and scheduling', () => {
  it('-M 64: clients of one /64 share a template and a real server; the template lists with port 0', () => {
    const e = engine();
    e.addService(svc(key6(), { persistence: 60, netmask: '64' }));
    e.addDest(key6(), dest(RS6, 80));
    e.addDest(key6(), dest(RS6B, 80));
    // nextHop6 is the engine's own array, valid until the next input(): read it at once.
    const a = nh(send(e, buildTcp6Frame({ src: '2001:db8:0:7::1' })));
    const b = nh(send(e, buildTcp6Frame({ src: '2001:db8:0:7::2' })));
    const c = nh(send(e, buildTcp6Frame({ src: '2001:db8:0:8::1' })));
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    const tpl = e.listConns(0).filter((x) => x.template).map((x) => [x.caddr, x.cport, x.vaddr, x.daddr]);
    expect(tpl).toContainEqual(['2001:db8:0:7::', 0, VIP6, a]);
    expect(tpl).toHaveLength(2);
  });

  it('an IPv6 netmask is a prefix length 1..128', () => {
    const e = engine();
    for (const m of ['0', '129', '255.255.255.0', 'x']) {
      expect(() => e.addService(svc(key6(), { persistence: 60, netmask: m })), m).toThrow(ControlError);
    }
    e.addService(svc(key6(), { persistence: 60, netmask: '48' }));
    expect(e.listServices()[0]!.netmask).toBe('48');
  });

  it('sh hashes the source address\'s fold as ip_vs_sh_hashkey does', () => {
    const e = engine();
    e.addService(svc(key6(), { scheduler: 'sh' }));
    const rs = ['2001:db8:1::10', '2001:db8:1::11', '2001:db8:1::12'];
    for (const a of rs) e.addDest(key6(), dest(a, 80));
    for (let k = 1; k <= 40; k++) {
      const client = `2001:db8:${k.toString(16)}::${((k * 7919) & 0xffff).toString(16)}`;
      const r = send(e, buildTcp6Frame({ src: client }));
      const bucket = hash32(fold6(ip6Words(client)), SH_TAB_BITS);
      // ip_vs_sh_reassign with weight 1: bucket b belongs to dest b mod 3.
      expect(nh(r), client).toBe(rs[bucket % 3]);
    }
  });

  it('lblc remembers whole destination addresses, not their folds', () => {
    const e = engine();
    e.addService(svc(key6(), { scheduler: 'lblc' }));
    e.addDest(key6(), dest(RS6, 80));
    const r = send(e, buildTcp6Frame());
    expect(nh(r)).toBe(RS6);
  });
});

describe('IPv4 and IPv6 side by side', () => {
  it('one table holds both; a key of one family never matches a conn of the other', () => {
    const e = engine();
    e.addService(svc(tcpKey()));
    e.addDest(tcpKey(), dest('192.168.1.10', 80));
    e.addService(svc(key6()));
    e.addDest(key6(), dest(RS6, 80));
    expect(send(e, tcp({})).verdict).toBe(VERDICT_XMIT);
    expect(send(e, buildTcp6Frame()).verdict).toBe(VERDICT_XMIT);
    expect(e.listConns(0).map((c) => c.daddr).sort()).toEqual(['192.168.1.10', RS6]);
    expect(e.counters().conns).toBe(2);
    // A v6 client whose words fold to the v4 client's address still misses the v4 conn (and vice versa).
    expect(send(e, buildTcp6Frame({ src: '::10.0.0.1', flags: 'A' })).verdict).not.toBe(VERDICT_XMIT);
    invariant(e);
  });

  it('two IPv6 clients with the same fold are two conns', () => {
    const e = withDests('route');
    const a = '2001:db8::1:0:0:1';
    const wa = ip6Words(a);
    // The same bits flipped in two words: the xor fold cannot tell them apart.
    const wb = new Uint32Array([wa[0]!, wa[1]! ^ 0x5a5a, wa[2]! ^ 0x5a5a, wa[3]!]);
    expect(fold6(wb)).toBe(fold6(wa));
    const bb = new Uint8Array(16);
    for (let k = 0; k < 4; k++) { bb[k * 4] = wb[k]! >>> 24; bb[k * 4 + 1] = (wb[k]! >>> 16) & 255; bb[k * 4 + 2] = (wb[k]! >>> 8) & 255; bb[k * 4 + 3] = wb[k]! & 255; }
    send(e, buildTcp6Frame({ src: a }));
    send(e, buildTcp6Frame({ src: formatIpv6(bb) }));
    expect(e.listConns(0).map((c) => c.caddr).sort()).toEqual([a, formatIpv6(bb)].sort());
  });

  it('refuses a real server of the other family (tunnel: EOPNOTSUPP, otherwise EINVAL) and canonicalises IPv6 text', () => {
    const e = engine();
    e.addService(svc({ kind: 'addr', protocol: 'tcp', addr: '2001:DB8:0::0100', port: 80 }));
    expect(e.listServices()[0]!.key).toEqual(key6());
    expect(() => e.addDest(key6(), dest('10.0.0.5', 80))).toThrow(/Different address family/);
    expect(() => e.addDest(key6(), dest('10.0.0.5', 80, { fwd: 'tunnel' }))).toThrow(/not supported/);
    e.addDest(key6(), dest('2001:0db8:0001::0010', 80));
    expect(e.listServices()[0]!.dests[0]!.addr).toBe(RS6);
    expect(() => e.addDest(key6(), dest(RS6, 80))).toThrow(/already exists/);
    e.delDest(key6(), '2001:db8:1:0:0:0:0:10', 80);
    expect(e.listServices()[0]!.dests).toEqual([]);
    e.addService(svc({ kind: 'fwmark', fwmark: 5, af: 6 }, { persistence: 30, netmask: '96' }));
    e.addService(svc({ kind: 'fwmark', fwmark: 5 }));
    expect(e.listServices().filter((s) => s.key.kind === 'fwmark')).toHaveLength(2);
    expect(() => e.addDest({ kind: 'fwmark', fwmark: 5, af: 6 }, dest('10.0.0.9', 0))).toThrow(/Different address family/);
  });

  it('serviceKeys() carries IPv6 VIPs and NAT real servers as text', () => {
    const e = withDests('masq', 80, { rport: 8080 });
    // An IPv6 fwmark service's mark is not queued: the NFQUEUE path hands the engine IPv4 packets only.
    e.addService(svc({ kind: 'fwmark', fwmark: 9, af: 6 }));
    e.addService(svc({ kind: 'fwmark', fwmark: 8 }));
    expect(e.serviceKeys()).toEqual({
      services: [{ protocol: 'tcp', vaddr: 0, vport: 80, addr: VIP6, af: 6 }],
      natDests: [{ protocol: 'tcp', raddr: 0, rport: 8080, addr: RS6, af: 6 }],
      fwmarks: [8],
    });
    expect(e.trace({ kind: 'fwmark', fwmark: 9, af: 6 }, CLIENT6, 1, 0).reason).toMatch(/IPv4 packets only/);
  });

  it('trace answers for IPv6 clients', () => {
    const e = withDests('route');
    expect(e.trace(key6(), CLIENT6, 40000, 0).reason).toMatch(/new connection/);
    send(e, buildTcp6Frame());
    expect(e.trace(key6(), CLIENT6, 40000, 0).reason).toMatch(/existing connection/);
  });

  it('the engine\'s own IPv6 output fed back in is never an error (eth6 round trip)', () => {
    const e = withDests('masq', 80, { rport: 8080 });
    const r = send(e, buildTcp6Frame());
    expect(send(e, eth6(r.pkt!)).verdict).toBe(VERDICT_IGNORE);
  });
});
