// keepalived's ipwrapper.c for one virtual_server, as pure logic: checker
// verdicts in, the dests IPVS should hold (with weights) and the notify
// scripts to run out. The integrator diffs dests() against lvsd and runs the
// notifications; nothing here does I/O or keeps time.
//
// The rules it reproduces:
// - a real server is alive only while every one of its checkers is up;
// - inhibit_on_failure keeps a dead real server in IPVS with weight 0
//   instead of removing it (ipvswrapper.c turns DELDEST into EDITDEST);
// - quorum: the virtual server has quorum while the sum of alive weights is
//   >= quorum + hysteresis when gaining it, and loses it when that sum drops
//   below quorum - hysteresis (or to 0); quorum_up / quorum_down scripts run
//   on each crossing;
// - the sorry_server replaces the alive real servers while quorum is lost and
//   is removed again when quorum returns (kept with weight 0 under
//   sorry_server_inhibit);
// - notify_up / notify_down run on each real server transition; omega runs
//   the down notifications at shutdown too.
//
// Notify scripts get no extra arguments from keepalived: the configured
// command line is run as it stands. The notify FIFO lines keepalived writes
// ("RS <rs> <vs> UP|DOWN", "VS <vs> UP|DOWN") come with each notification.

/** keepalived's FMT_RS/FMT_VS text: "[ip]:tcp:port". */
export function formatTrio(addr: string, protocol: 'tcp' | 'udp' | 'sctp' | 'none', port: number): string {
  return `[${addr}]:${protocol}:${port}`;
}

/** keepalived's IPVS_WEIGHT_LIMIT: weights are clamped to 0..INT_MAX (real_weight()). */
const WEIGHT_LIMIT = 2147483647;

function realWeight(w: number): number {
  if (w < 0) return 0;
  return Math.min(w, WEIGHT_LIMIT);
}

export interface RealServerConfig {
  /** How this real server is named in dests() and notifications, e.g. formatTrio(...). */
  key: string;
  /** weight; keepalived's default 1. */
  weight?: number;
  inhibitOnFailure?: boolean;
  notifyUp?: string;
  notifyDown?: string;
  /** One entry per checker; `alpha` as that checker's alpha (it starts down). */
  checkers: readonly { id: string; alpha?: boolean }[];
}

export interface SorryServerConfig {
  key: string;
  /** keepalived gives the sorry server weight 1. */
  weight?: number;
  /** sorry_server_inhibit: keep it in IPVS with weight 0 while quorum holds. */
  inhibit?: boolean;
}

export interface VirtualServerConfig {
  /** FMT_VS text for the FIFO lines, e.g. formatTrio(vip, 'tcp', 80) or "FWM 1". */
  name: string;
  /** quorum; default 1, at least 1. */
  quorum?: number;
  /** hysteresis; default 0. */
  hysteresis?: number;
  quorumUp?: string;
  quorumDown?: string;
  sorryServer?: SorryServerConfig;
  omega?: boolean;
  realServers: readonly RealServerConfig[];
}

export type Notification =
  | {
      kind: 'rs_up' | 'rs_down';
      rs: string;
      /** The notify_up / notify_down command line, if configured. */
      script?: string;
      /** keepalived's notify_fifo line. */
      fifo: string;
      /** Sent while shutting down (omega). */
      stopping: boolean;
    }
  | {
      kind: 'quorum_up' | 'quorum_down';
      script?: string;
      fifo: string;
      stopping: boolean;
      /** Part of keepalived's start-up rather than a change seen by a checker. */
      init: boolean;
      weightSum: number;
      threshold: number;
    };

interface CheckerSlot {
  isUp: boolean;
  hasRun: boolean;
  alpha: boolean;
  /** misc_dynamic: this checker's contribution to the effective weight. */
  curWeight: number;
}

