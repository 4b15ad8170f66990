// Failover as the client sees it: ours vs Debian's keepalived 2.2.7, in one
// run and the same lab. Two directors (MASTER 100, BACKUP 50) each run a tiny
// HTTP server on 0.0.0.0:80 that names itself, so whoever holds the VIP
// answers and no lvsd is needed. The client opens a new TCP connection to the
// VIP every 10 ms. We SIGKILL or SIGTERM the master and measure the outage:
// from the first request that failed to the first one answered again.
//
// --families 4,6 adds the same over IPv6 (VRRPv3 only, as RFC 5798 has it):
// VIPs fe80::66:1 and 2001:db8:66::100, the client's neighbour cache moved by
// unsolicited neighbour advertisements instead of gratuitous ARPs.
//
//   node dist/bench/failover.js [--reps 3] [--only ours|keepalived] [--versions 2,3] [--families 4,6]
//
// Prints one JSON object per run, then a summary table (medians). A benchmark,
// not a test: it never fails on a time.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, waitFor } from '../lab/netns.js';
import { buildLan, waitListening } from '../lab/topology.js';
import { RS_DIR } from '../lab/paths.js';
import { pairConf, startDaemon, holdsVip, scratch, keepalivedAvailable, buildLan6, addrEvents, V6, type Daemon, type Impl } from '../lab/vrrp-testbed.js';
import { skewMs } from '../src/vrrp/instance.js';

const VIP4 = '192.168.150.100';

/** One family's lab: where the VIP is, how the pair's config names it, which switch carries it. */
interface FamilyLab { family: 4 | 6; vip: string; vips: { vip: string; moreVips?: string[] }; sw: string; cleanup: string[] }
const FAM4: FamilyLab = { family: 4, vip: VIP4, vips: { vip: `${VIP4}/24` }, sw: 'sw', cleanup: [`${VIP4}/24`] };
const FAM6: FamilyLab = { family: 6, vip: V6.vip, vips: { vip: `${V6.llVip}/64`, moreVips: [`${V6.vip}/64`] }, sw: 'sw6', cleanup: [`${V6.vip}/64`, `${V6.llVip}/64`] };

// The client: a new connection every 10 ms; one line per request: start end who|-
const PROBER = (vip: string) => `
import net from 'node:net';
import { performance } from 'node:perf_hooks';
const now = () => performance.timeOrigin + performance.now();
const out = [];
function one() {
  const s = now();
  let body = '';
  let done = false;
  const c = net.connect({ host: '${vip}', port: 80 });
  const finish = (who) => { if (done) return; done = true; c.destroy(); out.push(s.toFixed(1) + ' ' + now().toFixed(1) + ' ' + who); };
  c.setTimeout(300, () => finish('-'));
  c.on('connect', () => c.write('GET / HTTP/1.0\\r\\n\\r\\n'));
  c.on('data', (d) => { body += d; });
  c.on('end', () => { const m = /from (\\S+)/.exec(body); finish(m ? m[1] : '-'); });
  c.on('error', () => finish('-'));
}
const t = setInterval(one, 10);
process.on('SIGTERM', () => { clearInterval(t); setTimeout(() => { process.stdout.write(out.join('\\n') + '\\n'); process.exit(0); }, 400); });
`;

/** CRASH = the node dies: its switch port goes down and the daemon is SIGKILLed (the "node crash"). */
type Signal = 'SIGKILL' | 'SIGTERM' | 'CRASH';
type Variant = Impl | 'ours-noresign';

interface RunResult {
  family: 4 | 6;
  impl: Variant;
  version: 2 | 3;
  advertInt: number;
  signal: Signal;
  rep: number;
  /** Client-observed outage, ms (0 when no request failed). */
  outageMs: number;
  failed: number;
  /** When the backup added the VIP, ms after the signal. */
  takeoverMs: number | null;
  /** Requests answered by the dead master's host after the backup took over. */
  deadHostAnswers: number;
  /** Did the dead master's host still hold the VIP 1 s after takeover? */
  staleVip: boolean;
  masterDownMs: number;
  skewMs: number;
}

function parseProbe(text: string): { s: number; e: number; who: string }[] {
  return text.split('\n').map((l) => l.trim().split(' ')).filter((p) => p.length === 3 && /^\d/.test(p[0]!))
    .map(([s, e, who]) => ({ s: Number(s), e: Number(e), who: who! }));
}

function ipTsEvent(mon: string, vip: string, kind: 'add' | 'del', after: number): number | null {
  return addrEvents(mon, '', vip).find((e) => e.kind === kind && e.t >= after)?.t ?? null;
}

