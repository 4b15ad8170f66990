// static_routes and static_rules lines (keepalived 2.2.7 vrrp_iproute.c
// alloc_route, vrrp_iprule.c alloc_rule, vrrp_ip_rule_route_parser.c): the
// words are ip(8)'s plus keepalived's own (add / append, track_group,
// no_track). Each line is checked as keepalived checks it, with its
// messages and error class, and kept as words; src/vrrp/static.ts turns them
// into `ip route` / `ip rule` commands. IPv4 and IPv6 (ip(8) only: no data
// plane involved); the family is the addresses', or `inet6`, and never mixed.

import * as fs from 'node:fs';
import { isIPv6 } from 'node:net';
import { isIpv4 } from '../packet/addr.js';
import type { Stmt, Word } from './lexer.js';
import type { KaErr, SourcePos, StaticRoute, StaticRule } from './model.js';

/** The parser's diagnostic sink (parser.ts's Ctx). */
export interface Diags {
  error(pos: SourcePos, message: string, hint: string, ka?: KaErr): void;
  warn(pos: SourcePos, message: string, hint: string, ka?: KaErr): void;
}

const ROUTE_TYPES = new Set(['unicast', 'local', 'broadcast', 'multicast', 'throw', 'unreachable', 'prohibit', 'blackhole', 'nat']);
const SCOPES = new Set(['host', 'link', 'global', 'nowhere', 'site', 'universe']);
/** Route keywords taking one value (number or name), besides those checked below. */
const ROUTE_VALUE = new Set([
  'realms', 'hoplimit', 'advmss', 'rtt', 'rttvar', 'reordering', 'window', 'cwnd', 'ssthresh', 'rto_min', 'initcwnd',
  'initrwnd', 'features', 'quickack', 'congctl', 'pref', 'fastopen_no_cookie', 'tos', 'dsfield', 'ttl-propagate', 'vrf',
  'track_group', 'expires', 'encap',
]);
/** Metrics that take an optional `lock` before their value. */
const LOCKABLE = new Set(['mtu', 'hoplimit', 'advmss', 'rtt', 'rttvar', 'reordering', 'window', 'cwnd', 'ssthresh', 'rto_min', 'initcwnd', 'initrwnd']);
const ROUTE_FLAGS = new Set(['onlink', 'add', 'append', 'no_track', 'inet', 'pervasive']);

/** Routing table names ip(8) knows: the built-in ones and /etc/iproute2/rt_tables (as keepalived reads it). */
function tableKnown(name: string): boolean {
  if (/^\d+$/.test(name)) return Number(name) <= 0xffffffff;
  if (['main', 'local', 'default', 'unspec'].includes(name)) return true;
  for (const f of ['/etc/iproute2/rt_tables', '/usr/share/iproute2/rt_tables', '/usr/lib/iproute2/rt_tables']) {
    let text: string;
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n')) {
      const m = /^\s*(\d+)\s+(\S+)/.exec(line);
      if (m && m[2] === name) return true;
    }
  }
  return false;
}

type Family = 0 | 4 | 6;

/** A prefix word: its verdict and family (0 for default/all, which fit either). */
function prefixOk(text: string, allowAll = false): { k: 'ok' | 'bad' | 'prefix'; fam: Family } {
  if (text === 'default' || (allowAll && text === 'all')) return { k: 'ok', fam: 0 };
  const [a, p, ...more] = text.split('/');
  if (more.length) return { k: 'bad', fam: 0 };
  const fam: Family = isIPv6(a!) ? 6 : isIpv4(a!) ? 4 : 0;
  if (!fam) return { k: 'bad', fam };
  if (p !== undefined && (!/^\d+$/.test(p) || Number(p) > (fam === 6 ? 128 : 32))) return { k: 'prefix', fam };
  return { k: 'ok', fam };
}

/** Family of a gateway/source address word, 0 when it is neither. */
const addrFam = (t: string): Family => (isIPv6(t) ? 6 : isIpv4(t) ? 4 : 0);

const isU32 = (t: string): boolean => /^\d+$/.test(t) && Number(t) <= 0xffffffff;