interface Rs {
  key: string;
  iweight: number;
  effectiveWeight: number;
  alive: boolean;
  /** Present in IPVS (keepalived's rs->set). */
  set: boolean;
  inhibit: boolean;
  numFailedCheckers: number;
  notifyUp: string | undefined;
  notifyDown: string | undefined;
  checkers: Map<string, CheckerSlot>;
}

export class VirtualServerState {
  private readonly rs = new Map<string, Rs>();
  private readonly sorry: Rs | undefined;
  private readonly quorum: number;
  private readonly hysteresis: number;
  private readonly table = new Map<string, number>();
  private quorumStateUp = false;
  private started = false;
  private out: Notification[] = [];

  constructor(private readonly cfg: VirtualServerConfig) {
    this.quorum = cfg.quorum ?? 1;
    this.hysteresis = cfg.hysteresis ?? 0;
    // check_parser.c's bounds: quorum 1..UINT_MAX, hysteresis 0..UINT_MAX.
    if (!Number.isInteger(this.quorum) || this.quorum < 1) throw new Error(`virtual_server ${cfg.name}: quorum must be a whole number >= 1, got ${this.quorum}`);
    if (!Number.isInteger(this.hysteresis) || this.hysteresis < 0) throw new Error(`virtual_server ${cfg.name}: hysteresis must be a whole number >= 0, got ${this.hysteresis}`);
    for (const r of cfg.realServers) {
      if (this.rs.has(r.key)) throw new Error(`virtual_server ${cfg.name}: real_server ${r.key} is listed twice`);
      const w = r.weight ?? 1;
      const checkers = new Map<string, CheckerSlot>();
      for (const c of r.checkers) {
        if (checkers.has(c.id)) throw new Error(`virtual_server ${cfg.name}: real_server ${r.key} has two checkers with id ${c.id}`);
        checkers.set(c.id, { isUp: true, hasRun: false, alpha: c.alpha ?? false, curWeight: 0 });
      }
      this.rs.set(r.key, {
        key: r.key,
        iweight: w,
        effectiveWeight: w,
        alive: false,
        set: false,
        inhibit: r.inhibitOnFailure ?? false,
        numFailedCheckers: 0,
        notifyUp: r.notifyUp,
        notifyDown: r.notifyDown,
        checkers,
      });
    }
    const s = cfg.sorryServer;
    if (s) {
      const w = s.weight ?? 1;
      this.sorry = {
        key: s.key,
        iweight: w,
        effectiveWeight: w,
        alive: false,
        set: false,
        inhibit: s.inhibit ?? false,
        numFailedCheckers: 0,
        notifyUp: undefined,
        notifyDown: undefined,
        checkers: new Map(),
      };
    }
  }

  /** Dests IPVS should hold now, key → weight (0 = quiesced); absent keys are removed. */
  dests(): Map<string, number> {
    return new Map(this.table);
  }

  get hasQuorum(): boolean {
    return this.quorumStateUp;
  }

  isAlive(rsKey: string): boolean {
    return this.get(rsKey).alive;
  }

  /** Sum of the weights of alive real servers (weigh_live_realservers). */
  aliveWeight(): number {
    let sum = 0;
    for (const r of this.rs.values()) if (r.alive) sum += realWeight(r.effectiveWeight);
    return sum;
  }

  /**
   * keepalived's start: alpha checkers start down, real servers with no
   * failed checker go into IPVS and are alive, inhibited ones go in with
   * weight 0, then quorum is judged (which may run quorum_up, or put in the
   * sorry server and run quorum_down).
   */
  init(): Notification[] {
    if (this.started) throw new Error(`virtual_server ${this.cfg.name}: init() called twice`);
    this.started = true;
    this.out = [];
    for (const r of this.rs.values()) {
      for (const c of r.checkers.values()) {
        if (c.alpha) this.setCheckerState(r, c, false);
      }
    }
    // check_data.c judges quorum from the configuration, before any real server is alive.
    this.quorumStateUp = this.aliveWeight() >= this.quorum + this.hysteresis;
    for (const r of this.rs.values()) {
      if ((r.numFailedCheckers === 0 && !r.alive) || (r.inhibit && !r.set)) {
        this.ipvsAdd(r);
        if (r.numFailedCheckers === 0) r.alive = true;
      }
    }
    this.updateQuorumState(true);
    const s = this.sorry;
    if (s && s.inhibit && !s.set) {
      // init_service_vs: an inhibited sorry server waits in IPVS with weight 0.
      s.numFailedCheckers = 1;
      this.ipvsAdd(s);
      s.numFailedCheckers = 0;
    }
    return this.flush();
  }

