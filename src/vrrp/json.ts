// keepalived's JSON dump (vrrp_json.c, json_version 1): an array with one
// { data, stats } object per vrrp_instance, the field names and numbering
// keepalived uses (state 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT), as
// keepalived_exporter --json reads it from /tmp/keepalived.json.
import { formatVip, instanceRuntime, keepalivedStats, type DumpSource } from './print.js';

const STATE: Record<string, number> = { INIT: 0, BACKUP: 1, MASTER: 2, FAULT: 3 };

export function formatJson(src: DumpSource): string {
  const out = src.model.vrrp_instances.map((vi) => {
    const rt = instanceRuntime(src, vi);
    const state = STATE[rt?.state ?? 'INIT']!;
    const data: Record<string, unknown> = {
      iname: vi.name,
      dont_track_primary: vi.dont_track_primary ? 1 : 0,
      skip_check_adv_addr: src.model.global_defs.vrrp_skip_check_adv_addr ? 1 : 0,
      strict_mode: src.model.global_defs.vrrp_strict ? 1 : 0,
      ifp_ifname: vi.interface ?? '',
      garp_delay: vi.garp_master_delay,
      garp_refresh: vi.garp_master_refresh,
      garp_rep: vi.garp_master_repeat,
      garp_refresh_rep: vi.garp_master_refresh_repeat,
      vrid: vi.virtual_router_id,
      base_priority: vi.priority,
      effective_priority: rt?.effectivePriority ?? vi.priority,
      vipset: rt?.vipsHeld ?? false,
      adver_int: vi.advert_int,
      accept: vi.accept ? 1 : 0,
      nopreempt: vi.nopreempt,
      preempt_delay: vi.preempt_delay,
      state,
      wantstate: state === 0 || state === 3 ? STATE[vi.state]! : state,
      version: vi.version,
      smtp_alert: vi.smtp_alert,
    };
    for (const [k, j] of [['notify_backup', 'script_backup'], ['notify_master', 'script_master'], ['notify_fault', 'script_fault'],
      ['notify_stop', 'script_stop'], ['notify', 'script'], ['notify_master_rx_lower_pri', 'script_master_rx_lower_pri']] as const) {
      if (vi[k]) data[j] = vi[k];
    }
    // keepalived leaves an empty list out altogether.
    if (vi.virtual_ipaddress.length) data.vips = vi.virtual_ipaddress.map((v) => formatVip(v, vi));
    if (vi.virtual_ipaddress_excluded.length) data.evips = vi.virtual_ipaddress_excluded.map((v) => formatVip(v, vi));
    if (vi.track_interface.length) data.track_ifp = vi.track_interface.map((t) => t.name);
    if (vi.track_script.length) data.track_script = vi.track_script.map((t) => src.model.vrrp_scripts.find((s) => s.name === t.name)?.script ?? t.name);
    data.auth_type = vi.authentication ? (vi.authentication.auth_type === 'AH' ? 2 : 1) : 0;
    return { data, stats: keepalivedStats(rt) };
  });
  return JSON.stringify(out) + '\n';
}