async function oneRun(lab: Lab, fl: FamilyLab, masterPort: string, impl: Variant, version: 2 | 3, signal: Signal, rep: number): Promise<RunResult> {
  const VIP = fl.vip;
  const advertInt = version === 2 ? 1 : 0.1;
  const kind: Impl = impl === 'keepalived' ? 'keepalived' : 'ours';
  const extra = impl === 'ours-noresign' ? ['--no-resign'] : [];
  const common = { version, advertInt, ...fl.vips, ...(version === 2 ? { authPass: '1111' } : {}) };
  await lab.exec('client', ['ip', 'neigh', 'flush', 'dev', 'eth0'], { check: false });
  const monB = lab.spawn('dir2', ['ip', '-ts', '-o', 'monitor', 'address']);
  const monA = lab.spawn('dir', ['ip', '-ts', '-o', 'monitor', 'address']);
  const daemons: Daemon[] = [];
  try {
    const master = startDaemon(lab, 'dir', kind, pairConf({ ...common, state: 'MASTER', priority: 100 }, kind), extra);
    daemons.push(master);
    await waitFor(() => holdsVip(lab, 'dir', VIP), 10_000, 20, 'master to hold the VIP')
      .catch((e) => { throw new Error(`${e}\n${master.proc.output().slice(-3000)}`); });
    const backup = startDaemon(lab, 'dir2', kind, pairConf({ ...common, state: 'BACKUP', priority: 50 }, kind), extra);
    daemons.push(backup);
    await new Promise((r) => setTimeout(r, 1500 + 2 * advertInt * 1000));
    if (await holdsVip(lab, 'dir2', VIP)) throw new Error('backup holds the VIP before the failover');
    const prober = lab.spawn('client', ['node', '--input-type=module', '-e', PROBER(VIP)]);
    await new Promise((r) => setTimeout(r, 600));
    const tSig = Date.now();
    if (signal === 'CRASH') {
      await lab.exec(fl.sw, ['ip', 'link', 'set', masterPort, 'down']);
      master.kill9();
    } else if (signal === 'SIGKILL') master.kill9();
    else master.term();
    await waitFor(() => holdsVip(lab, 'dir2', VIP), 15_000, 5, 'backup to take over')
      .catch((e) => { throw new Error(`${e}\n${backup.proc.output().slice(-3000)}`); });
    await new Promise((r) => setTimeout(r, 1200));
    prober.kill('SIGTERM');
    await prober.exited;
    const reqs = parseProbe(prober.output()).filter((r) => r.s >= tSig - 200);
    const takeoverAt = ipTsEvent(monB.output(), VIP, 'add', tSig);
    const after = reqs.filter((r) => r.s >= tSig);
    const firstFail = after.find((r) => r.who === '-');
    let outage = 0;
    if (firstFail) {
      const lastFail = [...after].reverse().find((r) => r.who === '-')!;
      const recovered = after.find((r) => r.s > lastFail.s && r.who !== '-');
      outage = (recovered ? recovered.s : lastFail.s) - firstFail.s;
    }
    const deadHostAnswers = takeoverAt === null ? 0 : reqs.filter((r) => r.e > takeoverAt && r.who === 'dir').length;
    const staleVip = await holdsVip(lab, 'dir', VIP);
    if (signal === 'CRASH') await lab.exec(fl.sw, ['ip', 'link', 'set', masterPort, 'up']);
    const mdi = 3 * advertInt * 1000 + skewMs(version, 256 - 50, advertInt * 1000);
    return {
      family: fl.family, impl, version, advertInt, signal, rep,
      outageMs: Math.round(outage),
      failed: after.filter((r) => r.who === '-').length,
      takeoverMs: takeoverAt === null ? null : takeoverAt - tSig,
      deadHostAnswers, staleVip,
      masterDownMs: Math.round(mdi * 10) / 10,
      skewMs: Math.round(skewMs(version, 256 - 50, advertInt * 1000) * 10) / 10,
    };
  } finally {
    for (const d of daemons) d.kill9();
    await lab.exec(fl.sw, ['ip', 'link', 'set', masterPort, 'up'], { check: false });
    await Promise.all(daemons.map((d) => Promise.race([d.proc.exited, new Promise((r) => setTimeout(r, 2000))])));
    monA.kill('SIGKILL'); monB.kill('SIGKILL');
    // keepalived's SIGKILL leaves its VIP (issue #2361): clean up for the next run.
    await new Promise((r) => setTimeout(r, 100));
    for (const h of ['dir', 'dir2']) for (const a of fl.cleanup) await lab.exec(h, ['ip', 'addr', 'del', a, 'dev', 'eth0'], { check: false });
  }
}

