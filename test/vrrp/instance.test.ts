// The state machine under fake time: every timer, preemption rule and fault
// path, against the numbers keepalived 2.2.7's vrrp.c would produce.
import { describe, it, expect } from 'vitest';
import { VrrpInstance, skewMs, effectiveAdvertIntMs, type InstanceConfig, type Action, type RxAdvert } from '../../src/vrrp/instance.js';
import { ipToU32 } from '../../src/packet/addr.js';

const ME = ipToU32('192.168.150.11');
const PEER_LOW = ipToU32('192.168.150.5');
const PEER_HIGH = ipToU32('192.168.150.14');

function cfg(over: Partial<InstanceConfig> = {}): InstanceConfig {
  return {
    name: 'VI_1', vrid: 51, version: 2, priority: 100, advertIntMs: 1000, initialState: 'BACKUP',
    nopreempt: false, preemptDelayMs: 0, downTimerAdverts: 3, srcIp: ME,
    garpDelayMs: 5000, garpRepeat: 5, garpRefreshMs: 0, garpRefreshRepeat: 1,
    higherPrioSendAdvert: false, lowerPrioNoAdvert: false, hasReference: false, ...over,
  };
}

const adv = (priority: number, src = PEER_HIGH, maxAdverIntCs = 0): RxAdvert => ({ priority, src, maxAdverIntCs });
const types = (a: Action[]) => a.map((x) => x.type === 'send-advert' ? `advert:${x.priority}` : x.type === 'notify' ? `notify:${x.state}` : x.type === 'garp' ? `garp:${x.repeat}` : x.type);

/** Runs tick() at every deadline up to `until`, collecting actions with their times. */
function runUntil(i: VrrpInstance, from: number, until: number): { t: number; a: Action[] }[] {
  const log: { t: number; a: Action[] }[] = [];
  let now = from;
  for (;;) {
    const d = i.deadline();
    if (!(d <= until)) break;
    now = Math.max(now, d);
    const a = i.tick(now);
    if (a.length) log.push({ t: now, a });
  }
  return log;
}

describe('timers', () => {
  it('skew and master-down interval match keepalived for v2 and v3', () => {
    expect(skewMs(2, 256 - 100, 1000)).toBeCloseTo(609.375, 6);
    expect(skewMs(2, 256 - 100, 3000)).toBeCloseTo(609.375, 6); // v2 skew does not scale with advert_int
    expect(skewMs(3, 256 - 100, 1000)).toBeCloseTo(609.375, 6);
    expect(skewMs(3, 256 - 50, 100)).toBeCloseTo(80.468, 3); // (206 × 10 cs × 625/16) µs = 80468 µs
    const v3 = new VrrpInstance(cfg({ version: 3, advertIntMs: 100, priority: 50 }));
    expect(v3.msDownTimer()).toBeCloseTo(300 + 80.468, 2);
    expect(effectiveAdvertIntMs(2, 500)).toBe(1000);
    expect(effectiveAdvertIntMs(3, 100)).toBe(100);
  });

  it('a BACKUP that hears nobody becomes MASTER after exactly 3 × advert_int + skew', () => {
    const i = new VrrpInstance(cfg({ priority: 50 }));
    expect(types(i.start(0))).toEqual(['transition', 'notify:BACKUP']);
    expect(i.state).toBe('BACKUP');
    const md = 3000 + (206 * 1000) / 256;
    expect(i.deadline()).toBeCloseTo(md, 2);
    expect(i.tick(md - 1)).toEqual([]);
    const a = i.tick(md);
    expect(types(a)).toEqual(['advert:50', 'add-vips', 'garp:5', 'transition', 'notify:MASTER']);
    expect(i.state).toBe('MASTER');
  });

  it('a MASTER-configured non-owner waits one advert_int + minimal skew; an owner goes master at once', () => {
    const m = new VrrpInstance(cfg({ initialState: 'MASTER' }));
    m.start(0);
    expect(m.deadline()).toBeCloseTo(1000 + 1000 / 256, 2);
    const o = new VrrpInstance(cfg({ initialState: 'MASTER', priority: 255 }));
    o.start(0);
    expect(types(o.tick(o.deadline()))).toContain('add-vips');
    expect(o.deadline() - 0.001).toBeCloseTo(1000, 2);
  });

  it('a MASTER sends an advert every advert_int and the delayed GARP burst after garp_master_delay', () => {
    const i = new VrrpInstance(cfg({ initialState: 'MASTER', garpRefreshMs: 2500, garpRefreshRepeat: 2 }));
    i.start(0);
    const t0 = i.deadline();
    i.tick(t0);
    const log = runUntil(i, t0, t0 + 5500);
    const adverts = log.filter((e) => types(e.a).includes('advert:100')).map((e) => Math.round(e.t - t0));
    expect(adverts).toEqual([1000, 2000, 3000, 4000, 5000]);
    const garps = log.flatMap((e) => e.a.filter((x) => x.type === 'garp').map((x) => [Math.round(e.t - t0), types([x])[0]]));
    expect(garps).toEqual([[2500, 'garp:2'], [5000, 'garp:5'], [5000, 'garp:2']]);
  });
});

