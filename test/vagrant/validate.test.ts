// The Vagrant lab's Vagrantfile is valid (Debian's vagrant validates it
// without a provider), and its provisioning reuses the namespace lab's RS scripts.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const dir = join(import.meta.dirname, '..', '..', 'vagrant');
const hasVagrant = (() => { try { execFileSync('sh', ['-c', 'command -v vagrant']); return true; } catch { return false; } })();

describe('vagrant lab', () => {
  if (!hasVagrant && process.env.CI === 'true') throw new Error('vagrant is not installed (scripts/setup.sh installs it)');
  it.skipIf(!hasVagrant)('vagrant validate accepts the Vagrantfile', () => {
    const out = execFileSync('vagrant', ['validate', '--ignore-provider'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(out).toContain('Vagrantfile validated successfully');
  });
  it('provisions real servers with the same scripts as the namespace lab', () => {
    const rs = readFileSync(join(dir, 'provision', 'rs.sh'), 'utf8');
    for (const s of ['rs-arp.sh', 'rs-vip.sh', 'httpd.mjs']) {
      expect(rs).toContain(s);
      expect(existsSync(join(dir, '..', 'lab', 'rs', s))).toBe(true);
    }
  });
});
