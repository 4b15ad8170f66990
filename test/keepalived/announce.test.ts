import { describe, expect, it } from 'vitest';
import { Announcer, birdConfig, configureOk, decide, type BirdcResult, type VsHealth } from '../../src/keepalived/announce.js';
import { parseConfigText, parseYamlConfig, toKeepalivedConf } from '../../src/config/index.js';
import { stripPositions } from '../../src/config/yaml.js';
import type { LvsdAnnounce } from '../../src/config/model.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const cfg = (over: Partial<LvsdAnnounce> = {}): LvsdAnnounce => ({
  pos: { file: 'x', line: 1, col: 1 }, bird_socket: '/run/b.ctl', bird_include: '/tmp/inc.conf', protocol_name: 'lvsd_vips',
  birdc: 'birdc', check_interval: 1, prefix: [], withdraw_on_stop: true, ...over,
});
const web = (quorum: boolean, addr = '10.0.0.100'): VsHealth => ({ name: `${addr} 80`, addr, quorum });

describe('lvsd_announce decision', () => {
  it('announces the /32 of each address virtual_server while lvsd answers and it has quorum', () => {
    expect(decide(cfg(), [web(true)], true)).toEqual([{ prefix: '10.0.0.100/32', announce: true, reason: 'healthy' }]);
  });
  it('withdraws when lvsd does not answer, whatever the quorum', () => {
    expect(decide(cfg(), [web(true)], false)).toEqual([{ prefix: '10.0.0.100/32', announce: false, reason: 'lvsd not answering' }]);
  });
  it('withdraws a prefix when any of its virtual servers lost quorum', () => {
    const v = decide(cfg({ prefix: ['10.0.0.0/24'] }), [web(true), { name: '10.0.0.7 443', addr: '10.0.0.7', quorum: false }, web(false, '10.9.0.1')], true);
    expect(v).toEqual([{ prefix: '10.0.0.0/24', announce: false, reason: 'no quorum: 10.0.0.7 443' }]);
  });
  it('a configured prefix with no virtual server in it is not announced; fwmark services gate nothing', () => {
    expect(decide(cfg({ prefix: ['10.1.0.0/24'] }), [web(true), { name: 'fwmark 1', quorum: false }], true))
      .toEqual([{ prefix: '10.1.0.0/24', announce: false, reason: 'no virtual_server in the prefix' }]);
    expect(decide(cfg(), [{ name: 'fwmark 1', quorum: true }], true)).toEqual([]);
  });
  it('each /32 is judged on its own', () => {
    expect(decide(cfg(), [web(true), web(false, '10.0.0.101')], true).map((v) => v.announce)).toEqual([true, false]);
  });
});

describe('the generated BIRD include', () => {
  it('is one static protocol with a blackhole route per announced prefix', () => {
    expect(birdConfig(cfg(), ['10.0.0.100/32', '10.0.1.0/24'])).toBe(
      '# Written by lvs-keepalived (lvsd_announce); rewritten on every change, do not edit.\n'
      + '# Announced: 10.0.0.100/32 10.0.1.0/24\n'
      + 'protocol static lvsd_vips {\n  ipv4;\n  route 10.0.0.100/32 blackhole;\n  route 10.0.1.0/24 blackhole;\n}\n');
  });
  it('keeps the (empty) protocol when everything is withdrawn, so bird.conf filters naming it stay valid', () => {
    expect(birdConfig(cfg(), [])).toContain('protocol static lvsd_vips {\n  ipv4;\n}\n');
  });
  it('judges birdc by its reply, not only its exit code', () => {
    expect(configureOk({ code: 0, out: 'BIRD 2.0.12 ready.\nReading configuration from /etc/bird.conf\nReconfigured\n' })).toBe(true);
    expect(configureOk({ code: 0, out: 'BIRD 2.0.12 ready.\nReading configuration from /etc/bird.conf\n/tmp/inc.conf:3:3 syntax error\n' })).toBe(false);
    expect(configureOk({ code: 1, out: 'Unable to connect to server control socket (/run/b.ctl): No such file or directory\n' })).toBe(false);
  });
});

