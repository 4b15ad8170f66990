// The VRRP half of lvs-keepalived (keepalived's vrrp_daemon.c): maps the
// config model (data.ts), gives the runtime (scheduler.ts) the real I/O —
// raw sockets (IPv4 and IPv6), VIPs through `ip`, gratuitous ARPs and
// unsolicited neighbour advertisements, scripts as script_user,
// the VIP watchdog — and starts the tracked-object sources.
//
//   const vrrp = await startVrrp(model, { log, stateDir });
//   vrrp.metrics();                      // per-instance state, transitions, bad-packet counters
//   registerVrrpMetrics(vrrp, registry);  // the same as prom-client gauges
//   await vrrp.stop({ graceful: true });  // SIGTERM: priority 0, VIPs removed, notify_stop
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { KeepalivedConfig } from '../config/model.js';
import { runScript, scriptPolicy } from '../core/notify.js';
import { sendGratuitousArp } from '../io/native.js';
import { buildVrrp, type VrrpFields } from '../packet/vrrp.js';
import { VRRP_PRIO_STOP, type VrrpInstance } from './instance.js';
import { runIp } from './static.js';
import { validateAdvert, validateAdvert6 } from './validate.js';
import { VipSet, VipStateFile, defaultStateDir, keepIpBatchReady } from './vip.js';
import { VrrpSocket, VrrpSocket6, linkLocalIpv6, primaryIpv4 } from './socket.js';
import { sendUnsolicitedNa } from './ndisc.js';
import { VrrpScriptTracker, LinkWatcher, ReferenceProber } from './track.js';
import { vrrpData } from './data.js';
import { VrrpScheduler, type StateChange, type VrrpIo, type VrrpLogger, type VrrpMetrics } from './scheduler.js';

export type { StateChange, VrrpLogger, VrrpMetrics, InstanceMetrics } from './scheduler.js';
export { registerVrrpMetrics } from './metrics.js';

export interface VrrpOptions {
  log: VrrpLogger;
  /** Where the VIP state files live; default /run/lvs-keepalived/netns-<inode>, unique per network namespace. */
  stateDir?: string;
  onStateChange?: (ev: StateChange) => void;
  /** Fork the VIP watchdog (default true). */
  watchdog?: boolean;
  /** Let the watchdog send the priority-0 adverts of a killed master (default true). */
  watchdogResign?: boolean;
  /** keepalived -D: log every advert-level event. */
  logDetail?: boolean;
}

export interface ScriptStatus { name: string; ok: boolean; running: boolean; runs: number }

export interface VrrpHandle {
  readonly instances: ReadonlyMap<string, VrrpInstance>;
  metrics(): VrrpMetrics;
  /** vrrp_script states, for keepalived's data dump. */
  scripts(): ScriptStatus[];
  /** graceful (SIGTERM): masters send priority 0 and remove their VIPs; false: VIPs removed, no resignation. */
  stop(opts?: { graceful?: boolean }): Promise<void>;
}

/** tsc's vip-watchdog.js: beside this module (dist/src/vrrp), or found above it (src/ under vitest, the bundle in dist/bin). */
function watchdogPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  const beside = join(dir, 'vip-watchdog.js');
  if (existsSync(beside)) return beside;
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    const p = join(dir, 'dist', 'src', 'vrrp', 'vip-watchdog.js');
    if (existsSync(p)) return p;
  }
  throw new Error(`vip-watchdog.js not found above ${fileURLToPath(import.meta.url)}: run \`npm run build\``);
}

