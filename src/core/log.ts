// The one logger of every lvsd program: pino, one JSON event per line on
// stdout. keepalived logs to syslog and, with -l, to the console too: here
// -l/--log-console sends the events to stderr, pretty-printed when that is a
// terminal; -D/--log-detail adds debug detail.
import pino, { type Logger } from 'pino';
import { createRequire } from 'node:module';

export interface LoggerOptions {
  /** The program, as the `name` field of every event (lvsd, lvs-keepalived …). */
  name: string;
  /** -l/--log-console */
  logConsole: boolean;
  /** -D/--log-detail */
  logDetail: boolean;
}

export function makeLogger(opts: LoggerOptions): Logger {
  const level = opts.logDetail ? 'debug' : 'info';
  const base = { name: opts.name };
  if (opts.logConsole && process.stderr.isTTY) {
    // pino-pretty costs ~100 ms to load: only a terminal pays for it.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino({ level, base }, pretty({ sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', destination: 2 }));
  }
  // Synchronous: the last lines before an exit (a refused config, a signal, a fatal error) must not be lost.
  return pino({ level, base }, pino.destination({ fd: opts.logConsole ? 2 : 1, sync: true }));
}
