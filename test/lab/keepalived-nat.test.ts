// lvs-keepalived on the lab's NAT layout with TCP_CHECK and
// inhibit_on_failure: a real server whose service dies is quiesced (weight
// 0, still listed) rather than removed, no new request goes to it, and it
// gets its weight back when it returns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Lab, missingPrerequisites, run, waitFor, type NsProcess } from '../../lab/netns.js';
import { buildNat, waitListening, type Topology } from '../../lab/topology.js';
import { curlMany, removeLabSockets, startLvsd, tally, type Lvsd } from '../../lab/director.js';
import { BIN, ROOT, RS_DIR } from '../../lab/paths.js';
import { readFileSync } from 'node:fs';
import type { ServiceStatus } from '../../src/ipvs/types.js';

const CONF = join(ROOT, 'test', 'fixtures', 'keepalived', 'lab-nat.conf');

const missing = await missingPrerequisites(['ip', 'curl', 'nft']);
if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);

async function dests(lvsd: Lvsd): Promise<string[]> {
  const list = await lvsd.call('list-services', {}) as ServiceStatus[];
  return (list[0]?.dests ?? []).map((d) => `${d.addr}@${d.weight}/${d.fwd}`).sort();
}

async function killHttpd(lab: Lab, host: string): Promise<void> {
  const { stdout } = await run(['ip', 'netns', 'pids', lab.ns(host)]);
  let killed = 0;
  for (const pid of stdout.split(/\s+/).filter(Boolean)) {
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { continue; }
    if (cmd.includes('httpd.mjs')) { process.kill(Number(pid), 'SIGKILL'); killed++; }
  }
  if (killed === 0) throw new Error(`no httpd found in ${host}`);
}

describe.skipIf(missing.length > 0)('lvs-keepalived, NAT with TCP_CHECK and inhibit_on_failure (lab)', () => {
  const lab = new Lab('kan');
  let topo: Topology;
  let lvsd: Lvsd;
  let ka: NsProcess | undefined;

  beforeAll(async () => {
    topo = await buildNat(lab);
    lvsd = await startLvsd(lab, 'dir', { interfaces: ['eth0', 'eth1'] });
  }, 120_000);

  afterAll(async () => {
    try { ka?.kill('SIGKILL'); } finally {
      await lab.destroy();
      removeLabSockets(lab);
    }
  });

  it('both real servers serve through the VIP', async () => {
    ka = lab.spawn('dir', ['node', BIN.keepalived, '-C', '-l', '-f', CONF, '--socket', lvsd.socket]);
    await waitFor(async () => (await dests(lvsd)).length === 2, 15_000, 100, 'dests in lvsd').catch((e: Error) => { throw new Error(`${e.message}\n${ka!.output()}`); });
    expect(await dests(lvsd)).toEqual(['192.168.150.12@2/masq', '192.168.150.13@2/masq']);
    const answers = tally(await curlMany(lab, 'client', `http://${topo.vip}/`, 10));
    expect(answers, JSON.stringify(answers)).toEqual({ 'from rs1': 5, 'from rs2': 5 });
  });

  it('a dead rs2 is quiesced (weight 0, still listed); every new request goes to rs1', async () => {
    await killHttpd(lab, 'rs2');
    // delay_loop 1 + (connect_timeout 1 + delay_before_retry 1) × (retry 1 + 1) + margin.
    await waitFor(async () => (await dests(lvsd)).join() === '192.168.150.12@2/masq,192.168.150.13@0/masq', 8_000, 100, 'rs2 at weight 0')
      .catch((e: Error) => { throw new Error(`${e.message}\n${ka!.output()}`); });
    const answers = tally(await curlMany(lab, 'client', `http://${topo.vip}/`, 10));
    expect(answers).toEqual({ 'from rs1': 10 });
  });

  it('rs2 gets its weight back when it listens again', async () => {
    lab.spawn('rs2', ['node', join(RS_DIR, 'httpd.mjs'), 'rs2', '--port', '80']);
    await waitListening(lab, 'rs2', 80);
    await waitFor(async () => (await dests(lvsd)).join() === '192.168.150.12@2/masq,192.168.150.13@2/masq', 8_000, 100, 'rs2 weight back');
    const answers = tally(await curlMany(lab, 'client', `http://${topo.vip}/`, 10));
    expect(answers).toEqual({ 'from rs1': 5, 'from rs2': 5 });
  });
});
