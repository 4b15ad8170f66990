#!/usr/bin/env node
// lvsd: the forwarder (the kernel's IPVS, in user space). Runs in the
// foreground until SIGTERM/SIGINT; every exit path removes its nftables table.
import { parseOptions, UsageError, USAGE } from '../lvsd/options.js';
import { makeLogger } from '../core/log.js';
import { Daemon } from '../lvsd/daemon.js';

async function main(): Promise<number> {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) { process.stderr.write(`lvsd: ${e.message}\n`); return 2; }
    throw e;
  }
  if (opts.help) { process.stdout.write(USAGE + '\n'); return 0; }
  if (opts.version) { process.stdout.write('lvsd 0.1.0 (IPVS 1.2.1)\n'); return 0; }
  const log = makeLogger({ name: 'lvsd', logConsole: opts.logConsole, logDetail: opts.logDetail });
  // A forwarding worker that dies takes its share of the connection table
  // with it: stop cleanly (nftables table removed, nothing black-holed) and
  // exit non-zero, so the supervisor starts a whole new lvsd.
  const daemon: Daemon = new Daemon(opts, log, {
    onFatal: (err) => {
      log.fatal({ err: err.message }, 'a forwarding worker failed; stopping lvsd');
      daemon.stop().finally(() => process.exit(1));
    },
  });
  // Whatever ends the process, the host must not stay black-holed.
  process.on('exit', () => daemon.stopSync());
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception; stopping');
    daemon.stopSync();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'unhandled rejection; stopping');
    daemon.stopSync();
    process.exit(1);
  });
  // Caught from the start: a SIGTERM while lvsd is still starting (the
  // control socket already answers, metrics or workers not up yet) must stop
  // it cleanly once started, not kill it with its nftables table in place.
  const signalled = new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      log.info({ signal: sig }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
  try {
    await daemon.start();
  } catch (err) {
    log.fatal({ err: err instanceof Error ? err.message : String(err) }, 'lvsd could not start');
    await daemon.stop().catch(() => undefined);
    return 1;
  }
  await signalled;
  await daemon.stop();
  return 0;
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`lvsd: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
