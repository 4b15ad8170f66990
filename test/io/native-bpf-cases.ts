// Frames and rules shared by the BPF unit test (judged by an interpreter) and
// the lab test (judged by the kernel): each case says whether the engine needs it.
import { buildFrame, buildTcpFrame, buildUdpFrame } from '../packet/build/frame.js';
import { buildGratuitousArp } from '../../src/packet/arp.js';
import { parseMac, ipToU32 } from '../../src/packet/addr.js';
import type { FilterRules } from '../../src/io/bpf.js';

export const VIP = '10.77.0.100';
export const VIP2 = '10.77.0.101';
export const RIP = '10.77.0.50';
export const CLIENT = '10.77.0.1';
export const OTHER = '10.77.0.9';
export const DIP = '10.77.0.2';

export const RULES: FilterRules = {
  services: [
    { protocol: 'tcp', addr: VIP, port: 80 },
    { protocol: 'udp', addr: VIP, port: 53 },
    { protocol: 'tcp', addr: VIP2, port: 0 }, // port-0 persistent service: every TCP port
  ],
  realServers: [{ protocol: 'tcp', addr: RIP, port: 8080 }],
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
    { name: 'ipv6 ethertype', frame: ipv6Like(dstMac, srcMac), accept: false },
  ];
}

function withMacs(frame: Uint8Array, dstMac: string): Uint8Array {
  frame.set(parseMac(dstMac), 0);
  return frame;
}

function ipv6Like(dstMac: string, srcMac: string): Uint8Array {
  const f = new Uint8Array(74);
  f.set(parseMac(dstMac), 0);
  f.set(parseMac(srcMac), 6);
  f[12] = 0x86; f[13] = 0xdd; f[14] = 0x60;
  return f;
}
