// Generated models survive every way out and back in: keepalived.conf text
// (toKeepalivedConf → parse), YAML and JSON (dumpConfig → parseYamlConfig).
// The generator makes fully-resolved models (every default already filled),
// the shape the parser itself returns, so equality is exact.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  dumpConfig, parseConfigText, parseYamlConfig, toKeepalivedConf,
  type Checker, type KeepalivedConfig, type RealServer, type TrackScriptRef, type VirtualServer, type VrrpInstance, type VrrpScript,
} from '../../src/config/index.js';
import { stripPositions } from '../../src/config/yaml.js';
import { SCHEDULERS } from '../../src/ipvs/types.js';
import { canonicalIpv6 } from '../../src/packet/addr6.js';

const P = { file: 'gen', line: 0, col: 0 };
const word = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.:-]{0,11}$/);
const text = fc.array(word, { minLength: 1, maxLength: 3 }).map((w) => w.join(' '));
const cmd = fc.tuple(fc.stringMatching(/^\/[a-z]{1,8}(\/[a-z0-9_.-]{1,8}){0,2}$/), fc.array(word, { maxLength: 2 })).map(([p, a]) => [p, ...a].join(' '));
const ip = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.integer({ min: 1, max: 254 })).map((o) => o.join('.'));
const hex = (n: number) => n.toString(16);
const ip6 = fc.tuple(fc.nat(0xffff), fc.nat(0xffff), fc.integer({ min: 1, max: 0xffff })).map(([a, b, c]) => canonicalIpv6(`2001:db8:${hex(a)}::${hex(b)}:${hex(c)}`));
const ll6 = fc.integer({ min: 1, max: 0xffff }).map((x) => `fe80::${hex(x)}`);
type Fam = 4 | 6;
const ipOf = (f: Fam) => (f === 4 ? ip : ip6);
const mcast = fc.tuple(fc.integer({ min: 224, max: 239 }), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
/** lvs_sync_daemon's group: IPv4 or IPv6 multicast. */
const syncGroup = fc.oneof(mcast, fc.tuple(fc.constantFrom('ff02', 'ff05', 'ff0e'), fc.integer({ min: 1, max: 0xffff })).map(([p, g]) => `${p}::${g.toString(16)}`));
const secs = fc.oneof(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 600 }).map((x) => x + 0.5));
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const unique = <T>(a: fc.Arbitrary<T>, key: (t: T) => string, max: number) => fc.uniqueArray(a, { selector: key, maxLength: max });

function clean<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const globalDefs = fc.record({
  router_id: opt(text), notification_email: fc.array(word, { maxLength: 2 }), notification_email_from: opt(word),
  smtp_server: opt(ip), smtp_connect_timeout: opt(secs), vrrp_version: fc.constantFrom(2 as const, 3 as const),
  vrrp_mcast_group4: mcast, vrrp_mcast_group6: fc.constantFrom('ff02::12', 'ff02::1:12'), vrrp_garp_master_delay: fc.nat(30), vrrp_garp_master_repeat: fc.nat(10),
  vrrp_garp_master_refresh: fc.nat(60), vrrp_garp_master_refresh_repeat: fc.nat(5), vrrp_garp_interval: fc.constantFrom(0, 0.5, 1),
  vrrp_strict: fc.boolean(), vrrp_skip_check_adv_addr: fc.boolean(),
  // keepalived refuses a bare lvs_timeouts ("requires at least one option"): a model never holds an empty one.
  lvs_timeouts: opt(fc.record({ tcp: fc.nat(3600), tcpfin: fc.nat(600), udp: fc.nat(600) }, { requiredKeys: [] }).filter((t) => Object.keys(t).length > 0)),
  lvs_flush: fc.boolean(), lvs_flush_on_stop: fc.boolean(),
  lvs_sync_daemon: opt(fc.record({ interface: word, instance: opt(word.map((w) => `VI_${w}`)), id: opt(fc.nat(255)), maxlen: opt(fc.integer({ min: 1, max: 65507 })), port: opt(fc.integer({ min: 1, max: 65535 })), ttl: opt(fc.integer({ min: 1, max: 255 })), group: opt(syncGroup) }).map(clean)),
  enable_script_security: fc.boolean(),
  script_user: opt(fc.record({ user: word, group: opt(word) }).map(clean)),
}).map(clean);

