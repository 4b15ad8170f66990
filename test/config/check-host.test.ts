import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkHost, configTestExitCode, parseConfigText, type Diagnostic } from '../../src/config/index.js';
import { insecureComponent } from '../../src/core/script-security.js';

// Permissions only mean something to keepalived's rules when files are root's.
const root = process.getuid?.() === 0;
// Script-security rules depend on file ownership by root; CI runs as root, so there they must run.
if (!root && process.env.CI === 'true') throw new Error('check-host script-security tests need root (CI runs as root)');
let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lvcfg-host-'));
  fs.chmodSync(dir, 0o755);
  const body = '#!/bin/sh\nexit 0\n';
  fs.writeFileSync(path.join(dir, 'safe.sh'), body, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'unsafe.sh'), body);
  fs.chmodSync(path.join(dir, 'unsafe.sh'), 0o777);
  fs.writeFileSync(path.join(dir, 'noexec.sh'), body, { mode: 0o644 });
  fs.mkdirSync(path.join(dir, 'open'));
  fs.chmodSync(path.join(dir, 'open'), 0o777);
  fs.writeFileSync(path.join(dir, 'open', 'x.sh'), body, { mode: 0o755 });
  fs.mkdirSync(path.join(dir, 'sticky'));
  fs.chmodSync(path.join(dir, 'sticky'), 0o1777);
  fs.writeFileSync(path.join(dir, 'sticky', 'x.sh'), body, { mode: 0o755 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const users = (name: string) => (name === 'root' ? { uid: 0, gid: 0 } : name === 'nobody' ? { uid: 65534, gid: 65534 } : undefined);
const host = { interfaceExists: (n: string) => n === 'eth0', lookupUser: users, pathEnv: '' };

function run(text: string): Diagnostic[] {
  const r = parseConfigText(text, 'h.conf');
  expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return checkHost(r.model, { ...host, pathEnv: dir });
}
const brief = (ds: Diagnostic[]) => ds.map((d) => `${d.line}:${d.col} ${d.severity} ${d.ka}`);

const tracked = (script: string, security = true, user = 'script_user root') => `global_defs {
    ${security ? 'enable_script_security' : 'router_id A'}
    ${user}
}
vrrp_script chk {
    script "${script}"
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 5
    virtual_ipaddress {
        10.0.0.1/24
    }
    track_script {
        chk
    }
    notify_master ${path.join(os.tmpdir(), 'lvcfg-no-such-notify.sh')}
}
`;

describe('checkHost: interfaces', () => {
  it('an instance interface that does not exist is an error at the instance', () => {
    const r = parseConfigText(tracked('/bin/true').replace('interface eth0', 'interface eth9').replace('track_script {\n        chk\n    }', ''), 'h.conf');
    const d = checkHost(r.model, host).filter((x) => x.message.includes('eth9'));
    expect(brief(d)).toEqual(['8:1 error GENERAL_ERROR']);
  });
});

describe.skipIf(!root)('checkHost: script security (keepalived lib/notify.c rules)', () => {
  it('root-owned, not group/world-writable, under enable_script_security: clean', () => {
    expect(run(tracked(`${dir}/safe.sh`)).filter((d) => d.severity !== 'warning')).toEqual([]);
  });

  it('any script without enable_script_security: SECURITY VIOLATION (keepalived -t exits 6)', () => {
    const d = run(tracked(`${dir}/safe.sh`, false, ''));
    expect(brief(d.filter((x) => x.severity === 'error'))).toEqual(['5:1 error SECURITY_ERROR']);
    expect(configTestExitCode(d)).toBe(6);
  });

  it('a world-writable script, or one in a world-writable directory without the sticky bit, disables the track script', () => {
    for (const s of [`${dir}/unsafe.sh`, `${dir}/open/x.sh`]) {
      const d = run(tracked(s)).filter((x) => x.severity === 'error');
      expect(brief(d)).toEqual(['5:1 error GENERAL_ERROR']);
      expect(d[0]!.message).toContain('insecure');
    }
    expect(insecureComponent(`${dir}/sticky/x.sh`)).toBeUndefined();
    expect(insecureComponent(`${dir}/open/x.sh`)).toBe(`${dir}/open`);
  });

  it('missing track script is an error; a missing notify script only a warning', () => {
    const d = run(tracked(`${dir}/missing.sh`));
    expect(brief(d)).toEqual(['5:1 error GENERAL_ERROR', '8:1 warning OK']);
  });

  it('not executable: disabled with a warning; bare names are searched in PATH; "</file" is not a script', () => {
    expect(brief(run(tracked(`${dir}/noexec.sh`)).filter((x) => x.message.includes('noexec')))).toEqual(['5:1 warning OK']);
    expect(run(tracked('safe.sh --flag')).filter((x) => x.severity === 'error')).toEqual([]);
    expect(run(tracked('</etc/hostname')).filter((x) => x.severity === 'error')).toEqual([]);
  });

  it('enable_script_security with no script_user and no keepalived_script user: error', () => {
    const d = run(tracked(`${dir}/safe.sh`, true, ''));
    expect(d.filter((x) => x.severity === 'error').map((x) => x.message)).toEqual(['unable to set default user keepalived_script for scripts']);
  });

  it('MISC_CHECK scripts count on the checker side', () => {
    const d = run(`virtual_server 10.0.0.1 80 {
    lvs_sched rr
    lvs_method DR
    protocol TCP
    real_server 10.0.1.1 80 {
        MISC_CHECK {
            misc_path "${dir}/unsafe.sh arg"
        }
    }
}
`);
    expect(d.map((x) => `${x.severity} ${x.ka} ${x.message.split(':')[0]}`)).toEqual([
      'note OK unsafe permissions for misc script ' + `${dir}/unsafe.sh`,
      'error SECURITY_ERROR SECURITY VIOLATION - check scripts are being executed but script_security not enabled',
    ]);
  });
});
