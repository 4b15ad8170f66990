// The model in YAML/JSON, and back to keepalived.conf text.
//
// Both directions go through the keepalived statement tree: a YAML document
// is turned into the statements a keepalived.conf would hold (each carrying
// the line:col of its YAML node) and handed to the same keyword parser, so
// validation, defaults and messages are one code path. toKeepalivedConf()
// renders the same statements as text, so a dump parses back to the model.

import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import type * as YamlLib from 'yaml';

// The yaml package costs ~100 ms to load: only YAML configs and --dump-config
// pay for it, not every start of lvs-keepalived.
let lib: typeof YamlLib | undefined;
const yamlLib = (): typeof YamlLib => (lib ??= createRequire(import.meta.url)('yaml') as typeof YamlLib);
import { modelFromStmts, type ParseResult } from './parser.js';
import type { Stmt, Word } from './lexer.js';
import type { Diagnostic, KaErr, KeepalivedConfig, Severity, SourcePos } from './model.js';

// ---------------------------------------------------------------- value access

/** A value with a position: a YAML node, or a plain JS value when dumping a model. */
interface Val {
  pos: SourcePos;
  kind: 'map' | 'seq' | 'scalar' | 'null';
  scalar?: unknown;
  get(key: string): Val | undefined;
  keys(): Array<{ key: string; pos: SourcePos }>;
  items(): Val[];
}

function jsVal(v: unknown, pos: SourcePos): Val {
  const kind = v === null || v === undefined ? 'null' : Array.isArray(v) ? 'seq' : typeof v === 'object' ? 'map' : 'scalar';
  return {
    pos, kind, scalar: v,
    get: (k) => (kind === 'map' && (v as Record<string, unknown>)[k] !== undefined ? jsVal((v as Record<string, unknown>)[k], pos) : undefined),
    keys: () => (kind === 'map' ? Object.keys(v as object).filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((key) => ({ key, pos })) : []),
    items: () => (kind === 'seq' ? (v as unknown[]).map((x) => jsVal(x, pos)) : []),
  };
}

function yamlVal(node: unknown, file: string, lc: YamlLib.LineCounter): Val {
  const posOf = (n: unknown): SourcePos => {
    const r = (n as { range?: [number, number, number] } | null)?.range;
    const lp = r ? lc.linePos(r[0]) : { line: 0, col: 0 };
    return { file, line: lp.line, col: lp.col };
  };
  const wrap = (n: unknown): Val => {
    const pos = posOf(n);
    if (yamlLib().isMap(n)) {
      const pairs = n.items as Array<YamlLib.Pair<unknown, unknown>>;
      const keyStr = (p: YamlLib.Pair<unknown, unknown>): string => String(yamlLib().isScalar(p.key) ? p.key.value : p.key);
      return {
        pos, kind: 'map',
        get: (k) => { const p = pairs.find((x) => keyStr(x) === k); return p && p.value !== null ? wrap(p.value) : undefined; },
        keys: () => pairs.map((p) => ({ key: keyStr(p), pos: posOf(p.key) })),
        items: () => [],
      };
    }
    if (yamlLib().isSeq(n)) return { pos, kind: 'seq', get: () => undefined, keys: () => [], items: () => (n.items as unknown[]).map(wrap) };
    const v = yamlLib().isScalar(n) ? n.value : n;
    return { pos, kind: v === null || v === undefined ? 'null' : 'scalar', scalar: v, get: () => undefined, keys: () => [], items: () => [] };
  };
  return wrap(node);
}

// ---------------------------------------------------------------- model shape → statements

type Emit = (pos: SourcePos, severity: Severity, ka: KaErr, message: string, hint: string) => void;

class Builder {
  constructor(readonly emit: Emit) {}

