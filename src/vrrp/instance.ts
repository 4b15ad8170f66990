// One vrrp_instance as a pure, synchronous state machine. It owns no socket
// and no timer: the I/O shell (socket.ts / index.ts) feeds it validated
// adverts and the current time, asks it for its next deadline, and carries
// out the actions it returns. Every rule below follows keepalived 2.2.7's
// vrrp.c / vrrp_scheduler.c (named in the comments) so that a mixed pair of
// lvs-keepalived and Debian's keepalived elects the same master either would.
//
// Time is in milliseconds (fractions allowed); keepalived keeps microseconds,
// and the skew arithmetic below reproduces its integer rounding.

export type VrrpState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT';
export type NotifyState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP';

export const VRRP_PRIO_OWNER = 255;
export const VRRP_PRIO_STOP = 0;

export interface InstanceConfig {
  name: string;
  vrid: number;
  version: 2 | 3;
  /** Configured priority 1..255. */
  priority: number;
  /** Configured advert_int in ms (v2: whole seconds on the wire). */
  advertIntMs: number;
  /** The configured `state`: MASTER means "want master" (keepalived's wantstate). */
  initialState: 'MASTER' | 'BACKUP';
  nopreempt: boolean;
  preemptDelayMs: number;
  downTimerAdverts: number;
  /** Our advert source address (unicast_src_ip or the interface's primary), for the equal-priority rule: u32 for IPv4, 128 bits for IPv6. */
  srcIp: number | bigint;
  garpDelayMs: number;
  garpRepeat: number;
  garpRefreshMs: number;
  garpRefreshRepeat: number;
  /** keepalived's higher_prio_send_advert (default off). */
  higherPrioSendAdvert: boolean;
  /** keepalived's lower_prio_no_advert (default off: a master answers a lower-priority advert at once). */
  lowerPrioNoAdvert: boolean;
  /** Split brain: the instance has a reference address; consult referenceOk before holding the VIP unheard. */
  hasReference: boolean;
}

/** An advert that passed every check in validate.ts. */
export interface RxAdvert {
  priority: number;
  /** v3 max advert interval in centiseconds (0 for v2). */
  maxAdverIntCs: number;
  /** Source address of the IP packet (u32 for IPv4, 128 bits for IPv6: compared as numbers, as keepalived compares the bytes). */
  src: number | bigint;
}

export type Action =
  | { type: 'send-advert'; priority: number }
  | { type: 'add-vips' }
  | { type: 'del-vips' }
  | { type: 'garp'; repeat: number }
  | { type: 'notify'; state: NotifyState; priority: number }
  | { type: 'transition'; from: VrrpState; to: VrrpState; reason: string }
  | { type: 'log'; msg: string };

/** keepalived's VRRP_TIMER_SKEW_CALC, in ms with its µs integer rounding. */
export function skewMs(version: 2 | 3, prioVal: number, masterAdverIntMs: number): number {
  if (version === 3) {
    const cs = Math.floor(masterAdverIntMs / 10);
    return Math.floor((prioVal * cs * 625) / 16) / 1000;
  }
  return Math.floor((prioVal * 1_000_000) / 256) / 1000;
}

/** The v2 wire carries whole seconds: keepalived rounds a sub-second v2 advert_int up to 1 s (issue #1615). */
export function effectiveAdvertIntMs(version: 2 | 3, advertIntMs: number): number {
  if (version === 2) return Math.max(1000, Math.round(advertIntMs / 1000) * 1000);
  // v3: centiseconds, 12 bits.
  return Math.min(4095, Math.max(1, Math.round(advertIntMs / 10))) * 10;
}

function ipCmp(a: number | bigint, b: number | bigint): number {
  const x = typeof a === 'bigint' ? a : BigInt(a >>> 0);
  const y = typeof b === 'bigint' ? b : BigInt(b >>> 0);
  return x === y ? 0 : x > y ? 1 : -1;
}