describe('lvsd_announce over IPv6', () => {
  it('announces the /128 of an IPv6 virtual server; each family gates only its own prefixes', () => {
    expect(decide(cfg(), [web(true, '2001:db8:0::100'), web(true)], true)).toEqual([
      { prefix: '2001:db8::100/128', announce: true, reason: 'healthy' },
      { prefix: '10.0.0.100/32', announce: true, reason: 'healthy' },
    ]);
    const v = decide(cfg({ prefix: ['2001:db8::/64', '10.0.0.0/24'] }), [web(true, '2001:db8::100'), web(false, '2001:db8:1::5'), web(false, '10.0.0.7')], true);
    expect(v).toEqual([
      { prefix: '2001:db8::/64', announce: true, reason: 'healthy' },
      { prefix: '10.0.0.0/24', announce: false, reason: 'no quorum: 10.0.0.7 80' },
    ]);
  });
  it('writes IPv6 prefixes into a second, ipv6 static protocol (protocol_name + "6"), kept empty when withdrawn', () => {
    expect(birdConfig(cfg(), ['10.0.0.100/32', '2001:db8::100/128'])).toBe(
      '# Written by lvs-keepalived (lvsd_announce); rewritten on every change, do not edit.\n'
      + '# Announced: 10.0.0.100/32 2001:db8::100/128\n'
      + 'protocol static lvsd_vips {\n  ipv4;\n  route 10.0.0.100/32 blackhole;\n}\n'
      + 'protocol static lvsd_vips6 {\n  ipv6;\n  route 2001:db8::100/128 blackhole;\n}\n');
    expect(birdConfig(cfg(), [], true)).toContain('protocol static lvsd_vips6 {\n  ipv6;\n}\n');
    expect(birdConfig(cfg(), [])).not.toContain('ipv6');
  });
  it('prefix lines take IPv6, reduced to the network address; a bad one is named', () => {
    const r = parseConfigText('lvsd_announce {\n    prefix 2001:DB8::1:100/112 10.0.0.100/32\n}\n', 'k.conf');
    expect(r.model.lvsd_announce?.prefix).toEqual(['2001:db8::1:0/112', '10.0.0.100/32']);
    const bad = parseConfigText('lvsd_announce {\n    prefix 2001:db8::/129\n}\n', 'k.conf');
    expect(bad.diagnostics.find((d) => d.severity === 'error')).toMatchObject({ line: 2, col: 12, message: "prefix '2001:db8::/129' is not an IPv6 prefix" });
  });
});

describe('Announcer', () => {
  function rig() {
    const files: string[] = [];
    const calls: string[][] = [];
    let reply: BirdcResult = { code: 0, out: 'Reconfigured\n' };
    let up = true;
    let health: VsHealth[] = [web(true)];
    const a = new Announcer(cfg(), {
      log: quiet, probeLvsd: async () => up, health: () => health,
      birdc: async (argv) => { calls.push(argv); return reply; },
      writeFile: (_p, t) => { files.push(t); },
    });
    return { a, files, calls, set: (o: { up?: boolean; health?: VsHealth[]; reply?: BirdcResult }) => {
      if (o.up !== undefined) up = o.up; if (o.health) health = o.health; if (o.reply) reply = o.reply;
    } };
  }
  it('reconfigures BIRD only when the announced set changes', async () => {
    const r = rig();
    await r.a.poke();
    await r.a.poke();
    expect(r.calls).toEqual([['birdc', '-s', '/run/b.ctl', 'configure']]);
    expect(r.files.at(-1)).toContain('route 10.0.0.100/32 blackhole;');
    r.set({ health: [web(false)] });
    await r.a.poke();
    expect(r.calls.length).toBe(2);
    expect(r.files.at(-1)).not.toContain('route ');
    expect(r.a.verdicts[0]).toMatchObject({ announce: false, reason: 'no quorum: 10.0.0.100 80' });
    r.set({ health: [web(true)], up: false });
    await r.a.poke();
    expect(r.calls.length).toBe(2); // still withdrawn: nothing to tell BIRD
    await r.a.stop(true);
  });
  it('retries a failed birdc configure at the next evaluation', async () => {
    const r = rig();
    r.set({ reply: { code: 1, out: 'Unable to connect' } });
    await r.a.poke();
    r.set({ reply: { code: 0, out: 'Reconfigured' } });
    await r.a.poke();
    expect(r.calls.length).toBe(2);
    expect(r.a.verdicts[0]!.announce).toBe(true);
    await r.a.stop(false);
    expect(r.calls.length).toBe(2);
  });
  it('withdraws everything on stop(true)', async () => {
    const r = rig();
    await r.a.poke();
    await r.a.stop(true);
    expect(r.calls.length).toBe(2);
    expect(r.files.at(-1)).toContain('# Announced: nothing');
    await r.a.poke(); // stopped: no more evaluations
    expect(r.calls.length).toBe(2);
  });
});

