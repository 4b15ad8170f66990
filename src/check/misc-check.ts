// MISC_CHECK (keepalived check_misc.c): run misc_path through the one script
// runner (core/notify.ts: /bin/sh -c, its own process group, the script's
// user, SIGTERM then SIGKILL at misc_timeout, default delay_loop). Exit 0 =
// up, anything else = down, except that with misc_dynamic exit 2..255 = up
// with weight exit-2.

import { runScript, type ScriptOutcome, type ScriptPolicy } from '../core/notify.js';
import { DEFAULTS, type MiscCheckOptions, type Probe, type ProbeResult } from './types.js';

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
  /** The configuration's script_user and enable_script_security. */
  scripts?: ScriptPolicy;
}

export function miscCheckProbe(opts: MiscCheckOptions, tuning: MiscProbeTuning = {}): Probe {
  const timeout = opts.miscTimeout ?? opts.delayLoop ?? DEFAULTS.delayLoop;
  return async (signal) => {
    const outcome = await runScript(opts.miscPath, {
      timeout,
      signal,
      ...(tuning.killGrace !== undefined ? { killGrace: tuning.killGrace } : {}),
      ...(tuning.scripts ? { policy: tuning.scripts } : {}),
      ...(opts.user !== undefined ? { user: opts.user } : {}),
      ...(opts.group !== undefined ? { group: opts.group } : {}),
    });
    const r = miscResult(outcome, opts.miscDynamic ?? false);
    if (!r.ok && outcome.timedOut && signal.aborted) return { ok: false, reason: 'stopped' };
    if (!r.ok && outcome.timedOut) return { ok: false, reason: `timed out after ${timeout} ms` };
    return r;
  };
}
