// The rule model shared by the control socket, lvsadm, lvs-keepalived and the
// engine: what ipvsadm calls a virtual service and a real server (dest).
// Addresses are strings here: a dotted quad, or IPv6 text ('2001:db8::1');
// the engine keeps an IPv4 address as a u32 and an IPv6 one as four words,
// and lists IPv6 addresses in inet_ntop's form, as ipvsadm prints them.

export type Protocol = 'tcp' | 'udp' | 'sctp';

/** IPVS forwarding methods (IP_VS_CONN_F_*): masq=-m, tunnel=-i, route=-g, local. */
export type FwdMethod = 'masq' | 'local' | 'tunnel' | 'route';

export const SCHEDULERS = [
  'rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos',
] as const;
export type SchedulerName = (typeof SCHEDULERS)[number];
export const DEFAULT_SCHEDULER: SchedulerName = 'wlc';

/** -b flags; ipvsadm prints them in this order whatever order they were given. */
export const SCHED_FLAGS = ['sh-fallback', 'sh-port', 'mh-fallback', 'mh-port', 'flag-1', 'flag-2', 'flag-3'] as const;
export type SchedFlag = (typeof SCHED_FLAGS)[number];

export type TunType = 'ipip' | 'gue' | 'gre';
export type TunCsum = 'nocsum' | 'csum' | 'remcsum';

/** A virtual service is either protocol+VIP+port or a firewall mark. */
export type ServiceKey =
  | { kind: 'addr'; protocol: Protocol; addr: string; port: number }
  | { kind: 'fwmark'; fwmark: number; af?: 4 | 6 };

export interface ServiceSpec {
  key: ServiceKey;
  scheduler: SchedulerName;
  /** Persistence timeout in seconds; 0 = not persistent (-p). */
  persistence: number;
  /** Persistence granularity (-M): a dotted quad for IPv4 (default 255.255.255.255), a prefix length for IPv6 ('128', the default). */
  netmask: string;
  /** One-packet scheduling (-o). */
  ops: boolean;
  schedFlags: SchedFlag[];
  /** Persistence engine (--pe), e.g. 'sip'; undefined if none. */
  pe?: string;
}

export interface DestSpec {
  addr: string;
  port: number;
  fwd: FwdMethod;
  /** 0..65535; 0 = quiesced (no new connections, existing ones keep flowing). */
  weight: number;
  /** Upper / lower connection thresholds (-x / -y); 0 = none. */
  uThreshold: number;
  lThreshold: number;
  tunType?: TunType;
  tunPort?: number;
  tunCsum?: TunCsum;
}

export interface ServiceRules extends ServiceSpec {
  dests: DestSpec[];
}

/** A whole ruleset, applied atomically by `replace` (ipvsadm -R, keepalived reloads). */
export interface Ruleset {
  services: ServiceRules[];
}

/** --set tcp tcpfin udp, seconds. */
export interface Timeouts {
  tcp: number;
  tcpfin: number;
  udp: number;
}
export const DEFAULT_TIMEOUTS: Timeouts = { tcp: 900, tcpfin: 120, udp: 300 };

/** Cumulative counters (ip_vs_stats): conns, packets and bytes each way. */
export interface StatsSnapshot {
  conns: number;
  inpkts: number;
  outpkts: number;
  inbytes: number;
  outbytes: number;
}

/** Estimated rates (ip_vs_est): per second. */
export interface RatesSnapshot {
  cps: number;
  inpps: number;
  outpps: number;
  inbps: number;
  outbps: number;
}

export interface DestStatus extends DestSpec {
  activeConns: number;
  inactConns: number;
  persistConns: number;
  stats: StatsSnapshot;
  rates: RatesSnapshot;
}

export interface ServiceStatus extends ServiceSpec {
  stats: StatsSnapshot;
  rates: RatesSnapshot;
  dests: DestStatus[];
}

/** One row of `ipvsadm -Lnc` (/proc/net/ip_vs_conn). */
export interface ConnEntry {
  protocol: Protocol | 'ip';
  caddr: string;
  cport: number;
  vaddr: string;
  vport: number;
  daddr: string;
  dport: number;
  /** IPVS state name: ESTABLISHED, SYN_RECV, FIN_WAIT, ..., NONE for templates, UDP for udp. */
  state: string;
  /** Milliseconds until expiry. */
  expiresMs: number;
  fwd: FwdMethod;
  /** Persistence template (listed with client port 0 and state NONE). */
  template: boolean;
  fwmark?: number;
  peName?: string;
  peData?: string;
}

export interface EngineInfo {
  /** "1.2.1" as IPVS reports; lvsd reports its own engine version of the ABI it mimics. */
  version: string;
  /** Connection-table bucket count, the `size=` of ipvsadm's header line. */
  connTableSize: number;
}

export interface SyncDaemonConfig {
  state: 'master' | 'backup';
  mcastIfn: string;
  syncid: number;
  maxlen?: number;
  group?: string;
  port?: number;
  ttl?: number;
}
