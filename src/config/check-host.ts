// What `keepalived -t` checks against the machine rather than the text:
// interfaces exist, scripts exist and are executable, and script security
// (keepalived 2.2.7 lib/notify.c check_script_secure / check_security,
// vrrp.c check_vrrp_script_security, check_data.c check_check_script_security).
// The script rule itself lives in core/script-security.ts, which the daemons
// also run before each script.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkScript, defaultScriptUser, lookupUser as passwdLookup } from '../core/script-security.js';
import type { Diagnostic, KaErr, KeepalivedConfig, Severity, SourcePos } from './model.js';
import { refusedInstances } from './parser.js';

export interface HostOptions {
  /** Does a network interface exist? Default: /sys/class/net/NAME of this process's namespace. */
  interfaceExists?: (name: string) => boolean;
  /** uid and gid of a user name, or undefined. Default: /etc/passwd. */
  lookupUser?: (name: string) => { uid: number; gid: number } | undefined;
  /** PATH used to find bare script names. Default: process.env.PATH. */
  pathEnv?: string;
}

type ScriptKind = 'track' | 'notify' | 'misc';
interface ScriptRef {
  pos: SourcePos;
  cmd: string;
  kind: ScriptKind;
  name?: string;
  user?: string;
  side: 'vrrp' | 'check';
}

