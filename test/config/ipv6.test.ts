// IPv6 in keepalived.conf (issue 16): VRRP instances over IPv6, IPv6 virtual
// and real servers, IPv6 virtual_server_group ranges; each rule as keepalived
// 2.2.7 applies it (its -t verdicts on the ipv6 fixtures are checked live in
// verdict.test.ts), each problem at file:line:col; and the YAML twin.
import { describe, expect, it } from 'vitest';
import { configTestExitCode, parseConfigText, parseYamlConfig, type Diagnostic } from '../../src/config/index.js';
import { ipv6RangeSize } from '../../src/config/parser.js';
import { stripPositions } from '../../src/config/yaml.js';

const parse = (text: string) => parseConfigText(text, 'k.conf');
const brief = (ds: Diagnostic[], sev?: Diagnostic['severity']) =>
  ds.filter((d) => !sev || d.severity === sev).map((d) => `${d.line}:${d.col} ${d.severity} ${d.ka} ${d.message}`);

const inst = (body: string, head = '') => `${head}vrrp_instance VI_6 {
    interface eth0
    virtual_router_id 61
${body}}
`;

describe('VRRP over IPv6', () => {
  it('IPv6 VIPs make an IPv6 instance that runs VRRPv3 whatever vrrp_version says; addresses in canonical form', () => {
    const r = parse(inst(`    virtual_ipaddress {
        FE80::61:1/64
        2001:DB8:61:0:0:0:0:100/64 preferred_lft 0
    }
    virtual_ipaddress_excluded {
        192.168.61.200/24
        2001:db8:61::200 -nodad
    }
`, 'global_defs {\n    vrrp_version 2\n}\n'));
    expect(brief(r.diagnostics)).toEqual([]);
    const vi = r.model.vrrp_instances[0]!;
    expect({ family: vi.family, version: vi.version }).toEqual({ family: 6, version: 3 });
    expect(vi.virtual_ipaddress.map((v) => [v.addr, v.prefix, v.extra])).toEqual([['fe80::61:1', 64, undefined], ['2001:db8:61::100', 64, ['preferred_lft', '0']]]);
    // Excluded addresses are not in adverts: either family goes.
    expect(vi.virtual_ipaddress_excluded.map((v) => [v.addr, v.prefix])).toEqual([['192.168.61.200', 24], ['2001:db8:61::200', 128]]);
  });

  it('native_ipv6 makes it IPv6 before any address; after IPv4 addresses it is an error', () => {
    const ok = parse(inst('    native_ipv6\n    virtual_ipaddress {\n        fe80::1\n    }\n'));
    expect(ok.model.vrrp_instances[0]).toMatchObject({ family: 6, version: 3, native_ipv6: true });
    const bad = parse(inst('    virtual_ipaddress {\n        10.0.0.1\n    }\n    native_ipv6\n'));
    expect(brief(bad.diagnostics)).toEqual(['7:5 error GENERAL_ERROR (VI_6) Cannot specify native_ipv6 with IPv4 addresses']);
    expect(bad.model.vrrp_instances[0]!.family).toBe(4);
  });

  it('a VIP of the other family is refused at its own position and left out', () => {
    const r = parse(inst('    virtual_ipaddress {\n        fe80::1\n        10.0.0.1/24\n    }\n'));
    expect(brief(r.diagnostics)).toEqual(['6:9 error GENERAL_ERROR (VI_6): address family must match VRRP instance [10.0.0.1/24] - ignoring']);
    expect(r.model.vrrp_instances[0]!.virtual_ipaddress.map((v) => v.addr)).toEqual(['fe80::1']);
    expect(configTestExitCode(r.diagnostics)).toBe(5);
  });

  it('version 2: after the addresses a conflict (at the value); before them keepalived runs it and we refuse; strict mode corrects it', () => {
    const after = parse(inst('    virtual_ipaddress {\n        fe80::1\n    }\n    version 2\n'));
    expect(brief(after.diagnostics)).toEqual(['7:13 error GENERAL_ERROR (VI_6) vrrp_version 2 conflicts with configured or deduced version 0; ignoring.']);
    expect(after.model.vrrp_instances[0]!.version).toBe(3);
    const before = parse(inst('    version 2\n    virtual_ipaddress {\n        fe80::1\n    }\n'));
    expect(brief(before.diagnostics)).toEqual(['1:1 error OK (VI_6) VRRP version 2 over IPv6 is not supported by lvs-keepalived']);
    expect(before.model.vrrp_instances).toEqual([]);
    expect(configTestExitCode(before.diagnostics)).toBe(0); // keepalived -t takes it
    const strict = parse(inst('    version 2\n    virtual_ipaddress {\n        fe80::1\n    }\n', 'global_defs {\n    vrrp_strict\n}\n'));
    expect(brief(strict.diagnostics, 'warning')).toContain('4:1 warning GENERAL_ERROR (VI_6) cannot use IPv6 with VRRP version 2; setting version 3');
    expect(strict.model.vrrp_instances[0]!.version).toBe(3);
  });

  it('unicast over IPv6; a source or peer of the other family is refused where it is written', () => {
    const r = parse(inst(`    unicast_src_ip 2001:db8::1
    unicast_peer {
        2001:db8::2 min_ttl 250
        10.0.0.2
    }
    mcast_src_ip 10.0.0.1
    virtual_ipaddress {
        2001:db8::100/64
    }
`));
    expect(brief(r.diagnostics, 'error')).toEqual([
      '7:9 error GENERAL_ERROR Configuration error: VRRP instance[VI_6] and unicast peer address[10.0.0.2] MUST be of the same family !!! Skipping...',
      '9:18 error GENERAL_ERROR Configuration error: VRRP instance[VI_6] and src address[10.0.0.1] MUST be of the same family !!! Skipping...',
    ]);
    const vi = r.model.vrrp_instances[0]!;
    expect({ family: vi.family, src: vi.unicast_src_ip, peers: vi.unicast_peer, m: vi.mcast_src_ip })
      .toEqual({ family: 6, src: '2001:db8::1', peers: [{ addr: '2001:db8::2', min_ttl: 250 }], m: undefined });
  });

  it('VRIDs are per family: the same VRID for IPv4 and IPv6 on one interface is fine, twice for one family is not', () => {
    const v4 = 'vrrp_instance A {\n    interface eth0\n    virtual_router_id 9\n    virtual_ipaddress {\n        10.0.0.1\n    }\n}\n';
    const v6 = 'vrrp_instance B {\n    interface eth0\n    virtual_router_id 9\n    virtual_ipaddress {\n        fe80::9\n    }\n}\n';
    expect(brief(parse(v4 + v6).diagnostics, 'error')).toEqual([]);
    expect(brief(parse(v6 + v6.replace('vrrp_instance B', 'vrrp_instance C')).diagnostics, 'error')).toEqual(['8:1 error GENERAL_ERROR (C) VRID 9 is already used on eth0']);
  });

  it('the first VIP of a multicast IPv6 instance should be link-local: a note, an error under vrrp_strict', () => {
    const body = '    state BACKUP\n    virtual_ipaddress {\n        2001:db8::100\n    }\n';
    expect(brief(parse(inst(body)).diagnostics)).toEqual(['6:9 note OK (VI_6) the first IPv6 VIP address should be link local']);
    expect(brief(parse(inst(body, 'global_defs {\n    vrrp_strict\n}\n')).diagnostics))
      .toContain('9:9 warning GENERAL_ERROR (VI_6) the first IPv6 VIP address must be link local');
  });

  it('No VIP in a VRRPv3 instance is an error, as keepalived makes it', () => {
    const r = parse(inst('    native_ipv6\n'));
    expect(brief(r.diagnostics)).toEqual(['1:1 error GENERAL_ERROR (VI_6) No VIP specified; at least one is required']);
  });

  it('vrrp_mcast_group6: IPv6, multicast, link-scope (a warning otherwise)', () => {
    const g = (a: string) => parse(`global_defs {\n    vrrp_mcast_group6 ${a}\n}\n`);
    expect(g('ff02::1:12').model.global_defs.vrrp_mcast_group6).toBe('ff02::1:12');
    expect(g('ff02::1:12').diagnostics).toEqual([]);
    expect(brief(g('224.0.0.18').diagnostics)).toEqual(['2:23 error GENERAL_ERROR vrrp_mcast_group6 [224.0.0.18] is not IPv6. Skipping']);
    expect(brief(g('2001:db8::1').diagnostics)).toEqual(['2:23 error GENERAL_ERROR vrrp_mcast_group6 [2001:db8::1] is not multicast. Skipping']);
    expect(brief(g('ff05::12').diagnostics)).toEqual(['2:23 warning WARNING vrrp_mcast_group6 [ff05::12] should be link-local multicast.']);
    expect(parse('').model.global_defs.vrrp_mcast_group6).toBe('ff02::12');
  });
});

