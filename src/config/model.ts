// The typed model of a keepalived.conf (or its YAML twin). Every value the
// runtime needs is resolved here with keepalived 2.2's defaults, so the VRRP,
// checker and rules code never has to know what the user left out.
//
// Every node carries the position of the keyword that introduced it, so
// errors found later (at run time, by check-host) still point at the file.

export interface SourcePos {
  file: string;
  line: number;
  col: number;
}

/**
 * What keepalived -t would make of a diagnostic: the config_err_t it raises
 * (lib/parser.h order). EXIT_CONFIG is no config_err_t: it stands for
 * keepalived giving up on the spot with exit(KEEPALIVED_EXIT_CONFIG) = 2
 * (a keyword whose parameter is missing, lib/parser.c null_strvec()), which
 * outranks whatever was found before; it is last so that it wins.
 */
export const KA_ERR = [
  'OK', 'FILE_NOT_FOUND', 'BAD_IF', 'FATAL', 'MULTIPLE_FILES', 'UNKNOWN_KEYWORD', 'UNEXPECTED_BOB',
  'MISSING_BOB', 'UNEXPECTED_EOB', 'MISSING_EOB', 'UNMATCHED_QUOTE', 'MISSING_PARAMETER',
  'INVALID_NUMBER', 'GENERAL_ERROR', 'WARNING', 'DEPRECATED', 'SECURITY_ERROR', 'EXIT_CONFIG',
] as const;
export type KaErr = (typeof KA_ERR)[number];

export type Severity = 'error' | 'warning' | 'note';

