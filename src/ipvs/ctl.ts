// The control operations (the kernel's ip_vs_ctl.c): services and dests
// added, edited and removed one at a time or as one atomic ruleset,
// timeouts, listings, counters and --trace. Each validates first and throws
// ControlError with the errno ip_vs_ctl.c returns:
// EEXIST (duplicate service/dest), ESRCH (no such service), ENOENT (unknown
// scheduler or --pe, no such dest), ERANGE (l_threshold > u_threshold),
// EINVAL (bad address/port/weight/netmask, zero port without persistence,
// -o without UDP), EOPNOTSUPP (sctp, local forwarding, gue/gre tunnels).
// replace() validates the whole ruleset before changing anything.
import { ipToU32, isIpv4, maskToPrefix, u32ToIp } from '../packet/addr.js';
import { createScheduler, isScheduler } from './sched/index.js';
import type { Scheduler } from './sched/scheduler.js';
import type {
  ConnEntry, DestSpec, EngineInfo, Protocol, Ruleset, ServiceKey, ServiceRules, ServiceSpec, ServiceStatus, StatsSnapshot, Timeouts,
} from './types.js';
import { TICK_MS } from './conn.js';
import { Dest, FWD_MASQ, FWD_TUNNEL, fwdName } from './dest.js';
import { Service, describeKey, serviceKeyId } from './service.js';
import { TCP_S_ESTABLISHED, TCP_S_FIN_WAIT, TCP_STATE_NAMES } from './proto-tcp.js';
import { UDP_STATE_NAME } from './proto-udp.js';
import { DROP_REASONS, IGNORE_REASONS } from './drops.js';
import { ControlError, type ErrorCode } from './errors.js';
import type { IpvsState } from './state.js';
import { type IpvsCore, templateNet, templatePort } from './core.js';
import { IPIP_HLEN } from './xmit/tun.js';
import { SYNC_IN_RESULTS, type SyncConn, type SyncInResult, type SyncParams, validateSyncParams } from './sync.js';

const ENGINE_VERSION = '1.2.1';
/** Schedulers whose pick is a pure function of the dests and the flow (trace can ask them). */
const PURE_SCHEDULERS = new Set(['lc', 'wlc', 'sed', 'nq', 'sh', 'dh', 'mh', 'fo', 'ovf']);
const PROTO_NAME: Record<number, Protocol | 'ip'> = { 0: 'ip', 6: 'tcp', 17: 'udp', 132: 'sctp' };

function err(code: ErrorCode, message: string): ControlError {
  return new ControlError(code, message);
}

export interface DestExtra {
  /** TUN outer source address, resolved by the io layer from routing. */
  tunSource?: number;
}

export interface TraceResult {
  dest?: DestSpec;
  reason: string;
}

export interface InterceptKeys {
  services: { protocol: Protocol; vaddr: number; vport: number }[];
  natDests: { protocol: Protocol; raddr: number; rport: number }[];
  /** The marks of the fwmark services: packets carrying one reach the engine through the io layer's NFQUEUE path. */
  fwmarks: number[];
}

interface PlannedDest { spec: DestSpec; addr: number; tunSource: number }
interface PlannedService { spec: ServiceRules; id: number; dests: PlannedDest[] }

export class IpvsCtl {
  constructor(protected readonly st: IpvsState, protected readonly core: IpvsCore) {}

  addService(s: ServiceSpec): void {
    const plan = this.checkService(s);
    if (this.st.services.has(plan.id)) throw err('EEXIST', 'Service already exists');
    this.installService(s, plan.id, this.makeScheduler(s));
  }

  editService(s: ServiceSpec): void {
    const plan = this.checkService(s);
    const svc = this.st.services.get(plan.id);
    if (svc === undefined) throw err('ESRCH', 'No such service');
    const sched = svc.spec.scheduler === s.scheduler ? svc.scheduler : this.makeScheduler(s);
    svc.apply(s, sched);
  }

  delService(k: ServiceKey): void {
    const id = this.keyId(k);
    const svc = this.st.services.get(id);
    if (svc === undefined) throw err('ESRCH', 'No such service');
    this.unlinkService(svc, id);
  }

