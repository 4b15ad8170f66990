// What `keepalived -t` checks against the machine rather than the text:
// interfaces exist, scripts exist and are executable, and script security
// (keepalived 2.2.7 lib/notify.c check_script_secure / check_security,
// vrrp.c check_vrrp_script_security, check_data.c check_check_script_security).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Diagnostic, KaErr, KeepalivedConfig, Severity, SourcePos } from './model.js';

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

  for (const vi of model.vrrp_instances) {
    if (vi.interface && !ifExists(vi.interface)) {
      emit(vi.pos, 'error', 'GENERAL_ERROR', `interface ${vi.interface} for vrrp_instance ${vi.name} doesn't exist`,
        'name an existing interface (ip link), or create it before starting');
    }
    for (const t of vi.track_interface) {
      if (!ifExists(t.name)) emit(vi.pos, 'warning', 'GENERAL_ERROR', `(${vi.name}) tracked interface ${t.name} doesn't exist`, 'fix the name in track_interface');
    }
    for (const v of [...vi.virtual_ipaddress, ...vi.virtual_ipaddress_excluded]) {
      if (v.dev && !ifExists(v.dev)) emit(v.pos, 'error', 'GENERAL_ERROR', `virtual_ipaddress ${v.addr}: cannot find interface ${v.dev}`, 'fix dev, or leave it out to use the instance interface');
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
  const refs: ScriptRef[] = [];
  if (model.vrrp_instances.length) {
    for (const s of model.vrrp_scripts) refs.push({ pos: s.pos, cmd: s.script, kind: 'track', name: s.name, ...(s.user ? { user: s.user } : {}), side: 'vrrp' });
    for (const n of [...model.vrrp_instances, ...model.vrrp_sync_groups]) {
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
  let defaultUser: { uid: number; gid: number } | undefined = { uid: 0, gid: 0 };
  if (g.script_user) {
    defaultUser = lookupUser(g.script_user.user);
    if (!defaultUser) emit(g.pos ?? refs[0]?.pos ?? { file: '', line: 0, col: 0 }, 'error', 'GENERAL_ERROR', `script_user ${g.script_user.user} does not exist`, 'create the user or name an existing one');
  } else {
    const ks = lookupUser('keepalived_script');
    if (ks) defaultUser = ks;
    else if (security && refs.some((r) => !r.user)) {
      emit(refs.find((r) => !r.user)!.pos, 'error', 'GENERAL_ERROR', 'unable to set default user keepalived_script for scripts',
        "add 'script_user root' (or another user) to global_defs, or create the keepalived_script user");
      defaultUser = undefined;
    }
  }

  const isScript = { vrrp: undefined as ScriptRef | undefined, check: undefined as ScriptRef | undefined };
  for (const r of refs) {
    const who = r.user ? lookupUser(r.user.split(/\s+/)[0]!) : defaultUser;
    if (!who) continue;
    const file = firstWord(r.cmd);
    if (/^<\s*\//.test(file)) continue;
    const label = r.kind === 'track' ? `track script ${r.name}` : r.kind === 'misc' ? `misc script ${file}` : `script ${file}`;
    const resolved = file.includes('/') ? file : searchPath(file, pathEnv);
    let real: string | undefined;
    let st: fs.Stats | undefined;
    try {
      if (resolved) { real = fs.realpathSync(resolved); st = fs.statSync(real); }
    } catch { st = undefined; }
    if (!resolved || !st || !real) {
      if (r.kind === 'track') emit(r.pos, 'error', 'GENERAL_ERROR', `disabling ${label}: ${file} not found or not accessible`, 'fix the path; give it as an absolute path');
      else emit(r.pos, 'warning', 'OK', `${label} not found or not accessible - it will not run`, 'fix the path; give it as an absolute path');
      continue;
    }
    isScript[r.side] ??= r;
    if (!executable(st, who.uid, who.gid)) {
      emit(r.pos, 'warning', 'OK', `${label} (${real}) is not executable for uid:gid ${who.uid}:${who.gid} - disabling`, `chmod +x ${real}`);
      continue;
    }
    const needProtection = who.uid === 0 || who.gid === 0 ||
      (st.uid === 0 && (st.mode & 0o4100) === 0o4100) || (st.gid === 0 && (st.mode & 0o2010) === 0o2010);
    if (!needProtection) continue;
    const bad = insecureComponent(resolved) ?? (real !== resolved ? insecureComponent(real) : undefined);
    if (!bad) continue;
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

function firstWord(cmd: string): string {
  const m = /^\s*(?:"([^"]*)"|'([^']*)'|(\S+))/.exec(cmd);
  return m ? (m[1] ?? m[2] ?? m[3] ?? '') : '';
}

function searchPath(name: string, pathEnv: string): string | undefined {
  for (const dir of pathEnv.split(':')) {
    const p = path.join(dir || '.', name);
    try { if (fs.statSync(p).isFile()) return p; } catch { /* next */ }
  }
  return undefined;
}

function executable(st: fs.Stats, uid: number, gid: number): boolean {
  if (uid === 0) return (st.mode & 0o111) !== 0;
  if (st.uid === uid) return (st.mode & 0o100) !== 0;
  if (st.gid === gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/** keepalived's check_security(): the first path component (from /) a non-root user could change, or undefined. */
export function insecureComponent(file: string): string | undefined {
  const parts = file.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const p = i === 1 ? '/' : parts.slice(0, i).join('/');
    if (i > 1 && parts[i - 1] === '') continue;
    let st: fs.Stats;
    try { st = fs.lstatSync(p); } catch { return p; }
    const isDir = st.isDirectory();
    const writable = ((isDir && (st.mode & 0o1000) === 0) || st.isFile()) &&
      ((st.gid !== 0 && (st.mode & 0o020) !== 0) || (st.mode & 0o002) !== 0);
    if (st.uid !== 0 || writable) return p;
  }
  return undefined;
}

function passwdLookup(name: string): { uid: number; gid: number } | undefined {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch { /* no passwd */ }
  return undefined;
}
