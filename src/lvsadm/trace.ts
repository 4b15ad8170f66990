// lvsadm --trace -t VIP:PORT --client CIP[:PORT]: ask lvsd which real
// server a new flow from that client would be given, and why (an existing
// connection or persistence template, the scheduler's pick, or no usable
// server). A dry run: lvsd creates no connection for it.
import type { ServiceKey } from '../ipvs/types.js';
import type { Ops } from '../control/protocol.js';
import { addrPortName, type Resolver } from './names.js';
import { serviceName } from './format-list.js';
import { jsonDoc } from './json.js';

export type TraceResult = Ops['trace']['result'];

const FWD_NAME: Record<string, string> = { masq: 'Masq', local: 'Local', tunnel: 'Tunnel', route: 'Route' };

export function traceText(
  key: ServiceKey, client: { addr: string; port: number }, result: TraceResult, format: number, resolver: Resolver | null,
): string {
  const proto = key.kind === 'fwmark' ? 'tcp' : key.protocol;
  const svc = serviceName(key, format, resolver);
  const from = addrPortName(resolver, client.addr, client.port, proto);
  let out = `${svc} from ${from}\n`;
  if (result.dest) {
    const dname = addrPortName(resolver, result.dest.addr, result.dest.port, proto);
    const fwd = result.dest.fwd ? ` ${FWD_NAME[result.dest.fwd] ?? result.dest.fwd}` : '';
    out += `  -> ${dname}${fwd}: ${result.reason}\n`;
  } else {
    out += `  -> no real server: ${result.reason}\n`;
  }
  return out;
}

export function traceJson(key: ServiceKey, client: { addr: string; port: number }, result: TraceResult): string {
  const body: Record<string, unknown> = { service: key, client };
  if (result.dest) body.dest = result.dest;
  body.reason = result.reason;
  return jsonDoc(body);
}