  addDest(k: ServiceKey, d: DestSpec, extra: DestExtra = {}): void {
    const svc = this.findService(k, 'Service not defined');
    const addr = this.checkDest(d);
    if (svc.findDest(addr, d.port) !== undefined) throw err('EEXIST', 'Destination already exists');
    this.installDest(svc, d, addr, extra.tunSource ?? 0);
    svc.resched();
  }

  editDest(k: ServiceKey, d: DestSpec, extra: DestExtra = {}): void {
    const svc = this.findService(k, 'Service not defined');
    const addr = this.checkDest(d);
    const dest = svc.findDest(addr, d.port);
    if (dest === undefined) throw err('ENOENT', 'No such destination');
    this.updateDest(dest, d, extra.tunSource ?? dest.tunSource);
    svc.resched();
  }

  delDest(k: ServiceKey, addr: string, port: number): void {
    const svc = this.findService(k, 'Service not defined');
    if (!isIpv4(addr)) throw err('EINVAL', `Invalid real server address: ${addr}`);
    const dest = svc.findDest(ipToU32(addr), port);
    if (dest === undefined) throw err('ENOENT', 'No such destination');
    this.unlinkDest(svc, dest);
    svc.resched();
  }

  flush(): void {
    for (const [id, svc] of [...this.st.services]) this.unlinkService(svc, id);
  }

  zero(k?: ServiceKey): void {
    if (k === undefined) {
      for (const svc of this.st.services.values()) this.zeroService(svc);
      this.st.totStats.zero();
      return;
    }
    const svc = this.st.services.get(this.keyId(k));
    if (svc === undefined) throw err('ESRCH', 'No such service');
    this.zeroService(svc);
  }

  setTimeouts(t: Partial<Timeouts>): void {
    for (const [name, v] of Object.entries(t)) {
      if (v === undefined) continue;
      if (!Number.isInteger(v) || v < 0 || v > 2147483) throw err('EINVAL', `Invalid ${name} timeout: ${v}`);
    }
    const st = this.st;
    if (t.tcp) st.tcpTimeouts[TCP_S_ESTABLISHED] = t.tcp;
    if (t.tcpfin) st.tcpTimeouts[TCP_S_FIN_WAIT] = t.tcpfin;
    if (t.udp) st.udpTimeout = t.udp;
    st.recomputeTimeouts();
  }

  getTimeouts(): Timeouts {
    const st = this.st;
    return { tcp: st.tcpTimeouts[TCP_S_ESTABLISHED]!, tcpfin: st.tcpTimeouts[TCP_S_FIN_WAIT]!, udp: st.udpTimeout };
  }

  /** TUN path MTU (the route's MTU towards the real servers); default 1500. */
  setTunMtu(mtu: number): void {
    if (!Number.isInteger(mtu) || mtu < 68 + IPIP_HLEN || mtu > 65535) throw err('EINVAL', `Invalid tunnel MTU: ${mtu}`);
    this.st.tunMtu = mtu;
  }

  /**
   * Master sync: `sink` receives each conn or template to send (a reused
   * object: encode it before returning); null stops. The engine decides what
   * and when (ip_vs_sync_conn_needed), the caller batches and sends.
   */
  setSyncMaster(sink: ((c: SyncConn) => void) | null): void {
    this.core.syncSink = sink;
  }

  /** sync_threshold / sync_period / sync_refresh_period / sync_retries. */
  setSyncParams(p: Partial<SyncParams>): void {
    const next = { ...this.core.syncParams, ...p };
    try {
      validateSyncParams(next);
    } catch (e) {
      throw err('EINVAL', (e as Error).message);
    }
    this.core.syncParams = next;
  }

  getSyncParams(): SyncParams {
    return { ...this.core.syncParams };
  }

  /** net.ipv4.vs.sloppy_tcp. */
  setSloppyTcp(on: boolean): void {
    this.st.sloppyTcp = on;
  }

  /** Backup sync: apply one received entry (never schedules; see IpvsCore.syncIn). */
  syncConn(c: SyncConn, now: number): SyncInResult {
    return this.core.syncIn(c, now);
  }