export interface Diagnostic extends SourcePos {
  /** error: lvs-keepalived refuses the config; warning: it runs, skipping or defaulting the item. */
  severity: Severity;
  message: string;
  /** What to do about it. */
  hint: string;
  /** The error class keepalived 2.2 raises for the same thing ('OK' when it is silent). */
  ka: KaErr;
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type LvsMethod = 'NAT' | 'DR' | 'TUN';

export interface GlobalDefs {
  pos?: SourcePos;
  router_id?: string;
  notification_email: string[];
  notification_email_from?: string;
  smtp_server?: string;
  smtp_connect_timeout?: number;
  vrrp_version: 2 | 3;
  vrrp_mcast_group4: string;
  /** Where IPv6 instances send adverts; default ff02::12. */
  vrrp_mcast_group6: string;
  vrrp_garp_master_delay: number;
  vrrp_garp_master_repeat: number;
  vrrp_garp_master_refresh: number;
  vrrp_garp_master_refresh_repeat: number;
  /** seconds between gratuitous ARPs; 0 = keepalived's default (none) */
  vrrp_garp_interval: number;
  vrrp_strict: boolean;
  vrrp_skip_check_adv_addr: boolean;
  /** --set tcp tcpfin udp; undefined = leave the engine's. */
  lvs_timeouts?: { tcp?: number; tcpfin?: number; udp?: number };
  lvs_flush: boolean;
  lvs_flush_on_stop: boolean;
  lvs_sync_daemon?: LvsSyncDaemon;
  enable_script_security: boolean;
  script_user?: { user: string; group?: string };
  /** On SIGHUP, check the new configuration first and keep the running one if it has errors; the check's report goes to log_file if given. */
  reload_check_config?: { log_file?: string };
}

export interface LvsSyncDaemon {
  interface: string;
  instance?: string;
  id?: number;
  maxlen?: number;
  port?: number;
  ttl?: number;
  group?: string;
}

export interface VrrpScript {
  pos: SourcePos;
  name: string;
  script: string;
  /** seconds */
  interval: number;
  /** seconds; keepalived uses the interval when none is given. */
  timeout: number;
  /** -253..253; 0 = a failure puts tracking instances into FAULT. */
  weight: number;
  weight_reverse: boolean;
  rise: number;
  fall: number;
  user?: string;
  init_fail: boolean;
}

export interface TrackScriptRef {
  name: string;
  weight?: number;
  reverse?: boolean;
}
export interface TrackInterfaceRef {
  name: string;
  weight?: number;
  reverse?: boolean;
}

export interface NotifyScripts {
  notify?: string;
  notify_master?: string;
  notify_backup?: string;
  notify_fault?: string;
  notify_stop?: string;
}

export interface VrrpSyncGroup extends NotifyScripts {
  pos: SourcePos;
  name: string;
  group: string[];
  track_interface: TrackInterfaceRef[];
  track_script: TrackScriptRef[];
}

export interface VirtualIp {
  pos: SourcePos;
  addr: string;
  prefix: number;
  brd?: string;
  dev?: string;
  scope?: string;
  label?: string;
  /** Any words after the ones above that keepalived accepts (no_track, preferred_lft, …), kept verbatim. */
  extra?: string[];
}

export interface UnicastPeer {
  addr: string;
  min_ttl?: number;
  max_ttl?: number;
}

export interface VrrpInstance extends NotifyScripts {
  pos: SourcePos;
  name: string;
  state: 'MASTER' | 'BACKUP';
  interface?: string;
  virtual_router_id: number;
  priority: number;
  /** seconds, may be fractional */
  advert_int: number;
  version: 2 | 3;
  /**
   * The address family the instance runs over, as keepalived deduces it: the
   * first of its virtual_ipaddress, mcast/unicast source and peers, or
   * native_ipv6; IPv4 when none says. IPv6 instances run VRRPv3 to ff02::12
   * from the interface's link-local address and announce with unsolicited
   * neighbour advertisements.
   */
  family: 4 | 6;
  /** native_ipv6: IPv6 even without addresses to say so. */
  native_ipv6: boolean;
  authentication?: { auth_type: 'PASS' | 'AH'; auth_pass: string };
  virtual_ipaddress: VirtualIp[];
  virtual_ipaddress_excluded: VirtualIp[];
  /** Routes and rules the instance holds while MASTER, with its addresses (vrrp_iproute.c, vrrp_iprule.c). */
  virtual_routes: StaticRoute[];
  virtual_rules: StaticRule[];
  mcast_src_ip?: string;
  unicast_src_ip?: string;
  unicast_peer: UnicastPeer[];
  track_interface: TrackInterfaceRef[];
  track_script: TrackScriptRef[];
  dont_track_primary: boolean;
  nopreempt: boolean;
  /** seconds */
  preempt_delay: number;
  garp_master_delay: number;
  garp_master_repeat: number;
  garp_master_refresh: number;
  garp_master_refresh_repeat: number;
  down_timer_adverts: number;
  /** Accept packets to the VIPs when MASTER. keepalived's default: on, except under vrrp_strict (then only the owner, priority 255). */
  accept: boolean;
  notify_master_rx_lower_pri?: string;
  smtp_alert: boolean;
  /**
   * lvsd extension, not a keepalived keyword: split-brain detection for
   * two-node pairs. Written `reference_ip A.B.C.D [A.B.C.D…]` (alias
   * `check_reference`) inside vrrp_instance. A node that cannot reach any
   * reference address refuses to become (or stay) MASTER. keepalived -t
   * reports the line as an unknown keyword and otherwise ignores it.
   */
  reference_ip: string[];
}

export interface VsGroupEntry {
  pos: SourcePos;
  kind: 'addr' | 'fwmark';
  /** the address, or the first of a range */
  addr?: string;
  /**
   * the last address of a range, however written: `a.b.c.d-e`, `a.b.c.d-w.x.y.z`
   * or `a.b.c.d/nn`; for IPv6 `a::b-XXXX` (hex), `a::b-c::d` or `a::/nn`.
   * keepalived steps an IPv6 range through its last 16 bits only, from the
   * start's to the end's (ipvswrapper.c ipvs_group_range_cmd), and so do we.
   */
  addrEnd?: string;
  port?: number;
  fwmark?: number;
}

export interface VirtualServerGroup {
  pos: SourcePos;
  name: string;
  entries: VsGroupEntry[];
}

export interface HttpUrl {
  pos: SourcePos;
  path: string;
  digest?: string;
  /** inclusive ranges; keepalived's default is 200-299 */
  status_code: Array<[number, number]>;
  virtualhost?: string;
}

interface CheckerTimers {
  pos: SourcePos;
  retry: number;
  /** seconds */
  delay_before_retry: number;
  /** seconds */
  warmup?: number;
  /** seconds */
  delay_loop: number;
}

/** Checkers that open a connection; MISC_CHECK has none of these keywords in keepalived. */
interface CheckerCommon extends CheckerTimers {
  connect_ip?: string;
  connect_port?: number;
  bindto?: string;
  bind_port?: number;
  bind_if?: string;
  fwmark?: number;
  /** seconds */
  connect_timeout: number;
}

export interface HttpChecker extends CheckerCommon {
  type: 'HTTP_GET' | 'SSL_GET';
  urls: HttpUrl[];
  http_protocol?: '1.0' | '1.0C' | '1.1';
  virtualhost?: string;
  enable_sni: boolean;
  fast_recovery: boolean;
}
export interface TcpChecker extends CheckerCommon {
  type: 'TCP_CHECK';
}
export interface MiscChecker extends CheckerTimers {
  type: 'MISC_CHECK';
  misc_path: string;
  /** seconds; undefined = delay_loop */
  misc_timeout?: number;
  misc_dynamic: boolean;
  user?: string;
}
export interface DnsChecker extends CheckerCommon {
  type: 'DNS_CHECK';
  dns_type: string;
  name: string;
}
export type Checker = HttpChecker | TcpChecker | MiscChecker | DnsChecker;
export type CheckerType = Checker['type'];

export interface RealServer {
  pos: SourcePos;
  addr: string;
  /** 0 when not given: the virtual server's port (or any port for fwmark services). */
  port: number;
  weight: number;
  lvs_method?: LvsMethod;
  uthreshold: number;
  lthreshold: number;
  inhibit_on_failure?: boolean;
  notify_up?: string;
  notify_down?: string;
  alpha?: boolean;
  /** Host header for this server's HTTP/SSL checks: url's, else checker's, else this, else the virtual server's. */
  virtualhost?: string;
  checkers: Checker[];
}

export type VirtualServerKey =
  | { kind: 'addr'; addr: string; port: number }
  | { kind: 'fwmark'; fwmark: number }
  | { kind: 'group'; group: string };

export interface VirtualServer {
  pos: SourcePos;
  key: VirtualServerKey;
  /**
   * The service's address family as keepalived deduces it (vs->af): the
   * address, else ip_family, persistence_granularity, the first real or sorry
   * server that is not tunnelled. Absent when nothing says (a group or
   * fwmark service with only tunnelled servers): each group address then
   * gives its own.
   */
  family?: 4 | 6;
  /** Always TCP for a service made only of fwmarks: keepalived ignores the protocol there. */
  protocol: Protocol;
  lvs_sched: string;
  lvs_method: LvsMethod;
  /** seconds; 0 = not persistent */
  persistence_timeout: number;
  persistence_granularity?: string;
  persistence_engine?: string;
  ops: boolean;
  sched_flags: string[];
  delay_loop: number;
  quorum: number;
  hysteresis: number;
  quorum_up?: string;
  quorum_down?: string;
  sorry_server?: { addr: string; port: number };
  sorry_server_inhibit: boolean;
  alpha: boolean;
  omega: boolean;
  inhibit_on_failure: boolean;
  ha_suspend: boolean;
  virtualhost?: string;
  real_servers: RealServer[];
}

/**
 * static_routes / static_rules: one line each, kept as keepalived's words
 * (they are ip(8)'s, less keepalived's own: add/append, track_group,
 * no_track), checked as keepalived checks them. Applied at start with
 * `ip route` / `ip rule`, removed at stop (vrrp_iproute.c, vrrp_iprule.c).
 */
export interface StaticRoute {
  pos: SourcePos;
  args: string[];
  /** 6 for an IPv6 route (its addresses or `inet6`); absent for IPv4. */
  family?: 6;
}
export interface StaticRule {
  pos: SourcePos;
  args: string[];
  /** 6 for an IPv6 rule (its prefixes or `inet6`); absent for IPv4. */
  family?: 6;
}

/**
 * lvsd extension, not a keepalived keyword: `lvsd_announce { … }` at the top
 * level. lvs-keepalived announces each prefix to a routing daemon (BIRD 2)
 * while the local lvsd answers and every virtual_server whose address is in
 * the prefix has quorum, and withdraws it otherwise (ECMP scale-out, issue 14).
 * It writes a `protocol static` into `bird_include` (which bird.conf includes)
 * and runs `birdc -s bird_socket configure`. keepalived -t reports the block
 * as an unknown keyword and otherwise ignores it.
 */
export interface LvsdAnnounce {
  pos: SourcePos;
  /** BIRD's control socket (birdc -s). */
  bird_socket: string;
  /** The file lvs-keepalived writes; bird.conf must `include` it. */
  bird_include: string;
  /** The name of the `protocol static` in that file (bird.conf's export filters use it). */
  protocol_name: string;
  /** The birdc binary. */
  birdc: string;
  /** seconds between health evaluations */
  check_interval: number;
  /** Prefixes to announce; empty = the /32 of every address virtual_server. */
  prefix: string[];
  /** Withdraw on a clean stop (SIGTERM); off keeps the routes announced while lvsd forwards on. */
  withdraw_on_stop: boolean;
}

export interface KeepalivedConfig {
  global_defs: GlobalDefs;
  lvsd_announce?: LvsdAnnounce;
  /** Addresses keepalived adds at start and removes at stop; VRRP never moves them. */
  static_ipaddress: VirtualIp[];
  static_routes: StaticRoute[];
  static_rules: StaticRule[];
  vrrp_scripts: VrrpScript[];
  vrrp_sync_groups: VrrpSyncGroup[];
  vrrp_instances: VrrpInstance[];
  virtual_server_groups: VirtualServerGroup[];
  virtual_servers: VirtualServer[];
}

// keepalived 2.2.7 defaults (global_data.c, vrrp_data.c, check_api.c, check_parser.c).
export const DEFAULTS = {
  vrrp_version: 2 as const,
  vrrp_mcast_group4: '224.0.0.18',
  vrrp_mcast_group6: 'ff02::12',
  garp_delay: 5,
  garp_repeat: 5,
  garp_refresh: 0,
  garp_refresh_repeat: 1,
  garp_interval: 0,
  priority: 100,
  advert_int: 1,
  down_timer_adverts: 3,
  preempt_delay: 0,
  script_interval: 1,
  script_weight: 0,
  delay_loop: 60,
  connect_timeout: 5,
  retry: 1,
  retry_dns: 3,
  retry_misc: 0,
  delay_before_retry: 1,
  delay_before_retry_http: 3,
  weight: 1,
  persistence_timeout_bare: 360,
  lvs_sched: 'wlc',
  lvs_method: 'NAT' as LvsMethod,
  protocol: 'UDP' as Protocol,
  quorum: 1,
  dns_type: 'SOA',
  dns_name: '.',
  status_code: [200, 299] as [number, number],
  announce_bird_socket: '/run/bird/bird.ctl',
  announce_bird_include: '/etc/bird/lvsd-announce.conf',
  announce_protocol_name: 'lvsd_announce',
  announce_interval: 1,
};

export function emptyGlobalDefs(): GlobalDefs {
  return {
    notification_email: [],
    vrrp_version: DEFAULTS.vrrp_version,
    vrrp_mcast_group4: DEFAULTS.vrrp_mcast_group4,
    vrrp_mcast_group6: DEFAULTS.vrrp_mcast_group6,
    vrrp_garp_master_delay: DEFAULTS.garp_delay,
    vrrp_garp_master_repeat: DEFAULTS.garp_repeat,
    vrrp_garp_master_refresh: DEFAULTS.garp_refresh,
    vrrp_garp_master_refresh_repeat: DEFAULTS.garp_refresh_repeat,
    vrrp_garp_interval: DEFAULTS.garp_interval,
    vrrp_strict: false,
    vrrp_skip_check_adv_addr: false,
    lvs_flush: false,
    lvs_flush_on_stop: false,
    enable_script_security: false,
  };
}

export function emptyConfig(): KeepalivedConfig {
  return {
    global_defs: emptyGlobalDefs(),
    static_ipaddress: [],
    static_routes: [],
    static_rules: [],
    vrrp_scripts: [],
    vrrp_sync_groups: [],
    vrrp_instances: [],
    virtual_server_groups: [],
    virtual_servers: [],
  };
}
