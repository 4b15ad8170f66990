// ipvsadm's service listings (list_all, list_service, print_service_entry,
// print_title): the default table, --stats, --rate, --exact, --thresholds,
// --persistent-conn, --tun-info and the -S rule format, byte for byte,
// including the trailing spaces of the %-10u columns.
import type { DestStatus, EngineInfo, SchedFlag, ServiceKey, ServiceStatus } from '../ipvs/types.js';
import { ipToU32 } from '../packet/addr.js';
import { ip6Words } from '../packet/ipv6.js';
import { FMT, SVC_F_SCHED1, SVC_F_SCHED2, SVC_F_SCHED3 } from './args.js';
import { addrPortName, type NameProto, type Resolver } from './names.js';
import { d32, left, right, u } from './printf.js';

const SCHED_FLAG_BITS: Record<SchedFlag, number> = {
  'sh-fallback': SVC_F_SCHED1, 'sh-port': SVC_F_SCHED2,
  'mh-fallback': SVC_F_SCHED1, 'mh-port': SVC_F_SCHED2,
  'flag-1': SVC_F_SCHED1, 'flag-2': SVC_F_SCHED2, 'flag-3': SVC_F_SCHED3,
};

/** The kernel keeps -b as three bits whose names depend on the scheduler. */
export function schedFlagBits(flags: readonly SchedFlag[]): number {
  let bits = 0;
  for (const f of flags) bits |= SCHED_FLAG_BITS[f];
  return bits;
}

/** print_sched_flags: the names ipvsadm prints for these bits under this scheduler. */
export function printSchedFlags(sched: string, bits: number): string {
  const out: string[] = [];
  if (sched === 'sh') {
    if (bits & SVC_F_SCHED1) out.push('sh-fallback');
    if (bits & SVC_F_SCHED2) out.push('sh-port');
  } else if (sched === 'mh') {
    if (bits & SVC_F_SCHED1) out.push('mh-fallback');
    if (bits & SVC_F_SCHED2) out.push('mh-port');
  } else {
    if (bits & SVC_F_SCHED1) out.push('flag-1');
    if (bits & SVC_F_SCHED2) out.push('flag-2');
    if (bits & SVC_F_SCHED3) out.push('flag-3');
  }
  return out.join(',');
}

/**
 * Bits to the rule model's names, losing nothing: sh/mh have no name of
 * their own for the third bit, so it stays 'flag-3' (ipvsadm accepts
 * `-s sh -b flag-3` and the kernel keeps the bit, though -L does not show it).
 */
export function schedFlagNames(sched: string, bits: number): SchedFlag[] {
  const out: SchedFlag[] = [];
  if (bits & SVC_F_SCHED1) out.push(sched === 'sh' ? 'sh-fallback' : sched === 'mh' ? 'mh-fallback' : 'flag-1');
  if (bits & SVC_F_SCHED2) out.push(sched === 'sh' ? 'sh-port' : sched === 'mh' ? 'mh-port' : 'flag-2');
  if (bits & SVC_F_SCHED3) out.push('flag-3');
  return out;
}

/** print_largenum: K/M/G/T above 10^8, or the exact value with --exact. */
export function largenum(value: number | bigint, format: number): string {
  const i = BigInt(u(value));
  if (format & FMT.EXACT) {
    const s = i.toString();
    return right(s, s.length <= 8 ? 9 : s.length + 1);
  }
  if (i < 100000000n) return right(i.toString(), 9);
  if (i < 1000000000n) return right((i / 1000n).toString(), 8) + 'K';
  if (i < 100000000000n) return right((i / 1000000n).toString(), 8) + 'M';
  if (i < 100000000000000n) return right((i / 1000000000n).toString(), 8) + 'G';
  return right((i / 1000000000000n).toString(), 8) + 'T';
}

// IPPROTO_* numbers: the sort compares protocols numerically.
const PROTO_NUM = { tcp: 6, udp: 17, sctp: 132 } as const;

/** AF_INET and AF_INET6 as the kernel numbers them: ipvs_cmp_services subtracts them. */
const AF_INET = 2;
const AF_INET6 = 10;

function isV6(addr: string): boolean {
  return addr.includes(':');
}

/** An address as ntohl'd words: one for IPv4, four for IPv6; anything unparsable sorts as zeros rather than failing the listing. */
function words(addr: string): number[] {
  try {
    return isV6(addr) ? [...ip6Words(addr)] : [ipToU32(addr)];
  } catch {
    return isV6(addr) ? [0, 0, 0, 0] : [0];
  }
}