describe('receiving adverts as BACKUP', () => {
  it('a higher-priority advert resets the down timer; silence then makes us master', () => {
    const i = new VrrpInstance(cfg({ priority: 50 }));
    i.start(0);
    for (let t = 1000; t <= 10_000; t += 1000) expect(i.onAdvert(t, adv(100))).toEqual([]);
    expect(i.state).toBe('BACKUP');
    expect(i.deadline()).toBeCloseTo(10_000 + 3000 + (206 * 1000) / 256, 2);
  });

  it('priority 0 from the master: take over after Skew_Time only', () => {
    const i = new VrrpInstance(cfg({ priority: 50 }));
    i.start(0);
    i.onAdvert(1000, adv(100));
    i.onAdvert(1500, adv(0));
    expect(i.deadline()).toBeCloseTo(1500 + (206 * 1000) / 256, 2);
    i.tick(i.deadline());
    expect(i.state).toBe('MASTER');
  });

  it('v3 learns Master_Adver_Interval from the advert (and skew with it)', () => {
    const i = new VrrpInstance(cfg({ version: 3, advertIntMs: 1000, priority: 50 }));
    i.start(0);
    i.onAdvert(100, adv(100, PEER_HIGH, 10)); // the master advertises every 0.1 s
    expect(i.masterAdverIntMs).toBe(100);
    expect(i.deadline()).toBeCloseTo(100 + 300 + 80.468, 2);
    i.tick(i.deadline());
    expect(i.state).toBe('MASTER');
    expect(i.masterAdverIntMs).toBe(1000); // back to our own as master
  });

  it('preempt: a lower-priority advert is discarded, so the higher backup takes over at its down timer', () => {
    const i = new VrrpInstance(cfg({ priority: 100 }));
    i.start(0);
    const d0 = i.deadline();
    const a = i.onAdvert(500, adv(50, PEER_LOW));
    expect(types(a)).toEqual(['log']);
    expect(i.deadline()).toBe(d0);
    i.tick(d0);
    expect(i.state).toBe('MASTER');
  });

  it('nopreempt: a lower-priority master is kept', () => {
    const i = new VrrpInstance(cfg({ priority: 100, nopreempt: true }));
    i.start(0);
    for (let t = 1000; t <= 20_000; t += 1000) i.onAdvert(t, adv(50, PEER_LOW));
    i.tick(20_000 + 1);
    expect(i.state).toBe('BACKUP');
  });

  it('preempt_delay: lower-priority adverts are accepted until the delay runs out, then discarded', () => {
    const i = new VrrpInstance(cfg({ priority: 100, preemptDelayMs: 10_000 }));
    i.start(0);
    let t = 1000;
    for (; t <= 10_000; t += 1000) { i.onAdvert(t, adv(50, PEER_LOW)); i.tick(t); }
    expect(i.state).toBe('BACKUP');
    // From t=11000 (delay started at 1000) the adverts are discarded.
    for (; t <= 13_000; t += 1000) { i.onAdvert(t, adv(50, PEER_LOW)); i.tick(t); }
    const due = i.deadline();
    expect(due).toBeCloseTo(10_000 + 3000 + (156 * 1000) / 256, 2);
    i.onAdvert(13_500, adv(50, PEER_LOW));
    i.tick(due);
    expect(i.state).toBe('MASTER');
  });
});

describe('receiving adverts as MASTER', () => {
  function master(over: Partial<InstanceConfig> = {}): VrrpInstance {
    const i = new VrrpInstance(cfg({ initialState: 'MASTER', ...over }));
    i.start(0);
    i.tick(i.deadline());
    expect(i.state).toBe('MASTER');
    return i;
  }

  it('a higher-priority advert: release the VIPs and become BACKUP (no advert unless higher_prio_send_advert)', () => {
    const i = master();
    const a = i.onAdvert(1500, adv(150));
    expect(types(a)).toEqual(['del-vips', 'transition', 'notify:BACKUP']);
    expect(i.state).toBe('BACKUP');
    const j = master({ higherPrioSendAdvert: true });
    expect(types(j.onAdvert(1500, adv(150)))).toEqual(['advert:100', 'del-vips', 'transition', 'notify:BACKUP']);
  });

  it('a lower-priority advert: send ours at once and stay MASTER (lower_prio_no_advert turns that off)', () => {
    const i = master();
    const a = i.onAdvert(1500, adv(50, PEER_LOW));
    expect(types(a)).toEqual(['advert:100']);
    expect(i.state).toBe('MASTER');
    expect(i.deadline()).toBe(2500); // the advert timer restarts from the one just sent
    const j = master({ lowerPrioNoAdvert: true });
    expect(j.onAdvert(1500, adv(50, PEER_LOW))).toEqual([]);
  });

  it('equal priority: the higher primary address wins', () => {
    const i = master();
    expect(types(i.onAdvert(1500, adv(100, PEER_LOW)))).toEqual(['advert:100']);
    expect(i.state).toBe('MASTER');
    i.onAdvert(1600, adv(100, PEER_HIGH));
    expect(i.state).toBe('BACKUP');
  });

  it('priority 0 from another master: answer with an advert, stay MASTER', () => {
    const i = master();
    expect(types(i.onAdvert(1500, adv(0)))).toEqual(['advert:100']);
    expect(i.state).toBe('MASTER');
  });

  it('two owners: the local one lowers itself to 254 and loses the tie to a higher address', () => {
    const i = master({ priority: 255 });
    i.onAdvert(1500, adv(255, PEER_HIGH));
    expect(i.effectivePriority).toBe(254);
    expect(i.state).toBe('BACKUP');
  });
});

