// keepalived.conf keywords → the typed model. Messages and the error class
// behind each one follow keepalived 2.2.7 (vrrp_parser.c, check_parser.c,
// check_*.c, global_parser.c), so `keepalived -t` and lvsd agree on which
// configs are clean; the wording adds what to do about it.

import * as fs from 'node:fs';
import { ipToU32, isIpv4, u32ToIp } from '../packet/addr.js';
import { bigIntToIpv6, formatIpv6, ipv6ToBigInt, isIpv6, isLinkLocalIpv6, isLinkLocalMulticastIpv6, isMulticastIpv6, parseIpv6 } from '../packet/addr6.js';
import { SCHEDULERS } from '../ipvs/types.js';
import { lexConfig, type LexOptions, type Stmt, type Word } from './lexer.js';
import { parseStaticRoute, parseStaticRule, type RulePrefs } from './ip-rule-route-parser.js';
import { EXITS_WITHOUT_PARAM, exitsWithoutParam, reportsWithoutParam } from './missing-param.js';
import {
  DEFAULTS, emptyConfig,
  type Checker, type CheckerType, type Diagnostic, type HttpUrl, type KaErr, type KeepalivedConfig, type LvsMethod,
  type LvsdAnnounce, type RealServer, type Severity, type SourcePos, type TrackInterfaceRef, type TrackScriptRef, type VirtualIp,
  type VirtualServer, type VirtualServerGroup, type VrrpInstance, type VrrpScript, type VrrpSyncGroup, type VsGroupEntry,
} from './model.js';

export interface ParseResult {
  model: KeepalivedConfig;
  diagnostics: Diagnostic[];
}

class Ctx {
  constructor(readonly diags: Diagnostic[] = []) {}
  emit(pos: SourcePos, severity: Severity, ka: KaErr, message: string, hint: string): void {
    this.diags.push({ file: pos.file, line: pos.line, col: pos.col, severity, message, hint, ka });
  }
  error(pos: SourcePos, message: string, hint: string, ka: KaErr = 'GENERAL_ERROR'): void {
    this.emit(pos, 'error', ka, message, hint);
  }
  warn(pos: SourcePos, message: string, hint: string, ka: KaErr = 'GENERAL_ERROR'): void {
    this.emit(pos, 'warning', ka, message, hint);
  }
  note(pos: SourcePos, message: string, hint: string, ka: KaErr = 'OK'): void {
    this.emit(pos, 'note', ka, message, hint);
  }
}

export function parseConfigFile(file: string, opts: LexOptions = {}): ParseResult {
  const ctx = new Ctx();
  const tree = lexConfig(file, opts, ctx.emit.bind(ctx));
  const model = buildModel(tree, ctx);
  return { model, diagnostics: ctx.diags };
}

/** Parse text as if it were `file` (includes resolve relative to it). */
export function parseConfigText(text: string, file = 'keepalived.conf', opts: LexOptions = {}): ParseResult {
  const readFile = opts.readFile;
  return parseConfigFile(file, {
    ...opts,
    readFile: (f) => (f === file ? text : readFile ? readFile(f) : defaultRead(f)),
  });
}

function defaultRead(f: string): string {
  return fs.readFileSync(f, 'utf8');
}

// ---------------------------------------------------------------- helpers

const kw = (s: Stmt): string => s.words[0]!.text;
const arg = (s: Stmt, i: number): Word | undefined => s.words[i];
const endPos = (s: Stmt): SourcePos => {
  const w = s.words[s.words.length - 1]!;
  return { ...w.pos, col: w.pos.col + w.text.length + (w.quoted ? 2 : 0) };
};

function need(ctx: Ctx, s: Stmt, i: number, what: string): Word | undefined {
  const w = s.words[i];
  if (!w) ctx.error(endPos(s), `${kw(s)}: missing ${what}`, `write '${kw(s)} <${what}>'`, 'MISSING_PARAMETER');
  return w;
}

function num(ctx: Ctx, s: Stmt, i: number, min: number, max: number, what: string, opts: { decimal?: boolean; sev?: Severity } = {}): number | undefined {
  const w = need(ctx, s, i, what);
  if (!w) return undefined;
  const re = opts.decimal ? /^\d+(\.\d{1,6})?$|^\.\d{1,6}$/ : /^-?\d+$/;
  const v = Number(w.text);
  if (!re.test(w.text) || !Number.isFinite(v)) {
    ctx.emit(w.pos, opts.sev ?? 'error', 'INVALID_NUMBER', `${kw(s)}: '${w.text}' is not a valid ${opts.decimal ? 'number' : 'integer'}`, `give ${what} as a number in [${min}, ${max}]`);
    return undefined;
  }
  if (v < min || v > max) {
    ctx.emit(w.pos, opts.sev ?? 'error', 'INVALID_NUMBER', `${kw(s)}: ${w.text} is outside [${min}, ${max}]`, `give ${what} in [${min}, ${max}]`);
    return undefined;
  }
  return v;
}

const TIMER_MAX = 4294.967295; // keepalived timers are u32 microseconds

function timer(ctx: Ctx, s: Stmt, i: number, what: string, min = 0.000001, max = TIMER_MAX): number | undefined {
  return num(ctx, s, i, min, max, what, { decimal: true });
}

function bool(ctx: Ctx, s: Stmt, i: number): boolean | undefined {
  const w = s.words[i];
  if (!w) return true;
  const t = w.text.toLowerCase();
  if (['on', 'true', 'yes'].includes(t)) return true;
  if (['off', 'false', 'no'].includes(t)) return false;
  ctx.error(w.pos, `${kw(s)}: '${w.text}' is not a boolean`, 'use on|off|true|false|yes|no');
  return undefined;
}

/** Where only IPv4 makes sense (an IPv4 multicast group, the IPv4 sync daemon, …). */
/** lvs_sync_daemon's group: an IPv4 or IPv6 multicast address (keepalived's lvs_syncd_handler). */
function syncGroup(ctx: Ctx, w: Word | undefined, s: Stmt): string | undefined {
  if (!w) { need(ctx, s, s.words.length, 'lvs_sync_daemon group'); return undefined; }
  const v6 = isIpv6(w.text);
  if (!v6 && !isIpv4(w.text)) {
    ctx.error(w.pos, `Invalid lvs_sync_daemon group (${w.text}) - ignoring`, 'write an IPv4 or IPv6 multicast address such as 224.0.0.81 or ff02::8848');
    return undefined;
  }
  if (v6 ? !isMulticastIpv6(parseIpv6(w.text)!) : !/^(22[4-9]|23\d)\./.test(w.text)) {
    ctx.error(w.pos, `lvs_sync_daemon group address ${w.text} is not multicast - ignoring`, 'use a multicast group: 224.0.0.0/4 or ff00::/8');
    return undefined;
  }
  return w.text;
}

function ipv4(ctx: Ctx, w: Word | undefined, what: string, s: Stmt): string | undefined {
  if (!w) { need(ctx, s, s.words.length, what); return undefined; }
  if (!isIpv4(w.text)) {
    ctx.error(w.pos, `${what} '${w.text}' is not a valid IPv4 address`, 'write a dotted quad such as 192.168.150.100');
    return undefined;
  }
  return w.text;
}

export type Family = 4 | 6;

/** An IPv6 address in the model's one spelling (RFC 5952), so that equal addresses compare equal as strings. */
export function canonicalIp(a: string): string {
  return isIpv4(a) ? a : formatIpv6(parseIpv6(a));
}

/** An IPv4 or IPv6 address (keepalived's inet_stosockaddr), IPv6 in canonical form. */
function ipAny(ctx: Ctx, w: Word | undefined, what: string, s: Stmt): { addr: string; family: Family } | undefined {
  if (!w) { need(ctx, s, s.words.length, what); return undefined; }
  if (isIpv4(w.text)) return { addr: w.text, family: 4 };
  if (isIpv6(w.text)) return { addr: canonicalIp(w.text), family: 6 };
  ctx.error(w.pos, `${what} '${w.text}' is not a valid IP address`, 'write an IPv4 address (192.168.150.100) or an IPv6 one (2001:db8::100)');
  return undefined;
}

/** The family of an address the model holds (already validated). */
export function familyOf(a: string): Family {
  return a.includes(':') ? 6 : 4;
}

function port(ctx: Ctx, w: Word, what: string): number | undefined {
  if (!/^\d+$/.test(w.text) || Number(w.text) > 65535) {
    ctx.error(w.pos, `${what} '${w.text}' is not a valid port`, 'give a port in [0, 65535]');
    return undefined;
  }
  return Number(w.text);
}

/** A block whose lines are values (virtual_ipaddress, group, track_script …), not keywords. */
function valueLines(ctx: Ctx, s: Stmt): Stmt[] {
  if (!s.block) {
    ctx.error(endPos(s), `${kw(s)}: missing '{'`, `write '${kw(s)} { … }'`, 'MISSING_BOB');
    return [];
  }
  const out: Stmt[] = [];
  for (const l of s.block) {
    out.push(l);
    if (l.block) ctx.error(l.blockPos!, `${kw(s)}: unexpected block inside a value list`, 'remove the braces', 'UNEXPECTED_BOB');
  }
  return out;
}

type Handler<T> = (ctx: Ctx, s: Stmt, target: T) => void;

/** Walk a block with a keyword table. Known-but-unmodelled keywords are noted, unknown ones warned and skipped. */
function walk<T>(ctx: Ctx, stmts: Stmt[] | undefined, table: Record<string, Handler<T>>, target: T, ignored: ReadonlySet<string>, where: string): void {
  for (const s of stmts ?? []) {
    const k = kw(s);
    if (stopsKeepalived(ctx, s, where)) continue;
    const h = Object.prototype.hasOwnProperty.call(table, k) ? table[k] : undefined;
    if (h) h(ctx, s, target);
    else if (ignored.has(k)) {
      if (s.words.length === 1 && reportsWithoutParam(where, k)) {
        ctx.warn(endPos(s), `${k} is missing its parameter; keepalived ignores the line`, `write '${k} <value>', or remove it`);
        continue;
      }
      ctx.note(s.pos, `${k} is a keepalived keyword lvsd does not implement; ignored`, 'remove it if you rely on it', 'OK');
      // keepalived still reads what is inside (SMTP_CHECK, UDP_CHECK …) and can stop there.
      if (s.block && EXITS_WITHOUT_PARAM[k]) for (const t of s.block) stopsKeepalived(ctx, t, k);
    } else unknownKeyword(ctx, s, ` in ${where}`, [...Object.keys(table), ...ignored]);
  }
}

/**
 * A keyword written without the word keepalived reads after it: keepalived
 * stops reading the whole configuration there and exits 2 (missing-param.ts).
 * The handler is not run, so the line is reported once.
 */
function stopsKeepalived(ctx: Ctx, s: Stmt, where: string): boolean {
  const k = kw(s);
  if (s.words.length > 1 || !exitsWithoutParam(where, k)) return false;
  ctx.error(endPos(s), `${k} is missing its parameter; keepalived stops reading the configuration here (exit 2)`,
    `write '${k} <value>'${s.block ? ' (a template placeholder such as {{ … }} left unfilled?)' : ''}`, 'EXIT_CONFIG');
  return true;
}

function unknownKeyword(ctx: Ctx, s: Stmt, where: string, known: Iterable<string>): void {
  const k = kw(s);
  const guess = closest(k, known);
  const skipped = s.block ? 'the keyword and its block are skipped' : 'the line is skipped';
  ctx.warn(s.pos, `unknown keyword '${k}'${where}`, guess ? `did you mean '${guess}'? ${skipped}` : `check the spelling; ${skipped}`, 'UNKNOWN_KEYWORD');
}

/** The known keyword nearest to a misspelt one, if any is near enough to be a likely typo. */
function closest(word: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestD) { best = k; bestD = d; }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

const set = (...a: string[]): ReadonlySet<string> => new Set(a);

// ---------------------------------------------------------------- global_defs

