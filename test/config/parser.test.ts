import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  configTestExitCode, formatDiagnostic, hasErrors, loadConfig, parseConfigText,
  type Checker, type Diagnostic, type HttpChecker, type KeepalivedConfig,
} from '../../src/config/index.js';
import { expandBraces } from '../../src/config/lexer.js';

const F = 'k.conf';
const parse = (text: string, configId = 'node1') => parseConfigText(text, F, { configId });
const at = (d: Diagnostic) => `${d.line}:${d.col} ${d.severity}`;
const only = (diags: Diagnostic[], sev: Diagnostic['severity'] = 'error') => diags.filter((d) => d.severity === sev);

const VRRP = (body = '') => `vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        10.0.0.1/24
    }
${body}}
`;
const VS = (vsBody = '', rsBody = 'TCP_CHECK {\n}\n') => `virtual_server 10.0.0.1 80 {
    lvs_sched rr
    lvs_method DR
    protocol TCP
${vsBody}    real_server 10.0.1.1 80 {
${rsBody}    }
}
`;

describe('diagnostic positions', () => {
  it('priority 300: the value, with its line and column', () => {
    const r = parse(VRRP('    priority 300\n'));
    expect(only(r.diagnostics).map(at)).toEqual(['8:14 error']);
    expect(r.diagnostics[0]!.message).toContain('priority 300');
    expect(r.model.vrrp_instances[0]!.priority).toBe(100);
    expect(formatDiagnostic(r.diagnostics[0]!)).toMatch(/^k\.conf:8:14: error: \(VI_1\) priority 300 not valid, must be between 1 & 255 — give priority in \[1, 255\]/);
  });

  it('virtual_router_id 0 and 256 are errors at the value; the instance is dropped', () => {
    for (const v of ['0', '256']) {
      const r = parse(VRRP().replace('virtual_router_id 51', `virtual_router_id ${v}`));
      expect(only(r.diagnostics).map(at)).toEqual(['4:23 error', '1:1 error']);
      expect(r.model.vrrp_instances).toEqual([]);
    }
  });

  it('unknown keyword: a warning at the keyword, with tabs counted as one column', () => {
    const r = parse(VRRP('\t  advertisement 3\n'));
    expect(r.diagnostics.map(at)).toEqual(['8:4 warning']);
    expect(r.diagnostics[0]!.ka).toBe('UNKNOWN_KEYWORD');
    expect(hasErrors(r.diagnostics)).toBe(false);
    expect(configTestExitCode(r.diagnostics)).toBe(5);
  });

  it('a misspelt keyword gets a suggestion', () => {
    const r = parse(VRRP('    virtual_routerid 9\n    lb_algo rr\n') + 'vrrp_instanse X {\n}\n');
    expect(r.diagnostics.map((d) => d.hint)).toEqual([
      "did you mean 'virtual_router_id'? the line is skipped",
      'check the spelling; the line is skipped',
      "did you mean 'vrrp_instance'? the keyword and its block are skipped",
    ]);
  });

  it('an unknown keyword with a block skips the whole block', () => {
    const r = parse(`global_defs {\n  frob {\n    router_id NOPE\n  }\n  router_id YES\n}\n`);
    expect(r.diagnostics.map(at)).toEqual(['2:3 warning']);
    expect(r.model.global_defs.router_id).toBe('YES');
  });

  it('unknown scheduler, bad lb_kind, bad real server IP', () => {
    const r = parse(VS().replace('lvs_sched rr', 'lvs_sched fastest').replace('lvs_method DR', 'lb_kind FULLNAT').replace('10.0.1.1', '10.0.1.256'));
    expect(only(r.diagnostics).map((d) => `${at(d)} ${d.message}`)).toEqual([
      "2:15 error invalid lvs_scheduler 'fastest'",
      '3:13 error unknown [FULLNAT] routing method for virtual server',
      "5:17 error real server address '10.0.1.256' is not a valid IP address",
    ]);
  });

  it('missing brace points at the block left open; an extra one at itself', () => {
    const r = parse('global_defs {\n  router_id A\n\nvrrp_script x {\n  script /bin/true\n}\n');
    expect(only(r.diagnostics).map((d) => `${at(d)} ${d.ka}`)).toEqual(['1:13 error MISSING_EOB']);
    const r2 = parse('global_defs {\n  router_id A\n}\n  }\n');
    expect(only(r2.diagnostics).map((d) => `${at(d)} ${d.ka}`)).toEqual(['4:3 error UNEXPECTED_EOB']);
  });

  it('errors in an included file name that file', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'main.conf'), 'include sub/*.conf\n');
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'sub', 'a.conf'), '\n' + VRRP('  priority 0\n'));
    const r = loadConfig(path.join(dir, 'main.conf'));
    expect(only(r.diagnostics).map((d) => `${path.relative(dir, d.file)}:${d.line}:${d.col}`)).toEqual(['sub/a.conf:9:12']);
  });

  it('a missing file is a diagnostic (exit 4), not an exception', () => {
    const r = loadConfig('/nonexistent/lvsd/keepalived.conf');
    expect(r.diagnostics.map((d) => d.ka)).toEqual(['FILE_NOT_FOUND']);
    expect(configTestExitCode(r.diagnostics)).toBe(4);
  });

  it('nb_get_retry: deprecation warning, value used as retry', () => {
    const r = parse(VS('', 'HTTP_GET {\n url {\n path /\n }\n nb_get_retry 4\n }\n'));
    expect(r.diagnostics.map((d) => `${at(d)} ${d.ka}`)).toEqual(['10:2 warning DEPRECATED']);
    expect(r.model.virtual_servers[0]!.real_servers[0]!.checkers[0]!.retry).toBe(4);
  });
});

