// tshark judges every codec's output independently of our own decoders.
// What the engine itself sends is judged in test/ipvs/xmit-tshark.test.ts.
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePcap, decodeCapture } from './build/pcap.js';
import { findTshark, dissect, complaints, judge, type Expectation, type TsharkPacket } from './tshark.js';
import { buildFrame, buildTcpFrame, buildUdpFrame } from './build/frame.js';
import { ipToU32, parseMac } from '../../src/packet/addr.js';
import { buildArpFrame, buildGratuitousArp, ARPOP_REPLY, ARPOP_REQUEST } from '../../src/packet/arp.js';
import { buildIcmpEcho, buildIcmpErrorPacket, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, ICMP_PORT_UNREACH } from '../../src/packet/icmp.js';
import { encapsulateIpip } from './build/ipip.js';
import { buildIpv4, fragmentIpv4, routerAlertOption, recordRouteOption, IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_UDP } from '../../src/packet/ipv4.js';
import { buildUdp, udpChecksum } from './build/udp.js';
import { mssOption, sackPermOption, timestampOption, wscaleOption, nopOption, tcpOptionBytes } from './build/tcp.js';
import { buildVrrpFrame } from '../../src/packet/vrrp.js';
import { ETHERTYPE_IPV4, buildEthernet } from '../../src/packet/ethernet.js';

const tshark = findTshark();
const inCi = process.env.CI === 'true';
if (!tshark && !inCi) console.warn('test/packet/tshark.test.ts: skipped, tshark not installed (apt-get install tshark)');

const MAC_A = '02:00:00:00:00:0a';
const MAC_B = '02:00:00:00:00:0b';
const ipPacket = (frame: Uint8Array) => frame.subarray(14);
const ipFrame = (pkt: Uint8Array, vlan?: number) => buildEthernet({ dst: MAC_B, src: MAC_A, ethertype: ETHERTYPE_IPV4, vlan, payload: pkt });

interface Case extends Expectation {
  frame: Uint8Array;
  prefs?: Record<string, string>;
}

const tcpOpts = tcpOptionBytes(mssOption(1460), sackPermOption(), timestampOption(123456, 0), nopOption(), wscaleOption(7));
const offendingTcp = ipPacket(buildTcpFrame({ src: '192.0.2.7', dst: '10.0.0.100', srcPort: 51000, dstPort: 443, payload: 'z'.repeat(1400) }));
const offendingUdp = ipPacket(buildUdpFrame({ src: '192.0.2.8', dst: '198.51.100.9', srcPort: 33434, dstPort: 33435, ttl: 1, payload: 'probe' }));
const bigUdp = buildIpv4({
  src: '10.0.0.1', dst: '10.0.0.100', protocol: IPPROTO_UDP, id: 0x4242, ttl: 64,
  payload: buildUdp({ srcPort: 5000, dstPort: 5001, payload: new Uint8Array(3000).map((_, i) => i & 0xff) }, '10.0.0.1', '10.0.0.100'),
});
const frags = fragmentIpv4(bigUdp, 1500);

/** A datagram whose last payload word makes the one's-complement sum 0xffff. */
function zeroSumUdp(): Uint8Array {
  const payload = new Uint8Array(6).fill(0x11, 0, 4);
  const probe = buildUdp({ srcPort: 7000, dstPort: 7001, payload }, '10.0.0.1', '10.0.0.100');
  const c = udpChecksum(probe, 0, probe.length, ipToU32('10.0.0.1'), ipToU32('10.0.0.100'));
  payload[4] = c >>> 8;
  payload[5] = c & 0xff;
  return buildUdpFrame({ srcPort: 7000, dstPort: 7001, payload });
}