const GLOBAL_IGNORED = set(
  'process_names', 'process_name', 'vrrp_process_name', 'checker_process_name', 'lvs_process_name', 'bfd_process_name',
  'smtp_helo_name', 'smtp_alert', 'startup_script', 'startup_script_timeout', 'shutdown_script', 'shutdown_script_timeout',
  'max_auto_priority', 'min_auto_priority_delay', 'smtp_alert_vrrp', 'smtp_alert_checker', 'checker_log_all_failures',
  'dynamic_interfaces', 'no_email_faults', 'default_interface', 'disable_local_igmp', 'lvs_flush_onstop',
  'vrrp_garp_lower_prio_delay', 'vrrp_garp_lower_prio_repeat', 'vrrp_down_timer_adverts', 'vrrp_gna_interval', 'vrrp_min_garp',
  'vrrp_garp_extra_if', 'vrrp_lower_prio_no_advert', 'vrrp_higher_prio_send_advert', 'nftables', 'nftables_priority', 'nftables_ifindex', 'nftables_ipvs', 'nftables_ipvs_priority',
  'nftables_ipvs_start_fwmark', 'nftables_counters', 'vrrp_check_unicast_src', 'vrrp_priority', 'vrrp_no_swap',
  'vrrp_rt_priority', 'vrrp_cpu_affinity', 'vrrp_rlimit_rttime', 'vrrp_rlimit_rtime', 'notify_fifo', 'notify_fifo_script',
  'vrrp_notify_fifo', 'vrrp_notify_fifo_script', 'vrrp_notify_priority_changes', 'fifo_write_vrrp_states_on_reload',
  'lvs_notify_fifo', 'lvs_notify_fifo_script', 'checker_priority', 'checker_no_swap', 'checker_rt_priority',
  'checker_cpu_affinity', 'checker_rlimit_rttime', 'checker_rlimit_rtime', 'bfd_priority', 'bfd_no_swap', 'bfd_rt_priority',
  'bfd_cpu_affinity', 'bfd_rlimit_rttime', 'bfd_rlimit_rtime', 'snmp_socket', 'enable_traps', 'enable_snmp_vrrp',
  'enable_snmp_keepalived', 'enable_snmp_rfc', 'enable_snmp_rfcv2', 'enable_snmp_rfcv3', 'enable_snmp_checker', 'enable_dbus',
  'dbus_service_name', 'vrrp_netlink_cmd_rcv_bufs', 'vrrp_netlink_cmd_rcv_bufs_force', 'vrrp_netlink_monitor_rcv_bufs',
  'vrrp_netlink_monitor_rcv_bufs_force', 'process_monitor_rcv_bufs', 'process_monitor_rcv_bufs_force',
  'lvs_netlink_cmd_rcv_bufs', 'lvs_netlink_cmd_rcv_bufs_force', 'lvs_netlink_monitor_rcv_bufs',
  'lvs_netlink_monitor_rcv_bufs_force', 'rs_init_notifies', 'no_checker_emails', 'vrrp_rx_bufs_policy',
  'vrrp_rx_bufs_multiplier', 'vrrp_startup_delay', 'log_unknown_vrids', 'vmac_prefix', 'vmac_addr_prefix', 'umask',
  'random_seed', 'reload_time_file', 'reload_repeat', 'reload_file', 'include_check',
  'config_save_dir', 'tmp_config_directory', 'data_use_instance',
);

const GLOBAL: Record<string, Handler<KeepalivedConfig>> = {
  router_id: (c, s, m) => { const w = need(c, s, 1, 'name'); if (w) m.global_defs.router_id = w.text; },
  notification_email: (c, s, m) => { for (const l of valueLines(c, s)) for (const w of l.words) m.global_defs.notification_email.push(w.text); },
  notification_email_from: (c, s, m) => { const w = need(c, s, 1, 'address'); if (w) m.global_defs.notification_email_from = w.text; },
  smtp_server: (c, s, m) => { const w = need(c, s, 1, 'address'); if (w) m.global_defs.smtp_server = w.text; },
  smtp_connect_timeout: (c, s, m) => { const v = timer(c, s, 1, 'seconds'); if (v !== undefined) m.global_defs.smtp_connect_timeout = v; },
  vrrp_version: (c, s, m) => { const v = num(c, s, 1, 2, 3, 'version'); if (v !== undefined) m.global_defs.vrrp_version = v as 2 | 3; },
  vrrp_mcast_group4: (c, s, m) => {
    const a = ipv4(c, arg(s, 1), 'vrrp_mcast_group4', s);
    if (a && (ipToU32(a) >>> 28) !== 14) c.error(arg(s, 1)!.pos, `vrrp_mcast_group4 ${a} is not a multicast address`, 'use an address in 224.0.0.0/4');
    else if (a) m.global_defs.vrrp_mcast_group4 = a;
  },
  vrrp_mcast_group6: (c, s, m) => {
    // keepalived's vrrp_mcast_group6_handler, its checks and messages.
    const w = need(c, s, 1, 'address');
    if (!w) return;
    if (!isIpv4(w.text) && !isIpv6(w.text)) { c.error(w.pos, `Can't parse vrrp_mcast_group6 [${w.text}]. Skipping`, 'give an IPv6 multicast address such as ff02::12'); return; }
    if (!isIpv6(w.text)) { c.error(w.pos, `vrrp_mcast_group6 [${w.text}] is not IPv6. Skipping`, 'give an IPv6 multicast address such as ff02::12'); return; }
    const b = parseIpv6(w.text);
    if (!isMulticastIpv6(b)) { c.error(w.pos, `vrrp_mcast_group6 [${w.text}] is not multicast. Skipping`, 'use an address in ff00::/8, normally ff02::12'); return; }
    if (!isLinkLocalMulticastIpv6(b)) c.warn(w.pos, `vrrp_mcast_group6 [${w.text}] should be link-local multicast.`, 'use a link-scope group (ff02::/16): adverts never leave the link', 'WARNING');
    m.global_defs.vrrp_mcast_group6 = formatIpv6(b);
  },
  vrrp_garp_master_delay: (c, s, m) => { const v = num(c, s, 1, 0, 86400, 'seconds'); if (v !== undefined) m.global_defs.vrrp_garp_master_delay = v; },
  vrrp_garp_master_repeat: (c, s, m) => { const v = num(c, s, 1, 0, 2147483647, 'count'); if (v !== undefined) m.global_defs.vrrp_garp_master_repeat = v; },
  vrrp_garp_master_refresh: (c, s, m) => { const v = num(c, s, 1, 0, 86400, 'seconds'); if (v !== undefined) m.global_defs.vrrp_garp_master_refresh = v; },
  vrrp_garp_master_refresh_repeat: (c, s, m) => { const v = num(c, s, 1, 0, 2147483647, 'count'); if (v !== undefined) m.global_defs.vrrp_garp_master_refresh_repeat = v; },
  vrrp_garp_interval: (c, s, m) => { const v = timer(c, s, 1, 'seconds'); if (v !== undefined) m.global_defs.vrrp_garp_interval = v; },
  vrrp_strict: (_c, _s, m) => { m.global_defs.vrrp_strict = true; },
  vrrp_skip_check_adv_addr: (_c, _s, m) => { m.global_defs.vrrp_skip_check_adv_addr = true; },
  lvs_timeouts: (c, s, m) => {
    if (s.words.length < 3) { c.warn(endPos(s), 'lvs_timeouts requires at least one option', 'write lvs_timeouts tcp N tcpfin N udp N'); return; }
    const t: { tcp?: number; tcpfin?: number; udp?: number } = {};
    for (let i = 1; i < s.words.length; i += 2) {
      const k = s.words[i]!.text;
      if (k !== 'tcp' && k !== 'tcpfin' && k !== 'udp') {
        c.error(s.words[i]!.pos, `lvs_timeouts: unknown protocol '${k}'`, 'use tcp, tcpfin or udp');
        break;
      }
      const v = num(c, s, i + 1, 0, 2147483, `${k} seconds`);
      if (v !== undefined) t[k] = v;
    }
    m.global_defs.lvs_timeouts = t;
  },
  lvs_flush: (_c, _s, m) => { m.global_defs.lvs_flush = true; },
  lvs_flush_on_stop: (_c, _s, m) => { m.global_defs.lvs_flush_on_stop = true; },
  lvs_sync_daemon: (c, s, m) => {
    const ifw = need(c, s, 1, 'interface');
    if (!ifw) return;
    const d: NonNullable<KeepalivedConfig['global_defs']['lvs_sync_daemon']> = { interface: ifw.text };
    let i = 2;
    if (s.words[i] && !['id', 'maxlen', 'port', 'ttl', 'group'].includes(s.words[i]!.text)) d.instance = s.words[i++]!.text;
    for (; i < s.words.length; i += 2) {
      const k = s.words[i]!.text;
      if (k === 'group') { const g = syncGroup(c, s.words[i + 1], s); if (g) d.group = g; continue; }
      const ranges: Record<string, [number, number]> = { id: [0, 255], maxlen: [1, 65507], port: [1, 65535], ttl: [1, 255] };
      const r = ranges[k];
      if (!r) { c.error(s.words[i]!.pos, `lvs_sync_daemon: unknown option '${k}'`, 'use id, maxlen, port, ttl or group'); break; }
      const v = num(c, s, i + 1, r[0], r[1], k);
      if (v !== undefined) (d as unknown as Record<string, number>)[k] = v;
    }
    m.global_defs.lvs_sync_daemon = d;
  },
  enable_script_security: (_c, _s, m) => { m.global_defs.enable_script_security = true; },
  // Debian's keepalived 2.2.7 is built with nftables and without iptables or libipset: it runs
  // vrrp_iptables as nftables with a complaint (global_parser.c) and does not know vrrp_ipsets.
  vrrp_iptables: (c, s) => c.warn(s.pos, "iptables not supported, keepalived uses nftables instead", "replace vrrp_iptables and vrrp_ipsets with 'nftables' (lvsd uses neither)"),
  vrrp_ipsets: (c, s) => c.warn(s.pos, "unknown keyword 'vrrp_ipsets' (keepalived is built without ipset support)", 'remove it; nftables sets replace it', 'UNKNOWN_KEYWORD'),
  vrrp_vmac_garp_intvl: (c, s) => {
    c.warn(s.pos, 'vrrp_vmac_garp_intvl is deprecated - please use vrrp_garp_extra_if', 'rename it (lvsd implements neither)', 'DEPRECATED');
    if (s.words.length === 1) c.warn(endPos(s), 'vrrp_vmac_garp_intvl specified without time - ignoring', 'give the interval in seconds');
  },
  reload_check_config: (_c, s, m) => { const f = arg(s, 1); m.global_defs.reload_check_config = f ? { log_file: f.text } : {}; },
  script_user: (c, s, m) => {
    const u = need(c, s, 1, 'user');
    if (u) m.global_defs.script_user = s.words[2] ? { user: u.text, group: s.words[2].text } : { user: u.text };
  },
};

// ---------------------------------------------------------------- vrrp_script

const SCRIPT: Record<string, Handler<VrrpScript>> = {
  script: (c, s, t) => { if (need(c, s, 1, 'command')) t.script = scriptText(s); },
  interval: (c, s, t) => { const v = timer(c, s, 1, 'seconds'); if (v !== undefined) t.interval = v; },
  timeout: (c, s, t) => { const v = timer(c, s, 1, 'seconds'); if (v !== undefined) t.timeout = v; },
  weight: (c, s, t) => {
    const v = num(c, s, 1, -253, 253, 'weight');
    if (v !== undefined) t.weight = v;
    if (s.words[2]?.text === 'reverse') t.weight_reverse = true;
  },
  rise: (c, s, t) => { const v = num(c, s, 1, 1, 2147483647, 'count'); if (v !== undefined) t.rise = v; },
  fall: (c, s, t) => { const v = num(c, s, 1, 1, 2147483647, 'count'); if (v !== undefined) t.fall = v; },
  user: (c, s, t) => { const w = need(c, s, 1, 'user'); if (w) t.user = s.words.slice(1).map((x) => x.text).join(' '); },
  init_fail: (_c, _s, t) => { t.init_fail = true; },
};

// ---------------------------------------------------------------- tracking helpers

function trackScripts(c: Ctx, s: Stmt): TrackScriptRef[] {
  return valueLines(c, s).map((l) => {
    const r: TrackScriptRef = { name: l.words[0]!.text };
    if (l.words[1]?.text === 'weight') {
      const v = num(c, l, 2, -253, 253, 'weight');
      if (v !== undefined) r.weight = v;
      if (l.words[3]?.text === 'reverse') r.reverse = true;
    }
    return r;
  });
}
function trackInterfaces(c: Ctx, s: Stmt): TrackInterfaceRef[] {
  return valueLines(c, s).map((l) => {
    const r: TrackInterfaceRef = { name: l.words[0]!.text };
    if (l.words[1]?.text === 'weight') {
      const v = num(c, l, 2, -254, 254, 'weight');
      if (v !== undefined) r.weight = v;
      if (l.words[3]?.text === 'reverse') r.reverse = true;
    }
    return r;
  });
}
/**
 * A command line as keepalived runs it. The usual `script "/bin/cmd arg"`
 * is one quoted string holding the whole line; only when quoted words sit
 * among others do their quotes have to be kept to keep them one argument.
 */
const scriptText = (s: Stmt): string => {
  const w = s.words.slice(1);
  if (w.length === 1) return w[0]!.text;
  return w.map((x) => (x.quoted && /\s/.test(x.text) ? `"${x.text}"` : x.text)).join(' ');
};
function notifyHandler<T>(key: string, node: (t: T) => object = (t) => t as object): Handler<T> {
  return (c, s, t) => {
    if (need(c, s, 1, 'script')) (node(t) as Record<string, unknown>)[key] = scriptText(s);
  };
}

// ---------------------------------------------------------------- vrrp_sync_group

const SYNC: Record<string, Handler<VrrpSyncGroup>> = {
  group: (c, s, g) => { for (const l of valueLines(c, s)) for (const w of l.words) g.group.push(w.text); },
  track_interface: (c, s, g) => { g.track_interface.push(...trackInterfaces(c, s)); },
  track_script: (c, s, g) => { g.track_script.push(...trackScripts(c, s)); },
  notify: notifyHandler<VrrpSyncGroup>('notify'),
  notify_master: notifyHandler<VrrpSyncGroup>('notify_master'),
  notify_backup: notifyHandler<VrrpSyncGroup>('notify_backup'),
  notify_fault: notifyHandler<VrrpSyncGroup>('notify_fault'),
  notify_stop: notifyHandler<VrrpSyncGroup>('notify_stop'),
};
const SYNC_IGNORED = set('track_file', 'track_process', 'track_bfd', 'smtp_alert', 'global_tracking', 'sync_group_tracking_weight', 'notify_priority_changes', 'notify_deleted');

// ---------------------------------------------------------------- vrrp_instance