  replace(r: Ruleset, extra?: (d: DestSpec) => DestExtra): void {
    const services = this.st.services;
    // Validate everything before touching anything.
    const plans: PlannedService[] = [];
    const schedulers = new Map<number, Scheduler | null>();
    const seen = new Set<number>();
    for (const s of r.services) {
      const { id } = this.checkService(s);
      if (seen.has(id)) throw err('EEXIST', `Service already exists: ${describeKey(s.key)}`);
      seen.add(id);
      const old = services.get(id);
      schedulers.set(id, old !== undefined && old.spec.scheduler === s.scheduler ? null : this.makeScheduler(s));
      const dests: PlannedDest[] = [];
      const dseen = new Set<number>();
      for (const d of s.dests) {
        const addr = this.checkDest(d);
        const dk = addr * 65536 + d.port;
        if (dseen.has(dk)) throw err('EEXIST', `Destination already exists: ${d.addr}:${d.port} in ${describeKey(s.key)}`);
        dseen.add(dk);
        const ts = extra?.(d).tunSource;
        dests.push({ spec: d, addr, tunSource: ts ?? 0 });
      }
      plans.push({ spec: s, id, dests });
    }
    // Swap.
    for (const [id, svc] of [...services]) if (!seen.has(id)) this.unlinkService(svc, id);
    for (const p of plans) {
      const { dests: _dests, ...spec } = p.spec;
      void _dests;
      let svc = services.get(p.id);
      const sched = schedulers.get(p.id) ?? null;
      if (svc === undefined) svc = this.installService(spec, p.id, sched!);
      else svc.apply(spec, sched ?? svc.scheduler);
      const keep = new Set(p.dests.map((d) => d.addr * 65536 + d.spec.port));
      for (const d of [...svc.dests]) if (!keep.has(d.addr * 65536 + d.port)) this.unlinkDest(svc, d);
      for (const pd of p.dests) {
        const cur = svc.findDest(pd.addr, pd.spec.port);
        if (cur !== undefined) this.updateDest(cur, pd.spec, pd.tunSource || cur.tunSource);
        else this.installDest(svc, pd.spec, pd.addr, pd.tunSource);
      }
      svc.resched();
    }
  }

  /**
   * Real servers (u32) of TUN dests, also removed ones that still carry conns,
   * with their outer source (0: no route yet). A TUN dest is accepted without a
   * route, as the kernel accepts it (rules often load before routes at boot);
   * the io layer resolves its source as routes appear and sets it here.
   */
  tunnelDests(): Map<number, number> {
    const out = new Map<number, number>();
    for (const d of this.st.dests) {
      if (d === undefined || d.fwd !== FWD_TUNNEL) continue;
      const cur = out.get(d.addr);
      out.set(d.addr, cur === undefined || cur === d.tunSource ? d.tunSource : 0);
    }
    return out;
  }

  /** Set the outer source of every TUN dest to `raddr`; how many changed. */
  setTunSource(raddr: number, src: number): number {
    let n = 0;
    for (const d of this.st.dests) {
      if (d === undefined || d.fwd !== FWD_TUNNEL || d.addr !== raddr || d.tunSource === src >>> 0) continue;
      d.tunSource = src >>> 0;
      n++;
    }
    return n;
  }

  listServices(k?: ServiceKey): ServiceStatus[] {
    if (k !== undefined) {
      const svc = this.st.services.get(this.keyId(k));
      if (svc === undefined) throw err('ESRCH', 'No such service');
      return [svc.status()];
    }
    return [...this.st.services.values()].map((s) => s.status());
  }

  listConns(now: number): ConnEntry[] {
    const t = this.st.tbl;
    const out: ConnEntry[] = [];
    for (let i = 0; i < t.hwm; i++) {
      if (!t.inUse(i)) continue;
      const tpl = t.isTemplate(i);
      const proto = t.proto(i);
      const d = this.st.dests[t.destId(i)];
      out.push({
        protocol: PROTO_NAME[proto] ?? 'ip',
        caddr: u32ToIp(t.caddr(i)),
        cport: t.cport(i),
        vaddr: u32ToIp(t.vaddr(i)),
        vport: t.vport(i),
        daddr: u32ToIp(t.daddr(i)),
        dport: t.dport(i),
        state: tpl ? 'NONE' : proto === 6 ? TCP_STATE_NAMES[t.state(i)]! : UDP_STATE_NAME,
        expiresMs: Math.max(0, t.expire(i) * TICK_MS - now),
        fwd: fwdName(t.fwd(i)),
        template: tpl,
        ...(d !== undefined && d.svc.fwmark !== 0 ? { fwmark: d.svc.fwmark } : {}),
      });
    }
    return out;
  }

