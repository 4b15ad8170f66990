// keepalived's VRRP dump files (vrrp_print.c): /tmp/keepalived.data on
// SIGUSR1 and /tmp/keepalived.stats on SIGUSR2, in keepalived 2.2.7's own
// layout, because keepalived_exporter and people's scripts parse them by
// their indentation and their "Key = value" / "Key: value" lines. What lvsd
// does not have (VMACs, track_process, the fds) is left out rather than
// invented; every line that is written means what keepalived means by it.
import type { KeepalivedConfig, VirtualIp, VrrpInstance } from '../config/model.js';
import type { InstanceMetrics, VrrpMetrics } from './scheduler.js';
import type { ScriptStatus } from './index.js';

/** What the dumps read: the configuration in force and the VRRP runtime's view of it. */
export interface DumpSource {
  model: KeepalivedConfig;
  metrics: VrrpMetrics;
  scripts: ScriptStatus[];
}

/** The runtime's numbers for one instance, or zeros when VRRP is not running it. */
export function instanceRuntime(src: DumpSource, vi: VrrpInstance): InstanceMetrics | undefined {
  return src.metrics.instances.find((i) => i.name === vi.name);
}

/** keepalived's address_print / format_ipaddress: "A.B.C.D/N [brd X] dev IF scope S [label L]". */
export function formatVip(v: VirtualIp, vi: VrrpInstance): string {
  let s = `${v.addr}/${v.prefix}`;
  if (v.brd && v.brd !== '-' && v.brd !== '+') s += ` brd ${v.brd}`;
  s += ` dev ${v.dev ?? vi.interface ?? ''} scope ${v.scope ?? 'global'}`;
  if (v.label) s += ` label ${v.label}`;
  return s;
}

const onOff = (b: boolean): string => (b ? 'enabled' : 'disabled');

/** /tmp/keepalived.data: "------< VRRP Topology >------", one " VRRP Instance = NAME" block each, then the scripts. */
export function formatData(src: DumpSource): string {
  const m = src.model;
  const out: string[] = ['------< VRRP Topology >------'];
  for (const vi of m.vrrp_instances) {
    const rt = instanceRuntime(src, vi);
    const state = rt?.state ?? 'INIT';
    out.push(` VRRP Instance = ${vi.name}`);
    out.push(`   VRRP Version = ${vi.version}`);
    out.push(`   State = ${state}`);
    out.push(`   Wantstate = ${state === 'FAULT' || state === 'INIT' ? vi.state : state}`);
    out.push(`   Number of interface and track script faults = ${rt?.faults.length ?? 0}`);
    out.push(`   Interface = ${vi.interface ?? ''}`);
    if (vi.unicast_src_ip ?? vi.mcast_src_ip) out.push(`   Using src_ip = ${vi.unicast_src_ip ?? vi.mcast_src_ip}`);
    if (!vi.unicast_peer.length) out.push(`   Multicast address ${m.global_defs.vrrp_mcast_group4}`);
    out.push(`   Gratuitous ARP delay = ${vi.garp_master_delay}`);
    out.push(`   Gratuitous ARP repeat = ${vi.garp_master_repeat}`);
    out.push(`   Gratuitous ARP refresh = ${vi.garp_master_refresh}`);
    out.push(`   Gratuitous ARP refresh repeat = ${vi.garp_master_refresh_repeat}`);
    out.push(`   Down timer adverts = ${vi.down_timer_adverts}`);
    out.push(`   Virtual Router ID = ${vi.virtual_router_id}`);
    out.push(`   Priority = ${vi.priority}`);
    out.push(`   Effective priority = ${rt?.effectivePriority ?? vi.priority}`);
    out.push(vi.version === 2 ? `   Advert interval = ${Math.round(vi.advert_int)} sec` : `   Advert interval = ${Math.round(vi.advert_int * 1000)} milli-sec`);
    out.push(`   Accept = ${onOff(vi.accept)}`);
    out.push(`   Preempt = ${onOff(!vi.nopreempt)}`);
    if (vi.preempt_delay) out.push(`   Preempt delay = ${vi.preempt_delay} secs`);
    if (vi.authentication) out.push(`   Authentication type = ${vi.authentication.auth_type === 'AH' ? 'IPSEC_AH' : 'SIMPLE_PASSWORD'}`);
    if (vi.virtual_ipaddress.length) {
      out.push(`   Virtual IP (${vi.virtual_ipaddress.length}):`);
      for (const v of vi.virtual_ipaddress) out.push(`     ${formatVip(v, vi)}${rt?.vipsHeld ? ' set' : ''}`);
    }
    if (vi.virtual_ipaddress_excluded.length) {
      out.push(`   Virtual IP Excluded (${vi.virtual_ipaddress_excluded.length}):`);
      for (const v of vi.virtual_ipaddress_excluded) out.push(`     ${formatVip(v, vi)}${rt?.vipsHeld ? ' set' : ''}`);
    }
    if (vi.unicast_peer.length) {
      out.push(`   Unicast Peer (${vi.unicast_peer.length}):`);
      for (const p of vi.unicast_peer) out.push(`     ${p.addr}`);
    }
    if (vi.track_interface.length) {
      out.push('   Tracked interfaces :');
      for (const t of vi.track_interface) out.push(`     ${t.name} weight ${t.weight ?? 0}${t.reverse ? ' reverse' : ''}`);
    }
    if (vi.track_script.length) {
      out.push('   Tracked scripts :');
      for (const t of vi.track_script) out.push(`     ${t.name} weight ${t.weight ?? m.vrrp_scripts.find((s) => s.name === t.name)?.weight ?? 0}${t.reverse ? ' reverse' : ''}`);
    }
    out.push(`   Using smtp notification = ${vi.smtp_alert ? 'yes' : 'no'}`);
    for (const [k, label] of [['notify_backup', 'Backup'], ['notify_master', 'Master'], ['notify_fault', 'Fault'], ['notify_stop', 'Stop']] as const) {
      if (vi[k]) out.push(`   ${label} state transition script = '${vi[k]}'`);
    }
    if (vi.notify) out.push(`   Generic state transition script = '${vi.notify}'`);
  }
  if (m.vrrp_sync_groups.length) {
    out.push('------< VRRP Sync groups >------');
    for (const g of m.vrrp_sync_groups) {
      const states = g.group.map((n) => src.metrics.instances.find((i) => i.name === n)?.state ?? 'INIT');
      out.push(` VRRP Sync Group = ${g.name}, ${states.includes('MASTER') ? 'MASTER' : states.includes('FAULT') ? 'FAULT' : 'BACKUP'}`);
      out.push('   VRRP member instances :');
      for (const n of g.group) out.push(`     ${n}`);
    }
  }
  if (m.vrrp_scripts.length) {
    out.push('------< VRRP Scripts >------');
    for (const s of m.vrrp_scripts) {
      const st = src.scripts.find((x) => x.name === s.name);
      out.push(` VRRP Script = ${s.name}`);
      out.push(`   Command = '${s.script}'`);
      out.push(`   Interval = ${s.interval} sec`);
      out.push(`   Timeout = ${s.timeout} sec`);
      out.push(`   Weight = ${s.weight}${s.weight_reverse ? ' reverse' : ''}`);
      out.push(`   Rise = ${s.rise}`);
      out.push(`   Fall = ${s.fall}`);
      out.push(`   Insecure = no`);
      // keepalived: INIT before the first result; GOOD / BAD after rise / fall.
      out.push(`   Status = ${!st || st.runs === 0 ? (s.init_fail ? 'INIT/FAILED' : 'INIT') : st.ok ? 'GOOD' : 'BAD'}`);
      const users = m.vrrp_instances.filter((vi) => vi.track_script.some((t) => t.name === s.name));
      out.push('   Tracking instances :');
      for (const vi of users) {
        const t = vi.track_script.find((x) => x.name === s.name)!;
        out.push(`     ${vi.name}, weight ${t.weight ?? s.weight}`);
      }
      out.push(`   State = ${st?.running ? 'running' : 'idle'}`);
    }
  }
  return out.join('\n') + '\n';
}