const script = fc.record({
  name: word.map((w) => `chk_${w}`), script: cmd, interval: secs, timeout: secs, weight: fc.integer({ min: -253, max: 253 }),
  weight_reverse: fc.boolean(), rise: fc.integer({ min: 1, max: 9 }), fall: fc.integer({ min: 1, max: 9 }), user: opt(word), init_fail: fc.boolean(),
}).map((s) => clean({ pos: P, ...s }) as VrrpScript);

const trackRef = fc.record({ name: word, weight: opt(fc.integer({ min: -253, max: 253 })), reverse: opt(fc.constant(true)) })
  .map((r) => clean({ ...r, reverse: r.weight !== undefined ? r.reverse : undefined }));

const vipOf = (f: Fam) => fc.record({
  addr: f === 4 ? ip : fc.oneof(ip6, ll6), prefix: fc.integer({ min: 0, max: f === 4 ? 32 : 128 }), brd: f === 4 ? opt(ip) : fc.constant(undefined),
  dev: opt(word), scope: opt(fc.constantFrom('host', 'link', 'global')),
  label: opt(word), extra: opt(fc.subarray(f === 4 ? ['no_track', 'home', '-nodad'] : ['no_track', 'home', '-nodad', 'preferred_lft', '0'], { minLength: 1 })
    // preferred_lft takes its value: keep the pair together or leave both out.
    .map((e) => (e.includes('preferred_lft') !== e.includes('0') ? e.filter((w) => w !== 'preferred_lft' && w !== '0') : e))
    .filter((e) => e.length > 0)),
}).map((v) => clean({ pos: P, ...v }));
const vip = vipOf(4);

// An instance is IPv4 or IPv6 throughout (keepalived refuses a mix in what goes into adverts); excluded addresses may be either.
const instance = (scripts: string[]) => fc.constantFrom(4 as const, 6 as const).chain((family) => fc.record({
  state: fc.constantFrom('MASTER' as const, 'BACKUP' as const), interface: word.filter((w) => w !== 'lo'), priority: fc.integer({ min: 1, max: 255 }),
  advert_int: fc.constantFrom(1, 2, 0.5, 3), version: family === 6 ? fc.constant(3 as const) : fc.constantFrom(2 as const, 3 as const),
  family: fc.constant(family), native_ipv6: family === 6 ? fc.boolean() : fc.constant(false),
  auth: opt(fc.record({ auth_type: fc.constantFrom('PASS' as const, 'AH' as const), auth_pass: fc.stringMatching(/^[a-z0-9]{1,8}$/) })),
  virtual_ipaddress: fc.array(vipOf(family), { minLength: 1, maxLength: 3 }), virtual_ipaddress_excluded: fc.array(fc.oneof(vipOf(4), vipOf(6)), { maxLength: 2 }),
  virtual_routes: fc.array(fc.tuple(ip, fc.integer({ min: 8, max: 32 }), ip).map(([d, l, gw]) => ({ pos: P, args: [`${d}/${l}`, 'via', gw, 'dev', 'eth0'] })), { maxLength: 2 }),
  virtual_rules: fc.array(fc.tuple(ip, fc.nat(1000), fc.nat(32000)).map(([f, t, p]) => ({ pos: P, args: ['from', f, 'table', String(t + 1), 'priority', String(p)] })), { maxLength: 2 }),
  mcast_src_ip: opt(ipOf(family)), unicast_src_ip: opt(ipOf(family)),
  unicast_peer: fc.array(fc.record({ addr: ipOf(family), min_ttl: opt(fc.nat(255)), max_ttl: opt(fc.nat(255)) }).map(clean), { maxLength: 2 }),
  track_interface: fc.array(trackRef, { maxLength: 2 }),
  track_script: fc.subarray(scripts).chain((names) => fc.tuple(...names.map((n) => trackRef.map((r) => ({ ...r, name: n }))))),
  dont_track_primary: fc.boolean(), nopreempt: fc.boolean(), preempt_delay: fc.nat(1000),
  garp_master_delay: fc.nat(30), garp_master_repeat: fc.nat(10), garp_master_refresh: fc.nat(60), garp_master_refresh_repeat: fc.nat(5),
  down_timer_adverts: fc.integer({ min: 1, max: 100 }), accept: fc.boolean(), smtp_alert: fc.boolean(),
  notify: opt(cmd), notify_master: opt(cmd), notify_backup: opt(cmd), notify_fault: opt(cmd), notify_stop: opt(cmd), notify_master_rx_lower_pri: opt(cmd),
  reference_ip: fc.array(ip, { maxLength: 2 }),
}));

