// VIP ownership: virtual_ipaddress (and _excluded) entries added and removed
// through iproute2, recorded in a state file first so that a successor can
// remove what a killed daemon left behind (keepalived issue #2361). The
// instance's virtual_routes and virtual_rules go with its addresses: added
// after them on becoming MASTER, removed before them on leaving it
// (keepalived's vrrp_state_become_master / vrrp_restore_interface).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, rmSync, readlinkSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { VirtualIp } from '../config/model.js';
import type { IpRunner, StaticItem } from './static.js';

export interface VipSpec {
  addr: string;
  prefix: number;
  dev: string;
  brd?: string;
  scope?: string;
  label?: string;
  /**
   * IPv6: add without duplicate address detection (IFA_F_NODAD). keepalived
   * does so for every IPv6 VIP unless it says `-nodad`: the address is usable
   * at once, and a brief split brain cannot leave it "dadfailed" for good.
   */
  nodad?: boolean;
  /** IPv6 preferred_lft (0 = deprecated: never picked as a source address). */
  preferredLft?: string;
}

/**
 * The `ip` arguments after `addr add|del` for one VIP (keepalived's netlink
 * request, spelt for iproute2). The flags and lifetimes only matter when the
 * address is added.
 */
export function vipArgs(v: VipSpec, forAdd = true): string[] {
  const a = [`${v.addr}/${v.prefix}`];
  if (v.brd) a.push('broadcast', v.brd);
  a.push('dev', v.dev);
  if (v.scope) a.push('scope', v.scope);
  if (v.label) a.push('label', v.label);
  if (forAdd && v.nodad) a.push('nodad');
  if (forAdd && v.preferredLft !== undefined) a.push('preferred_lft', v.preferredLft);
  return a;
}

export function toVipSpec(v: VirtualIp, defaultDev: string): VipSpec {
  const s: VipSpec = { addr: v.addr, prefix: v.prefix, dev: v.dev ?? defaultDev, brd: v.brd, scope: v.scope, label: v.label };
  if (v.addr.includes(':')) {
    // keepalived's netlink_ipaddress: IFA_F_NODAD unless the line says -nodad; preferred_lft as given.
    if (!v.extra?.includes('-nodad')) s.nodad = true;
    const i = v.extra?.indexOf('preferred_lft') ?? -1;
    if (i >= 0 && v.extra![i + 1] !== undefined) s.preferredLft = v.extra![i + 1]!;
  }
  return s;
}

type Standby = { p: ChildProcess; done: Promise<{ code: number; stderr: string }> };

