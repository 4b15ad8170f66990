// Debian's keepalived 2.2.7 is the judge of which configs are clean: every
// fixture goes through `keepalived -t` and through loadConfig + checkHost,
// and the exit status configTestExitCode() predicts must be the one
// keepalived gives (0 clean, 4 cannot run, 5 errors it runs through,
// 6 script security). The statuses are also recorded in verdicts.json so a
// different keepalived shows up as a diff, not as silent drift.
//
// keepalived refuses lo for VRRP, so the fixtures' `eth0` is one end of a veth pair (this kernel has no dummy module) in
// a private network namespace; scripts with good and bad permissions are made
// in a temporary copy of the fixtures (`__TMP__` in a fixture is its path).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { configTest, formatDiagnostic, loadConfig, toKeepalivedConf } from '../../src/config/index.js';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/config');
const VERDICTS = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'verdicts.json'), 'utf8')) as Record<string, number>;
const CONFIG_ID = 'lvcfgtest';

function which(cmd: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = path.join(d, cmd);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

const keepalived = which('keepalived');
const isRoot = process.getuid?.() === 0;
const fixtures = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.conf')).sort();

function copyTree(src: string, dst: string, tmp: string): void {
  fs.mkdirSync(dst, { recursive: true });
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name);
    const d = path.join(dst, e.name);
    if (e.isDirectory()) copyTree(s, d, tmp);
    else fs.writeFileSync(d, fs.readFileSync(s, 'utf8').replaceAll('__TMP__', tmp));
  }
}

describe('keepalived -t verdicts', () => {
  if ((!keepalived || !isRoot) && process.env.CI === 'true') {
    it('has keepalived and root', () => {
      throw new Error(`verdict comparison needs ${!keepalived ? 'keepalived (apt-get install keepalived)' : 'root (network namespace)'}`);
    });
    return;
  }
  // Exactly one of the two comparisons is defined, so nothing is reported as skipped.
  const live = !!keepalived && isRoot;
  const ns = `lvcfg${randomBytes(4).toString('hex')}`;
  let tmp = '';
  let nsIfaces = new Set<string>();

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lvcfg-'));
    fs.chmodSync(tmp, 0o755);
    copyTree(FIXTURES, tmp, tmp);
    const script = '#!/bin/sh\nexit 0\n';
    fs.writeFileSync(path.join(tmp, 'safe.sh'), script, { mode: 0o755 });
    fs.writeFileSync(path.join(tmp, 'unsafe.sh'), script);
    fs.chmodSync(path.join(tmp, 'unsafe.sh'), 0o777);
    fs.mkdirSync(path.join(tmp, 'open'));
    fs.chmodSync(path.join(tmp, 'open'), 0o777);
    fs.writeFileSync(path.join(tmp, 'open', 'in-open-dir.sh'), script, { mode: 0o755 });
    if (keepalived && isRoot) {
      for (const args of [['netns', 'add', ns], ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1'], ['-n', ns, 'link', 'set', 'eth0', 'up'], ['-n', ns, 'link', 'set', 'lo', 'up']]) {
        const r = spawnSync('ip', args, { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
      }
      const links = spawnSync('ip', ['-n', ns, '-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
      nsIfaces = new Set([...links.matchAll(/^\d+: ([^:@]+)[:@]/gm)].map((m) => m[1]!));
    }
  });

  afterAll(() => {
    if (keepalived && isRoot) spawnSync('ip', ['netns', 'del', ns]);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('has at least 25 fixtures, each with a recorded verdict', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(25);
    expect(fixtures.filter((f) => VERDICTS[f] === undefined)).toEqual([]);
    expect(new Set(Object.values(VERDICTS)).size).toBeGreaterThanOrEqual(3);
  });

  const ours = (file: string): { code: number; report: string } => {
    const r = configTest(file, { configId: CONFIG_ID, host: { interfaceExists: (n) => nsIfaces.has(n) } });
    return { code: r.exitCode, report: r.diagnostics.map(formatDiagnostic).join('\n') };
  };

  const keepalivedTest = (file: string) => {
    const run = `${file}.run`;
    return spawnSync('ip', ['netns', 'exec', ns, keepalived!, '-t', '-n', '-l', '-f', file, '-i', CONFIG_ID,
      '-p', `${run}.pid`, '-r', `${run}.vrrp.pid`, '-c', `${run}.check.pid`, '-b', `${run}.bfd.pid`], { encoding: 'utf8', timeout: 20_000 });
  };

  if (live) it.each(fixtures)('%s: same exit status as keepalived -t', (name) => {
    const file = path.join(tmp, name);
    const ka = keepalivedTest(file);
    const mine = ours(file);
    expect({ name, keepalived: ka.status, stderr: ka.stderr.trim() }).toMatchObject({ keepalived: VERDICTS[name] });
    expect({ name, ours: mine.code, report: mine.report }).toMatchObject({ ours: ka.status });
  });

  // The one deliberate disagreement: keepalived 2.2.7 -t prints "Config files
  // missing" and exits 0 when the main file does not exist; lvsd says 4
  // ("cannot run"), which is what the file's absence means.
  if (live) it('a missing main config: keepalived -t exits 0, lvsd 4 on purpose', () => {
    const missing = path.join(tmp, 'no-such-dir', 'keepalived.conf');
    expect(keepalivedTest(missing).status).toBe(0);
    expect(ours(missing).code).toBe(4);
  });

  // What lvsd writes back out must be a config keepalived takes as it is.
  if (live) it.each(fixtures.filter((f) => VERDICTS[f] === 0))('%s: toKeepalivedConf output is clean for keepalived -t', (name) => {
    const dump = path.join(tmp, `dump-${name}`);
    const loaded = loadConfig(path.join(tmp, name), { configId: CONFIG_ID });
    const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
    if (errors.length) {
      // keepalived takes it, lvs-keepalived refuses it (e.g. VRRPv2 over IPv6, IPv6 fwmark services): nothing to write back; every refusal is lvsd's only.
      expect(errors.map((d) => d.ka)).toEqual(errors.map(() => 'OK'));
      return;
    }
    fs.writeFileSync(dump, toKeepalivedConf(loaded.model));
    const ka = keepalivedTest(dump);
    expect({ name, keepalived: ka.status, stderr: ka.stderr.trim() }).toMatchObject({ keepalived: 0 });
  });

  // Without keepalived (outside CI) the recorded verdicts stand in for it.
  if (!live) it.each(fixtures.filter((f) => !f.startsWith('sec-') && !f.includes('interface')))(
    '%s: recorded keepalived verdict (no keepalived here)', (name) => {
      nsIfaces = new Set(['lo', 'eth0']);
      const mine = ours(path.join(tmp, name));
      expect({ name, ours: mine.code, report: mine.report }).toMatchObject({ ours: VERDICTS[name] });
    });
});
