// keepalived's ipvswrapper.c (ipvs_set_srule / ipvs_set_drule): virtual_server
// blocks become lvsd services and real servers lvsd dests. Which real servers
// are in, at what weight, and when the sorry server stands in is not decided
// here: that is check/real-server-state.ts's (ipwrapper.c's) rule, and the
// mapping takes its verdict.
import { ipToU32, u32ToIp } from '../packet/addr.js';
import { formatIpv6, parseIpv6 } from '../packet/addr6.js';
import { VirtualServerState } from '../check/index.js';
import type { DestSpec, FwdMethod, Protocol, Ruleset, SchedFlag, SchedulerName, ServiceKey, ServiceRules } from '../ipvs/types.js';
import { SCHED_FLAGS } from '../ipvs/types.js';
import type { KeepalivedConfig, LvsMethod, RealServer, VirtualServer } from '../config/index.js';
import { planVirtualServers, rsKey, rsPort, vsPort, type VsPlan } from './check-data.js';

/** IPVS's weight field is 16 bits wide; keepalived's larger weights are clamped. */
const IPVS_WEIGHT_MAX = 65535;

const FWD: Record<LvsMethod, FwdMethod> = { NAT: 'masq', DR: 'route', TUN: 'tunnel' };

/** ipvs_set_drule: one dest, its weight to be given by the checks' verdict. */
function destSpec(addr: string, port: number, m: LvsMethod, u: number, l: number): Omit<DestSpec, 'weight'> {
  return { addr, port, fwd: FWD[m], uThreshold: u, lThreshold: l, ...(m === 'TUN' ? { tunType: 'ipip' as const } : {}) };
}

/** Every dest a virtual_server may hold, keyed as its checks name them (check-data.ts's rsKey). */
function destSpecs(vs: VirtualServer): Map<string, Omit<DestSpec, 'weight'>> {
  const out = new Map<string, Omit<DestSpec, 'weight'>>();
  for (const rs of vs.real_servers) {
    const port = rsPort(rs, vs);
    out.set(rsKey(rs, port, vs), destSpec(rs.addr, port, rs.lvs_method ?? vs.lvs_method, rs.uthreshold, rs.lthreshold));
  }
  if (vs.sorry_server) {
    const port = vs.sorry_server.port || vsPort(vs);
    const key = rsKey(vs.sorry_server, port, vs);
    // A sorry server that is also a real server shares its dest (keepalived uses one IPVS dest for it).
    if (!out.has(key)) out.set(key, destSpec(vs.sorry_server.addr, port, vs.lvs_method, 0, 0));
  }
  return out;
}

const isV6 = (a: string): boolean => a.includes(':');

/**
 * The addresses of a group entry, as ipvswrapper.c's ipvs_group_range_cmd
 * adds them: IPv4 through the whole address; IPv6 through the last 16 bits
 * only, from the start's to the end's, wrapping at ffff (so `ae00::2-9` is
 * ae00::2 … ae00::9, and a /64 is the 65536 addresses of its last 16 bits).
 */
export function groupAddresses(addr: string, addrEnd?: string): string[] {
  if (!isV6(addr)) {
    const start = ipToU32(addr);
    const end = addrEnd !== undefined ? ipToU32(addrEnd) : start;
    const out: string[] = [];
    for (let a = start; a <= end; a++) out.push(u32ToIp(a >>> 0));
    return out;
  }
  const a = parseIpv6(addr);
  if (addrEnd === undefined) return [formatIpv6(a)];
  const e = parseIpv6(addrEnd);
  const last = (e[14]! << 8) | e[15]!;
  const out: string[] = [];
  for (let w = (a[14]! << 8) | a[15]!; ; w = (w + 1) & 0xffff) {
    a[14] = w >>> 8; a[15] = w & 0xff;
    out.push(formatIpv6(a));
    if (w === last) break;
  }
  return out;
}

/** The IPVS services one virtual_server stands for: a group expands to one per address (of each range) and fwmark. */
function serviceKeys(vs: VirtualServer, model: KeepalivedConfig): ServiceKey[] {
  const protocol = vs.protocol.toLowerCase() as Protocol;
  if (vs.key.kind === 'addr') return [{ kind: 'addr', protocol, addr: vs.key.addr, port: vs.key.port }];
  if (vs.key.kind === 'fwmark') return [{ kind: 'fwmark', fwmark: vs.key.fwmark }];
  const name = vs.key.group;
  const group = model.virtual_server_groups.find((g) => g.name === name);
  const out: ServiceKey[] = [];
  for (const e of group?.entries ?? []) {
    if (e.kind === 'fwmark') { out.push({ kind: 'fwmark', fwmark: e.fwmark! }); continue; }
    // A range is a service per address, as keepalived adds them to IPVS.
    for (const addr of groupAddresses(e.addr!, e.addrEnd)) out.push({ kind: 'addr', protocol, addr, port: e.port ?? 0 });
  }
  return out;
}