export function checkHost(model: KeepalivedConfig, opts: HostOptions = {}): Diagnostic[] {
  const diags: Diagnostic[] = [];
  const emit = (pos: SourcePos, severity: Severity, ka: KaErr, message: string, hint: string): void => {
    diags.push({ file: pos.file, line: pos.line, col: pos.col, severity, message, hint, ka });
  };
  const ifExists = opts.interfaceExists ?? ((n: string) => fs.existsSync(path.join('/sys/class/net', n)));
  const lookupUser = opts.lookupUser ?? passwdLookup;
  const pathEnv = opts.pathEnv ?? process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';

  // keepalived looks interfaces up as it parses (vrrp_if.c if_get_by_ifname, IF_CREATE_IF_DYNAMIC), refused
  // instances included; one that is missing sets non_existent_interface_specified, and then its VRRP side
  // stops before vrrp_complete_init(): "Non-existent interface specified in configuration" (vrrp_daemon.c),
  // so nothing after, script security included, is judged there.
  let missingIf: SourcePos | undefined;
  const lookup = (name: string, pos: SourcePos): boolean => {
    if (ifExists(name)) return true;
    missingIf ??= pos;
    return false;
  };
  const instances = [...model.vrrp_instances, ...refusedInstances(model)];
  for (const vi of instances) {
    if (vi.interface && !lookup(vi.interface, vi.pos)) {
      emit(vi.pos, 'error', 'GENERAL_ERROR', `interface ${vi.interface} for vrrp_instance ${vi.name} doesn't exist`,
        'name an existing interface (ip link), or create it before starting');
    }
    for (const t of vi.track_interface) {
      if (!lookup(t.name, vi.pos)) emit(vi.pos, 'warning', 'GENERAL_ERROR', `(${vi.name}) tracked interface ${t.name} doesn't exist`, 'fix the name in track_interface');
    }
    for (const v of [...vi.virtual_ipaddress, ...vi.virtual_ipaddress_excluded]) {
      if (v.dev && !lookup(v.dev, v.pos)) emit(v.pos, 'error', 'GENERAL_ERROR', `virtual_ipaddress ${v.addr}: cannot find interface ${v.dev}`, 'fix dev, or leave it out to use the instance interface');
    }
  }
  for (const g of model.vrrp_sync_groups) {
    for (const t of g.track_interface) {
      if (!lookup(t.name, g.pos)) emit(g.pos, 'warning', 'GENERAL_ERROR', `(${g.name}) tracked interface ${t.name} doesn't exist`, 'fix the name in track_interface');
    }
  }
  for (const v of model.static_ipaddress) {
    if (v.dev && !lookup(v.dev, v.pos)) emit(v.pos, 'error', 'GENERAL_ERROR', `interface ${v.dev} for ip address ${v.addr}/${v.prefix} doesn't exist`, 'fix dev, or create the interface before starting');
  }
  for (const [what, list] of [['VROUTE nexthop', model.static_routes], ['rule', model.static_rules]] as const) {
    for (const r of list) {
      for (let i = 0; i + 1 < r.args.length; i++) {
        const k = r.args[i];
        if ((k === 'dev' || k === 'oif' || k === 'iif') && !lookup(r.args[i + 1]!, r.pos)) {
          emit(r.pos, 'warning', 'GENERAL_ERROR', `interface ${r.args[i + 1]} for ${what} doesn't exist`, 'fix the interface name, or create it before starting');
        }
      }
    }
  }
  const sd = model.global_defs.lvs_sync_daemon;
  if (sd && !ifExists(sd.interface)) {
    // keepalived -t does not check this one; the sync daemon fails when it starts.
    emit(model.global_defs.pos ?? { file: '', line: 0, col: 0 }, 'error', 'OK', `lvs_sync_daemon interface ${sd.interface} doesn't exist`, 'name an existing interface');
  }

  // ---- scripts
  const g = model.global_defs;
  const security = g.enable_script_security;
  if (missingIf) {
    emit(missingIf, 'note', 'BAD_IF', 'Non-existent interface specified in configuration: keepalived checks no further on the VRRP side (VRRP scripts and their security are not judged)',
      'create the interface, or fix its name');
  }
  const refs: ScriptRef[] = [];
  // keepalived's check_vrrp_script_security(): only when there is a vrrp_instance, refused ones included.
  if (instances.length && !missingIf) {
    for (const s of model.vrrp_scripts) refs.push({ pos: s.pos, cmd: s.script, kind: 'track', name: s.name, ...(s.user ? { user: s.user } : {}), side: 'vrrp' });
    for (const n of [...instances, ...model.vrrp_sync_groups]) {
      for (const k of ['notify', 'notify_master', 'notify_backup', 'notify_fault', 'notify_stop', 'notify_master_rx_lower_pri'] as const) {
        const cmd = (n as unknown as Record<string, string | undefined>)[k];
        if (cmd) refs.push({ pos: n.pos, cmd, kind: 'notify', side: 'vrrp' });
      }
    }
  }
  for (const vs of model.virtual_servers) {
    if (vs.quorum_up) refs.push({ pos: vs.pos, cmd: vs.quorum_up, kind: 'notify', side: 'check' });
    if (vs.quorum_down) refs.push({ pos: vs.pos, cmd: vs.quorum_down, kind: 'notify', side: 'check' });
    for (const rs of vs.real_servers) {
      if (rs.notify_up) refs.push({ pos: rs.pos, cmd: rs.notify_up, kind: 'notify', side: 'check' });
      if (rs.notify_down) refs.push({ pos: rs.pos, cmd: rs.notify_down, kind: 'notify', side: 'check' });
      for (const c of rs.checkers) {
        if (c.type === 'MISC_CHECK') refs.push({ pos: c.pos, cmd: c.misc_path, kind: 'misc', ...(c.user ? { user: c.user } : {}), side: 'check' });
      }
    }
  }

  // keepalived runs scripts as script_user, else keepalived_script, else root.
  const dflt = defaultScriptUser(g.script_user, lookupUser);
  let defaultUser = dflt.ids;
  if (dflt.missing === 'script_user') {
    emit(g.pos ?? refs[0]?.pos ?? { file: '', line: 0, col: 0 }, 'error', 'GENERAL_ERROR', `script_user ${g.script_user!.user} does not exist`, 'create the user or name an existing one');
  } else if (dflt.missing === 'keepalived_script' && security && refs.some((r) => !r.user)) {
    emit(refs.find((r) => !r.user)!.pos, 'error', 'GENERAL_ERROR', 'unable to set default user keepalived_script for scripts',
      "add 'script_user root' (or another user) to global_defs, or create the keepalived_script user");
    defaultUser = undefined;
  }

  const isScript = { vrrp: undefined as ScriptRef | undefined, check: undefined as ScriptRef | undefined };
  for (const r of refs) {
    const who = r.user ? lookupUser(r.user.split(/\s+/)[0]!) : defaultUser;
    if (!who) continue;
    const v = checkScript(r.cmd, who, pathEnv);
    if (v.kind === 'not-a-file') continue;
    const file = v.file;
    const label = r.kind === 'track' ? `track script ${r.name}` : r.kind === 'misc' ? `misc script ${file}` : `script ${file}`;
    if (v.kind === 'not-found') {
      if (r.kind === 'track') emit(r.pos, 'error', 'GENERAL_ERROR', `disabling ${label}: ${file} not found or not accessible`, 'fix the path; give it as an absolute path');
      else emit(r.pos, 'warning', 'OK', `${label} not found or not accessible - it will not run`, 'fix the path; give it as an absolute path');
      continue;
    }
    isScript[r.side] ??= r;
    if (v.kind === 'not-executable') {
      emit(r.pos, 'warning', 'OK', `${label} (${v.real}) is not executable for uid:gid ${who.uid}:${who.gid} - disabling`, `chmod +x ${v.real}`);
      continue;
    }
    if (v.kind !== 'insecure') continue;
    const bad = v.bad;
    const msg = `unsafe permissions for ${label}: ${bad} is writable by a non-root user or not owned by root`;
    const hint = `chown root ${bad} && chmod go-w ${bad}`;
    if (!security) emit(r.pos, 'note', 'OK', msg, hint);
    else if (r.kind === 'track') emit(r.pos, 'error', 'GENERAL_ERROR', `disabling ${label} due to insecure permissions: ${bad}`, hint);
    else emit(r.pos, 'warning', 'OK', `${msg} - disabling`, hint);
  }
  if (!security) {
    for (const side of ['vrrp', 'check'] as const) {
      const r = isScript[side];
      if (r) emit(r.pos, 'error', 'SECURITY_ERROR', `SECURITY VIOLATION - ${side === 'check' ? 'check ' : ''}scripts are being executed but script_security not enabled`,
        "add 'enable_script_security' (and 'script_user') to global_defs, and keep scripts and their directories root-owned and not group/world-writable");
    }
  }
  return diags;
}
