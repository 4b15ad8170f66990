// tshark judges what the engine sends for IPv6 services: NAT both ways (also
// behind extension headers), DR, TUN (IPv6 in IPv6, next header 41), the
// ICMPv6 errors it originates (Packet Too Big, port unreachable) and the
// ICMPv6 errors it translates for NAT flows, each wrapped in the Ethernet
// header the io layer puts in front of it. Our decoders play no part.
import { describe, it, expect, beforeAll } from 'vitest';
import { VERDICT_XMIT } from '../../src/ipvs/engine.js';
import { formatIpv6, parseIpv6 } from '../../src/packet/ipv6.js';
import type { ServiceKey } from '../../src/ipvs/types.js';
import { mssOption } from '../packet/build/tcp.js';
import { CLIENT6, VIP6, buildIcmp6Frame, buildTcp6Frame, buildUdp6Frame, eth6, l3Of } from '../packet/build/ipv6.js';
import { findTshark, dissect, complaints, judge, type Expectation, type TsharkPacket } from '../packet/tshark.js';
import { dest, engine, send, svc } from './helpers.js';

const tshark = findTshark();
const inCi = process.env.CI === 'true';

const RS_NAT = '2001:db8:1::11';
const RS_NAT_UDP = '2001:db8:1::12';
const RS_DR = '2001:db8::21';
const RS_TUN = '2001:db8:2::11';
const TUN_SRC = '2001:db8:2::1';
const ROUTER = '2001:db8:1::fe';

interface Case extends Expectation {
  frame: Uint8Array;
  nextHop: string;
  /** tshark preferences for this frame alone. */
  prefs?: Record<string, string>;
}

const k6 = (port: number, protocol: 'tcp' | 'udp' = 'tcp'): ServiceKey => ({ kind: 'addr', protocol, addr: VIP6, port });

