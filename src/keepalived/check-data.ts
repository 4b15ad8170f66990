// keepalived's check_data.c for lvs-keepalived: the config model
// (keepalived.conf's seconds, keepalived's names) mapped to src/check/'s
// options (milliseconds, camelCase), one VirtualServerChecks config per
// virtual_server, and the names (FMT_VS, FMT_RS) checkers and dests share.
// What those real servers become in lvsd is ipvswrapper.ts's.
import type { CheckOptions, DnsType, HttpUrl as CheckUrl, RealServerChecks, VirtualServerChecksConfig } from '../check/index.js';
import { DNS_TYPES, formatTrio } from '../check/index.js';
import type { Checker as ModelChecker, KeepalivedConfig, RealServer, VirtualServer } from '../config/index.js';

const ms = (s: number): number => Math.round(s * 1000);

export function vsPort(vs: VirtualServer): number {
  return vs.key.kind === 'addr' ? vs.key.port : 0;
}

/** keepalived's FMT_VS: "[ip]:tcp:port", "FWM n", or the group name. */
export function vsName(vs: VirtualServer): string {
  const proto = vs.protocol.toLowerCase() as 'tcp' | 'udp' | 'sctp';
  switch (vs.key.kind) {
    case 'addr': return formatTrio(vs.key.addr, proto, vs.key.port);
    case 'fwmark': return `FWM ${vs.key.fwmark}`;
    case 'group': return vs.key.group;
  }
}

/** What identifies a virtual_server across a reload (keepalived's vs_iseq: address/port or fwmark or group, and protocol). */
export function vsIdentity(vs: VirtualServer): string {
  return `${vs.protocol} ${vsName(vs)}`;
}

export function rsPort(rs: RealServer, vs: VirtualServer): number {
  return rs.port || vsPort(vs);
}

/** keepalived's FMT_RS for a real server of `vs`. */
export function rsKey(rs: { addr: string }, port: number, vs: VirtualServer): string {
  return formatTrio(rs.addr, vs.protocol.toLowerCase() as 'tcp' | 'udp' | 'sctp', port);
}

function checkerOptions(c: ModelChecker, rs: RealServer, vs: VirtualServer, log: (msg: string) => void): CheckOptions {
  const alpha = rs.alpha ?? vs.alpha;
  const timing = {
    delayLoop: ms(c.delay_loop),
    retry: c.retry,
    delayBeforeRetry: ms(c.delay_before_retry),
    ...(c.warmup !== undefined ? { warmup: ms(c.warmup) } : {}),
    alpha,
  };
  if (c.type === 'MISC_CHECK') {
    return {
      type: 'MISC_CHECK', ...timing,
      miscPath: c.misc_path,
      ...(c.misc_timeout !== undefined ? { miscTimeout: ms(c.misc_timeout) } : {}),
      miscDynamic: c.misc_dynamic,
      ...(c.user !== undefined ? { user: c.user } : {}),
    };
  }
  const connect = {
    connectIp: c.connect_ip ?? rs.addr,
    connectPort: c.connect_port ?? rsPort(rs, vs),
    connectTimeout: ms(c.connect_timeout),
    ...(c.bindto !== undefined ? { bindto: c.bindto } : {}),
    ...(c.bind_port !== undefined ? { bindPort: c.bind_port } : {}),
    ...(c.bind_if !== undefined ? { bindIf: c.bind_if } : {}),
  };
  // bind_if is the scope of a link-local IPv6 destination (applied); keepalived also binds the socket to it, which node cannot.
  const linkLocal = /^fe[89ab]/i.test(connect.connectIp) && connect.connectIp.includes(':');
  if (c.fwmark !== undefined || (c.bind_if !== undefined && !linkLocal)) {
    log(`${c.pos.file}:${c.pos.line}:${c.pos.col}: ${c.type} of ${rsKey(rs, rsPort(rs, vs), vs)}: fwmark/bind_if are not applied to checker sockets; the check runs without them`);
  }
  switch (c.type) {
    case 'HTTP_GET':
    case 'SSL_GET': {
      const urls: CheckUrl[] = c.urls.map((u) => ({
        path: u.path,
        ...(u.digest !== undefined ? { digest: u.digest } : {}),
        statusCodes: u.status_code.map(([lo, hi]) => (lo === hi ? lo : [lo, hi] as const)),
        ...(u.virtualhost !== undefined ? { virtualhost: u.virtualhost } : {}),
      }));
      // keepalived: the checker's virtualhost, else the virtual_server's.
      const virtualhost = c.virtualhost ?? vs.virtualhost;
      const base = {
        ...timing, ...connect, urls,
        ...(c.http_protocol !== undefined ? { httpProtocol: c.http_protocol } : {}),
        ...(virtualhost !== undefined ? { virtualhost } : {}),
      };
      return c.type === 'HTTP_GET' ? { type: 'HTTP_GET', ...base } : { type: 'SSL_GET', ...base, enableSni: c.enable_sni };
    }
    case 'TCP_CHECK':
      return { type: 'TCP_CHECK', ...timing, ...connect };
    case 'DNS_CHECK': {
      const t = c.dns_type.toUpperCase();
      const dnsType: DnsType = Object.hasOwn(DNS_TYPES, t) ? (t as DnsType) : 'SOA';
      if (dnsType !== t) log(`${c.pos.file}:${c.pos.line}:${c.pos.col}: DNS_CHECK type ${c.dns_type} is not one keepalived knows; using SOA`);
      return { type: 'DNS_CHECK', ...timing, ...connect, connectPort: c.connect_port ?? 53, dnsType, name: c.name };
    }
  }
}