function parseVip(c: Ctx, l: Stmt, what = 'virtual_ipaddress'): VirtualIp | undefined {
  const w = l.words[0]!;
  const [addr, pfx, ...more] = w.text.split('/');
  const v6 = !more.length && isIpv6(addr!);
  if (more.length || (!v6 && !isIpv4(addr!))) {
    c.error(w.pos, `${what} '${w.text}' is not a valid IP address`, 'write A.B.C.D[/prefix] or an IPv6 address[/prefix], e.g. 192.168.150.100/24 or 2001:db8::100/64');
    return undefined;
  }
  const max = v6 ? 128 : 32;
  let prefix = max;
  if (pfx !== undefined) {
    if (!/^\d+$/.test(pfx) || Number(pfx) > max) {
      c.error(w.pos, `${what} '${w.text}': bad prefix length`, `give a prefix length in [0, ${max}]`);
      return undefined;
    }
    prefix = Number(pfx);
  }
  const vip: VirtualIp = { pos: w.pos, addr: v6 ? canonicalIp(addr!) : addr!, prefix };
  const extra: string[] = [];
  for (let i = 1; i < l.words.length; i++) {
    const k = l.words[i]!.text;
    const next = l.words[i + 1];
    if (k === 'brd' || k === 'broadcast') {
      if (!next) { c.error(l.words[i]!.pos, `${what}: ${k} needs an address`, 'write brd A.B.C.D'); break; }
      if (v6) c.error(l.words[i]!.pos, `${what}: ${k} is for IPv4 addresses`, 'IPv6 has no broadcast: remove it');
      else if (next.text !== '-' && next.text !== '+' && !isIpv4(next.text)) c.error(next.pos, `${what}: invalid broadcast '${next.text}'`, 'write brd A.B.C.D');
      else vip.brd = next.text;
      i++;
    } else if (k === 'dev' || k === 'scope' || k === 'label') {
      if (!next) { c.error(l.words[i]!.pos, `${what}: ${k} needs a value`, `write ${k} <value>`); break; }
      vip[k] = next.text;
      i++;
    } else if (['no_track', 'home', '-nodad', 'nodad', 'noprefixroute', 'autojoin', 'use_vmac'].includes(k)) {
      extra.push(k);
    } else if (k === 'preferred_lft' && next) {
      // IPv6: 0 marks the address deprecated, so the VIP is never a source address (keepalived's reason for it).
      if (!/^(\d+|forever)$/.test(next.text) || (next.text !== 'forever' && Number(next.text) > 4294967295)) {
        c.error(next.pos, `${what}: invalid preferred_lft '${next.text}'`, 'give seconds or forever');
      } else extra.push(k, next.text);
      i++;
    } else if (['peer', 'track_group', 'metric'].includes(k) && next) {
      extra.push(k, next.text);
      i++;
    } else {
      c.error(l.words[i]!.pos, `${what}: unknown option '${k}'`, 'use brd, dev, scope, label, peer, no_track, home, preferred_lft or -nodad');
      return undefined;
    }
  }
  if (extra.length) vip.extra = extra;
  return vip;
}

const INSTANCE_IGNORED = set(
  'use_vmac', 'use_vmac_addr', 'vmac_xmit_base', 'use_ipvlan', 'vrf', 'track_file', 'track_process', 'track_bfd', 'mcast_dst_ip', 'track_src_ip',
  'unicast_ttl', 'promote_secondaries', 'skip_check_adv_addr',
  'strict_mode', 'debug', 'notify_deleted', 'notify_priority_changes', 'garp_lower_prio_delay',
  'garp_lower_prio_repeat', 'garp_extra_if', 'lower_prio_no_advert', 'higher_prio_send_advert',
  'kernel_rx_buf_size',
);

interface InstanceCtx {
  m: KeepalivedConfig;
  /** The file's rule-preference counter, shared with static_rules. */
  rulePrefs: RulePrefs;
  vi: VrrpInstance; stateSet?: boolean; vridSet?: boolean; accept?: boolean;
  /** keepalived's VRRP_FLAG_UNICAST_CONFIGURED (any unicast keyword) and VRRP_FLAG_UNICAST_FAULT_NO_PEERS. */
  unicast?: boolean; unicastFaultNoPeer?: boolean;
  /** keepalived's vrrp->family: set by the first address that has one (VIP, source, peer) or native_ipv6. */
  family?: Family;
  /** keepalived's vrrp->version: only what `version` or native_ipv6 set (the global default applies at the end). */
  version?: 2 | 3;
}

/** keepalived sets an instance's family from the first address it meets; later ones must match. */
function instanceFamily(c: Ctx, x: InstanceCtx, family: Family, pos: SourcePos, msg: string, hint: string): boolean {
  if (x.family === undefined) { x.family = family; return true; }
  if (x.family === family) return true;
  c.error(pos, msg, hint);
  return false;
}

const INSTANCE: Record<string, Handler<InstanceCtx>> = {
  state: (c, s, x) => {
    const w = need(c, s, 1, 'MASTER|BACKUP');
    if (!w) return;
    if (w.text === 'MASTER' || w.text === 'BACKUP') { x.vi.state = w.text; x.stateSet = true; }
    else c.error(w.pos, `(${x.vi.name}) unknown state '${w.text}'`, 'use MASTER or BACKUP; keepalived defaults to BACKUP');
  },
  interface: (c, s, x) => { const w = need(c, s, 1, 'interface'); if (!w) return; if (w.text.length > 15) c.error(w.pos, `interface name '${w.text}' too long`, 'interface names have at most 15 characters'); else x.vi.interface = w.text; },
  dont_track_primary: (_c, _s, x) => { x.vi.dont_track_primary = true; },
  track_interface: (c, s, x) => { x.vi.track_interface.push(...trackInterfaces(c, s)); },
  track_script: (c, s, x) => { x.vi.track_script.push(...trackScripts(c, s)); },
  mcast_src_ip: (c, s, x) => srcIp(c, s, x, 'mcast_src_ip'),
  unicast_src_ip: (c, s, x) => { x.unicast = true; srcIp(c, s, x, 'unicast_src_ip'); },
  // Unicast options lvsd does not implement, but which make the instance a unicast one for keepalived's checks.
  check_unicast_src: unicastOption,
  old_unicast_checksum: unicastOption,
  unicast_fault_no_peer: (c, s, x) => { unicastOption(c, s, x); x.unicastFaultNoPeer = true; },
  vmac_garp_intvl: (c, s) => {
    c.warn(s.pos, 'vmac_garp_intvl is deprecated - please use garp_extra_if', 'rename it (lvsd implements neither)', 'DEPRECATED');
    if (s.words.length === 1) c.warn(endPos(s), 'vmac_garp_intvl specified without time - ignoring', 'give the interval in seconds');
  },
  linkbeat_use_polling: (c, s, x) => c.warn(s.pos, `(${x.vi.name}) 'linkbeat_use_polling' in vrrp instance deprecated - use linkbeat_interfaces block`, 'remove it (lvsd watches links through netlink)'),
  lvs_sync_daemon_interface: (c, s, x) => {
    // keepalived 1.2.19's form (vrrp_parser.c vrrp_lvs_syncd_handler): still honoured, but always reported.
    c.warn(s.pos, `(${x.vi.name}) Specifying lvs_sync_daemon_interface against a vrrp is deprecated`, `write 'lvs_sync_daemon ${s.words[1]?.text ?? 'IFNAME'} ${x.vi.name}' in global_defs`);
    const g = x.m.global_defs;
    if (g.lvs_sync_daemon) c.warn(s.pos, `(${x.vi.name}) lvs_sync_daemon_interface has already been specified as ${g.lvs_sync_daemon.interface} - ignoring`, 'keep one lvs_sync_daemon');
    else if (s.words[1]) g.lvs_sync_daemon = { interface: s.words[1].text, instance: x.vi.name };
  },
  native_ipv6: (c, s, x) => {
    if (x.family === 4) { c.error(s.pos, `(${x.vi.name}) Cannot specify native_ipv6 with IPv4 addresses`, 'remove native_ipv6, or use IPv6 addresses'); return; }
    x.family = 6;
    x.version = 3;
    x.vi.native_ipv6 = true;
  },
  unicast_peer: (c, s, x) => {
    x.unicast = true;
    for (const l of valueLines(c, s)) {
      const ip = ipAny(c, l.words[0], 'unicast_peer', l);
      if (!ip) continue;
      if (!instanceFamily(c, x, ip.family, l.words[0]!.pos, `Configuration error: VRRP instance[${x.vi.name}] and unicast peer address[${l.words[0]!.text}] MUST be of the same family !!! Skipping...`,
        'use peers of the instance\'s address family (its virtual_ipaddress decides it)')) continue;
      const a = ip.addr;
      const p: VrrpInstance['unicast_peer'][number] = { addr: a };
      for (let i = 1; i < l.words.length; i += 2) {
        const k = l.words[i]!.text;
        if (k !== 'min_ttl' && k !== 'max_ttl') { c.error(l.words[i]!.pos, `unicast_peer: unknown option '${k}'`, 'use min_ttl or max_ttl'); break; }
        const v = num(c, l, i + 1, 0, 255, k);
        if (v !== undefined) p[k] = v;
      }
      x.vi.unicast_peer.push(p);
    }
  },
  virtual_router_id: (c, s, x) => {
    const w = need(c, s, 1, 'id');
    if (!w) return;
    if (!/^\d+$/.test(w.text) || Number(w.text) < 1 || Number(w.text) > 255) {
      c.error(w.pos, `(${x.vi.name}) VRID '${w.text}' not valid - must be between 1 & 255`, 'give virtual_router_id in [1, 255], the same on both nodes of the pair');
      return;
    }
    x.vi.virtual_router_id = Number(w.text);
    x.vridSet = true;
  },
  version: (c, s, x) => {
    const v = num(c, s, 1, 2, 3, 'version') as 2 | 3 | undefined;
    if (v === undefined) return;
    if ((x.version !== undefined && x.version !== v) || (v === 2 && x.family === 6)) {
      c.error(s.words[1]!.pos, `(${x.vi.name}) vrrp_version ${v} conflicts with configured or deduced version ${x.version ?? 0}; ignoring.`, 'IPv6 instances run VRRP version 3: remove version 2');
      return;
    }
    x.version = v;
    x.vi.version = v;
  },
  priority: (c, s, x) => {
    const w = need(c, s, 1, 'priority');
    if (!w) return;
    if (!/^\d+$/.test(w.text) || Number(w.text) < 1 || Number(w.text) > 255) {
      c.error(w.pos, `(${x.vi.name}) priority ${w.text} not valid, must be between 1 & 255`, 'give priority in [1, 255] (255 = address owner); keepalived would use 100');
      return;
    }
    x.vi.priority = Number(w.text);
  },
  advert_int: (c, s, x) => {
    const v = num(c, s, 1, 0.01, 255, 'seconds', { decimal: true });
    if (v !== undefined) x.vi.advert_int = v;
  },
  authentication: (c, s, x) => {
    const a: { auth_type?: 'PASS' | 'AH'; auth_pass?: string } = {};
    walk(c, s.block, {
      auth_type: (c2, s2) => {
        const w = need(c2, s2, 1, 'PASS|AH');
        if (w && (w.text === 'PASS' || w.text === 'AH')) a.auth_type = w.text;
        else if (w) c2.error(w.pos, `(${x.vi.name}) unknown authentication type '${w.text}'`, 'use PASS or AH');
      },
      auth_pass: (c2, s2) => {
        const w = need(c2, s2, 1, 'password');
        if (!w) return;
        if (w.text.length > 8) c2.warn(w.pos, `truncating auth_pass to 8 characters ('${w.text.slice(0, 8)}')`, 'shorten it to 8 characters; only those go on the wire');
        a.auth_pass = w.text.slice(0, 8);
      },
    }, null, set(), 'authentication');
    if (!s.block) c.error(endPos(s), 'authentication: missing block', "write 'authentication { auth_type PASS; auth_pass … }'", 'MISSING_BOB');
    if (a.auth_type && a.auth_pass !== undefined) x.vi.authentication = { auth_type: a.auth_type, auth_pass: a.auth_pass };
    else if (a.auth_type || a.auth_pass !== undefined) c.warn(s.pos, `(${x.vi.name}) authentication needs both auth_type and auth_pass`, 'add the missing one; authentication is off until then');
  },
  virtual_ipaddress: (c, s, x) => {
    for (const l of valueLines(c, s)) {
      const v = parseVip(c, l);
      if (!v) continue;
      // keepalived's alloc_vrrp_vip: the adverts carry one family, so the VIPs are of one family.
      if (!instanceFamily(c, x, familyOf(v.addr), v.pos, `(${x.vi.name}): address family must match VRRP instance [${l.words[0]!.text}] - ignoring`,
        'put the other family\'s addresses in virtual_ipaddress_excluded, or in an instance of their own')) continue;
      x.vi.virtual_ipaddress.push(v);
    }
  },
  // Excluded addresses are not in adverts: either family may go with any instance.
  virtual_ipaddress_excluded: (c, s, x) => { for (const l of valueLines(c, s)) { const v = parseVip(c, l); if (v) x.vi.virtual_ipaddress_excluded.push(v); } },
  // The lines of static_routes / static_rules (keepalived's alloc_route / alloc_rule for both).
  virtual_routes: (c, s, x) => { for (const l of valueLines(c, s)) { const r = parseStaticRoute(c, l); if (r) x.vi.virtual_routes.push(r); } },
  virtual_rules: (c, s, x) => { for (const l of valueLines(c, s)) { const r = parseStaticRule(c, l, x.rulePrefs); if (r) x.vi.virtual_rules.push(r); } },
  accept: (_c, _s, x) => { x.accept = true; },
  no_accept: (_c, _s, x) => { x.accept = false; },
  preempt: (_c, _s, x) => { x.vi.nopreempt = false; },
  nopreempt: (_c, _s, x) => { x.vi.nopreempt = true; },
  preempt_delay: (c, s, x) => { const v = num(c, s, 1, 0, 1000, 'seconds', { decimal: true }); if (v !== undefined) x.vi.preempt_delay = v; },
  notify: notifyHandler<InstanceCtx>('notify', (x) => x.vi),
  notify_master: notifyHandler<InstanceCtx>('notify_master', (x) => x.vi),
  notify_backup: notifyHandler<InstanceCtx>('notify_backup', (x) => x.vi),
  notify_fault: notifyHandler<InstanceCtx>('notify_fault', (x) => x.vi),
  notify_stop: notifyHandler<InstanceCtx>('notify_stop', (x) => x.vi),
  notify_master_rx_lower_pri: notifyHandler<InstanceCtx>('notify_master_rx_lower_pri', (x) => x.vi),
  smtp_alert: (c, s, x) => { const b = bool(c, s, 1); if (b !== undefined) x.vi.smtp_alert = b; },
  garp_master_delay: (c, s, x) => { const v = num(c, s, 1, 0, 86400, 'seconds'); if (v !== undefined) x.vi.garp_master_delay = v; },
  garp_master_repeat: (c, s, x) => { const v = num(c, s, 1, 0, 2147483647, 'count'); if (v !== undefined) x.vi.garp_master_repeat = v; },
  garp_master_refresh: (c, s, x) => { const v = num(c, s, 1, 0, 86400, 'seconds'); if (v !== undefined) x.vi.garp_master_refresh = v; },
  garp_master_refresh_repeat: (c, s, x) => { const v = num(c, s, 1, 0, 2147483647, 'count'); if (v !== undefined) x.vi.garp_master_refresh_repeat = v; },
  down_timer_adverts: (c, s, x) => { const v = num(c, s, 1, 1, 100, 'count'); if (v !== undefined) x.vi.down_timer_adverts = v; },
  reference_ip: referenceIp,
  check_reference: referenceIp,
};

