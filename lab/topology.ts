// The seed notes' topologies, built in namespaces. Addresses follow the notes
// (192.168.150.0/24, director .11, real servers .12/.13, backup director .14,
// VIP .100); the client sits at .1 where the notes' browser was.
import { Lab } from './netns.js';
import { RS_DIR } from './paths.js';
import { join } from 'node:path';

export const NET = '192.168.150';
export const VIP = `${NET}.100`;
/** IPv6 beside it (BuildOptions.ipv6): the same hosts, the same last numbers, in 2001:db8:150::/64 (and :160:: for NAT clients). */
export const NET6 = '2001:db8:150:';
export const VIP6 = `${NET6}:100`;

export interface RealServer { name: string; ip: string; ip6?: string }
export interface Topology {
  lab: Lab;
  method: 'dr' | 'nat' | 'tun';
  client: { name: string; ip: string; ip6?: string };
  directors: { name: string; ip: string; ifname: string; ip6?: string }[];
  rs: RealServer[];
  vip: string;
  /** The IPv6 VIP, when built with ipv6. */
  vip6?: string;
  port: number;
  /** NAT only: the director's address on the real servers' side (their gateway). */
  natGateway?: string;
  natGateway6?: string;
}

export interface BuildOptions {
  rsCount?: number;
  directors?: number;
  /** Put the VIP on the first director (single-director labs); HA labs let VRRP do it. */
  vipOnDirector?: boolean;
  /** Start the RS HTTP servers (and UDP echo on 5353). */
  servers?: boolean;
  /** DR/TUN: leave out the RS ARP tuning (the `arp` experiment). */
  skipArpTuning?: boolean;
  /**
   * Dual stack: IPv6 addresses beside the IPv4 ones (nodad: no duplicate
   * address detection delay), an IPv6 VIP, the real servers' IPv6 VIP on lo
   * (DR, TUN) or IPv6 default route (NAT), servers listening on both families.
   */
  ipv6?: boolean;
}

async function startServers(lab: Lab, rs: RealServer[], ipv6 = false): Promise<void> {
  for (const r of rs) {
    lab.spawn(r.name, ['node', join(RS_DIR, 'httpd.mjs'), r.name, '--port', '80', '--udp', '5353', ...(ipv6 ? ['--bind', '::'] : [])]);
  }
  for (const r of rs) {
    await waitListening(lab, r.name, 80);
  }
}

