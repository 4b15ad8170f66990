// static_ipaddress / static_routes / static_rules on the host: added at
// lvs-keepalived start, changed by difference on reload, removed at stop, and
// only what the daemon added is removed. The namespace test runs the real
// `ip` in a network namespace of its own (lvco-…), removed afterwards.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { KeepalivedDaemon } from '../../src/keepalived/daemon.js';
import { StaticConfig, routeItem, ruleItem, runIp, staticItems, type IpRunner } from '../../src/vrrp/static.js';
import { VipSet, VipStateFile } from '../../src/vrrp/vip.js';
import { recordingLog, TmpDir } from '../keepalived/helpers.js';

const CONF = `static_ipaddress {
    10.77.0.1/24 dev eth0 label eth0:st
}
static_routes {
    10.78.0.0/24 via 10.77.0.254 dev eth0 no_track
    10.79.0.0/24 dev eth0 table 100 add
}
static_rules {
    from 10.77.0.0/24 table 100 priority 1000
}
`;

describe('static items', () => {
  it('spells each line for ip(8): routes prepended unless add/append, keepalived-only words dropped', () => {
    const { model } = parseConfigText(CONF, 'k.conf');
    expect(staticItems(model).map((i) => [i.add.join(' '), i.del.join(' ')])).toEqual([
      ['addr add 10.77.0.1/24 dev eth0 label eth0:st', 'addr del 10.77.0.1/24 dev eth0 label eth0:st'],
      ['route prepend 10.78.0.0/24 via 10.77.0.254 dev eth0', 'route del 10.78.0.0/24 via 10.77.0.254 dev eth0'],
      ['route add 10.79.0.0/24 dev eth0 table 100', 'route del 10.79.0.0/24 dev eth0 table 100'],
      ['rule add from 10.77.0.0/24 table 100 priority 1000', 'rule del from 10.77.0.0/24 table 100 priority 1000'],
    ]);
  });

  it('removes only what it added (an address already there stays), in reverse order; a reload adds and removes the difference', async () => {
    const calls: string[] = [];
    const ip: IpRunner = async (a) => {
      calls.push(a.join(' '));
      return a.join(' ').startsWith('addr add') ? { code: 2, stderr: 'RTNETLINK answers: File exists' } : { code: 0, stderr: '' };
    };
    const log = recordingLog();
    const s = new StaticConfig(log, ip);
    const items = staticItems(parseConfigText(CONF, 'k.conf').model);
    await s.apply(items);
    expect(s.held.map((i) => i.kind)).toEqual(['route', 'route', 'rule']);
    expect(log.text()).toMatch(/static address already present, left as the host's/);
    calls.length = 0;
    await s.apply(items.filter((i) => i.kind !== 'rule'));
    expect(calls).toEqual(['rule del from 10.77.0.0/24 table 100 priority 1000']);
    calls.length = 0;
    await s.removeAll();
    expect(calls).toEqual(['route del 10.79.0.0/24 dev eth0 table 100', 'route del 10.78.0.0/24 via 10.77.0.254 dev eth0']);
  });
});

describe('virtual_routes and virtual_rules', () => {
  const VCONF = `vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.168.150.100/24 dev eth0
    }
    virtual_routes {
        10.92.0.0/24 dev eth0 src 192.168.150.100
        default via 192.168.150.254 dev eth0 table 91 append
    }
    virtual_rules {
        from 192.168.150.100 table 91 priority 900
    }
}
`;

  it('are parsed with the static lines\' grammar, errors named file:line:col', () => {
    const { model, diagnostics } = parseConfigText(VCONF, 'k.conf');
    const vi = model.vrrp_instances[0]!;
    expect(vi.virtual_routes.map((r) => r.args)).toEqual([['10.92.0.0/24', 'dev', 'eth0', 'src', '192.168.150.100'], ['default', 'via', '192.168.150.254', 'dev', 'eth0', 'table', '91', 'append']]);
    expect(vi.virtual_rules.map((r) => r.args)).toEqual([['from', '192.168.150.100', 'table', '91', 'priority', '900']]);
    expect([...vi.virtual_routes.map(routeItem), ...vi.virtual_rules.map(ruleItem)].map((i) => i.add.join(' '))).toEqual([
      'route prepend 10.92.0.0/24 dev eth0 src 192.168.150.100', 'route append default via 192.168.150.254 dev eth0 table 91', 'rule add from 192.168.150.100 table 91 priority 900',
    ]);
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const bad = parseConfigText(VCONF.replace('10.92.0.0/24 dev', '10.92.0.0/24 bogus 1 dev'), 'k.conf');
    expect(bad.diagnostics.find((d) => d.severity === 'error')).toMatchObject({ file: 'k.conf', line: 9, col: 22, message: 'unknown route keyword bogus' });
  });

  it('go on after the addresses and off before them (rules first), only what was added; a kill leaves a record the next start removes', async () => {
    const tmp = new TmpDir();
    try {
      const calls: string[] = [];
      const ip: IpRunner = async (a) => {
        calls.push(a.join(' '));
        return a.join(' ').startsWith('route append default') ? { code: 2, stderr: 'RTNETLINK answers: File exists' } : { code: 0, stderr: '' };
      };
      const vi = parseConfigText(VCONF, 'k.conf').model.vrrp_instances[0]!;
      const items = [...vi.virtual_routes.map(routeItem), ...vi.virtual_rules.map(ruleItem)];
      // No addresses, so no `ip -batch` runs on this host: only the route runner is called.
      const set = new VipSet([], new VipStateFile(tmp.dir, 'VI_1'), items, ip);
      expect((await set.add()).code).toBe(0);
      expect(calls).toEqual(items.map((i) => i.add.join(' ')));
      expect(set.routesHeld.map((i) => i.kind)).toEqual(['route', 'rule']); // the default route was the host's
      calls.length = 0;
      await set.del();
      expect(calls).toEqual(['rule del from 192.168.150.100 table 91 priority 900', 'route del 10.92.0.0/24 dev eth0 src 192.168.150.100']);
      // A daemon killed while MASTER: its successor removes what the state file recorded, rules first.
      await set.add();
      calls.length = 0;
      const next = new VipSet([], new VipStateFile(tmp.dir, 'VI_1'), items, ip);
      await next.removeStale();
      expect(calls).toEqual(['rule del from 192.168.150.100 table 91 priority 900', 'route del 10.92.0.0/24 dev eth0 src 192.168.150.100']);
      calls.length = 0;
      await new VipSet([], new VipStateFile(tmp.dir, 'VI_1'), items, ip).removeStale();
      expect(calls).toEqual([]);
    } finally {
      tmp.remove();
    }
  });
});

const isRoot = process.getuid?.() === 0;
describe('static items in a network namespace', () => {
  if (!isRoot && process.env.CI === 'true') {
    it('has root', () => { throw new Error('the namespace test needs root (ip netns add)'); });
    return;
  }
  const ns = `lvco-${randomBytes(3).toString('hex')}`;
  const ipIn = (...a: string[]) => spawnSync('ip', ['-n', ns, ...a], { encoding: 'utf8' });
  const tmp = new TmpDir();
  beforeAll(() => {
    if (!isRoot) return;
    for (const a of [['netns', 'add', ns], ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1'],
      ['-n', ns, 'link', 'set', 'eth0', 'up'], ['-n', ns, 'link', 'set', 'eth1', 'up'], ['-n', ns, 'addr', 'add', '10.77.0.2/24', 'dev', 'eth0']]) {
      const r = spawnSync('ip', a, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ip ${a.join(' ')}: ${r.stderr}`);
    }
  });
  afterAll(() => {
    if (isRoot) spawnSync('ip', ['netns', 'del', ns]);
    tmp.remove();
  });

  it.skipIf(!isRoot)('lvs-keepalived adds them at start, follows a reload, removes them at stop, and keeps what was there before', async () => {
    const addrs = () => ipIn('-4', '-o', 'addr', 'show', 'dev', 'eth0').stdout;
    const routes = () => ipIn('-4', 'route', 'show', 'table', 'all').stdout;
    const rules = () => ipIn('-4', 'rule', 'show').stdout;
    const report = `${tmp.dir}/reload-check.log`;
    const conf = `global_defs {\n    reload_check_config ${report}\n}\n${CONF}`;
    const file = tmp.write('keepalived.conf', conf);
    const log = recordingLog();
    const inNs: IpRunner = (a) => runIp(['-n', ns, ...a]);
    const d = new KeepalivedDaemon({ configFile: file, socket: '/nonexistent', vrrpOnly: true, checkOnly: false, dontReleaseIpvs: false, dontReleaseVrrp: false, logDetail: false },
      log, { checkHost: false, ip: inNs });
    await d.start();
    expect(addrs()).toMatch(/inet 10\.77\.0\.1\/24 .*eth0:st/);
    expect(routes()).toMatch(/^10\.78\.0\.0\/24 via 10\.77\.0\.254 dev eth0/m);
    expect(routes()).toMatch(/^10\.79\.0\.0\/24 dev eth0 table 100/m);
    expect(rules()).toMatch(/^1000:\s+from 10\.77\.0\.0\/24 lookup 100/m);

    // Reload: one route goes, one comes; the rest is untouched.
    tmp.write('keepalived.conf', conf.replace('10.78.0.0/24 via 10.77.0.254 dev eth0 no_track', '10.80.0.0/24 via 10.77.0.254 dev eth0 no_track'));
    expect(await d.reload()).toBe(true);
    expect(routes()).not.toMatch(/10\.78\.0\.0/);
    expect(routes()).toMatch(/^10\.80\.0\.0\/24 via 10\.77\.0\.254 dev eth0/m);
    // A reload with errors changes nothing.
    tmp.write('keepalived.conf', conf.replace('10.79.0.0/24', '10.79.0.0/99'));
    expect(await d.reload()).toBe(false);
    // reload_check_config LOG_FILE: the refused file's report, with file:line:col.
    expect(readFileSync(report, 'utf8')).toMatch(/keepalived\.conf:\d+:\d+: error: Invalid address prefix len for address 10\.79\.0\.0\/99/);
    expect(routes()).toMatch(/^10\.79\.0\.0\/24 dev eth0 table 100/m);

    await d.stop();
    expect(addrs()).not.toMatch(/10\.77\.0\.1\//);
    expect(addrs()).toMatch(/10\.77\.0\.2\/24/); // the host's own address stays
    expect(routes()).not.toMatch(/10\.(78|79|80)\.0\.0/);
    expect(rules()).not.toMatch(/lookup 100/);
    expect(log.lines.filter((l) => l.level === 'error' && !/new configuration has errors|10\.79\.0\.0\/99/.test(`${l.msg}`))).toEqual([]);
  });
  it.skipIf(!isRoot)('IPv6 static addresses, routes and rules: added with ip -6 at start, removed at stop', async () => {
    const addrs = () => ipIn('-6', '-o', 'addr', 'show', 'dev', 'eth0').stdout;
    const routes = () => ipIn('-6', 'route', 'show', 'table', 'all').stdout;
    const rules = () => ipIn('-6', 'rule', 'show').stdout;
    const file = tmp.write('keepalived6.conf', `static_ipaddress {
    2001:db8:5::1/64 dev eth0
}
static_routes {
    2001:db8:7::/64 via 2001:db8:5::2 dev eth0 no_track
    default inet6 via 2001:db8:5::2 dev eth0 table 106 no_track
}
static_rules {
    from 2001:db8:5::/64 table 106 priority 1006
    from all fwmark 6 table 106 priority 1007 inet6
}
`);
    const log = recordingLog();
    const inNs: IpRunner = (a) => runIp(['-n', ns, ...a]);
    const d = new KeepalivedDaemon({ configFile: file, socket: '/nonexistent', vrrpOnly: true, checkOnly: false, dontReleaseIpvs: false, dontReleaseVrrp: false, logDetail: false },
      log, { checkHost: false, ip: inNs });
    await d.start();
    expect(addrs()).toMatch(/inet6 2001:db8:5::1\/64 /);
    expect(routes()).toMatch(/^2001:db8:7::\/64 via 2001:db8:5::2 dev eth0/m);
    expect(routes()).toMatch(/^default via 2001:db8:5::2 dev eth0 table 106/m);
    expect(rules()).toMatch(/^1006:\s+from 2001:db8:5::\/64 lookup 106/m);
    expect(rules()).toMatch(/^1007:\s+from all fwmark 0x6 lookup 106/m);
    expect(ipIn('-4', 'rule', 'show').stdout).not.toMatch(/lookup 106/); // the inet6 rule is not an IPv4 one
    await d.stop();
    expect(addrs()).not.toMatch(/2001:db8:5::1/);
    expect(routes()).not.toMatch(/2001:db8:7::|table 106/);
    expect(rules()).not.toMatch(/lookup 106/);
    expect(log.lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});