const CONF = `
lvsd_announce {
    bird_socket /run/lvsd-bird/bird.ctl
    bird_include /etc/bird/lvsd.conf
    protocol_name lvsd_vips
    check_interval 0.5
    prefix 192.168.200.100/32 10.1.2.3/24
    withdraw_on_stop off
}
virtual_server 192.168.200.100 80 {
    lvs_sched mh
    lvs_method DR
    protocol TCP
    real_server 10.0.0.2 80 { weight 1 }
}
`;

describe('lvsd_announce in keepalived.conf and YAML', () => {
  it('parses, with a note that it is an lvsd extension (keepalived -t: unknown keyword)', () => {
    const r = parseConfigText(CONF);
    expect(r.diagnostics.filter((d) => d.severity !== 'note')).toEqual([]);
    expect(r.diagnostics.some((d) => /lvsd_announce is an lvsd extension/.test(d.message))).toBe(true);
    expect(stripPositions(r.model.lvsd_announce)).toEqual({
      bird_socket: '/run/lvsd-bird/bird.ctl', bird_include: '/etc/bird/lvsd.conf', protocol_name: 'lvsd_vips', birdc: 'birdc',
      check_interval: 0.5, prefix: ['192.168.200.100/32', '10.1.2.0/24'], withdraw_on_stop: false,
    });
  });
  it('defaults', () => {
    const r = parseConfigText('lvsd_announce {\n}\n');
    expect(stripPositions(r.model.lvsd_announce)).toEqual({
      bird_socket: '/run/bird/bird.ctl', bird_include: '/etc/bird/lvsd-announce.conf', protocol_name: 'lvsd_announce', birdc: 'birdc',
      check_interval: 1, prefix: [], withdraw_on_stop: true,
    });
    expect(parseConfigText('').model.lvsd_announce).toBeUndefined();
  });
  it('reports bad prefixes, names and unknown keywords with positions', () => {
    const r = parseConfigText('lvsd_announce {\n  prefix 10.0.0.1/33\n  protocol_name 9x\n  bird_sockett /x\n}\n');
    expect(r.diagnostics.filter((d) => d.severity !== 'note').map((d) => `${d.line}:${d.col} ${d.severity} ${d.message}`)).toEqual([
      "2:10 error prefix '10.0.0.1/33' is not an IPv4 or IPv6 prefix",
      "3:17 error protocol_name '9x' is not a BIRD symbol",
      "4:3 warning unknown keyword 'bird_sockett' in lvsd_announce",
    ]);
  });
  it('the YAML twin gives the same model, and a dump parses back to it', () => {
    const y = parseYamlConfig(`lvsd_announce:
  bird_socket: /run/lvsd-bird/bird.ctl
  bird_include: /etc/bird/lvsd.conf
  protocol_name: lvsd_vips
  check_interval: 0.5
  prefix: [192.168.200.100/32, 10.1.2.3/24]
  withdraw_on_stop: false
virtual_servers:
  - key: 192.168.200.100 80
    lvs_sched: mh
    lvs_method: DR
    protocol: TCP
    real_servers: [{addr: 10.0.0.2, port: 80, weight: 1}]
`, 'a.yaml');
    expect(y.diagnostics.filter((d) => d.severity !== 'note')).toEqual([]);
    const c = parseConfigText(CONF);
    expect(stripPositions(y.model)).toEqual(stripPositions(c.model));
    const back = parseConfigText(toKeepalivedConf(c.model));
    expect(stripPositions(back.model)).toEqual(stripPositions(c.model));
  });
});