const SIGNALS: Signal[] = ['SIGKILL', 'SIGTERM', 'CRASH'];

/** The switch-side port of `host`'s eth0 (its veth peer in the switch namespace). */
async function switchPortOf(lab: Lab, host: string, sw = 'sw'): Promise<string> {
  const { stdout } = await lab.exec(host, ['ip', '-j', 'link', 'show', 'eth0']);
  const peer = (JSON.parse(stdout) as { link_index: number }[])[0]!.link_index;
  const { stdout: s2 } = await lab.exec(sw, ['ip', '-j', 'link', 'show']);
  const port = (JSON.parse(s2) as { ifindex: number; ifname: string }[]).find((l) => l.ifindex === peer);
  if (!port) throw new Error(`no switch port for ${host}`);
  return port.ifname;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (f: string, d: string) => { const i = args.indexOf(f); return i >= 0 ? args[i + 1]! : d; };
  const reps = Number(opt('--reps', '3'));
  const only = opt('--only', '');
  const versions = opt('--versions', '2,3').split(',').map(Number) as (2 | 3)[];
  const families = opt('--families', '4').split(',').map(Number) as (4 | 6)[];
  const signals = opt('--signals', SIGNALS.join(',')).split(',') as Signal[];
  if (signals.some((x) => !SIGNALS.includes(x))) throw new Error(`--signals takes ${SIGNALS.join(',')}`);
  if (process.getuid?.() !== 0) throw new Error('bench:failover needs root (network namespaces)');
  const impls: Variant[] = (['ours', 'ours-noresign', 'keepalived'] as Variant[])
    .filter((i) => !only || i.startsWith(only))
    .filter((i) => i !== 'keepalived' || keepalivedAvailable());
  const results: RunResult[] = [];
  let out = '';
  for (const family of families) {
    const fl = family === 6 ? FAM6 : FAM4;
    const lab = new Lab(family === 6 ? 'fo6' : 'fo');
    out ||= scratch(lab);
    try {
      if (family === 6) await buildLan6(lab, [{ name: 'dir', n: 0x11 }, { name: 'dir2', n: 0x14 }, { name: 'client', n: 0x01 }], fl.sw);
      else await buildLan(lab, 'dr', { directors: 2, vipOnDirector: false, servers: false, rsCount: 0 });
      for (const d of ['dir', 'dir2']) lab.spawn(d, ['node', join(RS_DIR, 'httpd.mjs'), d, '--port', '80', ...(family === 6 ? ['--bind', '::'] : [])]);
      for (const d of ['dir', 'dir2']) await waitListening(lab, d, 80);
      const masterPort = await switchPortOf(lab, 'dir', fl.sw);
      // VRRP over IPv6 is version 3 only.
      for (const version of versions.filter((v) => family === 4 || v === 3)) {
        for (const signal of signals) {
          for (const impl of impls) {
            if (impl === 'ours-noresign' && signal !== 'SIGKILL') continue; // the same as ours there
            for (let rep = 1; rep <= reps; rep++) {
              const r = await oneRun(lab, fl, masterPort, impl, version, signal, rep);
              results.push(r);
              process.stdout.write(`${JSON.stringify(r)}\n`);
            }
          }
        }
      }
    } finally {
      await lab.destroy();
    }
  }
  writeFileSync(join(out, 'failover.json'), JSON.stringify(results, null, 1));
  // Summary: medians per cell.
  const rows: string[][] = [['family', 'version', 'signal', 'impl', 'outage ms (median)', 'takeover ms', 'failed reqs', 'Master_Down ms', 'Skew ms', 'dead host answered after takeover', 'VIP left on dead host']];
  for (const family of families) {
    for (const version of versions) {
      for (const signal of signals) {
        for (const impl of impls) {
          const rs = results.filter((r) => r.family === family && r.version === version && r.signal === signal && r.impl === impl);
          if (!rs.length) continue;
          rows.push([
            `IPv${family}`, `v${version} advert_int ${rs[0]!.advertInt}`, signal, impl,
            String(median(rs.map((r) => r.outageMs))),
            String(median(rs.map((r) => r.takeoverMs ?? NaN))),
            String(median(rs.map((r) => r.failed))),
            String(rs[0]!.masterDownMs), String(rs[0]!.skewMs),
            rs.some((r) => r.deadHostAnswers > 0) ? `yes (${rs.map((r) => r.deadHostAnswers).join('/')})` : 'no',
            rs.some((r) => r.staleVip) ? 'yes' : 'no',
          ]);
        }
      }
    }
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`| ${r.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |\n`);
}

main().catch((e) => { process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