/** An address service's family; a fwmark service is IPv4 (the control protocol has no IPv6 fwmark service). */
const keyFamily = (k: ServiceKey): 4 | 6 => (k.kind === 'addr' && isV6(k.addr) ? 6 : 4);

/**
 * ipvsadm's -M: a dotted mask for IPv4, a prefix length for IPv6 (the
 * persistence_granularity of that family, else the host's: /32 or /128).
 */
function netmaskFor(vs: VirtualServer, family: 4 | 6): string {
  const g = vs.persistence_granularity;
  if (g !== undefined && g.includes('.') === (family === 4)) return g;
  return family === 6 ? '128' : '255.255.255.255';
}

/** ipvs_set_srule: the services of one virtual_server, without dests. */
function serviceRules(vs: VirtualServer, model: KeepalivedConfig): Omit<ServiceRules, 'dests'>[] {
  return serviceKeys(vs, model).map((key) => ({
    key,
    scheduler: vs.lvs_sched as SchedulerName,
    persistence: vs.persistence_timeout,
    netmask: netmaskFor(vs, keyFamily(key)),
    ops: vs.ops,
    schedFlags: SCHED_FLAGS.filter((f) => vs.sched_flags.includes(f)) as SchedFlag[],
    ...(vs.persistence_engine ? { pe: vs.persistence_engine } : {}),
  }));
}

/**
 * The services lvs-keepalived wants in lvsd now: each plan's services with
 * the dests its checks hold (`destsOf`: key → weight, 0 = quiesced).
 */
export function desiredRuleset(model: KeepalivedConfig, plans: readonly VsPlan[], destsOf: (plan: VsPlan) => ReadonlyMap<string, number>): Ruleset {
  const services: ServiceRules[] = [];
  for (const plan of plans) {
    const specs = destSpecs(plan.vs);
    const dests: DestSpec[] = [];
    for (const [key, weight] of destsOf(plan)) {
      const d = specs.get(key);
      if (d) dests.push({ ...d, weight: Math.min(weight, IPVS_WEIGHT_MAX) });
    }
    // A group of both families: each service takes the dests of its own family (keepalived hands the kernel
    // the others too, and the kernel refuses them); a tunnelled dest may cross (the kernel's IPVS does that).
    for (const s of serviceRules(plan.vs, model)) {
      const fam = keyFamily(s.key);
      const mine = dests.filter((d) => d.fwd === 'tunnel' || (isV6(d.addr) ? 6 : 4) === fam);
      services.push({ ...s, dests: mine.map((d) => ({ ...d })) });
    }
  }
  return { services };
}

/** What the checkers think of a real server: its weight now (0 = failed, kept by inhibit_on_failure), or null = failed. */
export type AliveFn = (rs: RealServer, vs: VirtualServer) => number | null;

/** Every real server at its configured weight: what a start with all checkers passing (or none at all) gives. */
export const allAlive: AliveFn = (rs) => rs.weight;

/**
 * The whole ruleset for `model` given one verdict per real server, as the
 * checks would hold it right after start: the verdicts go through
 * VirtualServerState, so quorum, hysteresis and the sorry server follow the
 * one rule the daemon runs.
 */
export function toRuleset(model: KeepalivedConfig, alive: AliveFn = allAlive): Ruleset {
  return desiredRuleset(model, planVirtualServers(model), (plan) => {
    const realServers = plan.vs.real_servers.map((rs, i) => {
      const w = alive(rs, plan.vs);
      return {
        key: plan.checks.realServers[i]!.key,
        weight: w ?? rs.weight,
        inhibitOnFailure: w === 0,
        // One checker standing for the verdict: a failed one starts down (alpha).
        checkers: [{ id: 'verdict', alpha: w === null || w === 0 }],
      };
    });
    const state = new VirtualServerState({ ...plan.checks, realServers });
    state.init();
    return state.dests();
  });
}
