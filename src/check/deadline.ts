// One deadline per probe: the caller's abort (checker stopped) and the
// connect_timeout both end the probe through the same path, so every probe
// frees its socket or process exactly once whichever comes first.

export interface Deadline {
  /** Aborted when the caller aborts or the time is up. */
  readonly signal: AbortSignal;
  /** Why the probe was ended: 'timeout' or 'aborted'; undefined while running. */
  reason(): 'timeout' | 'aborted' | undefined;
  /** Releases the timer; call once the probe has settled. */
  clear(): void;
}

export function deadline(parent: AbortSignal, ms: number): Deadline {
  const ctl = new AbortController();
  let why: 'timeout' | 'aborted' | undefined;
  const onParent = (): void => {
    if (why === undefined) why = 'aborted';
    ctl.abort();
  };
  const timer = setTimeout(() => {
    if (why === undefined) why = 'timeout';
    ctl.abort();
  }, Math.max(0, ms));
  if (parent.aborted) onParent();
  else parent.addEventListener('abort', onParent, { once: true });
  return {
    signal: ctl.signal,
    reason: () => why,
    clear: () => {
      clearTimeout(timer);
      parent.removeEventListener('abort', onParent);
    },
  };
}

/** A human reason for a probe that failed at the deadline or on an error. */
export function failReason(d: Deadline, ms: number, err?: unknown): string {
  const why = d.reason();
  if (why === 'timeout') return `timeout after ${ms} ms`;
  if (why === 'aborted') return 'aborted';
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