// connect_ip and bindto of the real server's family (keepalived refuses a bindto of the other family).
const checkerOf = (f: Fam): fc.Arbitrary<Checker> => fc.record({
  type: fc.constantFrom('HTTP_GET', 'SSL_GET', 'TCP_CHECK', 'MISC_CHECK', 'DNS_CHECK'),
  connect_ip: opt(ipOf(f)), connect_port: opt(fc.integer({ min: 1, max: 65535 })), bindto: opt(ipOf(f)), bind_port: opt(fc.integer({ min: 1, max: 65535 })),
  bind_if: opt(word), fwmark: opt(fc.nat(1000)), connect_timeout: secs, retry: fc.nat(10), delay_before_retry: secs, warmup: opt(secs), delay_loop: secs,
  urls: fc.array(fc.record({
    path: fc.stringMatching(/^\/[a-z0-9_./-]{0,12}$/), digest: opt(fc.stringMatching(/^[0-9a-f]{32}$/)),
    status_code: fc.array(fc.tuple(fc.integer({ min: 100, max: 599 }), fc.nat(50)).map(([lo, d]) => [lo, Math.min(599, lo + d)] as [number, number]), { minLength: 1, maxLength: 3 }),
    virtualhost: opt(word),
  }).map((u) => clean({ pos: P, ...u })), { minLength: 1, maxLength: 2 }),
  http_protocol: opt(fc.constantFrom('1.0' as const, '1.0C' as const, '1.1' as const)), virtualhost: opt(word), enable_sni: fc.boolean(), fast_recovery: fc.boolean(),
  misc_path: cmd, misc_timeout: opt(fc.nat(100)), misc_dynamic: fc.boolean(), user: opt(word),
  dns_type: fc.constantFrom('A', 'NS', 'CNAME', 'SOA', 'MX', 'TXT', 'AAAA'), name: word,
}).map((c) => {
  const common = clean({ pos: P, connect_ip: c.connect_ip, connect_port: c.connect_port, bindto: c.bindto, bind_port: c.bind_port, bind_if: c.bind_if, fwmark: c.fwmark, connect_timeout: c.connect_timeout, retry: c.retry, delay_before_retry: c.delay_before_retry, warmup: c.warmup, delay_loop: c.delay_loop });
  switch (c.type) {
    case 'HTTP_GET': case 'SSL_GET':
      return clean({ ...common, type: c.type, urls: c.urls, http_protocol: c.http_protocol, virtualhost: c.virtualhost, enable_sni: c.enable_sni, fast_recovery: c.fast_recovery }) as Checker;
    case 'MISC_CHECK': {
      const { connect_ip: _a, connect_port: _b, bindto: _c, bind_port: _d, bind_if: _e, fwmark: _f, connect_timeout: _g, ...timers } = common;
      return clean({ ...timers, type: c.type, misc_path: c.misc_path, misc_timeout: c.misc_timeout, misc_dynamic: c.misc_dynamic, user: c.user }) as Checker;
    }
    case 'DNS_CHECK':
      return { ...common, type: c.type, dns_type: c.dns_type, name: c.name } as Checker;
    default:
      return { ...common, type: 'TCP_CHECK' } as Checker;
  }
});

const realServerOf = (f: Fam): fc.Arbitrary<RealServer> => fc.record({
  addr: ipOf(f), port: fc.nat(65535), weight: fc.nat(65535), lvs_method: opt(fc.constantFrom('NAT' as const, 'DR' as const, 'TUN' as const)),
  uthreshold: fc.nat(10000), lthreshold: fc.nat(10000), inhibit_on_failure: opt(fc.boolean()), notify_up: opt(cmd), notify_down: opt(cmd),
  alpha: opt(fc.boolean()), virtualhost: opt(word), checkers: fc.array(checkerOf(f), { maxLength: 2 }),
}).map((r) => clean({ pos: P, ...r }));

