// The notes' keepalived experiments: health checks take a dead real server
// out, VRRP moves the VIP when the master dies and back when it returns, and
// what a kill -9 leaves behind (Debian keepalived) versus lvs-keepalived.
import { join } from 'node:path';
import { Lab, waitFor } from '../netns.js';
import { buildLan, waitListening, type Topology } from '../topology.js';
import { removeLabSockets, startLvsd, type Lvsd } from '../director.js';
import { RS_DIR } from '../paths.js';
import type { Experiment, ExperimentContext, Verdict } from './types.js';
import {
  clientLoop, hasVip, longestOutage, seedConfig, startKeepalived, TempDir, waitVip, type Keepalived,
} from './common.js';
import { startDaemon, pairConf, keepalivedAvailable } from '../vrrp-testbed.js';
import { bigBodySha256 } from '../rs/big-body.js';

/** Faster checks than the notes' (delay_loop 6, 3 retries of 3 s) so the experiment takes seconds. */
const FAST_CHECKS: [RegExp, string][] = [
  [/delay_loop 6/, 'delay_loop 1'],
  [/connect_timeout 3/g, 'connect_timeout 1'],
  [/retry 3/g, 'retry 1'],
  [/delay_before_retry 3/g, 'delay_before_retry 1'],
];
/** VRRPv3 with 100 ms adverts: the sub-second failover keepalived's maintainers recommend (#2179). */
const FAST_VRRP: [RegExp, string][] = [
  [/advert_int 1/, 'advert_int 0.1'],
  [/\n\s*authentication \{[^}]*\}/, ''],
  [/router_id (\S+)/, 'router_id $1\n    vrrp_version 3\n    vrrp_garp_master_delay 1'],
];

/** lvs_sync_daemon following VI_1: the BACKUP's lvsd holds the MASTER's connections (issue 13). */
const SYNC: [RegExp, string][] = [[/(router_id \S+)/, '$1\n    lvs_sync_daemon eth0 VI_1']];

async function lvsdServices(lvsd: Lvsd): Promise<string> {
  return (await lvsd.lvsadm(['-Ln'])).stdout;
}

function rsIn(table: string, ip: string): boolean {
  return table.includes(`-> ${ip}:`);
}

function stopRs(lab: Lab, rs: string): Promise<unknown> {
  return lab.exec(rs, ['pkill', '-f', `httpd.mjs ${rs} `], { check: false });
}

async function startRs(lab: Lab, rs: string): Promise<void> {
  lab.spawn(rs, ['node', join(RS_DIR, 'httpd.mjs'), rs, '--port', '80', '--udp', '5353']);
  await waitListening(lab, rs, 80);
}

