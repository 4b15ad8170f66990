// pino, one JSON event per line; `-l` on a terminal gets pino-pretty, `-D` debug detail.
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export function makeLogger(opts: { logConsole: boolean; logDetail: boolean }): Logger {
  const level = opts.logDetail ? 'debug' : 'info';
  const base = { name: 'lvsd' };
  if (opts.logConsole && process.stdout.isTTY) {
    return pino({ level, base }, pretty({ sync: true, colorize: true, translateTime: 'SYS:HH:MM:ss.l' }));
  }
  // Synchronous writes: an exit path (a signal, a fatal error) must not lose its last lines.
  return pino({ level, base }, pino.destination({ fd: opts.logConsole ? 2 : 1, sync: true }));
}
