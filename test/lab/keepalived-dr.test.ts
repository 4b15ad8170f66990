// lvs-keepalived end to end on the seed's own configuration: lvsd and
// lvs-keepalived -C (checkers only; the VIP is already on the director, as
// buildLan puts it) in the director namespace, configs/seed-dr-ha-master.conf
// unchanged (the lab uses the notes' addresses and eth0), a client that curls
// and wrks through the VIP, real servers whose HTTP server the test kills and
// restarts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, missingPrerequisites, run, waitFor, type NsProcess } from '../../lab/netns.js';
import { buildLan, waitListening, type Topology } from '../../lab/topology.js';
import { curlMany, removeLabSockets, startLvsd, tally, type Lvsd } from '../../lab/director.js';
import { BIN, ROOT, RS_DIR } from '../../lab/paths.js';
import type { ServiceStatus } from '../../src/ipvs/types.js';

const SEED = join(ROOT, 'configs', 'seed-dr-ha-master.conf');
// The seed's HTTP_GET timers: delay_loop 6, connect_timeout 3, retry 3, delay_before_retry 3.
const DELAY_LOOP = 6;
const CONNECT_TIMEOUT = 3;
const RETRY = 3;
const DELAY_BEFORE_RETRY = 3;

const missing = await missingPrerequisites(['ip', 'curl', 'wrk', 'nft']);
if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);

async function destsOf(lvsd: Lvsd, vip: string): Promise<string[]> {
  const list = await lvsd.call('list-services', {}) as ServiceStatus[];
  const s = list.find((x) => x.key.kind === 'addr' && x.key.addr === vip && x.key.port === 80);
  return (s?.dests ?? []).map((d) => `${d.addr}:${d.port}`).sort();
}

/** Kill the lab httpd of one real server: found by namespace, never by a name that other runs share. */
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