const vs = (head: string, body: string) => `virtual_server ${head} {
    lb_algo rr
    lb_kind DR
    protocol TCP
${body}}
`;

describe('IPv6 virtual servers', () => {
  it('IPv6 service, real and sorry servers in canonical form; the family is the address\'s', () => {
    const r = parse(vs('2001:DB8::0100 80', '    sorry_server 2001:db8::99 80\n    real_server 2001:db8:0::11 80 {\n    }\n'));
    expect(brief(r.diagnostics, 'error')).toEqual([]);
    const v = r.model.virtual_servers[0]!;
    expect({ key: v.key, family: v.family, rs: v.real_servers.map((x) => x.addr), ss: v.sorry_server })
      .toEqual({ key: { kind: 'addr', addr: '2001:db8::100', port: 80 }, family: 6, rs: ['2001:db8::11'], ss: { addr: '2001:db8::99', port: 80 } });
  });

  it('a real or sorry server of the other family is skipped, with keepalived\'s message at its line', () => {
    const r = parse(vs('2001:db8::100 80', '    sorry_server 10.0.0.99 80\n    real_server 2001:db8::11 80 {\n    }\n    real_server 10.0.0.12 80 {\n    }\n'));
    expect(brief(r.diagnostics, 'error')).toEqual([
      "8:5 error GENERAL_ERROR Address family of virtual server and real server 10.0.0.12 don't match - skipping real server.",
      "1:1 error GENERAL_ERROR Address family of virtual server and sorry server 10.0.0.99 don't match - skipping sorry server.",
    ]);
    expect(r.model.virtual_servers[0]!.real_servers.map((x) => x.addr)).toEqual(['2001:db8::11']);
    expect(r.model.virtual_servers[0]!.sorry_server).toBeUndefined();
  });

  it('a tunnelled real server of the other family: keepalived takes it, lvsd cannot tunnel across families', () => {
    const r = parse(vs('2001:db8::100 80', '    real_server 10.0.0.12 80 {\n        lvs_method TUN\n    }\n    real_server 2001:db8::11 80 {\n    }\n'));
    expect(brief(r.diagnostics, 'error')).toEqual(['5:5 error OK real server 10.0.0.12: lvsd does not tunnel across address families (IPv6 service, IPv4 real server)']);
    expect(configTestExitCode(r.diagnostics)).toBe(0);
  });

  it('a fwmark service of IPv6 real servers is refused (the control protocol has no IPv6 fwmark service yet)', () => {
    const r = parse(vs('fwmark 5', '    real_server 2001:db8::11 80 {\n    }\n'));
    expect(brief(r.diagnostics, 'error')).toEqual(['1:1 error OK virtual server FWM 5: IPv6 fwmark services are not supported by lvsd yet']);
    expect(r.model.virtual_servers).toEqual([]);
  });

  it('persistence_granularity is a prefix length for IPv6 and makes the service persistent', () => {
    const r = parse(vs('2001:db8::100 80', '    persistence_granularity 64\n    real_server 2001:db8::11 80 {\n    }\n'));
    expect(brief(r.diagnostics, 'error')).toEqual([]);
    expect(r.model.virtual_servers[0]).toMatchObject({ persistence_granularity: '64', persistence_timeout: 360 });
    const bad = parse(vs('2001:db8::100 80', '    persistence_granularity 200\n    real_server 2001:db8::11 80 {\n    }\n'));
    expect(brief(bad.diagnostics, 'error')).toEqual(['5:29 error GENERAL_ERROR Invalid IPv6 persistence_granularity specified - 200']);
    // No family known yet (a group): no dot means IPv6, so an IPv4 real server then does not match.
    const grp = parse(`virtual_server_group G {\n    10.0.0.100 80\n}\n${vs('group G', '    persistence_granularity 24\n    real_server 10.0.0.11 80 {\n    }\n')}`);
    expect(brief(grp.diagnostics, 'error')).toEqual(["9:5 error GENERAL_ERROR Address family of virtual server and real server 10.0.0.11 don't match - skipping real server."]);
  });

  it('checkers: IPv6 connect_ip and bindto of the same family; a link-local destination needs bind_if', () => {
    const ok = parse(vs('2001:db8::100 80', '    real_server 2001:db8::11 80 {\n        TCP_CHECK {\n            connect_ip 2001:db8::111\n            bindto 2001:db8::1\n        }\n    }\n    real_server fe80::12 80 {\n        TCP_CHECK {\n            bind_if eth0\n        }\n    }\n'));
    expect(brief(ok.diagnostics, 'error')).toEqual([]);
    expect(ok.model.virtual_servers[0]!.real_servers[0]!.checkers[0]).toMatchObject({ connect_ip: '2001:db8::111', bindto: '2001:db8::1' });
    const bad = parse(vs('2001:db8::100 80', '    real_server 2001:db8::11 80 {\n        TCP_CHECK {\n            bindto 10.0.0.1\n        }\n        HTTP_GET {\n            connect_ip fe80::11\n            url {\n                path /\n            }\n        }\n    }\n'));
    expect(brief(bad.diagnostics, 'error')).toEqual([
      '7:20 error GENERAL_ERROR bindto address 10.0.0.1 does not match address family of connect_ip - skipping',
      '9:9 error GENERAL_ERROR Checker link local address fe80::11 requires a bind_if',
    ]);
    expect(bad.model.virtual_servers[0]!.real_servers[0]!.checkers.map((c) => c.type)).toEqual(['TCP_CHECK']);
  });
});

