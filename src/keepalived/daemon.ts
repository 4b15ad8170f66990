// lvs-keepalived's life: load the configuration, apply its virtual_servers to
// lvsd in one atomic replace, run the checkers (and VRRP), follow checker
// verdicts, reload on SIGHUP, and on stop take out what it put in.
import { writeFileSync, rmSync } from 'node:fs';
import { checkHost, formatDiagnostic, hasErrors, loadConfig, type Diagnostic, type KeepalivedConfig } from '../config/index.js';
import { startVrrp, registerVrrpMetrics, type StateChange, type VrrpHandle } from '../vrrp/index.js';
import { keepIpBatchReady } from '../vrrp/vip.js';
import { scriptPolicy } from '../core/notify.js';
import { StaticConfig, staticItems, type IpRunner } from '../vrrp/static.js';
import { SyncDaemonDriver } from './sync-daemon.js';
import { emptyBadCounters } from '../vrrp/validate.js';
import type { DumpSource } from '../vrrp/print.js';
import { planVirtualServers, type VsPlan } from './check-data.js';
import { CheckDaemon, type CheckDaemonOptions } from './check-daemon.js';
import { desiredRuleset } from './ipvswrapper.js';
import { IpvsManager, type IpvsManagerOptions, type Log } from './ipvs-manager.js';
import type { KeepalivedMetrics } from './metrics.js';
import { Announcer, type AnnouncerDeps, type VsHealth } from './announce.js';
import { ControlClient } from '../control/client.js';
import type { KeepalivedOptions } from './options.js';

export class ConfigRefused extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(`configuration refused: ${diagnostics.filter((d) => d.severity === 'error').length} error(s)`);
    this.name = 'ConfigRefused';
  }
}

export interface DaemonDeps {
  /** Override pieces for tests. */
  checks?: Omit<CheckDaemonOptions, 'log'>;
  ipvs?: Partial<Omit<IpvsManagerOptions, 'socket' | 'log'>>;
  metrics?: KeepalivedMetrics;
  /** lvsd_announce: replace birdc / the include-file writer / the lvsd probe (tests). */
  announce?: Partial<Pick<AnnouncerDeps, 'birdc' | 'writeFile' | 'probeLvsd'>>;
  /** Start VRRP (default: src/vrrp's startVrrp). */
  startVrrp?: (model: KeepalivedConfig, log: Log, onStateChange: (ev: StateChange) => void) => Promise<Pick<VrrpHandle, 'stop' | 'metrics'> & Partial<Pick<VrrpHandle, 'scripts'>>>;
  /** Host checks at load time (default on; tests of pure logic may turn them off). */
  checkHost?: boolean;
  /** How static_ipaddress / static_routes / static_rules reach the host (default: the `ip` command). */
  ip?: IpRunner;
}

type Opts = Pick<KeepalivedOptions, 'configFile' | 'socket' | 'vrrpOnly' | 'checkOnly' | 'dontReleaseIpvs' | 'dontReleaseVrrp' | 'logDetail'> &
  Partial<Pick<KeepalivedOptions, 'configId' | 'pidFile' | 'stateDir'>>;

/** The parts of the configuration VRRP depends on, to tell whether a reload touched them. */
function vrrpSignature(m: KeepalivedConfig): string {
  const { lvs_timeouts: _t, lvs_flush: _f, lvs_flush_on_stop: _s, lvs_sync_daemon: _d, ...gd } = m.global_defs;
  void _t; void _f; void _s; void _d;
  return JSON.stringify({ gd, i: m.vrrp_instances, s: m.vrrp_scripts, g: m.vrrp_sync_groups }, (k, v: unknown) => (k === 'pos' ? undefined : v));
}

export class KeepalivedDaemon {
  model: KeepalivedConfig | undefined;
  private health: CheckDaemon | undefined;
  private ipvs: IpvsManager | undefined;
  private vrrp: Pick<VrrpHandle, 'stop' | 'metrics'> & Partial<Pick<VrrpHandle, 'scripts'>> | undefined;
  private vrrpSig = '';
  private busy: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly statics: StaticConfig;