export const healthcheck: Experiment = {
  name: 'healthcheck',
  title: 'HTTP_GET health checks: a stopped web server leaves lvsadm -Ln, no request fails, it comes back',
  async run(ctx: ExperimentContext): Promise<Verdict> {
    const lab = new Lab(ctx.tag ?? 'hc');
    const tmp = new TempDir();
    let ka: Keepalived | undefined;
    let lvsd: Lvsd | undefined;
    try {
      const t = await buildLan(lab, 'dr');
      lvsd = await startLvsd(lab, 'dir', { interfaces: ['eth0'] });
      const conf = tmp.file('keepalived.conf', seedConfig('master', FAST_CHECKS));
      ctx.say('dir# lvs-keepalived -n -l -C -f keepalived.conf   (the notes\' config, checks every 1 s)');
      ka = startKeepalived(lab, 'dir', conf, lvsd, tmp, ['-C']);
      await waitFor(async () => rsIn(await lvsdServices(lvsd!), '192.168.150.13') && rsIn(await lvsdServices(lvsd!), '192.168.150.12'), 15_000, 100, 'both RS in lvsd');
      ctx.say((await lvsdServices(lvsd)).trimEnd());
      const loop = clientLoop(lab, `http://${t.vip}/`, 50);
      await new Promise((r) => setTimeout(r, 1000));
      ctx.say('rs1# stop the web server');
      const stoppedAt = Date.now();
      await stopRs(lab, 'rs1');
      await waitFor(async () => !rsIn(await lvsdServices(lvsd!), '192.168.150.12'), 15_000, 50, 'rs1 to leave the service');
      const removedAt = Date.now();
      ctx.say(`rs1 left the service after ${removedAt - stoppedAt} ms (bound: delay_loop + connect_timeout × (retry+1) + delay_before_retry ≈ 4 s)`);
      ctx.say((await lvsdServices(lvsd)).trimEnd());
      await new Promise((r) => setTimeout(r, 2000));
      ctx.say('rs1# start the web server again');
      await startRs(lab, 'rs1');
      await waitFor(async () => rsIn(await lvsdServices(lvsd!), '192.168.150.12'), 15_000, 50, 'rs1 to come back');
      const backAt = Date.now();
      ctx.say(`rs1 is back after ${backAt - removedAt - 2000} ms`);
      await new Promise((r) => setTimeout(r, 1000));
      const samples = await loop.stop();
      const after = samples.filter((s) => s.t > removedAt);
      const failedAfter = after.filter((s) => !s.body.startsWith('from ')).length;
      const rs1After = samples.filter((s) => s.t > backAt + 300 && s.body === 'from rs1').length;
      const during = samples.filter((s) => s.t >= stoppedAt && s.t <= removedAt && !s.body.startsWith('from ')).length;
      ctx.say(`client: ${samples.length} requests; ${during} failed while rs1 was being detected, ${failedAfter} failed after its removal; rs1 answered ${rs1After} after its return`);
      const ok = failedAfter === 0 && rs1After > 0 && removedAt - stoppedAt < 6000;
      return { ok, facts: { detectMs: removedAt - stoppedAt, failedAfter, rs1After }, summary: `rs1 out after ${removedAt - stoppedAt} ms, ${failedAfter} failed requests after that, back and serving` };
    } finally {
      ka?.proc.kill('SIGKILL');
      if (lvsd) await lvsd.stop();
      await lab.destroy();
      removeLabSockets(lab);
      tmp.remove();
    }
  },
};

interface HaLab { lab: Lab; t: Topology; lvsd: Lvsd[]; ka: (Keepalived | undefined)[]; tmp: TempDir; confs: string[] }

/** Two directors (node01 MASTER .11, node04 BACKUP .14) with lvsd and lvs-keepalived each, as the notes' HA lab. */
export async function buildHa(tag: string, edits: [RegExp, string][]): Promise<HaLab> {
  const lab = new Lab(tag);
  const tmp = new TempDir();
  const t = await buildLan(lab, 'dr', { directors: 2, vipOnDirector: false });
  const lvsd = [await startLvsd(lab, 'dir', { interfaces: ['eth0'] }), await startLvsd(lab, 'dir2', { interfaces: ['eth0'] })];
  const confs = [
    tmp.file('node01.conf', seedConfig('master', [...edits, ...FAST_CHECKS])),
    tmp.file('node04.conf', seedConfig('backup', [...edits, ...FAST_CHECKS])),
  ];
  const ha: HaLab = { lab, t, lvsd, ka: [], tmp, confs };
  ha.ka = [startKeepalived(lab, 'dir', confs[0]!, lvsd[0], tmp), startKeepalived(lab, 'dir2', confs[1]!, lvsd[1], tmp)];
  await waitVip(lab, 'dir', t.vip, true, 20_000);
  for (const l of lvsd) await waitFor(async () => (await lvsdServices(l)).split('->').length === 4, 15_000, 100, 'both RS in both lvsd');
  return ha;
}

export async function destroyHa(ha: HaLab): Promise<void> {
  for (const k of ha.ka) k?.proc.kill('SIGKILL');
  for (const l of ha.lvsd) await l.stop();
  await ha.lab.destroy();
  removeLabSockets(ha.lab);
  ha.tmp.remove();
}

