// Every keyword in missing-param.ts written without its parameter, in a
// small config of its block, goes through Debian's keepalived -t and through
// configTest: the exit statuses must be equal (2 where keepalived gives up
// on the spot, 5 where it reports and goes on). Keywords that read no word
// (flags) ride along as controls: neither program may exit 2 for them.
// Like verdict.test.ts, keepalived runs in a private network namespace that
// has an eth0.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { configTest, formatDiagnostic } from '../../src/config/index.js';
import { EXITS_WITHOUT_PARAM, REPORTS_WITHOUT_PARAM } from '../../src/config/missing-param.js';

const keepalived = ['/usr/sbin/keepalived', '/sbin/keepalived', '/usr/bin/keepalived'].find((p) => fs.existsSync(p));
const isRoot = process.getuid?.() === 0;

const instance = (body: string) => `vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n virtual_ipaddress {\n  10.0.0.1\n }\n${body}}\n`;
const rs = (body: string) => `virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n${body} }\n}\n`;
/** A config holding `line` in the block named by `where` (missing-param.ts's keys). */
function configWith(where: string, line: string): string {
  switch (where) {
    case 'ROOT': return `${line} {\n}\n`;
    case 'global_defs': return `global_defs {\n ${line}\n}\n`;
    case 'vrrp_instance': return instance(` ${line}\n`);
    case 'authentication': return instance(` authentication {\n  ${line}\n }\n`);
    case 'vrrp_script': return `vrrp_script chk {\n script "/bin/true"\n ${line}\n}\n${instance('')}`;
    case 'vrrp_sync_group': return `${instance('')}vrrp_sync_group G {\n group {\n  VI_1\n }\n ${line}\n}\n`;
    case 'virtual_server': return `virtual_server 10.0.0.1 80 {\n ${line}\n real_server 10.0.0.2 80 {\n }\n}\n`;
    case 'real_server': return rs(`  ${line}\n`);
    // keepalived 2.2.7 crashes on an HTTP_GET without a url: every one gets a path.
    case 'url': return rs('  HTTP_GET {\n   url {\n    ' + line + '\n    path /\n   }\n  }\n');
    case 'HTTP_GET': case 'SSL_GET': return rs(`  ${where} {\n   ${line}\n   url {\n    path /\n   }\n  }\n`);
    default: return rs(`  ${where} {\n   ${line}\n  }\n`);
  }
}

const cases: [string, string][] = [];
for (const table of [EXITS_WITHOUT_PARAM, REPORTS_WITHOUT_PARAM]) {
  for (const [where, kws] of Object.entries(table)) for (const k of kws) cases.push([where, k]);
}
// Controls: keywords that take no word, or count their words first.
const controls: [string, string][] = [
  ['vrrp_instance', 'nopreempt'], ['vrrp_instance', 'dont_track_primary'], ['global_defs', 'router_id'],
  ['global_defs', 'vrrp_strict'], ['virtual_server', 'persistence_timeout'], ['virtual_server', 'ha_suspend'],
  ['real_server', 'inhibit_on_failure'], ['ROOT', 'vrrp_instance'], ['vrrp_script', 'init_fail'],
];

describe('keywords without their parameter: keepalived -t and lvs-keepalived agree', () => {
  if ((!keepalived || !isRoot) && process.env.CI === 'true') {
    it('has keepalived and root', () => { throw new Error('this comparison needs keepalived (apt-get install keepalived) and root'); });
    return;
  }
  if (!keepalived || !isRoot) {
    it.skip('needs keepalived and root', () => undefined);
    return;
  }
  const ns = `lvmp${randomBytes(4).toString('hex')}`;
  let tmp = '';
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lvmp-'));
    for (const args of [['netns', 'add', ns], ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1'], ['-n', ns, 'link', 'set', 'eth0', 'up']]) {
      const r = spawnSync('ip', args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
    }
  });
  afterAll(() => {
    spawnSync('ip', ['netns', 'del', ns]);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const judge = (where: string, k: string) => {
    const file = path.join(tmp, `${where}-${k}.conf`);
    fs.writeFileSync(file, configWith(where, k));
    const run = `${file}.run`;
    const ka = spawnSync('ip', ['netns', 'exec', ns, keepalived, '-t', '-n', '-l', '-f', file, '-i', 'lvmp',
      '-p', `${run}.pid`, '-r', `${run}.vrrp.pid`, '-c', `${run}.check.pid`, '-b', `${run}.bfd.pid`], { encoding: 'utf8', timeout: 20_000 });
    const mine = configTest(file, { configId: 'lvmp', host: { interfaceExists: (n) => n === 'eth0' || n === 'eth1' || n === 'lo' } });
    return { ka, mine };
  };

  it('covers every table entry', () => {
    expect(cases.length).toBeGreaterThan(150);
  });

  it.each(cases)('%s: %s alone', (where, k) => {
    const { ka, mine } = judge(where, k);
    const expected = EXITS_WITHOUT_PARAM[where]?.has(k) ? 2 : 5;
    expect({ where, k, keepalived: ka.status, stderr: ka.stderr.trim().split('\n').slice(-3) }).toMatchObject({ keepalived: expected });
    expect({ where, k, ours: mine.exitCode, report: mine.diagnostics.map(formatDiagnostic) }).toMatchObject({ ours: ka.status });
  });

  it.each(controls)('control %s: %s alone does not stop either', (where, k) => {
    const { ka, mine } = judge(where, k);
    expect(ka.status).not.toBe(2);
    expect({ where, k, ours: mine.exitCode, report: mine.diagnostics.map(formatDiagnostic) }).toMatchObject({ ours: ka.status });
  });
});
