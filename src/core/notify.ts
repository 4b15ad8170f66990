// The one way every script of lvs-keepalived runs (keepalived 2.2.7
// lib/notify.c system_call_script / notify_exec): MISC_CHECK, vrrp_script
// tracking, the VRRP notify scripts and the checkers' notify_up/notify_down
// and quorum_up/quorum_down.
//
// `/bin/sh -c command` in a session of its own (so a process group to kill),
// no stdin/stdout, as the script's user (its own `user`, else the
// configuration's script_user, else keepalived_script, else root). At the
// timeout the whole group gets SIGTERM and, if it is still there after a
// grace period, SIGKILL; once the shell is gone the group gets SIGKILL anyway
// so a child that ignored SIGTERM cannot outlive the script. Under
// enable_script_security a script check_script_secure refuses is not run.
import { spawn } from 'node:child_process';
import { checkScript, defaultScriptUser, parseUserSpec, resolveUser, type Ids, type UserSpec } from './script-security.js';

/** keepalived waits 2 s between SIGTERM and SIGKILL. */
const DEFAULT_KILL_GRACE_MS = 2_000;

/** What a configuration says about every script it runs (global_defs). */
export interface ScriptPolicy {
  /** The user of scripts that name none (script_user / keepalived_script); absent = this process's own. */
  user?: UserSpec;
  /** enable_script_security: refuse what check_script_secure refuses. */
  security: boolean;
  /** PATH for bare script names (default process.env.PATH). */
  pathEnv?: string;
}

/** The policy of a configuration's global_defs. */
export function scriptPolicy(gd: { script_user?: UserSpec; enable_script_security: boolean }): ScriptPolicy {
  const d = defaultScriptUser(gd.script_user);
  // A missing script_user is refused at load (-t); keep naming it so each run fails visibly.
  const user = d.spec ?? (d.missing === 'script_user' ? gd.script_user : undefined);
  return { security: gd.enable_script_security, ...(user ? { user } : {}) };
}

export interface ScriptOptions {
  /** Kill the script's process group after this many ms; 0 or absent = never. */
  timeout?: number;
  /** Between SIGTERM and SIGKILL; keepalived waits 2 s. */
  killGrace?: number;
  /** The script's own `user` (a name or uid); wins over the policy's. */
  user?: string | number;
  group?: string | number;
  /** Appended to the command line as its arguments (keepalived's notify: INSTANCE name state priority). */
  args?: readonly string[];
  /** Aborting kills the script's process group at once (SIGTERM, then SIGKILL after killGrace). */
  signal?: AbortSignal;
  /** The configuration's script_user and enable_script_security; absent = run as this process, unchecked. */
  policy?: ScriptPolicy;
}

export interface ScriptOutcome {
  /** Exit status, or null when a signal ended the shell. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The script was killed because its time was up (or the caller aborted). */
  timedOut: boolean;
  /** The script did not run: spawn failed (no /bin/sh, bad user …) or script security refused it. */
  error?: string;
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // ESRCH: the group has already gone, which is what we wanted.
  }
}

/** The uid/gid to run as, or undefined for this process's own; throws for an unknown user. */
function idsFor(opts: ScriptOptions): Ids | undefined {
  if (opts.user !== undefined) {
    const spec = typeof opts.user === 'string' && opts.group === undefined ? parseUserSpec(opts.user) : { user: opts.user, group: opts.group };
    return resolveUser(spec.user, spec.group);
  }
  const u = opts.policy?.user;
  return u ? resolveUser(u.user, u.group) : undefined;
}

/** Why enable_script_security refuses `command` for this user, or undefined when it may run. */
function refusal(command: string, ids: Ids | undefined, policy: ScriptPolicy | undefined): string | undefined {
  if (!policy?.security) return undefined;
  const who = ids ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const v = checkScript(command, who, policy.pathEnv);
  switch (v.kind) {
    case 'ok': case 'not-a-file': return undefined;
    case 'not-found': return `script security: ${v.file} not found or not accessible`;
    case 'not-executable': return `script security: ${v.real} is not executable for uid:gid ${who.uid}:${who.gid}`;
    case 'insecure': return `script security: insecure permissions: ${v.bad} is writable by a non-root user or not owned by root`;
  }
}

export function runScript(command: string, opts: ScriptOptions = {}): Promise<ScriptOutcome> {
  const grace = opts.killGrace ?? DEFAULT_KILL_GRACE_MS;
  return new Promise<ScriptOutcome>((resolve) => {
    let ids: Ids | undefined;
    try {
      ids = idsFor(opts);
    } catch (err) {
      resolve({ code: null, signal: null, timedOut: false, error: (err as Error).message });
      return;
    }
    const refused = refusal(command, ids, opts.policy);
    if (refused) {
      resolve({ code: null, signal: null, timedOut: false, error: refused });
      return;
    }
    // keepalived splits the command line itself; sh -c does the same for the usual cases and appends the arguments.
    const args = opts.args ?? [];
    const argv = args.length ? ['-c', `${command} "$@"`, 'sh', ...args] : ['-c', command];
    const child = spawn('/bin/sh', argv, {
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

/** Did the script run and exit 0? */
export function succeeded(o: ScriptOutcome): boolean {
  return !o.error && !o.timedOut && o.code === 0;
}

/** One line for a log: why a script did not succeed. */
export function describeOutcome(o: ScriptOutcome): string {
  if (o.error) return `cannot run: ${o.error}`;
  if (o.timedOut) return 'timed out';
  if (o.code === null) return `killed by ${o.signal}`;
  return `exit status ${o.code}`;
}
