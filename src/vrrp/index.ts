// The VRRP runtime: builds one state machine per vrrp_instance from the
// config model, drives them with one timer and the raw sockets, and carries
// out their actions (adverts, VIPs, gratuitous ARPs, notify scripts). It is
// what `lvs-keepalived` runs for its VRRP half.
//
//   const vrrp = await startVrrp(model, { log, stateDir });
//   vrrp.metrics();                      // per-instance state, transitions, bad-packet counters
//   registerVrrpMetrics(vrrp, registry);  // the same as prom-client gauges
//   await vrrp.stop({ graceful: true });  // SIGTERM: priority 0, VIPs removed, notify_stop
import { spawn, type ChildProcess } from 'node:child_process';
import { runScript, scriptPolicy, type ScriptPolicy } from '../core/notify.js';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { KeepalivedConfig, VrrpInstance as VrrpInstanceModel, VrrpScript, VrrpSyncGroup } from '../config/model.js';
import { sendGratuitousArp } from '../io/native.js';
import { ipToU32 } from '../packet/addr.js';
import { buildVrrp, type VrrpFields } from '../packet/vrrp.js';
import { VrrpInstance, VRRP_PRIO_STOP, type Action, type InstanceConfig, type VrrpState } from './instance.js';
import { validateAdvert, emptyBadCounters, authData, type BadCounters, type BadReason, type RxExpect } from './validate.js';
import { VipSet, VipStateFile, defaultStateDir, toVipSpec, keepIpBatchReady, type VipSpec } from './vip.js';
import { VrrpSocket, primaryIpv4 } from './socket.js';
import { VrrpScriptTracker, LinkWatcher, ReferenceProber, weightContribution } from './track.js';

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

export interface VrrpHandle {
  readonly instances: ReadonlyMap<string, VrrpInstance>;
  metrics(): VrrpMetrics;
  /** graceful (SIGTERM): masters send priority 0 and remove their VIPs; false: VIPs removed, no resignation. */
  stop(opts?: { graceful?: boolean }): Promise<void>;
}

const STATE_CODE: Record<VrrpState, number> = { INIT: 0, BACKUP: 1, MASTER: 2, FAULT: 3 };

interface Runtime {
  model: VrrpInstanceModel;
  sm: VrrpInstance;
  ifname: string;
  src: string;
  dsts: string[];
  unicast: boolean;
  fields: Omit<VrrpFields, 'priority'>;
  expect: RxExpect;
  vips: VipSet;
  vipSpecs: VipSpec[];
  /** VIPs from virtual_ipaddress only (the advert lists these). */
  sock?: VrrpSocket;
  weights: Map<string, number>;
  io: Promise<unknown>;
  m: Omit<InstanceMetrics, 'name' | 'vrid' | 'interface' | 'state' | 'stateCode' | 'priority' | 'effectivePriority' | 'transitions' | 'faults' | 'vipsHeld'>;
  badLogged: Map<BadReason, number>;
  group?: VrrpSyncGroup;
}

function watchdogPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const js = join(here, 'vip-watchdog.js');
  if (existsSync(js)) return js;
  // Running from src/ under vitest: use the compiled one.
  const dist = join(here, '..', '..', 'dist', 'src', 'vrrp', 'vip-watchdog.js');
  return dist;
}

function runNotify(script: string, args: string[], policy: ScriptPolicy, log: VrrpLogger): void {
  void runScript(script, { args, policy }).then((o) => {
    if (o.error) log.warn({ script, err: o.error }, 'notify script failed to start');
  });
}

