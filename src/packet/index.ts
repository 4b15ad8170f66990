// One import for integrators: import { buildTcpFrame, PacketView } from '../packet/index.js'.
export * from './checksum.js';
export * from './addr.js';
export * from './result.js';
export * from './input.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './tcp.js';
export * from './udp.js';
export * from './icmp.js';
export * from './ipip.js';
export * from './vrrp.js';
export * from './pcap.js';
export * from './frame.js';
export * from './rewrite.js';
export * from './view.js';
