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
  /** misc_dynamic: this checker's contribution to the effective weight (asked - configured). */
  curWeight: number;
  /** misc_dynamic: the weight last asked for; undefined = the configured weight. */
  asked: number | undefined;
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
        checkers.set(c.id, { isUp: true, hasRun: false, alpha: c.alpha ?? false, curWeight: 0, asked: undefined });
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
   *
   * With `previous` (the same virtual_server before a reload) this is
   * keepalived's clear_diff_services instead: real servers that survive keep
   * their IPVS entry, alive flag and the verdicts of checkers whose id is
   * unchanged, so a failed real server is not put back by a reload and a
   * healthy one is not taken out; real servers that are gone leave IPVS.
   * `previous` must not be used afterwards.
   */
  init(previous?: VirtualServerState): Notification[] {
    if (this.started) throw new Error(`virtual_server ${this.cfg.name}: init() called twice`);
    this.started = true;
    this.out = [];
    const reloaded = new Set<string>();
    if (previous) {
      if (!previous.started) throw new Error(`virtual_server ${this.cfg.name}: the previous state was never started or is stopped`);
      previous.started = false;
      this.quorumStateUp = previous.quorumStateUp;
      this.migrate(previous, reloaded);
    }
    for (const r of this.rs.values()) {
      if (reloaded.has(r.key)) continue;
      for (const c of r.checkers.values()) {
        if (c.alpha) this.setCheckerState(r, c, false);
      }
    }
    if (!previous) {
      // check_data.c judges quorum from the configuration, before any real server is alive.
      this.quorumStateUp = this.aliveWeight() >= this.quorum + this.hysteresis;
    }
    for (const r of this.rs.values()) {
      if (reloaded.has(r.key)) continue;
      if ((r.numFailedCheckers === 0 && !r.alive) || (r.inhibit && !r.set)) {
        if (this.sorryInPool() && !this.quorumStateUp) {
          // A real server new in a reload joins while the sorry server stands
          // in: it waits outside (at weight 0 if inhibited) until quorum
          // returns, where keepalived would put it beside the sorry server.
          if (r.inhibit && !r.set) {
            r.set = true;
            this.table.set(r.key, 0);
          }
        } else {
          this.ipvsAdd(r);
        }
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

  /** Whether a checker counts as up right now (its initial state before its first verdict). */
  checkerUp(rsKey: string, checkerId: string): boolean {
    return this.getChecker(this.get(rsKey), checkerId).isUp;
  }

  /** Whether a checker has given a verdict yet. */
  checkerHasRun(rsKey: string, checkerId: string): boolean {
    return this.getChecker(this.get(rsKey), checkerId).hasRun;
  }

  // clear_diff_rs + migrate_checkers + clear_diff_s_srv of ipwrapper.c. The
  // sorry server's state is carried first so that real servers coming back
  // below see whether it stands in (keepalived carries it last, which can
  // leave a sorry server in IPVS beside a regained quorum), and the IPVS
  // entries of surviving real servers are recomputed from the rules rather
  // than replayed as keepalived's add/delete commands, which can leave a
  // real server at weight 0 or beside the sorry server after a reload.
  private migrate(prev: VirtualServerState, reloaded: Set<string>): void {
    const oldS = prev.sorry;
    const s = this.sorry;
    const sameSorry = oldS !== undefined && s !== undefined && s.key === oldS.key;
    if (sameSorry && (oldS.inhibit === s.inhibit || oldS.alive)) {
      s.alive = oldS.alive;
      s.set = oldS.set;
      if (s.set) this.table.set(s.key, s.alive ? realWeight(s.effectiveWeight) : 0);
    }

    for (const old of prev.rs.values()) {
      const r = this.rs.get(old.key);
      if (!r) {
        // clear_service_rs(stopping = false): out of IPVS even if inhibited; notify if it was alive.
        if (old.alive) this.rsNotify({ ...old, alive: false }, false);
        continue;
      }
      reloaded.add(r.key);
      r.alive = old.alive;
      r.set = old.set;
      const w = prev.table.get(old.key);
      if (old.set && w !== undefined) this.table.set(r.key, w);
      for (const [id, c] of r.checkers) {
        const oc = old.checkers.get(id);
        if (!oc) continue;
        if (oc.hasRun && oc.isUp !== c.isUp) this.setCheckerState(r, c, oc.isUp);
        c.hasRun = oc.hasRun;
        c.asked = oc.asked;
      }
      let failed = 0;
      let anyRun = false;
      let dynamic = 0;
      for (const c of r.checkers.values()) {
        if (c.hasRun && !c.isUp) failed++;
        if (c.hasRun) anyRun = true;
        c.curWeight = c.asked === undefined ? 0 : c.asked - r.iweight;
        dynamic += c.curWeight;
      }
      r.numFailedCheckers = failed;
      r.effectiveWeight = r.iweight + dynamic;
      // A real server that already failed, or never proved itself, waits for its new alpha checkers.
      if (failed > 0 || (!r.alive && !anyRun)) {
        for (const c of r.checkers.values()) {
          if (!c.hasRun && c.alpha) this.setCheckerState(r, c, false);
        }
      }
      if (r.numFailedCheckers === 0 && !r.alive) this.performSvrState(true, r);
    }

    // A reload may change inhibit_on_failure or weights under a real server
    // whose entry was carried over, or drop the sorry server that stood in
    // for it: make each entry what the rules give. Quorum judging in init()
    // then brings in a new sorry server if one is needed.
    const standIn = this.sorryInPool() && !this.quorumStateUp;
    for (const key of reloaded) {
      const r = this.rs.get(key)!;
      const want = !r.alive || standIn ? (r.inhibit ? 0 : undefined) : realWeight(r.effectiveWeight);
      if (want === undefined) {
        r.set = false;
        this.table.delete(key);
      } else {
        r.set = true;
        this.table.set(key, want);
      }
    }
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
      c.asked = undefined;
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
    c.asked = weight;
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
   * if quorum was held. With `removed` (the virtual_server is gone from the
   * configuration after a reload) notify_down runs for each alive real
   * server whatever omega says, as keepalived does.
   */
  stop(opts: { removed?: boolean } = {}): Notification[] {
    const removed = opts.removed ?? false;
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
      if (removed) this.rsNotify(r, false);
      else if (this.cfg.omega) this.rsNotify(r, true);
    }
    if (this.quorumStateUp) {
      this.quorumStateUp = false;
      if (this.cfg.omega && !removed) this.vsNotify(false, this.quorum - this.hysteresis, 0, true);
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

  // ipvswrapper.c's ipvs_cmd for ADDDEST, with its inhibit rewrites. Adding a
  // dest that is already there edits its weight: keepalived would get EEXIST
  // from the kernel (possible after a reload drops inhibit_on_failure) and
  // leave the real server at weight 0.
  private ipvsAdd(r: Rs): void {
    if (r.set) {
      this.table.set(r.key, realWeight(r.effectiveWeight));
    } else {
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