export async function waitListening(lab: Lab, host: string, port: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const { stdout } = await lab.exec(host, ['ss', '-Hltn', `sport = :${port}`], { check: false });
    if (stdout.trim()) return;
    if (Date.now() > end) throw new Error(`${host}: nothing listening on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One LAN (the notes' DR and TUN layouts): client, director(s), real servers on a switch. */
export async function buildLan(lab: Lab, method: 'dr' | 'tun', opts: BuildOptions = {}): Promise<Topology> {
  const rsCount = opts.rsCount ?? 2;
  const nDir = opts.directors ?? 1;
  await lab.addSwitch('sw');
  const v6 = opts.ipv6 ?? false;
  const client = { name: 'client', ip: `${NET}.1`, ...(v6 ? { ip6: `${NET6}:1` } : {}) };
  await lab.addNs('client');
  await lab.plug('client', 'eth0', 'sw', { addr: `${client.ip}/24` });
  if (v6) await addr6(lab, 'client', 'eth0', `${client.ip6}/64`);
  const directors = [];
  for (let i = 0; i < nDir; i++) {
    const last = i === 0 ? 11 : 14 + (i - 1);
    const d = { name: i === 0 ? 'dir' : `dir${i + 1}`, ip: `${NET}.${last}`, ifname: 'eth0', ...(v6 ? { ip6: `${NET6}:${last}` } : {}) };
    await lab.addNs(d.name);
    await lab.plug(d.name, 'eth0', 'sw', { addr: `${d.ip}/24` });
    if (v6) await addr6(lab, d.name, 'eth0', `${d.ip6}/64`);
    directors.push(d);
  }
  if (opts.vipOnDirector ?? nDir === 1) {
    await lab.exec(directors[0]!.name, ['ip', 'addr', 'add', `${VIP}/24`, 'dev', 'eth0', 'label', 'eth0:8']);
    if (v6) await addr6(lab, directors[0]!.name, 'eth0', `${VIP6}/64`);
  }
  const rs: RealServer[] = [];
  for (let i = 0; i < rsCount; i++) {
    const last = 12 + i + (i >= 2 ? 3 : 0);
    const r = { name: `rs${i + 1}`, ip: `${NET}.${last}`, ...(v6 ? { ip6: `${NET6}:${last}` } : {}) };
    await lab.addNs(r.name);
    await lab.plug(r.name, 'eth0', 'sw', { addr: `${r.ip}/24` });
    if (v6) await addr6(lab, r.name, 'eth0', `${r.ip6}/64`);
    if (!opts.skipArpTuning) await lab.exec(r.name, ['sh', join(RS_DIR, 'rs-arp.sh'), 'eth0']);
    // DR and TUN: the VIP on lo (hidden); IPv6 needs no ARP tuning: Linux answers neighbour
    // solicitations only for addresses of the interface they arrive on, never for lo's.
    await lab.exec(r.name, ['sh', join(RS_DIR, 'rs-vip.sh'), VIP]);
    if (v6) await lab.exec(r.name, ['sh', join(RS_DIR, 'rs-vip.sh'), VIP6]);
    // TUN: the decap helper feeding a TUN device (IPIP, and IPv6 in IPv6).
    if (method === 'tun') lab.spawn(r.name, ['sh', join(RS_DIR, 'rs-tun.sh'), VIP, 'userspace']);
    rs.push(r);
  }
  if (method === 'tun') {
    for (const r of rs) {
      const end = Date.now() + 10_000;
      while ((await lab.exec(r.name, ['ip', 'link', 'show', 'tun0'], { check: false })).code !== 0) {
        if (Date.now() > end) throw new Error(`${r.name}: ipip-decap did not bring up tun0`);
        await new Promise((res) => setTimeout(res, 50));
      }
    }
  }
  if (opts.servers ?? true) await startServers(lab, rs, v6);
  return { lab, method, client, directors, rs, vip: VIP, ...(v6 ? { vip6: VIP6 } : {}), port: 80 };
}

/** An IPv6 address without duplicate address detection: usable at once, as a lab needs. */
async function addr6(lab: Lab, host: string, dev: string, cidr: string): Promise<void> {
  await lab.exec(host, ['ip', '-6', 'addr', 'add', cidr, 'dev', dev, 'nodad']);
}

/**
 * The NAT layout: the client on a routed public subnet (192.168.160.0/24),
 * the director with two legs, the real servers on 192.168.150.0/24 with the
 * director as their default gateway.
 */
export async function buildNat(lab: Lab, opts: BuildOptions = {}): Promise<Topology> {
  const rsCount = opts.rsCount ?? 2;
  const nDir = opts.directors ?? 1;
  const PUB = '192.168.160';
  const PUB6 = '2001:db8:160:';
  const v6 = opts.ipv6 ?? false;
  await lab.addSwitch('pub');
  await lab.addSwitch('sw');
  const client = { name: 'client', ip: `${PUB}.1`, ...(v6 ? { ip6: `${PUB6}:1` } : {}) };
  await lab.addNs('client');
  await lab.plug('client', 'eth0', 'pub', { addr: `${client.ip}/24` });
  if (v6) await addr6(lab, 'client', 'eth0', `${client.ip6}/64`);
  const vip = `${PUB}.100`;
  const vip6 = `${PUB6}:100`;
  const gw = `${NET}.254`;
  const gw6 = `${NET6}:254`;
  const directors = [];
  for (let i = 0; i < nDir; i++) {
    const d = { name: i === 0 ? 'dir' : `dir${i + 1}`, ip: `${PUB}.${11 + i}`, ifname: 'eth0', ...(v6 ? { ip6: `${PUB6}:${11 + i}` } : {}) };
    await lab.addNs(d.name);
    await lab.plug(d.name, 'eth0', 'pub', { addr: `${d.ip}/24` });
    // The notes: director .11, backup director .14 (.12/.13 are the real servers).
    const last = i === 0 ? 11 : 13 + i;
    await lab.plug(d.name, 'eth1', 'sw', { addr: `${NET}.${last}/24` });
    if (v6) {
      await addr6(lab, d.name, 'eth0', `${d.ip6}/64`);
      await addr6(lab, d.name, 'eth1', `${NET6}:${last}/64`);
    }
    directors.push(d);
  }
  if (opts.vipOnDirector ?? nDir === 1) {
    await lab.exec(directors[0]!.name, ['ip', 'addr', 'add', `${vip}/24`, 'dev', 'eth0', 'label', 'eth0:8']);
    // The RS's gateway address moves with the director (a second VIP in HA labs).
    await lab.exec(directors[0]!.name, ['ip', 'addr', 'add', `${gw}/24`, 'dev', 'eth1']);
    if (v6) {
      await addr6(lab, directors[0]!.name, 'eth0', `${vip6}/64`);
      await addr6(lab, directors[0]!.name, 'eth1', `${gw6}/64`);
    }
  }
  const rs: RealServer[] = [];
  for (let i = 0; i < rsCount; i++) {
    const last = 12 + i + (i >= 2 ? 3 : 0);
    const r = { name: `rs${i + 1}`, ip: `${NET}.${last}`, ...(v6 ? { ip6: `${NET6}:${last}` } : {}) };
    await lab.addNs(r.name);
    await lab.plug(r.name, 'eth0', 'sw', { addr: `${r.ip}/24` });
    await lab.exec(r.name, ['ip', 'route', 'add', 'default', 'via', gw]);
    if (v6) {
      await addr6(lab, r.name, 'eth0', `${r.ip6}/64`);
      await lab.exec(r.name, ['ip', '-6', 'route', 'add', 'default', 'via', gw6]);
    }
    rs.push(r);
  }
  if (opts.servers ?? true) await startServers(lab, rs, v6);
  return {
    lab, method: 'nat', client, directors, rs, vip, port: 80, natGateway: gw,
    ...(v6 ? { vip6, natGateway6: gw6 } : {}),
  };
}
