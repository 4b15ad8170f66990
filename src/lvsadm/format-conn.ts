// ipvsadm -Lc (list_conn / print_conn): the connection table as ipvsadm
// prints /proc/net/ip_vs_conn, and the --timeout and --daemon one-liners.
import type { ConnEntry, SyncDaemonConfig, Timeouts } from '../ipvs/types.js';
import { FMT } from './args.js';
import { addrPortName, type NameProto, type Resolver } from './names.js';
import { left, zero2 } from './printf.js';

const PROTO_NAME: Record<ConnEntry['protocol'], string> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP', ip: 'IP' };

export function connAddrs(conns: readonly ConnEntry[]): string[] {
  const s = new Set<string>();
  for (const c of conns) { s.add(c.caddr); s.add(c.vaddr); s.add(c.daddr); }
  return [...s];
}

/** /proc/net/ip_vs_conn shows whole seconds left (jiffies / HZ, rounded down). */
function expireStr(ms: number): string {
  const expires = Math.max(0, Math.floor(ms / 1000));
  return `${zero2(Math.floor(expires / 60))}:${zero2(expires % 60)}`;
}

export function listConns(conns: readonly ConnEntry[], format: number, resolver: Resolver | null): string {
  let out = 'IPVS connection entries\n';
  if (format & FMT.PERSISTENTCONN) {
    out += `pro expire ${left('state', 11)} ${left('source', 18)} ${left('virtual', 18)} ${left('destination', 18)} ${left('pe name', 16)} pe_data\n`;
  } else {
    out += `pro expire ${left('state', 11)} ${left('source', 18)} ${left('virtual', 18)} destination\n`;
  }
  for (const c of conns) {
    const protocol = PROTO_NAME[c.protocol];
    const proto: NameProto = c.protocol;
    const cname = addrPortName(resolver, c.caddr, c.cport, proto);
    const vname = addrPortName(resolver, c.vaddr, c.vport, proto);
    const dname = addrPortName(resolver, c.daddr, c.dport, proto);
    // ipvsadm sscanf()s the proc line: pe name and data only count when both
    // are there, and the data ends at the first blank.
    const peData = c.peData?.split(/\s/)[0] ?? '';
    const state = c.state.split(/\s/)[0]!.slice(0, 15);
    if (format & FMT.PERSISTENTCONN && c.peName && peData) {
      out += `${left(protocol, 3)} ${left(expireStr(c.expiresMs), 6)} ${left(state, 11)} ${left(cname, 18)} ${left(vname, 18)} ${left(dname, 16)} ${left(c.peName, 18)} ${peData}\n`;
    } else {
      out += `${left(protocol, 3)} ${left(expireStr(c.expiresMs), 6)} ${left(state, 11)} ${left(cname, 18)} ${left(vname, 18)} ${dname}\n`;
    }
  }
  return out;
}

export function listTimeout(t: Timeouts): string {
  return `Timeout (tcp tcpfin udp): ${t.tcp} ${t.tcpfin} ${t.udp}\n`;
}

/** list_daemon: master first, then backup, as the kernel reports them. */
export function listDaemons(daemons: readonly SyncDaemonConfig[]): string {
  let out = '';
  for (const state of ['master', 'backup'] as const) {
    const d = daemons.find((x) => x.state === state);
    if (!d) continue;
    out += `${state} sync daemon (mcast=${d.mcastIfn}, syncid=${d.syncid}`;
    if (d.maxlen) out += `, maxlen=${d.maxlen}`;
    if (d.group) out += `, group=${d.group}`;
    if (d.port) out += `, port=${d.port}`;
    if (d.ttl) out += `, ttl=${d.ttl}`;
    out += ')\n';
  }
  return out;
}
