// The VRRP runtime driven without a daemon: the real state machines, a fake
// clock and timers, and recorded I/O (adverts, VIPs, notify scripts, watchdog).
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { ipToU32 } from '../../src/packet/addr.js';
import { vrrpData, type InstanceSpec } from '../../src/vrrp/data.js';
import { VrrpScheduler, type StateChange } from '../../src/vrrp/scheduler.js';
import { fakeIo } from './helpers.js';

const conf = `
vrrp_script chk {
  script "/bin/true"
  interval 1
  weight 0
  user nobody nogroup
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  track_script {
    chk
  }
  notify /etc/lvs/notify.sh
  notify_master "/etc/lvs/master.sh now"
  virtual_ipaddress {
    192.168.150.100/24
  }
}
`;

describe('VrrpScheduler with fake I/O', () => {
  const data = vrrpData(parseConfigText(conf).model, () => '192.168.150.11');

  it('maps the vrrp_script with its own user', () => {
    expect(data.scripts).toEqual([expect.objectContaining({ name: 'chk', user: { user: 'nobody', group: 'nogroup' }, intervalMs: 1000 })]);
    expect(data.instances[0]!.scripts).toEqual([{ name: 'chk', id: 'script:chk', weight: 0, reverse: false }]);
  });

  it('BACKUP → MASTER on master-down, → BACKUP on a higher-priority advert, → FAULT when a weight-0 script fails', async () => {
    const f = fakeIo();
    const changes: StateChange[] = [];
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
    const s = new VrrpScheduler(data.instances, f.io, { log, onStateChange: (c) => changes.push(c) });
    s.scriptState('chk', true);
    s.start();
    expect(s.instances.get('VI_1')!.state).toBe('BACKUP');
    expect(f.ev).toContain('notify /etc/lvs/notify.sh INSTANCE VI_1 BACKUP 100');

    // No master heard: the master-down interval (3 × 1 s + skew 0.61 s) passes, it takes over.
    f.ev.length = 0;
    f.advance(3700);
    expect(s.instances.get('VI_1')!.state).toBe('MASTER');
    expect(f.ev).toEqual(expect.arrayContaining([
      'vips add', 'garp 192.168.150.100 x1', 'advert prio 100 to 224.0.0.18',
      'notify /etc/lvs/master.sh now', 'notify /etc/lvs/notify.sh INSTANCE VI_1 MASTER 100', 'watchdog vips=1 masters=1',
    ]));
    expect(s.metrics().instances[0]).toMatchObject({ state: 'MASTER', becomeMaster: 1, vipsHeld: true });

    // A peer with priority 200 speaks: this one yields.
    f.ev.length = 0;
    s.onAdvert('eth0', 51, { priority: 200, maxAdverIntCs: 100, src: ipToU32('192.168.150.12') }, '192.168.150.12');
    expect(s.instances.get('VI_1')!.state).toBe('BACKUP');
    expect(f.ev).toEqual(expect.arrayContaining(['vips del', 'notify /etc/lvs/notify.sh INSTANCE VI_1 BACKUP 100']));
    expect(s.metrics().instances[0]).toMatchObject({ advertsReceived: 1, releaseMaster: 1, vipsHeld: false });

    // The tracked script fails: weight 0 means FAULT.
    f.ev.length = 0;
    s.scriptState('chk', false);
    expect(s.instances.get('VI_1')!.state).toBe('FAULT');
    expect(s.metrics().instances[0]!.faults).toEqual(['script:chk']);
    expect(f.ev).toContain('notify /etc/lvs/notify.sh INSTANCE VI_1 FAULT 100');
    expect(changes.map((c) => `${c.from}>${c.to}`)).toEqual(['INIT>BACKUP', 'BACKUP>MASTER', 'MASTER>BACKUP', 'BACKUP>FAULT']);

    await s.stop(true);
    expect(f.timers.size).toBe(0);
  });

  it('counts a packet for an unknown VRID as unattributed', () => {
    const f = fakeIo();
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
    const s = new VrrpScheduler(data.instances, f.io, { log });
    s.onBadPacket('eth0', 77, 'unknown-vrid', 'VRID 77 is not configured here', '192.168.150.12');
    s.onBadPacket('eth0', 51, 'bad-ttl', 'ttl 64', '192.168.150.12');
    expect(s.metrics().unattributed['unknown-vrid']).toBe(1);
    expect(s.metrics().instances[0]!.badPackets['bad-ttl']).toBe(1);
  });
});
