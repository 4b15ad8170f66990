// static_ipaddress, static_routes, static_rules and reload_check_config: parsed
// into the model with file:line:col diagnostics in keepalived's words and
// classes, the same from YAML, and written back out unchanged.
import { describe, expect, it } from 'vitest';
import { configTestExitCode, parseConfigText, parseYamlConfig, toKeepalivedConf, type Diagnostic } from '../../src/config/index.js';
import { stripPositions } from '../../src/config/yaml.js';

const parse = (text: string) => parseConfigText(text, 'k.conf');
const brief = (ds: Diagnostic[]) => ds.filter((d) => d.severity !== 'note').map((d) => `${d.file}:${d.line}:${d.col} ${d.severity} ${d.message}`);

describe('static_ipaddress / static_routes / static_rules', () => {
  it('parses the three blocks into the model, IPv4 as keepalived.conf(5) writes them', () => {
    const r = parse(`static_ipaddress {
    192.168.200.1/24 dev eth0 scope global
    192.168.201.1 dev eth0 label eth0:st
}
static_routes {
    10.8.0.0/24 via 192.168.200.254 dev eth0
    default via 192.168.200.254 dev eth0 table 101 metric 7
}
static_rules {
    from 192.168.200.0/24 table 100 priority 10
}
`);
    expect(brief(r.diagnostics)).toEqual([]);
    expect(stripPositions(r.model.static_ipaddress)).toEqual([
      { addr: '192.168.200.1', prefix: 24, dev: 'eth0', scope: 'global' },
      { addr: '192.168.201.1', prefix: 32, dev: 'eth0', label: 'eth0:st' },
    ]);
    expect(r.model.static_routes.map((x) => x.args.join(' '))).toEqual([
      '10.8.0.0/24 via 192.168.200.254 dev eth0', 'default via 192.168.200.254 dev eth0 table 101 metric 7',
    ]);
    expect(r.model.static_routes[1]!.pos).toEqual({ file: 'k.conf', line: 7, col: 5 });
    expect(r.model.static_rules.map((x) => x.args.join(' '))).toEqual(['from 192.168.200.0/24 table 100 priority 10']);
    expect(configTestExitCode(r.diagnostics)).toBe(0);
  });

  it('names file:line:col of each bad word, with keepalived\'s message, and skips the line', () => {
    const r = parse(`static_routes {
    10.4.0.0/24 via 10.9.0.999 dev eth0
    10.2.0.0/24 bogus 1 dev eth0
    10.0.10.0/24 dev eth0 metric x
    10.6.0.0/24 via 10.9.0.254
    10.5.0.0/24 dev eth0 table nosuchtable
}
static_ipaddress {
    10.9.0.300/24 dev eth0
}
`);
    expect(brief(r.diagnostics)).toEqual([
      'k.conf:2:21 error invalid route via address 10.9.0.999',
      'k.conf:3:17 error unknown route keyword bogus',
      'k.conf:4:34 error Invalid metric x specified for route',
      'k.conf:5:5 warning cannot track route 10.6.0.0/24 with no interface specified, not tracking',
      'k.conf:6:32 error Routing table nosuchtable not found for route',
      "k.conf:9:5 error static_ipaddress '10.9.0.300/24' is not a valid IP address",
    ]);
    expect(r.model.static_routes.map((x) => x.args[0])).toEqual(['10.6.0.0/24']);
    expect(configTestExitCode(r.diagnostics)).toBe(5);
  });

  it('rules: no action is ignored, no preference gets 16384 counting down (both warned), bad options refused', () => {
    const r = parse(`static_rules {
    from 10.7.0.0/24 priority 5
    from 10.9.0.0/24 table 100
    to 10.9.0.0/24 table 100
    from 10.6.0.999/24 table 1 priority 6
    to 10.8.0.0/24 table 100 pref 10
}
`);
    expect(brief(r.diagnostics)).toEqual([
      'k.conf:2:5 warning No action specified for rule - ignoring',
      'k.conf:3:5 warning Rule has no preference specified - setting to 16384. This is probably not what you want.',
      'k.conf:4:5 warning Rule has no preference specified - setting to 16383. This is probably not what you want.',
      'k.conf:5:10 error Invalid rule from address 10.6.0.999/24',
      'k.conf:6:30 error Unknown rule option pref',
    ]);
    expect(r.model.static_rules.map((x) => x.args.join(' '))).toEqual([
      'from 10.9.0.0/24 table 100 priority 16384', 'to 10.9.0.0/24 table 100 priority 16383',
    ]);
  });

  it('reload_check_config with and without a log file', () => {
    expect(parse('global_defs {\n    reload_check_config\n}\n').model.global_defs.reload_check_config).toEqual({});
    expect(parse('global_defs {\n    reload_check_config /tmp/x.log\n}\n').model.global_defs.reload_check_config).toEqual({ log_file: '/tmp/x.log' });
    expect(parse('global_defs {\n}\n').model.global_defs.reload_check_config).toBeUndefined();
  });

  it('YAML twin: the same model and the same diagnostics with YAML positions; a dump parses back to the model', () => {
    const conf = parse(`global_defs {
    reload_check_config /tmp/x.log
}
static_ipaddress {
    192.168.200.1/24 dev eth0
}
static_routes {
    10.8.0.0/24 via 192.168.200.254 dev eth0
}
static_rules {
    from 192.168.200.0/24 table 100 priority 10
}
`);
    const y = parseYamlConfig(`global_defs:
  reload_check_config: {log_file: /tmp/x.log}
static_ipaddress:
  - {addr: 192.168.200.1, prefix: 24, dev: eth0}
static_routes:
  - 10.8.0.0/24 via 192.168.200.254 dev eth0
static_rules:
  - args: [from, 192.168.200.0/24, table, 100, priority, 10]
`, 'k.yaml');
    expect(brief(y.diagnostics)).toEqual([]);
    expect(stripPositions(y.model)).toEqual(stripPositions(conf.model));
    const bad = parseYamlConfig('static_routes:\n  - 10.4.0.0/24 via 10.9.0.999 dev eth0\n', 'k.yaml');
    expect(brief(bad.diagnostics)).toEqual(['k.yaml:2:5 error invalid route via address 10.9.0.999']);
    const back = parse(toKeepalivedConf(conf.model));
    expect(brief(back.diagnostics)).toEqual([]);
    expect(stripPositions(back.model)).toEqual(stripPositions(conf.model));
  });
});
