import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runScript, scriptPolicy } from '../../src/core/notify.js';

describe('runScript', () => {
  it('reports exit code and signal', async () => {
    expect(await runScript('exit 4')).toEqual({ code: 4, signal: null, timedOut: false });
    const killed = await runScript('kill -9 $$');
    expect(killed.signal).toBe('SIGKILL');
  });
});

const root = process.getuid?.() === 0;
// Running as another user needs root; CI runs as root, so there these must run.
if (!root && process.env.CI === 'true') throw new Error('script_user tests need root (CI runs as root)');

describe.runIf(root)('runScript as the configuration says (script_user, user, enable_script_security)', () => {
  // A root-owned 0755 tree for the scripts (secure, and nobody may run them),
  // and a 0777 directory the scripts write their answers to.
  const base = mkdtempSync(join(tmpdir(), 'lvsd-notify-'));
  chmodSync(base, 0o755);
  const mk = (name: string, body: string, dir = base): string => {
    const f = join(dir, name);
    writeFileSync(f, `#!/bin/sh\n${body}\n`);
    chmodSync(f, 0o755);
    return f;
  };
  const outDir = mkdtempSync(join(base, 'out-'));
  chmodSync(outDir, 0o777);
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('a script that writes `id -u` runs as global_defs script_user', async () => {
    const file = join(outDir, 'uid-script-user');
    const script = mk('whoami.sh', `id -u > ${file}`);
    const policy = scriptPolicy({ script_user: { user: 'nobody' }, enable_script_security: true });
    expect(await runScript(script, { policy })).toEqual({ code: 0, signal: null, timedOut: false });
    expect(readFileSync(file, 'utf8').trim()).toBe('65534');
  });

  it("a script's own `user USER GROUP` wins over script_user", async () => {
    const file = join(outDir, 'uid-own-user');
    const script = mk('whoami-own.sh', `echo "$(id -u):$(id -g)" > ${file}`);
    const policy = scriptPolicy({ script_user: { user: 'root' }, enable_script_security: true });
    expect((await runScript(script, { policy, user: 'nobody nogroup' })).code).toBe(0);
    expect(readFileSync(file, 'utf8').trim()).toBe('65534:65534');
  });

  it('appends notify arguments to the command line', async () => {
    const file = join(outDir, 'args');
    const script = mk('args.sh', `echo "$@" > ${file}`);
    await runScript(`${script} first`, { args: ['INSTANCE', 'VI_1', 'MASTER', '100'] });
    expect(readFileSync(file, 'utf8').trim()).toBe('first INSTANCE VI_1 MASTER 100');
  });

  it('under enable_script_security a root script in a world-writable directory is refused, not run', async () => {
    const file = join(outDir, 'ran-insecure');
    const script = mk('insecure.sh', `touch ${file}`, outDir);
    const refused = await runScript(script, { policy: scriptPolicy({ script_user: { user: 'root' }, enable_script_security: true }) });
    expect(refused.error).toMatch(/insecure permissions: .*out-/);
    expect(() => readFileSync(file)).toThrow();
    // Without enable_script_security keepalived runs it (and `-t` reports the violation).
    expect((await runScript(script, { policy: scriptPolicy({ script_user: { user: 'root' }, enable_script_security: false }) })).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('');
  });
});