function spawnBatch(): Standby {
  const p = spawn('ip', ['-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr!.on('data', (d) => { stderr += d; });
  p.stdin!.on('error', () => undefined);
  const done = new Promise<{ code: number; stderr: string }>((resolve) => {
    p.on('error', (e) => resolve({ code: -1, stderr: String(e) }));
    p.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
  return { p, done };
}

// One `ip -batch -` started ahead of time and left waiting on its stdin: a
// takeover then pays no fork+exec (5-15 ms on a busy 2-core host).
let standby: Standby | undefined;

/** Starts the waiting `ip` (idempotent); the VRRP runtime calls it at start. */
export function prepareIpBatch(): void {
  if (!standby || standby.p.exitCode !== null || standby.p.stdin!.destroyed) standby = spawnBatch();
}

/** Ends the waiting `ip` (at shutdown). */
export function releaseIpBatch(): void {
  standby?.p.stdin!.end();
  standby = undefined;
}

/**
 * Runs `ip -force -batch -` with the given lines ("addr add …"). -force keeps
 * going past "File exists" / "Cannot assign requested address", which are the
 * expected answers when an address is already (or no longer) there.
 */
export function ipBatch(lines: string[]): Promise<{ code: number; stderr: string }> {
  if (lines.length === 0) return Promise.resolve({ code: 0, stderr: '' });
  let b = standby;
  standby = undefined;
  if (!b || b.p.exitCode !== null || b.p.stdin!.destroyed) b = spawnBatch();
  b.p.stdin!.end(lines.join('\n') + '\n');
  const r = b.done;
  // The next one waits while this one works.
  void r.then(() => { if (standby === undefined && armed) prepareIpBatch(); });
  return r;
}
let armed = false;
/** Keep a standby `ip` after each use (the daemon wants this; one-shot users do not). */
export function keepIpBatchReady(on: boolean): void {
  armed = on;
  if (on) prepareIpBatch(); else releaseIpBatch();
}

export function addLines(vips: VipSpec[]): string[] {
  return vips.map((v) => ['addr', 'add', ...vipArgs(v)].join(' '));
}
export function delLines(vips: VipSpec[]): string[] {
  return vips.map((v) => ['addr', 'del', ...vipArgs(v, false)].join(' '));
}

/** A per-network-namespace name: two daemons in two namespaces never share a state dir. */
export function netnsId(): string {
  try {
    const l = readlinkSync('/proc/self/ns/net'); // net:[4026532123]
    const m = /\[(\d+)\]/.exec(l);
    if (m) return `netns-${m[1]}`;
  } catch { /* no procfs: fall through */ }
  return 'netns-unknown';
}

export function defaultStateDir(): string {
  return join('/run/lvs-keepalived', netnsId());
}

/**
 * The VIPs this daemon may have added, one JSON file per instance, written
 * before the addresses are added and rewritten after they are removed.
 */
export class VipStateFile {
  readonly path: string;
  constructor(stateDir: string, instance: string) {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    this.path = join(stateDir, `vips-${instance.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  }

  read(): VipSpec[] {
    return this.readAll().vips;
  }

  /** The VIPs and the `ip` arguments that delete the virtual routes and rules recorded with them. */
  readAll(): { vips: VipSpec[]; routes: string[][] } {
    try {
      const v = JSON.parse(readFileSync(this.path, 'utf8')) as { vips?: VipSpec[]; routes?: string[][] };
      const routes = Array.isArray(v.routes) ? v.routes.filter((r) => Array.isArray(r) && r.every((w) => typeof w === 'string')) : [];
      return { vips: Array.isArray(v.vips) ? v.vips : [], routes };
    } catch {
      return { vips: [], routes: [] };
    }
  }

  write(vips: VipSpec[], routes: string[][] = []): void {
    // Write-then-rename: a kill between the two leaves the old file, never a torn one.
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ pid: process.pid, vips, ...(routes.length ? { routes } : {}) }) + '\n', { mode: 0o600 });
    renameSync(tmp, this.path);
  }

  clear(): void {
    rmSync(this.path, { force: true });
  }
}

/** One instance's addresses (virtual_ipaddress plus virtual_ipaddress_excluded), and its virtual routes and rules. */
export class VipSet {
  private held = false;
  // Adds and deletes run one after another: two `ip` processes racing could leave the wrong end state.
  private chain: Promise<unknown> = Promise.resolve();
  /** The virtual routes and rules this daemon added (one that was already there stays the host's). */
  private routesAdded: StaticItem[] = [];
  constructor(readonly vips: VipSpec[], private readonly state: VipStateFile,
    readonly routes: StaticItem[] = [], private readonly ip?: IpRunner) {}

  get isHeld(): boolean {
    return this.held;
  }

  private queue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Removes whatever the state file says an earlier run added (stale after kill -9). */
  removeStale(): Promise<VipSpec[]> {
    return this.queue(async () => {
      const stale = this.state.readAll();
      // Rules, then routes, newest first, as they were recorded; errors are routes the kernel already dropped with their address.
      if (this.ip) for (const del of [...stale.routes].reverse()) await this.ip(del);
      if (stale.vips.length) await ipBatch(delLines(stale.vips));
      this.state.clear();
      return stale.vips;
    });
  }

  add(): Promise<{ code: number; stderr: string }> {
    this.held = true;
    return this.queue(async () => {
      // Every route recorded before any is added: a kill half-way leaves nothing of ours unrecorded.
      this.state.write(this.vips, this.ip ? this.routes.map((r) => r.del) : []);
      const r = await ipBatch(addLines(this.vips));
      if (!this.ip || this.routes.length === 0) return r;
      let { code, stderr } = r;
      this.routesAdded = [];
      for (const it of this.routes) {
        const x = await this.ip(it.add);
        if (x.code === 0) { this.routesAdded.push(it); continue; }
        if (/File exists/i.test(x.stderr)) continue;
        code = code || x.code;
        stderr += `virtual ${it.kind} at ${it.pos.file}:${it.pos.line}:${it.pos.col}: ip ${it.add.join(' ')}: ${x.stderr || `exit ${x.code}`}\n`;
      }
      if (this.held) this.state.write(this.vips, this.routesAdded.map((it) => it.del));
      return { code, stderr };
    });
  }

  del(): Promise<{ code: number; stderr: string }> {
    this.held = false;
    return this.queue(async () => {
      if (this.ip) {
        for (const it of [...this.routesAdded].reverse()) await this.ip(it.del);
        this.routesAdded = [];
      }
      const r = await ipBatch(delLines(this.vips));
      if (!this.held) this.state.clear();
      return r;
    });
  }

  /** The virtual routes and rules held now (for tests and dumps). */
  get routesHeld(): StaticItem[] {
    return [...this.routesAdded];
  }
}
