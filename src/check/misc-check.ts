// MISC_CHECK (keepalived check_misc.c): run misc_path through /bin/sh -c in a
// process group of its own. Exit 0 = up, anything else = down, except that
// with misc_dynamic exit 2..255 = up with weight exit-2. At misc_timeout
// (default delay_loop) the whole group gets SIGTERM and, if it is still there
// after a grace period, SIGKILL; once the shell is gone the group gets
// SIGKILL anyway so a child that ignored SIGTERM cannot outlive the check.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { DEFAULTS, type MiscCheckOptions, type Probe, type ProbeResult } from './types.js';

export interface ScriptOptions {
  /** Kill the script's process group after this many ms; 0 or absent = never. */
  timeout?: number;
  /** Between SIGTERM and SIGKILL; keepalived waits 2 s. */
  killGrace?: number;
  user?: string | number;
  group?: string | number;
  /** Aborting kills the script's process group at once (SIGTERM, then SIGKILL after killGrace). */
  signal?: AbortSignal;
}

export interface ScriptOutcome {
  /** Exit status, or null when a signal ended the shell. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The script was killed because its time was up (or the caller aborted). */
  timedOut: boolean;
  /** spawn itself failed (no /bin/sh, bad user …). */
  error?: string;
}

/** The fields of NAME's line in a colon-separated database (/etc/passwd, /etc/group). */
function dbEntry(file: string, name: string): string[] | undefined {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return f;
  }
  return undefined;
}

/** uid/gid for spawn() from keepalived's `user USER [GROUP]`; numbers pass through. */
export function resolveUser(user: string | number, group?: string | number): { uid: number; gid: number } {
  let uid: number;
  let gid: number | undefined;
  if (typeof user === 'number' || /^\d+$/.test(user)) {
    uid = Number(user);
  } else {
    const pw = dbEntry('/etc/passwd', user);
    if (!pw) throw new Error(`user ${user} not found in /etc/passwd`);
    uid = Number(pw[2]);
    gid = Number(pw[3]);
  }
  if (group !== undefined) {
    if (typeof group === 'number' || /^\d+$/.test(group)) {
      gid = Number(group);
    } else {
      const gr = dbEntry('/etc/group', group);
      if (!gr) throw new Error(`group ${group} not found in /etc/group`);
      gid = Number(gr[2]);
    }
  }
  if (gid === undefined) throw new Error(`user ${user}: a numeric uid needs a group as well`);
  return { uid, gid };
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // ESRCH: the group has already gone, which is what we wanted.
  }
}

/**
 * Runs `/bin/sh -c command` as keepalived's system_call_script does: a new
 * session (so a process group to kill), no stdin/stdout, optional user.
 */
export function runScript(command: string, opts: ScriptOptions = {}): Promise<ScriptOutcome> {
  const grace = opts.killGrace ?? DEFAULTS.miscKillGrace;
  return new Promise<ScriptOutcome>((resolve) => {
    let ids: { uid: number; gid: number } | undefined;
    try {
      if (opts.user !== undefined) ids = resolveUser(opts.user, opts.group);
    } catch (err) {
      resolve({ code: null, signal: null, timedOut: false, error: (err as Error).message });
      return;
    }
    const child = spawn('/bin/sh', ['-c', command], {
      detached: true,
      stdio: 'ignore',
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
    });
    let timedOut = false;
    let termTimer: NodeJS.Timeout | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let done = false;

    const terminate = (): void => {
      if (done || timedOut || child.pid === undefined) return;
      timedOut = true;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => child.pid !== undefined && killGroup(child.pid, 'SIGKILL'), grace);
    };
    const onAbort = (): void => terminate();
    const settle = (o: ScriptOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(termTimer);
      clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(o);
    };

    child.once('error', (err) => settle({ code: null, signal: null, timedOut, error: err.message }));
    child.once('exit', (code, signal) => {
      // The shell may be gone while a child it started lingers in the group.
      if (timedOut && child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      settle({ code, signal, timedOut });
    });
    if (opts.timeout && opts.timeout > 0) termTimer = setTimeout(terminate, opts.timeout);
    if (opts.signal) {
      if (opts.signal.aborted) terminate();
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
  });
}

/** Maps a MISC_CHECK exit status to a probe result, as check_misc.c does. */
export function miscResult(outcome: ScriptOutcome, dynamic: boolean): ProbeResult {
  if (outcome.error) return { ok: false, reason: `cannot run: ${outcome.error}` };
  if (outcome.timedOut) return { ok: false, reason: 'timed out' };
  if (outcome.code === null) return { ok: false, reason: `killed by ${outcome.signal}` };
  const code = outcome.code;
  if (code === 0) return { ok: true, exitCode: 0 };
  if (dynamic && code >= 2 && code <= 255) return { ok: true, weight: code - 2, exitCode: code };
  return { ok: false, reason: `exited with status ${code}`, exitCode: code };
}

export interface MiscProbeTuning {
  /** Between SIGTERM and SIGKILL at misc_timeout; keepalived's is 2 s. */
  killGrace?: number;
}

export function miscCheckProbe(opts: MiscCheckOptions, tuning: MiscProbeTuning = {}): Probe {
  const timeout = opts.miscTimeout ?? opts.delayLoop ?? DEFAULTS.delayLoop;
  return async (signal) => {
    const outcome = await runScript(opts.miscPath, {
      timeout,
      signal,
      ...(tuning.killGrace !== undefined ? { killGrace: tuning.killGrace } : {}),
      ...(opts.user !== undefined ? { user: opts.user } : {}),
      ...(opts.group !== undefined ? { group: opts.group } : {}),
    });
    const r = miscResult(outcome, opts.miscDynamic ?? false);
    if (!r.ok && outcome.timedOut && signal.aborted) return { ok: false, reason: 'stopped' };
    if (!r.ok && outcome.timedOut) return { ok: false, reason: `timed out after ${timeout} ms` };
    return r;
  };
}