const vsGroup = fc.record({
  name: word.map((w) => `G_${w}`),
  entries: fc.array(fc.oneof(
    fc.record({ kind: fc.constant('fwmark' as const), fwmark: fc.nat(1000) }),
    fc.record({ kind: fc.constant('addr' as const), addr: ip, port: fc.nat(65535), span: fc.nat(300) }).map(({ span, ...e }) => {
      const o = e.addr.split('.').map(Number);
      const end = Math.min(0xffffffff, (((o[0]! << 24) >>> 0) + (o[1]! << 16) + (o[2]! << 8) + o[3]!) + span);
      return span ? { ...e, addrEnd: [end >>> 24, (end >>> 16) & 255, (end >>> 8) & 255, end & 255].join('.') } : e;
    }),
    // IPv6 ranges within one /112 (the only kind keepalived steps sensibly): the end differs in the last 16 bits.
    fc.record({ kind: fc.constant('addr' as const), net: fc.nat(0xffff), first: fc.nat(0xff00), port: fc.nat(65535), span: fc.nat(255) })
      .map(({ net, first, port, span }) => ({
        kind: 'addr' as const, addr: canonicalIpv6(`2001:db8:${hex(net)}::${hex(first)}`), port,
        ...(span ? { addrEnd: canonicalIpv6(`2001:db8:${hex(net)}::${hex(first + span)}`) } : {}),
      })),
  ).map((e) => ({ pos: P, ...e })), { minLength: 1, maxLength: 3 })
    // keepalived removes a group with IPv4, IPv6 and a fwmark of no family.
    .map((es) => {
      const fams = new Set(es.filter((e) => e.kind === 'addr').map((e) => ((e as { addr: string }).addr.includes(':') ? 6 : 4)));
      return fams.size === 2 ? es.filter((e) => e.kind !== 'fwmark') : es;
    }),
}).map((g) => ({ pos: P, ...g }));

// A service of one family: its address, real and sorry servers (tunnelled ones included, lvsd does not cross families).
const virtualServer = (groups: string[]): fc.Arbitrary<VirtualServer> => fc.constantFrom(4 as const, 6 as const).chain((f) => fc.record({
  key: fc.oneof(
    fc.record({ kind: fc.constant('addr' as const), addr: ipOf(f), port: fc.nat(65535) }),
    // lvsd has no IPv6 fwmark service yet (the control protocol's fwmark key has no family).
    ...(f === 4 ? [fc.record({ kind: fc.constant('fwmark' as const), fwmark: fc.integer({ min: 1, max: 1000 }) })] : []),
    ...(groups.length ? [fc.record({ kind: fc.constant('group' as const), group: fc.constantFrom(...groups) })] : []),
  ),
  protocol: fc.constantFrom('TCP' as const, 'UDP' as const, 'SCTP' as const), lvs_sched: fc.constantFrom(...SCHEDULERS),
  lvs_method: fc.constantFrom('NAT' as const, 'DR' as const, 'TUN' as const), persistence_timeout: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2678400 })),
  persistence_granularity: opt(f === 4 ? fc.constantFrom('255.255.255.0', '255.255.0.0', '255.255.255.255') : fc.constantFrom('48', '64', '128')), persistence_engine: opt(fc.constant('sip')),
  ops: fc.boolean(), sched_flags: fc.subarray(['sh-port', 'sh-fallback', 'mh-port', 'mh-fallback', 'flag-1', 'flag-3']), delay_loop: secs,
  quorum: fc.integer({ min: 1, max: 100 }), hysteresis: fc.nat(10), quorum_up: opt(cmd), quorum_down: opt(cmd),
  sorry_server: opt(fc.record({ addr: ipOf(f), port: fc.nat(65535) })), sorry_server_inhibit: fc.boolean(), alpha: fc.boolean(), omega: fc.boolean(),
  inhibit_on_failure: fc.boolean(), ha_suspend: fc.boolean(), virtualhost: opt(word), real_servers: fc.array(realServerOf(f), { minLength: 1, maxLength: 3 }),
}).map((v) => clean({ pos: P, ...v })));

