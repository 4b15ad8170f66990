// lvs-keepalived with both halves on the seed's MASTER config: VRRP brings
// the VIP up on the director (buildLan leaves it off), the checkers fill
// lvsd, clients reach both real servers through the VIP, --metrics shows
// VRRP state and checker verdicts, and SIGTERM takes the VIP and the
// services away while lvsd stays up. keepalived's dump signals write its
// data, stats and JSON files, which keepalived_exporter reads.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, missingPrerequisites, waitFor, type NsProcess } from '../../lab/netns.js';
import { buildLan, type Topology } from '../../lab/topology.js';
import { curlMany, removeLabSockets, startLvsd, tally, type Lvsd } from '../../lab/director.js';
import { BIN, ROOT } from '../../lab/paths.js';
import type { ServiceStatus } from '../../src/ipvs/types.js';

const SEED = join(ROOT, 'configs', 'seed-dr-ha-master.conf');
const METRICS = '127.0.0.1:9650';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const missing = await missingPrerequisites(['ip', 'curl', 'nft']);
if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);

async function vipOnDirector(lab: Lab, vip: string): Promise<boolean> {
  const { stdout } = await lab.exec('dir', ['ip', '-j', 'addr', 'show', 'dev', 'eth0']);
  return (JSON.parse(stdout) as { addr_info: { local: string }[] }[])[0]!.addr_info.some((a) => a.local === vip);
}

describe.skipIf(missing.length > 0)('lvs-keepalived with VRRP and checkers on the seed MASTER config (lab)', () => {
  const lab = new Lab('kav');
  let topo: Topology;
  let lvsd: Lvsd;
  let ka: NsProcess;
  let kaExit: number | null | undefined;
  const state = mkdtempSync(join(tmpdir(), 'lvs-keepalived-vrrp-'));
  // keepalived writes its dumps to $TMPDIR (default /tmp): a directory of the test's own.
  const dumps = mkdtempSync(join(tmpdir(), 'lvs-keepalived-dumps-'));

  beforeAll(async () => {
    topo = await buildLan(lab, 'dr', { vipOnDirector: false });
    lvsd = await startLvsd(lab, 'dir', { interfaces: ['eth0'] });
  }, 120_000);

  afterAll(async () => {
    try {
      if (ka && kaExit === undefined) ka.kill('SIGKILL');
    } finally {
      await lab.destroy();
      removeLabSockets(lab);
      rmSync(state, { recursive: true, force: true });
      rmSync(dumps, { recursive: true, force: true });
    }
  });

  it('VRRP takes the VIP, the checkers fill lvsd, the client reaches both real servers', async () => {
    expect(await vipOnDirector(lab, topo.vip)).toBe(false);
    ka = lab.spawn('dir', ['node', BIN.keepalived, '-n', '-l', '-f', SEED, '--socket', lvsd.socket, '--state-dir', state, '--metrics', METRICS],
      { env: { ...process.env, TMPDIR: dumps } });
    void ka.exited.then((c) => { kaExit = c; });
    await waitFor(async () => {
      if (kaExit !== undefined) throw new Error(`lvs-keepalived exited ${kaExit}`);
      return await vipOnDirector(lab, topo.vip);
    }, 15_000, 100, 'VRRP to put the VIP on eth0').catch((e: Error) => { throw new Error(`${e.message}\n${ka.output()}`); });
    await waitFor(async () => ((await lvsd.call('list-services', {})) as ServiceStatus[])[0]?.dests.length === 2, 10_000, 100, 'both real servers in lvsd');
    const answers = tally(await curlMany(lab, 'client', `http://${topo.vip}/`, 10));
    expect(answers, JSON.stringify(answers)).toEqual({ 'from rs1': 5, 'from rs2': 5 });
  });

  it('--metrics serves VRRP state and checker verdicts', async () => {
    const text = await waitFor(async () => {
      const { stdout } = await lab.exec('dir', ['curl', '-s', '--max-time', '2', `http://${METRICS}/metrics`], { check: false });
      return /lvs_keepalived_checker_up\{[^}]*192\.168\.150\.13[^}]*\} 1/.test(stdout) && /lvs_keepalived_checker_up\{[^}]*192\.168\.150\.12[^}]*\} 1/.test(stdout) ? stdout : '';
    }, 15_000, 200, 'checker verdicts in the metrics');
    expect(text).toMatch(/lvs_keepalived_vrrp_state\{instance="VI_1"\} 2/);
    expect(text).toMatch(/lvs_keepalived_real_server_weight\{virtual_server="\[192\.168\.150\.100\]:tcp:80",real_server="\[192\.168\.150\.12\]:tcp:80"\} 1/);
  });

  it("SIGUSR1 / SIGUSR2 / SIGRTMIN+2 write keepalived's data, stats and JSON dumps, and the daemon keeps running", async () => {
    const pid = ka.child.pid!;
    const read = (f: string) => waitFor(() => { try { return readFileSync(join(dumps, f), 'utf8'); } catch { return ''; } }, 5000, 20, f);
    process.kill(pid, 'SIGUSR1');
    const data = await read('keepalived.data');
    expect(data).toMatch(/^------< VRRP Topology >------\n VRRP Instance = VI_1\n/);
    expect(data).toMatch(/^   State = MASTER$/m);
    expect(data).toMatch(new RegExp(`^     ${topo.vip.replace(/\./g, '\\.')}/\\d+ dev eth0 scope global( label \\S+)? set$`, 'm'));
    process.kill(pid, 'SIGUSR2');
    const stats = await read('keepalived.stats');
    expect(stats).toMatch(/^VRRP Instance: VI_1\n  Advertisements:\n    Received: \d+\n    Sent: [1-9]\d*\n  Became master: 1\n/);
    process.kill(pid, 36); // keepalived --signum=JSON
    const json = JSON.parse(await read('keepalived.json')) as { data: { iname: string; state: number; vrid: number }; stats: { advert_sent: number } }[];
    expect(json.map((j) => [j.data.iname, j.data.state])).toEqual([['VI_1', 2]]);
    await sleep(200);
    expect(kaExit, ka.output()).toBeUndefined();
    expect(await vipOnDirector(lab, topo.vip)).toBe(true);
  });

  it('SIGTERM: the VIP and the services go, lvsd stays', async () => {
    ka.kill('SIGTERM');
    const code = await Promise.race([ka.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
    expect(code, ka.output()).toBe(0);
    expect(await vipOnDirector(lab, topo.vip)).toBe(false);
    expect(await lvsd.call('list-services', {})).toEqual([]);
    expect(await lvsd.call('get-info', {})).toMatchObject({ version: expect.any(String) });
  });
});