export class VrrpInstance {
  readonly cfg: InstanceConfig;
  state: VrrpState = 'INIT';
  /** keepalived's wantstate: what we would be, disregarding a sync group. */
  wantState: 'MASTER' | 'BACKUP' | 'FAULT';
  readonly adverIntMs: number;
  masterAdverIntMs: number;
  effectivePriority: number;
  msDownMs: number;
  /** The advert / master-down deadline ("sands"); Infinity = disabled. */
  sands = Infinity;
  private garpAt = Infinity;
  private garpRefreshAt = Infinity;
  private preemptAt = 0; // 0 = not running (keepalived's preempt_time.tv_sec == 0)
  private priorityDelta = 0;
  private readonly faults = new Set<string>();
  private referenceOk = true;
  vipsSet = false;
  masterSrc: number | bigint | undefined;
  masterPriority: number | undefined;
  transitions = 0;
  lastTransitionAt = 0;
  /** A sync group may veto becoming master (vrrp_sync_can_goto_master). */
  canGotoMaster: (inst: VrrpInstance) => boolean = () => true;

  constructor(cfg: InstanceConfig) {
    this.cfg = cfg;
    this.adverIntMs = effectiveAdvertIntMs(cfg.version, cfg.advertIntMs);
    this.masterAdverIntMs = this.adverIntMs;
    this.effectivePriority = cfg.priority;
    this.wantState = cfg.initialState;
    this.msDownMs = this.msDownTimer();
  }

  get isOwner(): boolean {
    return this.cfg.priority === VRRP_PRIO_OWNER;
  }

  skew(prioVal = 256 - this.effectivePriority): number {
    return skewMs(this.cfg.version, prioVal, this.masterAdverIntMs);
  }

  /** VRRP_MS_DOWN_TIMER: down_timer_adverts × Master_Adver_Interval + Skew_Time. */
  msDownTimer(): number {
    return this.cfg.downTimerAdverts * this.masterAdverIntMs + this.skew();
  }

  get faulted(): boolean {
    return this.faults.size > 0;
  }

  faultReasons(): string[] {
    return [...this.faults];
  }

  /** The earliest time tick() has something to do. */
  deadline(): number {
    return Math.min(this.sands, this.garpAt, this.garpRefreshAt);
  }

