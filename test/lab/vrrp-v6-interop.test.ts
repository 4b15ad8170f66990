// VRRPv3 over IPv6 against Debian's keepalived 2.2.7 on the wire (issue 16):
// both roles, kill -9 and preemption, multicast to ff02::12 and unicast;
// tshark judging the adverts and unsolicited neighbour advertisements we
// send; a client's neighbour cache following the VIP from one director's MAC
// to the other's; bad IPv6 input counted and ignored. Plus the raw IPv6
// socket of the addon itself (payload, source, destination, hop limit).
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Lab, waitFor, missingPrerequisites } from '../../lab/netns.js';
import {
  V6, addrEvents, buildLan6, holdsVip, pairConf, scratch, startDaemon, waitDaemonReady, type Daemon, type Host6,
} from '../../lab/vrrp-testbed.js';
import { releaseSendSockets, withNetns } from '../../src/io/native.js';
import { openRawIp6 } from '../../src/io/native.js';
import { buildVrrp } from '../../src/packet/vrrp.js';

const missing = await missingPrerequisites(['ip', 'keepalived', 'tshark', 'node']);
if (missing.length && process.env.CI === 'true') throw new Error(`VRRP IPv6 lab prerequisites missing: ${missing.join(', ')}`);
const built = spawnSync('test', ['-f', join(process.cwd(), 'dist/lab/lvs-vrrp.js')]).status === 0;
if (!built && process.env.CI === 'true') throw new Error('dist/lab/lvs-vrrp.js missing: run npx tsc -p tsconfig.json first');
const skip = missing.length > 0 || !built;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const VIP = V6.vip;
const VIPS = { vip: `${V6.llVip}/64`, moreVips: [`${VIP}/64`] };

interface Seen { [field: string]: string }