const model: fc.Arbitrary<KeepalivedConfig> = fc.record({
  global_defs: globalDefs,
  vrrp_scripts: unique(script, (s) => s.name, 3),
  groups: unique(vsGroup, (g) => g.name, 2),
  iNames: unique(word.map((w) => `VI_${w}`), (x) => x, 3),
}).chain(({ global_defs, vrrp_scripts, groups, iNames }) => fc.record({
  instances: fc.tuple(...iNames.map((n, i) => instance(vrrp_scripts.map((s) => s.name)).map((x) => {
    const { auth, ...rest } = x;
    const vi: VrrpInstance = clean({
      pos: P, name: n, virtual_router_id: i + 1, ...rest,
      // keepalived drops auth on VRRPv3 (with a message); canonicalInstance() does the rest.
      authentication: rest.version === 2 ? auth : undefined,
    });
    return vi;
  }))),
  syncGroups: fc.array(fc.record({ name: word.map((w) => `SG_${w}`), group: fc.subarray(iNames), track_interface: fc.array(trackRef, { maxLength: 1 }), track_script: fc.constant([] as TrackScriptRef[]), notify: opt(cmd), notify_master: opt(cmd) }).map((g) => clean({ pos: P, ...g })), { maxLength: 1 }),
  vss: fc.array(virtualServer(groups.map((g) => g.name)), { maxLength: 3 }),
  statics: fc.record({
    static_ipaddress: fc.array(vip, { maxLength: 2 }),
    static_routes: fc.array(fc.tuple(ip, fc.integer({ min: 8, max: 32 }), ip, fc.nat(1000)).map(([d, l, gw, t]) =>
      ({ pos: P, args: [`${d}/${l}`, 'via', gw, 'dev', 'eth0', 'table', String(t + 1)] })), { maxLength: 2 }),
    static_rules: fc.array(fc.tuple(ip, fc.nat(1000), fc.nat(32000)).map(([f, t, p]) =>
      ({ pos: P, args: ['from', f, 'table', String(t + 1), 'priority', String(p)] })), { maxLength: 2 }),
  }),
}).map(({ instances, syncGroups, vss, statics }) => ({
  global_defs: global_defs as KeepalivedConfig['global_defs'], ...statics, vrrp_scripts, vrrp_sync_groups: syncGroups, vrrp_instances: instances,
  virtual_server_groups: groups,
  virtual_servers: vss.map((v) => canonicalVs(v, groups)),
})).map((m) => ({
  ...m,
  vrrp_sync_groups: m.vrrp_sync_groups.filter((g) => g.group.length),
  vrrp_instances: m.vrrp_instances.map((vi) => canonicalInstance(vi, m.global_defs.vrrp_strict)),
})));

/** What keepalived's vrrp_complete_instance() corrects, generated already corrected. */
function canonicalInstance(v: VrrpInstance, strict: boolean): VrrpInstance {
  const vi: VrrpInstance = { ...v };
  const owner = vi.priority === 255;
  if (strict) vi.state = owner ? 'MASTER' : 'BACKUP';
  if (strict) delete vi.authentication;
  if (vi.authentication?.auth_type === 'AH' && vi.state === 'MASTER' && !owner) vi.state = 'BACKUP';
  if (owner || vi.state === 'MASTER') vi.nopreempt = false;
  if (vi.state === 'MASTER' || strict || vi.nopreempt) vi.preempt_delay = 0;
  if (strict) vi.down_timer_adverts = 3;
  if (vi.accept && !owner && strict && vi.version === 2) vi.accept = false;
  if (vi.version === 2) vi.advert_int = Math.max(1, Math.floor(vi.advert_int + 0.5));
  vi.track_interface = vi.track_interface.filter((t) => t.name !== vi.interface);
  return vi;
}

/**
 * What keepalived's check_data.c corrects (with a message) is generated
 * already corrected, so the model the parser returns is the one made here.
 */
