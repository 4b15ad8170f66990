// keepalived's vrrp_scheduler.c: the VRRP runtime. One state machine
// (instance.ts) per vrrp_instance, driven by one timer, received adverts and
// tracked objects, and their actions carried out (adverts, VIPs, gratuitous
// ARPs, notify scripts, sync groups). Every side effect goes through VrrpIo,
// so the runtime is unit-tested with fake I/O; index.ts gives it the real one.
import type { VrrpSyncGroup } from '../config/model.js';
import type { VrrpFields } from '../packet/vrrp.js';
import { VrrpInstance, VRRP_PRIO_STOP, type Action, type RxAdvert, type VrrpState } from './instance.js';
import { emptyBadCounters, type BadCounters, type BadReason, type RxExpect } from './validate.js';
import { weightContribution } from './track.js';
import type { InstanceSpec, TrackRef } from './data.js';
import type { VipSpec } from './vip.js';

/** The subset of pino's API used here. */
export interface VrrpLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface StateChange {
  instance: string;
  from: VrrpState;
  to: VrrpState;
  reason: string;
  priority: number;
  /** performance.now() at the transition. */
  at: number;
}

/** One instance's VIPs on the host (vip.ts's VipSet). */
export interface VipIo {
  readonly isHeld: boolean;
  /** Marks the set held at once, then adds the addresses. */
  add(): Promise<{ code: number; stderr: string }>;
  del(): Promise<unknown>;
}

/** What the runtime does to the world. */
export interface VrrpIo {
  /** ms, monotonic. */
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(t: unknown): void;
  /** Send one advert; < 0 = -errno. */
  send(ifname: string, fields: VrrpFields, src: string, dst: string, v3ChecksumAsV2: boolean): number;
  vips(spec: InstanceSpec): VipIo;
  gratuitousArp(dev: string, addr: string, repeat: number): void;
  /** IPv6's gratuitous ARP: unsolicited neighbour advertisements for `addr` (vrrp_ndisc.c). */
  neighbourAdvert(dev: string, addr: string, repeat: number): void;
  /** Run a notify script with its arguments, in the background. */
  notify(script: string, args: string[]): void;
  /** The VIPs held and the priority-0 adverts of the masters, for the watchdog that outlives a SIGKILL. */
  watchdog(held: { vips: VipSpec[]; masters: InstanceSpec[] }): void;
}

export interface InstanceMetrics {
  name: string;
  vrid: number;
  interface: string;
  state: VrrpState;
  /** keepalived's numbering: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT. */
  stateCode: number;
  priority: number;
  effectivePriority: number;
  transitions: number;
  becomeMaster: number;
  releaseMaster: number;
  advertsSent: number;
  advertsReceived: number;
  priZeroSent: number;
  priZeroReceived: number;
  badPackets: BadCounters;
  faults: string[];
  vipsHeld: boolean;
}

export interface VrrpMetrics {
  instances: InstanceMetrics[];
  /** Packets for a VRID configured on no instance of that interface, and packets too broken to name one. */
  unattributed: BadCounters;
}

const STATE_CODE: Record<VrrpState, number> = { INIT: 0, BACKUP: 1, MASTER: 2, FAULT: 3 };

type Counters = Omit<InstanceMetrics, 'name' | 'vrid' | 'interface' | 'state' | 'stateCode' | 'priority' | 'effectivePriority' | 'transitions' | 'faults' | 'vipsHeld'>;

interface Runtime {
  spec: InstanceSpec;
  sm: VrrpInstance;
  vips: VipIo;
  weights: Map<string, number>;
  io: Promise<unknown>;
  m: Counters;
  garpSentEarly: boolean;
}

// libuv timers have 1 ms granularity and fire a little late on a busy host.
// A backup's takeover is the moment that counts (Skew_Time after a
// priority-0 advert), so that one timer wakes up early and waits out the
// last ms on the clock; advert sends keep the plain timer.
const TAKEOVER_EARLY_MS = 2;

export interface SchedulerOptions {
  log: VrrpLogger;
  onStateChange?: (ev: StateChange) => void;
  /** keepalived -D: log every advert-level event. */
  logDetail?: boolean;
}

export class VrrpScheduler {
  private readonly rts: Runtime[];
  private readonly byName = new Map<string, Runtime>();
  private readonly unattributed = emptyBadCounters();
  private readonly groupState = new Map<string, string>();
  private timer: unknown;
  private stopping = false;
  readonly instances: ReadonlyMap<string, VrrpInstance>;