const cases: Case[] = [
  {
    name: 'TCP SYN with MSS/SACK/TS/WS options',
    frame: buildTcpFrame({ options: tcpOpts, seq: 1000 }),
    expect: { 'ip.src': '10.0.0.1', 'ip.dst': '10.0.0.100', 'tcp.srcport': '40000', 'tcp.dstport': '80', 'tcp.flags': '0x0002', 'tcp.hdr_len': '40', 'tcp.options.mss_val': '1460', 'tcp.options.wscale.shift': '7' },
    good: ['ip.checksum.status', 'tcp.checksum.status'],
  },
  {
    name: 'TCP PSH+ACK with payload',
    frame: buildTcpFrame({ flags: 'PA', seq: 0xfffffff0, ack: 77, payload: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', srcMac: MAC_A, dstMac: MAC_B }),
    expect: { 'tcp.flags': '0x0018', 'tcp.len': '27', 'tcp.seq_raw': String(0xfffffff0), 'tcp.ack_raw': '77', 'eth.src': MAC_A },
    good: ['ip.checksum.status', 'tcp.checksum.status'],
  },
  {
    name: 'UDP',
    frame: buildUdpFrame({ src: '10.1.2.3', dst: '10.0.0.100', srcPort: 1234, dstPort: 9000, payload: 'abc' }),
    expect: { 'ip.src': '10.1.2.3', 'udp.srcport': '1234', 'udp.dstport': '9000', 'udp.length': '11' },
    good: ['ip.checksum.status', 'udp.checksum.status'],
  },
  {
    name: 'UDP without checksum (0)',
    frame: buildUdpFrame({ checksum: false, dstPort: 9999, payload: 'x' }),
    expect: { 'udp.checksum': '0x0000', 'udp.dstport': '9999' },
    good: ['ip.checksum.status'],
  },
  {
    name: 'UDP whose checksum computes to zero (sent as 0xffff)',
    frame: zeroSumUdp(),
    expect: { 'udp.checksum': '0xffff' },
    good: ['ip.checksum.status', 'udp.checksum.status'],
  },
  {
    name: 'ICMP echo request',
    frame: buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.100', protocol: IPPROTO_ICMP }, payload: buildIcmpEcho({ id: 0x1234, seq: 7, payload: 'ping-data' }) }),
    expect: { 'icmp.type': '8', 'icmp.code': '0', 'icmp.ident': '4660', 'icmp.seq': '7' },
    good: ['ip.checksum.status', 'icmp.checksum.status'],
  },
  {
    name: 'ICMP echo reply (via buildFrame icmp)',
    frame: buildFrame({ ip: { src: '10.0.0.100', dst: '10.0.0.1' }, icmp: { type: 0, id: 0x1234, seq: 7 }, payload: 'ping-data' }),
    expect: { 'icmp.type': '0', 'icmp.seq': '7' },
    good: ['ip.checksum.status', 'icmp.checksum.status'],
  },
  {
    name: 'ICMP frag-needed quoting a TCP packet',
    frame: ipFrame(buildIcmpErrorPacket(offendingTcp, { src: '10.0.0.2', type: ICMP_DEST_UNREACH, code: ICMP_FRAG_NEEDED, mtu: 1480 })),
    expect: { 'icmp.type': '3', 'icmp.code': '4', 'icmp.mtu': '1480', 'ip.src': ['10.0.0.2', '192.0.2.7'], 'ip.dst': ['192.0.2.7', '10.0.0.100'], 'tcp.srcport': '51000', 'tcp.dstport': '443' },
    good: ['icmp.checksum.status'],
  },
  {
    name: 'ICMP time exceeded quoting a UDP probe',
    frame: ipFrame(buildIcmpErrorPacket(offendingUdp, { src: '10.9.9.9', type: ICMP_TIME_EXCEEDED, code: ICMP_EXC_TTL })),
    expect: { 'icmp.type': '11', 'icmp.code': '0', 'ip.dst': ['192.0.2.8', '198.51.100.9'], 'udp.dstport': '33435' },
    good: ['icmp.checksum.status'],
  },
  {
    name: 'ICMP port unreachable via buildFrame quote',
    frame: buildFrame({ ip: { src: '198.51.100.9', dst: '192.0.2.8' }, icmp: { type: ICMP_DEST_UNREACH, code: ICMP_PORT_UNREACH, quote: offendingUdp } }),
    expect: { 'icmp.type': '3', 'icmp.code': '3', 'udp.srcport': '33434' },
    good: ['ip.checksum.status', 'icmp.checksum.status'],
  },
  {
    name: 'ARP request',
    frame: buildArpFrame({ op: ARPOP_REQUEST, senderMac: MAC_A, senderIp: '10.0.0.1', targetIp: '10.0.0.2' }),
    expect: { 'arp.opcode': '1', 'arp.src.hw_mac': MAC_A, 'arp.src.proto_ipv4': '10.0.0.1', 'arp.dst.proto_ipv4': '10.0.0.2', 'eth.dst': 'ff:ff:ff:ff:ff:ff' },
    good: [],
  },
  {
    name: 'ARP reply',
    frame: buildArpFrame({ op: ARPOP_REPLY, senderMac: MAC_B, senderIp: '10.0.0.2', targetMac: MAC_A, targetIp: '10.0.0.1' }),
    expect: { 'arp.opcode': '2', 'arp.dst.hw_mac': MAC_A, 'eth.dst': MAC_A },
    good: [],
  },
  {
    name: 'gratuitous ARP for a VIP',
    frame: buildGratuitousArp(parseMac(MAC_A), ipToU32('10.0.0.100')),
    expect: { 'arp.opcode': '1', 'arp.isgratuitous': '1', 'arp.src.proto_ipv4': '10.0.0.100', 'arp.dst.proto_ipv4': '10.0.0.100', 'arp.dst.hw_mac': 'ff:ff:ff:ff:ff:ff' },
    good: [],
  },
  {
    name: 'IPIP tunnel (TUN mode) around a TCP SYN',
    frame: ipFrame(encapsulateIpip(ipPacket(buildTcpFrame({ ttl: 63 })), { src: '172.16.0.1', dst: '172.16.0.11' })),
    expect: { 'ip.proto': [String(IPPROTO_IPIP), '6'], 'ip.src': ['172.16.0.1', '10.0.0.1'], 'ip.dst': ['172.16.0.11', '10.0.0.100'], 'ip.ttl': ['63', '63'], 'ip.flags.df': ['1', '1'] },
    good: ['ip.checksum.status', 'tcp.checksum.status'],
  },
  {
    name: '802.1Q-tagged TCP',
    frame: buildTcpFrame({ vlan: { id: 100, pcp: 5 } }),
    expect: { 'vlan.id': '100', 'vlan.priority': '5', 'tcp.dstport': '80' },
    good: ['ip.checksum.status', 'tcp.checksum.status'],
  },
  {
    name: 'QinQ-tagged UDP',
    frame: buildUdpFrame({ vlan: [200, 300] }),
    expect: { 'ieee8021ad.id': '200', 'vlan.id': '300', 'eth.type': '0x88a8', 'udp.dstport': '53' },
    good: ['ip.checksum.status', 'udp.checksum.status'],
  },
  {
    name: 'IPv4 with options (router alert, record route)',
    frame: buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.100', options: tcpOptionBytes(routerAlertOption(), recordRouteOption(2)) }, udp: { srcPort: 7, dstPort: 7 }, payload: 'opt' }),
    expect: { 'ip.hdr_len': '36', 'ip.opt.type': ['148', '7', '0'], 'udp.dstport': '7' },
    good: ['ip.checksum.status', 'udp.checksum.status'],
  },
  ...frags.map((f, i): Case => ({
    name: `UDP fragment ${i + 1}/${frags.length}`,
    frame: ipFrame(f),
    expect: { 'ip.id': '0x4242', 'ip.flags.mf': i < frags.length - 1 ? '1' : '0', 'ip.frag_offset': String(i * 1480 / 8) },
    // tshark reassembles and checks the UDP checksum over all fragments on the last one.
    good: i === frags.length - 1 ? ['ip.checksum.status', 'udp.checksum.status'] : ['ip.checksum.status'],
  })),
  {
    name: 'VRRPv2 with auth PASS',
    frame: buildVrrpFrame({ version: 2, vrid: 51, priority: 150, adverInt: 3, addrs: ['10.0.0.100', '10.0.0.101'], authData: 'secret12' }, { src: '10.0.0.2' }),
    expect: { 'vrrp.version': '2', 'vrrp.virt_rtr_id': '51', 'vrrp.prio': '150', 'vrrp.adver_int': '3', 'vrrp.auth_type': '1', 'vrrp.auth_string': 'secret12', 'vrrp.ip_addr': ['10.0.0.100', '10.0.0.101'], 'ip.ttl': '255', 'ip.dst': '224.0.0.18', 'eth.src': '00:00:5e:00:01:33' },
    good: ['ip.checksum.status', 'vrrp.checksum.status'],
  },
  {
    name: 'VRRPv3 multicast',
    frame: buildVrrpFrame({ version: 3, vrid: 52, priority: 254, maxAdverInt: 4095, addrs: ['10.0.0.100'] }, { src: '10.0.0.3', srcMac: MAC_A }),
    expect: { 'vrrp.version': '3', 'vrrp.virt_rtr_id': '52', 'vrrp.prio': '254', 'vrrp.short_adver_int': '4095', 'vrrp.ip_addr': '10.0.0.100', 'eth.src': MAC_A },
    good: ['ip.checksum.status', 'vrrp.checksum.status'],
  },
  {
    name: 'VRRPv3 unicast to a peer, VLAN-tagged',
    frame: buildVrrpFrame({ version: 3, vrid: 7, priority: 100, maxAdverInt: 50, addrs: ['10.0.0.100', '10.0.0.200', '10.0.0.201'] }, { src: '10.0.0.3', dst: '10.0.0.4', dstMac: MAC_B, vlan: 10 }),
    expect: { 'vrrp.prio': '100', 'vrrp.addr_count': '3', 'ip.dst': '10.0.0.4', 'vlan.id': '10' },
    good: ['ip.checksum.status', 'vrrp.checksum.status'],
  },
];


describe.skipIf(!tshark && !inCi)('tshark judges built frames', () => {
  let packets: TsharkPacket[] = [];
  beforeAll(() => {
    expect(tshark, 'tshark is required when CI=true (apt-get install tshark)').toBeDefined();
    packets = dissect(cases.map((c) => c.frame));
  });

  it.each(cases.map((c, i) => [c.name, i] as const))('%s', (_name, i) => {
    judge(cases[i]!, packets[i]!);
  });

  it('flags deliberately broken checksums (the judge can say no)', () => {
    const badTcp = buildTcpFrame({ checksum: 0x1234 });
    const badIp = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2', checksum: 0x4321 }, udp: { srcPort: 1, dstPort: 2 } });
    const badVrrp = buildVrrpFrame({ version: 3, vrid: 1, priority: 100, addrs: ['10.0.0.100'], checksum: 0xbeef }, { src: '10.0.0.3' });
    const badIcmp = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, icmp: { type: 8, id: 1, seq: 1, checksum: 0x0101 } });
    const got = dissect([badTcp, badIp, badVrrp, badIcmp]);
    for (const p of got) expect(complaints(p).length).toBeGreaterThan(0);
  });

  it('decodePcap/decodePcapng read what editcap rewrites (ns pcap, pcapng at µs and ns)', () => {
    const editcap = tshark!.replace(/tshark$/, 'editcap');
    if (!existsSync(editcap)) return expect(inCi, 'editcap missing while CI=true').toBe(false);
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-pcap-'));
    const convert = (from: string, to: string, format: string) => {
      const r = spawnSync(editcap, ['-F', format, join(dir, from), join(dir, to)], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const back = decodeCapture(new Uint8Array(readFileSync(join(dir, to))));
      if (!back.ok) throw new Error(`${to}: ${back.reason}`);
      return back.value;
    };
    try {
      const frames = cases.slice(0, 5).map((c) => c.frame);
      writeFileSync(join(dir, 'a.pcap'), encodePcap(frames, { startTime: 1_700_000_123.25 }));
      const hex = frames.map((f) => Buffer.from(f).toString('hex'));
      for (const [from, to, format] of [['a.pcap', 'ns.pcap', 'nsecpcap'], ['a.pcap', 'us.pcapng', 'pcapng'], ['ns.pcap', 'ns.pcapng', 'pcapng']]) {
        const got = convert(from!, to!, format!);
        expect(got.linktype, to).toBe(1);
        expect(got.records.map((x) => Buffer.from(x.data).toString('hex')), to).toEqual(hex);
        expect(got.records[1]!.ts, to).toBeCloseTo(1_700_000_123.251, 6);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('VRRPv3 checksum-as-v2 is accepted only with the matching tshark preference', () => {
    const f = buildVrrpFrame({ version: 3, vrid: 9, priority: 100, addrs: ['10.0.0.100'] }, { src: '10.0.0.3', v3ChecksumAsV2: true });
    const [asV2] = dissect([f], { 'vrrp.v3_checksum_as_in_v2': 'TRUE' });
    expect(complaints(asV2!)).toEqual([]);
    expect(asV2!.get('vrrp.checksum.status')).toBe('1');
    const [asV3] = dissect([f]);
    expect(asV3!.get('vrrp.checksum.status')).toBe('0');
  });
});
