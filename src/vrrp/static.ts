// static_ipaddress, static_routes, static_rules: what keepalived's VRRP
// process puts on the host at start and takes off at stop (vrrp_daemon.c
// start_vrrp / stop_vrrp: netlink_iplist, netlink_rtlist, netlink_rulelist),
// and changes by difference on reload. VRRP never moves them. Spelt for
// iproute2; routes are prepended as keepalived does unless the line says
// add or append. Only what this daemon added is removed: an address or
// route that was already there ("File exists") stays the host's.
import { execFile } from 'node:child_process';
import type { KeepalivedConfig, SourcePos, StaticRoute, StaticRule, VirtualIp } from '../config/model.js';
import { toVipSpec, vipArgs } from './vip.js';

export type IpRunner = (args: string[]) => Promise<{ code: number; stderr: string }>;

export const runIp: IpRunner = (args) => new Promise((resolve) => {
  execFile('ip', args, { timeout: 5000 }, (err, _out, stderr) => {
    resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr: String(stderr).trim() });
  });
});

export interface StaticLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** One thing to add and, later, delete: the `ip` arguments for each, and where it was configured. */
export interface StaticItem {
  kind: 'address' | 'route' | 'rule';
  pos: SourcePos;
  add: string[];
  del: string[];
}

/** keepalived-only words that ip(8) does not take. */
function ipWords(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === 'no_track' || a === 'add' || a === 'append') continue;
    if (a === 'track_group') { i++; continue; }
    if ((a === 'inet' || a === 'inet6') && args[i - 1] !== 'via' && args[i - 1] !== 'gw') continue;
    out.push(a === 'gw' ? 'via' : a);
  }
  return out;
}

export function addressItem(v: VirtualIp): StaticItem | undefined {
  if (!v.dev) return undefined;
  // The same netlink request as a VIP's in keepalived (IPv6: nodad unless -nodad).
  const spec = toVipSpec(v, v.dev);
  return { kind: 'address', pos: v.pos, add: ['addr', 'add', ...vipArgs(spec)], del: ['addr', 'del', ...vipArgs(spec, false)] };
}

export function routeItem(r: StaticRoute): StaticItem {
  const how = r.args.includes('append') ? 'append' : r.args.includes('add') ? 'add' : 'prepend';
  const w = ipWords(r.args);
  const f = r.family === 6 ? ['-6'] : [];
  return { kind: 'route', pos: r.pos, add: [...f, 'route', how, ...w], del: [...f, 'route', 'del', ...w] };
}

export function ruleItem(r: StaticRule): StaticItem {
  const w = ipWords(r.args);
  const f = r.family === 6 ? ['-6'] : [];
  return { kind: 'rule', pos: r.pos, add: [...f, 'rule', 'add', ...w], del: [...f, 'rule', 'del', ...w] };
}

/** The items of a configuration, in the order they are added (addresses before the routes that use them). */
export function staticItems(m: Pick<KeepalivedConfig, 'static_ipaddress' | 'static_routes' | 'static_rules'>, log?: StaticLog): StaticItem[] {
  const out: StaticItem[] = [];
  for (const v of m.static_ipaddress) {
    const it = addressItem(v);
    if (it) out.push(it);
    else log?.warn({ at: `${v.pos.file}:${v.pos.line}:${v.pos.col}` }, `static_ipaddress ${v.addr}/${v.prefix} has no dev: not added (write dev IF)`);
  }
  for (const r of m.static_routes) out.push(routeItem(r));
  for (const r of m.static_rules) out.push(ruleItem(r));
  return out;
}

const key = (it: StaticItem): string => it.add.join(' ');
const where = (p: SourcePos): string => `${p.file}:${p.line}:${p.col}`;

/** The static addresses, routes and rules this daemon put on the host. */
export class StaticConfig {
  private readonly ours = new Map<string, StaticItem>();
  /** Items that were on the host before us: neither added again on reload nor removed. */
  private readonly hosts = new Set<string>();

  constructor(private readonly log: StaticLog, private readonly ip: IpRunner = runIp) {}

  /** Make the host carry `want`: add what is new, delete what this daemon added and `want` no longer has. */
  async apply(want: StaticItem[]): Promise<void> {
    const keys = new Set(want.map(key));
    await this.remove([...this.ours.values()].filter((it) => !keys.has(key(it))));
    for (const k of [...this.hosts]) if (!keys.has(k)) this.hosts.delete(k);
    for (const it of want) {
      if (this.ours.has(key(it)) || this.hosts.has(key(it))) continue;
      const r = await this.ip(it.add);
      if (r.code === 0) { this.ours.set(key(it), it); continue; }
      if (/File exists/i.test(r.stderr)) {
        this.hosts.add(key(it));
        this.log.info({ at: where(it.pos) }, `static ${it.kind} already present, left as the host's: ip ${it.add.join(' ')}`);
        continue;
      }
      this.log.error({ at: where(it.pos) }, `static ${it.kind} not added: ip ${it.add.join(' ')}: ${r.stderr || `exit ${r.code}`}`);
    }
  }

  /** Stop: delete everything this daemon added, newest first (rules, then routes, then addresses). */
  async removeAll(): Promise<void> {
    await this.remove([...this.ours.values()]);
  }

  private async remove(items: StaticItem[]): Promise<void> {
    for (const it of [...items].reverse()) {
      this.ours.delete(key(it));
      const r = await this.ip(it.del);
      if (r.code !== 0 && !/No such|Cannot assign|not found/i.test(r.stderr)) {
        this.log.warn({ at: where(it.pos) }, `static ${it.kind} not removed: ip ${it.del.join(' ')}: ${r.stderr || `exit ${r.code}`}`);
      }
    }
  }

  /** What is held (for tests and dumps). */
  get held(): StaticItem[] {
    return [...this.ours.values()];
  }
}