  /** The totals over every service ever (the kernel's tot_stats, /proc/net/ip_vs_stats): deleting a service keeps them. */
  totals(): StatsSnapshot {
    return this.st.totStats.snapshot();
  }

  info(): EngineInfo {
    return { version: ENGINE_VERSION, connTableSize: this.st.tbl.buckets };
  }

  counters(): Record<string, number> {
    const core = this.core;
    const t = this.st.tbl;
    const c: Record<string, number> = {
      frames: core.frames,
      xmit: core.xmits,
    };
    DROP_REASONS.forEach((r, k) => { c[`drop_${r}`] = core.drops[k]!; });
    IGNORE_REASONS.forEach((r, k) => { c[`ignore_${r}`] = core.ignores[k]!; });
    c.conns = t.count - t.templates;
    c.templates = t.templates;
    c.conns_created = core.connsCreated;
    c.conns_expired = core.expiredTotal;
    c.conn_table_size = t.buckets;
    c.conn_table_capacity = t.capacity;
    c.conn_table_bytes = t.bytes();
    c.defense_level = core.defenseLevel;
    c.defense_evictions = core.evictions;
    c.icmp_generated = core.icmpGenerated;
    c.sync_conns_queued = core.syncQueued;
    SYNC_IN_RESULTS.forEach((r, k) => { c[`sync_in_${r}`] = core.syncResults[k]!; });
    return c;
  }

  trace(k: ServiceKey, caddr: number, cport: number, now: number): TraceResult {
    const svc = this.st.services.get(this.keyId(k));
    if (svc === undefined) throw err('ESRCH', 'No such service');
    const t = this.st.tbl;
    const dests = this.st.dests;
    if (svc.fwmark !== 0) return this.traceFwmark(svc, caddr >>> 0, cport, now);
    const i = t.findIn(svc.proto, caddr >>> 0, ((cport << 16) | svc.vport) >>> 0, svc.vaddr);
    if (i >= 0 && !t.isTemplate(i)) {
      const d = dests[t.destId(i)]!;
      return { dest: { ...d.spec }, reason: `existing connection (${TCP_STATE_NAMES[t.state(i)] ?? 'UDP'})` };
    }
    if (svc.persistMs > 0) {
      const ct = t.findIn(svc.proto, templateNet(svc, caddr), templatePort(svc, svc.vport), svc.vaddr);
      if (ct >= 0 && t.isTemplate(ct) && dests[t.destId(ct)]!.available) {
        return { dest: { ...dests[t.destId(ct)]!.spec }, reason: 'persistence template' };
      }
    }
    if (!PURE_SCHEDULERS.has(svc.spec.scheduler)) {
      return { reason: `new connection: ${svc.spec.scheduler} picks from its own state; cannot predict without advancing it` };
    }
    const d = this.core.schedule(svc, caddr >>> 0, cport, svc.vaddr, svc.vport, svc.proto, now);
    if (d === null) return { reason: 'new connection: no usable destination (client gets ICMP port unreachable)' };
    return { dest: { ...d.spec }, reason: `new connection: scheduled by ${svc.spec.scheduler}` };
  }

  /**
   * --trace of a fwmark service: its packets' VIP:port is whatever the
   * user's MARK rule matched, so there is no conn to look up by it; the
   * client's template (<IP, caddr, 0, mark, 0>) and the scheduler can answer.
   */
  private traceFwmark(svc: Service, caddr: number, cport: number, now: number): TraceResult {
    const t = this.st.tbl;
    const dests = this.st.dests;
    if (svc.persistMs > 0) {
      const ct = t.findIn(0, templateNet(svc, caddr), 0, svc.fwmark);
      if (ct >= 0 && t.isTemplate(ct) && dests[t.destId(ct)]!.available) {
        return { dest: { ...dests[t.destId(ct)]!.spec }, reason: 'persistence template (every port of the mark)' };
      }
    }
    if (!PURE_SCHEDULERS.has(svc.spec.scheduler) || svc.spec.scheduler === 'dh') {
      return { reason: `new connection: ${svc.spec.scheduler} picks from its own state or the packet's destination; cannot predict for a fwmark service` };
    }
    const d = this.core.schedule(svc, caddr, cport, 0, 0, 6, now);
    if (d === null) return { reason: 'new connection: no usable destination (client gets ICMP port unreachable)' };
    return { dest: { ...d.spec }, reason: `new connection: scheduled by ${svc.spec.scheduler}` };
  }

