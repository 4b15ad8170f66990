// Shared by the VRRP runtime tests: fake I/O for VrrpScheduler, a clock and
// timers driven by the test, and every side effect recorded as a line.
import type { InstanceSpec } from '../../src/vrrp/data.js';
import type { VrrpIo } from '../../src/vrrp/scheduler.js';

export function fakeIo() {
  let t = 1000;
  const timers = new Map<number, { fn: () => void; at: number }>();
  let nextId = 1;
  const ev: string[] = [];
  const held = new Set<string>();
  const io: VrrpIo = {
    // Every reading moves the clock a µs on, so the takeover spin ends.
    now: () => (t += 0.001),
    setTimer: (fn, ms) => { const id = nextId++; timers.set(id, { fn, at: t + ms }); return id; },
    clearTimer: (id) => { timers.delete(id as number); },
    send: (_if, f, _src, dst) => { ev.push(`advert prio ${f.priority} to ${dst}`); return 0; },
    // Each instance's VIPs are held or not on their own.
    vips: (s: InstanceSpec) => ({
      get isHeld() { return held.has(s.model.name); },
      add: () => { held.add(s.model.name); ev.push('vips add'); return Promise.resolve({ code: 0, stderr: '' }); },
      del: () => { held.delete(s.model.name); ev.push('vips del'); return Promise.resolve(); },
    }),
    gratuitousArp: (_dev, addr, repeat) => { ev.push(`garp ${addr} x${repeat}`); },
    neighbourAdvert: (_dev, addr, repeat) => { ev.push(`na ${addr} x${repeat}`); },
    notify: (script, args) => { ev.push(`notify ${[script, ...args].join(' ')}`); },
    watchdog: ({ vips, masters }) => { ev.push(`watchdog vips=${vips.length} masters=${masters.length}`); },
  };
  /** Run the clock forward by `ms`, firing each timer as it comes due. */
  const advance = (ms: number): void => {
    const end = t + ms;
    for (;;) {
      const due = [...timers.entries()].sort((a, b) => a[1].at - b[1].at)[0];
      if (!due || due[1].at > end) break;
      timers.delete(due[0]);
      t = Math.max(t, due[1].at);
      due[1].fn();
    }
    t = Math.max(t, end);
  };
  return { io, ev, advance, timers };
}
