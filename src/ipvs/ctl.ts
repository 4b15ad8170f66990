// The control operations (the kernel's ip_vs_ctl.c): services and dests
// added, edited and removed one at a time or as one atomic ruleset,
// timeouts, listings, counters and --trace. Each validates first and throws
// ControlError with the errno ip_vs_ctl.c returns:
// EEXIST (duplicate service/dest), ESRCH (no such service), ENOENT (unknown
// scheduler or --pe, no such dest), ERANGE (l_threshold > u_threshold),
// EINVAL (bad address/port/weight/netmask, zero port without persistence,
// -o without UDP), EOPNOTSUPP (sctp, local forwarding, gue/gre tunnels).
// replace() validates the whole ruleset before changing anything.
import { ipToU32, isIpv4, u32ToIp } from '../packet/addr.js';
import { canonicalIpv6, fold6, formatIpv6, ip6Words, parseIpv6, wordsToIpv6 } from '../packet/ipv6.js';
import { createScheduler, isScheduler } from './sched/index.js';
import type { Scheduler } from './sched/scheduler.js';
import type {
  ConnEntry, DestSpec, EngineInfo, Protocol, Ruleset, ServiceKey, ServiceRules, ServiceSpec, ServiceStatus, StatsSnapshot, Timeouts,
} from './types.js';
import { A6_C, A6_D, A6_V, TICK_MS } from './conn.js';
import { Dest, FWD_MASQ, FWD_TUNNEL, fwdName } from './dest.js';
import { Service, describeKey, isV6Addr, parseNetmask, serviceKeyId } from './service.js';
import { TCP_S_ESTABLISHED, TCP_S_FIN_WAIT, TCP_STATE_NAMES } from './proto-tcp.js';
import { UDP_STATE_NAME } from './proto-udp.js';
import { DROP_REASONS, IGNORE_REASONS } from './drops.js';
import { ControlError, type ErrorCode } from './errors.js';
import type { IpvsState } from './state.js';
import { type IpvsCore, templateNet, templatePort } from './core.js';
import { IPIP_HLEN } from './xmit/tun.js';
import { SYNC_IN_RESULTS, describeConn, type SyncConn, type SyncInResult, type SyncParams, validateSyncParams } from './sync.js';
import { newSyncAddrs6, newSyncConn } from '../sync/message.js';

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
  /** The same for an IPv6 real server: 16 bytes. */
  tunSource6?: Uint8Array;
}

export interface TraceResult {
  dest?: DestSpec;
  reason: string;
}

/** vaddr/raddr: the IPv4 address as u32 (0 for IPv6); addr: the address as text (canonical for IPv6). */
export interface InterceptKeys {
  services: { protocol: Protocol; vaddr: number; vport: number; addr: string; af: 4 | 6 }[];
  natDests: { protocol: Protocol; raddr: number; rport: number; addr: string; af: 4 | 6 }[];
  /** The marks of the IPv4 fwmark services: IPv4 packets carrying one reach the engine through the io layer's NFQUEUE path. */
  fwmarks: number[];
  /** The same for IPv6 fwmark services (-f N -6) and IPv6 packets: a mark is per family, as IPVS keys fwmark services by (af, mark). */
  fwmarks6: number[];
}

interface PlannedDest { spec: DestSpec; ident: number | string; tunSource: number; tunSource6: Uint8Array | null }
interface PlannedService { spec: ServiceRules; id: number | string; dests: PlannedDest[] }

/** A dest's identity in its service: address and port. */
function destIdent(ident: number | string, port: number): number | string {
  return typeof ident === 'number' ? ident * 65536 + port : `${ident}|${port}`;
}

/**
 * A service spec as the engine keeps it: IPv6 addresses in inet_ntop's form,
 * and for IPv6 the netmask as the prefix length ipvsadm lists; the IPv4
 * default '255.255.255.255' means /128 there (callers that do not know the
 * family send the default they know).
 */
