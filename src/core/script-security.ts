// Who a script runs as and whether it may run (keepalived 2.2.7 lib/notify.c:
// set_default_script_user, check_script_secure, check_security). One owner of
// the rule: `-t` (config/check-host.ts) reports it, and every script the
// daemons run (core/notify.ts) is refused by it when enable_script_security
// is set.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface Ids {
  uid: number;
  gid: number;
}

/** keepalived's `user USER [GROUP]` / `script_user USER [GROUP]`. */
export interface UserSpec {
  user: string | number;
  group?: string | number;
}

/** The fields of NAME's line in a colon-separated database (/etc/passwd, /etc/group). */
function dbEntry(file: string, name: string): string[] | undefined {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch { return undefined; }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 3) return f;
  }
  return undefined;
}

/** uid and primary gid of a user name, or undefined when there is none. */
export function lookupUser(name: string): Ids | undefined {
  const pw = dbEntry('/etc/passwd', name);
  return pw && pw.length >= 4 ? { uid: Number(pw[2]), gid: Number(pw[3]) } : undefined;
}

/** uid/gid for spawn() from keepalived's `user USER [GROUP]`; numbers pass through. Throws for unknown names. */
export function resolveUser(user: string | number, group?: string | number): Ids {
  let uid: number;
  let gid: number | undefined;
  if (typeof user === 'number' || /^\d+$/.test(user)) {
    uid = Number(user);
  } else {
    const ids = lookupUser(user);
    if (!ids) throw new Error(`user ${user} not found in /etc/passwd`);
    ({ uid, gid } = ids);
  }
  if (group !== undefined) {
    if (typeof group === 'number' || /^\d+$/.test(group)) {
      gid = Number(group);
    } else {
      const gr = dbEntry('/etc/group', group);
      if (!gr) throw new Error(`group ${group} not found in /etc/group`);
      gid = Number(gr[2]);
    }
  }
  if (gid === undefined) throw new Error(`user ${user}: a numeric uid needs a group as well`);
  return { uid, gid };
}

/** A script's own `user` line as the parser keeps it ("USER [GROUP]"). */
export function parseUserSpec(words: string): UserSpec {
  const [user = '', group] = words.trim().split(/\s+/);
  return group !== undefined ? { user, group } : { user };
}

/**
 * The user scripts run as when they name none of their own: script_user,
 * else keepalived_script if that user exists, else root. `missing` says which
 * of the first two could not be found (keepalived refuses to run the scripts
 * then; for keepalived_script only under enable_script_security).
 */
export function defaultScriptUser(
  scriptUser: UserSpec | undefined,
  lookup: (name: string) => Ids | undefined = lookupUser,
): { spec?: UserSpec; ids?: Ids; missing?: 'script_user' | 'keepalived_script' } {
  if (scriptUser) {
    const ids = lookup(String(scriptUser.user));
    return ids ? { spec: scriptUser, ids } : { spec: scriptUser, missing: 'script_user' };
  }
  const ks = lookup('keepalived_script');
  if (ks) return { spec: { user: 'keepalived_script' }, ids: ks };
  return { ids: { uid: 0, gid: 0 }, missing: 'keepalived_script' };
}

export type ScriptVerdict =
  /** Runs: found, executable for the user, and secure (or needing no protection). */
  | { kind: 'ok'; file: string; real: string }
  /** keepalived's "</file" form: not a command, nothing to check. */
  | { kind: 'not-a-file'; file: string }
  | { kind: 'not-found'; file: string }
  | { kind: 'not-executable'; file: string; real: string }
  /** A path component a non-root user could change while the script runs as root (or setuid/setgid root). */
  | { kind: 'insecure'; file: string; real: string; bad: string };

/**
 * check_script_secure for one command line run as `who`. Reports `insecure`
 * whether or not enable_script_security is set: what that changes (a note, a
 * refusal) is the caller's to decide.
 */
export function checkScript(cmd: string, who: Ids, pathEnv = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): ScriptVerdict {
  const file = firstWord(cmd);
  if (/^<\s*\//.test(file)) return { kind: 'not-a-file', file };
  const resolved = file.includes('/') ? file : searchPath(file, pathEnv);
  let real: string | undefined;
  let st: fs.Stats | undefined;
  try {
    if (resolved) { real = fs.realpathSync(resolved); st = fs.statSync(real); }
  } catch { st = undefined; }
  if (!resolved || !st || !real) return { kind: 'not-found', file };
  if (!executable(st, who.uid, who.gid)) return { kind: 'not-executable', file, real };
  const needProtection = who.uid === 0 || who.gid === 0 ||
    (st.uid === 0 && (st.mode & 0o4100) === 0o4100) || (st.gid === 0 && (st.mode & 0o2010) === 0o2010);
  if (!needProtection) return { kind: 'ok', file, real };
  const bad = insecureComponent(resolved) ?? (real !== resolved ? insecureComponent(real) : undefined);
  return bad ? { kind: 'insecure', file, real, bad } : { kind: 'ok', file, real };
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
