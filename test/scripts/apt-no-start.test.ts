// scripts/apt-no-start.sh: setup.sh's policy-rc.d is there only while apt-get
// install runs, puts back a policy-rc.d the machine already had, and setup.sh
// never kills a process by name (a user's own keepalived/haproxy/nginx).
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const lib = join(root, 'scripts', 'apt-no-start.sh');

function sh(policy: string, body: string): string {
  return execFileSync('bash', ['-euo', 'pipefail', '-c', `log() { :; }; POLICY_RC=${policy}; source ${lib}; ${body}`], { encoding: 'utf8' });
}

describe('apt-no-start.sh', () => {
  it('installs an exit-101 policy-rc.d for the install and removes it after when there was none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-policy-'));
    try {
      const p = join(dir, 'policy-rc.d');
      const during = sh(p, `policy_rc_block; "$POLICY_RC" x start >/dev/null || echo "rc=$?"`);
      expect(during.trim()).toBe('rc=101');
      sh(p, 'policy_rc_restore');
      expect(existsSync(p)).toBe(false);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('puts back a pre-existing policy-rc.d byte for byte, mode kept, and is idempotent', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lvsd-policy-'));
    try {
      const p = join(dir, 'policy-rc.d');
      const theirs = '#!/bin/sh\n# the admin\'s own\nexit 0\n';
      writeFileSync(p, theirs, { mode: 0o750 });
      sh(p, 'policy_rc_block; policy_rc_block'); // a second block (an earlier run killed mid-install) keeps theirs saved
      expect(readFileSync(p, 'utf8')).toContain('exit 101');
      sh(p, 'policy_rc_restore; policy_rc_restore');
      expect(readFileSync(p, 'utf8')).toBe(theirs);
      expect(statSync(p).mode & 0o777).toBe(0o750);
      expect(existsSync(`${p}.lvsd-saved`)).toBe(false);
    } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('setup.sh kills no process and stops no service', () => {
    const setup = readFileSync(join(root, 'scripts', 'setup.sh'), 'utf8') + readFileSync(lib, 'utf8');
    const code = setup.split('\n').filter((l) => !l.trim().startsWith('#') && !l.includes('[pkill]=procps')).join('\n');
    expect(code).not.toMatch(/\b(pkill|killall|kill)\b/);
    expect(code).not.toMatch(/--now|systemctl (stop|restart)/);
  });
});
