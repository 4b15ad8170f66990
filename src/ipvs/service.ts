// A virtual service (struct ip_vs_service): its key, scheduler, persistence
// settings, its available dests in list order (the order the scheduler
// sees), and the dests removed while conns still used them (the trash, from
// which re-adding the same addr:port revives a dest with its counters).
import { ipToU32, maskToPrefix, prefixToMask } from '../packet/addr.js';
import type { Scheduler, SchedFlags } from './sched/scheduler.js';
import type { Dest } from './dest.js';
import { Stats } from './stats.js';
import type { ServiceKey, ServiceSpec, ServiceStatus } from './types.js';

export const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

/** Numeric identity of an addr service (proto, vaddr, vport) that fits a double exactly. */
export function addrKey(proto: number, vaddr: number, vport: number): number {
  const p = proto === 6 ? 0 : proto === 17 ? 1 : 2;
  return (p * 4294967296 + vaddr) * 65536 + vport;
}

/** The Map key for any ServiceKey: addr keys are ≥ 0, fwmarks negative. */
export function serviceKeyId(k: ServiceKey): number {
  if (k.kind === 'fwmark') return -1 - k.fwmark;
  return addrKey(PROTO_NUM[k.protocol]!, ipToU32(k.addr), k.port);
}

export function describeKey(k: ServiceKey): string {
  return k.kind === 'fwmark' ? `FWM ${k.fwmark}` : `${k.protocol.toUpperCase()} ${k.addr}:${k.port}`;
}

export class Service {
  readonly key: ServiceKey;
  readonly proto: number;
  readonly vaddr: number;
  readonly vport: number;
  readonly fwmark: number;
  spec: ServiceSpec;
  scheduler: Scheduler;
  schedFlags: SchedFlags = { fallback: false, port: false };
  /** Persistence timeout in ms; 0 = not persistent. */
  persistMs = 0;
  /** -M as u32. */
  netmask = 0xffffffff;
  ops = false;
  /** Available dests, in the order they were added. */
  dests: Dest[] = [];
  /** Removed dests that conns still reference. */
  trash: Dest[] = [];
  readonly stats = new Stats();

  constructor(spec: ServiceSpec, scheduler: Scheduler) {
    this.key = spec.key;
    if (spec.key.kind === 'addr') {
      this.proto = PROTO_NUM[spec.key.protocol]!;
      this.vaddr = ipToU32(spec.key.addr);
      this.vport = spec.key.port;
      this.fwmark = 0;
    } else {
      this.proto = 0;
      this.vaddr = 0;
      this.vport = 0;
      this.fwmark = spec.key.fwmark;
    }
    this.spec = spec;
    this.scheduler = scheduler;
    this.apply(spec, scheduler);
  }

  apply(spec: ServiceSpec, scheduler: Scheduler): void {
    this.spec = { ...spec, schedFlags: [...spec.schedFlags] };
    this.persistMs = spec.persistence * 1000;
    this.netmask = prefixToMask(maskToPrefix(spec.netmask));
    this.ops = spec.ops;
    const f = spec.schedFlags;
    this.schedFlags = {
      fallback: f.includes('sh-fallback') || f.includes('mh-fallback'),
      port: f.includes('sh-port') || f.includes('mh-port'),
    };
    if (scheduler !== this.scheduler) this.scheduler = scheduler;
    this.scheduler.update(this.dests, this.schedFlags);
  }

  /** Tell the scheduler the dest list or a weight changed (ip_vs_sched.c's update hook). */
  resched(): void {
    this.scheduler.update(this.dests, this.schedFlags);
  }

  findDest(addr: number, port: number): Dest | undefined {
    for (const d of this.dests) if (d.addr === addr && d.port === port) return d;
    return undefined;
  }

  status(): ServiceStatus {
    return {
      ...this.spec,
      schedFlags: [...this.spec.schedFlags],
      stats: this.stats.snapshot(),
      rates: this.stats.rates(),
      dests: this.dests.map((d) => d.status()),
    };
  }
}