/** keepalived's vrrp_stats, summed from lvsd's bad-packet reasons as vrrp_check_packet() counts them. */
export function keepalivedStats(rt: InstanceMetrics | undefined): Record<string, number> {
  const b = rt?.badPackets;
  const n = (...k: (keyof NonNullable<typeof b>)[]) => (b ? k.reduce((a, x) => a + (b[x] ?? 0), 0) : 0);
  return {
    advert_rcvd: rt?.advertsReceived ?? 0,
    advert_sent: rt?.advertsSent ?? 0,
    become_master: rt?.becomeMaster ?? 0,
    release_master: rt?.releaseMaster ?? 0,
    packet_len_err: n('short', 'bad-length'),
    advert_interval_err: n('interval-mismatch'),
    ip_ttl_err: n('bad-ttl'),
    invalid_type_rcvd: n('bad-type'),
    addr_list_err: n('addr-list', 'addr-count'),
    invalid_authtype: n('bad-auth-type'),
    authtype_mismatch: n('auth-type-mismatch'),
    auth_failure: n('auth-failure'),
    pri_zero_rcvd: rt?.priZeroReceived ?? 0,
    pri_zero_sent: rt?.priZeroSent ?? 0,
  };
}

/** /tmp/keepalived.stats: vrrp_print_stats()'s layout, one "VRRP Instance: NAME" block each. */
export function formatStats(src: DumpSource): string {
  const out: string[] = [];
  for (const vi of src.model.vrrp_instances) {
    const s = keepalivedStats(instanceRuntime(src, vi));
    out.push(
      `VRRP Instance: ${vi.name}`,
      '  Advertisements:',
      `    Received: ${s.advert_rcvd}`,
      `    Sent: ${s.advert_sent}`,
      `  Became master: ${s.become_master}`,
      `  Released master: ${s.release_master}`,
      '  Packet Errors:',
      `    Length: ${s.packet_len_err}`,
      `    TTL: ${s.ip_ttl_err}`,
      `    Invalid Type: ${s.invalid_type_rcvd}`,
      `    Advertisement Interval: ${s.advert_interval_err}`,
      `    Address List: ${s.addr_list_err}`,
      '  Authentication Errors:',
      `    Invalid Type: ${s.invalid_authtype}`,
      `    Type Mismatch: ${s.authtype_mismatch}`,
      `    Failure: ${s.auth_failure}`,
      '  Priority Zero:',
      `    Received: ${s.pri_zero_rcvd}`,
      `    Sent: ${s.pri_zero_sent}`,
    );
  }
  return out.length ? out.join('\n') + '\n' : '';
}
