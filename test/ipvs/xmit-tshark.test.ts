// tshark judges what the engine sends: every frame here is IpvsEngine.input()'s
// own output (NAT both ways, DR, TUN, the ICMP errors it originates and the
// ICMP errors it translates for NAT flows), wrapped in the Ethernet header
// the io layer puts in front of it. Our decoders play no part.
import { describe, it, expect, beforeAll } from 'vitest';
import { VERDICT_XMIT } from '../../src/ipvs/engine.js';
import { ipToU32 } from '../../src/packet/addr.js';
import { buildIcmpErrorPacket, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED } from '../../src/packet/icmp.js';
import { buildEthernet, ETHERTYPE_IPV4 } from '../../src/packet/ethernet.js';
import { mssOption } from '../packet/build/tcp.js';
import { findTshark, dissect, complaints, judge, type Expectation, type TsharkPacket } from '../packet/tshark.js';
import { CLIENT, VIP, dest, engine, send, svc, tcp, tcpKey, udp, udpKey } from './helpers.js';

const tshark = findTshark();
const inCi = process.env.CI === 'true';

const RS_NAT = '172.16.0.11';
const RS_NAT_UDP = '172.16.0.12';
const RS_DR = '10.0.0.21';
const RS_TUN = '172.16.1.11';
const TUN_SRC = '172.16.0.1';
const ROUTER = '172.16.0.254';

interface Case extends Expectation {
  frame: Uint8Array;
  nextHop: string;
}

const wrap = (pkt: Uint8Array) => buildEthernet({ dst: '02:00:00:00:00:0b', src: '02:00:00:00:00:0a', ethertype: ETHERTYPE_IPV4, payload: pkt });
const u32ToIp = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');

