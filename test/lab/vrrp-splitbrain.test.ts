// Split brain, as the seed's notes ask: two lvs-keepalived directors with a
// reference address (the client's .1 standing in for the gateway). Cut one
// director off — by link down, or by a switch port that stops forwarding
// while the carrier stays up — and check, from the kernels' own address
// events, that no two nodes the client can reach ever hold the VIP together.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Lab, waitFor, missingPrerequisites } from '../../lab/netns.js';
import { buildLan } from '../../lab/topology.js';
import { pairConf, startDaemon, holdsVip, type Daemon } from '../../lab/vrrp-testbed.js';
import { AddrMonitor, holdIntervals, overlaps, switchPort, sleep } from './vrrp-helpers.js';

const missing = await missingPrerequisites(['ip', 'bridge', 'node']);
if (missing.length && process.env.CI === 'true') throw new Error(`VRRP lab prerequisites missing: ${missing.join(', ')}`);
const built = spawnSync('test', ['-f', join(process.cwd(), 'dist/lab/lvs-vrrp.js')]).status === 0;
if (!built && process.env.CI === 'true') throw new Error('dist/lab/lvs-vrrp.js missing: run npx tsc -p tsconfig.json first');

describe.skipIf(missing.length > 0 || !built)('VRRP split brain with a reference address', () => {
  let lab: Lab;
  let daemons: Daemon[] = [];
  let mons: AddrMonitor[] = [];
  let ports: Record<string, string> = {};
  const common = { version: 3 as const, advertInt: 0.1, referenceIp: '192.168.150.1' };
  /** A preemption handover may overlap by less than one advert interval; a split brain lasts longer. */
  const HANDOVER_MS = 100;

  beforeAll(async () => {
    lab = new Lab('vsb');
    await buildLan(lab, 'dr', { directors: 2, vipOnDirector: false, servers: false, rsCount: 0, ipv6: true });
    ports = { dir: await switchPort(lab, 'dir'), dir2: await switchPort(lab, 'dir2') };
  }, 60_000);
  afterAll(async () => { await lab?.destroy(); }, 60_000);
  afterEach(async () => {
    for (const d of daemons) d.kill9();
    for (const m of mons) m.proc.kill('SIGKILL');
    for (const p of Object.values(ports)) {
      await lab.exec('sw', ['ip', 'link', 'set', p, 'up'], { check: false });
      await lab.exec('sw', ['bridge', 'link', 'set', 'dev', p, 'state', '3'], { check: false });
    }
    await sleep(300);
    daemons = []; mons = [];
  }, 30_000);

  async function pair(referenceIp = common.referenceIp): Promise<void> {
    mons = [new AddrMonitor(lab, 'dir'), new AddrMonitor(lab, 'dir2')];
    await sleep(200);
    const a = startDaemon(lab, 'dir', 'ours', pairConf({ ...common, referenceIp, state: 'MASTER', priority: 100 }, 'ours'));
    daemons.push(a);
    await waitFor(() => holdsVip(lab, 'dir'), 5000, 20, 'dir to hold the VIP');
    const b = startDaemon(lab, 'dir2', 'ours', pairConf({ ...common, referenceIp, state: 'BACKUP', priority: 50 }, 'ours'));
    daemons.push(b);
    await waitFor(() => b.proc.output().includes('VRRP started'), 5000, 20, 'dir2 to start');
    await sleep(800);
    expect(await holdsVip(lab, 'dir2')).toBe(false);
  }
  const events = () => mons.flatMap((m) => m.events());
  /** Did `host` hold the VIP at any moment in [from, to]? */
  const heldDuring = (host: string, from: number, to: number) =>
    (holdIntervals(events()).get(host) ?? []).some(([s, e]) => s < to && e > from);

  it('master link down: it goes FAULT and drops the VIP; the backup takes over; heal → preemption, never two holders', async () => {
    await pair();
    const tCut = Date.now();
    await lab.exec('sw', ['ip', 'link', 'set', ports.dir!, 'down']);
    await waitFor(() => holdsVip(lab, 'dir2'), 3000, 10, 'dir2 to take over');
    await sleep(1000);
    const tHeal = Date.now();
    // The cut master let go at once (carrier loss is a fault of the tracked interface).
    expect(heldDuring('dir', tCut + 50, tHeal)).toBe(false);
    expect(daemons[0]!.proc.output()).toContain('"to":"FAULT"');
    await lab.exec('sw', ['ip', 'link', 'set', ports.dir!, 'up']);
    await waitFor(async () => (await holdsVip(lab, 'dir')) && !(await holdsVip(lab, 'dir2')), 5000, 20, 'dir to preempt back');
    await sleep(300);
    const both = overlaps(events(), tCut);
    console.log(`link down: overlaps after the cut ${JSON.stringify(both.map(([s, e]) => e - s))} ms`);
    // Only the preemption handover may overlap: the old master lets go when it hears the new one's
    // first advert, a few ms on a quiet host (17 ms seen in CI). A split brain would last adverts
    // (100 ms each) or more, so the bound is one advert interval.
    for (const [s, e] of both) { expect(e - s).toBeLessThan(HANDOVER_MS); expect(s).toBeGreaterThan(tHeal); }
  }, 60_000);

  it('backup isolated with its carrier up: it hears nobody, cannot reach the reference, goes FAULT instead of MASTER', async () => {
    await pair();
    const tCut = Date.now();
    await lab.exec('sw', ['bridge', 'link', 'set', 'dev', ports.dir2!, 'state', '0']);
    await sleep(2000);
    const tHeal = Date.now();
    const out = daemons[1]!.proc.output();
    expect(out).toContain('isolated');
    expect(out).toContain('"to":"FAULT"');
    expect(heldDuring('dir2', tCut, tHeal)).toBe(false);
    expect(await holdsVip(lab, 'dir')).toBe(true);
    await lab.exec('sw', ['bridge', 'link', 'set', 'dev', ports.dir2!, 'state', '3']);
    await waitFor(() => daemons[1]!.proc.output().includes('"from":"FAULT","to":"BACKUP"'), 5000, 20, 'dir2 back to BACKUP');
    await sleep(1000);
    expect(await holdsVip(lab, 'dir2')).toBe(false);
    expect(overlaps(events(), tCut)).toEqual([]);
  }, 60_000);

  it('an IPv6 reference (the client\'s 2001:db8:150::1, ICMPv6 echo): reachable while joined; the isolated backup goes FAULT, not MASTER', async () => {
    await pair('2001:db8:150::1');
    await sleep(1500);
    expect(daemons[1]!.proc.output()).not.toContain('reference unreachable');
    const tCut = Date.now();
    await lab.exec('sw', ['bridge', 'link', 'set', 'dev', ports.dir2!, 'state', '0']);
    await sleep(2000);
    const tHeal = Date.now();
    const out = daemons[1]!.proc.output();
    expect(out).toContain('isolated');
    expect(out).toContain('"to":"FAULT"');
    expect(heldDuring('dir2', tCut, tHeal)).toBe(false);
    expect(await holdsVip(lab, 'dir')).toBe(true);
    await lab.exec('sw', ['bridge', 'link', 'set', 'dev', ports.dir2!, 'state', '3']);
    await waitFor(() => daemons[1]!.proc.output().includes('"from":"FAULT","to":"BACKUP"'), 5000, 20, 'dir2 back to BACKUP');
    expect(overlaps(events(), tCut)).toEqual([]);
  }, 60_000);

  it('master isolated with its carrier up: it loses the reference and resigns; the backup serves; heal → one holder at a time', async () => {
    await pair();
    const tCut = Date.now();
    await lab.exec('sw', ['bridge', 'link', 'set', 'dev', ports.dir!, 'state', '0']);
    await waitFor(() => holdsVip(lab, 'dir2'), 3000, 10, 'dir2 to take over');
    await waitFor(async () => !(await holdsVip(lab, 'dir')), 3000, 10, 'isolated dir to drop the VIP');
    const dropped = holdIntervals(events()).get('dir')!.at(-1)![1] - tCut;
    console.log(`isolated master dropped the VIP ${dropped} ms after the cut`);
    await sleep(1000);
    const tHeal = Date.now();
    await lab.exec('sw', ['bridge', 'link', 'set', 'dev', ports.dir!, 'state', '3']);
    await waitFor(async () => (await holdsVip(lab, 'dir')) && !(await holdsVip(lab, 'dir2')), 5000, 20, 'dir to preempt back');
    await sleep(300);
    // While cut, the two holders were on opposite sides of the cut: the client could only reach dir2.
    for (const [s, e] of overlaps(events(), tCut)) {
      const visibleBoth = s >= tHeal;
      if (visibleBoth) expect(e - s).toBeLessThan(HANDOVER_MS);
      else expect(e).toBeLessThanOrEqual(tHeal);
    }
  }, 60_000);
});