  /** A checker's verdict (update_svr_checker_state). Call on every CheckerStateEvent. */
  checkerState(rsKey: string, checkerId: string, up: boolean): Notification[] {
    this.requireStarted();
    this.out = [];
    const r = this.get(rsKey);
    const c = this.getChecker(r, checkerId);
    if (!up) {
      // check_misc.c drops a misc_dynamic weight when the checker fails, without an IPVS edit.
      r.effectiveWeight -= c.curWeight;
      c.curWeight = 0;
    }
    if (c.isUp === up) {
      if (!c.hasRun) {
        if (c.alpha || !up) this.rsNotify(r, false);
        c.hasRun = true;
      }
      return this.flush();
    }
    c.hasRun = true;
    if (up) {
      if (r.numFailedCheckers <= 1) this.performSvrState(true, r);
    } else if (r.numFailedCheckers === 0) {
      this.performSvrState(false, r);
    }
    this.setCheckerState(r, c, up);
    return this.flush();
  }

  /**
   * misc_dynamic: the weight a checker's script asked for (undefined = the
   * configured weight). keepalived's effective weight is the configured one
   * plus each checker's (asked - configured).
   */
  checkerWeight(rsKey: string, checkerId: string, weight: number | undefined): Notification[] {
    this.requireStarted();
    this.out = [];
    const r = this.get(rsKey);
    const c = this.getChecker(r, checkerId);
    const cur = weight === undefined ? 0 : weight - r.iweight;
    if (cur !== c.curWeight) {
      const effective = r.effectiveWeight - c.curWeight + cur;
      c.curWeight = cur;
      this.updateSvrWeight(effective, r);
    }
    return this.flush();
  }

  /**
   * Shutdown (clear_service_vs): every dest leaves IPVS, inhibited or not.
   * With omega, notify_down runs for each alive real server and quorum_down
   * if quorum was held.
   */
  stop(): Notification[] {
    this.out = [];
    const s = this.sorry;
    if (s && s.set) {
      this.ipvsDel(s, true);
      s.alive = false;
    }
    for (const r of this.rs.values()) {
      if (!r.set) continue;
      this.ipvsDel(r, true);
      if (!r.alive) continue;
      r.alive = false;
      if (this.cfg.omega) this.rsNotify(r, true);
    }
    if (this.quorumStateUp) {
      this.quorumStateUp = false;
      if (this.cfg.omega) this.vsNotify(false, this.quorum - this.hysteresis, 0, true);
    }
    this.started = false;
    return this.flush();
  }

  private requireStarted(): void {
    if (!this.started) throw new Error(`virtual_server ${this.cfg.name}: call init() before feeding checker results`);
  }

  private get(rsKey: string): Rs {
    const r = this.rs.get(rsKey);
    if (!r) throw new Error(`virtual_server ${this.cfg.name}: no real_server ${rsKey}`);
    return r;
  }

  private getChecker(r: Rs, id: string): CheckerSlot {
    const c = r.checkers.get(id);
    if (!c) throw new Error(`virtual_server ${this.cfg.name}: real_server ${r.key} has no checker ${id}`);
    return c;
  }

  private flush(): Notification[] {
    const o = this.out;
    this.out = [];
    return o;
  }

  private setCheckerState(r: Rs, c: CheckerSlot, up: boolean): void {
    if (c.isUp === up) return;
    c.isUp = up;
    if (!up) r.numFailedCheckers++;
    else if (r.numFailedCheckers > 0) r.numFailedCheckers--;
  }