describe('faults, tracking and shutdown', () => {
  it('FAULT from a MASTER sends priority 0 and drops the VIPs; clearing returns to BACKUP', () => {
    const i = new VrrpInstance(cfg({ initialState: 'MASTER' }));
    i.start(0); i.tick(i.deadline());
    const a = i.setFault('script:chk', true, 2000);
    expect(types(a)).toEqual(['advert:0', 'del-vips', 'transition', 'notify:FAULT']);
    expect(i.state).toBe('FAULT');
    expect(i.deadline()).toBe(Infinity);
    expect(i.onAdvert(2100, adv(50, PEER_LOW))).toEqual([]); // ignored in FAULT
    expect(types(i.setFault('if:eth0', true, 2200))).toEqual([]);
    expect(types(i.setFault('script:chk', false, 2300))).toEqual([]);
    expect(i.state).toBe('FAULT');
    expect(types(i.setFault('if:eth0', false, 2400))).toEqual(['transition', 'notify:BACKUP']);
    expect(i.deadline()).toBeCloseTo(2400 + i.msDownTimer(), 2);
  });

  it('a fault present at start enters FAULT (init)', () => {
    const i = new VrrpInstance(cfg());
    i.setFault('if:eth0', true, 0);
    expect(types(i.start(0))).toEqual(['transition', 'notify:FAULT']);
  });

  it('weights: effective priority clamps to 1..254 and moves the BACKUP down timer', () => {
    const i = new VrrpInstance(cfg({ priority: 100 }));
    i.start(0);
    const d0 = i.deadline();
    i.setPriorityDelta(-20, 10);
    expect(i.effectivePriority).toBe(80);
    expect(i.deadline()).toBeCloseTo(d0 + (20 * 1000) / 256, 2);
    i.setPriorityDelta(-500, 20);
    expect(i.effectivePriority).toBe(1);
    i.setPriorityDelta(+500, 30);
    expect(i.effectivePriority).toBe(254);
    const o = new VrrpInstance(cfg({ priority: 255 }));
    o.setPriorityDelta(-50, 0);
    expect(o.effectivePriority).toBe(255);
  });

  it('stop as MASTER: priority 0 advert, VIPs removed, notify STOP', () => {
    const i = new VrrpInstance(cfg({ initialState: 'MASTER' }));
    i.start(0); i.tick(i.deadline());
    expect(types(i.stop(3000))).toEqual(['advert:0', 'del-vips', 'transition', 'notify:STOP']);
    expect(i.deadline()).toBe(Infinity);
  });

  it('split brain: a backup that hears nobody and cannot reach the reference goes FAULT, not MASTER', () => {
    const i = new VrrpInstance(cfg({ hasReference: true }));
    i.start(0);
    i.setReferenceOk(false, 100);
    i.tick(i.deadline());
    expect(i.state).toBe('FAULT');
    expect(i.vipsSet).toBe(false);
    expect(types(i.setReferenceOk(true, 5000))).toEqual(['transition', 'notify:BACKUP']);
    i.tick(i.deadline());
    expect(i.state).toBe('MASTER');
    // A master that loses its reference resigns.
    expect(types(i.setReferenceOk(false, 9000))).toEqual(['advert:0', 'del-vips', 'transition', 'notify:FAULT']);
  });

  it('a backup that hears its master ignores the reference', () => {
    const i = new VrrpInstance(cfg({ hasReference: true, priority: 50 }));
    i.start(0);
    i.setReferenceOk(false, 10);
    for (let t = 1000; t < 6000; t += 1000) { i.onAdvert(t, adv(100)); i.tick(t); }
    expect(i.state).toBe('BACKUP');
  });

  it('a sync group veto keeps a timed-out backup in BACKUP', () => {
    const i = new VrrpInstance(cfg());
    let allow = false;
    i.canGotoMaster = () => allow;
    i.start(0);
    i.tick(i.deadline());
    expect(i.state).toBe('BACKUP');
    expect(i.wantState).toBe('MASTER');
    allow = true;
    i.tick(i.deadline());
    expect(i.state).toBe('MASTER');
  });

  it('transitions are counted', () => {
    const i = new VrrpInstance(cfg({ initialState: 'MASTER' }));
    i.start(0); i.tick(i.deadline());
    i.onAdvert(2000, adv(200));
    expect(i.transitions).toBe(3); // INIT→BACKUP→MASTER→BACKUP
  });
});