function canonicalService<T extends ServiceSpec>(s: T): T {
  const key = canonicalKey(s.key);
  const v6 = key.kind === 'addr' ? isV6Addr(key.addr) : key.af === 6;
  const netmask = v6 && s.netmask === '255.255.255.255' ? '128' : s.netmask;
  return key === s.key && netmask === s.netmask ? s : { ...s, key, netmask };
}

/** The rule model with IPv6 addresses in inet_ntop's form (what listings print and keys compare). */
function canonicalKey(k: ServiceKey): ServiceKey {
  if (k.kind !== 'addr' || !isV6Addr(k.addr)) return k;
  const c = canonicalIpv6(k.addr);
  return c === null || c === k.addr ? k : { ...k, addr: c };
}
function canonicalDest<T extends { addr: string }>(d: T): T {
  if (!isV6Addr(d.addr)) return d;
  const c = canonicalIpv6(d.addr);
  return c === null || c === d.addr ? d : { ...d, addr: c };
}

/** An address's identity: the u32 of an IPv4 address, the canonical text of an IPv6 one; null when it is neither. */
function addrIdent(addr: string): number | string | null {
  if (isV6Addr(addr)) return canonicalIpv6(addr);
  return isIpv4(addr) ? ipToU32(addr) : null;
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  for (let k = 0; k < 16; k++) if (a[k] !== b[k]) return false;
  return true;
}

/** The caller's own dest object for a canonicalised one (replace()'s extra() is keyed by the caller's specs). */
function d0Of(s0: ServiceRules, d: DestSpec): DestSpec | undefined {
  return s0.dests.find((x) => x.port === d.port && (x.addr === d.addr || canonicalIpv6(x.addr) === d.addr));
}

export class IpvsCtl {
  constructor(protected readonly st: IpvsState, protected readonly core: IpvsCore) {}

  addService(s0: ServiceSpec): void {
    const s = canonicalService(s0);
    const plan = this.checkService(s);
    if (this.st.services.has(plan.id)) throw err('EEXIST', 'Service already exists');
    this.installService(s, plan.id, this.makeScheduler(s));
  }

