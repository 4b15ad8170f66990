// The wire side of VRRP: one raw IPPROTO_VRRP socket per interface and
// family (joined to 224.0.0.18 / ff02::12 when any instance there is
// multicast), adverts built by the packet codecs and sent with the instance's
// own source address so the v3 pseudo-header checksum matches what the kernel
// puts on the wire. keepalived has the kernel compute and check the IPv6
// checksum (IPV6_CHECKSUM); we compute it from the same source and
// destination, and check it on receive so a bad one is counted, not lost.
//
// IPv6 adverts go out with hop limit 255 and traffic class 0xc0, as
// keepalived's; a unicast one too (keepalived leaves that to the kernel's 64,
// which RFC 5798 §5.1.2.3 does not: a keepalived peer checks it only against
// a min_ttl/max_ttl it was given).
import { execFileSync } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { openRawIp, type RawIpSocket } from '../io/native.js';
import { buildVrrp, VRRP_TCLASS6, type VrrpFields } from '../packet/vrrp.js';
import { IPPROTO_VRRP } from '../packet/ipv4.js';
import { openRawIp6, type RawIp6Socket } from '../io/native.js';
import type { Rx6Meta } from './validate.js';

export type PacketHandler = (pkt: Uint8Array, from: string, ifindex: number) => void;
export type Packet6Handler = (payload: Uint8Array, meta: Rx6Meta) => void;

export class VrrpSocket {
  private readonly sock: RawIpSocket;
  readonly ifname: string;
  constructor(ifname: string, multicastGroup: string | undefined, onPacket: PacketHandler) {
    this.ifname = ifname;
    this.sock = openRawIp(IPPROTO_VRRP, {
      ifname,
      multicast: multicastGroup ? [multicastGroup] : [],
      ttl: 255,
      bindToDevice: true,
      multicastLoop: false,
    });
    this.sock.onMessage((pkt, from, ifindex) => onPacket(pkt, from, ifindex));
  }

  /** Sends one advert; returns bytes sent or -errno (ENETDOWN etc. while a link is down). */
  send(fields: VrrpFields, src: string, dst: string, v3ChecksumAsV2: boolean): number {
    const payload = buildVrrp(fields, src, dst, { v3ChecksumAsV2 });
    return this.sock.send(dst, payload, { src });
  }

  close(): void {
    this.sock.close();
  }
}

/** VRRPv3 over IPv6 on one interface. */
export class VrrpSocket6 {
  private readonly sock: RawIp6Socket;
  readonly ifname: string;
  constructor(ifname: string, multicastGroup: string | undefined, onPacket: Packet6Handler) {
    this.ifname = ifname;
    this.sock = openRawIp6(IPPROTO_VRRP, {
      ifname,
      multicast: multicastGroup ? [multicastGroup] : [],
      hopLimit: 255,
      trafficClass: VRRP_TCLASS6,
      bindToDevice: true,
      multicastLoop: false,
    });
    this.sock.onMessage((payload, from, _ifindex, hopLimit, dst) => onPacket(payload, { from, dst, hopLimit }));
  }

  /** Sends one advert (fields.family 6); bytes sent or -errno (EADDRNOTAVAIL while the link-local address is tentative). */
  send(fields: VrrpFields, src: string, dst: string): number {
    return this.sock.send(dst, buildVrrp(fields, src, dst), { src });
  }

  close(): void {
    this.sock.close();
  }
}

/**
 * The interface's link-local IPv6 address, keepalived's source for IPv6
 * adverts (it takes the first one the kernel reports). getifaddrs first;
 * it skips interfaces that are not up, so those ask ip(8).
 */
export function linkLocalIpv6(ifname: string): string | undefined {
  const ll = networkInterfaces()[ifname]?.find((a) => a.family === 'IPv6' && /^fe[89ab]/i.test(a.address));
  if (ll) return ll.address.split('%')[0];
  try {
    const out = execFileSync('ip', ['-j', '-6', 'addr', 'show', 'dev', ifname, 'scope', 'link'], { encoding: 'utf8' });
    const j = JSON.parse(out) as { addr_info?: { family: string; local: string }[] }[];
    return (j[0]?.addr_info ?? []).find((a) => a.family === 'inet6')?.local;
  } catch {
    return undefined;
  }
}

/** The interface's primary IPv4 address (the first one that is not secondary), as keepalived picks its source. */
export function primaryIpv4(ifname: string): string | undefined {
  // getifaddrs (no process to spawn, ~10 ms less on the way to the VIP): the
  // kernel lists an interface's primary addresses before its secondaries. It
  // skips interfaces that are not up and running, so those ask ip(8).
  const v4 = networkInterfaces()[ifname]?.find((a) => a.family === 'IPv4');
  if (v4) return v4.address;
  try {
    const out = execFileSync('ip', ['-j', '-4', 'addr', 'show', 'dev', ifname], { encoding: 'utf8' });
    const j = JSON.parse(out) as { addr_info?: { family: string; local: string; secondary?: boolean }[] }[];
    const ai = (j[0]?.addr_info ?? []).filter((a) => a.family === 'inet');
    return (ai.find((a) => !a.secondary) ?? ai[0])?.local;
  } catch {
    return undefined;
  }
}
