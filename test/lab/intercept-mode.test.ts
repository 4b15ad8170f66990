// lvsd --intercept auto against a real /sys/class/net (io/intercept.ts): in
// a namespace with a bridge port, a macvlan's lower device, a VLAN's lower
// device and a plain veth, auto keeps packet taps exactly where an
// rx_handler would take frames before protocol handlers (bridge port,
// macvlan lower) and binds by protocol elsewhere (a VLAN upper only where
// the kernel has 8021q: this project's machines do not). lvsd started on the
// bridge port logs tap mode and drops its frames in the netdev chain; on
// a plain interface it marks them for another host, and opens its IPv6
// rings only with the first IPv6 rule.
import { describe, beforeAll, afterAll, it, expect } from 'vitest';
import { resolve } from 'node:path';
import { Lab, missingPrerequisites, waitFor } from '../../lab/netns.js';
import { startLvsd, removeLabSockets, type Lvsd } from '../../lab/director.js';

const INTERCEPT_JS = resolve('dist/src/io/intercept.js');

describe('lvsd --intercept auto on a real sysfs', async () => {
  const missing = await missingPrerequisites(['ip', 'nft', 'node']);
  if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);
  const skip = missing.length > 0;
  let lab: Lab | undefined;

  beforeAll(async () => {
    if (skip) return;
    lab = new Lab('icm');
    await lab.addNs('h');
    await lab.sh('h', [
      'ip link add br0 type bridge && ip link set br0 up',
      'ip link add port0 type veth peer name port0p && ip link set port0 master br0 && ip link set port0 up && ip link set port0p up',
      'ip link add low0 type veth peer name low0p && ip link add mv0 link low0 type macvlan mode bridge',
      'ip link add trunk0 type veth peer name trunk0p',
      'ip link add plain0 type veth peer name plain0p && ip link set plain0 up && ip link set plain0p up',
    ].join(' && '));
    // Kernels without 8021q (this project's machines) cannot make the VLAN: trunk0 is then a plain veth.
    hasVlan = (await lab.exec('h', ['ip', 'link', 'add', 'link', 'trunk0', 'name', 'trunk0.100', 'type', 'vlan', 'id', '100'], { check: false })).code === 0;
  });
  let hasVlan = false;

  afterAll(async () => {
    if (!lab) return;
    await lab.destroy();
    removeLabSockets(lab);
  });

  it.skipIf(skip)('auto picks tap on a bridge port and a macvlan lower device, protocol on a plain veth (and a VLAN trunk where 8021q exists)', async () => {
    const mode = async (ifs: string[]) => {
      const js = `import(${JSON.stringify(INTERCEPT_JS)}).then((m) => console.log(JSON.stringify(m.interceptModeFor(${JSON.stringify(ifs)}))))`;
      return JSON.parse((await lab!.exec('h', ['node', '-e', js])).stdout) as { mode: string; reason?: string };
    };
    expect(await mode(['port0'])).toEqual({ mode: 'tap', reason: 'port0 has a master device' });
    expect(await mode(['plain0', 'low0'])).toEqual({ mode: 'tap', reason: 'low0 has the upper device mv0' });
    expect(await mode(['trunk0'])).toEqual({ mode: 'protocol' });
    if (hasVlan) expect((await lab!.exec('h', ['ls', '/sys/class/net/trunk0'])).stdout).toContain('upper_trunk0.100');
    expect(await mode(['plain0', 'br0'])).toEqual({ mode: 'protocol' });
  });

  it.skipIf(skip)('lvsd on a bridge port starts with taps (its chain drops), on a plain veth with protocol-bound rings (its chain marks; IPv6 rings from the first IPv6 rule)', async () => {
    for (const [ifname, want, verdict] of [['port0', 'tap', 'drop'], ['plain0', 'protocol', 'meta pkttype set other accept']] as const) {
      let lvsd: Lvsd | undefined;
      try {
        lvsd = await startLvsd(lab!, 'h', { interfaces: [ifname], args: ['--workers', '1'] });
        await waitFor(() => lvsd!.proc.output().includes('lvsd started'), 5000, 50, 'the start line');
        expect(lvsd.proc.output()).toContain(`"intercept":"${want}"`);
        await lvsd.lvsadm(['-A', '-t', '192.0.2.10:80', '-s', 'rr']);
        await lvsd.lvsadm(['-a', '-t', '192.0.2.10:80', '-r', '192.0.2.20:80', '-g']);
        const table = /"table":"([^"]+)"/.exec(lvsd.proc.output())?.[1] ?? 'lvsd';
        const chain = (await lab!.exec('h', ['nft', 'list', 'table', 'netdev', table])).stdout;
        expect(chain).toContain(`ip daddr 192.0.2.10 tcp dport 80 ${verdict}`);
        // The packet sockets by bound protocol (/proc/net/packet's Proto column): taps are 0003. Protocol-bound
        // rings are one IPv4 pair per interface, and an IPv6 pair only from the first IPv6 rule on.
        const rings = async () => {
          const rows = (await lab!.exec('h', ['cat', '/proc/net/packet'])).stdout.trim().split('\n').slice(1).map((x) => x.trim().split(/\s+/)[3]);
          return { all: rows.filter((p) => p === '0003').length, v4: rows.filter((p) => p === '0800').length, v6: rows.filter((p) => p === '86DD' || p === '86dd').length };
        };
        expect(await rings()).toEqual(want === 'tap' ? { all: 2, v4: 0, v6: 0 } : { all: 0, v4: 2, v6: 0 });
        await lvsd.lvsadm(['-A', '-t', '[2001:db8::10]:80', '-s', 'rr']);
        expect(await rings()).toEqual(want === 'tap' ? { all: 2, v4: 0, v6: 0 } : { all: 0, v4: 2, v6: 2 });
        expect((await lab!.exec('h', ['nft', 'list', 'table', 'netdev', table])).stdout).toContain(`ip6 daddr 2001:db8::10 tcp dport 80 ${verdict}`);
      } finally {
        await lvsd?.stop();
      }
    }
  });
});