  private setState(to: VrrpState, reason: string, now: number, out: Action[]): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.transitions++;
    this.lastTransitionAt = now;
    out.push({ type: 'transition', from, to, reason });
    if (to !== 'INIT') out.push({ type: 'notify', state: to, priority: this.effectivePriority });
  }

  private initSands(now: number): void {
    if (this.state === 'MASTER') this.sands = now + this.adverIntMs;
    else if (this.state === 'BACKUP') this.sands = now + this.msDownMs;
    else this.sands = Infinity;
  }

  /** vrrp_init_state: enter BACKUP (or FAULT); a MASTER-configured owner goes master at once. */
  start(now: number): Action[] {
    const out: Action[] = [];
    // VIPs an earlier run left behind are the shell's job (VipSet.removeStale) before start().
    this.vipsSet = false;
    if (this.faulted) {
      this.wantState = 'FAULT';
      this.setState('FAULT', `init: ${this.faultReasons().join(', ')}`, now, out);
      this.initSands(now);
      return out;
    }
    if (this.cfg.initialState === 'MASTER' && this.isOwner) {
      // "The simplest way to become master is to timeout from the backup state very quickly"
      this.setState('BACKUP', 'init (address owner)', now, out);
      this.msDownMs = 0.001;
    } else if (this.cfg.initialState === 'MASTER') {
      // "We need to allow one adver_int to pass to ensure there is no other master"
      this.setState('BACKUP', 'init', now, out);
      this.msDownMs = this.masterAdverIntMs + this.skew(1);
    } else {
      this.setState('BACKUP', 'init', now, out);
      this.msDownMs = this.msDownTimer();
    }
    this.initSands(now);
    return out;
  }

  /** Timer expiries due at `now`. */
  tick(now: number): Action[] {
    const out: Action[] = [];
    if (now >= this.garpAt) {
      this.garpAt = Infinity;
      if (this.state === 'MASTER' && this.vipsSet) out.push({ type: 'garp', repeat: this.cfg.garpRepeat });
    }
    if (now >= this.sands) {
      if (this.state === 'BACKUP') {
        this.gotoMaster(now, out, 'no advert for master-down interval');
      } else if (this.state === 'MASTER') {
        this.masterTx(now, out);
        this.initSands(now);
      }
    }
    if (now >= this.garpRefreshAt) {
      // keepalived checks the refresh timer when it sends an advert; a timer of its own is simpler and no later.
      if (this.state === 'MASTER' && this.vipsSet) {
        out.push({ type: 'garp', repeat: this.cfg.garpRefreshRepeat });
        this.garpRefreshAt = now + this.cfg.garpRefreshMs;
      } else this.garpRefreshAt = Infinity;
    }
    return out;
  }

  private masterTx(_now: number, out: Action[]): void {
    out.push({ type: 'send-advert', priority: this.effectivePriority });
  }

  private gotoMaster(now: number, out: Action[], reason: string): void {
    // Split brain: a backup that hears nobody and cannot reach its reference is the isolated one.
    if (this.cfg.hasReference && !this.referenceOk) {
      this.faults.add('reference');
      this.wantState = 'FAULT';
      out.push({ type: 'log', msg: `(${this.cfg.name}) master down but reference unreachable: isolated, not claiming the VIP` });
      this.setState('FAULT', 'isolated (reference unreachable)', now, out);
      this.initSands(now);
      return;
    }
    this.wantState = 'MASTER';
    if (!this.canGotoMaster(this)) {
      // vrrp_sync_can_goto_master: wait for the rest of the group.
      this.msDownMs = this.msDownTimer();
      this.initSands(now);
      return;
    }
    this.becomeMaster(now, out, reason);
  }

  /** vrrp_state_goto_master + vrrp_state_master_tx + vrrp_state_become_master. */
  private becomeMaster(now: number, out: Action[], reason: string): void {
    this.masterAdverIntMs = this.adverIntMs;
    // "the old master needs to remove the VIPs before we send the gratuitous ARPs, so send the advert first"
    out.push({ type: 'send-advert', priority: this.effectivePriority });
    out.push({ type: 'add-vips' });
    this.vipsSet = true;
    out.push({ type: 'garp', repeat: this.cfg.garpRepeat });
    this.garpAt = this.cfg.garpDelayMs > 0 ? now + this.cfg.garpDelayMs : Infinity;
    this.garpRefreshAt = this.cfg.garpRefreshMs > 0 ? now + this.cfg.garpRefreshMs : Infinity;
    this.setState('MASTER', reason, now, out);
    this.masterSrc = this.cfg.srcIp;
    this.masterPriority = this.effectivePriority;
    this.initSands(now);
  }

  /** vrrp_state_leave_master (to BACKUP or FAULT). */
  private leaveMaster(now: number, to: 'BACKUP' | 'FAULT', reason: string, out: Action[], sendStop: boolean): void {
    if (to === 'FAULT' || sendStop) out.push({ type: 'send-advert', priority: VRRP_PRIO_STOP });
    this.restoreInterface(out);
    if (to === 'BACKUP') this.preemptAt = 0;
    this.setState(to, reason, now, out);
    this.msDownMs = this.msDownTimer();
    this.initSands(now);
  }

  private restoreInterface(out: Action[]): void {
    this.garpAt = Infinity;
    this.garpRefreshAt = Infinity;
    if (this.vipsSet) out.push({ type: 'del-vips' });
    this.vipsSet = false;
  }

  /** A received advert that passed validation. */
  onAdvert(now: number, adv: RxAdvert): Action[] {
    const out: Action[] = [];
    if (this.state === 'BACKUP') this.backupRx(now, adv, out);
    else if (this.state === 'MASTER') {
      if (this.masterRx(now, adv, out)) {
        this.leaveMaster(now, 'BACKUP', adv.priority > this.effectivePriority
          ? `higher priority ${adv.priority} advert` : 'equal priority, higher address', out, false);
      } else if (!this.cfg.lowerPrioNoAdvert) {
        this.initSands(now);
      }
    }
    // FAULT / INIT: "We just ignore a message received when we are in fault state"
    return out;
  }

  /** vrrp_state_backup. */
  private backupRx(now: number, adv: RxAdvert, out: Action[]): void {
    if (adv.priority === VRRP_PRIO_STOP) {
      // The master resigned: take over after Skew_Time, not a whole Master_Down_Interval.
      this.msDownMs = this.skew();
      this.initSands(now);
      return;
    }
    const accept = this.cfg.nopreempt
      || adv.priority >= this.effectivePriority
      || (this.cfg.preemptDelayMs > 0 && (this.preemptAt === 0 || this.preemptAt > now));
    if (accept) {
      if (this.cfg.version === 3) this.masterAdverIntMs = adv.maxAdverIntCs * 10;
      this.msDownMs = this.msDownTimer();
      this.masterSrc = adv.src;
      this.masterPriority = adv.priority;
      if (this.cfg.preemptDelayMs > 0) {
        if (adv.priority >= this.effectivePriority) this.preemptAt = 0;
        else if (this.preemptAt === 0) {
          this.preemptAt = now + this.cfg.preemptDelayMs;
          out.push({ type: 'log', msg: `(${this.cfg.name}) start preempt delay (${this.cfg.preemptDelayMs / 1000}s)` });
        }
      }
      this.wantState = 'BACKUP';
      this.initSands(now);
    } else {
      // A lower-priority master and we may preempt: discard, so our down timer runs out.
      out.push({ type: 'log', msg: `(${this.cfg.name}) received lower priority (${adv.priority}) advert - discarding` });
      this.masterSrc = adv.src;
    }
  }

  /** vrrp_state_master_rx: true = leave master. */
  private masterRx(now: number, adv: RxAdvert, out: Action[]): boolean {
    const addrCmp = ipCmp(adv.src, this.cfg.srcIp);
    const prio = this.effectivePriority;
    if (adv.priority === VRRP_PRIO_STOP
      || (this.cfg.higherPrioSendAdvert && (adv.priority > prio || (adv.priority === prio && addrCmp > 0)))) {
      out.push({ type: 'send-advert', priority: prio });
      if (adv.priority === VRRP_PRIO_STOP) return false;
    }
    if (adv.priority === prio && addrCmp !== 0 && prio === VRRP_PRIO_OWNER) {
      out.push({ type: 'log', msg: `(${this.cfg.name}) CONFIGURATION ERROR: both this and ${adv.src} are address owner - reducing local priority` });
      this.effectivePriority = VRRP_PRIO_OWNER - 1;
    }
    const p = this.effectivePriority;
    if (adv.priority < p || (adv.priority === p && addrCmp < 0)) {
      // A lower-priority router thinks it is master (a healed partition): answer at once so it yields.
      if (!this.cfg.lowerPrioNoAdvert) out.push({ type: 'send-advert', priority: p });
      return false;
    }
    if (adv.priority > p || (adv.priority === p && addrCmp > 0)) {
      if (this.cfg.version === 3) this.masterAdverIntMs = adv.maxAdverIntCs * 10;
      this.masterSrc = adv.src;
      this.masterPriority = adv.priority;
      this.wantState = 'BACKUP';
      return true;
    }
    void now;
    return false;
  }

  /** Track scripts / interfaces with weight 0, link down, isolation: any reason present = FAULT. */
  setFault(reason: string, on: boolean, now: number): Action[] {
    const out: Action[] = [];
    const was = this.faulted;
    if (on) this.faults.add(reason); else this.faults.delete(reason);
    if (this.state === 'INIT') return out;
    if (!was && this.faulted) this.enterFault(now, reason, out);
    else if (was && !this.faulted) this.leaveFault(now, out);
    return out;
  }

  private enterFault(now: number, reason: string, out: Action[]): void {
    this.wantState = 'FAULT';
    if (this.state === 'MASTER') this.leaveMaster(now, 'FAULT', `fault: ${reason}`, out, true);
    else {
      this.setState('FAULT', `fault: ${reason}`, now, out);
      this.initSands(now);
    }
  }

  /** vrrp_state_leave_fault via try_up_instance. */
  private leaveFault(now: number, out: Action[]): void {
    this.masterAdverIntMs = this.adverIntMs;
    if (this.cfg.initialState === 'MASTER' && this.isOwner) {
      this.wantState = 'MASTER';
      this.msDownMs = this.masterAdverIntMs + this.skew();
    } else {
      this.wantState = 'BACKUP';
      this.msDownMs = this.msDownTimer();
    }
    this.preemptAt = 0;
    this.setState('BACKUP', 'fault cleared', now, out);
    this.initSands(now);
  }

  /**
   * Split brain input: can we reach a reference address? Only matters when we
   * would hold the VIP without hearing a peer (MASTER, or BACKUP timing out).
   */
  setReferenceOk(ok: boolean, now: number): Action[] {
    this.referenceOk = ok;
    if (!this.cfg.hasReference) return [];
    if (!ok && this.state === 'MASTER') return this.setFault('reference', true, now);
    if (ok && this.faults.has('reference')) return this.setFault('reference', false, now);
    return [];
  }

  /** Sum of track_script / track_interface weights (vrrp_set_effective_priority). */
  setPriorityDelta(delta: number, now: number): Action[] {
    const out: Action[] = [];
    this.priorityDelta = delta;
    if (this.isOwner) return out;
    const total = this.cfg.priority + delta;
    const np = total < 1 ? 1 : total >= VRRP_PRIO_OWNER ? VRRP_PRIO_OWNER - 1 : total;
    if (np === this.effectivePriority) return out;
    out.push({ type: 'log', msg: `(${this.cfg.name}) Changing effective priority from ${this.effectivePriority} to ${np}` });
    this.effectivePriority = np;
    const old = this.msDownMs;
    this.msDownMs = this.msDownTimer();
    if (this.state === 'BACKUP' && Number.isFinite(this.sands)) this.sands += this.msDownMs - old;
    void now;
    return out;
  }

  get priorityAdjustment(): number {
    return this.priorityDelta;
  }

  /** Sync group: another member became master (vrrp_sync_master). */
  syncMaster(now: number): Action[] {
    const out: Action[] = [];
    if (this.state === 'MASTER' || this.state === 'FAULT' || this.state === 'INIT') return out;
    this.wantState = 'MASTER';
    this.becomeMaster(now, out, 'sync group');
    return out;
  }

  /** Sync group: another member went back to BACKUP (vrrp_sync_backup). */
  syncBackup(now: number): Action[] {
    const out: Action[] = [];
    if (this.state !== 'MASTER') return out;
    this.wantState = 'BACKUP';
    this.leaveMaster(now, 'BACKUP', 'sync group', out, false);
    return out;
  }

  /** Sync group: another member went FAULT (vrrp_sync_fault). */
  syncFault(now: number): Action[] {
    return this.setFault('sync-group', true, now);
  }

  syncFaultCleared(now: number): Action[] {
    return this.faults.has('sync-group') ? this.setFault('sync-group', false, now) : [];
  }

  /** Shutdown (SIGTERM): a master resigns with priority 0 so a backup takes over after Skew_Time. */
  stop(now: number): Action[] {
    const out: Action[] = [];
    if (this.state === 'MASTER') {
      out.push({ type: 'send-advert', priority: VRRP_PRIO_STOP });
      this.restoreInterface(out);
    }
    const from = this.state;
    this.state = 'INIT';
    this.sands = Infinity;
    this.garpAt = Infinity;
    this.garpRefreshAt = Infinity;
    out.push({ type: 'transition', from, to: 'INIT', reason: 'stop' });
    out.push({ type: 'notify', state: 'STOP', priority: this.effectivePriority });
    void now;
    return out;
  }
}