/** The address comparison of ipvs_cmp_services/ipvs_cmp_dests: word by word, each difference read back as int. */
function cmpAddr(a: string, b: string): number {
  const x = words(a);
  const y = words(b);
  let r = 0;
  for (let i = 0; r === 0 && i < x.length; i++) r = ((x[i]! - (y[i] ?? 0)) | 0);
  return r;
}

function keyParts(k: ServiceKey): { fwmark: number; af: number; proto: number; addr: string; port: number } {
  // ipvsadm tags fwmark services as TCP with a zero address (parse_options).
  if (k.kind === 'fwmark') return { fwmark: k.fwmark >>> 0, af: k.af === 6 ? AF_INET6 : AF_INET, proto: 6, addr: k.af === 6 ? '::' : '0.0.0.0', port: 0 };
  return { fwmark: 0, af: isV6(k.addr) ? AF_INET6 : AF_INET, proto: PROTO_NUM[k.protocol] ?? 0, addr: k.addr, port: k.port };
}

/**
 * ipvs_cmp_services: fwmark, address family, protocol, address, port, with
 * differences taken in unsigned 32-bit arithmetic and read back as int, so
 * addresses (and marks) more than 2^31 apart compare the "wrong" way round,
 * exactly as ipvsadm sorts them (an IPv6 address word by word).
 */
export function cmpServices(a: { key: ServiceKey }, b: { key: ServiceKey }): number {
  const x = keyParts(a.key);
  const y = keyParts(b.key);
  let r = (x.fwmark - y.fwmark) | 0;
  if (r !== 0) return r;
  r = x.af - y.af;
  if (r !== 0) return r;
  r = x.proto - y.proto;
  if (r !== 0) return r;
  r = cmpAddr(x.addr, y.addr);
  if (r !== 0) return r;
  return x.port - y.port;
}

/** ipvs_cmp_dests: address (with the same wrap, in the first dest's family), then port. */
export function cmpDests(a: { addr: string; port: number }, b: { addr: string; port: number }): number {
  const r = cmpAddr(a.addr, b.addr);
  if (r !== 0) return r;
  return a.port - b.port;
}

/**
 * glibc 2.36's qsort is a top-down merge sort (msort_with_tmp). With a
 * comparator that is not a total order (the wrap quirk above) the result
 * depends on the algorithm, so ipvsadm's order is reproduced with the same one.
 */
export function msort<T>(items: readonly T[], cmp: (a: T, b: T) => number): T[] {
  const b = items.slice();
  const tmp = new Array<T>(b.length);
  const rec = (lo: number, n: number): void => {
    if (n <= 1) return;
    const n1 = n >>> 1;
    const n2 = n - n1;
    rec(lo, n1);
    rec(lo + n1, n2);
    let i = lo;
    let j = lo + n1;
    const iEnd = lo + n1;
    const jEnd = lo + n;
    let t = 0;
    while (i < iEnd && j < jEnd) {
      if (cmp(b[i]!, b[j]!) <= 0) tmp[t++] = b[i++]!;
      else tmp[t++] = b[j++]!;
    }
    while (i < iEnd) tmp[t++] = b[i++]!;
    // What remains of the second run is already in place.
    for (let k = 0; k < t; k++) b[lo + k] = tmp[k]!;
  };
  rec(0, b.length);
  return b;
}

const FWD_NAME = { masq: 'Masq', local: 'Local', tunnel: 'Tunnel', route: 'Route' } as const;
const FWD_SWITCH = { masq: '-m', local: '-g', tunnel: '-i', route: '-g' } as const;
const TUN_FLAGS = { nocsum: '-c', csum: '+c', remcsum: 'r+c' } as const;
const TUN_FLAG_OPTS = { nocsum: '--tun-nocsum', csum: '--tun-csum', remcsum: '--tun-remcsum' } as const;
const PROTO_NAME = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' } as const;
const PROTO_OPT = { tcp: '-t', udp: '-u', sctp: '--sctp-service' } as const;

function svcProto(k: ServiceKey): NameProto {
  return k.kind === 'fwmark' ? 'tcp' : k.protocol;
}