export interface VsPlan {
  vs: VirtualServer;
  identity: string;
  checks: VirtualServerChecksConfig;
  /** Every dest the checks may put in lvsd, by key: the real servers, then the sorry server (once, if it is also a real server). */
  destKeys: string[];
  /** Per real-server key, a signature of its checkers, to tell which survive a reload unchanged. */
  checkerSigs: Map<string, string[]>;
}

/**
 * One plan per virtual_server: the checks to run and the dests their
 * verdicts speak of. `log` receives warnings about options we cannot honour.
 */
export function planVirtualServers(model: KeepalivedConfig, log: (msg: string) => void = () => undefined): VsPlan[] {
  return model.virtual_servers.map((vs) => {
    const checkerSigs = new Map<string, string[]>();
    const realServers: RealServerChecks[] = vs.real_servers.map((rs) => {
      const port = rsPort(rs, vs);
      const key = rsKey(rs, port, vs);
      const checkers = rs.checkers.map((c) => checkerOptions(c, rs, vs, log));
      checkerSigs.set(key, checkers.map((c) => JSON.stringify(c)));
      return {
        key,
        weight: rs.weight,
        inhibitOnFailure: rs.inhibit_on_failure ?? vs.inhibit_on_failure,
        ...(rs.notify_up !== undefined ? { notifyUp: rs.notify_up } : {}),
        ...(rs.notify_down !== undefined ? { notifyDown: rs.notify_down } : {}),
        checkers,
      };
    });
    let sorryServer: VirtualServerChecksConfig['sorryServer'];
    if (vs.sorry_server) {
      const port = vs.sorry_server.port || vsPort(vs);
      const key = rsKey(vs.sorry_server, port, vs);
      sorryServer = { key, weight: 1, inhibit: vs.sorry_server_inhibit };
    }
    // A sorry server that is also a real server shares its dest (keepalived uses one IPVS dest for it).
    const destKeys = [...new Set([...realServers.map((r) => r.key), ...(sorryServer ? [sorryServer.key] : [])])];
    const checks: VirtualServerChecksConfig = {
      name: vsName(vs),
      quorum: vs.quorum,
      hysteresis: vs.hysteresis,
      ...(vs.quorum_up !== undefined ? { quorumUp: vs.quorum_up } : {}),
      ...(vs.quorum_down !== undefined ? { quorumDown: vs.quorum_down } : {}),
      ...(sorryServer ? { sorryServer } : {}),
      omega: vs.omega,
      realServers,
    };
    return { vs, identity: vsIdentity(vs), checks, destKeys, checkerSigs };
  });
}