export async function startVrrp(model: KeepalivedConfig, opts: VrrpOptions): Promise<VrrpHandle> {
  const log = opts.log;
  const stateDir = opts.stateDir ?? defaultStateDir();
  const gd = model.global_defs;
  const mcastGroup = gd.vrrp_mcast_group4 || '224.0.0.18';
  const scripts = scriptPolicy(gd);
  const clock = () => performance.now();
  const rts: Runtime[] = [];
  const byName = new Map<string, Runtime>();
  const unattributed = emptyBadCounters();
  const scriptsByName = new Map<string, VrrpScript>(model.vrrp_scripts.map((s) => [s.name, s]));
  const groupOf = new Map<string, VrrpSyncGroup>();
  for (const g of model.vrrp_sync_groups) for (const n of g.group) groupOf.set(n, g);

  // ---- build the instances
  for (const inst of model.vrrp_instances) {
    const ifname = inst.interface;
    if (!ifname) throw new Error(`vrrp_instance ${inst.name} (${inst.pos.file}:${inst.pos.line}): no interface`);
    const unicast = inst.unicast_peer.length > 0;
    const src = (unicast ? inst.unicast_src_ip : inst.mcast_src_ip) ?? primaryIpv4(ifname);
    if (!src) throw new Error(`vrrp_instance ${inst.name}: interface ${ifname} has no IPv4 address to send adverts from`);
    const version = inst.version;
    const vipSpecs = [...inst.virtual_ipaddress, ...inst.virtual_ipaddress_excluded].map((v) => toVipSpec(v, ifname));
    const vipAddrs = inst.virtual_ipaddress.map((v) => v.addr);
    const pass = inst.authentication?.auth_type === 'PASS' && version === 2 ? inst.authentication.auth_pass : undefined;
    if (inst.authentication?.auth_type === 'AH') log.warn({ instance: inst.name }, 'auth_type AH is not supported: adverts are sent without authentication');
    const cfg: InstanceConfig = {
      name: inst.name,
      vrid: inst.virtual_router_id,
      version,
      priority: inst.priority,
      advertIntMs: inst.advert_int * 1000,
      initialState: inst.state,
      nopreempt: inst.nopreempt,
      preemptDelayMs: inst.preempt_delay * 1000,
      downTimerAdverts: inst.down_timer_adverts,
      srcIp: ipToU32(src),
      garpDelayMs: inst.garp_master_delay * 1000,
      garpRepeat: inst.garp_master_repeat,
      garpRefreshMs: inst.garp_master_refresh * 1000,
      garpRefreshRepeat: inst.garp_master_refresh_repeat,
      higherPrioSendAdvert: false,
      lowerPrioNoAdvert: false,
      hasReference: inst.reference_ip.length > 0,
    };
    const sm = new VrrpInstance(cfg);
    const fields: Omit<VrrpFields, 'priority'> = version === 2
      ? { version: 2, vrid: cfg.vrid, addrs: vipAddrs, adverInt: sm.adverIntMs / 1000, ...(pass !== undefined ? { authData: authData(pass) } : {}) }
      : { version: 3, vrid: cfg.vrid, addrs: vipAddrs, maxAdverInt: sm.adverIntMs / 10 };
    const expect: RxExpect = {
      version,
      adverIntSec: sm.adverIntMs / 1000,
      authPass: pass !== undefined ? authData(pass) : undefined,
      vips: vipAddrs.map(ipToU32),
      unicast,
      peers: inst.unicast_peer.map((p) => ({ addr: ipToU32(p.addr), minTtl: p.min_ttl ?? 0, maxTtl: p.max_ttl ?? 255 })),
      mcastGroup: ipToU32(mcastGroup),
      v3ChecksumAsV2: false,
      skipCheckAdvAddr: gd.vrrp_skip_check_adv_addr,
    };
    const rt: Runtime = {
      model: inst, sm, ifname, src, unicast,
      dsts: unicast ? inst.unicast_peer.map((p) => p.addr) : [mcastGroup],
      fields, expect, vipSpecs,
      vips: new VipSet(vipSpecs, new VipStateFile(stateDir, inst.name)),
      weights: new Map(), io: Promise.resolve(),
      m: { becomeMaster: 0, releaseMaster: 0, advertsSent: 0, advertsReceived: 0, priZeroSent: 0, priZeroReceived: 0, badPackets: emptyBadCounters() },
      badLogged: new Map(),
      group: groupOf.get(inst.name),
    };
    rts.push(rt);
    byName.set(inst.name, rt);
  }

  // ---- crash safety: whatever a killed predecessor left is removed before we join
  for (const rt of rts) {
    const stale = await rt.vips.removeStale();
    if (stale.length) log.warn({ instance: rt.model.name, vips: stale.map((v) => `${v.addr}/${v.prefix}`) }, 'removed VIPs left by a previous run');
  }

  keepIpBatchReady(true);

  // ---- the watchdog
  let wd: ChildProcess | undefined;
  if (opts.watchdog ?? true) {
    wd = spawn(process.execPath, [watchdogPath(), stateDir], { detached: true, stdio: ['pipe', 'ignore', 'inherit'] });
    wd.on('error', (e) => log.error({ err: String(e) }, 'VIP watchdog failed to start'));
    wd.stdin?.on('error', () => undefined);
    wd.unref();
  }
  const resignOn = opts.watchdogResign ?? true;
  function updateWatchdog(): void {
    if (!wd?.stdin || wd.stdin.destroyed) return;
    const vips = rts.filter((r) => r.vips.isHeld).flatMap((r) => r.vipSpecs);
    const resign = resignOn
      ? rts.filter((r) => r.sm.state === 'MASTER').flatMap((r) => r.dsts.map((dst) => ({
        ifname: r.ifname, src: r.src, dst,
        hex: Buffer.from(buildVrrp({ ...r.fields, priority: VRRP_PRIO_STOP } as VrrpFields, r.src, dst)).toString('hex'),
      })))
      : [];
    wd.stdin.write(`${JSON.stringify({ vips, resign })}\n`);
  }

  // ---- actions
  function sendAdvert(rt: Runtime, priority: number): void {
    if (!rt.sock) return;
    for (const dst of rt.dsts) {
      const n = rt.sock.send({ ...rt.fields, priority } as VrrpFields, rt.src, dst, rt.expect.v3ChecksumAsV2);
      if (n < 0) {
        if (opts.logDetail) log.debug({ instance: rt.model.name, errno: -n, dst }, 'advert not sent');
      } else {
        rt.m.advertsSent++;
        if (priority === VRRP_PRIO_STOP) rt.m.priZeroSent++;
      }
    }
  }

  function garp(rt: Runtime, repeat: number): void {
    rt.io = rt.io.then(() => {
      for (const v of rt.vipSpecs) {
        try { sendGratuitousArp(v.dev, v.addr, repeat); } catch (e) { log.warn({ instance: rt.model.name, vip: v.addr, err: String(e) }, 'gratuitous ARP failed'); }
      }
    });
  }

  const garpSentEarly = new Set<Runtime>();
  let stopping = false;
  function execute(rt: Runtime, actions: Action[], now: number): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send-advert':
          sendAdvert(rt, a.priority);
          break;
        case 'add-vips': {
          rt.m.becomeMaster++;
          // add() marks the set held at once, so the watchdog learns of the VIPs before they exist.
          const p = rt.vips.add().then((r) => {
            if (r.code !== 0) log.warn({ instance: rt.model.name, stderr: r.stderr.trim() }, 'adding VIPs reported errors');
          });
          updateWatchdog();
          rt.io = Promise.all([rt.io, p]);
          // One gratuitous ARP per VIP right now, not after `ip` has been scheduled and has
          // exited (that wait cost 10-30 ms of client outage on a busy host); the kernel
          // has the address by the time the client's next SYN arrives. The rest of the
          // burst follows once the add is confirmed.
          for (const v of rt.vipSpecs) {
            try { sendGratuitousArp(v.dev, v.addr, 1); } catch { /* the confirmed burst will retry */ }
          }
          garpSentEarly.add(rt);
          break;
        }
        case 'del-vips': {
          rt.m.releaseMaster++;
          const p = rt.vips.del();
          updateWatchdog();
          rt.io = Promise.all([rt.io, p]);
          break;
        }
        case 'garp': {
          const early = garpSentEarly.delete(rt) ? 1 : 0;
          if (a.repeat - early > 0) garp(rt, a.repeat - early);
          break;
        }
        case 'notify': {
          const mdl = rt.model;
          const one = a.state === 'MASTER' ? mdl.notify_master : a.state === 'BACKUP' ? mdl.notify_backup
            : a.state === 'FAULT' ? mdl.notify_fault : mdl.notify_stop;
          if (one) runNotify(one, [], scripts, log);
          if (mdl.notify) runNotify(mdl.notify, ['INSTANCE', mdl.name, a.state, String(a.priority)], scripts, log);
          break;
        }
        case 'transition':
          log.info({ instance: rt.model.name, from: a.from, to: a.to, reason: a.reason, priority: rt.sm.effectivePriority },
            `(${rt.model.name}) Entering ${a.to} STATE`);
          opts.onStateChange?.({ instance: rt.model.name, from: a.from, to: a.to, reason: a.reason, priority: rt.sm.effectivePriority, at: now });
          if (a.to === 'MASTER' || a.from === 'MASTER') updateWatchdog();
          if (!stopping) syncGroup(rt, a.from, a.to, a.reason, now);
          if (rt.group) groupNotify(rt.group, a.to === 'INIT');
          break;
        case 'log':
          log.info({ instance: rt.model.name }, a.msg);
          break;
      }
    }
  }

  // vrrp_sync_group: members follow each other into MASTER, BACKUP and FAULT.
  // The group's own state and notify scripts (keepalived's send_group_notifies:
  // `notify` gets GROUP name STATE 0). FAULT if any member is, MASTER when all are.
  const groupState = new Map<string, string>();
  function groupNotify(g: VrrpSyncGroup, stopped: boolean): void {
    const members = g.group.map((n) => byName.get(n)).filter((r): r is Runtime => !!r);
    const count = (x: VrrpState) => members.filter((r) => r.sm.state === x).length;
    const n = members.length;
    const st = stopped && count('INIT') === n ? 'STOP'
      : count('FAULT') > 0 ? 'FAULT' : count('MASTER') === n ? 'MASTER'
        // A group half-way through a sync (some MASTER, some BACKUP) reports BACKUP only once it settles.
        : count('BACKUP') === n ? 'BACKUP' : undefined;
    if (!st || groupState.get(g.name) === st) return;
    groupState.set(g.name, st);
    log.info({ group: g.name, state: st }, `VRRP_Group(${g.name}) ${st}`);
    const one = st === 'MASTER' ? g.notify_master : st === 'BACKUP' ? g.notify_backup : st === 'FAULT' ? g.notify_fault : g.notify_stop;
    if (one) runNotify(one, [], scripts, log);
    if (g.notify) runNotify(g.notify, ['GROUP', g.name, st, '0'], scripts, log);
  }

  function syncGroup(rt: Runtime, from: VrrpState, to: VrrpState, reason: string, now: number): void {
    const g = rt.group;
    if (!g || reason === 'sync group' || reason === 'fault: sync-group') return;
    for (const name of g.group) {
      const o = byName.get(name);
      if (!o || o === rt) continue;
      if (to === 'MASTER') execute(o, o.sm.syncMaster(now), now);
      else if (to === 'FAULT') execute(o, o.sm.syncFault(now), now);
      else if (to === 'BACKUP' && from === 'MASTER') execute(o, o.sm.syncBackup(now), now);
      else if (to === 'BACKUP' && from === 'FAULT') execute(o, o.sm.syncFaultCleared(now), now);
    }
  }
  for (const rt of rts) {
    if (!rt.group) continue;
    const g = rt.group;
    rt.sm.canGotoMaster = (self) => g.group.every((n) => {
      const o = byName.get(n);
      return !o || o.sm === self || o.sm.wantState === 'MASTER' || o.sm.state === 'MASTER';
    });
  }

  // ---- the one timer
  // libuv timers have 1 ms granularity and fire a little late on a busy host.
  // A backup's takeover is the moment that counts (Skew_Time after a
  // priority-0 advert), so that one timer wakes up early and waits out the
  // last ms on the clock; advert sends keep the plain timer.
  const TAKEOVER_EARLY_MS = 2;
  let timer: NodeJS.Timeout | undefined;
  function schedule(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (stopping) return;
    let next = Infinity;
    let takeover = false;
    for (const rt of rts) {
      const d = rt.sm.deadline();
      if (d < next) { next = d; takeover = rt.sm.state === 'BACKUP' && d === rt.sm.sands; }
    }
    if (!Number.isFinite(next)) return;
    const early = takeover ? TAKEOVER_EARLY_MS : 0;
    timer = setTimeout(() => onTimer(takeover ? next : 0), Math.max(0, next - clock() - early));
  }
  function onTimer(spinUntil: number): void {
    // Bounded: at most TAKEOVER_EARLY_MS (+ the timer's own slack) of waiting, once per takeover.
    const limit = clock() + TAKEOVER_EARLY_MS + 1;
    while (clock() < spinUntil && clock() < limit) { /* wait out the last ms */ }
    const now = clock();
    for (const rt of rts) {
      // setTimeout may fire a fraction of a ms early; treat within 0.5 ms as due.
      if (rt.sm.deadline() <= now + 0.5) execute(rt, rt.sm.tick(Math.max(now, rt.sm.deadline())), now);
    }
    schedule();
  }

  // ---- receive
  function countBad(rt: Runtime | undefined, reason: BadReason, detail: string, from: string): void {
    const c = rt ? rt.m.badPackets : unattributed;
    c[reason]++;
    const n = c[reason];
    if (n <= 5 || n % 1000 === 0) {
      log.warn({ instance: rt?.model.name, reason, detail, from, count: n }, 'ignored VRRP packet');
    }
  }
  const ifaces = [...new Set(rts.map((r) => r.ifname))];
  for (const ifname of ifaces) {
    const mine = rts.filter((r) => r.ifname === ifname);
    const byVrid = new Map(mine.map((r) => [r.sm.cfg.vrid, r]));
    const sock = new VrrpSocket(ifname, mine.some((r) => !r.unicast) ? mcastGroup : undefined, (pkt, from) => {
      const res = validateAdvert(pkt, (vrid) => byVrid.get(vrid)?.expect);
      const rt = res.vrid !== undefined ? byVrid.get(res.vrid) : undefined;
      if (!res.ok) {
        countBad(res.reason === 'unknown-vrid' ? undefined : rt, res.reason, res.detail, from);
        return;
      }
      const r = byVrid.get(res.vrid)!;
      r.m.advertsReceived++;
      if (res.advert.priority === VRRP_PRIO_STOP) r.m.priZeroReceived++;
      const now = clock();
      if (opts.logDetail) log.debug({ instance: r.model.name, from, priority: res.advert.priority, state: r.sm.state }, 'advert received');
      execute(r, r.sm.onAdvert(now, res.advert), now);
      schedule();
    });
    for (const r of mine) r.sock = sock;
  }

  // ---- tracking
  function applyWeights(rt: Runtime): void {
    let d = 0;
    for (const w of rt.weights.values()) d += w;
    const now = clock();
    execute(rt, rt.sm.setPriorityDelta(d, now), now);
  }
  function setFault(rt: Runtime, reason: string, on: boolean): void {
    const now = clock();
    execute(rt, rt.sm.setFault(reason, on, now), now);
    schedule();
  }

  const scriptRunners: VrrpScriptTracker[] = [];
  const trackersByScript = new Map<string, { rt: Runtime; weight: number; reverse: boolean }[]>();
  const linkUsers = new Map<string, { rt: Runtime; weight: number; reverse: boolean }[]>();
  for (const rt of rts) {
    const inst = rt.model;
    const groupTracks = rt.group ? { s: rt.group.track_script, i: rt.group.track_interface } : { s: [], i: [] };
    for (const ts of [...inst.track_script, ...groupTracks.s]) {
      const s = scriptsByName.get(ts.name);
      if (!s) { log.warn({ instance: inst.name, script: ts.name }, 'track_script names no vrrp_script: ignored'); continue; }
      const list = trackersByScript.get(s.name) ?? [];
      list.push({ rt, weight: ts.weight ?? s.weight, reverse: ts.reverse ?? s.weight_reverse });
      trackersByScript.set(s.name, list);
    }
    const ifs = [...inst.track_interface, ...groupTracks.i];
    if (!inst.dont_track_primary && !ifs.some((t) => t.name === rt.ifname)) ifs.push({ name: rt.ifname });
    for (const t of ifs) {
      const list = linkUsers.get(t.name) ?? [];
      list.push({ rt, weight: t.weight ?? 0, reverse: t.reverse ?? false });
      linkUsers.set(t.name, list);
    }
  }
  function scriptState(name: string, ok: boolean): void {
    for (const u of trackersByScript.get(name) ?? []) {
      if (u.weight === 0) setFault(u.rt, `script:${name}`, !ok);
      else { u.rt.weights.set(`script:${name}`, weightContribution(u.weight, u.reverse, ok)); applyWeights(u.rt); schedule(); }
    }
  }
  function linkState(ifname: string, up: boolean): void {
    log.info({ interface: ifname, up }, `Netlink reports ${ifname} ${up ? 'up' : 'down'}`);
    for (const u of linkUsers.get(ifname) ?? []) {
      if (u.weight === 0) setFault(u.rt, `if:${ifname}`, !up);
      else { u.rt.weights.set(`if:${ifname}`, weightContribution(u.weight, u.reverse, up)); applyWeights(u.rt); schedule(); }
    }
  }
  for (const [name] of trackersByScript) {
    const s = scriptsByName.get(name)!;
    const runner = new VrrpScriptTracker({
      name, script: s.script, intervalMs: s.interval * 1000, timeoutMs: (s.timeout || s.interval) * 1000,
      rise: Math.max(1, s.rise), fall: Math.max(1, s.fall), initFail: s.init_fail,
    }, (script, timeout) => runScript(script, { timeout, policy: scripts, ...(s.user !== undefined ? { user: s.user } : {}) }),
    (ok) => scriptState(name, ok), (msg) => log.info({ script: name }, msg));
    scriptRunners.push(runner);
    if (s.init_fail) scriptState(name, false);
  }
  const links = new LinkWatcher([...linkUsers.keys()], linkState);
  for (const [ifname, up] of links.up) if (!up) linkState(ifname, false);
  const probers: ReferenceProber[] = [];
  for (const rt of rts) {
    if (!rt.sm.cfg.hasReference) continue;
    // Probe a few times per master-down interval so isolation is known before the backup would claim the VIP.
    const interval = Math.max(20, Math.min(rt.sm.adverIntMs, 1000) / 2);
    const pr = new ReferenceProber(rt.model.reference_ip, interval, Math.max(3 * interval, rt.sm.adverIntMs * 2), (ok) => {
      log.info({ instance: rt.model.name, reference: rt.model.reference_ip, reachable: ok }, `reference ${ok ? 'reachable' : 'unreachable'}`);
      const now = clock();
      execute(rt, rt.sm.setReferenceOk(ok, now), now);
      schedule();
    });
    probers.push(pr);
  }

  // ---- go
  const t0 = clock();
  for (const rt of rts) execute(rt, rt.sm.start(t0), t0);
  for (const r of scriptRunners) r.start();
  links.start();
  for (const p of probers) p.start();
  updateWatchdog();
  schedule();

  const instances = new Map(rts.map((r) => [r.model.name, r.sm]));
  return {
    instances,
    metrics(): VrrpMetrics {
      return {
        instances: rts.map((r) => ({
          name: r.model.name, vrid: r.sm.cfg.vrid, interface: r.ifname, state: r.sm.state, stateCode: STATE_CODE[r.sm.state],
          priority: r.sm.cfg.priority, effectivePriority: r.sm.effectivePriority, transitions: r.sm.transitions,
          faults: r.sm.faultReasons(), vipsHeld: r.vips.isHeld, ...r.m, badPackets: { ...r.m.badPackets },
        })),
        unattributed: { ...unattributed },
      };
    },
    async stop(o = {}): Promise<void> {
      if (stopping) return;
      stopping = true;
      if (timer) clearTimeout(timer);
      for (const r of scriptRunners) r.stop();
      links.stop();
      for (const p of probers) p.stop();
      const now = clock();
      for (const rt of rts) {
        const acts = rt.sm.stop(now).filter((a) => (o.graceful ?? true) || !(a.type === 'send-advert'));
        execute(rt, acts, now);
      }
      await Promise.all(rts.map((r) => r.io));
      // Anything still recorded (a VIP add racing the stop) goes too.
      for (const rt of rts) if (rt.vips.isHeld) await rt.vips.del();
      if (wd?.stdin && !wd.stdin.destroyed) {
        wd.stdin.write(`${JSON.stringify({ bye: true })}\n`);
        wd.stdin.end();
      }
      for (const s of new Set(rts.map((r) => r.sock))) s?.close();
      keepIpBatchReady(false);
    },
  };
}

