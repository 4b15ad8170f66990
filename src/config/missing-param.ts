// Keywords whose missing parameter makes keepalived 2.2.7 give up on the
// whole configuration. Most keyword handlers read their first word through
// strvec_slot() (lib/vector.c); past the end of the line that calls
// null_strvec() (lib/parser.c), which logs "Configuration line starting `kw`
// is missing a parameter after keyword `kw` at word position 2" and calls
// exit(KEEPALIVED_EXIT_CONFIG), so `keepalived -t` exits 2 whatever else the
// file holds. A handler that counts its words first (router_id,
// persistence_timeout, virtualhost, script_user, vrrp_instance's name, …)
// reports and goes on instead, and flags (nopreempt, ha_suspend, …) read no
// word at all. Real files hit this through templates: `state {{ STATE }}`
// reaches keepalived as `state` alone, the braces split off as a block.
//
// Which handler does which was read off keepalived's sources and then
// confirmed keyword by keyword against `keepalived -t`;
// test/config/missing-param.test.ts keeps that comparison live.
// Keyed by the block the keyword sits in (the innermost block's keyword,
// 'ROOT' for the top level).

const set = (...a: string[]): ReadonlySet<string> => new Set(a);

/** Every checker's connection keywords (check_api.c install_checker_common_keywords(true)). */
const CONN = ['bind_if', 'bind_port', 'bindto', 'connect_ip', 'connect_port', 'connect_timeout', 'fwmark'];
/** …and the timers every checker has, MISC_CHECK included. */
const TIMERS = ['delay_before_retry', 'delay_loop', 'retry', 'warmup'];

export const EXITS_WITHOUT_PARAM: Readonly<Record<string, ReadonlySet<string>>> = {
  ROOT: set('virtual_server', 'virtual_server_group', 'vrrp_script', 'vrrp_track_process', 'child_wait_time'),
  global_defs: set(
    'bfd_process_name', 'bfd_rlimit_rtime', 'bfd_rlimit_rttime', 'checker_process_name', 'checker_rlimit_rtime',
    'checker_rlimit_rttime', 'config_save_dir', 'lvs_process_name', 'nftables_ipvs_priority', 'nftables_ipvs_start_fwmark',
    'nftables_priority', 'process_name', 'random_seed', 'smtp_connect_timeout', 'smtp_server', 'umask', 'vmac_addr_prefix',
    'vmac_prefix', 'vrrp_down_timer_adverts', 'vrrp_garp_interval', 'vrrp_garp_lower_prio_delay', 'vrrp_garp_lower_prio_repeat',
    'vrrp_garp_master_delay', 'vrrp_garp_master_refresh', 'vrrp_garp_master_refresh_repeat', 'vrrp_garp_master_repeat',
    'vrrp_gna_interval', 'vrrp_mcast_group4', 'vrrp_mcast_group6', 'vrrp_process_name', 'vrrp_rlimit_rtime',
    'vrrp_rlimit_rttime', 'vrrp_startup_delay', 'vrrp_version',
  ),
  vrrp_instance: set(
    'advert_int', 'debug', 'down_timer_adverts', 'garp_lower_prio_delay', 'garp_lower_prio_repeat', 'garp_master_delay',
    'garp_master_refresh', 'garp_master_refresh_repeat', 'garp_master_repeat', 'interface', 'lvs_sync_daemon_interface',
    'mcast_dst_ip', 'mcast_src_ip', 'notify', 'notify_backup', 'notify_fault', 'notify_master', 'notify_master_rx_lower_pri',
    'notify_stop', 'preempt_delay', 'priority', 'state', 'unicast_src_ip', 'unicast_ttl', 'version', 'virtual_router_id', 'vrf',
  ),
  authentication: set('auth_pass', 'auth_type'),
  vrrp_script: set('fall', 'interval', 'rise', 'timeout', 'user', 'weight'),
  vrrp_sync_group: set('notify', 'notify_backup', 'notify_fault', 'notify_master', 'notify_stop'),
  virtual_server: set(
    'connect_timeout', 'delay_before_retry', 'delay_loop', 'hysteresis', 'ip_family', 'lb_algo', 'lb_kind', 'lvs_method',
    'lvs_sched', 'persistence_engine', 'persistence_granularity', 'protocol', 'quorum', 'quorum_down', 'quorum_up',
    'real_server', 'retry', 'sorry_server', 'warmup', 'weight',
  ),
  real_server: set(
    'connect_timeout', 'delay_before_retry', 'delay_loop', 'lthreshold', 'lvs_method', 'notify_down', 'notify_up', 'retry',
    'uthreshold', 'warmup', 'weight',
  ),
  HTTP_GET: set(...CONN, ...TIMERS, 'nb_get_retry'),
  SSL_GET: set(...CONN, ...TIMERS, 'nb_get_retry'),
  url: set('path', 'digest'),
  TCP_CHECK: set(...CONN, ...TIMERS),
  SMTP_CHECK: set(...CONN, ...TIMERS),
  PING_CHECK: set(...CONN, ...TIMERS),
  DNS_CHECK: set(...CONN, ...TIMERS, 'name', 'type'),
  UDP_CHECK: set(...CONN, ...TIMERS, 'min_reply_length', 'max_reply_length'),
  MISC_CHECK: set(...TIMERS, 'misc_timeout'),
  FILE_CHECK: set('track_file'),
};

/** Does keepalived stop at `kw` written alone in block `where`? */
export function exitsWithoutParam(where: string, kw: string): boolean {
  return EXITS_WITHOUT_PARAM[where]?.has(kw) ?? false;
}

/**
 * Keywords lvsd does not implement whose handlers count their words first:
 * written alone, keepalived reports it ("default_interface requires
 * interface name", "No vrrp process priority specified", …) with
 * CONFIG_GENERAL_ERROR and goes on, so `keepalived -t` exits 5. (The ones
 * lvsd implements report this themselves.)
 */
export const REPORTS_WITHOUT_PARAM: Readonly<Record<string, ReadonlySet<string>>> = {
  ROOT: set('instance', 'net_namespace', 'track_group'),
  global_defs: set(
    'bfd_cpu_affinity', 'bfd_priority', 'bfd_rt_priority', 'checker_cpu_affinity', 'checker_priority', 'checker_rt_priority',
    'dbus_service_name', 'default_interface', 'lvs_netlink_cmd_rcv_bufs', 'lvs_netlink_monitor_rcv_bufs', 'lvs_notify_fifo',
    'lvs_notify_fifo_script', 'min_auto_priority_delay', 'notify_fifo', 'notify_fifo_script', 'process_monitor_rcv_bufs',
    'reload_time_file', 'shutdown_script', 'shutdown_script_timeout', 'snmp_socket', 'startup_script', 'startup_script_timeout',
    'tmp_config_directory', 'vrrp_cpu_affinity', 'vrrp_garp_extra_if', 'vrrp_netlink_cmd_rcv_bufs',
    'vrrp_netlink_monitor_rcv_bufs', 'vrrp_notify_fifo', 'vrrp_notify_fifo_script', 'vrrp_priority', 'vrrp_rt_priority',
    'vrrp_rx_bufs_multiplier', 'vrrp_rx_bufs_policy',
  ),
  vrrp_instance: set('garp_extra_if', 'kernel_rx_buf_size'),
};

export function reportsWithoutParam(where: string, kw: string): boolean {
  return REPORTS_WITHOUT_PARAM[where]?.has(kw) ?? false;
}
