// vrrp_script with weight 0 → FAULT, vrrp_sync_group members following each
// other, notify scripts with keepalived's arguments, track_interface weights,
// and SIGTERM's clean exit — one director running lvs-keepalived's VRRP.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, rmSync, chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, waitFor, missingPrerequisites } from '../../lab/netns.js';
import { buildLan } from '../../lab/topology.js';
import { startDaemon, holdsVip, scratch, type Daemon } from '../../lab/vrrp-testbed.js';
import { sleep } from './vrrp-helpers.js';

const missing = await missingPrerequisites(['ip', 'node']);
if (missing.length && process.env.CI === 'true') throw new Error(`VRRP lab prerequisites missing: ${missing.join(', ')}`);
const built = spawnSync('test', ['-f', join(process.cwd(), 'dist/lab/lvs-vrrp.js')]).status === 0;
if (!built && process.env.CI === 'true') throw new Error('dist/lab/lvs-vrrp.js missing: run npx tsc -p tsconfig.json first');

describe.skipIf(missing.length > 0 || !built)('VRRP tracking, sync groups and notify', () => {
  let lab: Lab;
  let d: Daemon | undefined;
  beforeAll(async () => {
    lab = new Lab('vtk');
    await buildLan(lab, 'dr', { directors: 1, vipOnDirector: false, servers: false, rsCount: 0 });
    await lab.exec('dir', ['ip', 'link', 'add', 'eth9', 'type', 'veth', 'peer', 'name', 'eth9p']);
    await lab.exec('dir', ['ip', 'link', 'set', 'eth9', 'up']);
    await lab.exec('dir', ['ip', 'link', 'set', 'eth9p', 'up']);
  }, 60_000);
  afterAll(async () => { d?.kill9(); await lab?.destroy(); }, 60_000);

  it('a failing weight-0 script faults its instance and, through the sync group, the other one; notify sees each state', async () => {
    const dir = scratch(lab);
    const okFile = join(dir, 'healthy');
    const notifyLog = join(dir, 'notify.log');
    const notify = join(dir, 'notify.sh');
    writeFileSync(notify, `#!/bin/sh\necho "$@" >> ${notifyLog}\n`);
    chmodSync(notify, 0o755);
    writeFileSync(okFile, '');
    const conf = `
vrrp_script chk {
  script "test -f ${okFile}"
  interval 1
  weight 0
  rise 1
  fall 1
}
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
  notify ${notify}
}
vrrp_instance VI_1 {
  state MASTER
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 0.1
  version 3
  track_script {
    chk
  }
  notify ${notify}
  virtual_ipaddress {
    192.168.150.100/24 dev eth0 label eth0:3
  }
}
vrrp_instance VI_2 {
  state MASTER
  interface eth0
  virtual_router_id 52
  priority 100
  advert_int 0.1
  version 3
  track_interface {
    eth9 weight -30
  }
  virtual_ipaddress {
    192.168.150.101/24 dev eth0
  }
}
`;
    d = startDaemon(lab, 'dir', 'ours', conf);
    await waitFor(async () => (await holdsVip(lab, 'dir')) && (await holdsVip(lab, 'dir', '192.168.150.101')), 8000, 20, 'both VIPs')
      .catch((e) => { throw new Error(`${e}\n${d!.proc.output()}`); });

    rmSync(okFile);
    await waitFor(async () => !(await holdsVip(lab, 'dir')) && !(await holdsVip(lab, 'dir', '192.168.150.101')), 4000, 20, 'both VIPs to go');
    const out = d.proc.output();
    expect(out).toMatch(/"instance":"VI_1","from":"MASTER","to":"FAULT","reason":"fault: script:chk"/);
    expect(out).toMatch(/"instance":"VI_2","from":"MASTER","to":"FAULT","reason":"fault: sync-group"/);

    writeFileSync(okFile, '');
    await waitFor(async () => (await holdsVip(lab, 'dir')) && (await holdsVip(lab, 'dir', '192.168.150.101')), 5000, 20, 'both VIPs back');

    // track_interface with a weight changes the priority, not the state.
    await lab.exec('dir', ['ip', 'link', 'set', 'eth9p', 'down']);
    await waitFor(() => d!.proc.output().includes('Changing effective priority from 100 to 70'), 3000, 20, 'priority 70');
    expect(await holdsVip(lab, 'dir', '192.168.150.101')).toBe(true);

    d.term();
    const code = await d.proc.exited;
    expect(code).toBe(0);
    expect(await holdsVip(lab, 'dir')).toBe(false);
    expect(await holdsVip(lab, 'dir', '192.168.150.101')).toBe(false);
    await sleep(300);
    const all = existsSync(notifyLog) ? readFileSync(notifyLog, 'utf8').trim().split('\n') : [];
    expect(all.filter((l) => l.startsWith('GROUP'))).toEqual([
      'GROUP G BACKUP 0', 'GROUP G MASTER 0', 'GROUP G FAULT 0', 'GROUP G BACKUP 0', 'GROUP G MASTER 0', 'GROUP G STOP 0',
    ]);
    const lines = all.filter((l) => l.startsWith('INSTANCE'));
    expect(lines).toEqual([
      'INSTANCE VI_1 BACKUP 100', 'INSTANCE VI_1 MASTER 100', 'INSTANCE VI_1 FAULT 100',
      'INSTANCE VI_1 BACKUP 100', 'INSTANCE VI_1 MASTER 100', 'INSTANCE VI_1 STOP 100',
    ]);
  }, 60_000);
  it('virtual_routes and virtual_rules follow the VIPs: added after them as MASTER, removed on FAULT and stop; a kill -9\'s are removed by the next start', async () => {
    const dir = scratch(lab);
    const okFile = join(dir, 'healthy-routes');
    writeFileSync(okFile, '');
    const conf = `
vrrp_script chk {
  script "test -f ${okFile}"
  interval 1
  weight 0
  rise 1
  fall 1
}
vrrp_instance VR_1 {
  state MASTER
  interface eth0
  virtual_router_id 61
  priority 100
  advert_int 0.1
  version 3
  track_script {
    chk
  }
  virtual_ipaddress {
    192.168.150.110/24 dev eth0
  }
  virtual_routes {
    10.92.0.0/24 dev eth0 src 192.168.150.110
    default via 192.168.150.254 dev eth0 table 91
  }
  virtual_rules {
    from 192.168.150.110 table 91 priority 900
  }
}
`;
    const routes = async () => (await lab.exec('dir', ['ip', '-4', 'route', 'show', 'table', 'all'])).stdout;
    const rules = async () => (await lab.exec('dir', ['ip', '-4', 'rule', 'show'])).stdout;
    const held = async () => /^10\.92\.0\.0\/24 dev eth0 .*src 192\.168\.150\.110/m.test(await routes())
      && /^default via 192\.168\.150\.254 dev eth0 table 91/m.test(await routes()) && /^900:\s+from 192\.168\.150\.110 lookup 91/m.test(await rules());
    const gone = async () => !/10\.92\.0\.0|table 91/.test(await routes()) && !/lookup 91/.test(await rules());
    expect(await gone()).toBe(true);
    let v = startDaemon(lab, 'dir', 'ours', conf);
    try {
      await waitFor(async () => (await holdsVip(lab, 'dir', '192.168.150.110')) && held(), 8000, 20, 'VIP, routes and rule').catch((e) => { throw new Error(`${e}\n${v.proc.output()}`); });
      rmSync(okFile);
      await waitFor(async () => !(await holdsVip(lab, 'dir', '192.168.150.110')) && gone(), 4000, 20, 'all gone on FAULT');
      writeFileSync(okFile, '');
      await waitFor(async () => (await holdsVip(lab, 'dir', '192.168.150.110')) && held(), 5000, 20, 'all back as MASTER');
      v.term();
      expect(await v.proc.exited).toBe(0);
      expect(await gone()).toBe(true);
      expect(await holdsVip(lab, 'dir', '192.168.150.110')).toBe(false);
      expect(v.proc.output()).not.toMatch(/reported errors/);

      // kill -9: the VIP watchdog removes the VIP (and the kernel the route whose source it was); the rule and
      // the table-91 route stay until the next start (here straight into FAULT) removes them before it joins.
      v = startDaemon(lab, 'dir', 'ours', conf);
      await waitFor(async () => held(), 8000, 20, 'routes held again');
      v.kill9();
      await v.proc.exited;
      expect(await rules()).toMatch(/^900:\s+from 192\.168\.150\.110 lookup 91/m);
      expect(await routes()).toMatch(/^default via 192\.168\.150\.254 dev eth0 table 91/m);
      rmSync(okFile);
      v = startDaemon(lab, 'dir', 'ours', conf);
      await waitFor(async () => (await gone()) && !(await holdsVip(lab, 'dir', '192.168.150.110')), 8000, 20, 'the stale routes, rule and VIP removed');
      v.term();
      await v.proc.exited;
    } finally {
      v.kill9();
    }
  }, 60_000);
});