/**
 * The metrics as prom-client gauges on `registry` (collected on scrape):
 * lvs_keepalived_vrrp_state{instance}, _transitions_total, _priority,
 * _adverts_sent_total, _adverts_received_total, _bad_packets_total{reason}.
 */
export async function registerVrrpMetrics(handle: Pick<VrrpHandle, 'metrics'>, registry: import('prom-client').Registry): Promise<void> {
  const prom = await import('prom-client');
  const g = (name: string, help: string, labelNames: string[], fill: (gauge: import('prom-client').Gauge, m: VrrpMetrics) => void) =>
    new prom.Gauge({ name, help, labelNames, registers: [registry], collect() { this.reset(); fill(this, handle.metrics()); } });
  g('lvs_keepalived_vrrp_state', 'VRRP state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT', ['instance'], (x, m) => { for (const i of m.instances) x.set({ instance: i.name }, i.stateCode); });
  g('lvs_keepalived_vrrp_transitions_total', 'State transitions since start', ['instance'], (x, m) => { for (const i of m.instances) x.set({ instance: i.name }, i.transitions); });
  g('lvs_keepalived_vrrp_priority', 'Effective priority', ['instance'], (x, m) => { for (const i of m.instances) x.set({ instance: i.name }, i.effectivePriority); });
  g('lvs_keepalived_vrrp_adverts_sent_total', 'Adverts sent', ['instance'], (x, m) => { for (const i of m.instances) x.set({ instance: i.name }, i.advertsSent); });
  g('lvs_keepalived_vrrp_adverts_received_total', 'Valid adverts received', ['instance'], (x, m) => { for (const i of m.instances) x.set({ instance: i.name }, i.advertsReceived); });
  g('lvs_keepalived_vrrp_bad_packets_total', 'Ignored VRRP packets by reason', ['instance', 'reason'], (x, m) => {
    for (const i of m.instances) for (const [r, n] of Object.entries(i.badPackets)) x.set({ instance: i.name, reason: r }, n);
    for (const [r, n] of Object.entries(m.unattributed)) x.set({ instance: '', reason: r }, n);
  });
}

export { VrrpInstance } from './instance.js';
export type { VrrpState, Action, InstanceConfig } from './instance.js';