function cases(): Case[] {
  const e = engine();
  e.addService(svc(tcpKey(80)));
  e.addDest(tcpKey(80), dest(RS_NAT, 8080, { fwd: 'masq' }));
  e.addService(svc(udpKey(7777)));
  e.addDest(udpKey(7777), dest(RS_NAT_UDP, 9000, { fwd: 'masq' }));
  e.addService(svc(tcpKey(81)));
  e.addDest(tcpKey(81), dest(RS_DR, 81));
  e.addService(svc(tcpKey(82)));
  e.addDest(tcpKey(82), dest(RS_TUN, 82, { fwd: 'tunnel' }), { tunSource: ipToU32(TUN_SRC) });
  e.addService(svc(tcpKey(83)));
  // Small enough that the offending segment fits whole in the ICMP quote (576 bytes), so tshark can check it too.
  e.setTunMtu(500);
  e.tick(0);

  const out: Case[] = [];
  const run = (name: string, frame: Uint8Array, expectFields: Case['expect'], good: string[]) => {
    const r = send(e, frame);
    expect(r.verdict, name).toBe(VERDICT_XMIT);
    out.push({ name, frame: wrap(r.pkt!), nextHop: u32ToIp(r.nextHop!), expect: expectFields, good });
  };

  run('NAT in: TCP SYN with MSS, DNAT to the real server', tcp({ options: mssOption(1400), dstPort: 80 }),
    { 'ip.src': CLIENT, 'ip.dst': RS_NAT, 'tcp.srcport': '40000', 'tcp.dstport': '8080', 'ip.ttl': '64', 'tcp.options.mss_val': '1400' },
    ['ip.checksum.status', 'tcp.checksum.status']);
  run('NAT out: the real server\'s SYN-ACK, SNAT to the VIP, one hop less',
    tcp({ src: RS_NAT, dst: CLIENT, srcPort: 8080, dstPort: 40000, flags: 'SA', ttl: 64 }),
    { 'ip.src': VIP, 'ip.dst': CLIENT, 'tcp.srcport': '80', 'tcp.dstport': '40000', 'ip.ttl': '63' },
    ['ip.checksum.status', 'tcp.checksum.status']);
  run('NAT in: UDP with payload', udp({ dstPort: 7777, payload: 'data' }),
    { 'ip.dst': RS_NAT_UDP, 'udp.dstport': '9000', 'udp.length': '12' }, ['ip.checksum.status', 'udp.checksum.status']);
  run('NAT in: UDP without checksum stays without', udp({ dstPort: 7777, srcPort: 40001, payload: 'x', checksum: false }),
    { 'ip.dst': RS_NAT_UDP, 'udp.checksum': '0x0000' }, ['ip.checksum.status']);
  run('DR: the packet unchanged, for the real server', tcp({ dstPort: 81, payload: 'hello' }),
    { 'ip.src': CLIENT, 'ip.dst': VIP, 'tcp.dstport': '81', 'ip.ttl': '64' }, ['ip.checksum.status', 'tcp.checksum.status']);
  run('TUN: IPIP from the tunnel source to the real server, TTL/DF of the inner packet', tcp({ dstPort: 82, ttl: 61 }),
    { 'ip.proto': ['4', '6'], 'ip.src': [TUN_SRC, CLIENT], 'ip.dst': [RS_TUN, VIP], 'ip.ttl': ['61', '61'], 'ip.flags.df': ['1', '1'] },
    ['ip.checksum.status', 'tcp.checksum.status']);
  run('TUN: an oversize DF segment gets frag-needed from the VIP, MTU = tunnel MTU - 20',
    tcp({ dstPort: 82, flags: 'A', payload: 'z'.repeat(480) }),
    { 'icmp.type': '3', 'icmp.code': '4', 'icmp.mtu': '480', 'ip.src': [VIP, CLIENT], 'ip.dst': [CLIENT, VIP], 'tcp.dstport': '82' },
    ['ip.checksum.status', 'icmp.checksum.status']);
  run('no usable dest: port unreachable from the VIP', tcp({ dstPort: 83 }),
    { 'icmp.type': '3', 'icmp.code': '3', 'ip.src': [VIP, CLIENT], 'ip.dst': [CLIENT, VIP], 'tcp.dstport': '83' },
    ['ip.checksum.status', 'icmp.checksum.status']);
  // ICMP about the NAT flow 10.0.0.1:40000 ↔ VIP:80 (RS 172.16.0.11:8080).
  const rsReply = tcp({ src: VIP, dst: CLIENT, srcPort: 80, dstPort: 40000, flags: 'A', payload: 'q'.repeat(60) }).subarray(14);
  run('NAT: the client\'s frag-needed about our reply, translated for the real server',
    wrap(buildIcmpErrorPacket(rsReply, { src: CLIENT, type: ICMP_DEST_UNREACH, code: ICMP_FRAG_NEEDED, mtu: 1300 })),
    { 'ip.src': [CLIENT, RS_NAT], 'ip.dst': [RS_NAT, CLIENT], 'tcp.srcport': '8080', 'icmp.mtu': '1300' },
    ['ip.checksum.status', 'icmp.checksum.status']);
  const toRs = tcp({ src: CLIENT, dst: RS_NAT, srcPort: 40000, dstPort: 8080, flags: 'A', payload: 'p'.repeat(60) }).subarray(14);
  run('NAT: a router\'s frag-needed about the client\'s DNATed segment, shown to the client as from the VIP',
    wrap(buildIcmpErrorPacket(toRs, { src: ROUTER, type: ICMP_DEST_UNREACH, code: ICMP_FRAG_NEEDED, mtu: 1400, ttl: 64 })),
    { 'ip.src': [VIP, CLIENT], 'ip.dst': [CLIENT, VIP], 'tcp.dstport': '80', 'icmp.mtu': '1400', 'ip.ttl': ['63', '64'] },
    ['ip.checksum.status', 'icmp.checksum.status']);
  return out;
}


describe.skipIf(!tshark && !inCi)('tshark judges what IpvsEngine.input() sends', () => {
  let cs: Case[] = [];
  let packets: TsharkPacket[] = [];
  beforeAll(() => {
    expect(tshark, 'tshark is required when CI=true (apt-get install tshark)').toBeDefined();
    cs = cases();
    packets = dissect(cs.map((c) => c.frame));
  });

  it('next hops: the real server for DR, NAT in, TUN; the client for replies and ICMP the director sends', () => {
    expect(cs.map((c) => c.nextHop)).toEqual([RS_NAT, CLIENT, RS_NAT_UDP, RS_NAT_UDP, RS_DR, RS_TUN, CLIENT, CLIENT, RS_NAT, CLIENT]);
  });

  it('every frame decodes without a complaint, with the expected fields', () => {
    expect(packets.length).toBe(cs.length);
    for (let i = 0; i < cs.length; i++) judge(cs[i]!, packets[i]!);
  });

  it('the judge can say no: a NAT frame with one flipped byte in the TCP header is flagged', () => {
    const bad = cs[0]!.frame.slice();
    bad[14 + 20 + 4] ^= 0x40; // the sequence number: only the checksum notices
    const [p] = dissect([bad]);
    expect(complaints(p!).length).toBeGreaterThan(0);
  });
});