function canonicalVs(v: VirtualServer, groups: KeepalivedConfig['virtual_server_groups']): VirtualServer {
  const g = v.key.kind === 'group' ? groups.find((x) => x.name === (v.key as { group: string }).group) : undefined;
  const fwmarkOnly = v.key.kind === 'fwmark' || (!!g && g.entries.every((e) => e.kind === 'fwmark'));
  const out: VirtualServer = { ...v, real_servers: v.real_servers.map((r) => ({ ...r })), ...(v.sorry_server ? { sorry_server: { ...v.sorry_server } } : {}) };
  // A service made only of fwmarks has no protocol of its own; the model says TCP.
  if (fwmarkOnly) out.protocol = 'TCP';
  out.sched_flags = out.sched_flags.filter((f) => !(f.startsWith('sh-') || f.startsWith('mh-')) || f.startsWith(`${out.lvs_sched}-`));
  if (out.ops && !fwmarkOnly && out.protocol !== 'UDP') out.ops = false;
  const zeroPort = (v.key.kind === 'addr' && v.key.port === 0) || !!g?.entries.some((e) => e.kind === 'addr' && !e.port);
  // persistence_granularity alone makes a service persistent (keepalived's pgr_handler).
  if (!out.persistence_timeout && (zeroPort || out.persistence_granularity !== undefined)) out.persistence_timeout = 360;
  // keepalived's vs->af: the address, else the granularity's, else the first real or sorry server that is not tunnelled.
  const fam = (a: string): Fam => (a.includes(':') ? 6 : 4);
  const direct = out.real_servers.find((r) => (r.lvs_method ?? out.lvs_method) !== 'TUN');
  const family = v.key.kind === 'addr' ? fam(v.key.addr)
    : out.persistence_granularity !== undefined ? fam(out.persistence_granularity.includes('.') ? '0.0.0.0' : '::')
      : direct ? fam(direct.addr) : out.sorry_server && out.lvs_method !== 'TUN' ? fam(out.sorry_server.addr) : undefined;
  if (family !== undefined) out.family = family;
  const sum = out.real_servers.reduce((a, r) => a + r.weight, 0);
  if (out.quorum > sum) out.quorum = sum;
  if (out.hysteresis >= out.quorum && (out.hysteresis > 0 || out.quorum > 0)) out.hysteresis = Math.max(0, out.quorum - 1);
  if (v.key.kind !== 'group') {
    const vport = v.key.kind === 'addr' ? v.key.port : 0;
    for (const r of out.real_servers) {
      const nat = (r.lvs_method ?? out.lvs_method) === 'NAT';
      if (nat) { if (v.key.kind === 'addr' && !r.port) r.port = vport; continue; }
      r.port = vport;
    }
    if (out.sorry_server && out.lvs_method !== 'NAT') out.sorry_server.port = vport;
  }
  return out;
}

const errors = (r: { diagnostics: Array<{ severity: string; message: string; line: number }> }) =>
  r.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}: ${d.message}`);

describe('round trip', () => {
  it('keepalived.conf: toKeepalivedConf → parse gives the model back', () => {
    fc.assert(fc.property(model, (m) => {
      const text = toKeepalivedConf(m);
      const r = parseConfigText(text, 'gen.conf');
      expect(errors(r)).toEqual([]);
      expect(stripPositions(r.model)).toEqual(stripPositions(m));
    }), { numRuns: 150 });
  });

  it('YAML and JSON: dumpConfig → parseYamlConfig gives the model back', () => {
    fc.assert(fc.property(model, fc.constantFrom('yaml' as const, 'json' as const), (m, fmt) => {
      const r = parseYamlConfig(dumpConfig(m, fmt), `gen.${fmt}`);
      expect(errors(r)).toEqual([]);
      expect(stripPositions(r.model)).toEqual(stripPositions(m));
    }), { numRuns: 150 });
  });
});

describe('robustness', () => {
  const piece = fc.constantFrom('{', '}', '"', '#', '!', '$X=1', '$X', '${X}', '@a ', '@^a ', 'include ', '*', '[z-a]', '\n', ' ', '\t',
    'vrrp_instance', 'virtual_server', 'real_server', 'HTTP_GET', 'url', 'priority', 'virtual_ipaddress', 'global_defs', '1.2.3.4', '300', '-1', 'fwmark', 'group', '~SEQ');
  it('any text gives a model and diagnostics, never an exception', () => {
    fc.assert(fc.property(fc.array(fc.oneof(piece, fc.string({ maxLength: 6 })), { maxLength: 60 }), (parts) => {
      // Included files are never read: only the parser is on trial here.
      const r = parseConfigText(parts.join(''), '/nonexistent-lvcfg/fuzz.conf', { readFile: () => { throw Object.assign(new Error('fuzz'), { code: 'ENOENT' }); } });
      expect(Array.isArray(r.diagnostics)).toBe(true);
      const y = parseYamlConfig(parts.join(''), 'fuzz.yaml');
      expect(Array.isArray(y.diagnostics)).toBe(true);
    }), { numRuns: 300 });
  });
});
