#!/usr/bin/env node
// keepalived -t parity on a corpus of your own: runs Debian's keepalived and
// lvs-keepalived with -t on every file under DIR, side by side in one private
// network namespace (so both see the same interfaces), and prints how often
// their exit statuses agree and, for each file where they do not, what each
// program said. The corpus is yours to gather (real-world keepalived.conf
// files, templates and all); nothing here ships one.
//
//   sudo node scripts/parity.mjs DIR [--ifaces eth0,eth1] [--jobs 2] [--json out.json] [--quiet]
//
// Agreement is counted two ways: the same exit status (0 clean, 4 cannot run,
// 5 errors it runs through, 6 script security), and the same verdict
// (0 against non-zero). Build first (npm run build): this runs dist/bin.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const usage = 'usage: node scripts/parity.mjs DIR [--ifaces eth0,eth1] [--jobs N] [--json FILE] [--quiet] [--keepalived PATH]';

const args = process.argv.slice(2);
const opt = { ifaces: ['eth0', 'eth1'], jobs: 2, json: undefined, quiet: false, keepalived: undefined, dir: undefined };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const val = () => { if (i + 1 >= args.length) { console.error(`${a} needs a value\n${usage}`); process.exit(2); } return args[++i]; };
  if (a === '--ifaces') opt.ifaces = val().split(',').filter(Boolean);
  else if (a === '--jobs') opt.jobs = Math.max(1, Number(val()) | 0);
  else if (a === '--json') opt.json = val();
  else if (a === '--keepalived') opt.keepalived = val();
  else if (a === '--quiet') opt.quiet = true;
  else if (a === '-h' || a === '--help') { console.log(usage); process.exit(0); }
  else if (!opt.dir) opt.dir = a;
  else { console.error(usage); process.exit(2); }
}
if (!opt.dir) { console.error(usage); process.exit(2); }
if (process.getuid?.() !== 0) { console.error('parity: run as root (it makes a network namespace so both programs see the same interfaces)'); process.exit(2); }

const which = (cmd) => ['/usr/sbin', '/sbin', ...(process.env.PATH ?? '').split(':')].map((d) => path.join(d, cmd)).find((p) => fs.existsSync(p));
const keepalived = opt.keepalived ?? which('keepalived');
if (!keepalived) { console.error('parity: keepalived not found (apt-get install keepalived)'); process.exit(2); }
const ours = path.join(root, 'dist', 'bin', 'lvs-keepalived.js');
if (!fs.existsSync(ours)) { console.error(`parity: ${ours} missing: npm run build`); process.exit(2); }

/** Every regular file under dir, sorted; a corpus may keep includes in subfolders, but only top-level files are mains. */
const files = fs.readdirSync(opt.dir, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.resolve(opt.dir, e.name)).sort();
if (!files.length) { console.error(`parity: no files in ${opt.dir}`); process.exit(2); }

const ns = `lvpar${randomBytes(3).toString('hex')}`;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lvpar-'));
const ip = (...a) => {
  const r = spawnSync('ip', a, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${a.join(' ')}: ${r.stderr.trim()}`);
};
const cleanup = () => { spawnSync('ip', ['netns', 'del', ns]); fs.rmSync(tmp, { recursive: true, force: true }); };
process.on('SIGINT', () => { cleanup(); process.exit(130); });

// keepalived refuses lo for VRRP and this kernel may have no dummy module: veth pairs, both ends inside.
ip('netns', 'add', ns);
try {
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  const names = [...opt.ifaces];
  if (names.length % 2) names.push(`lvpar${names.length}`);
  for (let i = 0; i < names.length; i += 2) {
    ip('-n', ns, 'link', 'add', names[i], 'type', 'veth', 'peer', 'name', names[i + 1]);
    ip('-n', ns, 'link', 'set', names[i], 'up');
    ip('-n', ns, 'link', 'set', names[i + 1], 'up');
  }
} catch (e) { cleanup(); throw e; }

const CONFIG_ID = 'parity';
function run(cmd, argv) {
  return new Promise((resolve) => {
    const p = spawn('ip', ['netns', 'exec', ns, cmd, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('close', (code, sig) => { clearTimeout(timer); resolve({ code: sig ? `signal ${sig}` : code, out }); });
  });
}

async function judge(file, n) {
  const pid = path.join(tmp, String(n));
  const [ka, mine] = await Promise.all([
    run(keepalived, ['-t', '-n', '-l', '-f', file, '-i', CONFIG_ID, '-p', `${pid}.pid`, '-r', `${pid}.vrrp.pid`, '-c', `${pid}.check.pid`, '-b', `${pid}.bfd.pid`]),
    run(process.execPath, [ours, '-t', '-f', file, '-i', CONFIG_ID]),
  ]);
  return { file, keepalived: ka.code, ours: mine.code, keepalivedSays: ka.out, oursSays: mine.out };
}

const results = [];
let next = 0;
await Promise.all(Array.from({ length: opt.jobs }, async () => {
  while (next < files.length) {
    const n = next++;
    results[n] = await judge(files[n], n);
  }
}));
cleanup();

// keepalived logs every line with its own prefix; keep what says why.
const gist = (s, max = 12) => s.split('\n').map((l) => l.trim()).filter((l) => l && !/^(Starting Keepalived|Running on|Command line|Configuration file|Script user|Opening file|NOTICE: setting config option|Stopping|Stopped|Keepalived_|Initializing ipvs|Using|Config id|Unable to open|config_id)/.test(l)).slice(0, max).join('\n      ');
const verdict = (c) => (c === 0 ? 'clean' : 'refused');
const same = results.filter((r) => r.keepalived === r.ours).length;
const sameVerdict = results.filter((r) => verdict(r.keepalived) === verdict(r.ours)).length;
const pct = (k) => `${((100 * k) / results.length).toFixed(1)} %`;

for (const r of results.filter((r) => r.keepalived !== r.ours)) {
  console.log(`\n${path.relative(process.cwd(), r.file)}: keepalived ${r.keepalived}, lvs-keepalived ${r.ours}`);
  if (!opt.quiet) {
    console.log(`  keepalived:\n      ${gist(r.keepalivedSays) || '(nothing)'}`);
    console.log(`  lvs-keepalived:\n      ${gist(r.oursSays) || '(nothing)'}`);
  }
}
const byCode = (k) => Object.entries(results.reduce((m, r) => { m[r[k]] = (m[r[k]] ?? 0) + 1; return m; }, {})).map(([c, n]) => `${c}:${n}`).join(' ');
console.log(`\n${results.length} files; keepalived exit statuses ${byCode('keepalived')}; lvs-keepalived ${byCode('ours')}`);
console.log(`same exit status: ${same}/${results.length} (${pct(same)}); same clean/refused verdict: ${sameVerdict}/${results.length} (${pct(sameVerdict)})`);
if (opt.json) fs.writeFileSync(opt.json, JSON.stringify(results.map(({ keepalivedSays, oursSays, ...r }) => ({ ...r, keepalivedSays: gist(keepalivedSays, 40), oursSays: gist(oursSays, 40) })), null, 2));