function unicastOption(c: Ctx, s: Stmt, x: InstanceCtx): void {
  x.unicast = true;
  c.note(s.pos, `${kw(s)} is a keepalived keyword lvsd does not implement; ignored`, 'remove it if you rely on it', 'OK');
}

function srcIp(c: Ctx, s: Stmt, x: InstanceCtx, k: 'mcast_src_ip' | 'unicast_src_ip'): void {
  const ip = ipAny(c, arg(s, 1), k, s);
  if (!ip) return;
  if (!instanceFamily(c, x, ip.family, s.words[1]!.pos, `Configuration error: VRRP instance[${x.vi.name}] and src address[${s.words[1]!.text}] MUST be of the same family !!! Skipping...`,
    'use a source address of the instance\'s family (its virtual_ipaddress decides it)')) return;
  x.vi[k] = ip.addr;
}

function referenceIp(c: Ctx, s: Stmt, x: InstanceCtx): void {
  c.note(s.pos, `${kw(s)} is an lvsd extension (split-brain detection); keepalived ignores it with an unknown-keyword error`,
    'keep it only in configs run by lvs-keepalived', 'UNKNOWN_KEYWORD');
  const words = s.block ? valueLines(c, s).flatMap((l) => l.words) : s.words.slice(1);
  if (!words.length) need(c, s, 1, 'address');
  for (const w of words) {
    // IPv4 or IPv6, whatever the instance's family: what counts is that this node can reach it.
    if (isIpv6(w.text)) { x.vi.reference_ip.push(canonicalIp(w.text)); continue; }
    const a = ipv4(c, w, kw(s), s);
    if (a) x.vi.reference_ip.push(a);
  }
}

function newInstance(pos: SourcePos, name: string, m: KeepalivedConfig): VrrpInstance {
  const g = m.global_defs;
  return {
    pos, name, state: 'BACKUP', virtual_router_id: 0, priority: DEFAULTS.priority, advert_int: DEFAULTS.advert_int,
    version: g.vrrp_version, virtual_ipaddress: [], virtual_ipaddress_excluded: [], virtual_routes: [], virtual_rules: [], unicast_peer: [], track_interface: [],
    track_script: [], dont_track_primary: false, nopreempt: false, preempt_delay: DEFAULTS.preempt_delay,
    garp_master_delay: g.vrrp_garp_master_delay, garp_master_repeat: g.vrrp_garp_master_repeat,
    garp_master_refresh: g.vrrp_garp_master_refresh, garp_master_refresh_repeat: g.vrrp_garp_master_refresh_repeat,
    down_timer_adverts: DEFAULTS.down_timer_adverts, accept: true, smtp_alert: false, reference_ip: [],
    family: 4, native_ipv6: false,
  };
}

// ---------------------------------------------------------------- virtual servers

const LVS_METHODS: readonly string[] = ['NAT', 'DR', 'TUN'];

function lvsMethod(c: Ctx, s: Stmt, what: string): LvsMethod | undefined {
  const w = need(c, s, 1, 'NAT|DR|TUN');
  if (!w) return undefined;
  if (!LVS_METHODS.includes(w.text)) {
    c.error(w.pos, `unknown [${w.text}] routing method for ${what}`, 'use NAT, DR or TUN');
    return undefined;
  }
  if (w.text === 'TUN' && s.words.length > 2 && s.words[2]!.text === 'type' && s.words[3]?.text !== 'ipip') {
    // Refused rather than replaced by ipip: real servers set up for GUE/GRE
    // could not decapsulate IPIP, so a substitute would black-hole the service.
    c.error(s.words[2]!.pos, `tunnel type ${s.words[3]?.text ?? ''} is not supported by lvsd (only ipip)`, 'use TUN (or TUN type ipip) and IPIP on the real servers', 'OK');
  }
  return w.text as LvsMethod;
}

interface Inherit { delay_loop?: number; connect_timeout?: number; retry?: number; delay_before_retry?: number; warmup?: number; inhibit_on_failure?: boolean; alpha?: boolean }
const commonTimers = <T extends { inh: Inherit }>(): Record<string, Handler<T>> => ({
  delay_loop: (c, s, t) => { const v = timer(c, s, 1, 'seconds'); if (v !== undefined) t.inh.delay_loop = v; },
  connect_timeout: (c, s, t) => { const v = timer(c, s, 1, 'seconds'); if (v !== undefined) t.inh.connect_timeout = v; },
  retry: (c, s, t) => { const v = num(c, s, 1, 0, 4294967295, 'count'); if (v !== undefined) t.inh.retry = v; },
  delay_before_retry: (c, s, t) => { const v = timer(c, s, 1, 'seconds', 0); if (v !== undefined) t.inh.delay_before_retry = v; },
  warmup: (c, s, t) => { const v = timer(c, s, 1, 'seconds', 0); if (v !== undefined) t.inh.warmup = v; },
  inhibit_on_failure: (c, s, t) => { const b = bool(c, s, 1); if (b !== undefined) t.inh.inhibit_on_failure = b; },
  alpha: (c, s, t) => { const b = bool(c, s, 1); if (b !== undefined) t.inh.alpha = b; },
});

interface VsCtx {
  vs: VirtualServer; inh: Inherit; protoSet: boolean; schedSet: boolean; methodSet: boolean; m: KeepalivedConfig;
  /** keepalived's vs->af: the virtual server's address, else ip_family, persistence_granularity or its first non-tunnelled real server. */
  family?: Family;
  /** The virtual server's `weight`: what real servers without their own get. */
  weight?: number;
  weighted: Set<RealServer>;
}
interface RsCtx { rs: RealServer; inh: Inherit; vsx: VsCtx; raw: RawChecker[] }
interface RawChecker { type: CheckerType; pos: SourcePos; inh: Inherit; fields: Record<string, unknown>; urls: HttpUrl[] }

const VS_IGNORED = set('hashed', 'smtp_alert', 'snmp_name', 'sorry_server_lvs_method');
const RS_IGNORED = set('smtp_alert', 'snmp_name');
const CHECK_IGNORED = set('log_all_failures');

const VS: Record<string, Handler<VsCtx>> = {
  ...commonTimers<VsCtx>(),
  lb_algo: schedHandler,
  lvs_sched: schedHandler,
  ops: (_c, _s, x) => { x.vs.ops = true; },
  'flag-1': flagHandler, 'flag-2': flagHandler, 'flag-3': flagHandler,
  'sh-port': flagHandler, 'sh-fallback': flagHandler, 'mh-port': flagHandler, 'mh-fallback': flagHandler,
  lb_kind: methodHandler,
  lvs_method: methodHandler,
  persistence_engine: (c, s, x) => { const w = need(c, s, 1, 'engine'); if (w) x.vs.persistence_engine = w.text; },
  persistence_timeout: (c, s, x) => {
    if (s.words.length < 2) { x.vs.persistence_timeout = DEFAULTS.persistence_timeout_bare; return; }
    const v = num(c, s, 1, 1, 2678400, 'seconds');
    if (v !== undefined) x.vs.persistence_timeout = v;
  },
  persistence_granularity: (c, s, x) => {
    const w = need(c, s, 1, 'netmask');
    if (!w) return;
    // keepalived's pgr_handler: the service's family if known, else a dot means IPv4.
    const family: Family = x.family ?? (w.text.includes('.') ? 4 : 6);
    if (family === 6) {
      if (!/^\d+$/.test(w.text) || Number(w.text) < 1 || Number(w.text) > 128) {
        c.error(w.pos, `Invalid IPv6 persistence_granularity specified - ${w.text}`, 'give an IPv6 prefix length in [1, 128], e.g. 64');
        return;
      }
      x.vs.persistence_granularity = String(Number(w.text));
    } else if (/^\d+$/.test(w.text)) {
      // inet_aton() reads "24" as 0.0.0.24, which is what keepalived then uses.
      c.error(w.pos, `persistence_granularity ${w.text} is not a netmask (keepalived would use 0.0.0.${w.text})`, 'write the mask dotted, e.g. 255.255.255.0 for /24', 'OK');
      return;
    } else if (!isIpv4(w.text)) {
      c.error(w.pos, `Invalid IPv4 persistence_granularity specified - ${w.text}`, 'give a netmask such as 255.255.255.0');
      return;
    } else x.vs.persistence_granularity = w.text;
    x.family ??= family;
    if (!x.vs.persistence_timeout) x.vs.persistence_timeout = DEFAULTS.persistence_timeout_bare;
  },
  ip_family: (c, s, x) => {
    const w = need(c, s, 1, 'inet|inet6');
    if (!w) return;
    if (w.text !== 'inet' && w.text !== 'inet6') { c.error(w.pos, `unknown address family ${w.text}`, 'use inet or inet6'); return; }
    const f: Family = w.text === 'inet' ? 4 : 6;
    if (x.family !== undefined && x.family !== f) { c.error(w.pos, `Virtual server specified family ${w.text} conflicts with server family`, 'remove ip_family, or make it match the addresses'); return; }
    x.family = f;
  },
  protocol: (c, s, x) => {
    const w = need(c, s, 1, 'TCP|UDP|SCTP');
    if (!w) return;
    const p = w.text.toUpperCase();
    if (p === 'TCP' || p === 'UDP' || p === 'SCTP') { x.vs.protocol = p; x.protoSet = true; }
    else c.error(w.pos, `unknown protocol ${w.text}`, 'use TCP, UDP or SCTP');
  },
  ha_suspend: (_c, _s, x) => { x.vs.ha_suspend = true; },
  virtualhost: (c, s, x) => { const w = need(c, s, 1, 'host name'); if (w) x.vs.virtualhost = w.text; },
  omega: (c, s, x) => { const b = bool(c, s, 1); if (b !== undefined) x.vs.omega = b; },
  quorum: (c, s, x) => { const v = num(c, s, 1, 1, 4294967295, 'quorum'); if (v !== undefined) x.vs.quorum = v; },
  hysteresis: (c, s, x) => { const v = num(c, s, 1, 0, 4294967295, 'hysteresis'); if (v !== undefined) x.vs.hysteresis = v; },
  sorry_server: (c, s, x) => {
    const a = ipAny(c, arg(s, 1), 'sorry_server', s);
    const pw = arg(s, 2);
    const p = pw ? port(c, pw, 'sorry_server port') : 0;
    if (a && p !== undefined) x.vs.sorry_server = { addr: a.addr, port: p };
  },
  sorry_server_inhibit: (c, s, x) => { const b = bool(c, s, 1); if (b !== undefined) x.vs.sorry_server_inhibit = b; },
  quorum_up: notifyHandler<VsCtx>('quorum_up', (x) => x.vs),
  quorum_down: notifyHandler<VsCtx>('quorum_down', (x) => x.vs),
  real_server: (c, s, x) => realServer(c, s, x),
  weight: (c, s, x) => { const v = num(c, s, 1, 0, 2147483647, 'weight'); if (v !== undefined) x.weight = v; },
};
function schedHandler(c: Ctx, s: Stmt, x: VsCtx): void {
  const w = need(c, s, 1, 'scheduler');
  if (!w) return;
  if (!(SCHEDULERS as readonly string[]).includes(w.text)) {
    c.error(w.pos, `invalid lvs_scheduler '${w.text}'`, `use one of ${SCHEDULERS.join(', ')}`);
    return;
  }
  x.vs.lvs_sched = w.text;
  x.schedSet = true;
}
function flagHandler(c: Ctx, s: Stmt, x: VsCtx): void {
  const f = kw(s);
  // keepalived judges sh-*/mh-* by the scheduler set so far, so they must come after lvs_sched.
  const needs = f.startsWith('sh-') ? 'sh' : f.startsWith('mh-') ? 'mh' : undefined;
  if (needs && !(x.schedSet && x.vs.lvs_sched === needs)) {
    c.warn(s.pos, `${f} only applies to the ${needs} scheduler - ignoring`, `put it after 'lvs_sched ${needs}', or remove it`);
    return;
  }
  if (!x.vs.sched_flags.includes(f)) x.vs.sched_flags.push(f);
}
function methodHandler(c: Ctx, s: Stmt, x: VsCtx): void {
  const m = lvsMethod(c, s, 'virtual server');
  if (m) { x.vs.lvs_method = m; x.methodSet = true; }
}

