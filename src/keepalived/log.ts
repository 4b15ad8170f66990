// pino, one JSON event per line (stdout), as lvsd logs. keepalived logs to
// syslog and, with -l, to the console too: here -l sends the events to
// stderr, pretty-printed when that is a terminal; -D adds debug detail.
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export function makeLogger(opts: { logConsole: boolean; logDetail: boolean }): Logger {
  const level = opts.logDetail ? 'debug' : 'info';
  const base = { name: 'lvs-keepalived' };
  if (opts.logConsole && process.stderr.isTTY) {
    return pino({ level, base }, pretty({ sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l', destination: 2 }));
  }
  // Synchronous: the last lines before an exit (a refused config, a signal) must not be lost.
  return pino({ level, base }, pino.destination({ fd: opts.logConsole ? 2 : 1, sync: true }));
}