  constructor(private readonly opts: Opts, private readonly log: Log, private readonly deps: DaemonDeps = {}) {
    this.statics = new StaticConfig(log, deps.ip);
  }

  /** Parse and check; throws ConfigRefused when keepalived would refuse it. Warnings are logged. */
  load(reportTo?: string): KeepalivedConfig {
    const { model, diagnostics } = loadConfig(this.opts.configFile, this.opts.configId !== undefined ? { configId: this.opts.configId } : {});
    const diags = [...diagnostics];
    if (!hasErrors(diags) && (this.deps.checkHost ?? true)) diags.push(...checkHost(model));
    if (reportTo) {
      // reload_check_config LOG_FILE: the check's report, whatever its outcome.
      try { writeFileSync(reportTo, diags.map(formatDiagnostic).join('\n') + (diags.length ? '\n' : '')); } catch (err) {
        this.log.warn({ file: reportTo }, `reload_check_config: cannot write ${reportTo}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }
    for (const d of diags) {
      const line = formatDiagnostic(d);
      if (d.severity === 'error') this.log.error({ at: `${d.file}:${d.line}:${d.col}`, ka: d.ka }, line);
      else if (d.severity === 'warning') this.log.warn({ at: `${d.file}:${d.line}:${d.col}`, ka: d.ka }, line);
      else this.log.debug({ at: `${d.file}:${d.line}:${d.col}` }, line);
    }
    if (hasErrors(diags)) throw new ConfigRefused(diags);
    return model;
  }

  private runChecks(m: KeepalivedConfig): boolean {
    return !this.opts.vrrpOnly && m.virtual_servers.length > 0;
  }

  private runVrrp(m: KeepalivedConfig): boolean {
    return !this.opts.checkOnly && m.vrrp_instances.length > 0;
  }

  async start(): Promise<void> {
    // The `ip -batch` helper that adds the VIPs takes tens of ms to start on a busy host: it
    // starts now, beside the parsing, not when the first VIP is due. Dropped again below if
    // there is no VRRP to run (startVrrp keeps it from then on).
    if (!this.opts.checkOnly) keepIpBatchReady(true);
    let model: KeepalivedConfig;
    try {
      model = this.load();
    } catch (err) {
      keepIpBatchReady(false);
      throw err;
    }
    this.model = model;
    if (this.opts.pidFile) writeFileSync(this.opts.pidFile, `${process.pid}\n`);
    // The VRRP process adds static addresses, routes and rules before any instance runs.
    if (!this.opts.checkOnly) await this.statics.apply(staticItems(model, this.log));
    await this.applyChecks(model, true);
    await this.configureSync(model);
    await this.configureAnnounce(model);
    if (this.runVrrp(model)) await this.startVrrp(model);
    else keepIpBatchReady(false);
    this.log.info({ virtual_servers: this.runChecks(model) ? model.virtual_servers.length : 0, vrrp_instances: this.vrrp ? model.vrrp_instances.length : 0 },
      'lvs-keepalived started');
  }

  /**
   * SIGHUP: parse, and if keepalived would accept the result, switch to it
   * (one atomic replace in lvsd). A refused configuration changes nothing.
   * Returns whether the new configuration is in force.
   */
  reload(): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      if (this.stopped) return false;
      this.log.info({ file: this.opts.configFile }, 'Reloading configuration (SIGHUP)');
      let model: KeepalivedConfig;
      // The new configuration is always checked before anything changes (keepalived does so only with
      // reload_check_config; without it a bad file can stop it): a refused one leaves the running one in force.
      try {
        model = this.load(this.model?.global_defs.reload_check_config?.log_file);
      } catch (err) {
        if (!(err instanceof ConfigRefused)) throw err;
        this.deps.metrics?.reloads.inc({ result: 'refused' });
        this.log.error({ file: this.opts.configFile }, 'new configuration has errors; keeping the running one');
        return false;
      }
      const old = this.model;
      this.model = model;
      try {
        if (!this.opts.checkOnly) await this.statics.apply(staticItems(model, this.log));
        await this.applyChecks(model, false);
        await this.configureSync(model);
        await this.configureAnnounce(model);
        if (this.vrrp && (!this.runVrrp(model) || vrrpSignature(model) !== this.vrrpSig)) {
          this.log.info({}, 'VRRP configuration changed: restarting VRRP');
          await this.vrrp.stop({ graceful: false });
          this.vrrp = undefined;
        }
        if (!this.vrrp && this.runVrrp(model)) await this.startVrrp(model);
      } catch (err) {
        this.deps.metrics?.reloads.inc({ result: 'failed' });
        this.log.error({ err: err instanceof Error ? err.message : String(err), previous: old ? 'replaced' : 'none' }, 'reload failed');
        return false;
      }
      this.deps.metrics?.reloads.inc({ result: 'ok' });
      this.log.info({}, 'configuration reloaded');
      return true;
    };
    const p = this.busy.then(run, run);
    this.busy = p.catch(() => undefined);
    return p;
  }

  /** SIGTERM/SIGINT: stop checkers, remove our services from lvsd (or flush, or keep with -I), stop VRRP gracefully. */
  stop(): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.stopped) return;
      this.stopped = true;
      const errors: string[] = [];
      // Withdraw first, so the router stops sending before our services leave lvsd.
      if (this.announcer) {
        await this.announcer.stop(this.model?.lvsd_announce?.withdraw_on_stop ?? true);
        this.announcer = undefined;
      }
      if (this.health) {
        await this.health.stop();
        this.health = undefined;
      }
      await this.sync?.stop().catch(() => undefined);
      this.sync = undefined;
      if (this.ipvs) {
        const gd = this.model?.global_defs;
        // `lvs_flush_on_stop VS` removes only keepalived's own virtual servers, which is what we do anyway.
        const flushAll = gd?.lvs_flush_on_stop === true;
        const mode = this.opts.dontReleaseIpvs ? 'keep' : flushAll ? 'flush' : 'remove';
        try {
          await this.ipvs.release(mode);
          this.log.info({ mode }, mode === 'keep' ? 'leaving the virtual servers in lvsd (-I)' : mode === 'flush' ? 'flushed lvsd (lvs_flush_on_stop)' : 'removed our virtual servers from lvsd');
        } catch (err) {
          errors.push(`lvsd: ${err instanceof Error ? err.message : String(err)}`);
        }
        this.ipvs = undefined;
      }
      if (this.vrrp) {
        try { await this.vrrp.stop({ graceful: !this.opts.dontReleaseVrrp }); } catch (err) { errors.push(`vrrp: ${String(err)}`); }
        this.vrrp = undefined;
      }
      // -V (--dont-release-vrrp) keeps the static addresses, routes and rules too.
      if (!this.opts.dontReleaseVrrp) await this.statics.removeAll();
      if (this.opts.pidFile) rmSync(this.opts.pidFile, { force: true });
      if (errors.length) throw new Error(errors.join('; '));
    };
    const p = this.busy.then(run, run);
    this.busy = p.catch(() => undefined);
    return p;
  }

  /** The manager talking to lvsd (undefined while no virtual_server is configured). */
  get lvsd(): IpvsManager | undefined {
    return this.ipvs;
  }

  private async startVrrp(model: KeepalivedConfig): Promise<void> {
    const start = this.deps.startVrrp ?? ((m: KeepalivedConfig, log: Log, onStateChange: (ev: StateChange) => void) => startVrrp(m, {
      log, logDetail: this.opts.logDetail, onStateChange, ...(this.opts.stateDir !== undefined ? { stateDir: this.opts.stateDir } : {}),
    }));
    this.vrrp = await start(model, this.log, (ev) => this.onVrrpState(ev));
    this.vrrpSig = vrrpSignature(model);
    if (this.deps.metrics && !this.vrrpMetricsRegistered) {
      this.vrrpMetricsRegistered = true;
      // The gauges read through this indirection, so a VRRP restart on reload keeps them valid.
      await registerVrrpMetrics({ metrics: () => this.vrrp?.metrics() ?? { instances: [], unattributed: emptyBadCounters() } }, this.deps.metrics.registry);
    }
  }
  private vrrpMetricsRegistered = false;

  /** Start (or switch) health checking and lvsd for `model`, applying the result atomically. */
  private async applyChecks(model: KeepalivedConfig, initial: boolean): Promise<void> {
    if (!this.runChecks(model)) {
      if (this.health) {
        // A reload removed every virtual_server: stop checking, take ours out of lvsd.
        await this.health.stop();
        this.health = undefined;
        await this.ipvs?.apply({ services: [] }, { atomic: true }).catch(() => undefined);
      }
      if (initial) this.log.info({ reason: this.opts.vrrpOnly ? '-P' : 'no virtual_server' }, 'running without lvsd (VRRP only)');
      return;
    }
    const plans = planVirtualServers(model, (msg) => this.log.warn({}, msg));
    if (!this.ipvs) {
      this.ipvs = new IpvsManager({
        socket: this.opts.socket, log: this.log, ...this.deps.ipvs,
        onApply: (kind, ok) => { this.deps.metrics?.applies.inc({ kind, result: ok ? 'ok' : 'error' }); this.deps.ipvs?.onApply?.(kind, ok); },
      });
    }
    if (!this.health) {
      this.health = new CheckDaemon({ log: this.log, ...this.deps.checks });
      this.wireHealth(this.health);
    }
    this.health.scriptPolicy = scriptPolicy(model.global_defs);
    const stats = this.health.reload(plans);
    if (!initial) this.log.info(stats, 'virtual servers: kept / rebuilt / added / removed');
    const gd = model.global_defs;
    const desired = desiredRuleset(model, this.health.plans, (p) => this.health!.destsOf(p));
    this.updateWeights();
    // lvsd may not be there yet: the manager keeps retrying; start/reload do not fail for it.
    await this.ipvs.apply(desired, {
      atomic: true,
      flushForeign: initial && gd.lvs_flush,
      ...(gd.lvs_timeouts ? { timeouts: gd.lvs_timeouts } : {}),
    }).catch(() => undefined);
  }

  /** lvsd_announce: (re)start the announcer for `model`'s block; a reload with the block gone withdraws. */
  private async configureAnnounce(model: KeepalivedConfig): Promise<void> {
    const cfg = model.lvsd_announce;
    const { pos: _p, ...sig } = cfg ?? { pos: undefined };
    const same = this.announcer && cfg && JSON.stringify(sig) === this.announceSig;
    if (same) { await this.announcer!.poke(); return; }
    await this.announcer?.stop(true);
    this.announcer = undefined;
    if (!cfg) return;
    this.announceSig = JSON.stringify(sig);
    const socket = this.opts.socket;
    const probe = async (): Promise<boolean> => {
      const c = await ControlClient.connect({ ...(socket ? { socket } : {}), timeoutMs: Math.max(200, Math.min(2000, cfg.check_interval * 1000)) });
      try { await c.request('get-info', {}); return true; } finally { c.close(); }
    };
    this.announcer = new Announcer(cfg, {
      log: this.log,
      probeLvsd: this.deps.announce?.probeLvsd ?? probe,
      health: () => this.vsHealth(),
      ...(this.deps.announce?.birdc ? { birdc: this.deps.announce.birdc } : {}),
      ...(this.deps.announce?.writeFile ? { writeFile: this.deps.announce.writeFile } : {}),
    });
    await this.announcer.start();
  }
  private announcer: Announcer | undefined;
  private announceSig = '';

  /** Each virtual_server's quorum, as the checkers hold it (check/real-server-state.ts). */
  private vsHealth(): VsHealth[] {
    const h = this.health;
    if (!h) return [];
    return h.plans.map((p) => ({
      name: p.checks.name,
      ...(p.vs.key.kind === 'addr' ? { addr: p.vs.key.addr } : {}),
      quorum: h.hasQuorum(p),
    }));
  }

  private wireHealth(h: CheckDaemon): void {
    h.on('dests', () => {
      void this.announcer?.poke();
      if (!this.model || !this.ipvs || this.stopped) return;
      const desired = desiredRuleset(this.model, h.plans, (p) => h.destsOf(p));
      this.updateWeights();
      void this.ipvs.apply(desired).catch(() => undefined);
    });
    const m = this.deps.metrics;
    if (!m) return;
    h.on('checker', ({ vs, report }) => {
      m.checkerUp.set({ virtual_server: vs, real_server: report.rs, checker: report.name }, report.event.up ? 1 : 0);
      if (report.event.changed) m.checkerTransitions.inc({ virtual_server: vs, real_server: report.rs, checker: report.name, to: report.event.up ? 'up' : 'down' });
    });
    h.on('result', ({ vs, rs, checker, event }) => {
      m.checkerResults.inc({ virtual_server: vs, real_server: rs, checker, result: event.result.ok ? 'ok' : 'fail' });
    });
  }

  private updateWeights(): void {
    const m = this.deps.metrics;
    const h = this.health;
    if (!m || !h) return;
    m.rsWeight.reset();
    m.vsQuorum.reset();
    for (const p of h.plans) {
      const dests = h.destsOf(p);
      for (const key of p.destKeys) m.rsWeight.set({ virtual_server: p.checks.name, real_server: key }, dests.get(key) ?? -1);
      m.vsQuorum.set({ virtual_server: p.checks.name }, h.hasQuorum(p) ? 1 : 0);
    }
  }

  private onVrrpState(ev: StateChange): void {
    const sync = this.sync;
    if (!sync || !sync.follows(ev.instance) || this.stopped) return;
    if (ev.to === 'MASTER') void sync.set('master');
    else if (ev.from === 'MASTER') void sync.set('backup');
  }

  /** lvs_sync_daemon: (re)configure the driver for `model`; starts as backup, as keepalived. */
  private async configureSync(model: KeepalivedConfig): Promise<void> {
    const sd = model.global_defs.lvs_sync_daemon;
    const same = this.sync && sd && JSON.stringify(this.sync.cfg) === JSON.stringify(sd);
    if (same) return;
    await this.sync?.stop();
    this.sync = undefined;
    if (!sd) return;
    const ipvs = this.ipvs;
    if (!ipvs) {
      this.log.warn({}, 'lvs_sync_daemon is set but no virtual_server is: lvsd is not in use, so no sync daemon runs');
      return;
    }
    this.sync = SyncDaemonDriver.fromModel(model, (op, args) => ipvs.call(op, args), this.log);
    await this.sync?.set('backup');
  }
  private sync: SyncDaemonDriver | undefined;

  /**
   * The checker side of keepalived's SIGUSR1 dump (keepalived_check.data), as
   * one JSON document: the configuration file in force, the checkers' view of
   * every real server, what lvsd holds of ours, and VRRP's instances.
   */
  dumpState(): object {
    return {
      config_file: this.opts.configFile,
      pid: process.pid,
      virtual_servers: this.health?.snapshot() ?? [],
      lvsd: this.ipvs?.current ?? null,
      lvsd_announce: this.announcer?.verdicts ?? null,
      vrrp: this.vrrp?.metrics() ?? null,
    };
  }

  /** What keepalived's dump files (vrrp/print.ts, vrrp/json.ts) are made of; undefined before a configuration is in force. */
  dumpSource(): DumpSource | undefined {
    if (!this.model) return undefined;
    return {
      model: this.model,
      metrics: this.vrrp?.metrics() ?? { instances: [], unattributed: emptyBadCounters() },
      scripts: this.vrrp?.scripts?.() ?? [],
    };
  }

  /** For tests and metrics: the plans in force. */
  get plans(): VsPlan[] {
    return this.health?.plans ?? [];
  }
}