const RS: Record<string, Handler<RsCtx>> = {
  ...commonTimers<RsCtx>(),
  weight: (c, s, x) => {
    const w = need(c, s, 1, 'weight');
    if (!w) return;
    if (!/^-?\d+$/.test(w.text) || Number(w.text) < 0 || Number(w.text) > 2147483647) {
      c.error(w.pos, `real server weight ${w.text} is outside range 0-2147483647`, 'give a weight ≥ 0 (IPVS uses at most 65535)');
      return;
    }
    x.rs.weight = Number(w.text);
    x.vsx.weighted.add(x.rs);
  },
  lvs_method: (c, s, x) => { const m = lvsMethod(c, s, 'real server'); if (m) x.rs.lvs_method = m; },
  uthreshold: (c, s, x) => { const v = num(c, s, 1, 0, 4294967295, 'connections'); if (v !== undefined) x.rs.uthreshold = v; },
  lthreshold: (c, s, x) => { const v = num(c, s, 1, 0, 4294967295, 'connections'); if (v !== undefined) x.rs.lthreshold = v; },
  notify_up: notifyHandler<RsCtx>('notify_up', (x) => x.rs),
  notify_down: notifyHandler<RsCtx>('notify_down', (x) => x.rs),
  virtualhost: (c, s, x) => { const w = need(c, s, 1, 'host name'); if (w) x.rs.virtualhost = w.text; },
  HTTP_GET: checkerHandler('HTTP_GET'),
  SSL_GET: checkerHandler('SSL_GET'),
  TCP_CHECK: checkerHandler('TCP_CHECK'),
  MISC_CHECK: checkerHandler('MISC_CHECK'),
  DNS_CHECK: checkerHandler('DNS_CHECK'),
};
const RS_CHECKERS_IGNORED = set('SMTP_CHECK', 'BFD_CHECK', 'UDP_CHECK', 'PING_CHECK', 'FILE_CHECK');

function checkerHandler(type: CheckerType): Handler<RsCtx> {
  return (c, s, x) => {
    const rc: RawChecker = { type, pos: s.pos, inh: {}, fields: {}, urls: [] };
    // keepalived's conn_opts: the destination starts as the real server and connect_ip replaces it.
    let dstFamily: Family = familyOf(x.rs.addr);
    let bindFamily: Family | undefined;
    if (!s.block) c.error(endPos(s), `${type}: missing block`, `write '${type} { … }'`, 'MISSING_BOB');
    const timers = commonTimers<RawChecker>();
    // inhibit_on_failure belongs to real and virtual servers only; keepalived
    // installs the connection keywords for every checker but MISC_CHECK.
    delete timers.inhibit_on_failure;
    if (type === 'MISC_CHECK') delete timers.connect_timeout;
    const conn: Record<string, Handler<RawChecker>> = {
      connect_ip: (c2, s2, r) => {
        const a = ipAny(c2, arg(s2, 1), 'connect_ip', s2);
        if (!a) return;
        if (bindFamily !== undefined && bindFamily !== a.family) {
          c2.error(s2.words[1]!.pos, `connect_ip address ${s2.words[1]!.text} does not match address family of bindto - skipping`, 'use a connect_ip of the same family as bindto');
          return;
        }
        r.fields.connect_ip = a.addr;
        dstFamily = a.family;
      },
      connect_port: (c2, s2, r) => {
        const v = num(c2, s2, 1, 1, 65535, 'port');
        if (v !== undefined) r.fields.connect_port = v;
      },
      bindto: (c2, s2, r) => {
        const a = ipAny(c2, arg(s2, 1), 'bindto', s2);
        if (!a) return;
        if (a.family !== dstFamily) {
          c2.error(s2.words[1]!.pos, `bindto address ${s2.words[1]!.text} does not match address family of connect_ip - skipping`, 'bind to an address of the family the check connects to');
          return;
        }
        r.fields.bindto = a.addr;
        bindFamily = a.family;
      },
      bind_port: (c2, s2, r) => { const v = num(c2, s2, 1, 1, 65535, 'port'); if (v !== undefined) r.fields.bind_port = v; },
      bind_if: (c2, s2, r) => { const w = need(c2, s2, 1, 'interface'); if (w) r.fields.bind_if = w.text; },
      fwmark: (c2, s2, r) => { const v = num(c2, s2, 1, 0, 4294967295, 'mark'); if (v !== undefined) r.fields.fwmark = v; },
    };
    const table: Record<string, Handler<RawChecker>> = type === 'MISC_CHECK' ? { ...timers } : { ...timers, ...conn };
    if (type === 'HTTP_GET' || type === 'SSL_GET') {
      table.nb_get_retry = (c2, s2, r) => {
        c2.warn(s2.pos, 'nb_get_retry is deprecated - please use \'retry\'', 'rename it to retry', 'DEPRECATED');
        const v = num(c2, s2, 1, 0, 4294967295, 'count');
        if (v !== undefined) r.inh.retry = v;
      };
      table.virtualhost = (c2, s2, r) => { const w = need(c2, s2, 1, 'host name'); if (w) r.fields.virtualhost = w.text; };
      table.http_protocol = (c2, s2, r) => {
        const w = need(c2, s2, 1, '1.0|1.0C|1.1');
        if (w && ['1.0', '1.0C', '1.1', '1.0c'].includes(w.text)) r.fields.http_protocol = w.text.toUpperCase();
        else if (w) c2.error(w.pos, `invalid http_protocol '${w.text}'`, 'use 1.0, 1.0C or 1.1');
      };
      table.enable_sni = (c2, s2, r) => { const b = bool(c2, s2, 1); if (b !== undefined) r.fields.enable_sni = b; };
      table.fast_recovery = (c2, s2, r) => { const b = bool(c2, s2, 1); if (b !== undefined) r.fields.fast_recovery = b; };
      table.url = (c2, s2, r) => { const u = parseUrl(c2, s2); if (u) r.urls.push(u); };
    } else if (type === 'MISC_CHECK') {
      table.misc_path = (c2, s2, r) => { if (need(c2, s2, 1, 'command')) r.fields.misc_path = scriptText(s2); };
      table.misc_timeout = (c2, s2, r) => { const v = num(c2, s2, 1, 0, 4294, 'seconds'); if (v !== undefined) r.fields.misc_timeout = v; };
      table.misc_dynamic = (_c2, _s2, r) => { r.fields.misc_dynamic = true; };
      table.user = (c2, s2, r) => { const w = need(c2, s2, 1, 'user'); if (w) r.fields.user = s2.words.slice(1).map((y) => y.text).join(' '); };
    } else if (type === 'DNS_CHECK') {
      table.type = (c2, s2, r) => {
        const w = need(c2, s2, 1, 'record type');
        const types = ['A', 'NS', 'CNAME', 'SOA', 'MX', 'TXT', 'AAAA'];
        if (w && types.includes(w.text.toUpperCase())) r.fields.dns_type = w.text.toUpperCase();
        else if (w) c2.error(w.pos, `unknown DNS check type '${w.text}'`, `use one of ${types.join(', ')}`);
      };
      table.name = (c2, s2, r) => { const w = need(c2, s2, 1, 'name'); if (w) r.fields.name = w.text; };
    }
    walk(c, s.block, table, rc, CHECK_IGNORED, type);
    if ((type === 'HTTP_GET' || type === 'SSL_GET') && rc.urls.length === 0) {
      c.error(s.pos, `${type} checker has no urls specified`, "add 'url { path / }'");
      return;
    }
    if (type === 'MISC_CHECK' && rc.fields.misc_path === undefined) {
      c.error(s.pos, 'MISC_CHECK has no misc_path', 'add misc_path /path/to/script');
      return;
    }
    if (type !== 'MISC_CHECK') {
      // keepalived's check_conn_opts: a link-local destination means nothing without its interface.
      const dst = (rc.fields.connect_ip as string | undefined) ?? x.rs.addr;
      if (familyOf(dst) === 6 && isLinkLocalIpv6(parseIpv6(dst)) && rc.fields.bind_if === undefined) {
        c.error(s.pos, `Checker link local address ${dst} requires a bind_if`, 'add bind_if <interface> (the link the address is on)');
        return;
      }
    }
    x.raw.push(rc);
  };
}

function parseUrl(c: Ctx, s: Stmt): HttpUrl | undefined {
  const u: HttpUrl = { pos: s.pos, path: '', status_code: [] };
  let havePath = false;
  walk(c, s.block, {
    path: (c2, s2) => { const w = need(c2, s2, 1, 'path'); if (w) { u.path = w.text; havePath = true; } },
    digest: (c2, s2) => {
      const w = need(c2, s2, 1, 'md5 hex');
      if (w && /^[0-9a-fA-F]{32}$/.test(w.text)) u.digest = w.text.toLowerCase();
      else if (w) c2.error(w.pos, `digest '${w.text}' is not 32 hex digits`, 'compute it with genhash');
    },
    status_code: (c2, s2) => {
      if (s2.words.length < 2) need(c2, s2, 1, 'status code');
      for (const w of s2.words.slice(1)) {
        const m = /^(\d{3})(?:-(\d{3}))?$/.exec(w.text);
        const lo = m ? Number(m[1]) : NaN;
        const hi = m ? Number(m[2] ?? m[1]) : NaN;
        if (!m || lo < 100 || hi > 599 || hi < lo) { c2.error(w.pos, `invalid status_code '${w.text}'`, 'give codes or ranges in 100-599, e.g. 200-299 404'); continue; }
        u.status_code.push([lo, hi]);
      }
    },
    virtualhost: (c2, s2) => { const w = need(c2, s2, 1, 'host name'); if (w) u.virtualhost = w.text; },
  }, null, set('regex', 'regex_no_match', 'regex_options', 'regex_min_offset', 'regex_max_offset', 'regex_stack'), 'url');
  if (!havePath) { c.error(s.pos, 'url without path', 'add path /'); return undefined; }
  if (!u.status_code.length) u.status_code.push([...DEFAULTS.status_code]);
  return u;
}

function realServer(c: Ctx, s: Stmt, x: VsCtx): void {
  const ip = ipAny(c, arg(s, 1), 'real server address', s);
  const pw = arg(s, 2);
  const p = pw ? port(c, pw, 'real server port') : 0;
  if (!ip || p === undefined) return; // keepalived skips the whole block
  const rs: RealServer = { pos: s.pos, addr: ip.addr, port: p, weight: DEFAULTS.weight, uthreshold: 0, lthreshold: 0, checkers: [] };
  // keepalived copies the virtual server's method to the real server when the block starts.
  const vsMethod = x.methodSet ? x.vs.lvs_method : undefined;
  const rx: RsCtx = { rs, inh: {}, vsx: x, raw: [] };
  const table: Record<string, Handler<RsCtx>> = { ...RS };
  walk(c, s.block, table, rx, new Set([...RS_IGNORED, ...RS_CHECKERS_IGNORED]), 'real_server');
  if (!s.block) c.error(endPos(s), 'real_server: missing block', "write 'real_server A.B.C.D PORT { … }'", 'MISSING_BOB');
  if (rx.inh.inhibit_on_failure !== undefined) rs.inhibit_on_failure = rx.inh.inhibit_on_failure;
  if (rx.inh.alpha !== undefined) rs.alpha = rx.inh.alpha;
  for (const r of rx.raw) rs.checkers.push(resolveChecker(r, rx.inh, x.inh));
  // keepalived's rs_end_handler: a tunnelled real server may be of the other family (the kernel
  // encapsulates IPv4 in IPv6 and the reverse); any other must match the virtual server.
  if ((rs.lvs_method ?? vsMethod) === 'TUN') {
    if (x.family !== undefined && ip.family !== x.family) {
      c.error(s.pos, `real server ${ip.addr}: lvsd does not tunnel across address families (IPv${x.family} service, IPv${ip.family} real server)`, 'use a real server of the service\'s family', 'OK');
      return;
    }
  } else if (x.family === undefined) x.family = ip.family;
  else if (x.family !== ip.family) {
    c.error(s.pos, `Address family of virtual server and real server ${ip.addr} don't match - skipping real server.`, 'use real servers of the virtual server\'s address family');
    return;
  }
  x.vs.real_servers.push(rs);
}