  hasVip(addr: number): boolean {
    return this.st.vips.has(addr >>> 0);
  }

  /** What the io layer must intercept: service VIP:ports, and NAT real servers' source addr:ports. */
  serviceKeys(): InterceptKeys {
    const services: InterceptKeys['services'] = [];
    const natDests: InterceptKeys['natDests'] = [];
    const fwmarks: number[] = [];
    for (const svc of this.st.services.values()) {
      if (svc.key.kind !== 'addr') {
        fwmarks.push(svc.fwmark);
        // A fwmark service groups any ports of TCP and UDP, and a persistent
        // one forwards to the client's own port: its NAT replies may come
        // from any port of the real server.
        for (const d of svc.dests) {
          if (d.fwd === FWD_MASQ) natDests.push({ protocol: 'tcp', raddr: d.addr, rport: 0 }, { protocol: 'udp', raddr: d.addr, rport: 0 });
        }
        continue;
      }
      const protocol = svc.key.protocol;
      services.push({ protocol, vaddr: svc.vaddr, vport: svc.vport });
      for (const d of svc.dests) {
        if (d.fwd === FWD_MASQ) natDests.push({ protocol, raddr: d.addr, rport: d.port !== 0 ? d.port : svc.vport });
      }
    }
    return { services, natDests, fwmarks };
  }

  // ---------------------------------------------------------------- internals

  private keyId(k: ServiceKey): number {
    try {
      return serviceKeyId(k);
    } catch {
      throw err('EINVAL', `Invalid service address: ${describeKey(k)}`);
    }
  }

  private findService(k: ServiceKey, missing: string): Service {
    const svc = this.st.services.get(this.keyId(k));
    if (svc === undefined) throw err('ESRCH', missing);
    return svc;
  }

  private checkService(s: ServiceSpec): { id: number } {
    const k = s.key;
    if (k.kind === 'addr') {
      if (k.protocol === 'sctp') throw err('EOPNOTSUPP', 'SCTP services are not supported by lvsd');
      if (k.protocol !== 'tcp' && k.protocol !== 'udp') throw err('EINVAL', `Invalid protocol: ${String(k.protocol)}`);
      if (!isIpv4(k.addr)) throw err('EINVAL', `Invalid virtual service address: ${k.addr}`);
      if (!Number.isInteger(k.port) || k.port < 0 || k.port > 65535) throw err('EINVAL', `Invalid port: ${k.port}`);
      if (k.port === 0 && !(s.persistence > 0)) throw err('EINVAL', 'Zero port specified for non-persistent service');
      if (s.ops && k.protocol !== 'udp') throw err('EINVAL', 'One-Packet Scheduling is only for UDP virtual services');
    } else if (k.kind === 'fwmark') {
      if (!Number.isInteger(k.fwmark) || k.fwmark < 1 || k.fwmark > 0xffffffff) throw err('EINVAL', `Invalid fwmark: ${k.fwmark}`);
    } else {
      throw err('EINVAL', 'Invalid service key');
    }
    if (!isScheduler(s.scheduler)) throw err('ENOENT', 'Scheduler or persistence engine not found');
    if (s.pe !== undefined && s.pe !== '') throw err('ENOENT', 'Scheduler or persistence engine not found');
    if (!Number.isInteger(s.persistence) || s.persistence < 0 || s.persistence > 2147483) {
      throw err('EINVAL', `Invalid persistence timeout: ${s.persistence}`);
    }
    try {
      maskToPrefix(s.netmask);
    } catch {
      throw err('EINVAL', `Invalid netmask: ${s.netmask}`);
    }
    return { id: this.keyId(k) };
  }

