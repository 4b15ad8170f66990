// lvs-keepalived's process: flags, the one-shot modes (-t, --signum,
// --dump-config, -h, -v) and the daemon with its signals. Kept apart from the
// bin file so tests can call it with their own argv and streams.
import { closeSync, constants, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { checkHost, configTestExitCode, dumpConfig, formatDiagnostic, hasErrors, loadConfig } from '../config/index.js';
import { ConfigRefused, KeepalivedDaemon } from './daemon.js';
import { makeLogger } from '../core/log.js';
import { parseOptions, signumOf, SIGNUMS, UsageError, USAGE, type KeepalivedOptions } from './options.js';
import { formatData, formatStats } from '../vrrp/print.js';
import { formatJson } from '../vrrp/json.js';
import { onSignal, sigRtMin } from '../io/native.js';

/** Where keepalived 2.2.7 writes its dumps: its tmp_dir, $TMPDIR or /tmp. */
export function dumpFiles(tmp = process.env.TMPDIR || '/tmp'): { data: string; stats: string; json: string; checkData: string } {
  return { data: join(tmp, 'keepalived.data'), stats: join(tmp, 'keepalived.stats'), json: join(tmp, 'keepalived.json'), checkData: join(tmp, 'keepalived_check.data') };
}

/**
 * keepalived's JSON signal (SIGRTMIN+2 = 36 with glibc, what `--signum=JSON`
 * prints). Node cannot catch real-time signals and their default action
 * kills the process, so the native addon installs the handler; without the
 * addon the signal stays deadly and this says so.
 */
export function onJsonSignal(cb: () => void, warn: (why: string) => void): void {
  try {
    const signo = sigRtMin() + 2;
    if (signo !== SIGNUMS.JSON) warn(`SIGRTMIN+2 is ${signo} here, but --signum=JSON says ${SIGNUMS.JSON}; listening on both`);
    onSignal(signo, cb);
    if (signo !== SIGNUMS.JSON) onSignal(SIGNUMS.JSON, cb);
  } catch (err) {
    warn(`cannot catch the JSON dump signal ${SIGNUMS.JSON} (${err instanceof Error ? err.message : String(err)}): it would stop lvs-keepalived; build the addon (npm run build:native)`);
  }
}

export const VERSION = 'lvs-keepalived 0.1.0 (keepalived 2.2.7 configuration and flags)';

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}
const processIo: Io = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) };

/** The one-shot modes; returns an exit status, or undefined when the daemon is to run. */
export function oneShot(o: KeepalivedOptions, io: Io = processIo): number | undefined {
  if (o.help) { io.stderr(`${USAGE}\n`); return 0; }
  if (o.version) { io.stderr(`${VERSION}\n`); return 0; }
  if (o.signum !== undefined) {
    const n = signumOf(o.signum);
    if (n === undefined) { io.stderr(`Unknown sigfunc ${o.signum}\n`); return 1; }
    io.stdout(`${n}\n`);
    return 0;
  }
  if (o.configTest !== false || o.dumpConfig !== undefined) {
    const { model, diagnostics } = loadConfig(o.configFile, o.configId !== undefined ? { configId: o.configId } : {});
    const diags = [...diagnostics];
    // keepalived -t also checks what the text names on this host (interfaces, scripts).
    if (!diags.some((d) => d.ka === 'FILE_NOT_FOUND')) diags.push(...checkHost(model));
    const report = diags.map((d) => `${formatDiagnostic(d)}\n`).join('');
    if (typeof o.configTest === 'string') writeFileSync(o.configTest, report);
    else io.stderr(report);
    if (o.configTest !== false) return configTestExitCode(diags);
    if (hasErrors(diags)) return configTestExitCode(diags) || 1;
    io.stdout(dumpConfig(model, o.dumpConfig!));
    return 0;
  }
  return undefined;
}

