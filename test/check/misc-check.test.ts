import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { miscCheckProbe, miscResult } from '../../src/check/misc-check.js';
import type { MiscCheckOptions } from '../../src/check/types.js';
import { scriptPolicy } from '../../src/core/notify.js';
import { never, sleep } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'lvsd-misc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const misc = (miscPath: string, extra: Partial<MiscCheckOptions> = {}): MiscCheckOptions => ({
  type: 'MISC_CHECK', miscPath, miscTimeout: 2000, ...extra,
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); it is dead for our purpose.
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

async function gone(pid: number, within = 500): Promise<boolean> {
  const end = performance.now() + within;
  while (performance.now() < end) {
    if (!alive(pid)) return true;
    await sleep(10);
  }
  return !alive(pid);
}

describe('miscResult', () => {
  it('maps exit codes as check_misc.c does', () => {
    const o = (code: number) => ({ code, signal: null, timedOut: false });
    expect(miscResult(o(0), false)).toEqual({ ok: true, exitCode: 0 });
    expect(miscResult(o(1), false).ok).toBe(false);
    expect(miscResult(o(3), false).ok).toBe(false);
    expect(miscResult(o(0), true)).toEqual({ ok: true, exitCode: 0 });
    expect(miscResult(o(1), true).ok).toBe(false);
    expect(miscResult(o(2), true)).toEqual({ ok: true, weight: 0, exitCode: 2 });
    expect(miscResult(o(255), true)).toEqual({ ok: true, weight: 253, exitCode: 255 });
    expect(miscResult({ code: null, signal: 'SIGSEGV', timedOut: false }, true).ok).toBe(false);
  });
});

describe('MISC_CHECK', () => {
  it('runs misc_path through /bin/sh -c: exit 0 is up, 1 is down', async () => {
    expect((await miscCheckProbe(misc('true'))(never)).ok).toBe(true);
    expect((await miscCheckProbe(misc('exit 1'))(never)).ok).toBe(false);
    expect((await miscCheckProbe(misc('test -d / && [ "$(echo a b | wc -w)" -eq 2 ]'))(never)).ok).toBe(true);
  });

  it('without misc_dynamic any other exit is down; with it 2..255 is up with weight exit-2', async () => {
    expect((await miscCheckProbe(misc('exit 7'))(never)).ok).toBe(false);
    expect(await miscCheckProbe(misc('exit 7', { miscDynamic: true }))(never)).toEqual({ ok: true, weight: 5, exitCode: 7 });
    expect((await miscCheckProbe(misc('exit 1', { miscDynamic: true }))(never)).ok).toBe(false);
  });

  it('kills the whole process group at misc_timeout', async () => {
    const pidfile = join(dir, 'child.pid');
    const t0 = performance.now();
    const r = await miscCheckProbe(misc(`sleep 30 & echo $! > ${pidfile}; sleep 30`, { miscTimeout: 200 }))(never);
    const dt = performance.now() - t0;
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/timed out after 200 ms/);
    expect(dt).toBeGreaterThanOrEqual(190);
    expect(dt).toBeLessThan(600);
    const child = Number(readFileSync(pidfile, 'utf8'));
    expect(await gone(child)).toBe(true);
  });

  it('SIGKILLs a script that ignores SIGTERM after the grace period', async () => {
    const pidfile = join(dir, 'stubborn.pid');
    const t0 = performance.now();
    const r = await miscCheckProbe(misc(`trap '' TERM; sleep 30 & echo $! > ${pidfile}; wait`, { miscTimeout: 150 }), { killGrace: 150 })(never);
    const dt = performance.now() - t0;
    expect(r.ok).toBe(false);
    expect(dt).toBeGreaterThanOrEqual(290);
    expect(dt).toBeLessThan(800);
    expect(await gone(Number(readFileSync(pidfile, 'utf8')))).toBe(true);
  });

  it('defaults misc_timeout to delay_loop', async () => {
    const t0 = performance.now();
    const r = await miscCheckProbe({ type: 'MISC_CHECK', miscPath: 'sleep 5', delayLoop: 150 })(never);
    expect(r.ok).toBe(false);
    expect(performance.now() - t0).toBeLessThan(600);
  });

  it('stops the script at once when aborted', async () => {
    const ctl = new AbortController();
    const pending = miscCheckProbe(misc('sleep 30', { miscTimeout: 10_000 }))(ctl.signal);
    setTimeout(() => ctl.abort(), 50);
    const t0 = performance.now();
    const r = await pending;
    expect(r).toEqual({ ok: false, reason: 'stopped' });
    expect(performance.now() - t0).toBeLessThan(400);
  });

  it.runIf(process.getuid?.() === 0)('runs as `user`', async () => {
    expect((await miscCheckProbe(misc('[ "$(id -u)" = 65534 ]', { user: 'nobody' }))(never)).ok).toBe(true);
    expect((await miscCheckProbe(misc('[ "$(id -u)" = 0 ]', { user: 'nobody' }))(never)).ok).toBe(false);
  });

  it.runIf(process.getuid?.() === 0)('without a `user` of its own, runs as global_defs script_user', async () => {
    const scripts = scriptPolicy({ script_user: { user: 'nobody' }, enable_script_security: false });
    expect((await miscCheckProbe(misc('[ "$(id -u)" = 65534 ]'), { scripts })(never)).ok).toBe(true);
    expect((await miscCheckProbe(misc('[ "$(id -u)" = 0 ]', { user: 'root' }), { scripts })(never)).ok).toBe(true);
  });

  it('fails, without throwing, for an unknown user', async () => {
    const r = await miscCheckProbe(misc('true', { user: 'no-such-user-lvsd' }))(never);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/no-such-user-lvsd/);
  });
});