export const failover: Experiment = {
  name: 'failover',
  title: 'VRRP failover: the MASTER node crashes, the BACKUP takes the VIP; it comes back and takes it back',
  async run(ctx: ExperimentContext): Promise<Verdict> {
    const ha = await buildHa(ctx.tag ?? 'fo', [...FAST_VRRP, ...SYNC]);
    const { lab, t } = ha;
    try {
      ctx.say('node01 (dir, priority 100) MASTER and node04 (dir2, priority 50) BACKUP; VRRPv3, advert_int 0.1; lvs_sync_daemon eth0 VI_1');
      ctx.say(`VIP on node01: ${await hasVip(lab, 'dir', t.vip)}, on node04: ${await hasVip(lab, 'dir2', t.vip)}`);
      ctx.say((await ha.lvsd[0]!.lvsadm(['-L', '--daemon'])).stdout.trimEnd());
      // An open connection across the crash: a rate-limited download (small client receive buffer, so the RS sends throughout).
      await lab.sysctl('client', 'net.ipv4.tcp_rmem', '4096 32768 65536');
      const size = 4 * 1024 * 1024;
      const file = `/tmp/${lab.prefix}big`;
      const dl = lab.spawn('client', ['sh', '-c', `curl -s -m 40 --limit-rate 1M -o ${file} http://${t.vip}/big?size=${size}; echo "rc=$?"; sha256sum ${file}; rm -f ${file}`]);
      const loop = clientLoop(lab, `http://${t.vip}/`, 10);
      // The sync master sends a partly filled buffer within 2 s.
      await new Promise((r) => setTimeout(r, 2500));
      ctx.say('node01 crashes: link down, then kill -9 lvs-keepalived and lvsd (nothing it sends reaches the LAN)');
      const crashedAt = Date.now();
      await lab.exec('dir', ['ip', 'link', 'set', 'eth0', 'down']);
      ha.ka[0]!.proc.kill('SIGKILL');
      await ha.lvsd[0]!.kill9();
      await waitVip(lab, 'dir2', t.vip, true, 5000);
      const movedMs = Date.now() - crashedAt;
      ctx.say(`node04 holds the VIP ${movedMs} ms after the crash (Master_Down_Interval = 3×0.1 + (256-50)/256×0.1 = 0.380 s)`);
      ctx.say((await ha.lvsd[1]!.lvsadm(['-Ln'])).stdout.trimEnd());
      ctx.say((await ha.lvsd[1]!.lvsadm(['-Lnc'])).stdout.split('\n').filter((l) => /ESTABLISHED/.test(l)).join('\n'));
      await Promise.race([dl.exited, new Promise((r) => setTimeout(r, 45_000))]);
      const intact = dl.output().includes('rc=0') && dl.output().includes(bigBodySha256(size));
      ctx.say(`the download open through node01 when it crashed (4 MiB at 1 MiB/s): ${intact ? 'completed, sha256 intact' : `FAILED: ${dl.output().trim()}`}`);
      await new Promise((r) => setTimeout(r, 500));
      ctx.say('node01 comes back: link up, lvsd, lvs-keepalived');
      const restartAt = Date.now();
      await lab.exec('dir', ['ip', 'link', 'set', 'eth0', 'up']);
      ha.lvsd[0] = await startLvsd(lab, 'dir', { interfaces: ['eth0'], socket: ha.lvsd[0]!.socket });
      ha.ka[0] = startKeepalived(lab, 'dir', ha.confs[0]!, ha.lvsd[0], ha.tmp);
      await waitVip(lab, 'dir', t.vip, true, 15_000);
      await waitVip(lab, 'dir2', t.vip, false, 5000);
      ctx.say(`node01 took the VIP back ${Date.now() - restartAt} ms after it came back (preemption: priority 100 > 50)`);
      await new Promise((r) => setTimeout(r, 1000));
      const samples = await loop.stop();
      const crash = samples.filter((s) => s.t >= crashedAt - 20 && s.t < restartAt);
      const back = samples.filter((s) => s.t >= restartAt);
      const outCrash = longestOutage(crash);
      const outBack = longestOutage(back);
      const failed = samples.filter((s) => !s.body.startsWith('from ')).length;
      ctx.say(`client: ${samples.length} requests, a new connection every 10 ms; ${failed} failed; outage ${outCrash} ms on the crash, ${outBack} ms on failback`);
      const ok = movedMs < 1000 && outCrash < 1000 && outBack < 1000 && intact;
      return {
        ok, facts: { movedMs, outCrash, outBack, failed, downloadIntact: intact },
        summary: `VIP moved in ${movedMs} ms, client outage ${outCrash} ms on the crash and ${outBack} ms on failback; the open download ${intact ? 'survived intact' : 'was lost'}`,
      };
    } finally {
      await destroyHa(ha);
    }
  },
};