function resolveChecker(r: RawChecker, rs: Inherit, vs: Inherit): Checker {
  const pick = <K extends keyof Inherit>(k: K): Inherit[K] => r.inh[k] ?? rs[k] ?? vs[k];
  const delay_loop = pick('delay_loop') ?? DEFAULTS.delay_loop;
  const retryDefault = r.type === 'DNS_CHECK' ? DEFAULTS.retry_dns : r.type === 'MISC_CHECK' ? DEFAULTS.retry_misc : DEFAULTS.retry;
  const dbrDefault = r.type === 'HTTP_GET' || r.type === 'SSL_GET' ? DEFAULTS.delay_before_retry_http
    : r.type === 'DNS_CHECK' ? delay_loop : DEFAULTS.delay_before_retry;
  const base = {
    pos: r.pos,
    retry: pick('retry') ?? retryDefault,
    delay_before_retry: pick('delay_before_retry') ?? dbrDefault,
    ...(pick('warmup') !== undefined ? { warmup: pick('warmup') } : {}),
    delay_loop,
  };
  const common = {
    ...base,
    connect_timeout: pick('connect_timeout') ?? DEFAULTS.connect_timeout,
    ...pickDefined(r.fields, ['connect_ip', 'connect_port', 'bindto', 'bind_port', 'bind_if', 'fwmark']),
  };
  switch (r.type) {
    case 'HTTP_GET':
    case 'SSL_GET':
      return {
        ...common, type: r.type, urls: r.urls,
        enable_sni: (r.fields.enable_sni as boolean | undefined) ?? false,
        fast_recovery: (r.fields.fast_recovery as boolean | undefined) ?? false,
        ...pickDefined(r.fields, ['http_protocol', 'virtualhost']),
      } as Checker;
    case 'TCP_CHECK':
      return { ...common, type: 'TCP_CHECK' } as Checker;
    case 'MISC_CHECK':
      return {
        ...base, type: 'MISC_CHECK', misc_path: r.fields.misc_path as string,
        misc_dynamic: (r.fields.misc_dynamic as boolean | undefined) ?? false,
        ...pickDefined(r.fields, ['misc_timeout', 'user']),
      } as Checker;
    case 'DNS_CHECK':
      return {
        ...common, type: 'DNS_CHECK', dns_type: (r.fields.dns_type as string | undefined) ?? DEFAULTS.dns_type,
        name: (r.fields.name as string | undefined) ?? DEFAULTS.dns_name,
      } as Checker;
  }
}

function pickDefined(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function virtualServer(c: Ctx, s: Stmt, m: KeepalivedConfig): void {
  const w1 = arg(s, 1);
  if (!w1) { need(c, s, 1, 'address port | fwmark N | group NAME'); return; }
  let key: VirtualServer['key'] | undefined;
  let family: Family | undefined;
  if (w1.text === 'fwmark') {
    const v = num(c, s, 2, 1, 4294967295, 'mark');
    if (v !== undefined) key = { kind: 'fwmark', fwmark: v };
  } else if (w1.text === 'group') {
    const g = need(c, s, 2, 'group name');
    if (g) {
      // keepalived -t does not notice a missing group; the service just never exists.
      if (!m.virtual_server_groups.some((x) => x.name === g.text)) {
        c.warn(g.pos, `virtual_server_group ${g.text} is not defined; this virtual server is ignored`, 'define virtual_server_group before the virtual_server that uses it', 'OK');
      } else key = { kind: 'group', group: g.text };
    }
  } else {
    const a = ipAny(c, w1, 'virtual server address', s);
    const pw = arg(s, 2);
    const p = pw ? port(c, pw, 'virtual server port') : 0;
    if (a && p !== undefined) { key = { kind: 'addr', addr: a.addr, port: p }; family = a.family; }
  }
  const vs: VirtualServer = {
    pos: s.pos, key: key ?? { kind: 'addr', addr: '0.0.0.0', port: 0 }, protocol: DEFAULTS.protocol,
    lvs_sched: DEFAULTS.lvs_sched, lvs_method: DEFAULTS.lvs_method, persistence_timeout: 0, ops: false, sched_flags: [],
    delay_loop: DEFAULTS.delay_loop, quorum: DEFAULTS.quorum, hysteresis: 0, sorry_server_inhibit: false, alpha: false,
    omega: false, inhibit_on_failure: false, ha_suspend: false, real_servers: [],
  };
  const x: VsCtx = { vs, inh: {}, protoSet: false, schedSet: false, methodSet: false, m, weighted: new Set(), ...(family ? { family } : {}) };
  if (!s.block) c.error(endPos(s), 'virtual_server: missing block', "write 'virtual_server A.B.C.D PORT { … }'", 'MISSING_BOB');
  walk(c, s.block, VS, x, VS_IGNORED, 'virtual_server');
  // keepalived's vs_end_handler: a sorry server that is not tunnelled must be of the service's family.
  const ss = vs.sorry_server;
  if (ss && vs.lvs_method !== 'TUN') {
    if (x.family === undefined) x.family = familyOf(ss.addr);
    else if (x.family !== familyOf(ss.addr)) {
      c.error(s.pos, `Address family of virtual server and sorry server ${ss.addr} don't match - skipping sorry server.`, 'use a sorry server of the virtual server\'s family');
      delete vs.sorry_server;
    }
  } else if (ss && x.family !== undefined && x.family !== familyOf(ss.addr)) {
    c.error(s.pos, `sorry server ${ss.addr}: lvsd does not tunnel across address families`, 'use a sorry server of the service\'s family', 'OK');
    delete vs.sorry_server;
  }
  if (x.family !== undefined) vs.family = x.family;
  vs.delay_loop = x.inh.delay_loop ?? DEFAULTS.delay_loop;
  vs.inhibit_on_failure = x.inh.inhibit_on_failure ?? false;
  vs.alpha = x.inh.alpha ?? false;
  if (!key) return;
  const name = key.kind === 'addr' ? `[${key.addr}]:${key.port}` : key.kind === 'fwmark' ? `FWM ${key.fwmark}` : `group ${key.group}`;
  if (key.kind === 'fwmark' && vs.family === 6) {
    // The control protocol's fwmark service has no family yet: it would become an IPv4 one.
    c.error(s.pos, `virtual server ${name}: IPv6 fwmark services are not supported by lvsd yet`, 'use IPv6 address services (virtual_server ADDR PORT or a group)', 'OK');
    return;
  }
  // keepalived 2.2.7 reports each of these, so `keepalived -t` fails on them.
  const fwmarkOnly = key.kind === 'fwmark' ||
    (key.kind === 'group' && (() => { const g = m.virtual_server_groups.find((y) => y.name === key.group); return !!g && g.entries.every((e) => e.kind === 'fwmark'); })());
  if (fwmarkOnly) vs.protocol = 'TCP';
  if (fwmarkOnly && x.protoSet) c.warn(s.pos, `virtual server ${name}: protocol specified for fwmark - protocol will be ignored`, 'remove protocol from fwmark services');
  else if (!fwmarkOnly && !x.protoSet) c.warn(s.pos, `virtual server ${name}: no protocol set - defaulting to UDP`, 'add protocol TCP (or UDP/SCTP)');
  if (!x.schedSet) c.warn(s.pos, `virtual server ${name}: no scheduler set, setting default '${DEFAULTS.lvs_sched}'`, 'add lvs_sched (lb_algo)');
  if (!x.methodSet) c.warn(s.pos, `virtual server ${name}: no forwarding method set, setting default NAT`, 'add lvs_method (lb_kind) NAT|DR|TUN');
  if (!vs.real_servers.length && !vs.sorry_server) {
    c.warn(s.pos, `virtual server ${name} has no real servers - ignoring`, 'add a real_server block');
    return;
  }
  completeVs(c, s, x, name, fwmarkOnly);
  m.virtual_servers.push(vs);
}

/** keepalived's validate_check_config() corrections (check_data.c), each reported as it does. */
function completeVs(c: Ctx, s: Stmt, x: VsCtx, name: string, fwmarkOnly: boolean): void {
  const { vs, m } = x;
  const key = vs.key;
  if (vs.ops && !fwmarkOnly && vs.protocol !== 'UDP') {
    c.warn(s.pos, `virtual server ${name}: one packet scheduling requires UDP - resetting`, 'remove ops, or use protocol UDP');
    vs.ops = false;
  }
  if (!vs.persistence_timeout && key.kind === 'addr' && key.port === 0) {
    c.warn(s.pos, `virtual server ${name}: zero port only valid for persistent services - setting`, `give a port, or set persistence_timeout (${DEFAULTS.persistence_timeout_bare} is used)`);
    vs.persistence_timeout = DEFAULTS.persistence_timeout_bare;
  }
  const group = key.kind === 'group' ? m.virtual_server_groups.find((g) => g.name === key.group) : undefined;
  if (!vs.persistence_timeout && group?.entries.some((e) => e.kind === 'addr' && !e.port)) {
    c.warn(s.pos, `virtual server ${name}: zero port only valid for persistent services - setting`, `give every group address a port, or set persistence_timeout (${DEFAULTS.persistence_timeout_bare} is used)`);
    vs.persistence_timeout = DEFAULTS.persistence_timeout_bare;
  }
  let weightSum = 0;
  for (const rs of vs.real_servers) {
    if (!x.weighted.has(rs)) rs.weight = x.weight ?? DEFAULTS.weight;
    weightSum += rs.weight;
  }
  if (vs.quorum > weightSum) {
    c.warn(s.pos, `quorum ${vs.quorum} for ${name} exceeds total weight of real servers ${weightSum}, reducing quorum to ${weightSum}`, 'lower quorum to at most the sum of the real servers\' weights');
    vs.quorum = weightSum;
  }
  if (vs.hysteresis >= vs.quorum && (vs.hysteresis > 0 || vs.quorum > 0)) {
    const h = Math.max(0, vs.quorum - 1);
    c.warn(s.pos, `virtual server ${name}: hysteresis ${vs.hysteresis} >= quorum ${vs.quorum}; setting hysteresis to ${h}`, 'keep hysteresis below quorum');
    vs.hysteresis = h;
  }
  // Ports: DR and TUN cannot change the port, NAT may; a fwmark service has none.
  if (key.kind === 'group') {
    if (!group) return;
    if (vs.family !== undefined) {
      // keepalived takes it (the kernel then refuses each dest of the other family); lvs-keepalived leaves them out.
      for (const e of group.entries) {
        if (e.kind === 'addr' && familyOf(e.addr!) !== vs.family) {
          c.warn(e.pos, `virtual server ${name}: group address ${e.addr} is IPv${familyOf(e.addr!)} and the real servers are IPv${vs.family}: its service gets no real servers`, 'give the addresses of each family a virtual_server (and real servers) of their own', 'OK');
        }
      }
    }
    for (const e of group.entries) {
      for (const rs of vs.real_servers) {
        if ((rs.lvs_method ?? vs.lvs_method) === 'NAT' || !rs.port) continue;
        if (e.kind === 'fwmark') c.warn(rs.pos, `fwmark virtual server ${name}, real server ${rs.addr}:${rs.port} has port specified - port will be ignored`, 'leave the port out');
        else if (e.port !== rs.port) c.warn(rs.pos, `virtual server ${name}:[${e.addr}]:${e.port} and real server ${rs.addr}:${rs.port} ports don't match`, 'DR and TUN keep the port: use the same one, or NAT');
      }
    }
    return;
  }
  const vport = key.kind === 'addr' ? key.port : 0;
  for (const rs of vs.real_servers) {
    const nat = (rs.lvs_method ?? vs.lvs_method) === 'NAT';
    if (nat) { if (key.kind === 'addr' && !rs.port) rs.port = vport; continue; }
    if (key.kind === 'fwmark') {
      if (rs.port) {
        c.warn(rs.pos, `fwmark virtual server ${name}, real server ${rs.addr}:${rs.port} has port specified - clearing`, 'leave the port out');
        // keepalived's checkers copied the real server's address, port
        // included, when they were parsed (queue_checker): they keep checking it.
        for (const ck of rs.checkers) {
          if ((ck.type === 'HTTP_GET' || ck.type === 'SSL_GET' || ck.type === 'TCP_CHECK') && ck.connect_port === undefined) ck.connect_port = rs.port;
        }
        rs.port = 0;
      }
    } else if (!rs.port) rs.port = vport;
    else if (rs.port !== vport) {
      c.warn(rs.pos, `virtual server ${name} and real server ${rs.addr}:${rs.port} ports don't match - resetting`, 'DR and TUN keep the port: use the virtual server\'s, or NAT');
      rs.port = vport;
    }
  }
  const ss = vs.sorry_server;
  if (ss && vs.lvs_method !== 'NAT') {
    if (key.kind === 'fwmark' && ss.port) {
      c.warn(s.pos, `virtual server ${name}, sorry server has port specified - clearing`, 'leave the port out');
      ss.port = 0;
    } else if (key.kind === 'addr' && !ss.port) ss.port = vport;
    else if (key.kind === 'addr' && ss.port !== vport) {
      c.warn(s.pos, `virtual server ${name} and sorry server ports don't match - resetting`, 'DR and TUN keep the port');
      ss.port = vport;
    }
  }
}

/**
 * An IPv6 group member (check_data.c alloc_vsg_entry): `a::b`, `a::b-XXXX`
 * (the last 16 bits, hex, at most ffff), `a::b-c::d` and `a::/nn`, checked as
 * keepalived checks them. Gives the first and the last address; what the
 * range stands for (the last 16 bits stepped from the first's to the last's)
 * is ipvswrapper.ts's, as it is ipvswrapper.c's.
 */
function groupRange6(c: Ctx, w: Word): [string, string] | undefined {
  const bad = (why: string, hint: string): undefined => { c.error(w.pos, why, hint); return undefined; };
  const t = w.text;
  const cidr = /^([^/]+)\/(\d+)$/.exec(t);
  if (cidr) {
    if (!isIpv6(cidr[1]!)) return bad(`invalid virtual server group IP address - ${t}`, 'write ADDR/NN');
    const n = Number(cidr[2]);
    if (n < 1 || n > 128) return bad(`invalid netmask - ${t}`, 'give a prefix length in [1, 128]');
    const host = (1n << BigInt(128 - n)) - 1n;
    const a = ipv6ToBigInt(parseIpv6(cidr[1]!));
    if ((a & host) !== 0n) return bad(`Address mask bits not empty - ${t} - skipping`, `use the network address, e.g. ${formatIpv6(bigIntToIpv6(a & ~host))}/${n}`);
    return [canonicalIp(cidr[1]!), formatIpv6(bigIntToIpv6(a | host))];
  }
  const dash = t.indexOf('-');
  const start = dash < 0 ? t : t.slice(0, dash);
  const end = dash < 0 ? undefined : t.slice(dash + 1);
  if (!isIpv6(start)) return bad(`invalid virtual server group IP address - ${t}`, 'write ADDR, ADDR-XXXX, ADDR-ADDR or ADDR/NN');
  const s6 = parseIpv6(start);
  if (end === undefined) return [canonicalIp(start), canonicalIp(start)];
  if (end.includes(':')) {
    if (!isIpv6(end)) return bad(`Invalid range end ${t} - skipping`, 'write ADDR-ADDR with two IPv6 addresses');
    if (ipv6ToBigInt(parseIpv6(end)) < ipv6ToBigInt(s6)) return bad(`Address range end is less than address range start - ${t} - skipping`, 'put the lower address first');
    return [canonicalIp(start), canonicalIp(end)];
  }
  const m = /^[0-9a-fA-F]*/.exec(end)![0];
  if (m.length < end.length) return bad(`Virtual server group range '${t}' has extra characters at end '${end.slice(m.length)}'`, 'the range end is the last 16 bits, in hex');
  const v = m ? parseInt(m, 16) : 0;
  if (v > 0xffff) return bad(`Virtual server group range '${t}' end '${end}' too large`, 'the range end is the last 16 bits: at most ffff');
  const first = (s6[14]! << 8) | s6[15]!;
  if (v <= first) return bad(`Address range end is not greater than address range start - ${t} - skipping`, 'the range end (hex) must exceed the last 16 bits of the start');
  const e6 = Uint8Array.from(s6);
  e6[14] = v >>> 8; e6[15] = v & 0xff;
  return [canonicalIp(start), formatIpv6(e6)];
}

/** A group member's addresses, first and last, as check_data.c reads `a.b.c.d`, `a.b.c.d-e`, `a.b.c.d-w.x.y.z` and `a.b.c.d/nn`. */
function groupRange(c: Ctx, w: Word): [string, string] | undefined {
  const bad = (why: string, hint: string): undefined => { c.error(w.pos, `${why} - ${w.text}`, hint); return undefined; };
  const cidr = /^([^/]+)\/(\d+)$/.exec(w.text);
  if (cidr) {
    if (!isIpv4(cidr[1]!)) return bad('invalid virtual server group IP address', 'write A.B.C.D/NN');
    const n = Number(cidr[2]);
    if (n < 1 || n > 32) return bad('invalid netmask', 'give a prefix length in [1, 32]');
    const host = n === 32 ? 0 : (0xffffffff >>> n);
    const a = ipToU32(cidr[1]!);
    if ((a & host) !== 0) return bad('address mask bits not empty', `use the network address, e.g. ${u32ToIp((a & ~host) >>> 0)}/${n}`);
    return [cidr[1]!, u32ToIp((a | host) >>> 0)];
  }
  const full = /^([^-]+)-(\d+\.\d+\.\d+\.\d+)$/.exec(w.text);
  if (full) {
    if (!isIpv4(full[1]!)) return bad('invalid virtual server group IP address', 'write A.B.C.D-W.X.Y.Z');
    if (!isIpv4(full[2]!)) return bad('invalid range end', 'write A.B.C.D-W.X.Y.Z');
    if (ipToU32(full[2]!) < ipToU32(full[1]!)) return bad('address range end is less than address range start', 'put the lower address first');
    return [full[1]!, full[2]!];
  }
  const r = /^([^-]+)(?:-(\d+))?$/.exec(w.text);
  if (!r || !isIpv4(r[1]!)) return bad('invalid virtual server group IP address', 'write A.B.C.D, A.B.C.D-E, A.B.C.D-W.X.Y.Z or A.B.C.D/NN');
  if (r[2] === undefined) return [r[1]!, r[1]!];
  const start = ipToU32(r[1]!);
  const end = Number(r[2]);
  if (end > 255 || end <= (start & 255)) return bad('address range end is not greater than address range start', 'the range end is the last octet and must exceed the start');
  return [r[1]!, u32ToIp(((start & ~255) | end) >>> 0)];
}

/** How many services an IPv6 range makes: keepalived steps the last 16 bits, wrapping, until they equal the end's. */
export function ipv6RangeSize(start: string, end: string): number {
  const a = parseIpv6(start), b = parseIpv6(end);
  const first = (a[14]! << 8) | a[15]!, last = (b[14]! << 8) | b[15]!;
  return ((last - first + 0x10000) % 0x10000) + 1;
}

function virtualServerGroup(c: Ctx, s: Stmt, m: KeepalivedConfig): void {
  const nw = need(c, s, 1, 'name');
  if (!nw) return;
  const g: VirtualServerGroup = { pos: s.pos, name: nw.text, entries: [] };
  let have4 = false, have6 = false, fwmarkNoFamily = false;
  for (const l of valueLines(c, s)) {
    const w = l.words[0]!;
    if (w.text === 'fwmark') {
      const v = num(c, l, 1, 0, 4294967295, 'mark');
      if (v === undefined) continue;
      const fam = l.words[2]?.text;
      if (fam !== undefined && fam !== 'inet' && fam !== 'inet6') {
        c.error(l.words[2]!.pos, `(${g.name}): fwmark '${v}' family ${fam} unknown - ignoring`, 'use inet or inet6, or nothing');
        continue;
      }
      if (fam === 'inet6') {
        // The control protocol's fwmark service has no family yet: it would become an IPv4 one.
        c.error(l.words[2]!.pos, `(${g.name}): IPv6 fwmark ${v} is not supported by lvsd yet`, 'use IPv6 addresses in the group', 'OK');
        have6 = true;
        continue;
      }
      if (fam === 'inet') have4 = true; else fwmarkNoFamily = true;
      g.entries.push({ pos: l.pos, kind: 'fwmark', fwmark: v });
      continue;
    }
    const range = w.text.includes(':') ? groupRange6(c, w) : groupRange(c, w);
    if (!range) continue;
    const pw = l.words[1];
    const p = pw ? port(c, pw, 'group port') : 0;
    if (p === undefined) continue;
    const e: VsGroupEntry = { pos: l.pos, kind: 'addr', addr: range[0], port: p };
    if (range[1] !== range[0]) e.addrEnd = range[1];
    if (familyOf(range[0]) === 6) {
      have6 = true;
      const n = ipv6RangeSize(range[0], range[1]);
      if (n > 256) c.warn(w.pos, `virtual server group entry ${w.text} stands for ${n} services: keepalived steps only the last 16 bits of an IPv6 range, from ${range[0]} to the last 16 bits of ${range[1]}`, 'write a range within one /112 (ADDR-XXXX), or list the addresses you serve', 'OK');
    } else have4 = true;
    g.entries.push(e);
  }
  if (!g.entries.length && !have6) {
    c.warn(s.pos, `virtual server group ${g.name} has no entries - removing`, 'add IP PORT, IP-RANGE PORT or fwmark N lines');
    return;
  }
  if (have4 && have6 && fwmarkNoFamily) {
    c.warn(s.pos, `virtual server group ${g.name} cannot have IPv4, IPv6 and fwmark without family - removing`, 'give the fwmark lines a family (fwmark N inet)');
    return;
  }
  m.virtual_server_groups.push(g);
}

// ---------------------------------------------------------------- lvsd_announce (lvsd extension)

const ANNOUNCE: Record<string, Handler<LvsdAnnounce>> = {
  bird_socket: (c, s, a) => { const w = need(c, s, 1, 'path'); if (w) a.bird_socket = w.text; },
  bird_include: (c, s, a) => { const w = need(c, s, 1, 'path'); if (w) a.bird_include = w.text; },
  birdc: (c, s, a) => { const w = need(c, s, 1, 'path'); if (w) a.birdc = w.text; },
  protocol_name: (c, s, a) => {
    const w = need(c, s, 1, 'name');
    if (!w) return;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(w.text)) c.error(w.pos, `protocol_name '${w.text}' is not a BIRD symbol`, 'use letters, digits and _ (not first)');
    else a.protocol_name = w.text;
  },
  check_interval: (c, s, a) => { const v = timer(c, s, 1, 'seconds', 0.01, 3600); if (v !== undefined) a.check_interval = v; },
  withdraw_on_stop: (c, s, a) => { const v = bool(c, s, 1); if (v !== undefined) a.withdraw_on_stop = v; },
  prefix: (c, s, a) => {
    if (s.words.length < 2) { need(c, s, 1, 'A.B.C.D/N'); return; }
    for (const w of s.words.slice(1)) {
      const [addr, len, extra] = w.text.split('/');
      if (extra === undefined && isIpv6(addr ?? '')) {
        const n = len === undefined ? 128 : Number(len);
        if (!/^\d+$/.test(len ?? '128') || n > 128) { c.error(w.pos, `prefix '${w.text}' is not an IPv6 prefix`, 'write ADDR6/N, e.g. 2001:db8::100/128'); continue; }
        // The network address, canonical: BIRD refuses host bits in a static route.
        const shift = BigInt(128 - n);
        a.prefix.push(`${formatIpv6(bigIntToIpv6((ipv6ToBigInt(parseIpv6(addr!)!) >> shift) << shift))}/${n}`);
        continue;
      }
      const n = len === undefined ? 32 : Number(len);
      if (extra !== undefined || !isIpv4(addr ?? '') || !/^\d+$/.test(len ?? '32') || n > 32) {
        c.error(w.pos, `prefix '${w.text}' is not an IPv4 or IPv6 prefix`, 'write A.B.C.D/N or ADDR6/N, e.g. 192.168.200.100/32');
        continue;
      }
      // The network address: BIRD refuses host bits in a static route.
      const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
      a.prefix.push(`${u32ToIp((ipToU32(addr!) & mask) >>> 0)}/${n}`);
    }
  },
};

