import { describe, expect, it } from 'vitest';
import * as path from 'node:path';
import { configTestExitCode, hasErrors, loadConfig, parseYamlConfig, toKeepalivedConf, parseConfigText } from '../../src/config/index.js';
import { stripPositions } from '../../src/config/yaml.js';

const CONFIGS = path.resolve(import.meta.dirname, '../../configs');
const brief = (r: ReturnType<typeof parseYamlConfig>) => r.diagnostics.map((d) => `${d.line}:${d.col} ${d.severity} ${d.message}`);

describe('YAML front end', () => {
  it('the YAML sample is the same model as its keepalived.conf twin', () => {
    const y = loadConfig(path.join(CONFIGS, 'seed-dr-ha-master.yaml'));
    const c = loadConfig(path.join(CONFIGS, 'seed-dr-ha-master.conf'));
    expect(y.diagnostics).toEqual([]);
    expect(stripPositions(y.model)).toEqual(stripPositions(c.model));
    // and its positions are the YAML file's
    expect(y.model.vrrp_instances[0]!.pos).toMatchObject({ line: 8, col: 5 });
    expect(y.model.vrrp_instances[0]!.pos.file).toMatch(/seed-dr-ha-master\.yaml$/);
  });

  it('a virtual server key may be the keepalived.conf header as a string', () => {
    const r = parseYamlConfig('virtual_server_groups:\n  - {name: G, entries: ["fwmark 3"]}\nvirtual_servers:\n  - {key: "fwmark 7", lvs_sched: rr, lvs_method: DR, real_servers: [{addr: 10.0.0.2}]}\n  - {key: "group G", lvs_sched: rr, lvs_method: DR, real_servers: [{addr: 10.0.0.3}]}\n', 'k.yaml');
    expect(r.diagnostics).toEqual([]);
    expect(r.model.virtual_servers.map((v) => v.key)).toEqual([{ kind: 'fwmark', fwmark: 7 }, { kind: 'group', group: 'G' }]);
  });

  it('semantic errors point at the YAML value', () => {
    const r = parseYamlConfig('vrrp_instances:\n  - name: VI_1\n    interface: eth0\n    virtual_router_id: 51\n    priority:   300\n    virtual_ipaddress: [10.0.0.1/24]\n', 'c.yaml');
    expect(brief(r)).toEqual(['5:17 error (VI_1) priority 300 not valid, must be between 1 & 255']);
    expect(r.diagnostics[0]!.file).toBe('c.yaml');
  });

  it('unknown keys warn at the key; wrong shapes are errors; YAML syntax errors are fatal (exit 4)', () => {
    const r = parseYamlConfig('global_defs:\n  router_id: A\n  routerid: B\nvrrp_instances: {name: x}\n', 'c.yaml');
    expect(brief(r)).toEqual([
      "3:3 warning unknown key 'routerid' in global_defs",
      '4:17 error vrrp_instances: expected a list',
    ]);
    const bad = parseYamlConfig('global_defs:\n  router_id: [a\n', 'c.yaml');
    expect(hasErrors(bad.diagnostics)).toBe(true);
    expect(bad.diagnostics[0]!.line).toBeGreaterThan(0);
    expect(configTestExitCode(bad.diagnostics)).toBe(4);
  });

  it('toKeepalivedConf of every sample parses back to the same model with no diagnostics', () => {
    for (const f of ['seed-dr-ha-master.conf', 'seed-dr-ha-backup.conf', 'dr.conf', 'nat.conf', 'tun.conf']) {
      const m = loadConfig(path.join(CONFIGS, f)).model;
      const again = parseConfigText(toKeepalivedConf(m), 'dump.conf');
      expect({ f, d: again.diagnostics }).toEqual({ f, d: [] });
      expect(stripPositions(again.model)).toEqual(stripPositions(m));
    }
  });
});