describe.skipIf(missing.length > 0)('lvs-keepalived on the seed DR config (lab)', () => {
  const lab = new Lab('kad');
  let topo: Topology;
  let lvsd: Lvsd;
  let ka: NsProcess;
  let kaExit: number | null | undefined;
  const tmp = mkdtempSync(join(tmpdir(), 'lvs-keepalived-lab-'));
  const conf = join(tmp, 'keepalived.conf');

  beforeAll(async () => {
    topo = await buildLan(lab, 'dr');
    lvsd = await startLvsd(lab, 'dir', { interfaces: ['eth0'] });
    copyFileSync(SEED, conf);
  }, 120_000);

  afterAll(async () => {
    try {
      if (ka && kaExit === undefined) ka.kill('SIGKILL');
    } finally {
      await lab.destroy();
      removeLabSockets(lab);
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('-t accepts the seed config in the director namespace, as Debian keepalived does', async () => {
    const ours = await lab.exec('dir', ['node', BIN.keepalived, '-t', '-f', conf], { check: false });
    expect(ours.code, ours.stderr).toBe(0);
    const theirs = await lab.exec('dir', ['keepalived', '-t', '-f', conf], { check: false });
    expect(ours.code).toBe(theirs.code);
  });

  it('applies the virtual server; curl through the VIP reaches both real servers', async () => {
    ka = lab.spawn('dir', ['node', BIN.keepalived, '-C', '-n', '-l', '-D', '-f', conf, '--socket', lvsd.socket]);
    void ka.exited.then((c) => { kaExit = c; });
    await waitFor(async () => {
      if (kaExit !== undefined) throw new Error(`lvs-keepalived exited ${kaExit}:\n${ka.output()}`);
      return (await destsOf(lvsd, topo.vip)).length === 2;
    }, 20_000, 100, 'both real servers in lvsd').catch((e: Error) => { throw new Error(`${e.message}\n${ka.output()}`); });
    const list = await lvsd.call('list-services', {}) as ServiceStatus[];
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ key: { kind: 'addr', protocol: 'tcp', addr: topo.vip, port: 80 }, scheduler: 'rr' });
    expect(list[0]!.dests.map((d) => d.fwd)).toEqual(['route', 'route']);
    const answers = tally(await curlMany(lab, 'client', `http://${topo.vip}/`, 10));
    expect(answers, JSON.stringify(answers)).toEqual({ 'from rs1': 5, 'from rs2': 5 });
  });

  it('a real server whose HTTP server dies leaves within delay_loop + retries; no request fails after', async () => {
    // Steady state first: each checker has had its first verdict (before it, one
    // failure is enough, as keepalived; after it, a failure is retried).
    await waitFor(() => ['192.168.150.12', '192.168.150.13'].every((ip) => new RegExp(`HTTP_GET ${ip}:80 [^"]*: success`).test(ka.output())),
      (DELAY_LOOP + CONNECT_TIMEOUT + 2) * 1000, 100, 'first checker verdicts');
    const t0 = Date.now();
    await killHttpd(lab, 'rs1');
    // Refused connections fail at once, so the bound is the loop plus the retries
    // (each at most connect_timeout + delay_before_retry), plus a margin for the apply.
    const bound = (DELAY_LOOP + (CONNECT_TIMEOUT + DELAY_BEFORE_RETRY) * (RETRY + 1) + 2) * 1000;
    await waitFor(async () => (await destsOf(lvsd, topo.vip)).join() === '192.168.150.13:80', bound, 100, 'rs1 to leave the service')
      .catch((e: Error) => { throw new Error(`${e.message}\n${ka.output()}`); });
    const took = Date.now() - t0;
    expect(took).toBeLessThanOrEqual(bound);
    // …and not before the seed's retries were spent: retry 3 × delay_before_retry 3 s.
    expect(took).toBeGreaterThanOrEqual(RETRY * DELAY_BEFORE_RETRY * 1000 - 500);
    const answers = tally(await curlMany(lab, 'client', `http://${topo.vip}/`, 20));
    expect(answers).toEqual({ 'from rs2': 20 });
  });

  it('comes back once its HTTP server is up again', async () => {
    lab.spawn('rs1', ['node', join(RS_DIR, 'httpd.mjs'), 'rs1', '--port', '80']);
    await waitListening(lab, 'rs1', 80);
    // A down checker is probed every delay_loop; one success brings it back.
    await waitFor(async () => (await destsOf(lvsd, topo.vip)).length === 2, (DELAY_LOOP + CONNECT_TIMEOUT + 3) * 1000, 100, 'rs1 back');
    const answers = tally(await curlMany(lab, 'client', `http://${topo.vip}/`, 10));
    expect(answers).toEqual({ 'from rs1': 5, 'from rs2': 5 });
  });

  it('SIGHUP under a wrk load (a changed scheduler and checker timers) drops nothing', async () => {
    // The reload changes the service (rr → wlc) and every checker (delay_loop),
    // while the service and both real servers survive it.
    writeFileSync(conf, readFileSync(SEED, 'utf8').replace('lb_algo rr', 'lb_algo wlc').replace('delay_loop 6', 'delay_loop 5'));
    const wrk = lab.exec('client', ['wrk', '-t2', '-c10', '-d4s', `http://${topo.vip}/`], { timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 1500));
    ka.kill('SIGHUP');
    const { stdout } = await wrk;
    expect(stdout).toMatch(/requests in/);
    expect(stdout, stdout).not.toMatch(/Socket errors/);
    expect(stdout, stdout).not.toMatch(/Non-2xx/);
    const done = Number(/(\d+) requests in/.exec(stdout)![1]);
    expect(done).toBeGreaterThan(100);
    const list = await lvsd.call('list-services', {}) as ServiceStatus[];
    expect(list[0]!.scheduler).toBe('wlc');
    expect(list[0]!.dests).toHaveLength(2);
    expect(ka.output()).toMatch(/configuration reloaded/);
  });

  it('a reload with an error is refused and the rules stay', async () => {
    writeFileSync(conf, readFileSync(SEED, 'utf8').replace('lb_algo rr', 'lb_algo bogus'));
    ka.kill('SIGHUP');
    await waitFor(() => /keeping the running one/.test(ka.output()), 10_000, 100, 'the refusal in the log');
    expect(ka.output()).toMatch(new RegExp(`${conf.replace(/[.]/g, '\\.')}:\\d+:\\d+: error: .*bogus`));
    const list = await lvsd.call('list-services', {}) as ServiceStatus[];
    expect(list[0]!.scheduler).toBe('wlc');
    expect(list[0]!.dests).toHaveLength(2);
  });

  it('SIGTERM removes its services and leaves lvsd running', async () => {
    ka.kill('SIGTERM');
    const code = await Promise.race([ka.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
    expect(code).toBe(0);
    expect(await lvsd.call('list-services', {})).toEqual([]);
    expect(await lvsd.call('get-info', {})).toMatchObject({ version: expect.any(String) });
  });
});
