// keepalived's vrrp_data.c for lvs-keepalived: the config model's
// vrrp_instance, vrrp_script and vrrp_sync_group blocks mapped to what the
// VRRP runtime (scheduler.ts) runs: one state machine configuration per
// instance with its advert fields, receive expectations, VIPs and tracked
// objects. Pure: the caller says which address an interface sends from.
//
// An IPv6 instance (keepalived's family AF_INET6) sends VRRPv3 to ff02::12
// (vrrp_mcast_group6) from the interface's link-local address, carries
// 16-byte addresses, and is matched on receive by family as well as VRID:
// RFC 5798 gives IPv4 and IPv6 virtual routers VRID spaces of their own.
import type { KeepalivedConfig, VrrpInstance as VrrpInstanceModel, VrrpSyncGroup } from '../config/model.js';
import type { UserSpec } from '../core/script-security.js';
import { parseUserSpec } from '../core/script-security.js';
import { ipToU32 } from '../packet/addr.js';
import { canonicalIpv6, ipv6ToBigInt, parseIpv6 } from '../packet/addr6.js';
import type { VrrpFields } from '../packet/vrrp.js';
import { effectiveAdvertIntMs, type InstanceConfig } from './instance.js';
import { authData, type RxExpect } from './validate.js';
import { toVipSpec, type VipSpec } from './vip.js';
import { routeItem, ruleItem, type StaticItem } from './static.js';
import type { ScriptSpec } from './track.js';

/** One tracked object's effect on an instance: weight 0 = FAULT while failing, else a priority delta. */
export interface TrackRef {
  /** `script:NAME` or `if:IFNAME`, as fault reasons name them. */
  id: string;
  weight: number;
  reverse: boolean;
}

export interface InstanceSpec {
  model: VrrpInstanceModel;
  cfg: InstanceConfig;
  ifname: string;
  /** 6: VRRPv3 over IPv6. */
  family: 4 | 6;
  /** Where adverts come from. */
  src: string;
  /** Where adverts go: the multicast group or each unicast peer. */
  dsts: string[];
  unicast: boolean;
  fields: Omit<VrrpFields, 'priority'>;
  expect: RxExpect;
  /** virtual_ipaddress and virtual_ipaddress_excluded. */
  vipSpecs: VipSpec[];
  /** virtual_routes then virtual_rules, as `ip` adds them while MASTER (after the addresses). */
  routeItems: StaticItem[];
  group?: VrrpSyncGroup;
  scripts: (TrackRef & { name: string })[];
  interfaces: (TrackRef & { name: string })[];
}

export interface VrrpData {
  mcastGroup: string;
  /** vrrp_mcast_group6 (ff02::12). */
  mcastGroup6: string;
  instances: InstanceSpec[];
  /** vrrp_scripts some instance tracks, with the user each runs as (absent = script_user). */
  scripts: (ScriptSpec & { user?: UserSpec })[];
  /** What the configuration asks that we cannot do (logged by the caller). */
  warnings: { instance: string; script?: string; msg: string }[];
}