function cases(): Case[] {
  const e = engine();
  e.addService(svc(k6(80)));
  e.addDest(k6(80), dest(RS_NAT, 8080, { fwd: 'masq' }));
  e.addService(svc(k6(7777, 'udp')));
  e.addDest(k6(7777, 'udp'), dest(RS_NAT_UDP, 9000, { fwd: 'masq' }));
  e.addService(svc(k6(81)));
  e.addDest(k6(81), dest(RS_DR, 81));
  e.addService(svc(k6(82)));
  e.addDest(k6(82), dest(RS_TUN, 82, { fwd: 'tunnel' }), { tunSource6: parseIpv6(TUN_SRC)! });
  e.addService(svc(k6(83)));
  e.setTunMtu(1400);
  e.tick(0);

  const out: Case[] = [];
  const run = (name: string, frame: Uint8Array, expectFields: Case['expect'], good: string[], prefs?: Record<string, string>) => {
    const r = send(e, frame);
    expect(r.verdict, name).toBe(VERDICT_XMIT);
    out.push({ name, frame: eth6(r.pkt!), nextHop: formatIpv6(r.out.nextHop6!), expect: expectFields, good, prefs });
  };

  run('NAT in: TCP SYN with MSS, DNAT to the real server, hop limit untouched', buildTcp6Frame({ options: mssOption(1400), dstPort: 80 }),
    { 'ipv6.src': CLIENT6, 'ipv6.dst': RS_NAT, 'tcp.srcport': '40000', 'tcp.dstport': '8080', 'ipv6.hlim': '64', 'tcp.options.mss_val': '1400' },
    ['tcp.checksum.status']);
  run('NAT out: the real server\'s SYN-ACK, SNAT to the VIP, one hop less',
    buildTcp6Frame({ src: RS_NAT, dst: CLIENT6, srcPort: 8080, dstPort: 40000, flags: 'SA', hopLimit: 64 }),
    { 'ipv6.src': VIP6, 'ipv6.dst': CLIENT6, 'tcp.srcport': '80', 'tcp.dstport': '40000', 'ipv6.hlim': '63' },
    ['tcp.checksum.status']);
  run('NAT in: UDP with payload', buildUdp6Frame({ dstPort: 7777, payload: 'data' }),
    { 'ipv6.dst': RS_NAT_UDP, 'udp.dstport': '9000', 'udp.length': '12' }, ['udp.checksum.status']);
  run('NAT in: TCP behind Hop-by-Hop and Destination Options headers',
    buildTcp6Frame({ srcPort: 40002, dstPort: 80, ext: [{ type: 0 }, { type: 60, len: 16 }], payload: 'ext' }),
    { 'ipv6.dst': RS_NAT, 'tcp.dstport': '8080', 'ipv6.nxt': '0' }, ['tcp.checksum.status']);
  run('DR: the packet unchanged, for the real server', buildTcp6Frame({ dstPort: 81, payload: 'hello' }),
    { 'ipv6.src': CLIENT6, 'ipv6.dst': VIP6, 'tcp.dstport': '81', 'ipv6.hlim': '64' }, ['tcp.checksum.status']);
  run('TUN: IPv6 in IPv6 from the tunnel source to the real server, hop limit and traffic class of the inner packet',
    buildTcp6Frame({ dstPort: 82, hopLimit: 61, trafficClass: 0x28 }),
    { 'ipv6.nxt': ['41', '6'], 'ipv6.src': [TUN_SRC, CLIENT6], 'ipv6.dst': [RS_TUN, VIP6], 'ipv6.hlim': ['61', '61'], 'ipv6.tclass': ['0x00000028', '0x00000028'], 'ipv6.flow': ['0x000000', '0x000000'] },
    ['tcp.checksum.status']);
  run('TUN: an oversize segment gets Packet Too Big from the VIP, MTU = tunnel MTU - 40',
    buildTcp6Frame({ dstPort: 82, flags: 'A', payload: 'z'.repeat(1400) }),
    { 'icmpv6.type': '2', 'icmpv6.code': '0', 'icmpv6.mtu': '1360', 'ipv6.src': [VIP6, CLIENT6], 'ipv6.dst': [CLIENT6, VIP6], 'ipv6.plen': ['1240', '1420'] },
    ['icmpv6.checksum.status'],
    // The quote can never hold the whole segment (a too-big packet exceeds 1280 bytes, the error may not), and tshark
    // checks the quoted TCP checksum over what is there: off for this frame; the ICMPv6 checksum is still checked.
    { 'tcp.check_checksum': 'FALSE' });
  run('no usable dest: port unreachable from the VIP', buildTcp6Frame({ dstPort: 83 }),
    { 'icmpv6.type': '1', 'icmpv6.code': '4', 'ipv6.src': [VIP6, CLIENT6], 'ipv6.dst': [CLIENT6, VIP6], 'tcp.dstport': '83' },
    ['icmpv6.checksum.status', 'tcp.checksum.status']);
  // ICMPv6 about the NAT flow [2001:db8::1]:40000 ↔ VIP:80 (RS [2001:db8:1::11]:8080).
  const reply = l3Of(buildTcp6Frame({ src: VIP6, dst: CLIENT6, srcPort: 80, dstPort: 40000, flags: 'A', payload: 'q'.repeat(60) }));
  run('NAT: the client\'s Packet Too Big about our reply, translated for the real server',
    buildIcmp6Frame({ src: CLIENT6, dst: VIP6, type: 2, info: 1300, quote: reply }),
    { 'ipv6.src': [CLIENT6, RS_NAT], 'ipv6.dst': [RS_NAT, CLIENT6], 'tcp.srcport': '8080', 'icmpv6.mtu': '1300' },
    ['icmpv6.checksum.status', 'tcp.checksum.status']);
  const toRs = l3Of(buildTcp6Frame({ src: CLIENT6, dst: RS_NAT, srcPort: 40000, dstPort: 8080, flags: 'A', payload: 'p'.repeat(60) }));
  run('NAT: a router\'s time exceeded about the client\'s DNATed segment, shown to the client as from the VIP',
    buildIcmp6Frame({ src: ROUTER, dst: CLIENT6, type: 3, quote: toRs, hopLimit: 64 }),
    { 'ipv6.src': [VIP6, CLIENT6], 'ipv6.dst': [CLIENT6, VIP6], 'tcp.dstport': '80', 'icmpv6.type': '3', 'ipv6.hlim': ['63', '64'] },
    ['icmpv6.checksum.status', 'tcp.checksum.status']);
  return out;
}

describe.skipIf(!tshark && !inCi)('tshark judges what IpvsEngine.input() sends for IPv6', () => {
  let cs: Case[] = [];
  let packets: TsharkPacket[] = [];
  beforeAll(() => {
    expect(tshark, 'tshark is required when CI=true (apt-get install tshark)').toBeDefined();
    cs = cases();
    packets = dissect(cs.map((c) => c.frame));
    cs.forEach((c, i) => { if (c.prefs) packets[i] = dissect([c.frame], c.prefs)[0]!; });
  });

  it('next hops: the real server for DR, NAT in, TUN; the client for replies and ICMPv6 the director sends', () => {
    expect(cs.map((c) => c.nextHop)).toEqual([RS_NAT, CLIENT6, RS_NAT_UDP, RS_NAT, RS_DR, RS_TUN, CLIENT6, CLIENT6, RS_NAT, CLIENT6]);
  });

  it('every frame decodes without a complaint, with the expected fields', () => {
    expect(packets.length).toBe(cs.length);
    for (let i = 0; i < cs.length; i++) judge(cs[i]!, packets[i]!);
  });

  it('the judge can say no: a NAT frame with one flipped byte in the TCP header, an ICMPv6 error with one in its quote', () => {
    const bad = cs[0]!.frame.slice();
    bad[14 + 40 + 4]! ^= 0x40;
    const badIcmp = cs[8]!.frame.slice();
    badIcmp[badIcmp.length - 1]! ^= 0x01;
    const [p, q] = dissect([bad, badIcmp]);
    expect(complaints(p!).length).toBeGreaterThan(0);
    expect(complaints(q!).length).toBeGreaterThan(0);
  });
});
