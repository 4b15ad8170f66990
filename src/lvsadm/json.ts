// --json: machine-readable listings. Addresses are always numeric, counters
// are plain numbers, order is the order the text listing would print
// (sorted as ipvsadm sorts unless --nosort). One JSON document per run,
// pretty-printed, ending in a newline.
//
// Schema (every document carries "schema": "lvsadm/1"):
//
//   lvsadm -L [--stats|--rate|...] --json            (full listing)
//   { "schema": "lvsadm/1",
//     "version": "1.2.1", "connTableSize": 4096,
//     "services": [ Service, ... ] }
//
//   lvsadm -L -t|-u|--sctp-service|-f SERVICE --json (one service)
//   { "schema": "lvsadm/1", "services": [ Service ] }
//
//   Service = {
//     "key": { "kind": "addr", "protocol": "tcp"|"udp"|"sctp", "addr": "10.0.0.1", "port": 80 }
//          | { "kind": "fwmark", "fwmark": 1 },
//     "scheduler": "wlc", "persistence": 0 (seconds, 0 = off),
//     "netmask": "255.255.255.255", "ops": false,
//     "schedFlags": ["sh-port", ...] (canonical order), "pe": "sip" (only if set),
//     "stats": { "conns", "inpkts", "outpkts", "inbytes", "outbytes" },
//     "rates": { "cps", "inpps", "outpps", "inbps", "outbps" },
//     "dests": [ Dest, ... ] }
//   Dest = {
//     "addr", "port", "fwd": "masq"|"route"|"tunnel"|"local", "weight",
//     "uThreshold", "lThreshold", "activeConns", "inactConns", "persistConns",
//     "tunType"?, "tunPort"?, "tunCsum"? (tunnel dests only),
//     "stats": {...}, "rates": {...} }
//
//   lvsadm -Lc --json
//   { "schema": "lvsadm/1", "connections": [ {
//       "protocol": "tcp"|"udp"|"sctp"|"ip", "caddr", "cport", "vaddr", "vport",
//       "daddr", "dport", "state": "ESTABLISHED"|..., "expiresMs", "fwd",
//       "template": bool, "fwmark"?, "peName"?, "peData"? } ] }
//
//   lvsadm -L --timeout --json
//   { "schema": "lvsadm/1", "timeouts": { "tcp": 900, "tcpfin": 120, "udp": 300 } }
//
//   lvsadm -L --daemon --json
//   { "schema": "lvsadm/1", "daemons": [ { "state": "master"|"backup", "mcastIfn",
//       "syncid", "maxlen"?, "group"?, "port"?, "ttl"? } ] }
//
//   lvsadm -S --json
//   { "schema": "lvsadm/1", "ruleset": { "services": [ ServiceRules ] } }
//   (Service without stats/rates; Dest without counters: exactly what
//   `replace` accepts, so it can be fed back to lvsd.)
//
//   lvsadm --trace -t VIP:PORT --client CIP[:PORT] --json
//   { "schema": "lvsadm/1", "service": key, "client": { "addr", "port" },
//     "dest": { "addr", "port", "fwd"? } (absent when no server would be chosen),
//     "reason": "..." }
import type {
  ConnEntry, DestSpec, DestStatus, EngineInfo, Ruleset, ServiceRules, ServiceStatus, SyncDaemonConfig, Timeouts,
} from '../ipvs/types.js';

export const JSON_SCHEMA = 'lvsadm/1';

export function jsonDoc(body: Record<string, unknown>): string {
  return JSON.stringify({ schema: JSON_SCHEMA, ...body }, null, 2) + '\n';
}

function destJson(d: DestStatus): Record<string, unknown> {
  const o: Record<string, unknown> = {
    addr: d.addr, port: d.port, fwd: d.fwd, weight: d.weight,
    uThreshold: d.uThreshold, lThreshold: d.lThreshold,
    activeConns: d.activeConns, inactConns: d.inactConns, persistConns: d.persistConns,
  };
  if (d.tunType !== undefined) o.tunType = d.tunType;
  if (d.tunPort !== undefined) o.tunPort = d.tunPort;
  if (d.tunCsum !== undefined) o.tunCsum = d.tunCsum;
  o.stats = d.stats;
  o.rates = d.rates;
  return o;
}

function specFields(s: ServiceStatus | ServiceRules): Record<string, unknown> {
  const o: Record<string, unknown> = {
    key: s.key, scheduler: s.scheduler, persistence: s.persistence, netmask: s.netmask,
    ops: s.ops, schedFlags: s.schedFlags,
  };
  if (s.pe !== undefined) o.pe = s.pe;
  return o;
}

export function servicesJson(services: readonly ServiceStatus[], info: EngineInfo | null): string {
  const body: Record<string, unknown> = {};
  if (info) { body.version = info.version; body.connTableSize = info.connTableSize; }
  body.services = services.map((s) => ({ ...specFields(s), stats: s.stats, rates: s.rates, dests: s.dests.map(destJson) }));
  return jsonDoc(body);
}

function destSpecOnly(d: DestSpec): DestSpec {
  const o: DestSpec = {
    addr: d.addr, port: d.port, fwd: d.fwd, weight: d.weight, uThreshold: d.uThreshold, lThreshold: d.lThreshold,
  };
  if (d.tunType !== undefined) o.tunType = d.tunType;
  if (d.tunPort !== undefined) o.tunPort = d.tunPort;
  if (d.tunCsum !== undefined) o.tunCsum = d.tunCsum;
  return o;
}

export function rulesetJson(services: readonly (ServiceStatus | ServiceRules)[]): string {
  const ruleset: Ruleset = {
    services: services.map((s) => ({ ...(specFields(s) as unknown as ServiceRules), dests: s.dests.map(destSpecOnly) })),
  };
  return jsonDoc({ ruleset });
}

export function connsJson(conns: readonly ConnEntry[]): string {
  return jsonDoc({ connections: conns });
}

export function timeoutsJson(t: Timeouts): string {
  return jsonDoc({ timeouts: { tcp: t.tcp, tcpfin: t.tcpfin, udp: t.udp } });
}

export function daemonsJson(d: readonly SyncDaemonConfig[]): string {
  return jsonDoc({ daemons: d });
}
