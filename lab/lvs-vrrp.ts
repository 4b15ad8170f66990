// The lab's VRRP-only program (what `lvs-keepalived -n -l -P -f FILE` runs,
// without the checker half), started by lab/vrrp-testbed.ts for the VRRP lab
// tests and bench/failover.ts:
//   node dist/lab/lvs-vrrp.js -f FILE [-l] [-D] [--state-dir DIR] [--no-watchdog] [--no-resign] [--nice N]
// Foreground, one JSON log line per event on stdout; SIGTERM/SIGINT resign
// (priority 0) and remove the VIPs; SIGKILL leaves that to the watchdog.
import { setPriority } from 'node:os';
import { makeLogger } from '../src/core/log.js';
import { loadConfig, hasErrors, formatDiagnostic } from '../src/config/index.js';
import { startVrrp } from '../src/vrrp/index.js';

function usage(msg: string): never {
  process.stderr.write(`lvs-vrrp: ${msg}\nusage: lvs-vrrp.js -f FILE [-l] [-D] [--state-dir DIR] [--no-watchdog] [--no-resign] [--nice N]\n`);
  process.exit(2);
}

const argv = process.argv.slice(2);
let file: string | undefined;
let stateDir: string | undefined;
let detail = false;
let watchdog = true;
let resign = true;
// Like keepalived's vrrp_priority: a VRRP daemon that loses the CPU to the
// services it protects fails over late. Default -10 (root only; best effort).
let nice = -10;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (a === '-f' || a === '--use-file') file = argv[++i] ?? usage(`${a} needs a file`);
  else if (a.startsWith('--use-file=')) file = a.slice(11);
  else if (a === '--state-dir') stateDir = argv[++i] ?? usage('--state-dir needs a directory');
  else if (a === '-D' || a === '--log-detail') detail = true;
  else if (a === '--no-watchdog') watchdog = false;
  else if (a === '--no-resign') resign = false;
  else if (a === '--nice') nice = Number(argv[++i] ?? usage('--nice needs a number'));
  else if (['-l', '--log-console', '-n', '--dont-fork', '-P', '--vrrp'].includes(a)) { /* always foreground, console, VRRP only */ }
  else usage(`unknown flag ${a}`);
}
if (!file) usage('-f FILE is required');

try { setPriority(0, nice); } catch { /* not root: keep the inherited priority */ }
// One JSON event per line on stdout, which the lab reads.
const log = makeLogger({ name: 'lvs-vrrp', logConsole: false, logDetail: detail });
const { model, diagnostics } = loadConfig(file);
for (const d of diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
if (hasErrors(diagnostics)) process.exit(1);
if (model.vrrp_instances.length === 0) usage(`${file} has no vrrp_instance`);

const vrrp = await startVrrp(model, { log, stateDir, watchdog, watchdogResign: resign, logDetail: detail });
log.info({ instances: [...vrrp.instances.keys()] }, 'VRRP started');

let stopping = false;
async function shutdown(sig: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal: sig }, 'stopping');
  await vrrp.stop({ graceful: true });
  log.info({}, 'stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGUSR1', () => log.info({ metrics: vrrp.metrics() }, 'data dump'));
