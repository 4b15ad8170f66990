// From ipvsadm's parsed command entry to the control protocol's rule model.
import type { DestSpec, SchedulerName, ServiceKey, ServiceSpec, SyncDaemonConfig } from '../ipvs/types.js';
import { LvsadmExit, type CommandEntry, type DestEntry, type SvcEntry } from './args.js';
import { schedFlagNames } from './format-list.js';

const TUN_TYPES = ['ipip', 'gue', 'gre'] as const;
const TUN_CSUMS = ['nocsum', 'csum', 'remcsum'] as const;

/** lvsd's rule model is IPv4 only; libipvs's wording for the refusal. */
function noIpv6(): never {
  throw new LvsadmExit(255, 'Operation not supported with IPv6\n');
}

export function serviceKey(svc: SvcEntry): ServiceKey {
  if (svc.af === 6) noIpv6();
  if (svc.fwmark) return { kind: 'fwmark', fwmark: svc.fwmark };
  // Only reached with a service option given, which always sets the protocol.
  return { kind: 'addr', protocol: svc.protocol === 'ip' ? 'tcp' : svc.protocol, addr: svc.addr, port: svc.port };
}

export function serviceSpec(svc: SvcEntry): ServiceSpec {
  const spec: ServiceSpec = {
    key: serviceKey(svc),
    scheduler: svc.sched as SchedulerName,
    persistence: svc.persistent ? svc.timeout : 0,
    netmask: svc.netmask,
    ops: svc.ops,
    schedFlags: schedFlagNames(svc.sched, svc.schedBits),
  };
  if (svc.pe) spec.pe = svc.pe;
  return spec;
}

export function destSpec(dest: DestEntry): DestSpec {
  if (dest.af === 6) noIpv6();
  const d: DestSpec = {
    addr: dest.addr, port: dest.port, fwd: dest.fwd, weight: dest.weight,
    uThreshold: dest.uThreshold, lThreshold: dest.lThreshold,
  };
  if (dest.fwd === 'tunnel') {
    d.tunType = TUN_TYPES[dest.tunType];
    if (dest.tunType === 1) d.tunPort = dest.tunPort;
    if (dest.tunType !== 0) d.tunCsum = TUN_CSUMS[dest.tunFlags] ?? 'nocsum';
  }
  return d;
}

export function daemonConfig(ce: CommandEntry): SyncDaemonConfig {
  const d = ce.daemon;
  const out: SyncDaemonConfig = { state: d.state ?? 'master', mcastIfn: d.mcastIfn, syncid: d.syncid };
  if (d.maxlen) out.maxlen = d.maxlen;
  if (d.group) out.group = d.group;
  if (d.port) out.port = d.port;
  if (d.ttl) out.ttl = d.ttl;
  return out;
}