describe('lexical rules', () => {
  it('# and ! start comments anywhere outside quotes; quotes group words', () => {
    const r = parse('global_defs { # c\n  router_id "lvs # one" ! c2\n  notification_email {\n a@b.c#x\n  }\n}\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.model.global_defs.router_id).toBe('lvs # one');
    expect(r.model.global_defs.notification_email).toEqual(['a@b.c']);
  });

  it('braces split off wherever they are; a block may open on the next line', () => {
    const r = parse('vrrp_instance VI_1\n{\n state BACKUP\n interface eth0\n virtual_router_id 9\n virtual_ipaddress { 10.0.0.1/24 dev eth0 }\n}\n');
    expect(r.diagnostics).toEqual([]);
    expect(r.model.vrrp_instances[0]!.virtual_ipaddress.map((v) => [v.addr, v.prefix, v.dev])).toEqual([['10.0.0.1', 24, 'eth0']]);
  });

  it('$NAME=value definitions, $NAME and ${NAME}; a bare $NAME inside a word stays', () => {
    const r = parse('$IF=eth0\n$ID = 77\n' + VRRP().replace('interface eth0', 'interface $IF').replace('virtual_router_id 51', 'virtual_router_id ${ID}').replace('10.0.0.1/24', '10.0.0.1/24 label $IFx'));
    expect(r.model.vrrp_instances[0]!.interface).toBe('eth0');
    expect(r.model.vrrp_instances[0]!.virtual_router_id).toBe(77);
    expect(r.model.vrrp_instances[0]!.virtual_ipaddress[0]!.label).toBe('$IFx');
  });

  it('multi-line $NAME=… \\ definitions expand to one line each where $NAME ends a line, and nowhere else', () => {
    const r = parse('$VIPS=10.0.0.1/24 \\\n   10.0.0.2/24 dev eth0\n' + VRRP().replace('10.0.0.1/24', '$VIPS') + VRRP().replace('VI_1', 'VI_2').replace('51', '52').replace('10.0.0.1/24', '$VIPS/32'));
    expect(r.model.vrrp_instances[0]!.virtual_ipaddress.map((v) => `${v.addr}/${v.prefix} ${v.dev ?? '-'}`)).toEqual(['10.0.0.1/24 -', '10.0.0.2/24 eth0']);
    expect(only(r.diagnostics).map((d) => d.message)).toEqual(["virtual_ipaddress '$VIPS/32' is not a valid IP address"]);
  });

  it('~SEQ and ~LST repeat a line per value, with multi-line definitions and nesting', () => {
    const m = loadConfig(path.resolve(import.meta.dirname, '../fixtures/config/ok-seq-lst.conf')).model;
    expect(m.vrrp_instances.map((v) => [v.name, v.virtual_router_id, v.virtual_ipaddress[0]!.addr])).toEqual([['VI_1', 51, '192.168.150.100'], ['VI_2', 52, '192.168.150.101']]);
    expect(m.virtual_servers[0]!.real_servers.map((r) => `${r.addr}/${r.weight}`)).toEqual(['192.168.150.11/11', '192.168.150.12/12', '192.168.150.13/13', '10.0.0.10/1', '10.0.0.15/1', '10.0.0.20/1']);
    const r = parse('global_defs {\n notification_email {\n  ~SEQ(A, 1, 2) ~SEQx(B, 9, 11) u${A}${B}@x\n }\n}\n~SEQ(X, 3, 1, 1) x\n');
    expect(r.model.global_defs.notification_email).toEqual(['u19@x', 'u1a@x', 'u1b@x', 'u29@x', 'u2a@x', 'u2b@x']);
    expect(only(r.diagnostics).map((d) => `${d.line}:${d.col} ${d.message.slice(0, 12)}`)).toEqual(['6:1 invalid ~SEQ']);
  });

  it('@id lines count only on that config id, @^id only elsewhere', () => {
    const text = VRRP('@node1 priority 200\n@node2 priority 50\n@^node1 nopreempt\n@^node2 preempt_delay 5\n').replace('state MASTER', 'state BACKUP');
    const one = parse(text, 'node1').model.vrrp_instances[0]!;
    const two = parse(text, 'node2').model.vrrp_instances[0]!;
    expect([one.priority, one.nopreempt, one.preempt_delay]).toEqual([200, false, 5]);
    expect([two.priority, two.nopreempt, two.preempt_delay]).toEqual([50, true, 0]);
  });

  it('include: globs sort like glob(3), brace expansion keeps its order, no match is only a warning', () => {
    const dir = tmpDir();
    fs.mkdirSync(path.join(dir, 'd'));
    for (const [f, id] of [['b.conf', 'B'], ['a.conf', 'A'], ['c.inc', 'C']] as const) {
      fs.writeFileSync(path.join(dir, 'd', f), `vrrp_script ${id} {\n script /bin/true\n}\n`);
    }
    fs.writeFileSync(path.join(dir, 'main.conf'), 'include d/*.conf\ninclude d/{c.inc,a.conf}\ninclude none/*.conf\n');
    const r = loadConfig(path.join(dir, 'main.conf'));
    expect(r.model.vrrp_scripts.map((s) => s.name)).toEqual(['A', 'B', 'C', 'A']);
    expect(r.diagnostics.map((d) => `${d.line}:${d.col} ${d.severity} ${d.ka}`)).toEqual(['3:1 warning OK']);
    expect(expandBraces('x{1,2{a,b}}y')).toEqual(['x1y', 'x2ay', 'x2by']);
  });
});

describe('defaults (keepalived 2.2.7)', () => {
  it('vrrp_instance: priority 100, advert 1, garp 5/5, down_timer_adverts 3; version and garp from global_defs', () => {
    const r = parse('global_defs {\n vrrp_version 3\n vrrp_garp_master_delay 2\n}\n' + VRRP());
    const vi = r.model.vrrp_instances[0]!;
    expect([vi.priority, vi.advert_int, vi.version, vi.garp_master_delay, vi.garp_master_repeat, vi.down_timer_adverts, vi.state])
      .toEqual([100, 1, 3, 2, 5, 3, 'MASTER']);
    const d = parse(VRRP()).model;
    expect([d.vrrp_instances[0]!.version, d.global_defs.vrrp_mcast_group4]).toEqual([2, '224.0.0.18']);
  });

  it('checkers: HTTP retry 1 / dbr 3, TCP dbr 1, MISC retry 0, DNS retry 3 and dbr = delay_loop; timers inherit rs → vs', () => {
    const r = parse(VS('    delay_loop 7\n    connect_timeout 4\n', `weight 3
 retry 2
 HTTP_GET {
  url {
   path /h
  }
 }
 TCP_CHECK {
  connect_timeout 1
 }
 MISC_CHECK {
  misc_path /bin/true
 }
 DNS_CHECK {
 }
`));
    const [http, tcp, misc, dns] = r.model.virtual_servers[0]!.real_servers[0]!.checkers;
    const timeout = (c: Checker) => ('connect_timeout' in c ? c.connect_timeout : undefined);
    const pick = (c: typeof http) => [c!.type, c!.delay_loop, timeout(c!), c!.retry, c!.delay_before_retry];
    expect([http, tcp, misc, dns].map(pick)).toEqual([
      ['HTTP_GET', 7, 4, 2, 3],
      ['TCP_CHECK', 7, 1, 2, 1],
      ['MISC_CHECK', 7, undefined, 2, 1],
      ['DNS_CHECK', 7, 4, 2, 7],
    ]);
    expect((http as HttpChecker).urls[0]!.status_code).toEqual([[200, 299]]);
    expect(dns).toMatchObject({ dns_type: 'SOA', name: '.' });
    const bare = parse(VS('', 'MISC_CHECK {\n misc_path /bin/true\n}\nDNS_CHECK {\n}\n')).model.virtual_servers[0]!.real_servers[0]!;
    expect(bare.checkers.map((c) => [c.retry, c.delay_loop, timeout(c)])).toEqual([[0, 60, undefined], [3, 60, 5]]);
    // MISC_CHECK has no connection keywords in keepalived: connect_timeout there is an unknown keyword.
    const miscConf = parse(VS('', 'MISC_CHECK {\n misc_path /bin/true\n connect_timeout 3\n}\n'));
    expect(miscConf.diagnostics.map((d) => `${d.line}:${d.col} ${d.ka}`)).toEqual(['8:2 UNKNOWN_KEYWORD']);
    expect(bare.weight).toBe(1);
  });

  it('virtual_server: bare persistence_timeout is 360; defaults are filled but keepalived -t still complains', () => {
    const r = parse(VS('    persistence_timeout\n'));
    expect(r.model.virtual_servers[0]!.persistence_timeout).toBe(360);
    const bare = parse('virtual_server 10.0.0.1 80 {\n real_server 10.0.1.1 80 {\n }\n}\n');
    const vs = bare.model.virtual_servers[0]!;
    expect([vs.protocol, vs.lvs_sched, vs.lvs_method, vs.delay_loop, vs.quorum]).toEqual(['UDP', 'wlc', 'NAT', 60, 1]);
    expect(bare.diagnostics.map((d) => d.severity)).toEqual(['warning', 'warning', 'warning']);
    expect(configTestExitCode(bare.diagnostics)).toBe(5);
  });

  it('auth_pass keeps its first 8 characters', () => {
    const r = parse(VRRP('authentication {\n auth_type PASS\n auth_pass 123456789\n}\n'));
    expect(r.model.vrrp_instances[0]!.authentication).toEqual({ auth_type: 'PASS', auth_pass: '12345678' });
  });
});

describe('where lvsd is stricter than keepalived -t', () => {
  it('persistence_granularity 24 is refused (keepalived would use the mask 0.0.0.24) though keepalived -t passes it', () => {
    const r = parse(VS('    persistence_timeout 60\n    persistence_granularity 24\n'));
    expect(hasErrors(r.diagnostics)).toBe(true);
    expect(configTestExitCode(r.diagnostics)).toBe(0);
    expect(r.diagnostics.map(at)).toEqual(['6:29 error']);
  });
});

describe('lvsd extension: reference_ip', () => {
  it('is parsed into the model and flagged as what keepalived calls an unknown keyword', () => {
    const r = parse(VRRP('    reference_ip 10.0.0.254 10.0.0.253\n    check_reference 10.0.0.252\n'));
    expect(r.model.vrrp_instances[0]!.reference_ip).toEqual(['10.0.0.254', '10.0.0.253', '10.0.0.252']);
    expect(r.diagnostics.map((d) => `${d.severity} ${d.ka}`)).toEqual(['note UNKNOWN_KEYWORD', 'note UNKNOWN_KEYWORD']);
    expect(hasErrors(r.diagnostics)).toBe(false);
    expect(only(parse(VRRP('reference_ip 10.0.0\n')).diagnostics).length).toBe(1);
  });
  it('takes IPv6 references too (canonical), in an IPv4 instance as in an IPv6 one', () => {
    const r = parse(VRRP('    reference_ip 2001:DB8:0::1 10.0.0.254\n'));
    expect(r.model.vrrp_instances[0]!.reference_ip).toEqual(['2001:db8::1', '10.0.0.254']);
    expect(hasErrors(r.diagnostics)).toBe(false);
  });
});

describe('model round trip of a whole sample', () => {
  it('every sample config loads without errors', () => {
    const dir = path.resolve(import.meta.dirname, '../../configs');
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.conf'))) {
      const r = loadConfig(path.join(dir, f));
      expect({ f, diags: r.diagnostics.map(formatDiagnostic) }).toEqual({ f, diags: [] });
      expect(r.model.virtual_servers.length).toBeGreaterThan(0);
    }
  });
});

const dirs: string[] = [];
function tmpDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lvcfg-unit-'));
  dirs.push(d);
  return d;
}
afterAll(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

export type { KeepalivedConfig };

describe('tunnel types lvsd cannot send', () => {
  it('refuses TUN type gue/gre instead of silently sending IPIP the real servers cannot decapsulate', () => {
    for (const t of ['gue port 5555', 'gre']) {
      const { diagnostics } = parse(`virtual_server 10.0.0.1 80 {\n  lb_algo rr\n  lb_kind TUN type ${t}\n  protocol TCP\n  real_server 10.0.0.2 80 {\n    weight 1\n  }\n}\n`);
      const err = diagnostics.find((d) => d.severity === 'error');
      expect(err, JSON.stringify(diagnostics)).toMatchObject({ line: 3, col: 15, ka: 'OK' });
      expect(hasErrors(diagnostics)).toBe(true);
    }
  });
});