export async function main(argv: string[]): Promise<number> {
  let o: KeepalivedOptions;
  try {
    o = parseOptions(argv);
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`lvs-keepalived: ${e.message}\n${USAGE}\n`); return 1; }
    throw e;
  }
  const code = oneShot(o);
  if (code !== undefined) return code;

  const log = makeLogger({ name: 'lvs-keepalived', logConsole: o.logConsole, logDetail: o.logDetail });
  // prom-client costs ~130 ms to load: only --metrics pays for it.
  const metrics = o.metrics ? new (await import('./metrics.js')).KeepalivedMetrics() : undefined;
  const daemon = new KeepalivedDaemon(o, log, metrics ? { metrics } : {});
  // Signals are ours from the first instant: a SIGHUP during start-up must not
  // kill the process (its default action), it reloads once start-up is done;
  // a SIGTERM during start-up stops as soon as there is something to stop.
  let started = false;
  let reloadPending = false;
  // A daemon whose real servers have no checkers (and no VRRP, no metrics) has
  // no timer or socket of its own: this keeps it alive until told to stop.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  let stopSignal: (sig: NodeJS.Signals) => void = () => undefined;
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => { stopSignal = resolve; });
  process.on('SIGHUP', () => {
    if (!started) { reloadPending = true; return; }
    void daemon.reload();
  });
  // keepalived's DATA (SIGUSR1) and STATS (SIGUSR2) dumps, in keepalived's own
  // formats (vrrp/print.ts), which keepalived_exporter parses; the checkers' state
  // goes beside them as /tmp/keepalived_check.data (lvsd's JSON, not keepalived's
  // text). Written synchronously: the exporter reads the file 10 ms after its signal.
  // Without a handler, SIGUSR2 would kill the process and SIGUSR1 open Node's debugger.
  const dump = (file: string, text: () => string | undefined): void => {
    try {
      const t = text();
      if (t === undefined) return;
      // O_NOFOLLOW: a symlink planted in /tmp must not make root write elsewhere.
      const fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
      try { writeSync(fd, t); } finally { closeSync(fd); }
      log.debug({ file }, 'state dumped');
    } catch (err) {
      log.error({ file, err: String(err) }, 'cannot write the state dump');
    }
  };
  const src = () => daemon.dumpSource();
  const files = dumpFiles();
  process.on('SIGUSR1', () => {
    dump(files.data, () => { const s = src(); return s && formatData(s); });
    dump(files.checkData, () => `${JSON.stringify(daemon.dumpState(), null, 2)}\n`);
  });
  process.on('SIGUSR2', () => dump(files.stats, () => { const s = src(); return s && formatStats(s); }));
  // keepalived's JSON dump comes on a real-time signal (SIGRTMIN+2 with glibc, 36), which
  // Node cannot catch: the addon turns it into a callback where it can (io/native.ts).
  onJsonSignal(() => dump(files.json, () => { const s = src(); return s && formatJson(s); }), (why) => log.warn({}, why));
  process.once('SIGTERM', () => stopSignal('SIGTERM'));
  process.once('SIGINT', () => stopSignal('SIGINT'));
  process.on('uncaughtException', (err) => {
    // lvsd keeps forwarding with the rules it has, and VRRP's watchdog takes care of the VIPs.
    log.fatal({ err: err.stack ?? String(err) }, 'uncaught exception; exiting (lvsd keeps its rules)');
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err: err instanceof Error ? err.stack : String(err) }, 'unhandled rejection; exiting (lvsd keeps its rules)');
    process.exit(1);
  });
  try {
    await daemon.start();
  } catch (err) {
    if (err instanceof ConfigRefused) {
      log.fatal({ file: o.configFile }, 'configuration has errors; not starting (lvs-keepalived -t shows them)');
      return 1;
    }
    log.fatal({ err: err instanceof Error ? err.message : String(err) }, 'lvs-keepalived could not start');
    await daemon.stop().catch(() => undefined);
    return 1;
  }
  started = true;
  if (reloadPending) void daemon.reload();
  if (metrics && o.metrics) {
    try {
      const a = await metrics.listen(o.metrics.host, o.metrics.port);
      log.info(a, 'metrics on /metrics');
    } catch (err) {
      log.error({ err: String(err), metrics: o.metrics }, 'cannot serve metrics; running without');
    }
  }
  const sig = await stopRequested;
  log.info({ signal: sig }, 'Stopping');
  let rc = 0;
  try {
    await daemon.stop();
  } catch (err) {
    log.error({ err: err instanceof Error ? err.message : String(err) }, 'stop was not clean');
    rc = 1;
  }
  await metrics?.close();
  clearInterval(keepAlive);
  log.info({}, 'Stopped');
  return rc;
}