  word(text: string, pos: SourcePos): Word {
    return { text, pos, quoted: false };
  }
  /** A scalar as the words keepalived would see: strings with blanks become one quoted word. */
  scalarWords(v: Val, what: string): Word[] | undefined {
    if (v.kind !== 'scalar') {
      this.emit(v.pos, 'error', 'GENERAL_ERROR', `${what}: expected a single value`, 'write a string or a number');
      return undefined;
    }
    const s = String(v.scalar);
    return [{ text: s, pos: v.pos, quoted: /[\s{}#!]/.test(s) || s === '' }];
  }
  stmt(key: string, pos: SourcePos, args: Word[] = [], block?: Stmt[]): Stmt {
    const s: Stmt = { pos, words: [this.word(key, pos), ...args] };
    if (block) { s.block = block; s.blockPos = pos; }
    return s;
  }
  /** A command line (script, notify_*) is kept as keepalived splits it: words, "quoted strings" kept whole. */
  commandWords(v: Val, what: string): Word[] | undefined {
    const w = this.scalarWords(v, what);
    if (!w) return undefined;
    const out: Word[] = [];
    const re = /"([^"]*)"|(\S+)/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(w[0]!.text))) out.push({ text: m[1] ?? m[2]!, pos: v.pos, quoted: m[1] !== undefined });
    return out;
  }
  list(v: Val | undefined, what: string): Val[] {
    if (!v) return [];
    if (v.kind !== 'seq') {
      this.emit(v.pos, 'error', 'GENERAL_ERROR', `${what}: expected a list`, `write ${what} as a YAML list`);
      return [];
    }
    return v.items();
  }
  map(v: Val, what: string): boolean {
    if (v.kind === 'map') return true;
    this.emit(v.pos, 'error', 'GENERAL_ERROR', `${what}: expected a mapping`, 'write key: value pairs');
    return false;
  }
  unknownKeys(v: Val, known: readonly string[], where: string): void {
    for (const k of v.keys()) {
      if (!known.includes(k.key)) this.emit(k.pos, 'warning', 'UNKNOWN_KEYWORD', `unknown key '${k.key}' in ${where}`, `check the spelling; known keys: ${known.join(', ')}`);
    }
  }

  /**
   * Generic field mapping: scalars become `key value`, true booleans a bare
   * `key`, false ones nothing. `spec` lists the fields in output order.
   */
  fields(v: Val, spec: ReadonlyArray<string | [string, (x: Val) => Stmt[]]>, where: string, extraKnown: string[] = []): Stmt[] {
    const out: Stmt[] = [];
    const names = spec.map((f) => (typeof f === 'string' ? f : f[0]));
    this.unknownKeys(v, [...names, ...extraKnown, 'pos'], where);
    for (const f of spec) {
      const name = typeof f === 'string' ? f : f[0];
      const x = v.get(name);
      if (!x) continue;
      if (typeof f !== 'string') { out.push(...f[1](x)); continue; }
      if (x.kind === 'scalar' && typeof x.scalar === 'boolean') { if (x.scalar) out.push(this.stmt(name, x.pos)); continue; }
      const w = this.scalarWords(x, `${where}.${name}`);
      if (w) out.push(this.stmt(name, x.pos, w));
    }
    return out;
  }
  command(name: string): [string, (x: Val) => Stmt[]] {
    return [name, (x) => { const w = this.commandWords(x, name); return w ? [this.stmt(name, x.pos, w)] : []; }];
  }
  valueBlock(name: string, line: (x: Val) => Word[] | undefined): [string, (x: Val) => Stmt[]] {
    return [name, (x) => {
      const lines: Stmt[] = [];
      for (const it of this.list(x, name)) {
        const w = line(it);
        if (w && w.length) lines.push({ pos: it.pos, words: w });
      }
      // An empty list means the same as no block; keepalived would only warn about it.
      return lines.length ? [this.stmt(name, x.pos, [], lines)] : [];
    }];
  }
  s(x: Val | undefined, what: string): Word[] {
    return x ? this.scalarWords(x, what) ?? [] : [];
  }
}

const NOTIFY = ['notify', 'notify_master', 'notify_backup', 'notify_fault', 'notify_stop'];

function trackLine(b: Builder, x: Val, what: string): Word[] | undefined {
  if (x.kind === 'scalar') return b.scalarWords(x, what);
  if (!b.map(x, what)) return undefined;
  b.unknownKeys(x, ['name', 'weight', 'reverse'], what);
  const w = b.s(x.get('name'), `${what}.name`);
  const weight = x.get('weight');
  if (weight) w.push(b.word('weight', weight.pos), ...b.s(weight, `${what}.weight`));
  if (x.get('reverse')?.scalar === true) w.push(b.word('reverse', x.pos));
  return w;
}

function vipLine(b: Builder, x: Val, what = 'virtual_ipaddress'): Word[] | undefined {
  if (x.kind === 'scalar') return (String(x.scalar).split(/\s+/).filter(Boolean)).map((t) => b.word(t, x.pos));
  if (!b.map(x, what)) return undefined;
  b.unknownKeys(x, ['addr', 'prefix', 'brd', 'dev', 'scope', 'label', 'extra', 'pos'], what);
  const addr = x.get('addr');
  if (!addr) { b.emit(x.pos, 'error', 'MISSING_PARAMETER', `${what} entry without addr`, 'add addr: A.B.C.D'); return undefined; }
  const prefix = x.get('prefix');
  const w = [b.word(`${String(addr.scalar)}${prefix ? `/${String(prefix.scalar)}` : ''}`, addr.pos)];
  for (const k of ['brd', 'dev', 'scope', 'label']) {
    const v = x.get(k);
    if (v) w.push(b.word(k, v.pos), ...b.s(v, k));
  }
  for (const e of b.list(x.get('extra'), 'extra')) w.push(...b.s(e, 'extra'));
  return w;
}

/** A static_routes / static_rules entry: the line as one string, or `{ args: [words…] }` (the model's form). */
function argsLine(b: Builder, x: Val, what: string): Word[] | undefined {
  if (x.kind === 'scalar') return (String(x.scalar).split(/\s+/).filter(Boolean)).map((t) => b.word(t, x.pos));
  if (!b.map(x, what)) return undefined;
  b.unknownKeys(x, ['args', 'pos'], what);
  const args = x.get('args');
  if (!args) { b.emit(x.pos, 'error', 'MISSING_PARAMETER', `${what} entry without args`, `write the line as a string, or args: [words]`); return undefined; }
  return b.list(args, `${what}.args`).flatMap((a) => b.s(a, `${what}.args`));
}

function toStmts(root: Val, emit: Emit): Stmt[] {
  const b = new Builder(emit);
  const out: Stmt[] = [];
  if (!b.map(root, 'configuration')) return out;
  const top = ['global_defs', 'static_ipaddress', 'static_routes', 'static_rules', 'vrrp_scripts', 'vrrp_sync_groups', 'vrrp_instances', 'virtual_server_groups', 'virtual_servers', 'lvsd_announce'];
  b.unknownKeys(root, top, 'the top level');

  const g = root.get('global_defs');
  if (g && b.map(g, 'global_defs')) {
    out.push(b.stmt('global_defs', g.pos, [], b.fields(g, [
      'router_id',
      b.valueBlock('notification_email', (x) => b.scalarWords(x, 'notification_email')),
      'notification_email_from', 'smtp_server', 'smtp_connect_timeout', 'vrrp_version', 'vrrp_mcast_group4', 'vrrp_mcast_group6',
      'vrrp_garp_master_delay', 'vrrp_garp_master_repeat', 'vrrp_garp_master_refresh', 'vrrp_garp_master_refresh_repeat',
      // 0 is the model's "unset"; keepalived wants a positive interval when the keyword is there.
      ['vrrp_garp_interval', (x) => (x.scalar === 0 ? [] : [b.stmt('vrrp_garp_interval', x.pos, b.s(x, 'vrrp_garp_interval'))])],
      'vrrp_strict', 'vrrp_skip_check_adv_addr',
      ['lvs_timeouts', (x) => {
        if (!b.map(x, 'lvs_timeouts')) return [];
        b.unknownKeys(x, ['tcp', 'tcpfin', 'udp'], 'lvs_timeouts');
        const w: Word[] = [];
        for (const k of ['tcp', 'tcpfin', 'udp']) { const v = x.get(k); if (v) w.push(b.word(k, v.pos), ...b.s(v, k)); }
        return [b.stmt('lvs_timeouts', x.pos, w)];
      }],
      'lvs_flush', 'lvs_flush_on_stop',
      ['lvs_sync_daemon', (x) => {
        if (!b.map(x, 'lvs_sync_daemon')) return [];
        b.unknownKeys(x, ['interface', 'instance', 'id', 'maxlen', 'port', 'ttl', 'group'], 'lvs_sync_daemon');
        const w = [...b.s(x.get('interface'), 'interface'), ...b.s(x.get('instance'), 'instance')];
        for (const k of ['id', 'maxlen', 'port', 'ttl', 'group']) { const v = x.get(k); if (v) w.push(b.word(k, v.pos), ...b.s(v, k)); }
        return [b.stmt('lvs_sync_daemon', x.pos, w)];
      }],
      'enable_script_security',
      ['script_user', (x) => {
        if (x.kind === 'scalar') return [b.stmt('script_user', x.pos, b.s(x, 'script_user'))];
        if (!b.map(x, 'script_user')) return [];
        return [b.stmt('script_user', x.pos, [...b.s(x.get('user'), 'user'), ...b.s(x.get('group'), 'group')])];
      }],
      ['reload_check_config', (x) => {
        // true, a log file name, or the model's { log_file? }.
        if (x.kind === 'scalar') return x.scalar === false ? [] : [b.stmt('reload_check_config', x.pos, x.scalar === true ? [] : b.s(x, 'reload_check_config'))];
        if (!b.map(x, 'reload_check_config')) return [];
        b.unknownKeys(x, ['log_file'], 'reload_check_config');
        return [b.stmt('reload_check_config', x.pos, b.s(x.get('log_file'), 'log_file'))];
      }],
    ], 'global_defs')));
  }

  for (const [name, line] of [
    b.valueBlock('static_ipaddress', (it) => vipLine(b, it, 'static_ipaddress')),
    b.valueBlock('static_routes', (it) => argsLine(b, it, 'static_routes')),
    b.valueBlock('static_rules', (it) => argsLine(b, it, 'static_rules')),
  ] as const) {
    const x = root.get(name);
    if (x) out.push(...line(x));
  }

  // lvsd extension: the same keys as the keepalived.conf block; prefix a string or a list.
  const ann = root.get('lvsd_announce');
  if (ann && b.map(ann, 'lvsd_announce')) {
    out.push(b.stmt('lvsd_announce', ann.pos, [], b.fields(ann, [
      'bird_socket', 'bird_include', 'protocol_name', 'birdc', 'check_interval',
      ['prefix', (p) => {
        const items = p.kind === 'seq' ? p.items() : [p];
        return items.map((i) => b.stmt('prefix', i.pos, b.s(i, 'prefix')));
      }],
      ['withdraw_on_stop', (w) => [b.stmt('withdraw_on_stop', w.pos, [b.word(String(w.scalar), w.pos)])]],
    ], 'lvsd_announce')));
  }

  for (const x of b.list(root.get('vrrp_scripts'), 'vrrp_scripts')) {
    if (!b.map(x, 'vrrp_script')) continue;
    const body = b.fields(x, [b.command('script'), 'interval', 'timeout',
      ['weight', (w) => [b.stmt('weight', w.pos, [...b.s(w, 'weight'), ...(x.get('weight_reverse')?.scalar === true ? [b.word('reverse', w.pos)] : [])])]],
      'rise', 'fall', 'user', 'init_fail'], 'vrrp_script', ['name', 'weight_reverse']);
    out.push(b.stmt('vrrp_script', x.pos, b.s(x.get('name'), 'name'), body));
  }

  const track = (name: string): [string, (x: Val) => Stmt[]] => b.valueBlock(name, (it) => trackLine(b, it, name));
  for (const x of b.list(root.get('vrrp_sync_groups'), 'vrrp_sync_groups')) {
    if (!b.map(x, 'vrrp_sync_group')) continue;
    const body = b.fields(x, [b.valueBlock('group', (it) => b.scalarWords(it, 'group')), track('track_interface'), track('track_script'),
      ...NOTIFY.map((n) => b.command(n))], 'vrrp_sync_group', ['name']);
    out.push(b.stmt('vrrp_sync_group', x.pos, b.s(x.get('name'), 'name'), body));
  }

  for (const x of b.list(root.get('vrrp_instances'), 'vrrp_instances')) {
    if (!b.map(x, 'vrrp_instance')) continue;
    const body = b.fields(x, [
      // native_ipv6 before the addresses, as keepalived needs it; `family` is deduced, not a keyword.
      'state', 'interface', 'virtual_router_id', 'priority', 'advert_int', 'native_ipv6',
      // An IPv6 instance is VRRPv3 whatever the global vrrp_version: writing its version would only be read back as a conflict.
      ['version', (v) => (x.get('family')?.scalar === 6 || x.get('native_ipv6')?.scalar === true ? [] : [b.stmt('version', v.pos, b.s(v, 'version'))])],
      ['authentication', (a) => {
        if (!b.map(a, 'authentication')) return [];
        return [b.stmt('authentication', a.pos, [], b.fields(a, ['auth_type', 'auth_pass'], 'authentication'))];
      }],
      b.valueBlock('virtual_ipaddress', (it) => vipLine(b, it)),
      b.valueBlock('virtual_ipaddress_excluded', (it) => vipLine(b, it)),
      b.valueBlock('virtual_routes', (it) => argsLine(b, it, 'virtual_routes')),
      b.valueBlock('virtual_rules', (it) => argsLine(b, it, 'virtual_rules')),
      'mcast_src_ip', 'unicast_src_ip',
      b.valueBlock('unicast_peer', (it) => {
        if (it.kind === 'scalar') return b.scalarWords(it, 'unicast_peer');
        if (!b.map(it, 'unicast_peer')) return undefined;
        b.unknownKeys(it, ['addr', 'min_ttl', 'max_ttl'], 'unicast_peer');
        const w = b.s(it.get('addr'), 'addr');
        for (const k of ['min_ttl', 'max_ttl']) { const v = it.get(k); if (v) w.push(b.word(k, v.pos), ...b.s(v, k)); }
        return w;
      }),
      track('track_interface'), track('track_script'), 'dont_track_primary', 'nopreempt', 'preempt_delay',
      'garp_master_delay', 'garp_master_repeat', 'garp_master_refresh', 'garp_master_refresh_repeat', 'down_timer_adverts',
      ['accept', (a) => (a.scalar === true ? [b.stmt('accept', a.pos)] : a.scalar === false ? [b.stmt('no_accept', a.pos)] : [])],
      ...NOTIFY.map((n) => b.command(n)), b.command('notify_master_rx_lower_pri'), 'smtp_alert',
      ['reference_ip', (r) => {
        const items = r.kind === 'seq' ? r.items() : [r];
        return items.length ? [b.stmt('reference_ip', r.pos, items.flatMap((i) => b.s(i, 'reference_ip')))] : [];
      }],
    ], 'vrrp_instance', ['name', 'family']);
    out.push(b.stmt('vrrp_instance', x.pos, b.s(x.get('name'), 'name'), body));
  }

  for (const x of b.list(root.get('virtual_server_groups'), 'virtual_server_groups')) {
    if (!b.map(x, 'virtual_server_group')) continue;
    b.unknownKeys(x, ['name', 'entries', 'pos'], 'virtual_server_group');
    const lines: Stmt[] = [];
    for (const e of b.list(x.get('entries'), 'entries')) {
      if (e.kind === 'scalar') { lines.push({ pos: e.pos, words: String(e.scalar).split(/\s+/).filter(Boolean).map((t) => b.word(t, e.pos)) }); continue; }
      if (!b.map(e, 'entry')) continue;
      b.unknownKeys(e, ['kind', 'addr', 'addrEnd', 'port', 'fwmark', 'pos'], 'virtual_server_group entry');
      if (e.get('fwmark')) { lines.push({ pos: e.pos, words: [b.word('fwmark', e.pos), ...b.s(e.get('fwmark'), 'fwmark')] }); continue; }
      const addr = String(e.get('addr')?.scalar ?? '');
      const end = e.get('addrEnd');
      const w = [b.word(end ? `${addr}-${String(end.scalar)}` : addr, e.pos)];
      const p = e.get('port');
      if (p && p.scalar !== 0) w.push(...b.s(p, 'port'));
      lines.push({ pos: e.pos, words: w });
    }
    out.push(b.stmt('virtual_server_group', x.pos, b.s(x.get('name'), 'name'), lines));
  }

  const timers = ['delay_loop', 'connect_timeout', 'retry', 'delay_before_retry', 'warmup'];
  for (const x of b.list(root.get('virtual_servers'), 'virtual_servers')) {
    if (!b.map(x, 'virtual_server')) continue;
    const key = x.get('key');
    let head: Word[] = [];
    if (key?.kind === 'scalar') {
      // The keepalived.conf header as one string: "192.168.150.100 80", "fwmark 5", "group WEB".
      head = String(key.scalar).split(/\s+/).filter(Boolean).map((t) => b.word(t, key.pos));
    } else if (key && b.map(key, 'key')) {
      const kind = key.get('kind')?.scalar;
      if (kind === 'fwmark') head = [b.word('fwmark', key.pos), ...b.s(key.get('fwmark'), 'fwmark')];
      else if (kind === 'group') head = [b.word('group', key.pos), ...b.s(key.get('group'), 'group')];
      else {
        head = b.s(key.get('addr'), 'addr');
        const p = key.get('port');
        if (p && p.scalar !== 0) head.push(...b.s(p, 'port'));
      }
    } else if (!key) emit(x.pos, 'error', 'MISSING_PARAMETER', 'virtual server without key', 'add key: {kind: addr, addr: A.B.C.D, port: N}');
    const keyWords = key?.kind === 'scalar' ? String(key.scalar).split(/\s+/) : undefined;
    const kindOf = keyWords ? (keyWords[0] === 'fwmark' || keyWords[0] === 'group' ? keyWords[0] : 'addr') : key?.get('kind')?.scalar;
    const groupName = keyWords ? keyWords[1] : key?.get('group')?.scalar;
    const groupEntries = kindOf === 'group' ? b.list(root.get('virtual_server_groups'), 'virtual_server_groups').find((g) => g.get('name')?.scalar === groupName)?.get('entries') : undefined;
    const fwmarkOnly = kindOf === 'fwmark' || (!!groupEntries && groupEntries.items().every((e) => e.get('fwmark') !== undefined || String(e.scalar ?? '').startsWith('fwmark')));
    const body = b.fields(x, [
      // keepalived complains about a protocol on a fwmark service (it ignores it), so none is written there.
      ['protocol', (p) => (fwmarkOnly ? [] : [b.stmt('protocol', p.pos, b.s(p, 'protocol'))])],
      'lvs_sched', 'lvs_method',
      // 0 is the model's "not persistent"; keepalived only takes 1..2678400, so 0 is written by leaving the keyword out.
      ['persistence_timeout', (p) => (p.scalar === 0 ? [] : [b.stmt('persistence_timeout', p.pos, b.s(p, 'persistence_timeout'))])],
      'persistence_granularity', 'persistence_engine',
      'ops', ['sched_flags', (f) => b.list(f, 'sched_flags').flatMap((i) => (i.kind === 'scalar' ? [b.stmt(String(i.scalar), i.pos)] : []))],
      // quorum 0 only comes from keepalived lowering it to an all-zero weight sum; leaving it out does the same again.
      'delay_loop', ['quorum', (q) => (q.scalar === 0 ? [] : [b.stmt('quorum', q.pos, b.s(q, 'quorum'))])], 'hysteresis', b.command('quorum_up'), b.command('quorum_down'),
      ['sorry_server', (s) => (b.map(s, 'sorry_server') ? [b.stmt('sorry_server', s.pos, [...b.s(s.get('addr'), 'addr'), ...b.s(s.get('port'), 'port')])] : [])],
      'sorry_server_inhibit', 'alpha', 'omega', 'inhibit_on_failure', 'ha_suspend', 'virtualhost',
      ['real_servers', (rl) => b.list(rl, 'real_servers').flatMap((r) => {
        if (!b.map(r, 'real_server')) return [];
        // Unset and false differ on a real server (unset inherits the virtual server's), so false is written out.
        const explicitBool = (k: string): [string, (x: Val) => Stmt[]] => [k, (x) => (typeof x.scalar === 'boolean' ? [b.stmt(k, x.pos, [b.word(String(x.scalar), x.pos)])] : [])];
        const rbody = b.fields(r, ['weight', 'lvs_method', 'uthreshold', 'lthreshold', explicitBool('inhibit_on_failure'), b.command('notify_up'), b.command('notify_down'), explicitBool('alpha'), 'virtualhost',
          ['checkers', (cl) => b.list(cl, 'checkers').flatMap((c) => checkerStmt(b, c, timers))]], 'real_server', ['addr', 'port']);
        const head2 = b.s(r.get('addr'), 'addr');
        const p = r.get('port');
        if (p && p.scalar !== 0) head2.push(...b.s(p, 'port'));
        return [b.stmt('real_server', r.pos, head2, rbody)];
      })],
    ], 'virtual_server', ['key', 'real_servers', 'family']);
    out.push(b.stmt('virtual_server', x.pos, head, body));
  }
  return out;
}

function checkerStmt(b: Builder, c: Val, timers: string[]): Stmt[] {
  if (!b.map(c, 'checker')) return [];
  const type = String(c.get('type')?.scalar ?? '');
  const conn = ['connect_ip', 'connect_port', 'bindto', 'bind_port', 'bind_if', 'fwmark'];
  const common = [...conn, ...timers];
  let spec: Array<string | [string, (x: Val) => Stmt[]]> = common;
  if (type === 'HTTP_GET' || type === 'SSL_GET') {
    spec = [...common, 'http_protocol', 'virtualhost', 'enable_sni', 'fast_recovery', ['urls', (ul) => b.list(ul, 'urls').flatMap((u) => {
      if (!b.map(u, 'url')) return [];
      return [b.stmt('url', u.pos, [], b.fields(u, ['path', 'digest', ['status_code', (sc) => {
        const w: Word[] = [];
        for (const r of b.list(sc, 'status_code')) {
          if (r.kind === 'seq') { const [lo, hi] = r.items().map((i) => String(i.scalar)); w.push(b.word(lo === hi ? `${lo}` : `${lo}-${hi}`, r.pos)); }
          else w.push(...b.s(r, 'status_code'));
        }
        return w.length ? [b.stmt('status_code', sc.pos, w)] : [];
      }], 'virtualhost'], 'url'))];
    })]];
  } else if (type === 'MISC_CHECK') {
    spec = [...timers.filter((t) => t !== 'connect_timeout'), b.command('misc_path'), 'misc_timeout', 'misc_dynamic', 'user'];
  } else if (type === 'DNS_CHECK') {
    spec = [...common, ['dns_type', (t) => [b.stmt('type', t.pos, b.s(t, 'dns_type'))]], 'name'];
  } else if (type !== 'TCP_CHECK') {
    b.emit(c.pos, 'error', 'GENERAL_ERROR', `unknown checker type '${type}'`, 'use HTTP_GET, SSL_GET, TCP_CHECK, MISC_CHECK or DNS_CHECK');
    return [];
  }
  return [b.stmt(type, c.pos, [], b.fields(c, spec, type, ['type']))];
}

// ---------------------------------------------------------------- public API

export function parseYamlConfig(text: string, file = 'keepalived.yaml'): ParseResult {
  const diagnostics: Diagnostic[] = [];
  const emit: Emit = (pos, severity, ka, message, hint) => diagnostics.push({ file: pos.file, line: pos.line, col: pos.col, severity, message, hint, ka });
  const lc = new (yamlLib().LineCounter)();
  const doc = yamlLib().parseDocument(text, { lineCounter: lc, prettyErrors: false });
  for (const e of doc.errors) {
    const lp = lc.linePos(e.pos[0]);
    emit({ file, line: lp.line, col: lp.col }, 'error', 'FATAL', `YAML: ${e.message.split('\n')[0]}`, 'fix the YAML syntax');
  }
  if (doc.errors.length) return { model: modelFromStmts([], diagnostics), diagnostics };
  const root = doc.contents ? yamlVal(doc.contents, file, lc) : jsVal({}, { file, line: 1, col: 1 });
  const stmts = toStmts(root, emit);
  const model = modelFromStmts(stmts, diagnostics);
  return { model, diagnostics };
}

export function parseYamlConfigFile(file: string): ParseResult {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return {
      model: modelFromStmts([], []),
      diagnostics: [{ file, line: 0, col: 0, severity: 'error', ka: 'FILE_NOT_FOUND', message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, hint: 'check the path and its permissions' }],
    };
  }
  return parseYamlConfig(text, file);
}