  constructor(specs: readonly InstanceSpec[], private readonly io: VrrpIo, private readonly opts: SchedulerOptions) {
    this.rts = specs.map((spec) => ({
      spec, sm: new VrrpInstance(spec.cfg), vips: io.vips(spec), weights: new Map(), io: Promise.resolve(), garpSentEarly: false,
      m: { becomeMaster: 0, releaseMaster: 0, advertsSent: 0, advertsReceived: 0, priZeroSent: 0, priZeroReceived: 0, badPackets: emptyBadCounters() },
    }));
    for (const rt of this.rts) this.byName.set(rt.spec.model.name, rt);
    for (const rt of this.rts) {
      const g = rt.spec.group;
      if (!g) continue;
      rt.sm.canGotoMaster = (self) => g.group.every((n) => {
        const o = this.byName.get(n);
        return !o || o.sm === self || o.sm.wantState === 'MASTER' || o.sm.state === 'MASTER';
      });
    }
    this.instances = new Map(this.rts.map((r) => [r.spec.model.name, r.sm]));
  }

  /** The receive expectations of the instances of one family on one interface, by VRID (each family has its own VRIDs). */
  expectations(ifname: string, family: 4 | 6 = 4): Map<number, RxExpect> {
    return new Map(this.rts.filter((r) => r.spec.ifname === ifname && r.spec.family === family).map((r) => [r.sm.cfg.vrid, r.spec.expect]));
  }

  start(): void {
    const t0 = this.io.now();
    for (const rt of this.rts) this.execute(rt, rt.sm.start(t0), t0);
    this.updateWatchdog();
    this.schedule();
  }

  /** A valid advert for `vrid` on `ifname`, over IPv4 or IPv6. */
  onAdvert(ifname: string, vrid: number, advert: RxAdvert, from: string, family: 4 | 6 = 4): void {
    const r = this.rts.find((x) => x.spec.ifname === ifname && x.spec.family === family && x.sm.cfg.vrid === vrid);
    if (!r) return;
    r.m.advertsReceived++;
    if (advert.priority === VRRP_PRIO_STOP) r.m.priZeroReceived++;
    const now = this.io.now();
    if (this.opts.logDetail) this.opts.log.debug({ instance: r.spec.model.name, from, priority: advert.priority, state: r.sm.state }, 'advert received');
    this.execute(r, r.sm.onAdvert(now, advert), now);
    this.schedule();
  }

  /** A packet validate.ts refused; `vrid` names its instance when it could be read and is ours. */
  onBadPacket(ifname: string, vrid: number | undefined, reason: BadReason, detail: string, from: string, family: 4 | 6 = 4): void {
    const rt = reason === 'unknown-vrid' || vrid === undefined ? undefined
      : this.rts.find((x) => x.spec.ifname === ifname && x.spec.family === family && x.sm.cfg.vrid === vrid);
    const c = rt ? rt.m.badPackets : this.unattributed;
    c[reason]++;
    const n = c[reason];
    if (n <= 5 || n % 1000 === 0) {
      this.opts.log.warn({ instance: rt?.spec.model.name, reason, detail, from, count: n }, 'ignored VRRP packet');
    }
  }

  /** A vrrp_script's OK state changed (or is known for the first time). */
  scriptState(name: string, ok: boolean): void {
    for (const rt of this.rts) for (const t of rt.spec.scripts) if (t.name === name) this.track(rt, t, ok);
  }

  /** A tracked interface went up or down. */
  linkState(ifname: string, up: boolean): void {
    this.opts.log.info({ interface: ifname, up }, `Netlink reports ${ifname} ${up ? 'up' : 'down'}`);
    for (const rt of this.rts) for (const t of rt.spec.interfaces) if (t.name === ifname) this.track(rt, t, up);
  }

  /** The split-brain reference of an instance became reachable or not. */
  referenceState(instance: string, ok: boolean): void {
    const rt = this.byName.get(instance);
    if (!rt) return;
    this.opts.log.info({ instance, reference: rt.spec.model.reference_ip, reachable: ok }, `reference ${ok ? 'reachable' : 'unreachable'}`);
    const now = this.io.now();
    this.execute(rt, rt.sm.setReferenceOk(ok, now), now);
    this.schedule();
  }

  metrics(): VrrpMetrics {
    return {
      instances: this.rts.map((r) => ({
        name: r.spec.model.name, vrid: r.sm.cfg.vrid, interface: r.spec.ifname, state: r.sm.state, stateCode: STATE_CODE[r.sm.state],
        priority: r.sm.cfg.priority, effectivePriority: r.sm.effectivePriority, transitions: r.sm.transitions,
        faults: r.sm.faultReasons(), vipsHeld: r.vips.isHeld, ...r.m, badPackets: { ...r.m.badPackets },
      })),
      unattributed: { ...this.unattributed },
    };
  }

