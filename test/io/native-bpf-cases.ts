// Frames and rules shared by the BPF unit test (judged by an interpreter) and
// the lab test (judged by the kernel): each case says whether the engine needs it.
import { buildFrame, buildTcpFrame, buildUdpFrame } from '../packet/build/frame.js';
import { buildGratuitousArp } from '../../src/packet/arp.js';
import { parseMac, ipToU32 } from '../../src/packet/addr.js';
import type { FilterRules } from '../../src/io/bpf.js';
import { buildIcmp6Frame, buildTcp6Frame, buildUdp6Frame } from '../packet/build/ipv6.js';

export const VIP = '10.77.0.100';
export const VIP2 = '10.77.0.101';
export const RIP = '10.77.0.50';
export const CLIENT = '10.77.0.1';
export const OTHER = '10.77.0.9';
export const DIP = '10.77.0.2';
export const VIP6 = '2001:db8:77::100';
export const RIP6 = '2001:db8:77::50';
export const CLIENT6 = '2001:db8:77::1';
export const OTHER6 = '2001:db8:77::9';

export const RULES: FilterRules = {
  services: [
    { protocol: 'tcp', addr: VIP, port: 80 },
    { protocol: 'udp', addr: VIP, port: 53 },
    { protocol: 'tcp', addr: VIP2, port: 0 }, // port-0 persistent service: every TCP port
    { protocol: 'tcp', addr: VIP6, port: 80 },
    { protocol: 'udp', addr: VIP6, port: 53 },
  ],
  realServers: [{ protocol: 'tcp', addr: RIP, port: 8080 }, { protocol: 'tcp', addr: RIP6, port: 8080 }],
  icmpAddrs: [DIP],
};

export interface Case {
  name: string;
  frame: Uint8Array;
  accept: boolean;
}

