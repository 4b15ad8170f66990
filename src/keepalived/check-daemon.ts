// The health-checking half of lvs-keepalived (keepalived's check_daemon.c, the checker process):
// one VirtualServerChecks per virtual_server, their verdicts turned into the
// dests lvsd should hold, notify scripts run, and reloads that keep what the
// checkers already know.
//
// Reload (keepalived PR #106: checkers of surviving real servers must not
// flap): a virtual_server whose checking configuration is unchanged keeps its
// running VirtualServerChecks untouched. One that changed gets a new set
// started from the old one (VirtualServerChecks.start(previous)): surviving
// real servers keep their state and unchanged checkers keep running.
import { EventEmitter } from 'node:events';
import { networkInterfaces } from 'node:os';
import { canonicalIpv6 } from '../packet/addr6.js';
import {
  VirtualServerChecks, runNotification,
  type CheckerResultEvent, type CheckerStateReport, type Notification,
} from '../check/index.js';
import type { ScriptPolicy } from '../core/notify.js';
import type { VsPlan } from './check-data.js';
import type { Log } from './ipvs-manager.js';

export interface CheckDaemonEvents {
  /** A virtual_server's dests changed because of a checker (not start/reload). */
  dests: [VsPlan];
  checker: [{ vs: string; report: CheckerStateReport }];
  result: [{ vs: string; rs: string; checker: string; event: CheckerResultEvent }];
  notify: [{ vs: string; n: Notification }];
}

interface Entry {
  plan: VsPlan;
  vsc: VirtualServerChecks;
  /** The checking configuration, to tell whether a reload changed it. */
  sig: string;
  live: boolean;
  /** Its state went to a successor set (reload). */
  handedOver?: boolean;
  /** ha_suspend: whether the address was local at the last look (for logging changes). */
  suspendedLocal?: boolean;
}

export interface CheckDaemonOptions {
  log: Log;
  /** Run notify scripts (default: through /bin/sh, as keepalived). Tests replace it. */
  runNotify?: (script: string, n: Notification) => void;
  /** ha_suspend: is this address on one of our interfaces? Default: os.networkInterfaces(). */
  isLocalAddress?: (addr: string) => boolean;
  /** Extras for VirtualServerChecks (tests pass fake timers). */
  extras?: ConstructorParameters<typeof VirtualServerChecks>[1];
}