/** The model without source positions: what dumps and comparisons care about. */
export function stripPositions<T>(v: T): T {
  return JSON.parse(JSON.stringify(v, (k, x) => (k === 'pos' ? undefined : x))) as T;
}

export function dumpConfig(model: KeepalivedConfig, format: 'yaml' | 'json' | 'conf'): string {
  if (format === 'conf') return toKeepalivedConf(model);
  const plain = stripPositions(model);
  return format === 'json' ? JSON.stringify(plain, null, 2) + '\n' : yamlLib().stringify(plain);
}

/** keepalived.conf text for a model; parsing it gives the same model back. */
export function toKeepalivedConf(model: KeepalivedConfig): string {
  const stmts = toStmts(jsVal(stripPositions(model), { file: '<model>', line: 0, col: 0 }), () => {});
  return render(stmts, 0);
}

function render(stmts: Stmt[], depth: number): string {
  let out = '';
  const ind = '    '.repeat(depth);
  for (const s of stmts) {
    const line = s.words.map(quoteWord).join(' ');
    if (s.block) {
      out += `${ind}${line} {\n${render(s.block, depth + 1)}${ind}}\n`;
      if (depth === 0) out += '\n';
    } else out += `${ind}${line}\n`;
  }
  return out;
}

function quoteWord(w: Word): string {
  if (!w.quoted && w.text !== '' && !/[\s"{}#!]/.test(w.text)) return w.text;
  return `"${w.text}"`;
}