/** `dstMac` so the frames can really be sent to a peer. */
export function cases(dstMac = '02:00:00:00:00:02', srcMac = '02:00:00:00:00:01'): Case[] {
  const m = { dstMac, srcMac };
  const icmpEcho = (src: string, dst: string) => buildFrame({ ...m, ip: { src, dst }, icmp: { type: 8, code: 0, id: 0x1234, seq: 1 }, payload: 'ping' });
  return [
    { name: 'tcp to VIP:80', frame: buildTcpFrame({ ...m, src: CLIENT, dst: VIP, dstPort: 80 }), accept: true },
    { name: 'tcp to VIP:81 (no service)', frame: buildTcpFrame({ ...m, src: CLIENT, dst: VIP, dstPort: 81 }), accept: false },
    { name: 'udp to VIP:53', frame: buildUdpFrame({ ...m, src: CLIENT, dst: VIP, dstPort: 53 }), accept: true },
    { name: 'udp to VIP:80 (tcp-only service)', frame: buildUdpFrame({ ...m, src: CLIENT, dst: VIP, dstPort: 80 }), accept: false },
    { name: 'tcp to VIP2:12345 (port 0 service)', frame: buildTcpFrame({ ...m, src: CLIENT, dst: VIP2, dstPort: 12345 }), accept: true },
    { name: 'udp to VIP2:12345 (port 0 is tcp only)', frame: buildUdpFrame({ ...m, src: CLIENT, dst: VIP2, dstPort: 12345 }), accept: false },
    { name: 'tcp to OTHER:80', frame: buildTcpFrame({ ...m, src: CLIENT, dst: OTHER, dstPort: 80 }), accept: false },
    { name: 'tcp from RIP:8080 (NAT reply)', frame: buildTcpFrame({ ...m, src: RIP, srcPort: 8080, dst: CLIENT, dstPort: 40000, flags: 'SA' }), accept: true },
    { name: 'tcp from RIP:22', frame: buildTcpFrame({ ...m, src: RIP, srcPort: 22, dst: CLIENT, dstPort: 40000 }), accept: false },
    { name: 'udp from RIP:8080 (tcp-only RS)', frame: buildUdpFrame({ ...m, src: RIP, srcPort: 8080, dst: CLIENT, dstPort: 40000 }), accept: false },
    { name: 'tcp with IP options to VIP:80', frame: buildTcpFrame({ ...m, src: CLIENT, dst: VIP, dstPort: 80, ipOptions: Uint8Array.of(1, 1, 1, 1, 1, 1, 1, 0) }), accept: true },
    { name: 'tcp with IP options to VIP:81', frame: buildTcpFrame({ ...m, src: CLIENT, dst: VIP, dstPort: 81, ipOptions: Uint8Array.of(1, 1, 1, 1, 1, 1, 1, 0) }), accept: false },
    { name: 'vlan-tagged tcp to VIP:80', frame: buildTcpFrame({ ...m, vlan: 42, src: CLIENT, dst: VIP, dstPort: 80 }), accept: true },
    { name: 'vlan-tagged tcp to VIP:81', frame: buildTcpFrame({ ...m, vlan: 42, src: CLIENT, dst: VIP, dstPort: 81 }), accept: false },
    { name: 'icmp to VIP', frame: icmpEcho(CLIENT, VIP), accept: true },
    { name: 'icmp from RIP', frame: icmpEcho(RIP, CLIENT), accept: true },
    { name: 'icmp to DIP (icmpAddrs)', frame: icmpEcho(OTHER, DIP), accept: true },
    { name: 'icmp unrelated', frame: icmpEcho(CLIENT, OTHER), accept: false },
    { name: 'non-first fragment to VIP', frame: buildFrame({ ...m, ip: { src: CLIENT, dst: VIP, protocol: 6, fragOffset: 100, df: false }, payload: new Uint8Array(40) }), accept: true },
    { name: 'non-first fragment to OTHER', frame: buildFrame({ ...m, ip: { src: CLIENT, dst: OTHER, protocol: 6, fragOffset: 100, df: false }, payload: new Uint8Array(40) }), accept: false },
    { name: 'first fragment to VIP:80', frame: buildTcpFrame({ ...m, src: CLIENT, dst: VIP, dstPort: 80, df: false }), accept: true },
    { name: 'arp', frame: withMacs(buildGratuitousArp(parseMac(srcMac), ipToU32(VIP)), dstMac), accept: false },
    { name: 'vrrp to 224.0.0.18', frame: buildFrame({ ...m, ip: { src: CLIENT, dst: '224.0.0.18', protocol: 112, ttl: 255 }, payload: new Uint8Array(20) }), accept: false },
    { name: 'ipv6 to ::', frame: ipv6Like(dstMac, srcMac), accept: false },
    { name: 'tcp6 to VIP6:80', frame: buildTcp6Frame({ ...m, src: CLIENT6, dst: VIP6, dstPort: 80 }), accept: true },
    { name: 'tcp6 to VIP6:81 (no service)', frame: buildTcp6Frame({ ...m, src: CLIENT6, dst: VIP6, dstPort: 81 }), accept: false },
    { name: 'udp6 to VIP6:53', frame: buildUdp6Frame({ ...m, src: CLIENT6, dst: VIP6, dstPort: 53 }), accept: true },
    { name: 'udp6 to VIP6:80 (tcp-only service)', frame: buildUdp6Frame({ ...m, src: CLIENT6, dst: VIP6, dstPort: 80 }), accept: false },
    { name: 'tcp6 to OTHER6:80', frame: buildTcp6Frame({ ...m, src: CLIENT6, dst: OTHER6, dstPort: 80 }), accept: false },
    { name: 'tcp6 to a VIP6 that differs in the last word', frame: buildTcp6Frame({ ...m, src: CLIENT6, dst: '2001:db8:77::101', dstPort: 80 }), accept: false },
    { name: 'tcp6 from RIP6:8080 (NAT reply)', frame: buildTcp6Frame({ ...m, src: RIP6, srcPort: 8080, dst: CLIENT6, dstPort: 40000, flags: 'SA' }), accept: true },
    { name: 'tcp6 from RIP6:22', frame: buildTcp6Frame({ ...m, src: RIP6, srcPort: 22, dst: CLIENT6, dstPort: 40000 }), accept: false },
    { name: 'tcp6 behind a Hop-by-Hop header to VIP6:81 (whole: BPF cannot walk extension headers)', frame: buildTcp6Frame({ ...m, src: CLIENT6, dst: VIP6, dstPort: 81, ext: [{ type: 0 }] }), accept: true },
    { name: 'tcp6 behind a Hop-by-Hop header to OTHER6', frame: buildTcp6Frame({ ...m, src: CLIENT6, dst: OTHER6, dstPort: 80, ext: [{ type: 0 }] }), accept: false },
    { name: 'vlan-tagged tcp6 to VIP6:80', frame: vlanTag(buildTcp6Frame({ ...m, src: CLIENT6, dst: VIP6, dstPort: 80 }), 42), accept: true },
    { name: 'vlan-tagged tcp6 to VIP6:81', frame: vlanTag(buildTcp6Frame({ ...m, src: CLIENT6, dst: VIP6, dstPort: 81 }), 42), accept: false },
    { name: 'icmpv6 echo to VIP6', frame: buildIcmp6Frame({ ...m, src: CLIENT6, dst: VIP6, type: 128, payload: 'ping' }), accept: true },
    { name: 'icmpv6 error from RIP6', frame: buildIcmp6Frame({ ...m, src: RIP6, dst: CLIENT6, type: 1, code: 4, payload: new Uint8Array(48) }), accept: true },
    { name: 'neighbour solicitation for VIP6 (solicited-node multicast)', frame: buildIcmp6Frame({ ...m, src: CLIENT6, dst: 'ff02::1:ff00:100', type: 135, payload: new Uint8Array(20) }), accept: false },
    { name: 'fragment to VIP6', frame: buildTcp6Frame({ ...m, src: CLIENT6, dst: VIP6, dstPort: 80, ext: [{ type: 44, fragOffset: 10 }] }), accept: true },
  ];
}

function withMacs(frame: Uint8Array, dstMac: string): Uint8Array {
  frame.set(parseMac(dstMac), 0);
  return frame;
}

/** One 802.1Q tag inserted after the MACs. */
function vlanTag(frame: Uint8Array, id: number): Uint8Array {
  const f = new Uint8Array(frame.length + 4);
  f.set(frame.subarray(0, 12), 0);
  f[12] = 0x81; f[13] = 0x00; f[14] = id >> 8; f[15] = id & 0xff;
  f.set(frame.subarray(12), 16);
  return f;
}

function ipv6Like(dstMac: string, srcMac: string): Uint8Array {
  const f = new Uint8Array(74);
  f.set(parseMac(dstMac), 0);
  f.set(parseMac(srcMac), 6);
  f[12] = 0x86; f[13] = 0xdd; f[14] = 0x60;
  return f;
}
