// A real server of one service (struct ip_vs_dest). The scheduler reads it
// through SchedDest; the engine owns its counters. A dest removed from its
// service stays alive, unavailable, while conns still point at it (the
// kernel's dest trash), so those conns keep forwarding and count correctly.
import { DEST_F_OVERLOAD, type SchedDest } from './sched/scheduler.js';
import type { DestSpec, DestStatus, FwdMethod } from './types.js';
import { Stats } from './stats.js';
import type { Service } from './service.js';
import { ipToU32 } from '../packet/addr.js';
import { formatIpv6, fold6, parseIpv6, readIp6Words } from '../packet/ipv6.js';

export const FWD_MASQ = 0, FWD_ROUTE = 1, FWD_TUNNEL = 2;
export const FWD_CODES: Record<string, number> = { masq: FWD_MASQ, route: FWD_ROUTE, tunnel: FWD_TUNNEL };

export class Dest implements SchedDest {
  /** Engine-wide slot; conns store it. Not reused while any conn refers to the dest. */
  readonly id: number;
  /** IPv4: the address as u32. IPv6: the kernel's fold of it (what sh/dh/mh hash). */
  readonly addr: number;
  /** 4 or 6. */
  readonly af: number;
  /** IPv6 address as four host-order words (null for IPv4), and as bytes for the xmit paths. */
  readonly addr6: Uint32Array | null;
  readonly addr6Bytes: Uint8Array | null;
  /** Identity of the address: the u32 (IPv4) or the canonical text (IPv6). */
  readonly ident: number | string;
  /** destKey() for IPv6 dests, whose folds may collide (sched/common.ts). */
  readonly key6: string | undefined;
  readonly port: number;
  weight = 0;
  activeConns = 0;
  inactConns = 0;
  persistConns = 0;
  flags = 0;
  uThreshold = 0;
  lThreshold = 0;
  fwd = FWD_ROUTE;
  /** TUN outer source address (u32), resolved by the io layer from routing. */
  tunSource = 0;
  /** IPv6 TUN outer source (16 bytes), or null while there is no route. */
  tunSource6: Uint8Array | null = null;
  /** In its service's list (IP_VS_DEST_F_AVAILABLE). */
  available = true;
  /** Conns and templates bound to this dest. */
  refcnt = 0;
  spec: DestSpec;
  readonly stats = new Stats();

  constructor(id: number, readonly svc: Service, spec: DestSpec, tunSource: number, tunSource6: Uint8Array | null = null) {
    this.id = id;
    const b = spec.addr.includes(':') ? parseIpv6(spec.addr) : null;
    if (b !== null) {
      this.af = 6;
      this.addr6Bytes = b;
      this.addr6 = new Uint32Array(4);
      readIp6Words(b, 0, this.addr6);
      this.addr = fold6(this.addr6);
      this.ident = formatIpv6(b);
      this.key6 = `${this.ident}|${spec.port}`;
    } else {
      this.af = 4;
      this.addr6 = null;
      this.addr6Bytes = null;
      this.addr = ipToU32(spec.addr);
      this.ident = this.addr;
      this.key6 = undefined;
    }
    this.port = spec.port;
    this.spec = spec;
    this.apply(spec, tunSource, tunSource6);
  }

  /** ip_vs_edit_dest() / revival from the trash. */
  update(spec: DestSpec, tunSource: number, tunSource6: Uint8Array | null = this.tunSource6): void {
    this.apply(spec, tunSource, tunSource6);
  }

  private apply(spec: DestSpec, tunSource: number, tunSource6: Uint8Array | null): void {
    // __ip_vs_update_dest(): only a removed or raised upper threshold lifts
    // the overload at once; otherwise the next unbind decides.
    if (spec.uThreshold === 0 || spec.uThreshold > this.uThreshold) this.flags &= ~DEST_F_OVERLOAD;
    this.spec = { ...spec };
    this.weight = spec.weight;
    this.uThreshold = spec.uThreshold;
    this.lThreshold = spec.lThreshold;
    this.fwd = FWD_CODES[spec.fwd]!;
    this.tunSource = tunSource >>> 0;
    this.tunSource6 = tunSource6;
  }

  /** ip_vs_bind_dest()'s threshold check. */
  checkOverloadOnBind(): void {
    if (this.uThreshold !== 0 && this.activeConns + this.inactConns >= this.uThreshold) this.flags |= DEST_F_OVERLOAD;
  }

  /** ip_vs_unbind_dest()'s rule for clearing the overload bit. */
  checkOverloadOnUnbind(): void {
    const total = this.activeConns + this.inactConns;
    if (this.lThreshold !== 0) {
      if (total < this.lThreshold) this.flags &= ~DEST_F_OVERLOAD;
    } else if (this.uThreshold !== 0) {
      if (total * 4 < this.uThreshold * 3) this.flags &= ~DEST_F_OVERLOAD;
    } else {
      this.flags &= ~DEST_F_OVERLOAD;
    }
  }

  status(): DestStatus {
    return {
      ...this.spec,
      activeConns: this.activeConns,
      inactConns: this.inactConns,
      persistConns: this.persistConns,
      stats: this.stats.snapshot(),
      rates: this.stats.rates(),
    };
  }
}

export function fwdName(code: number): FwdMethod {
  return code === FWD_MASQ ? 'masq' : code === FWD_TUNNEL ? 'tunnel' : 'route';
}