/** fwd_tun_info: the --tun-info column. */
function tunInfo(d: DestStatus): string {
  if (d.fwd !== 'tunnel') return 'n/a';
  const type = d.tunType ?? 'ipip';
  const flags = TUN_FLAGS[d.tunCsum ?? 'nocsum'];
  if (type === 'ipip') return 'ipip';
  if (type === 'gue') return `gue:${d.tunPort ?? 0}:${flags}`;
  return `gre:${flags}`;
}

/** print_title. */
export function title(format: number): string {
  if (format & FMT.STATS) {
    return `${left('Prot LocalAddress:Port', 33)} ${right('Conns', 8)} ${right('InPkts', 8)} ${right('OutPkts', 8)} ${right('InBytes', 8)} ${right('OutBytes', 8)}\n  -> RemoteAddress:Port\n`;
  }
  if (format & FMT.RATE) {
    return `${left('Prot LocalAddress:Port', 33)} ${right('CPS', 8)} ${right('InPPS', 8)} ${right('OutPPS', 8)} ${right('InBPS', 8)} ${right('OutBPS', 8)}\n  -> RemoteAddress:Port\n`;
  }
  if (format & FMT.THRESHOLDS) {
    return `${left('Prot LocalAddress:Port', 33)} ${left('Uthreshold', 10)} ${left('Lthreshold', 10)} ${left('ActiveConn', 10)} ${left('InActConn', 10)}\n  -> RemoteAddress:Port\n`;
  }
  if (format & FMT.PERSISTENTCONN) {
    return `${left('Prot LocalAddress:Port', 33)} ${left('Weight', 9)} ${left('PersistConn', 11)} ${left('ActiveConn', 10)} ${left('InActConn', 10)}\n  -> RemoteAddress:Port\n`;
  }
  if (format & FMT.TUN_INFO) {
    return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n';
  }
  if (!(format & FMT.RULE)) {
    return 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
  }
  return '';
}

/** The service's name column (or its -S form). */
export function serviceName(key: ServiceKey, format: number, resolver: Resolver | null): string {
  if (key.kind === 'fwmark') {
    const v6 = key.af === 6;
    return format & FMT.RULE ? `-f ${d32(key.fwmark)}${v6 ? ' -6' : ''}` : `FWM  ${d32(key.fwmark)}${v6 ? ' IPv6' : ''}`;
  }
  const vname = addrPortName(resolver, key.addr, key.port, key.protocol);
  if (format & FMT.RULE) return `${PROTO_OPT[key.protocol]} ${vname}`;
  // svc_name[33] = '\0' for IPv4 only.
  const name = `${left(PROTO_NAME[key.protocol], 4)} ${vname}`;
  return isV6(key.addr) ? name : name.slice(0, 33);
}

/** The service's family: IPv6 services keep -M as a prefix length (printed when not 128). */
function serviceIsV6(key: ServiceKey): boolean {
  return key.kind === 'fwmark' ? key.af === 6 : isV6(key.addr);
}

/** -M / mask to print, or null: IPv4 when not /32, IPv6 when not 128 (as `%i`). */
function maskToPrint(se: ServiceStatus): string | null {
  if (serviceIsV6(se.key)) return se.netmask !== '128' && se.netmask !== '255.255.255.255' ? String(parseInt(se.netmask, 10)) : null;
  return se.netmask !== '255.255.255.255' ? se.netmask : null;
}