describe('IPv6 virtual_server_group entries', () => {
  const grp = (lines: string) => parse(`virtual_server_group V6 {\n${lines}}\n${vs('group V6', '    real_server 2001:db8::11 80 {\n    }\n')}`);

  it('ae00::2-9 is ae00::2 to ae00::9: the end replaces the last 16 bits, in hex', () => {
    const r = grp('    ae00::2-9 80\n    ae00::10-ff 80\n    2001:db8:1::/120 80\n    2001:db8:2::2-2001:db8:2::9 80\n    2001:db8::5 80\n');
    expect(brief(r.diagnostics, 'error')).toEqual([]);
    expect(r.model.virtual_server_groups[0]!.entries.map((e) => [e.addr, e.addrEnd, e.port])).toEqual([
      ['ae00::2', 'ae00::9', 80],
      ['ae00::10', 'ae00::ff', 80],
      ['2001:db8:1::', '2001:db8:1::ff', 80],
      ['2001:db8:2::2', '2001:db8:2::9', 80],
      ['2001:db8::5', undefined, 80],
    ]);
    expect(r.model.virtual_servers[0]!.family).toBe(6);
  });

  it('keepalived steps only the last 16 bits: a wider range is a warning with what it stands for', () => {
    expect(ipv6RangeSize('ae00::2', 'ae00::9')).toBe(8);
    expect(ipv6RangeSize('2001:db8::', '2001:db8::ffff:ffff:ffff:ffff')).toBe(65536);
    expect(ipv6RangeSize('2001:db8::ff', '2001:db8:1::5')).toBe(65287);
    const r = grp('    2001:db8::/64 80\n');
    expect(brief(r.diagnostics, 'warning')[0]).toMatch(/^2:5 warning OK virtual server group entry 2001:db8::\/64 stands for 65536 services/);
  });

  it('bad ranges are keepalived\'s errors at the entry', () => {
    const r = grp('    2001:db8::2-10000 80\n    2001:db8::a-5 80\n    2001:db8::1/64 80\n    2001:db8::2-g 80\n    2001:db8::9-2001:db8::1 80\n');
    expect(brief(r.diagnostics, 'error')).toEqual([
      "2:5 error GENERAL_ERROR Virtual server group range '2001:db8::2-10000' end '10000' too large",
      '3:5 error GENERAL_ERROR Address range end is not greater than address range start - 2001:db8::a-5 - skipping',
      '4:5 error GENERAL_ERROR Address mask bits not empty - 2001:db8::1/64 - skipping',
      "5:5 error GENERAL_ERROR Virtual server group range '2001:db8::2-g' has extra characters at end 'g'",
      '6:5 error GENERAL_ERROR Address range end is less than address range start - 2001:db8::9-2001:db8::1 - skipping',
    ]);
  });

  it('an IPv4 address in a group whose real servers are IPv6 gets a warning: its service will have none', () => {
    const r = grp('    2001:db8::100 80\n    10.0.0.100 80\n');
    expect(brief(r.diagnostics, 'warning')).toContain('3:5 warning OK virtual server group V6: group address 10.0.0.100 is IPv4 and the real servers are IPv6: its service gets no real servers');
  });

  it('IPv4, IPv6 and a fwmark of no family: keepalived removes the group; fwmark inet6 is refused (no IPv6 fwmark services)', () => {
    const r = grp('    10.0.0.100 80\n    2001:db8::100 80\n    fwmark 5\n');
    expect(brief(r.diagnostics)).toContain('1:1 warning GENERAL_ERROR virtual server group V6 cannot have IPv4, IPv6 and fwmark without family - removing');
    expect(r.model.virtual_server_groups).toEqual([]);
    const f6 = grp('    2001:db8::100 80\n    fwmark 5 inet6\n    fwmark 6 inet\n    fwmark 7 ipx\n');
    expect(brief(f6.diagnostics, 'error')).toEqual([
      '3:14 error OK (V6): IPv6 fwmark 5 is not supported by lvsd yet',
      "5:14 error GENERAL_ERROR (V6): fwmark '7' family ipx unknown - ignoring",
    ]);
    expect(f6.model.virtual_server_groups[0]!.entries.map((e) => e.fwmark ?? e.addr)).toEqual(['2001:db8::100', 6]);
  });
});