function lvsdAnnounce(c: Ctx, s: Stmt, m: KeepalivedConfig): void {
  c.note(s.pos, 'lvsd_announce is an lvsd extension (route announcement through BIRD); keepalived ignores it with an unknown-keyword error',
    'keep it only in configs for lvs-keepalived');
  if (m.lvsd_announce) { c.error(s.pos, 'lvsd_announce given twice', 'merge the blocks into one'); return; }
  if (!s.block) { c.error(endPos(s), 'lvsd_announce: missing block', "write 'lvsd_announce { … }'", 'MISSING_BOB'); return; }
  const a: LvsdAnnounce = {
    pos: s.pos, bird_socket: DEFAULTS.announce_bird_socket, bird_include: DEFAULTS.announce_bird_include,
    protocol_name: DEFAULTS.announce_protocol_name, birdc: 'birdc', check_interval: DEFAULTS.announce_interval,
    prefix: [], withdraw_on_stop: true,
  };
  walk(c, s.block, ANNOUNCE, a, set(), 'lvsd_announce');
  m.lvsd_announce = a;
}

// ---------------------------------------------------------------- root

const ROOT_IGNORED = set(
  'linkbeat_use_polling', 'net_namespace', 'net_namespace_ipvs', 'namespace_with_ipsets', 'use_pid_dir', 'instance',
  'child_wait_time', 'track_group', 'garp_group', 'linkbeat_interfaces',
  'vrrp_track_process', 'interface_up_down_delays', 'SSL', 'bfd_instance', 'track_file', 'vrrp_track_file',
);

/** The model for an already-built statement tree (the YAML front end builds one); diagnostics are appended to `diags`. */
export function modelFromStmts(tree: Stmt[], diags: Diagnostic[]): KeepalivedConfig {
  return buildModel(tree, new Ctx(diags));
}

/**
 * Instances keepalived parsed but then refused (no virtual_router_id, no
 * interface, …). They are not in the model, but keepalived checks their
 * scripts before it refuses them (vrrp.c vrrp_complete_init() runs
 * check_vrrp_script_security() first), so `-t` still judges those scripts.
 */
const REFUSED = new WeakMap<KeepalivedConfig, VrrpInstance[]>();
export function refusedInstances(m: KeepalivedConfig): readonly VrrpInstance[] {
  return REFUSED.get(m) ?? [];
}