/** One static_routes line; undefined when keepalived would skip it. */
export function parseStaticRoute(c: Diags, l: Stmt): StaticRoute | undefined {
  const w = l.words;
  let i = 0;
  if (ROUTE_TYPES.has(w[0]!.text)) i++;
  if (w[i]?.text === 'to') i++;
  const dstW = w[i];
  if (!dstW) { c.error(w[w.length - 1]!.pos, 'static route without a destination', 'write DEST[/LEN] [via GW] dev IF', 'MISSING_PARAMETER'); return undefined; }
  const dk = prefixOk(dstW.text);
  if (dk.k === 'bad') { c.error(dstW.pos, `VRRP parsed invalid IP ${dstW.text}. skipping IP...`, 'write A.B.C.D[/LEN], ADDR6[/LEN] or default'); return undefined; }
  const max = dk.fam === 6 ? 128 : 32;
  if (dk.k === 'prefix') {
    // keepalived: "Invalid address prefix len 33 … using 32" and carries on with /32 (/128 for IPv6).
    c.error(dstW.pos, `Invalid address prefix len for address ${dstW.text} - using ${max}`, `give a prefix length in [0, ${max}]`, 'INVALID_NUMBER');
  }
  let fam: Family = dk.fam;
  /** Every address of a route has one family (keepalived: "Cannot mix IPv4 and IPv6 addresses for route"). */
  const same = (f: Family, at: Word): boolean => {
    if (!fam || fam === f) { fam = f; return true; }
    c.error(at.pos, 'Cannot mix IPv4 and IPv6 addresses for route', 'give every address of the route in one family');
    return false;
  };
  let dev = false;
  let nexthops = false;
  let tracked = true;
  let protocol: Word | undefined;
  for (i++; i < w.length; i++) {
    const k = w[i]!;
    const v = w[i + 1];
    const needV = (): Word | undefined => {
      if (!v) c.error(k.pos, `route keyword ${k.text} needs a value`, `write ${k.text} <value>`, 'MISSING_PARAMETER');
      return v;
    };
    switch (k.text) {
      case 'via': case 'gw': {
        let a = needV();
        if (a?.text === 'inet' || a?.text === 'inet6') { i++; a = w[i + 1]; }
        if (!a) return undefined;
        const f = addrFam(a.text);
        if (!f) { c.error(a.pos, `invalid route via address ${a.text}`, 'give the gateway as A.B.C.D or an IPv6 address'); return undefined; }
        if (!same(f, a)) return undefined;
        i++;
        break;
      }
      case 'src': {
        const a = needV();
        if (!a) return undefined;
        const f = addrFam(a.text);
        if (!f) { c.error(a.pos, `invalid route src address ${a.text}`, 'give the source as A.B.C.D or an IPv6 address'); return undefined; }
        if (!same(f, a)) return undefined;
        i++;
        break;
      }
      case 'dev': case 'oif':
        if (!needV()) return undefined;
        dev = true; i++;
        break;
      case 'table': {
        const t = needV();
        if (!t) return undefined;
        if (!tableKnown(t.text)) { c.error(t.pos, `Routing table ${t.text} not found for route`, 'give a table number, or name one listed in /etc/iproute2/rt_tables'); return undefined; }
        i++;
        break;
      }
      case 'metric': case 'priority': case 'preference': {
        const n = needV();
        if (!n) return undefined;
        if (!isU32(n.text)) { c.error(n.pos, `Invalid metric ${n.text} specified for route`, 'give the metric as a number', 'INVALID_NUMBER'); return undefined; }
        i++;
        break;
      }
      case 'scope': {
        const s = needV();
        if (!s) return undefined;
        if (!SCOPES.has(s.text) && !isU32(s.text)) { c.error(s.pos, `Invalid route scope ${s.text}`, 'use host, link, global, site or nowhere'); return undefined; }
        i++;
        break;
      }
      case 'protocol':
        protocol = needV();
        if (!protocol) return undefined;
        i++;
        break;
      case 'mtu':
        if (v?.text === 'lock') i++;
        if (!w[i + 1]) { c.error(k.pos, 'route keyword mtu needs a value', 'write mtu [lock] N', 'MISSING_PARAMETER'); return undefined; }
        if (!isU32(w[i + 1]!.text)) { c.error(w[i + 1]!.pos, `invalid number '${w[i + 1]!.text}'`, 'give the MTU as a number', 'INVALID_NUMBER'); return undefined; }
        i++;
        break;
      case 'nexthop':
        // Multipath: nexthop via GW dev IF weight N [onlink] …, to the end of the line.
        nexthops = true;
        for (i++; i < w.length; i++) {
          const t = w[i]!.text;
          if (t === 'nexthop' || t === 'onlink') continue;
          if (t === 'via' || t === 'dev' || t === 'weight') {
            const x = w[i + 1];
            if (!x) { c.error(w[i]!.pos, `nexthop ${t} needs a value`, `write nexthop ${t} <value>`, 'MISSING_PARAMETER'); return undefined; }
            if (t === 'via') {
              const f = addrFam(x.text);
              if (!f) { c.error(x.pos, `invalid nexthop address ${x.text}`, 'give the gateway as A.B.C.D or an IPv6 address'); return undefined; }
              if (!same(f, x)) return undefined;
            }
            if (t === 'dev') dev = true;
            i++;
            continue;
          }
          c.error(w[i]!.pos, `unknown nexthop keyword ${t}`, 'use via, dev, weight or onlink after nexthop');
          return undefined;
        }
        break;
      default:
        if (ROUTE_FLAGS.has(k.text)) { if (k.text === 'no_track') tracked = false; break; }
        if (k.text === 'inet6') { if (!same(6, k)) return undefined; break; }
        if (LOCKABLE.has(k.text) && v?.text === 'lock') i++;
        if (ROUTE_VALUE.has(k.text) || LOCKABLE.has(k.text)) {
          if (!w[i + 1]) { c.error(k.pos, `route keyword ${k.text} needs a value`, `write ${k.text} <value>`, 'MISSING_PARAMETER'); return undefined; }
          i++;
          break;
        }
        c.error(k.pos, `unknown route keyword ${k.text}`, 'see static_routes in keepalived.conf(5) for the words a route takes');
        return undefined;
    }
  }
  if (tracked && !dev && !nexthops) {
    c.warn(dstW.pos, `cannot track route ${dstW.text} with no interface specified, not tracking`, 'add dev IF (or no_track)', 'WARNING');
  } else if (tracked && protocol) {
    c.warn(protocol.pos, 'Route cannot be tracked if protocol is not RTPROT_KEEPALIVED(18), resetting protocol', 'leave protocol out, or add no_track', 'WARNING');
  }
  const route: StaticRoute = { pos: l.pos, args: w.map((x) => x.text) };
  if (fam === 6) route.family = 6;
  return route;
}