  /** graceful: masters send priority 0; either way the VIPs go and notify_stop runs. Resolves once the VIPs are removed. */
  async stop(graceful: boolean): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer !== undefined) this.io.clearTimer(this.timer);
    const now = this.io.now();
    for (const rt of this.rts) {
      const acts = rt.sm.stop(now).filter((a) => graceful || a.type !== 'send-advert');
      this.execute(rt, acts, now);
    }
    await Promise.all(this.rts.map((r) => r.io));
    // Anything still recorded (a VIP add racing the stop) goes too.
    for (const rt of this.rts) if (rt.vips.isHeld) await rt.vips.del();
  }

  private track(rt: Runtime, t: TrackRef, ok: boolean): void {
    const now = this.io.now();
    if (t.weight === 0) {
      this.execute(rt, rt.sm.setFault(t.id, !ok, now), now);
    } else {
      rt.weights.set(t.id, weightContribution(t.weight, t.reverse, ok));
      let d = 0;
      for (const w of rt.weights.values()) d += w;
      this.execute(rt, rt.sm.setPriorityDelta(d, now), now);
    }
    this.schedule();
  }

  private updateWatchdog(): void {
    this.io.watchdog({
      vips: this.rts.filter((r) => r.vips.isHeld).flatMap((r) => r.spec.vipSpecs),
      masters: this.rts.filter((r) => r.sm.state === 'MASTER').map((r) => r.spec),
    });
  }

  private sendAdvert(rt: Runtime, priority: number): void {
    const s = rt.spec;
    for (const dst of s.dsts) {
      const n = this.io.send(s.ifname, { ...s.fields, priority } as VrrpFields, s.src, dst, s.expect.v3ChecksumAsV2);
      if (n < 0) {
        if (this.opts.logDetail) this.opts.log.debug({ instance: s.model.name, errno: -n, dst }, 'advert not sent');
      } else {
        rt.m.advertsSent++;
        if (priority === VRRP_PRIO_STOP) rt.m.priZeroSent++;
      }
    }
  }

  /** A gratuitous ARP for an IPv4 VIP, unsolicited neighbour advertisements for an IPv6 one (keepalived's vrrp_send_update). */
  private announce(v: VipSpec, repeat: number): void {
    if (v.addr.includes(':')) this.io.neighbourAdvert(v.dev, v.addr, repeat);
    else this.io.gratuitousArp(v.dev, v.addr, repeat);
  }

  private garp(rt: Runtime, repeat: number): void {
    rt.io = rt.io.then(() => {
      for (const v of rt.spec.vipSpecs) {
        try { this.announce(v, repeat); } catch (e) { this.opts.log.warn({ instance: rt.spec.model.name, vip: v.addr, err: String(e) }, v.addr.includes(':') ? 'unsolicited neighbour advertisement failed' : 'gratuitous ARP failed'); }
      }
    });
  }

  private execute(rt: Runtime, actions: Action[], now: number): void {
    const log = this.opts.log;
    for (const a of actions) {
      switch (a.type) {
        case 'send-advert':
          this.sendAdvert(rt, a.priority);
          break;
        case 'add-vips': {
          rt.m.becomeMaster++;
          // add() marks the set held at once, so the watchdog learns of the VIPs before they exist.
          const p = rt.vips.add().then((r) => {
            if (r.code !== 0) log.warn({ instance: rt.spec.model.name, stderr: r.stderr.trim() }, 'adding VIPs reported errors');
          });
          this.updateWatchdog();
          rt.io = Promise.all([rt.io, p]);
          // One gratuitous ARP per VIP right now, not after `ip` has been scheduled and has
          // exited (that wait cost 10-30 ms of client outage on a busy host); the kernel
          // has the address by the time the client's next SYN arrives. The rest of the
          // burst follows once the add is confirmed.
          for (const v of rt.spec.vipSpecs) {
            try { this.announce(v, 1); } catch { /* the confirmed burst will retry */ }
          }
          rt.garpSentEarly = true;
          break;
        }
        case 'del-vips': {
          rt.m.releaseMaster++;
          const p = rt.vips.del();
          this.updateWatchdog();
          rt.io = Promise.all([rt.io, p]);
          break;
        }
        case 'garp': {
          const early = rt.garpSentEarly ? 1 : 0;
          rt.garpSentEarly = false;
          if (a.repeat - early > 0) this.garp(rt, a.repeat - early);
          break;
        }
        case 'notify': {
          const mdl = rt.spec.model;
          const one = a.state === 'MASTER' ? mdl.notify_master : a.state === 'BACKUP' ? mdl.notify_backup
            : a.state === 'FAULT' ? mdl.notify_fault : mdl.notify_stop;
          if (one) this.io.notify(one, []);
          if (mdl.notify) this.io.notify(mdl.notify, ['INSTANCE', mdl.name, a.state, String(a.priority)]);
          break;
        }
        case 'transition':
          log.info({ instance: rt.spec.model.name, from: a.from, to: a.to, reason: a.reason, priority: rt.sm.effectivePriority },
            `(${rt.spec.model.name}) Entering ${a.to} STATE`);
          this.opts.onStateChange?.({ instance: rt.spec.model.name, from: a.from, to: a.to, reason: a.reason, priority: rt.sm.effectivePriority, at: now });
          if (a.to === 'MASTER' || a.from === 'MASTER') this.updateWatchdog();
          if (!this.stopping) this.syncGroup(rt, a.from, a.to, a.reason, now);
          if (rt.spec.group) this.groupNotify(rt.spec.group, a.to === 'INIT');
          break;
        case 'log':
          log.info({ instance: rt.spec.model.name }, a.msg);
          break;
      }
    }
  }

  // vrrp_sync_group: members follow each other into MASTER, BACKUP and FAULT.
  // The group's own state and notify scripts (keepalived's send_group_notifies:
  // `notify` gets GROUP name STATE 0). FAULT if any member is, MASTER when all are.
  private groupNotify(g: VrrpSyncGroup, stopped: boolean): void {
    const members = g.group.map((n) => this.byName.get(n)).filter((r): r is Runtime => !!r);
    const count = (x: VrrpState) => members.filter((r) => r.sm.state === x).length;
    const n = members.length;
    const st = stopped && count('INIT') === n ? 'STOP'
      : count('FAULT') > 0 ? 'FAULT' : count('MASTER') === n ? 'MASTER'
        // A group half-way through a sync (some MASTER, some BACKUP) reports BACKUP only once it settles.
        : count('BACKUP') === n ? 'BACKUP' : undefined;
    if (!st || this.groupState.get(g.name) === st) return;
    this.groupState.set(g.name, st);
    this.opts.log.info({ group: g.name, state: st }, `VRRP_Group(${g.name}) ${st}`);
    const one = st === 'MASTER' ? g.notify_master : st === 'BACKUP' ? g.notify_backup : st === 'FAULT' ? g.notify_fault : g.notify_stop;
    if (one) this.io.notify(one, []);
    if (g.notify) this.io.notify(g.notify, ['GROUP', g.name, st, '0']);
  }

  private syncGroup(rt: Runtime, from: VrrpState, to: VrrpState, reason: string, now: number): void {
    const g = rt.spec.group;
    if (!g || reason === 'sync group' || reason === 'fault: sync-group') return;
    for (const name of g.group) {
      const o = this.byName.get(name);
      if (!o || o === rt) continue;
      if (to === 'MASTER') this.execute(o, o.sm.syncMaster(now), now);
      else if (to === 'FAULT') this.execute(o, o.sm.syncFault(now), now);
      else if (to === 'BACKUP' && from === 'MASTER') this.execute(o, o.sm.syncBackup(now), now);
      else if (to === 'BACKUP' && from === 'FAULT') this.execute(o, o.sm.syncFaultCleared(now), now);
    }
  }

  // ---- the one timer
  private schedule(): void {
    if (this.timer !== undefined) this.io.clearTimer(this.timer);
    this.timer = undefined;
    if (this.stopping) return;
    let next = Infinity;
    let takeover = false;
    for (const rt of this.rts) {
      const d = rt.sm.deadline();
      if (d < next) { next = d; takeover = rt.sm.state === 'BACKUP' && d === rt.sm.sands; }
    }
    if (!Number.isFinite(next)) return;
    const early = takeover ? TAKEOVER_EARLY_MS : 0;
    this.timer = this.io.setTimer(() => this.onTimer(takeover ? next : 0), Math.max(0, next - this.io.now() - early));
  }

  private onTimer(spinUntil: number): void {
    // Bounded: at most TAKEOVER_EARLY_MS (+ the timer's own slack) of waiting, once per takeover.
    const limit = this.io.now() + TAKEOVER_EARLY_MS + 1;
    while (this.io.now() < spinUntil && this.io.now() < limit) { /* wait out the last ms */ }
    const now = this.io.now();
    for (const rt of this.rts) {
      // setTimeout may fire a fraction of a ms early; treat within 0.5 ms as due.
      if (rt.sm.deadline() <= now + 0.5) this.execute(rt, rt.sm.tick(Math.max(now, rt.sm.deadline())), now);
    }
    this.schedule();
  }
}