describe('lvs_sync_daemon group', () => {
  const conf = (g: string) => `global_defs {\n    lvs_sync_daemon eth0 VI_1 id 5 group ${g}\n}\n`;
  it('takes an IPv4 or IPv6 multicast group; refuses a unicast or invalid one as keepalived does', () => {
    for (const g of ['224.0.0.81', 'ff02::8848', 'ff0e::81']) {
      const r = parse(conf(g));
      expect(r.diagnostics.filter((d) => d.severity === 'error'), g).toEqual([]);
      expect(r.model.global_defs.lvs_sync_daemon?.group).toBe(g);
    }
    expect(parse(conf('10.1.1.1')).diagnostics.find((d) => d.severity === 'error')).toMatchObject({ line: 2, col: 42, message: 'lvs_sync_daemon group address 10.1.1.1 is not multicast - ignoring' });
    expect(parse(conf('2001:db8::1')).diagnostics.find((d) => d.severity === 'error')?.message).toBe('lvs_sync_daemon group address 2001:db8::1 is not multicast - ignoring');
    expect(parse(conf('bogus')).diagnostics.find((d) => d.severity === 'error')?.message).toBe('Invalid lvs_sync_daemon group (bogus) - ignoring');
  });
});

describe('the YAML twin', () => {
  it('an IPv6 instance and service in YAML are the keepalived.conf model, errors at the YAML value', () => {
    const conf = parse(`vrrp_instance VI_6 {
    interface eth0
    virtual_router_id 61
    unicast_src_ip 2001:db8::1
    unicast_peer {
        2001:db8::2
    }
    virtual_ipaddress {
        2001:db8::100/64
    }
}
virtual_server_group V6 {
    ae00::2-9 80
}
${vs('group V6', '    persistence_granularity 64\n    real_server 2001:db8::11 80 {\n        TCP_CHECK {\n            connect_ip 2001:db8::111\n        }\n    }\n')}`);
    const yaml = parseYamlConfig(`vrrp_instances:
  - name: VI_6
    interface: eth0
    virtual_router_id: 61
    unicast_src_ip: 2001:db8::1
    unicast_peer: [2001:db8::2]
    virtual_ipaddress: [2001:db8::100/64]
virtual_server_groups:
  - name: V6
    entries: ["ae00::2-9 80"]
virtual_servers:
  - key: group V6
    lb_algo: rr
    lvs_method: DR
    protocol: TCP
    persistence_granularity: 64
    real_servers:
      - addr: 2001:db8::11
        port: 80
        checkers: [{type: TCP_CHECK, connect_ip: 2001:db8::111}]
`.replace('lb_algo', 'lvs_sched'), 'k.yaml');
    expect(brief(conf.diagnostics, 'error')).toEqual([]);
    expect(brief(yaml.diagnostics, 'error')).toEqual([]);
    expect(stripPositions(yaml.model)).toEqual(stripPositions(conf.model));
    const bad = parseYamlConfig('vrrp_instances:\n  - name: VI_6\n    interface: eth0\n    virtual_router_id: 61\n    virtual_ipaddress: [2001:db8::100, 10.0.0.1]\n', 'k.yaml');
    expect(brief(bad.diagnostics, 'error')).toEqual(['5:40 error GENERAL_ERROR (VI_6): address family must match VRRP instance [10.0.0.1] - ignoring']);
  });
});