export async function startVrrp(model: KeepalivedConfig, opts: VrrpOptions): Promise<VrrpHandle> {
  const log = opts.log;
  const stateDir = opts.stateDir ?? defaultStateDir();
  const data = vrrpData(model, primaryIpv4, linkLocalIpv6);
  for (const w of data.warnings) log.warn({ instance: w.instance, ...(w.script ? { script: w.script } : {}) }, w.msg);
  const scripts = scriptPolicy(model.global_defs);

  const vipSets = new Map(data.instances.map((s) => [s, new VipSet(s.vipSpecs, new VipStateFile(stateDir, s.model.name), s.routeItems, runIp)]));
  // ---- crash safety: whatever a killed predecessor left is removed before we join
  for (const [s, vips] of vipSets) {
    const stale = await vips.removeStale();
    if (stale.length) log.warn({ instance: s.model.name, vips: stale.map((v) => `${v.addr}/${v.prefix}`) }, 'removed VIPs left by a previous run');
  }

  keepIpBatchReady(true);

  // ---- the watchdog: forked once VRRP has started (below). Forking a second Node costs the
  // start-up tens of ms of CPU on a busy host, and the first advert and the VIP must not wait for
  // it. Until it runs, the latest held state waits here and is handed over as soon as it starts
  // (every message carries the whole state, so the last one is enough).
  let wd: ChildProcess | undefined;
  let pendingWd: string | undefined;
  const resignOn = opts.watchdogResign ?? true;
  const toWatchdog = (line: string): void => {
    if (!wd) { pendingWd = line; return; }
    if (!wd.stdin || wd.stdin.destroyed) return;
    wd.stdin.write(line);
  };

  const sockets = new Map<string, VrrpSocket>();
  const sockets6 = new Map<string, VrrpSocket6>();
  const io: VrrpIo = {
    now: () => performance.now(),
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
    send: (ifname, fields, src, dst, v3AsV2) => (fields.family === 6
      ? sockets6.get(ifname)?.send(fields, src, dst)
      : sockets.get(ifname)?.send(fields, src, dst, v3AsV2)) ?? -19 /* ENODEV */,
    vips: (s) => vipSets.get(s)!,
    gratuitousArp: (dev, addr, repeat) => sendGratuitousArp(dev, addr, repeat),
    neighbourAdvert: (dev, addr, repeat) => sendUnsolicitedNa(dev, addr, repeat),
    notify: (script, args) => {
      void runScript(script, { args, policy: scripts }).then((o) => {
        if (o.error) log.warn({ script, err: o.error }, 'notify script failed to start');
      });
    },
    watchdog: ({ vips, masters }) => {
      if (!(opts.watchdog ?? true)) return;
      const resign = resignOn
        ? masters.flatMap((r) => r.dsts.map((dst) => ({
          ifname: r.ifname, family: r.family, src: r.src, dst,
          hex: Buffer.from(buildVrrp({ ...r.fields, priority: VRRP_PRIO_STOP } as VrrpFields, r.src, dst)).toString('hex'),
        })))
        : [];
      toWatchdog(`${JSON.stringify({ vips, resign })}\n`);
    },
  };
  const sched = new VrrpScheduler(data.instances, io, {
    log, ...(opts.onStateChange ? { onStateChange: opts.onStateChange } : {}), ...(opts.logDetail ? { logDetail: true } : {}),
  });

  // ---- receive
  for (const ifname of new Set(data.instances.filter((s) => s.family === 4).map((s) => s.ifname))) {
    const mine = data.instances.filter((s) => s.ifname === ifname && s.family === 4);
    const expect = sched.expectations(ifname, 4);
    sockets.set(ifname, new VrrpSocket(ifname, mine.some((s) => !s.unicast) ? data.mcastGroup : undefined, (pkt, from) => {
      const res = validateAdvert(pkt, (vrid) => expect.get(vrid));
      if (res.ok) sched.onAdvert(ifname, res.vrid, res.advert, from);
      else sched.onBadPacket(ifname, res.vrid, res.reason, res.detail, from);
    }));
  }
  for (const ifname of new Set(data.instances.filter((s) => s.family === 6).map((s) => s.ifname))) {
    const mine = data.instances.filter((s) => s.ifname === ifname && s.family === 6);
    const expect = sched.expectations(ifname, 6);
    sockets6.set(ifname, new VrrpSocket6(ifname, mine.some((s) => !s.unicast) ? data.mcastGroup6 : undefined, (payload, meta) => {
      const res = validateAdvert6(payload, meta, (vrid) => expect.get(vrid));
      if (res.ok) sched.onAdvert(ifname, res.vrid, res.advert, meta.from, 6);
      else sched.onBadPacket(ifname, res.vrid, res.reason, res.detail, meta.from, 6);
    }));
  }

  // ---- tracking
  const trackers = data.scripts.map((s) => new VrrpScriptTracker(s,
    (script, timeout) => runScript(script, { timeout, policy: scripts, ...(s.user ? { user: s.user.user, ...(s.user.group !== undefined ? { group: s.user.group } : {}) } : {}) }),
    (ok) => sched.scriptState(s.name, ok), (msg) => log.info({ script: s.name }, msg)));
  for (const s of data.scripts) if (s.initFail) sched.scriptState(s.name, false);
  const links = new LinkWatcher([...new Set(data.instances.flatMap((s) => s.interfaces.map((t) => t.name)))], (i, up) => sched.linkState(i, up));
  for (const [ifname, up] of links.up) if (!up) sched.linkState(ifname, false);
  const probers: ReferenceProber[] = [];
  for (const s of data.instances) {
    if (!s.cfg.hasReference) continue;
    const adverIntMs = sched.instances.get(s.model.name)!.adverIntMs;
    // Probe a few times per master-down interval so isolation is known before the backup would claim the VIP.
    const interval = Math.max(20, Math.min(adverIntMs, 1000) / 2);
    probers.push(new ReferenceProber(s.model.reference_ip, interval, Math.max(3 * interval, adverIntMs * 2),
      (ok) => sched.referenceState(s.model.name, ok), s.ifname));
  }

  // ---- go
  sched.start();
  for (const r of trackers) r.start();
  links.start();
  for (const p of probers) p.start();
  // A timer, not now: an address owner's first MASTER transition is itself a 0 ms timer set by
  // start(), and this one, set after it, runs after it, so the VIP add and the first advert are
  // under way before the fork.
  const wdTimer = (opts.watchdog ?? true) ? setTimeout(() => {
    wd = spawn(process.execPath, [watchdogPath(), stateDir], { detached: true, stdio: ['pipe', 'ignore', 'inherit'] });
    wd.on('error', (e) => log.error({ err: String(e) }, 'VIP watchdog failed to start'));
    wd.stdin?.on('error', () => undefined);
    wd.unref();
    if (pendingWd !== undefined) { wd.stdin?.write(pendingWd); pendingWd = undefined; }
  }, 0) : undefined;

  let stopped = false;
  return {
    instances: sched.instances,
    metrics: () => sched.metrics(),
    scripts: () => trackers.map((t) => ({ name: t.spec.name, ok: t.state.ok, running: t.running, runs: t.runs })),
    async stop(o = {}): Promise<void> {
      if (stopped) return;
      stopped = true;
      clearTimeout(wdTimer);
      for (const r of trackers) r.stop();
      links.stop();
      for (const p of probers) p.stop();
      await sched.stop(o.graceful ?? true);
      if (wd?.stdin && !wd.stdin.destroyed) {
        wd.stdin.write(`${JSON.stringify({ bye: true })}\n`);
        wd.stdin.end();
      }
      for (const s of sockets.values()) s.close();
      for (const s of sockets6.values()) s.close();
      keepIpBatchReady(false);
    },
  };
}

export { VrrpInstance } from './instance.js';
export type { VrrpState, Action, InstanceConfig } from './instance.js';