/** print_service_entry for one service and its (sorted) dests. */
export function serviceEntry(se: ServiceStatus, format: number, resolver: Resolver | null): string {
  const name = serviceName(se.key, format, resolver);
  const bits = schedFlagBits(se.schedFlags);
  const flagList = printSchedFlags(se.scheduler, bits);
  let out = '';
  if (format & FMT.RULE) {
    out += `-A ${name} -s ${se.scheduler}`;
    if (se.persistence > 0) {
      out += ` -p ${u(se.persistence)}`;
      const m = maskToPrint(se);
      if (m !== null) out += ` -M ${m}`;
    }
    if (se.pe) out += ` --pe ${se.pe}`;
    if (se.ops) out += ' -o';
    if (bits) out += ` -b ${flagList}`;
  } else if (format & (FMT.STATS | FMT.RATE)) {
    const v = format & FMT.STATS
      ? [se.stats.conns, se.stats.inpkts, se.stats.outpkts, se.stats.inbytes, se.stats.outbytes]
      : [se.rates.cps, se.rates.inpps, se.rates.outpps, se.rates.inbps, se.rates.outbps];
    out += left(name, 33) + v.map((x) => largenum(x, format)).join('');
  } else {
    out += `${name} ${se.scheduler}`;
    if (bits) out += ` (${flagList})`;
    if (se.persistence > 0) {
      out += ` persistent ${u(se.persistence)}`;
      const m = maskToPrint(se);
      if (m !== null) out += ` mask ${m}`;
      if (se.pe) out += ` pe ${se.pe}`;
    }
    if (se.ops) out += ' ops';
  }
  out += '\n';

  const dests = format & FMT.NOSORT ? se.dests : msort(se.dests, cmpDests);
  const proto = svcProto(se.key);
  for (const e of dests) {
    let dname = addrPortName(resolver, e.addr, e.port, proto);
    // dname[28] = '\0' for IPv4 dests only.
    if (!(format & FMT.RULE) && !isV6(e.addr)) dname = dname.slice(0, 28);
    if (format & FMT.RULE) {
      out += `-a ${name} -r ${dname} ${FWD_SWITCH[e.fwd]} -w ${e.weight}`;
      if (e.fwd === 'tunnel') {
        const type = e.tunType ?? 'ipip';
        const flagOpt = TUN_FLAG_OPTS[e.tunCsum ?? 'nocsum'];
        if (type === 'gre') out += ` --tun-type gre ${flagOpt}`;
        else if (type === 'gue') out += ` --tun-type gue --tun-port ${e.tunPort ?? 0} ${flagOpt}`;
        else out += ' --tun-type ipip';
      }
      out += '\n';
    } else if (format & FMT.STATS) {
      out += `  -> ${left(dname, 28)}` + [e.stats.conns, e.stats.inpkts, e.stats.outpkts, e.stats.inbytes, e.stats.outbytes]
        .map((x) => largenum(x, format)).join('') + '\n';
    } else if (format & FMT.RATE) {
      out += `  -> ${left(dname, 28)} ${right(u(e.rates.cps), 8)} ${right(u(e.rates.inpps), 8)} ${right(u(e.rates.outpps), 8)}`
        + largenum(e.rates.inbps, format) + largenum(e.rates.outbps, format) + '\n';
    } else if (format & FMT.THRESHOLDS) {
      out += `  -> ${left(dname, 28)} ${left(u(e.uThreshold), 10)} ${left(u(e.lThreshold), 10)} ${left(u(e.activeConns), 10)} ${left(u(e.inactConns), 10)}\n`;
    } else if (format & FMT.PERSISTENTCONN) {
      out += `  -> ${left(dname, 28)} ${left(u(e.weight), 9)} ${left(u(e.persistConns), 11)} ${left(u(e.activeConns), 10)} ${left(u(e.inactConns), 10)}\n`;
    } else if (format & FMT.TUN_INFO) {
      out += `  -> ${left(dname, 28)} ${left(FWD_NAME[e.fwd], 7)} ${left(tunInfo(e), 13)} ${left(e.weight, 6)} ${left(u(e.activeConns), 10)} ${left(u(e.inactConns), 10)}\n`;
    } else {
      out += `  -> ${left(dname, 28)} ${left(FWD_NAME[e.fwd], 7)} ${left(e.weight, 6)} ${left(u(e.activeConns), 10)} ${left(u(e.inactConns), 10)}\n`;
    }
  }
  return out;
}

/** Every address a listing may print, for resolving names up front. */
export function listingAddrs(services: readonly ServiceStatus[]): string[] {
  const s = new Set<string>();
  for (const se of services) {
    if (se.key.kind === 'addr') s.add(se.key.addr);
    for (const d of se.dests) s.add(d.addr);
  }
  return [...s];
}

/** list_all: header (not for -S), title, every service in ipvsadm's order. */
export function listAll(info: EngineInfo | null, services: readonly ServiceStatus[], format: number, resolver: Resolver | null): string {
  let out = '';
  if (!(format & FMT.RULE) && info) out += `IP Virtual Server version ${info.version} (size=${info.connTableSize})\n`;
  const sorted = format & FMT.NOSORT ? services : msort(services, cmpServices);
  out += title(format);
  for (const se of sorted) out += serviceEntry(se, format, resolver);
  return out;
}

/** list_service: title and the one service, no header. */
export function listService(se: ServiceStatus, format: number, resolver: Resolver | null): string {
  return title(format) + serviceEntry(se, format, resolver);
}