const RULE_ACTIONS = new Set(['table', 'lookup', 'goto', 'blackhole', 'unreachable', 'prohibit', 'nop', 'l3mdev']);
const RULE_VALUE = new Set(['iif', 'oif', 'tos', 'dsfield', 'fwmark', 'realms', 'uidrange', 'ip_proto', 'sport', 'dport',
  'suppress_prefixlength', 'suppress_ifgroup', 'protocol', 'track_group', 'goto']);
const RULE_FLAGS = new Set(['not', 'no_track', 'inet', 'blackhole', 'unreachable', 'prohibit', 'nop', 'l3mdev']);

/** keepalived numbers rules without a preference down from 16384, as this counter does for one file. */
export interface RulePrefs { next: number }

/** One static_rules line; undefined when keepalived would skip it. */
export function parseStaticRule(c: Diags, l: Stmt, prefs: RulePrefs): StaticRule | undefined {
  const w = l.words;
  let action = false;
  let pref = false;
  let fam = 0 as Family;
  /** keepalived: "rule specification has mixed IPv4 and IPv6". */
  const same = (f: Family, at: Word): boolean => {
    if (!f || !fam || fam === f) { fam = fam || f; return true; }
    c.error(at.pos, 'rule specification has mixed IPv4 and IPv6', 'give from and to in one family');
    return false;
  };
  for (let i = 0; i < w.length; i++) {
    const k = w[i]!;
    const v = w[i + 1];
    const needV = (): Word | undefined => {
      if (!v) c.error(k.pos, `rule option ${k.text} needs a value`, `write ${k.text} <value>`, 'MISSING_PARAMETER');
      return v;
    };
    if (k.text === 'from' || k.text === 'to') {
      const a = needV();
      if (!a) return undefined;
      const ok = prefixOk(a.text, true);
      if (ok.k === 'prefix') {
        const max = ok.fam === 6 ? 128 : 32;
        c.error(a.pos, `Invalid address prefix len for address ${a.text} - using ${max}`, `give a prefix length in [0, ${max}]`, 'INVALID_NUMBER');
      } else if (ok.k !== 'ok' || a.text === 'default') { c.error(a.pos, `Invalid rule ${k.text} address ${a.text}`, 'write A.B.C.D[/LEN], ADDR6[/LEN] or all'); return undefined; }
      if (!same(ok.fam, a)) return undefined;
      i++;
    } else if (k.text === 'table' || k.text === 'lookup') {
      const t = needV();
      if (!t) return undefined;
      if (!tableKnown(t.text)) { c.error(t.pos, `Routing table ${t.text} not found for rule`, 'give a table number, or name one listed in /etc/iproute2/rt_tables'); return undefined; }
      action = true; i++;
    } else if (k.text === 'priority' || k.text === 'preference') {
      const n = needV();
      if (!n) return undefined;
      if (!isU32(n.text)) { c.error(n.pos, `invalid number '${n.text}': Invalid rule preference ${k.text} specified`, 'give the preference as a number', 'INVALID_NUMBER'); return undefined; }
      pref = true; i++;
    } else if (RULE_VALUE.has(k.text)) {
      if (!needV()) return undefined;
      if (k.text === 'goto') action = true;
      i++;
    } else if (RULE_FLAGS.has(k.text)) {
      if (RULE_ACTIONS.has(k.text)) action = true;
    } else if (k.text === 'inet6' && i > 0) {
      if (!same(6, k)) return undefined;
    } else {
      c.error(k.pos, `Unknown rule option ${k.text}`, 'see static_rules in keepalived.conf(5) for the words a rule takes');
      return undefined;
    }
  }
  if (!action) {
    c.warn(l.pos, 'No action specified for rule - ignoring', 'add table N (or goto, blackhole, unreachable, prohibit)', 'WARNING');
    return undefined;
  }
  const args = w.map((x) => x.text);
  if (!pref) {
    const n = prefs.next--;
    c.warn(l.pos, `Rule has no preference specified - setting to ${n}. This is probably not what you want.`, 'add priority N', 'WARNING');
    args.push('priority', String(n));
  }
  const rule: StaticRule = { pos: l.pos, args };
  if (fam === 6) rule.family = 6;
  return rule;
}