function buildModel(tree: Stmt[], ctx: Ctx): KeepalivedConfig {
  const m = emptyConfig();
  const refused: VrrpInstance[] = [];
  REFUSED.set(m, refused);
  // keepalived reads global_defs first whatever its place in the file: instances take their defaults from it.
  for (const s of tree) if (kw(s) === 'global_defs') walk(ctx, s.block, GLOBAL, m, GLOBAL_IGNORED, 'global_defs');
  const rulePrefs: RulePrefs = { next: 16384 };
  for (const s of tree) {
    const k = kw(s);
    if (stopsKeepalived(ctx, s, 'ROOT')) continue;
    if (k === 'global_defs') {
      if (!s.block) ctx.error(endPos(s), 'global_defs: missing block', "write 'global_defs { … }'", 'MISSING_BOB');
      if (!m.global_defs.pos) m.global_defs.pos = s.pos;
    } else if (k === 'vrrp_script') {
      const n = need(ctx, s, 1, 'name');
      if (!n) continue;
      const vs: VrrpScript = {
        pos: s.pos, name: n.text, script: '', interval: DEFAULTS.script_interval, timeout: 0, weight: DEFAULTS.script_weight,
        weight_reverse: false, rise: 1, fall: 1, init_fail: false,
      };
      walk(ctx, s.block, SCRIPT, vs, set(), 'vrrp_script');
      if (!vs.timeout) vs.timeout = vs.interval;
      if (!vs.script) { ctx.error(s.pos, `vrrp_script ${vs.name} has no script`, 'add script "/path/to/check"'); continue; }
      m.vrrp_scripts.push(vs);
    } else if (k === 'vrrp_sync_group') {
      const n = need(ctx, s, 1, 'name');
      if (!n) continue;
      const g: VrrpSyncGroup = { pos: s.pos, name: n.text, group: [], track_interface: [], track_script: [] };
      walk(ctx, s.block, SYNC, g, SYNC_IGNORED, 'vrrp_sync_group');
      m.vrrp_sync_groups.push(g);
    } else if (k === 'vrrp_instance') {
      const n = need(ctx, s, 1, 'name');
      if (!n) continue;
      if (m.vrrp_instances.some((v) => v.name === n.text)) ctx.error(n.pos, `vrrp_instance ${n.text} defined twice`, 'rename one of them');
      const x: InstanceCtx = { m, rulePrefs, vi: newInstance(s.pos, n.text, m) };
      walk(ctx, s.block, INSTANCE, x, INSTANCE_IGNORED, 'vrrp_instance');
      finishInstance(ctx, s, x, m);
      if (!m.vrrp_instances.includes(x.vi)) refused.push(x.vi);
    } else if (k === 'virtual_server_group') {
      virtualServerGroup(ctx, s, m);
    } else if (k === 'virtual_server') {
      virtualServer(ctx, s, m);
    } else if (k === 'static_ipaddress') {
      for (const l of valueLines(ctx, s)) { const v = parseVip(ctx, l, 'static_ipaddress'); if (v) m.static_ipaddress.push(v); }
    } else if (k === 'static_routes') {
      for (const l of valueLines(ctx, s)) { const r = parseStaticRoute(ctx, l); if (r) m.static_routes.push(r); }
    } else if (k === 'static_rules') {
      for (const l of valueLines(ctx, s)) { const r = parseStaticRule(ctx, l, rulePrefs); if (r) m.static_rules.push(r); }
    } else if (k === 'lvsd_announce') {
      lvsdAnnounce(ctx, s, m);
    } else if (ROOT_IGNORED.has(k)) {
      if (s.words.length === 1 && reportsWithoutParam('ROOT', k)) ctx.warn(endPos(s), `${k} is missing its name; keepalived ignores it`, `write '${k} <name>'`);
      else ctx.note(s.pos, `${k} is a keepalived keyword lvsd does not implement; ignored`, 'remove it if you rely on it');
    } else {
      unknownKeyword(ctx, s, '', ['global_defs', 'static_ipaddress', 'static_routes', 'static_rules', 'vrrp_script', 'vrrp_sync_group', 'vrrp_instance', 'virtual_server_group', 'virtual_server', 'lvsd_announce', 'include', ...ROOT_IGNORED]);
    }
  }
  crossChecks(ctx, m);
  return m;
}

/** keepalived's vrrp_complete_instance() checks and corrections (vrrp.c), in its order, each reported as it does. */
function finishInstance(c: Ctx, s: Stmt, x: InstanceCtx, m: KeepalivedConfig): void {
  const vi = x.vi;
  const strict = m.global_defs.vrrp_strict;
  const owner = vi.priority === 255;
  const at = (what: string) => `(${vi.name}) ${what}`;
  if (!x.vridSet) {
    c.error(s.pos, at('the virtual router id must be set'), 'add virtual_router_id 1..255');
    return;
  }
  if (vi.interface === 'lo') {
    c.error(s.pos, at('cannot use a loopback interface (lo) for vrrp'), 'name the interface that faces the peer');
    return;
  }
  // keepalived 2.2.7 wants an interface even for unicast-only instances.
  if (!vi.interface) {
    c.error(s.pos, at('no interface'), 'add interface <name>');
    return;
  }
  // keepalived's family and version deduction comes first: an IPv6 instance runs VRRPv3 whatever vrrp_version says.
  vi.family = x.family ?? 4;
  if (vi.family === 6) {
    if (x.version === 2 && strict) {
      c.warn(s.pos, at('cannot use IPv6 with VRRP version 2; setting version 3'), 'remove version 2: VRRP over IPv6 is version 3 (RFC 5798)');
      vi.version = 3;
    } else if (x.version === 2) {
      // keepalived 2.2.7 runs it (a non-standard VRRPv2 over IPv6); nothing else speaks it.
      c.error(s.pos, at('VRRP version 2 over IPv6 is not supported by lvs-keepalived'), 'remove version 2: VRRP over IPv6 is version 3 (RFC 5798)', 'OK');
      return;
    } else vi.version = 3;
  }
  if (!vi.virtual_ipaddress.length) {
    if (vi.version === 3 || strict) {
      c.error(s.pos, at('No VIP specified; at least one is required'), 'add a virtual_ipaddress block (VRRPv3 adverts must carry one)');
      return;
    }
    c.warn(s.pos, at('no VIP specified; at least one is sensible'), 'add a virtual_ipaddress block', 'WARNING');
  }
  if (!x.stateSet) vi.state = owner ? 'MASTER' : 'BACKUP';
  else if (strict && (vi.state === 'MASTER') !== owner) {
    c.warn(s.pos, at('state MASTER must match being address owner (priority 255) in strict mode'), 'use state MASTER with priority 255, BACKUP otherwise');
    vi.state = owner ? 'MASTER' : 'BACKUP';
  }
  if (vi.authentication && strict) {
    c.warn(s.pos, at('strict mode does not support authentication. Ignoring.'), 'remove the authentication block, or vrrp_strict');
    delete vi.authentication;
  } else if (vi.authentication && vi.version === 3) {
    c.warn(s.pos, at('VRRP version 3 does not support authentication. Ignoring.'), 'remove the authentication block, or use version 2');
    delete vi.authentication;
  } else if (vi.authentication && !vi.authentication.auth_pass) {
    c.warn(s.pos, at('authentication specified but no password given. Ignoring'), 'add auth_pass');
    delete vi.authentication;
  } else if (vi.authentication?.auth_type === 'AH' && vi.state === 'MASTER' && !owner) {
    c.warn(s.pos, at('initial state master is incompatible with AH authentication - clearing'), 'use state BACKUP with AH');
    vi.state = 'BACKUP';
  }
  if (x.unicast && !vi.unicast_peer.length && !x.unicastFaultNoPeer) {
    c.warn(s.pos, at('a unicast keyword has been specified without any unicast peers. Defaulting to multicast.'), 'add unicast_peer { … } or remove unicast_src_ip', 'DEPRECATED');
  }
  if (owner && vi.nopreempt) {
    c.warn(s.pos, at('nopreempt is incompatible with priority 255. resetting nopreempt'), 'the address owner always preempts');
    vi.nopreempt = false;
  }
  if (vi.state === 'MASTER') {
    if (vi.nopreempt) {
      c.warn(s.pos, at('nopreempt will not work with initial state MASTER - clearing'), 'set state BACKUP on every node that uses nopreempt');
      vi.nopreempt = false;
    }
    if (vi.preempt_delay) {
      c.warn(s.pos, at('preempt delay will not work with initial state MASTER - clearing'), 'set state BACKUP to use preempt_delay');
      vi.preempt_delay = 0;
    }
  }
  if (vi.preempt_delay && strict) {
    c.warn(s.pos, at('preempt_delay is incompatible with strict mode - resetting'), 'drop preempt_delay or vrrp_strict');
    vi.preempt_delay = 0;
  }
  if (vi.preempt_delay && vi.nopreempt) {
    c.warn(s.pos, at('preempt_delay is incompatible with nopreempt mode - resetting'), 'drop one of nopreempt and preempt_delay');
    vi.preempt_delay = 0;
  }
  if (vi.down_timer_adverts !== DEFAULTS.down_timer_adverts && strict) {
    c.warn(s.pos, at('down_timer_adverts is incompatible with strict mode - resetting'), 'drop down_timer_adverts or vrrp_strict');
    vi.down_timer_adverts = DEFAULTS.down_timer_adverts;
  }
  // Unset, accept follows strict mode (RFC behaviour) except for the address owner.
  if (x.accept === undefined) vi.accept = owner ? true : !strict;
  else vi.accept = x.accept;
  if (vi.accept && !owner && strict && vi.version === 2) {
    c.warn(s.pos, at('accept mode for VRRP version 2 does not comply with RFC3768 - resetting'), 'drop accept, or use version 3');
    vi.accept = false;
  }
  if (vi.version === 2) {
    if (vi.advert_int >= 256) {
      c.warn(s.pos, at(`VRRPv2 advertisement interval ${vi.advert_int}s is out of range. Setting to 255s`), 'advert_int must be below 256 for VRRPv2');
      vi.advert_int = 255;
    } else if (!Number.isInteger(vi.advert_int)) {
      const r = Math.max(1, Math.floor(vi.advert_int + 0.5));
      c.warn(s.pos, at(`VRRPv2 advertisement interval ${vi.advert_int}s must be an integer. rounding to ${r}`), 'use whole seconds, or version 3 for sub-second adverts');
      vi.advert_int = r;
    }
  } else if (vi.advert_int >= 40.96) {
    c.warn(s.pos, at(`VRRPv3 advertisement interval ${vi.advert_int}s is out of range. Setting to 40.95s`), 'advert_int must be below 40.96 for VRRPv3');
    vi.advert_int = 40.95;
  } else if (Math.round(vi.advert_int * 1e6) % 10000 !== 0) {
    const r = Math.max(1, Math.floor(vi.advert_int * 100 + 0.5)) / 100;
    c.warn(s.pos, at(`VRRPv3 advertisement interval ${vi.advert_int}s must be in units of 10ms - rounding to ${r}`), 'use hundredths of a second');
    vi.advert_int = r;
  }
  if (vi.interface && vi.track_interface.some((t) => t.name === vi.interface)) {
    c.warn(s.pos, at(`ignoring track_interface ${vi.interface} since own interface`), 'the instance tracks its own interface already; remove it from track_interface');
    vi.track_interface = vi.track_interface.filter((t) => t.name !== vi.interface);
  }
  // RFC 5798 §7.3: IPv4 and IPv6 virtual routers have VRIDs of their own (keepalived compares family too).
  if (vi.family === 6 && vi.unicast_peer.length === 0) {
    // RFC 5798 §5.2.9: the first address of an IPv6 advert is the router's link-local one.
    const first = vi.virtual_ipaddress[0];
    if (first && !isLinkLocalIpv6(parseIpv6(first.addr))) {
      if (strict) c.warn(first.pos, at('the first IPv6 VIP address must be link local'), 'put a link-local VIP (fe80::…) first in virtual_ipaddress');
      else c.note(first.pos, at('the first IPv6 VIP address should be link local'), 'put a link-local VIP (fe80::…) first (RFC 5798 §5.2.9); keepalived only logs this');
    }
  }
  if (m.vrrp_instances.some((o) => o.virtual_router_id === vi.virtual_router_id && o.interface === vi.interface && o.family === vi.family)) {
    c.error(s.pos, at(`VRID ${vi.virtual_router_id} is already used on ${vi.interface ?? 'unicast'}`), 'give each instance on an interface its own virtual_router_id');
  }
  m.vrrp_instances.push(vi);
}

function crossChecks(c: Ctx, m: KeepalivedConfig): void {
  const scripts = new Set(m.vrrp_scripts.map((s) => s.name));
  const instances = new Set(m.vrrp_instances.map((v) => v.name));
  const sd = m.global_defs.lvs_sync_daemon;
  if (sd?.instance !== undefined && !instances.has(sd.instance)) {
    // keepalived -t does not check it; the daemon then never follows a VRRP state.
    c.warn(m.global_defs.pos ?? m.vrrp_instances[0]?.pos ?? { file: '', line: 0, col: 0 }, `lvs_sync_daemon: vrrp_instance ${sd.instance} is not defined`, 'name the instance whose state the sync daemon follows', 'OK');
  }
  for (const vi of m.vrrp_instances) {
    for (const t of vi.track_script) {
      if (!scripts.has(t.name)) c.warn(vi.pos, `(${vi.name}) track script ${t.name} not found, ignoring`, 'define it with vrrp_script or fix the name');
    }
    vi.track_script = vi.track_script.filter((t) => scripts.has(t.name));
  }
  for (const g of m.vrrp_sync_groups) {
    for (const n of g.group) {
      if (!instances.has(n)) c.warn(g.pos, `virtual router ${n} specified in sync group ${g.name} doesn't exist - ignoring`, 'fix the instance name');
    }
    g.group = g.group.filter((n) => instances.has(n));
    if (g.group.length === 1) c.warn(g.pos, `sync group ${g.name} has only 1 virtual router(s) - this probably isn't what you want`, 'add the other instances, or drop the sync group');
  }
  const emptyGroups = m.vrrp_sync_groups.filter((g) => !g.group.length);
  for (const g of emptyGroups) c.warn(g.pos, `sync group ${g.name} has no virtual router(s) - removing`, 'list instances in group { }');
  m.vrrp_sync_groups = m.vrrp_sync_groups.filter((g) => g.group.length);
}