/** tshark's reading of every frame in a capture, the named fields per frame (checksum validation on). */
function tsharkFields(pcap: string, filter: string, fields: string[]): Seen[] {
  const r = spawnSync('tshark', ['-r', pcap, '-n', '-o', 'ip.check_checksum:TRUE', '-Y', filter, '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,',
    ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => Object.fromEntries(l.split('|').map((v, i) => [fields[i]!, v])));
}

describe.skipIf(skip)('VRRPv3 over IPv6 with keepalived 2.2.7', () => {
  let lab: Lab;
  let hosts: Map<string, Host6>;
  const daemons: Daemon[] = [];
  const h = (n: string) => hosts.get(n)!;

  beforeAll(async () => {
    lab = new Lab('v6i');
    hosts = await buildLan6(lab, [{ name: 'dir', n: 0x11 }, { name: 'dir2', n: 0x14 }, { name: 'client', n: 0x01 }]);
  }, 60_000);
  afterAll(async () => {
    for (const d of daemons) d.kill9();
    releaseSendSockets();
    await lab?.destroy();
  }, 60_000);

  async function stopAll(): Promise<void> {
    for (const d of daemons.splice(0)) { d.kill9(); await Promise.race([d.proc.exited, sleep(2000)]); }
    // keepalived's SIGKILL leaves its VIPs (issue #2361): the next scenario starts from a quiet LAN.
    for (const host of ['dir', 'dir2']) {
      for (const v of [`${VIP}/64`, `${V6.llVip}/64`]) await lab.exec(host, ['ip', 'addr', 'del', v, 'dev', 'eth0'], { check: false });
    }
    await sleep(300);
  }
  afterEach(stopAll, 30_000);

  /** tshark on `host` for `seconds`; resolves once it says it is capturing (a fixed sleep missed bursts on a loaded host). */
  async function capture(host: string, seconds: number, name: string): Promise<{ file: string; done: Promise<unknown> }> {
    const file = join(scratch(lab), `${name}.pcap`);
    const p = lab.spawn(host, ['tshark', '-q', '-i', 'eth0', '-f', 'ip6 proto 112 or (icmp6 and ip6[40] == 136)', '-a', `duration:${seconds}`, '-w', file]);
    await waitFor(() => p.output().includes('Capturing on'), 15_000, 20, 'tshark to start capturing');
    await sleep(200); // dumpcap prints its banner a moment before the capture is live
    return { file, done: p.exited };
  }

  /** The MAC the client's neighbour cache has for the VIP (after it has spoken to it once). */
  async function clientSeesVipAt(): Promise<string | undefined> {
    const r = await lab.exec('client', ['ip', '-j', '-6', 'neigh', 'show', 'dev', 'eth0', 'to', VIP], { check: false });
    const j = r.stdout.trim() ? JSON.parse(r.stdout) as { lladdr?: string; state?: string[] }[] : [];
    return j[0]?.lladdr;
  }

  it('the addon\'s raw IPv6 socket: ff02::12 membership, payload with source, destination and hop limit; IPv6 advert goes out with hop limit 255', async () => {
    const got: { from: string; dst: string; hops: number; len: number }[] = [];
    const rx = withNetns(lab.ns('dir2'), () => openRawIp6(112, { ifname: 'eth0', multicast: ['ff02::12'], bindToDevice: true }));
    rx.onMessage((p, from, _i, hops, dst) => got.push({ from, dst, hops, len: p.length }));
    const tx = withNetns(lab.ns('client'), () => openRawIp6(112, { ifname: 'eth0', hopLimit: 255, trafficClass: 0xc0 }));
    const adv = buildVrrp({ version: 3, family: 6, vrid: 99, priority: 1, addrs: ['2001:db8::1'] }, h('client').ll, 'ff02::12');
    expect(tx.send('ff02::12', adv, { src: h('client').ll })).toBe(adv.length);
    // A unicast one to dir2's global address: delivered too (the socket is not bound to the group), hop limit as set.
    expect(tx.send(h('dir2').addr, adv, { src: h('client').addr })).toBe(adv.length);
    await waitFor(() => got.length >= 2, 2000, 10, 'two packets on the raw IPv6 socket');
    rx.close(); tx.close();
    expect(got).toEqual([
      { from: h('client').ll, dst: 'ff02::12', hops: 255, len: adv.length },
      { from: h('client').addr, dst: h('dir2').addr, hops: 255, len: adv.length },
    ]);
  });

  it('ours MASTER, keepalived BACKUP: tshark judges our adverts and NAs; kill -9 → watchdog drops the VIPs and resigns, keepalived takes over, the client follows; restart → we preempt', async () => {
    const common = { version: 3 as const, advertInt: 0.1, ...VIPS };
    const monA = lab.spawn('dir', ['ip', '-ts', '-o', 'monitor', 'address']);
    const monB = lab.spawn('dir2', ['ip', '-ts', '-o', 'monitor', 'address']);
    const cap = await capture('client', 4, 'v6-ours-master');
    const ours = startDaemon(lab, 'dir', 'ours', pairConf({ ...common, state: 'MASTER', priority: 100 }, 'ours'));
    daemons.push(ours);
    await waitFor(() => holdsVip(lab, 'dir', VIP), 5000, 20, 'ours to hold the VIP').catch((e) => { throw new Error(`${e}\n${ours.proc.output()}`); });
    const ka = startDaemon(lab, 'dir2', 'keepalived', pairConf({ ...common, state: 'BACKUP', priority: 50 }, 'keepalived'));
    daemons.push(ka);
    await waitDaemonReady(ka);
    // The client talks to the VIP: its neighbour cache learns dir's MAC.
    await lab.exec('client', ['ping', '-6', '-c', '1', '-W', '1', VIP]);
    expect(await clientSeesVipAt()).toBe(h('dir').mac);
    await cap.done;
    expect(await holdsVip(lab, 'dir2', VIP)).toBe(false);
    expect(await holdsVip(lab, 'dir', V6.llVip)).toBe(true);
    expect(ka.proc.output()).not.toMatch(/invalid|mismatch|wrong|checksum|Entering MASTER/i);

    // tshark: our adverts are VRRPv3 over IPv6 from dir's link-local address to ff02::12, hop limit 255, good checksum, our two VIPs.
    const adverts = tsharkFields(cap.file, `vrrp && ipv6.src == ${h('dir').ll}`,
      ['vrrp.version', 'vrrp.prio', 'vrrp.virt_rtr_id', 'vrrp.checksum.status', 'vrrp.ipv6_addr', 'ipv6.hlim', 'ipv6.dst', 'ipv6.tclass', '_ws.expert']);
    expect(adverts.length).toBeGreaterThanOrEqual(5);
    for (const a of adverts) {
      expect(a).toEqual({
        'vrrp.version': '3', 'vrrp.prio': '100', 'vrrp.virt_rtr_id': '51', 'vrrp.checksum.status': '1', 'vrrp.ipv6_addr': `${V6.llVip},${VIP}`,
        'ipv6.hlim': '255', 'ipv6.dst': 'ff02::12', 'ipv6.tclass': '0x000000c0', '_ws.expert': '',
      });
    }
    // Our unsolicited NAs: one per VIP at the takeover, then the rest of garp_master_repeat (5 each) — from dir's MAC, override set.
    // (dir's kernel answers the client's neighbour solicitation with a solicited NA of its own, to the client: not ours.)
    const nas = tsharkFields(cap.file, `icmpv6.type == 136 && eth.src == ${h('dir').mac} && ipv6.dst == ff02::1`,
      ['icmpv6.nd.na.target_address', 'icmpv6.nd.na.flag.o', 'icmpv6.nd.na.flag.s', 'icmpv6.nd.na.flag.r', 'icmpv6.opt.linkaddr', 'icmpv6.checksum.status', 'ipv6.hlim', 'ipv6.src', 'ipv6.dst', 'eth.dst']);
    for (const target of [V6.llVip, VIP]) {
      const mine = nas.filter((n) => n['icmpv6.nd.na.target_address'] === target);
      expect(mine.length, `NAs for ${target}`).toBe(5);
      for (const n of mine) {
        expect(n).toEqual({
          'icmpv6.nd.na.target_address': target, 'icmpv6.nd.na.flag.o': '1', 'icmpv6.nd.na.flag.s': '0', 'icmpv6.nd.na.flag.r': '0',
          'icmpv6.opt.linkaddr': h('dir').mac, 'icmpv6.checksum.status': '1', 'ipv6.hlim': '255', 'ipv6.src': target, 'ipv6.dst': 'ff02::1', 'eth.dst': '33:33:00:00:00:01',
        });
      }
    }

    const tKill = Date.now();
    ours.kill9();
    await waitFor(() => holdsVip(lab, 'dir2', VIP), 5000, 10, 'keepalived to take over');
    const took = Date.now() - tKill;
    await waitFor(() => addrEvents(monA.output(), 'dir', VIP).some((e) => e.kind === 'del' && e.t >= tKill - 5), 2000, 10, 'VIP deletion event');
    const gone = addrEvents(monA.output(), 'dir', VIP).find((e) => e.kind === 'del' && e.t >= tKill - 5)!.t - tKill;
    // The watchdog removed the IPv6 VIPs at once and sent the priority-0 advert over IPv6, so keepalived waited Skew_Time only.
    expect(gone).toBeLessThan(50);
    expect(ka.proc.output()).toContain('Backup received priority 0 advertisement');
    expect(took).toBeLessThan(300); // skew 206/256 × 0.1 s = 80 ms, not the 380 ms Master_Down_Interval
    expect(await holdsVip(lab, 'dir', VIP)).toBe(false);
    expect(await holdsVip(lab, 'dir', V6.llVip)).toBe(false);
    // keepalived's NAs (override) move the client's entry to dir2's MAC without waiting for NUD.
    await waitFor(async () => (await clientSeesVipAt()) === h('dir2').mac, 2000, 20, 'the client to follow the VIP to dir2');

    const ours2 = startDaemon(lab, 'dir', 'ours', pairConf({ ...common, state: 'MASTER', priority: 100 }, 'ours'));
    daemons.push(ours2);
    await waitFor(async () => (await holdsVip(lab, 'dir', VIP)) && !(await holdsVip(lab, 'dir2', VIP)), 8000, 20, 'preemption back to ours');
    // Our NAs move the client back.
    await waitFor(async () => (await clientSeesVipAt()) === h('dir').mac, 2000, 20, 'the client to follow the VIP back to dir');
    await sleep(300);
    const ev = [...addrEvents(monA.output(), 'dir', VIP), ...addrEvents(monB.output(), 'dir2', VIP)].sort((a, b) => a.t - b.t);
    console.log(`v6: VIP gone ${gone} ms after kill -9 (watchdog), keepalived took over after ${took} ms; events ${JSON.stringify(ev.map((e) => `${e.host} ${e.kind} +${e.t - tKill}`))}`);
  }, 60_000);

  it('keepalived MASTER, ours BACKUP: we stay quiet while it speaks; kill -9 keepalived → we take over and announce; it comes back → it preempts', async () => {
    const common = { version: 3 as const, advertInt: 0.1, ...VIPS };
    const ka = startDaemon(lab, 'dir', 'keepalived', pairConf({ ...common, state: 'MASTER', priority: 100 }, 'keepalived'));
    const ours = startDaemon(lab, 'dir2', 'ours', pairConf({ ...common, state: 'BACKUP', priority: 50 }, 'ours'));
    daemons.push(ka, ours);
    await waitDaemonReady(ours);
    await waitFor(() => holdsVip(lab, 'dir', VIP), 5000, 20, 'keepalived to hold the VIP');
    await lab.exec('client', ['ping', '-6', '-c', '1', '-W', '1', VIP]);
    expect(await clientSeesVipAt()).toBe(h('dir').mac);
    await sleep(1000);
    expect(await holdsVip(lab, 'dir2', VIP)).toBe(false);
    expect(ours.proc.output()).not.toContain('ignored VRRP packet');
    expect(ours.proc.output()).not.toContain('Entering MASTER');

    const tKill = Date.now();
    ka.kill9();
    await waitFor(() => holdsVip(lab, 'dir2', VIP), 3000, 5, 'ours to take over');
    const took = Date.now() - tKill;
    // Master_Down_Interval = 3 × 0.1 + (256-50)/256 × 0.1 = 0.380 s (plus polling).
    expect(took).toBeGreaterThan(300);
    expect(took).toBeLessThan(1000);
    // Our NAs (override) repoint the client although keepalived's SIGKILL left its VIP on dir (issue #2361).
    await waitFor(async () => (await clientSeesVipAt()) === h('dir2').mac, 2000, 20, 'the client to follow the VIP to dir2');

    const ka2 = startDaemon(lab, 'dir', 'keepalived', pairConf({ ...common, state: 'MASTER', priority: 100 }, 'keepalived'));
    daemons.push(ka2);
    await waitFor(async () => (await holdsVip(lab, 'dir', VIP)) && !(await holdsVip(lab, 'dir2', VIP)), 5000, 20, 'keepalived to preempt');
    expect(ours.proc.output()).toMatch(/"from":"MASTER","to":"BACKUP"/);
    expect(ours.proc.output()).not.toContain('ignored VRRP packet');
  }, 60_000);

  it('unicast over IPv6 (global addresses): ours MASTER → keepalived BACKUP; SIGTERM ours → keepalived takes over after Skew_Time', async () => {
    const u = (src: string, peer: string) => ({ version: 3 as const, advertInt: 0.1, vip: `${VIP}/64`, unicast: { src, peer } });
    const ours = startDaemon(lab, 'dir', 'ours', pairConf({ ...u(h('dir').addr, h('dir2').addr), state: 'MASTER', priority: 100 }, 'ours'));
    daemons.push(ours);
    await waitFor(() => holdsVip(lab, 'dir', VIP), 5000, 20, 'ours to hold the VIP').catch((e) => { throw new Error(`${e}\n${ours.proc.output()}`); });
    const cap = await capture('dir2', 2, 'v6-unicast');
    await sleep(500);
    const ka = startDaemon(lab, 'dir2', 'keepalived', pairConf({ ...u(h('dir2').addr, h('dir').addr), state: 'BACKUP', priority: 50 }, 'keepalived'));
    daemons.push(ka);
    await cap.done;
    expect(await holdsVip(lab, 'dir2', VIP)).toBe(false);
    expect(ka.proc.output(), ka.proc.output()).not.toMatch(/Entering MASTER|checksum|invalid/i);
    const adverts = tsharkFields(cap.file, `vrrp && ipv6.src == ${h('dir').addr}`, ['vrrp.version', 'vrrp.checksum.status', 'ipv6.dst', 'ipv6.hlim', 'vrrp.ipv6_addr']);
    expect(adverts.length).toBeGreaterThanOrEqual(5);
    for (const a of adverts) expect(a).toEqual({ 'vrrp.version': '3', 'vrrp.checksum.status': '1', 'ipv6.dst': h('dir2').addr, 'ipv6.hlim': '255', 'vrrp.ipv6_addr': VIP });
    const t0 = Date.now();
    ours.term();
    await waitFor(() => holdsVip(lab, 'dir2', VIP), 3000, 5, 'keepalived to take over');
    expect(ka.proc.output()).toContain('Backup received priority 0 advertisement');
    expect(Date.now() - t0).toBeLessThan(300);
    expect(await holdsVip(lab, 'dir', VIP)).toBe(false);
  }, 60_000);

  it('one IPv4 and one IPv6 instance with the same VRID on one interface, against keepalived doing the same: each elects on its own', async () => {
    // IPv4 addresses for the IPv4 instance; the IPv6 ones are already there.
    await lab.exec('dir', ['ip', 'addr', 'add', '192.168.66.11/24', 'dev', 'eth0'], { check: false });
    await lab.exec('dir2', ['ip', 'addr', 'add', '192.168.66.14/24', 'dev', 'eth0'], { check: false });
    const both = (state: 'MASTER' | 'BACKUP', p4: number, p6: number, impl: 'ours' | 'keepalived') =>
      pairConf({ version: 3, advertInt: 0.1, state, priority: p4, vip: '192.168.66.100/24' }, impl)
      + pairConf({ version: 3, advertInt: 0.1, state, priority: p6, ...VIPS }, impl).replace(/global_defs \{[^}]*\}\n/, '').replace('vrrp_instance VI_1', 'vrrp_instance VI_6');
    // ours wins the IPv4 election, keepalived the IPv6 one.
    const ours = startDaemon(lab, 'dir', 'ours', both('BACKUP', 200, 50, 'ours'));
    const ka = startDaemon(lab, 'dir2', 'keepalived', both('BACKUP', 100, 150, 'keepalived'));
    daemons.push(ours, ka);
    await waitFor(async () => (await holdsVip(lab, 'dir', '192.168.66.100')) && (await holdsVip(lab, 'dir2', VIP)), 6000, 20, 'split ownership: IPv4 on dir, IPv6 on dir2');
    await sleep(1000);
    expect(await holdsVip(lab, 'dir', VIP)).toBe(false);
    expect(await holdsVip(lab, 'dir2', '192.168.66.100')).toBe(false);
    expect(ours.proc.output()).not.toContain('ignored VRRP packet');
    expect(ka.proc.output()).not.toMatch(/invalid|mismatch|wrong/i);
    for (const host of ['dir', 'dir2']) await lab.exec(host, ['ip', 'addr', 'del', '192.168.66.100/24', 'dev', 'eth0'], { check: false });
  }, 60_000);

  it('bad IPv6 input is counted by reason and ignored: a master stays master', async () => {
    const ours = startDaemon(lab, 'dir', 'ours', pairConf({ version: 3, advertInt: 0.1, state: 'MASTER', priority: 100, ...VIPS }, 'ours'));
    daemons.push(ours);
    await waitFor(() => holdsVip(lab, 'dir', VIP), 5000, 20, 'ours to hold the VIP');
    const src = h('client').ll;
    const good = { version: 3 as const, family: 6 as const, vrid: 51, priority: 200, addrs: [V6.llVip, VIP], maxAdverInt: 10 };
    withNetns(lab.ns('client'), () => {
      const s = openRawIp6(112, { ifname: 'eth0', hopLimit: 255 });
      const hop64 = openRawIp6(112, { ifname: 'eth0', hopLimit: 64 });
      const d = 'ff02::12';
      hop64.send(d, buildVrrp(good, src, d), { src });
      s.send(d, buildVrrp({ ...good, checksum: 0xdead }, src, d), { src });
      s.send(d, buildVrrp({ ...good, vrid: 77 }, src, d), { src });
      s.send(d, buildVrrp({ ...good, addrs: [V6.llVip, '2001:db8:66::999'] }, src, d), { src });
      s.send(d, buildVrrp({ ...good, addrs: [V6.llVip] }, src, d), { src });
      s.send(d, buildVrrp(good, src, d).subarray(0, 5), { src });
      s.send(h('dir').addr, buildVrrp(good, src, h('dir').addr), { src });
      s.close(); hop64.close();
    });
    await sleep(500);
    const out = ours.proc.output();
    for (const r of ['bad-ttl', 'bad-checksum', 'unknown-vrid', 'addr-list', 'addr-count', 'short', 'cast-mismatch']) expect(out).toContain(`"reason":"${r}"`);
    expect(await holdsVip(lab, 'dir', VIP)).toBe(true);
    expect(out.match(/"to":"BACKUP"/g)?.length).toBe(1); // only the init transition
  }, 30_000);
});