  editService(s0: ServiceSpec): void {
    const s = canonicalService(s0);
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

  addDest(k: ServiceKey, d0: DestSpec, extra: DestExtra = {}): void {
    const svc = this.findService(k, 'Service not defined');
    const d = canonicalDest(d0);
    const ident = this.checkDest(d, svc);
    if (svc.findDest(ident, d.port) !== undefined) throw err('EEXIST', 'Destination already exists');
    this.installDest(svc, d, ident, extra.tunSource ?? 0, extra.tunSource6 ?? null);
    svc.resched();
  }

  editDest(k: ServiceKey, d0: DestSpec, extra: DestExtra = {}): void {
    const svc = this.findService(k, 'Service not defined');
    const d = canonicalDest(d0);
    const ident = this.checkDest(d, svc);
    const dest = svc.findDest(ident, d.port);
    if (dest === undefined) throw err('ENOENT', 'No such destination');
    this.updateDest(dest, d, extra.tunSource ?? dest.tunSource, extra.tunSource6 ?? dest.tunSource6);
    svc.resched();
  }

  delDest(k: ServiceKey, addr: string, port: number): void {
    const svc = this.findService(k, 'Service not defined');
    const ident = addrIdent(addr);
    if (ident === null) throw err('EINVAL', `Invalid real server address: ${addr}`);
    const dest = svc.findDest(ident, port);
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

  /**
   * Re-steering between lvsd's workers (a change of -p/-M moves flows): the
   * entries `moves` picks, described as connection sync describes them but
   * with their remaining time as the timeout, and removed from this table.
   * Conns go before templates, and a template still controlling a conn that
   * stays stays with it: no conn outlives its controller here.
   */
  handOver(moves: (c: SyncConn) => boolean, now: number): SyncConn[] {
    const t = this.st.tbl;
    const nowTick = now / TICK_MS;
    const out: SyncConn[] = [];
    for (const templates of [false, true]) {
      for (let i = 0; i < t.hwm; i++) {
        if (!t.inUse(i) || t.isTemplate(i) !== templates || (templates && t.ctl(i) > 0)) continue;
        const d = this.st.dests[t.destId(i)]!;
        const secs = Math.max(1, Math.ceil(((t.expire(i) - nowTick) * TICK_MS) / 1000));
        const c = describeConn(t, i, secs, d.svc.fwmark, newSyncConn(), newSyncAddrs6());
        if (!moves(c)) continue;
        out.push(c);
        this.core.release(i);
      }
    }
    return out;
  }

  /** Installs entries another worker handed over (handOver's output); how many were taken. */
  adopt(conns: readonly SyncConn[], now: number): number {
    let n = 0;
    for (const c of conns) { const r = this.core.adopt(c, now); if (r === 'created' || r === 'updated') n++; }
    return n;
  }

  replace(r: Ruleset, extra?: (d: DestSpec) => DestExtra): void {
    const services = this.st.services;
    // Validate everything before touching anything.
    const plans: PlannedService[] = [];
    const schedulers = new Map<number | string, Scheduler | null>();
    const seen = new Set<number | string>();
    for (const s0 of r.services) {
      const s: ServiceRules = { ...canonicalService(s0), dests: s0.dests.map(canonicalDest) };
      const { id } = this.checkService(s);
      if (seen.has(id)) throw err('EEXIST', `Service already exists: ${describeKey(s.key)}`);
      seen.add(id);
      const old = services.get(id);
      schedulers.set(id, old !== undefined && old.spec.scheduler === s.scheduler ? null : this.makeScheduler(s));
      const dests: PlannedDest[] = [];
      const dseen = new Set<number | string>();
      for (const d of s.dests) {
        const ident = this.checkDest(d, s);
        const dk = destIdent(ident, d.port);
        if (dseen.has(dk)) throw err('EEXIST', `Destination already exists: ${d.addr}:${d.port} in ${describeKey(s.key)}`);
        dseen.add(dk);
        const x = extra?.(d0Of(s0, d) ?? d);
        dests.push({ spec: d, ident, tunSource: x?.tunSource ?? 0, tunSource6: x?.tunSource6 ?? null });
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
      const keep = new Set(p.dests.map((d) => destIdent(d.ident, d.spec.port)));
      for (const d of [...svc.dests]) if (!keep.has(destIdent(d.ident, d.port))) this.unlinkDest(svc, d);
      for (const pd of p.dests) {
        const cur = svc.findDest(pd.ident, pd.spec.port);
        if (cur !== undefined) this.updateDest(cur, pd.spec, pd.tunSource || cur.tunSource, pd.tunSource6 ?? cur.tunSource6);
        else this.installDest(svc, pd.spec, pd.ident, pd.tunSource, pd.tunSource6);
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
      if (d === undefined || d.fwd !== FWD_TUNNEL || d.af !== 4) continue;
      const cur = out.get(d.addr);
      out.set(d.addr, cur === undefined || cur === d.tunSource ? d.tunSource : 0);
    }
    return out;
  }

  /** Set the outer source of every TUN dest to `raddr`; how many changed. */
  setTunSource(raddr: number, src: number): number {
    let n = 0;
    for (const d of this.st.dests) {
      if (d === undefined || d.fwd !== FWD_TUNNEL || d.af !== 4 || d.addr !== raddr || d.tunSource === src >>> 0) continue;
      d.tunSource = src >>> 0;
      n++;
    }
    return n;
  }

  /** tunnelDests() for IPv6 real servers: canonical address → outer source (null: no route yet). */
  tunnelDests6(): Map<string, Uint8Array | null> {
    const out = new Map<string, Uint8Array | null>();
    for (const d of this.st.dests) {
      if (d === undefined || d.fwd !== FWD_TUNNEL || d.af !== 6) continue;
      const key = d.ident as string;
      const cur = out.get(key);
      out.set(key, cur === undefined || sameBytes(cur, d.tunSource6) ? d.tunSource6 : null);
    }
    return out;
  }

  /** setTunSource() for an IPv6 real server (any text form); how many changed. */
  setTunSource6(raddr: string, src: Uint8Array | null): number {
    const ident = canonicalIpv6(raddr);
    let n = 0;
    for (const d of this.st.dests) {
      if (d === undefined || d.fwd !== FWD_TUNNEL || d.ident !== ident || sameBytes(d.tunSource6, src)) continue;
      d.tunSource6 = src === null ? null : Uint8Array.from(src);
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
      const v6 = t.isV6(i);
      out.push({
        protocol: PROTO_NAME[proto] ?? 'ip',
        caddr: v6 ? wordsToIpv6(t.a6, t.a6At(i, A6_C)) : u32ToIp(t.caddr(i)),
        cport: t.cport(i),
        vaddr: v6 ? wordsToIpv6(t.a6, t.a6At(i, A6_V)) : u32ToIp(t.vaddr(i)),
        vport: t.vport(i),
        daddr: v6 ? wordsToIpv6(t.a6, t.a6At(i, A6_D)) : u32ToIp(t.daddr(i)),
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
    // Re-steering between workers (lvsd --workers): entries handed to another worker, and taken from one.
    c.conns_handed_over = core.handedOver;
    c.conns_adopted = core.adopted;
    c.conns_adopt_failed = core.adoptFailed;
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

  /** `caddr`: an IPv4 address as u32 or text, or an IPv6 one as text (for an IPv6 service). */
  trace(k: ServiceKey, caddr0: number | string, cport: number, now: number): TraceResult {
    const svc = this.st.services.get(this.keyId(k));
    if (svc === undefined) throw err('ESRCH', 'No such service');
    if (svc.af === 6) return this.trace6(svc, String(caddr0), cport, now);
    let caddr: number;
    if (typeof caddr0 === 'number') caddr = caddr0;
    else if (isIpv4(caddr0)) caddr = ipToU32(caddr0);
    else throw err('EINVAL', `Invalid client address for an IPv4 service: ${caddr0}`);
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

  private trace6(svc: Service, caddr: string, cport: number, now: number): TraceResult {
    const cb = parseIpv6(caddr);
    if (cb === null) throw err('EINVAL', `Invalid client address for an IPv6 service: ${caddr}`);
    const c = ip6Words(formatIpv6(cb));
    const t = this.st.tbl;
    const dests = this.st.dests;
    const fw = svc.fwmark !== 0;
    // A fwmark template's vaddr is [fwmark, 0, 0, 0] and its protocol IPPROTO_IP (see IpvsCore.schedPersist).
    const v = fw ? Uint32Array.of(svc.fwmark, 0, 0, 0) : svc.vaddr6!;
    const pk = svc.proto | 0x100;
    // A fwmark service's conns are keyed by whatever VIP:port the packet had: only its template can be looked up.
    const i = fw ? -1 : t.findIn6(pk, t.digest6(c), ((cport << 16) | svc.vport) >>> 0, t.digest6(v), c, 0, v, 0);
    if (i >= 0 && !t.isTemplate(i)) {
      const d = dests[t.destId(i)]!;
      return { dest: { ...d.spec }, reason: `existing connection (${TCP_STATE_NAMES[t.state(i)] ?? 'UDP'})` };
    }
    if (svc.persistMs > 0) {
      const m = new Uint32Array(4);
      for (let k = 0; k < 4; k++) {
        const bits = svc.prefix6 - k * 32;
        m[k] = (c[k]! & (bits >= 32 ? 0xffffffff : bits <= 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0)) >>> 0;
      }
      const ct = t.findIn6(pk, t.digest6(m), templatePort(svc, svc.vport), t.digest6(v), m, 0, v, 0);
      if (ct >= 0 && t.isTemplate(ct) && dests[t.destId(ct)]!.available) {
        return { dest: { ...dests[t.destId(ct)]!.spec }, reason: fw ? 'persistence template (every port of the mark)' : 'persistence template' };
      }
    }
    if (!PURE_SCHEDULERS.has(svc.spec.scheduler) || (fw && svc.spec.scheduler === 'dh')) {
      return { reason: `new connection: ${svc.spec.scheduler} picks from its own state${fw ? ' or the packet\'s destination; cannot predict for a fwmark service' : '; cannot predict without advancing it'}` };
    }
    const d = this.core.schedule6(svc, c, cport, svc.vport, now);
    if (d === null) return { reason: 'new connection: no usable destination (client gets ICMPv6 port unreachable)' };
    return { dest: { ...d.spec }, reason: `new connection: scheduled by ${svc.spec.scheduler}` };
  }

  /** Whether an IPv4 address (u32) is a VIP. */
  hasVip(addr: number): boolean {
    return this.st.vips.has(addr >>> 0);
  }

  /** What the io layer must intercept: service VIP:ports, and NAT real servers' source addr:ports. */
  serviceKeys(): InterceptKeys {
    const services: InterceptKeys['services'] = [];
    const natDests: InterceptKeys['natDests'] = [];
    const fwmarks: number[] = [];
    const fwmarks6: number[] = [];
    for (const svc of this.st.services.values()) {
      if (svc.key.kind !== 'addr') {
        const af = svc.af === 6 ? 6 : 4;
        (af === 6 ? fwmarks6 : fwmarks).push(svc.fwmark);
        // A fwmark service groups any ports of TCP and UDP, and a persistent
        // one forwards to the client's own port: its NAT replies may come
        // from any port of the real server.
        for (const d of svc.dests) {
          if (d.fwd === FWD_MASQ) {
            const raddr = af === 4 ? d.addr : 0;
            natDests.push({ protocol: 'tcp', raddr, rport: 0, addr: d.spec.addr, af }, { protocol: 'udp', raddr, rport: 0, addr: d.spec.addr, af });
          }
        }
        continue;
      }
      const protocol = svc.key.protocol;
      const af = svc.af === 6 ? 6 : 4;
      services.push({ protocol, vaddr: af === 4 ? svc.vaddr : 0, vport: svc.vport, addr: svc.key.addr, af });
      for (const d of svc.dests) {
        if (d.fwd !== FWD_MASQ) continue;
        natDests.push({ protocol, raddr: af === 4 ? d.addr : 0, rport: d.port !== 0 ? d.port : svc.vport, addr: d.spec.addr, af });
      }
    }
    return { services, natDests, fwmarks, fwmarks6 };
  }

  // ---------------------------------------------------------------- internals

  private keyId(k: ServiceKey): number | string {
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

  private checkService(s: ServiceSpec): { id: number | string } {
    const k = s.key;
    let v6 = false;
    if (k.kind === 'addr') {
      if (k.protocol === 'sctp') throw err('EOPNOTSUPP', 'SCTP services are not supported by lvsd');
      if (k.protocol !== 'tcp' && k.protocol !== 'udp') throw err('EINVAL', `Invalid protocol: ${String(k.protocol)}`);
      if (typeof k.addr !== 'string' || addrIdent(k.addr) === null) throw err('EINVAL', `Invalid virtual service address: ${k.addr}`);
      v6 = isV6Addr(k.addr);
      if (!Number.isInteger(k.port) || k.port < 0 || k.port > 65535) throw err('EINVAL', `Invalid port: ${k.port}`);
      if (k.port === 0 && !(s.persistence > 0)) throw err('EINVAL', 'Zero port specified for non-persistent service');
      if (s.ops && k.protocol !== 'udp') throw err('EINVAL', 'One-Packet Scheduling is only for UDP virtual services');
    } else if (k.kind === 'fwmark') {
      if (!Number.isInteger(k.fwmark) || k.fwmark < 1 || k.fwmark > 0xffffffff) throw err('EINVAL', `Invalid fwmark: ${k.fwmark}`);
      if (k.af !== undefined && k.af !== 4 && k.af !== 6) throw err('EINVAL', `Invalid address family: ${String(k.af)}`);
      v6 = k.af === 6;
    } else {
      throw err('EINVAL', 'Invalid service key');
    }
    if (!isScheduler(s.scheduler)) throw err('ENOENT', 'Scheduler or persistence engine not found');
    if (s.pe !== undefined && s.pe !== '') throw err('ENOENT', 'Scheduler or persistence engine not found');
    if (!Number.isInteger(s.persistence) || s.persistence < 0 || s.persistence > 2147483) {
      throw err('EINVAL', `Invalid persistence timeout: ${s.persistence}`);
    }
    try {
      parseNetmask(s.netmask, v6);
    } catch {
      throw err('EINVAL', `Invalid netmask: ${s.netmask}`);
    }
    return { id: this.keyId(k) };
  }

  /** Checks a dest for its service; returns its address identity (u32, or canonical IPv6 text). */
  private checkDest(d: DestSpec, svc: { key: ServiceKey }): number | string {
    const ident = typeof d.addr === 'string' ? addrIdent(d.addr) : null;
    if (ident === null) throw err('EINVAL', `Invalid real server address: ${d.addr}`);
    const svcV6 = svc.key.kind === 'addr' ? isV6Addr(svc.key.addr) : svc.key.af === 6;
    if ((typeof ident === 'string') !== svcV6) {
      // The kernel allows another family only for tunnel real servers (IPIP in IPv6, IPv6 in IPv4); lvsd does not.
      if (d.fwd === 'tunnel') throw err('EOPNOTSUPP', 'A tunnel real server of the other address family is not supported by lvsd');
      throw err('EINVAL', 'Different address family is allowed only for tunneling servers');
    }
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
    return ident;
  }

  private makeScheduler(s: ServiceSpec): Scheduler {
    const sched = createScheduler(s.scheduler, { random: this.st.rng });
    return this.st.wrapScheduler ? this.st.wrapScheduler(sched, s.key) : sched;
  }


  private installService(s: ServiceSpec, id: number | string, sched: Scheduler): Service {
    const st = this.st;
    const svc = new Service(s, sched);
    st.services.set(id, svc);
    st.vipRef(svc, 1);
    return svc;
  }

  private unlinkService(svc: Service, id: number | string): void {
    const st = this.st;
    for (const d of [...svc.dests]) this.unlinkDest(svc, d);
    st.services.delete(id);
    st.vipRef(svc, -1);
  }

  private installDest(svc: Service, spec: DestSpec, ident: number | string, tunSource: number, tunSource6: Uint8Array | null): void {
    const st = this.st;
    // ip_vs_trash_get_dest(): a dest deleted while conns used it comes back with them.
    const ti = svc.trash.findIndex((d) => d.ident === ident && d.port === spec.port);
    let dest: Dest;
    if (ti >= 0) {
      dest = svc.trash[ti]!;
      svc.trash.splice(ti, 1);
      dest.available = true;
      this.updateDest(dest, spec, tunSource, tunSource6 ?? dest.tunSource6);
    } else {
      const id = st.freeDestIds.length > 0 ? st.freeDestIds.pop()! : st.dests.length;
      dest = new Dest(id, svc, spec, tunSource, tunSource6);
      st.dests[id] = dest;
      if (dest.fwd === FWD_MASQ) st.natRef(dest, 1);
    }
    svc.dests.push(dest);
  }

  private updateDest(dest: Dest, spec: DestSpec, tunSource: number, tunSource6: Uint8Array | null): void {
    const wasNat = dest.fwd === FWD_MASQ;
    dest.update(spec, tunSource, tunSource6);
    const isNat = dest.fwd === FWD_MASQ;
    if (wasNat !== isNat) this.st.natRef(dest, isNat ? 1 : -1);
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
