// A virtual service (struct ip_vs_service): its key, scheduler, persistence
// settings, its available dests in list order (the order the scheduler
// sees), and the dests removed while conns still used them (the trash, from
// which re-adding the same addr:port revives a dest with its counters).
import { ipToU32, maskToPrefix, prefixToMask } from '../packet/addr.js';
import { canonicalIpv6, fold6, ip6Words } from '../packet/ipv6.js';
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

/** An address of the rule model is IPv6 when it has a colon (the engine checks it parses). */
export function isV6Addr(addr: string): boolean {
  return addr.includes(':');
}

/**
 * The Map key for any ServiceKey: IPv4 addr keys are numbers ≥ 0, fwmarks
 * negative (IPv6 fwmarks below -2^32), IPv6 addr keys strings of the
 * canonical address. Throws RangeError on an address that does not parse.
 */
export function serviceKeyId(k: ServiceKey): number | string {
  if (k.kind === 'fwmark') return k.af === 6 ? -1 - k.fwmark - 4294967296 : -1 - k.fwmark;
  if (isV6Addr(k.addr)) {
    const c = canonicalIpv6(k.addr);
    if (c === null) throw new RangeError(`not an IPv6 address: ${k.addr}`);
    return `${PROTO_NUM[k.protocol]}/${c}/${k.port}`;
  }
  return addrKey(PROTO_NUM[k.protocol]!, ipToU32(k.addr), k.port);
}

export function describeKey(k: ServiceKey): string {
  if (k.kind === 'fwmark') return k.af === 6 ? `FWM ${k.fwmark} IPv6` : `FWM ${k.fwmark}`;
  return isV6Addr(k.addr) ? `${k.protocol.toUpperCase()} [${k.addr}]:${k.port}` : `${k.protocol.toUpperCase()} ${k.addr}:${k.port}`;
}

/** -M for a service: an IPv4 netmask as u32, or an IPv6 prefix length (1..128). Throws RangeError when invalid. */
export function parseNetmask(netmask: string, v6: boolean): number {
  if (!v6) return prefixToMask(maskToPrefix(netmask));
  if (!/^\d{1,3}$/.test(netmask)) throw new RangeError(`not an IPv6 prefix length: ${netmask}`);
  const n = Number(netmask);
  if (n < 1 || n > 128) throw new RangeError(`not an IPv6 prefix length: ${netmask}`);
  return n;
}

export class Service {
  readonly key: ServiceKey;
  readonly proto: number;
  readonly vaddr: number;
  readonly vport: number;
  readonly fwmark: number;
  /** 4 or 6 (svc->af). */
  readonly af: number;
  /** IPv6 VIP as four host-order words; null for IPv4 and fwmark services. `vaddr` then holds its fold (fold6). */
  readonly vaddr6: Uint32Array | null;
  spec: ServiceSpec;
  scheduler: Scheduler;
  schedFlags: SchedFlags = { fallback: false, port: false };
  /** Persistence timeout in ms; 0 = not persistent. */
  persistMs = 0;
  /** -M as u32 (IPv4). */
  netmask = 0xffffffff;
  /** -M as a prefix length (IPv6). */
  prefix6 = 128;
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
      if (isV6Addr(spec.key.addr)) {
        this.af = 6;
        this.vaddr6 = ip6Words(spec.key.addr);
        this.vaddr = fold6(this.vaddr6);
      } else {
        this.af = 4;
        this.vaddr6 = null;
        this.vaddr = ipToU32(spec.key.addr);
      }
      this.vport = spec.key.port;
      this.fwmark = 0;
    } else {
      this.proto = 0;
      this.af = spec.key.af === 6 ? 6 : 4;
      this.vaddr6 = null;
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
    if (this.af === 6) this.prefix6 = parseNetmask(spec.netmask, true);
    else this.netmask = parseNetmask(spec.netmask, false);
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

  /** The dest at an address (Dest.ident: u32 for IPv4, canonical text for IPv6) and port. */
  findDest(ident: number | string, port: number): Dest | undefined {
    for (const d of this.dests) if (d.ident === ident && d.port === port) return d;
    return undefined;
  }

  /** Whether the IPv6 VIP is the one at w[o…). */
  isVaddr6(w: Uint32Array, o: number): boolean {
    const v = this.vaddr6;
    return v !== null && v[0] === w[o] && v[1] === w[o + 1] && v[2] === w[o + 2] && v[3] === w[o + 3];
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
