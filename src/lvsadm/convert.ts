// From ipvsadm's parsed command entry to the control protocol's rule model.
import type { DestSpec, SchedulerName, ServiceKey, ServiceSpec, SyncDaemonConfig } from '../ipvs/types.js';
import { LvsadmExit, type CommandEntry, type DestEntry, type SvcEntry } from './args.js';
import { schedFlagNames } from './format-list.js';
import { canonicalIpv6 } from '../packet/ipv6.js';

const TUN_TYPES = ['ipip', 'gue', 'gre'] as const;
const TUN_CSUMS = ['nocsum', 'csum', 'remcsum'] as const;

/** An address as lvsd keeps it: IPv6 in inet_ntop's form (what the kernel would hand ipvsadm back). */
function addrOf(af: 4 | 6, addr: string): string {
  if (af !== 6) return addr;
  const c = canonicalIpv6(addr);
  if (c === null) throw new LvsadmExit(2, `illegal IPv6 address ${addr}\n`);
  return c;
}

export function serviceKey(svc: SvcEntry): ServiceKey {
  if (svc.fwmark) return svc.af === 6 ? { kind: 'fwmark', fwmark: svc.fwmark, af: 6 } : { kind: 'fwmark', fwmark: svc.fwmark };
  // Only reached with a service option given, which always sets the protocol.
  return { kind: 'addr', protocol: svc.protocol === 'ip' ? 'tcp' : svc.protocol, addr: addrOf(svc.af, svc.addr), port: svc.port };
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
  const d: DestSpec = {
    addr: addrOf(dest.af, dest.addr), port: dest.port, fwd: dest.fwd, weight: dest.weight,
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