  // ipvswrapper.c's ipvs_cmd for ADDDEST, with its inhibit rewrites.
  private ipvsAdd(r: Rs): void {
    if (r.inhibit && r.set) {
      this.table.set(r.key, realWeight(r.effectiveWeight));
    } else if (!r.set) {
      r.set = true;
      this.table.set(r.key, r.inhibit && r.numFailedCheckers > 0 ? 0 : realWeight(r.effectiveWeight));
    }
  }

  // ipvs_cmd for DELDEST: inhibit turns it into "weight 0" unless forced (shutdown).
  private ipvsDel(r: Rs, force = false): void {
    if (r.inhibit && !force) {
      if (r.set) this.table.set(r.key, 0);
    } else if (r.set) {
      r.set = false;
      this.table.delete(r.key);
    }
  }

  private sorryInPool(): boolean {
    return this.sorry !== undefined && this.sorry.alive;
  }

  private performSvrState(alive: boolean, r: Rs): void {
    if (r.alive === alive) return;
    // While the sorry server stands in, real servers stay out of IPVS.
    if (this.quorumStateUp || !this.sorryInPool()) {
      if (alive) this.ipvsAdd(r);
      else this.ipvsDel(r);
    }
    r.alive = alive;
    this.rsNotify(r, false);
    this.updateQuorumState(false);
  }

  private updateSvrWeight(effective: number, r: Rs): void {
    const oldW = realWeight(r.effectiveWeight);
    r.effectiveWeight = effective;
    if (realWeight(effective) === oldW) return;
    if (r.set && r.alive && (this.quorumStateUp || !this.sorryInPool())) {
      this.table.set(r.key, realWeight(effective));
    }
    this.updateQuorumState(false);
  }

  // perform_quorum_state: move the alive real servers in or out of IPVS.
  private performQuorumState(add: boolean): void {
    for (const r of this.rs.values()) {
      if (!r.alive) continue;
      if (add) this.ipvsAdd(r);
      else this.ipvsDel(r);
    }
  }

  private updateQuorumState(init: boolean): void {
    const weightSum = this.aliveWeight();
    const threshold = this.quorum + (this.quorumStateUp ? -1 : 1) * this.hysteresis;
    if (!this.quorumStateUp && weightSum >= threshold) {
      this.quorumStateUp = true;
      const s = this.sorry;
      if (s && s.alive) {
        this.ipvsDel(s);
        s.alive = false;
        this.performQuorumState(true);
      }
      this.vsNotify(init, threshold, weightSum, false);
    } else if (
      (this.quorumStateUp && (weightSum === 0 || weightSum < threshold)) ||
      (init && !this.quorumStateUp && this.sorry !== undefined && !this.sorry.alive)
    ) {
      this.quorumStateUp = false;
      const s = this.sorry;
      if (s && !s.alive) {
        this.performQuorumState(false);
        this.ipvsAdd(s);
        s.alive = true;
      }
      this.vsNotify(init, threshold, weightSum, false);
    }
  }

  private rsNotify(r: Rs, stopping: boolean): void {
    const state = r.alive ? 'UP' : 'DOWN';
    const script = r.alive ? r.notifyUp : r.notifyDown;
    this.out.push({
      kind: r.alive ? 'rs_up' : 'rs_down',
      rs: r.key,
      ...(script !== undefined ? { script } : {}),
      fifo: `RS ${r.key} ${this.cfg.name} ${state}`,
      stopping,
    });
  }

  private vsNotify(init: boolean, threshold: number, weightSum: number, stopping: boolean): void {
    const up = this.quorumStateUp;
    const script = up ? this.cfg.quorumUp : this.cfg.quorumDown;
    this.out.push({
      kind: up ? 'quorum_up' : 'quorum_down',
      ...(script !== undefined ? { script } : {}),
      fifo: `VS ${this.cfg.name} ${up ? 'UP' : 'DOWN'}`,
      stopping,
      init,
      weightSum,
      threshold,
    });
  }
}