export class CheckDaemon extends EventEmitter<CheckDaemonEvents> {
  private entries = new Map<string, Entry>();
  /** global_defs script_user and enable_script_security, for MISC_CHECK and notify scripts (set by the daemon from the model in force). */
  scriptPolicy: ScriptPolicy | undefined;
  private suspendTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: CheckDaemonOptions) {
    super();
  }

  get plans(): VsPlan[] {
    return [...this.entries.values()].map((e) => e.plan);
  }

  /** The dests (rs key → weight) the checks of `plan` hold now. */
  destsOf(plan: VsPlan): Map<string, number> {
    return this.entries.get(plan.identity)?.vsc.dests() ?? new Map();
  }

  /** The runtime state, for SIGUSR1/SIGUSR2 dumps: per virtual_server, each real server and checker. */
  snapshot(): object[] {
    return [...this.entries.values()].map((e) => {
      const dests = e.vsc.dests();
      return {
        virtual_server: e.plan.checks.name,
        quorum: e.vsc.state.hasQuorum,
        suspended: e.suspendedLocal === false,
        real_servers: e.plan.destKeys.map((rs) => ({
          real_server: rs,
          alive: e.plan.checks.realServers.some((r) => r.key === rs) ? e.vsc.state.isAlive(rs) : undefined,
          weight_in_lvsd: dests.get(rs) ?? null,
          checkers: e.vsc.allCheckers.filter((c) => c.rs === rs).map((c) => ({ name: c.checker.name, up: c.checker.up, has_run: c.checker.hasRun })),
        })),
      };
    });
  }

  hasQuorum(plan: VsPlan): boolean {
    return this.entries.get(plan.identity)?.vsc.state.hasQuorum ?? false;
  }

  /** Start checking; the initial dests are in place when this returns (no 'dests' events for them). */
  start(plans: readonly VsPlan[]): void {
    this.reload(plans);
  }

  /**
   * Switch to a new configuration. Returns once every new set has its
   * initial dests; removed sets are stopped in the background.
   */
  reload(plans: readonly VsPlan[]): { kept: number; rebuilt: number; added: number; removed: number } {
    const old = this.entries;
    const next = new Map<string, Entry>();
    const stats = { kept: 0, rebuilt: 0, added: 0, removed: 0 };
    for (const plan of plans) {
      if (next.has(plan.identity)) {
        this.opts.log.warn({ vs: plan.identity, at: `${plan.vs.pos.file}:${plan.vs.pos.line}:${plan.vs.pos.col}` }, 'virtual_server defined twice; the later one is ignored, as keepalived does');
        continue;
      }
      const sig = JSON.stringify(plan.checks);
      const prev = old.get(plan.identity);
      if (prev && prev.sig === sig) {
        prev.plan = plan;
        next.set(plan.identity, prev);
        old.delete(plan.identity);
        stats.kept++;
        continue;
      }
      next.set(plan.identity, this.build(plan, sig, prev));
      if (prev) { old.delete(plan.identity); stats.rebuilt++; } else stats.added++;
    }
    for (const e of old.values()) { void this.retire(e, { removed: true }); stats.removed++; }
    this.entries = next;
    this.checkSuspend();
    return stats;
  }

  /** Stop every checker (omega notifications run); the caller removes the services from lvsd. */
  async stop(): Promise<void> {
    clearInterval(this.suspendTimer);
    this.suspendTimer = undefined;
    const all = [...this.entries.values()];
    this.entries = new Map();
    await Promise.all(all.map((e) => this.retire(e)));
  }

  private retire(e: Entry, opts: { removed?: boolean } = {}): Promise<void> {
    e.live = false;
    return e.vsc.stop(opts).catch((err: unknown) => {
      this.opts.log.error({ vs: e.plan.checks.name, err: String(err) }, 'stopping checkers failed');
    });
  }

  private build(plan: VsPlan, sig: string, prev: Entry | undefined): Entry {
    const extras = this.opts.extras ?? {};
    const vsc = new VirtualServerChecks(plan.checks, this.scriptPolicy && !extras.scripts ? { ...extras, scripts: this.scriptPolicy } : extras);
    const entry: Entry = { plan, vsc, sig, live: true };
    if (plan.vs.ha_suspend && plan.vs.key.kind === 'addr') vsc.setEnabled(this.isLocal(plan.vs.key.addr));
    const name = plan.checks.name;
    vsc.on('dests', () => {
      if (entry.live && this.entries.get(plan.identity) === entry) this.emit('dests', entry.plan);
    });
    vsc.on('checker', (report) => {
      if (!entry.live) return;
      const up = report.event.up;
      this.opts.log.info({ vs: name, rs: report.rs, checker: report.name, up, reason: report.event.reason },
        `${report.name}: ${up ? 'success' : 'failure'}${report.event.changed ? ` - ${up ? 'adding' : 'removing'} service` : ''}`);
      this.emit('checker', { vs: name, report });
    });
    // Notifications also flow while stopping (omega, a removed virtual_server's notify_down), not after a hand-over.
    vsc.on('notify', (n) => { if (!entry.handedOver) this.notify(name, n); });
    if (prev) {
      // The old set hands its state and its still-valid checkers over: keepalived's clear_diff_services.
      prev.live = false;
      prev.handedOver = true;
      vsc.start(prev.vsc);
    } else {
      vsc.start();
    }
    for (const { rs, checker } of vsc.allCheckers) {
      checker.on('result', (event) => {
        if (entry.live) this.emit('result', { vs: name, rs, checker: checker.name, event });
      });
    }
    return entry;
  }

  private isLocal(addr: string): boolean {
    return (this.opts.isLocalAddress ?? isLocalAddress)(addr);
  }

  /**
   * ha_suspend: a virtual_server's checkers run only while its address is on
   * this host (keepalived follows netlink address events; a 1 s poll of the
   * interfaces gives the same answer a little later).
   */
  private checkSuspend(): void {
    const apply = (): void => {
      for (const e of this.entries.values()) {
        const k = e.plan.vs.key;
        if (!e.plan.vs.ha_suspend || k.kind !== 'addr') continue;
        const local = this.isLocal(k.addr);
        if (local !== e.suspendedLocal) {
          e.suspendedLocal = local;
          this.opts.log.info({ vs: e.plan.checks.name, address: k.addr }, local ? 'address is local: resuming checkers (ha_suspend)' : 'address is not local: suspending checkers (ha_suspend)');
        }
        e.vsc.setEnabled(local);
      }
    };
    apply();
    const any = [...this.entries.values()].some((e) => e.plan.vs.ha_suspend);
    if (any && !this.suspendTimer) {
      this.suspendTimer = setInterval(apply, 1000);
      this.suspendTimer.unref();
    } else if (!any && this.suspendTimer) {
      clearInterval(this.suspendTimer);
      this.suspendTimer = undefined;
    }
  }

  private notify(vs: string, n: Notification): void {
    this.emit('notify', { vs, n });
    this.opts.log.info({ vs, notify: n.kind, fifo: n.fifo, script: n.script }, n.fifo);
    if (n.script === undefined) return;
    if (this.opts.runNotify) { this.opts.runNotify(n.script, n); return; }
    const script = n.script;
    void runNotification(n, this.scriptPolicy).then((o) => {
      if (o && (o.error || o.code !== 0)) this.opts.log.warn({ script, code: o.code, signal: o.signal, err: o.error }, 'notify script failed');
    });
  }
}

/** Whether `addr` is configured on an interface of this network namespace. */
export function isLocalAddress(addr: string): boolean {
  const want = addr.includes(':') ? canonicalIpv6(addr) : addr;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if ((a.family === 'IPv6' ? canonicalIpv6(a.address.split('%')[0]!) : a.address) === want) return true;
  }
  return false;
}
