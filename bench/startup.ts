// Start-up: from spawning the daemon to the VIP on the interface as MASTER,
// lvs-keepalived (the real CLI, VRRP only) vs Debian's keepalived 2.2.7, in
// one run and the same namespace, alternated. The VIP's arrival is taken from
// `ip -ts monitor address` started beforehand (kernel event, not a poll).
// Also printed, for where the time goes: a bare `node -e 0` and lvs-keepalived's
// own "Entering MASTER STATE" log line, both from spawn.
//
//   node dist/bench/startup.js [--reps 7] [--priority 255] [--baseline OTHER/dist/bin/lvs-keepalived.js]
//
// --baseline measures a second build of lvs-keepalived (another checkout's
// dist/bin) in the same alternation, so a change is judged against what it
// replaces on the same busy machine.
//
// A benchmark, not a test: it never fails on a time.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { Lab, cleanupStale } from '../lab/netns.js';
import { ROOT } from '../lab/paths.js';
import { keepalivedAvailable, pairConf, scratch } from '../lab/vrrp-testbed.js';
import { writeFileSync } from 'node:fs';

const VIP = '192.168.150.100';
const arg = (k: string, d: number): number => { const i = process.argv.indexOf(k); return i > 0 ? Number(process.argv[i + 1]) || d : d; };
const reps = arg('--reps', 7);
/** 255 (address owner): both go MASTER at once, so the figure is start-up cost alone; below 255 both first wait for other masters. */
const priority = arg('--priority', 255);
const CLI = join(ROOT, 'dist', 'bin', 'lvs-keepalived.js');
const baselineAt = process.argv.indexOf('--baseline');
const BASELINE = baselineAt > 0 ? process.argv[baselineAt + 1] : undefined;

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1] ?? NaN; };

/** ms from spawn until `line` matches in the child's output (or until the event `match` on the monitor). */
async function once(lab: Lab, argv: string[], host: string): Promise<{ vipMs: number; logMs?: number }> {
  const mon = spawn('ip', ['-n', lab.ns(host), '-o', 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((r) => setTimeout(r, 150)); // the monitor is listening
  let vipAt = 0;
  const vip = new Promise<void>((resolve) => {
    mon.stdout!.on('data', (d: Buffer) => { if (!vipAt && d.toString().includes(` ${VIP}/`)) { vipAt = performance.now(); resolve(); } });
  });
  const t0 = performance.now();
  const p = lab.spawn(host, argv);
  let logAt: number | undefined;
  const poll = setInterval(() => { if (logAt === undefined && p.output().includes('Entering MASTER STATE')) logAt = performance.now(); }, 1);
  await Promise.race([vip, new Promise((r) => setTimeout(r, 10_000))]);
  clearInterval(poll);
  p.kill('SIGTERM');
  await Promise.race([p.exited, new Promise((r) => setTimeout(r, 3000))]);
  mon.kill();
  await lab.exec(host, ['ip', 'addr', 'flush', 'label', 'eth0:3'], { check: false });
  if (!vipAt) throw new Error(`${argv[0]}: no VIP within 10 s:\n${p.output().slice(-1500)}`);
  return { vipMs: vipAt - t0, logMs: logAt === undefined ? undefined : logAt - t0 };
}

async function main(): Promise<void> {
  if (!keepalivedAvailable()) throw new Error('keepalived not installed (apt-get install keepalived)');
  await cleanupStale();
  const lab = new Lab('stu');
  try {
    await lab.addSwitch('sw');
    await lab.addNs('dir');
    await lab.plug('dir', 'eth0', 'sw', { addr: '192.168.150.11/24' });
    const dir = scratch(lab);
    const conf = (impl: 'ours' | 'keepalived') => {
      const f = join(dir, `startup-${impl}.conf`);
      writeFileSync(f, pairConf({ state: 'MASTER', priority, advertInt: 1, version: 2, authPass: 'lvsd' }, impl));
      return f;
    };
    const oursOf = (cli: string) => ['node', cli, '-P', '-n', '-l', '-f', conf('ours'), '--state-dir', join(dir, 'state'), '--socket', join(dir, 'none.sock')];
    const ours = oursOf(CLI);
    const ka = (n: number) => ['keepalived', '-n', '-l', '-P', '-G', '-f', conf('keepalived'), '-p', join(dir, `ka${n}.pid`), '-r', join(dir, `kav${n}.pid`)];
    const res = { ours: [] as number[], oursLog: [] as number[], keepalived: [] as number[], node: [] as number[], baseline: [] as number[] };
    for (let i = 0; i < reps; i++) {
      const a = await once(lab, ours, 'dir');
      res.ours.push(a.vipMs);
      if (a.logMs !== undefined) res.oursLog.push(a.logMs);
      res.keepalived.push((await once(lab, ka(i), 'dir')).vipMs);
      if (BASELINE) res.baseline.push((await once(lab, oursOf(BASELINE), 'dir')).vipMs);
      const t0 = performance.now();
      await lab.exec('dir', ['node', '-e', '0']);
      res.node.push(performance.now() - t0);
      console.log(JSON.stringify({ rep: i, ours: +a.vipMs.toFixed(1), keepalived: +res.keepalived[i]!.toFixed(1), ...(BASELINE ? { baseline: +res.baseline[i]!.toFixed(1) } : {}) }));
    }
    const o = median(res.ours), k = median(res.keepalived);
    console.log(`\nmedians of ${reps} (spawn → VIP on eth0, MASTER at start):`);
    console.log(`  lvs-keepalived -P      ${o.toFixed(1)} ms   ('Entering MASTER STATE' logged at ${median(res.oursLog).toFixed(1)} ms)`);
    console.log(`  keepalived 2.2.7 -P    ${k.toFixed(1)} ms`);
    if (BASELINE) console.log(`  baseline -P            ${median(res.baseline).toFixed(1)} ms   (${BASELINE})`);
    console.log(`  node -e 0 (in netns)   ${median(res.node).toFixed(1)} ms`);
    console.log(`  ratio ours/keepalived  ${(o / k).toFixed(2)}`);
  } finally {
    await lab.destroy();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