  private checkDest(d: DestSpec): number {
    if (!isIpv4(d.addr)) throw err('EINVAL', `Invalid real server address: ${d.addr}`);
    if (!Number.isInteger(d.port) || d.port < 0 || d.port > 65535) throw err('EINVAL', `Invalid port: ${d.port}`);
    if (!Number.isInteger(d.weight) || d.weight < 0 || d.weight > 65535) throw err('EINVAL', `Invalid weight: ${d.weight}`);
    for (const v of [d.uThreshold, d.lThreshold]) {
      if (!Number.isInteger(v) || v < 0 || v > 2147483647) throw err('EINVAL', `Invalid threshold: ${v}`);
    }
    if (d.lThreshold > d.uThreshold) throw err('ERANGE', 'Numerical result out of range');
    if (d.fwd === 'local') throw err('EOPNOTSUPP', 'Local forwarding is not supported by lvsd');
    if (d.fwd !== 'masq' && d.fwd !== 'route' && d.fwd !== 'tunnel') throw err('EINVAL', `Invalid forwarding method: ${String(d.fwd)}`);
    if (d.fwd === 'tunnel' && d.tunType !== undefined && d.tunType !== 'ipip') {
      throw err('EOPNOTSUPP', `Tunnel type ${d.tunType} is not supported by lvsd (ipip only)`);
    }
    return ipToU32(d.addr);
  }

  private makeScheduler(s: ServiceSpec): Scheduler {
    const sched = createScheduler(s.scheduler, { random: this.st.rng });
    return this.st.wrapScheduler ? this.st.wrapScheduler(sched, s.key) : sched;
  }


  private installService(s: ServiceSpec, id: number, sched: Scheduler): Service {
    const st = this.st;
    const svc = new Service(s, sched);
    st.services.set(id, svc);
    if (svc.fwmark === 0) st.vips.set(svc.vaddr, (st.vips.get(svc.vaddr) ?? 0) + 1);
    st.rebuildFilters();
    return svc;
  }

  private unlinkService(svc: Service, id: number): void {
    const st = this.st;
    for (const d of [...svc.dests]) this.unlinkDest(svc, d);
    st.services.delete(id);
    if (svc.fwmark === 0) {
      const n = (st.vips.get(svc.vaddr) ?? 1) - 1;
      if (n <= 0) st.vips.delete(svc.vaddr);
      else st.vips.set(svc.vaddr, n);
      st.rebuildFilters();
    }
  }

  private installDest(svc: Service, spec: DestSpec, addr: number, tunSource: number): void {
    const st = this.st;
    // ip_vs_trash_get_dest(): a dest deleted while conns used it comes back with them.
    const ti = svc.trash.findIndex((d) => d.addr === addr && d.port === spec.port);
    let dest: Dest;
    if (ti >= 0) {
      dest = svc.trash[ti]!;
      svc.trash.splice(ti, 1);
      dest.available = true;
      this.updateDest(dest, spec, tunSource);
    } else {
      const id = st.freeDestIds.length > 0 ? st.freeDestIds.pop()! : st.dests.length;
      dest = new Dest(id, svc, spec, tunSource);
      st.dests[id] = dest;
      if (dest.fwd === FWD_MASQ) st.natRef(dest.addr, 1);
    }
    svc.dests.push(dest);
  }

  private updateDest(dest: Dest, spec: DestSpec, tunSource: number): void {
    const wasNat = dest.fwd === FWD_MASQ;
    dest.update(spec, tunSource);
    const isNat = dest.fwd === FWD_MASQ;
    if (wasNat !== isNat) this.st.natRef(dest.addr, isNat ? 1 : -1);
  }

  private unlinkDest(svc: Service, dest: Dest): void {
    const k = svc.dests.indexOf(dest);
    if (k >= 0) svc.dests.splice(k, 1);
    dest.available = false;
    if (dest.refcnt === 0) this.st.releaseDest(dest);
    else svc.trash.push(dest);
  }

  private zeroService(svc: Service): void {
    svc.stats.zero();
    for (const d of svc.dests) d.stats.zero();
  }
}