export function vrrpData(
  model: KeepalivedConfig,
  primaryIpv4: (ifname: string) => string | undefined,
  linkLocalIpv6: (ifname: string) => string | undefined = () => undefined,
): VrrpData {
  const gd = model.global_defs;
  const mcastGroup = gd.vrrp_mcast_group4 || '224.0.0.18';
  const mcastGroup6 = gd.vrrp_mcast_group6 || 'ff02::12';
  const warnings: VrrpData['warnings'] = [];
  const scriptsByName = new Map(model.vrrp_scripts.map((s) => [s.name, s]));
  const groupOf = new Map<string, VrrpSyncGroup>();
  for (const g of model.vrrp_sync_groups) for (const n of g.group) groupOf.set(n, g);
  const tracked = new Set<string>();

  const instances = model.vrrp_instances.map((inst): InstanceSpec => {
    const ifname = inst.interface;
    if (!ifname) throw new Error(`vrrp_instance ${inst.name} (${inst.pos.file}:${inst.pos.line}): no interface`);
    const unicast = inst.unicast_peer.length > 0;
    const v6 = inst.family === 6;
    // IPv6: keepalived's ifp->sin6_addr, the interface's link-local address (RFC 5798 §5.1.2.1).
    const src = (unicast ? inst.unicast_src_ip : inst.mcast_src_ip) ?? (v6 ? linkLocalIpv6(ifname) : primaryIpv4(ifname));
    if (!src) {
      throw new Error(`${inst.pos.file}:${inst.pos.line}:${inst.pos.col}: vrrp_instance ${inst.name}: interface ${ifname} has no ${v6 ? 'IPv6 link-local' : 'IPv4'} address to send adverts from`
        + ` — ${v6 ? 'bring the interface up (its link-local address appears once DAD has passed), or give unicast_src_ip/mcast_src_ip' : 'add an address to it, or give unicast_src_ip/mcast_src_ip'}`);
    }
    const version = inst.version;
    const vipSpecs = [...inst.virtual_ipaddress, ...inst.virtual_ipaddress_excluded].map((v) => toVipSpec(v, ifname));
    const vipAddrs = inst.virtual_ipaddress.map((v) => v.addr);
    const pass = inst.authentication?.auth_type === 'PASS' && version === 2 ? inst.authentication.auth_pass : undefined;
    if (inst.authentication?.auth_type === 'AH') warnings.push({ instance: inst.name, msg: 'auth_type AH is not supported: adverts are sent without authentication' });
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
      srcIp: v6 ? ipv6ToBigInt(parseIpv6(src)) : ipToU32(src),
      garpDelayMs: inst.garp_master_delay * 1000,
      garpRepeat: inst.garp_master_repeat,
      garpRefreshMs: inst.garp_master_refresh * 1000,
      garpRefreshRepeat: inst.garp_master_refresh_repeat,
      higherPrioSendAdvert: false,
      lowerPrioNoAdvert: false,
      hasReference: inst.reference_ip.length > 0,
    };
    const adverIntMs = effectiveAdvertIntMs(version, cfg.advertIntMs);
    const fields: Omit<VrrpFields, 'priority'> = version === 2
      ? { version: 2, vrid: cfg.vrid, addrs: vipAddrs, adverInt: adverIntMs / 1000, ...(pass !== undefined ? { authData: authData(pass) } : {}) }
      : { version: 3, ...(v6 ? { family: 6 as const } : {}), vrid: cfg.vrid, addrs: vipAddrs, maxAdverInt: adverIntMs / 10 };
    const peers = inst.unicast_peer.map((p) => ({ minTtl: p.min_ttl ?? 0, maxTtl: p.max_ttl ?? 255, addr: p.addr }));
    const expect: RxExpect = {
      version,
      adverIntSec: adverIntMs / 1000,
      authPass: pass !== undefined ? authData(pass) : undefined,
      vips: v6 ? [] : vipAddrs.map(ipToU32),
      unicast,
      peers: v6 ? [] : peers.map((p) => ({ ...p, addr: ipToU32(p.addr) })),
      mcastGroup: ipToU32(mcastGroup),
      v3ChecksumAsV2: false,
      skipCheckAdvAddr: gd.vrrp_skip_check_adv_addr,
      ...(v6 ? { family: 6 as const, vips6: vipAddrs.map(canonicalIpv6), peers6: peers.map((p) => ({ ...p, addr: canonicalIpv6(p.addr) })) } : {}),
    };
    const group = groupOf.get(inst.name);
    const scripts: InstanceSpec['scripts'] = [];
    for (const ts of [...inst.track_script, ...(group?.track_script ?? [])]) {
      const s = scriptsByName.get(ts.name);
      if (!s) { warnings.push({ instance: inst.name, script: ts.name, msg: 'track_script names no vrrp_script: ignored' }); continue; }
      tracked.add(s.name);
      scripts.push({ name: s.name, id: `script:${s.name}`, weight: ts.weight ?? s.weight, reverse: ts.reverse ?? s.weight_reverse });
    }
    const ifs = [...inst.track_interface, ...(group?.track_interface ?? [])];
    if (!inst.dont_track_primary && !ifs.some((t) => t.name === ifname)) ifs.push({ name: ifname });
    const interfaces = ifs.map((t) => ({ name: t.name, id: `if:${t.name}`, weight: t.weight ?? 0, reverse: t.reverse ?? false }));
    return {
      model: inst, cfg, ifname, family: v6 ? 6 : 4, src, unicast,
      dsts: unicast ? inst.unicast_peer.map((p) => p.addr) : [v6 ? mcastGroup6 : mcastGroup],
      fields, expect, vipSpecs, scripts, interfaces,
      routeItems: [...inst.virtual_routes.map(routeItem), ...inst.virtual_rules.map(ruleItem)],
      ...(group ? { group } : {}),
    };
  });

  const scripts = model.vrrp_scripts.filter((s) => tracked.has(s.name)).map((s) => ({
    name: s.name, script: s.script, intervalMs: s.interval * 1000, timeoutMs: (s.timeout || s.interval) * 1000,
    rise: Math.max(1, s.rise), fall: Math.max(1, s.fall), initFail: s.init_fail,
    ...(s.user !== undefined ? { user: parseUserSpec(s.user) } : {}),
  }));
  return { mcastGroup, mcastGroup6, instances, scripts, warnings };
}