export const kill9: Experiment = {
  name: 'kill9',
  title: 'kill -9: Debian keepalived leaves the VIP behind; lvs-keepalived\'s watchdog removes it',
  async run(ctx: ExperimentContext): Promise<Verdict> {
    const facts: Record<string, unknown> = {};
    const impls = keepalivedAvailable() ? (['keepalived', 'ours'] as const) : (['ours'] as const);
    if (impls.length === 1) ctx.say('(Debian keepalived is not installed: showing lvs-keepalived only)');
    for (const impl of impls) {
      const lab = new Lab(ctx.tag ?? 'k9');
      try {
        const t = await buildLan(lab, 'dr', { servers: false, vipOnDirector: false });
        const conf = pairConf({ state: 'MASTER', priority: 100, version: 2, advertInt: 1, authPass: '1111', garpDelay: 1 }, impl);
        const d = startDaemon(lab, 'dir', impl, conf);
        await waitVip(lab, 'dir', t.vip, true, 15_000);
        const name = impl === 'ours' ? 'lvs-keepalived' : 'keepalived 2.2.7';
        ctx.say(`\n# ${name} MASTER holds ${t.vip}; kill -9 every ${name} process`);
        const at = Date.now();
        d.kill9();
        let goneMs: number | undefined;
        while (Date.now() - at < 2000) {
          if (!(await hasVip(lab, 'dir', t.vip))) { goneMs = Date.now() - at; break; }
          await new Promise((r) => setTimeout(r, 5));
        }
        const { stdout } = await lab.exec('dir', ['ip', '-br', '-4', 'addr', 'show', 'dev', 'eth0']);
        ctx.say(`dir# ip -br -4 addr show dev eth0\n${stdout.trim()}`);
        ctx.say(goneMs === undefined ? `→ the VIP is still there 2 s later: a stale VIP, answering ARP while a backup takes over` : `→ the VIP was removed ${goneMs} ms after the kill`);
        if (impl === 'ours') {
          ctx.say('dir# lvs-keepalived (next start): joins with nothing stale to clean');
          const d2 = startDaemon(lab, 'dir', impl, conf);
          await waitVip(lab, 'dir', t.vip, true, 15_000);
          d2.term();
          await d2.proc.exited;
          facts.restartOk = !(await hasVip(lab, 'dir', t.vip));
        }
        facts[impl] = goneMs ?? null;
      } finally {
        await lab.destroy();
      }
    }
    const ours = facts.ours as number | null;
    const ok = ours !== null && ours < 100 && facts.restartOk === true;
    return {
      ok, facts,
      summary: `${'keepalived' in facts ? `keepalived: VIP ${facts.keepalived === null ? 'left behind' : `gone in ${String(facts.keepalived)} ms`}; ` : ''}lvs-keepalived: VIP gone ${ours ?? '?'} ms after kill -9, clean restart`,
    };
  },
};
