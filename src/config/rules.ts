// virtual_server blocks → the lvsd rule model, as keepalived's ipvswrapper
// turns them into IPVS services and dests. Liveness is not decided here:
// the caller passes what the checkers currently think of each real server.

import { ipToU32, u32ToIp } from '../packet/addr.js';
import type { DestSpec, FwdMethod, Protocol, Ruleset, SchedFlag, SchedulerName, ServiceKey, ServiceRules } from '../ipvs/types.js';
import { SCHED_FLAGS } from '../ipvs/types.js';
import type { KeepalivedConfig, LvsMethod, RealServer, VirtualServer } from './model.js';

/** The weight a real server gets now: a number (0 = inhibited), or null to leave it out. */
export type AliveFn = (rs: RealServer, vs: VirtualServer) => number | null;

const FWD: Record<LvsMethod, FwdMethod> = { NAT: 'masq', DR: 'route', TUN: 'tunnel' };

export interface ToRulesetOptions {
  alive?: AliveFn;
}

/** Every real server at its configured weight: what a start with all checkers passing (or none at all) gives. */
export const allAlive: AliveFn = (rs) => rs.weight;

export function toRuleset(model: KeepalivedConfig, opts: ToRulesetOptions | AliveFn = {}): Ruleset {
  const alive = typeof opts === 'function' ? opts : opts.alive ?? allAlive;
  const services: ServiceRules[] = [];
  for (const vs of model.virtual_servers) {
    const keys = serviceKeys(vs, model);
    const dests: DestSpec[] = [];
    for (const rs of vs.real_servers) {
      const w = alive(rs, vs);
      if (w === null) continue;
      dests.push(dest(rs.addr, rs.port || vsPort(vs), rs.lvs_method ?? vs.lvs_method, Math.min(w, 65535), rs.uthreshold, rs.lthreshold));
    }
    // keepalived's quorum is the least total weight of live real servers; below
    // it the live ones are pulled and the sorry server takes their place.
    const liveWeight = dests.reduce((sum, d) => sum + d.weight, 0);
    if (vs.sorry_server && (liveWeight < vs.quorum || dests.length === 0)) {
      dests.length = 0;
      dests.push(dest(vs.sorry_server.addr, vs.sorry_server.port || vsPort(vs), vs.lvs_method, 1, 0, 0));
    }
    for (const key of keys) {
      services.push({
        key,
        scheduler: vs.lvs_sched as SchedulerName,
        persistence: vs.persistence_timeout,
        netmask: vs.persistence_granularity ?? '255.255.255.255',
        ops: vs.ops,
        schedFlags: SCHED_FLAGS.filter((f) => vs.sched_flags.includes(f)) as SchedFlag[],
        ...(vs.persistence_engine ? { pe: vs.persistence_engine } : {}),
        dests: dests.map((d) => ({ ...d })),
      });
    }
  }
  return { services };
}

function vsPort(vs: VirtualServer): number {
  return vs.key.kind === 'addr' ? vs.key.port : 0;
}

function dest(addr: string, port: number, m: LvsMethod, weight: number, u: number, l: number): DestSpec {
  return { addr, port, fwd: FWD[m], weight, uThreshold: u, lThreshold: l, ...(m === 'TUN' ? { tunType: 'ipip' as const } : {}) };
}

/** The IPVS services one virtual_server stands for: a group expands to one per address (of each range) and fwmark. */
export function serviceKeys(vs: VirtualServer, model: KeepalivedConfig): ServiceKey[] {
  const protocol = vs.protocol.toLowerCase() as Protocol;
  if (vs.key.kind === 'addr') return [{ kind: 'addr', protocol, addr: vs.key.addr, port: vs.key.port }];
  if (vs.key.kind === 'fwmark') return [{ kind: 'fwmark', fwmark: vs.key.fwmark }];
  const name = vs.key.group;
  const group = model.virtual_server_groups.find((g) => g.name === name);
  const out: ServiceKey[] = [];
  for (const e of group?.entries ?? []) {
    if (e.kind === 'fwmark') { out.push({ kind: 'fwmark', fwmark: e.fwmark! }); continue; }
    const start = ipToU32(e.addr!);
    const end = e.addrEnd !== undefined ? ipToU32(e.addrEnd) : start;
    // A range is a service per address, as keepalived adds them to IPVS.
    for (let a = start; a <= end; a++) out.push({ kind: 'addr', protocol, addr: u32ToIp(a >>> 0), port: e.port ?? 0 });
  }
  return out;
}
