// Network-namespace lab primitives: namespaces, veth links, a bridge "switch",
// processes inside namespaces, and teardown that always runs. Every name a run
// creates starts with its own prefix, recorded with the owner's pid under
// /run/lvsd-lab so a later run can remove what a crashed one left behind.
import { spawn, execFile, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdirSync, writeFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const STATE_DIR = '/run/lvsd-lab';

export interface ExecResult { stdout: string; stderr: string; code: number }

/** Run a command (argv form), never through a shell unless the caller asks for `sh -c`. */
export function run(argv: string[], opts: { input?: string; timeoutMs?: number; check?: boolean } = {}): Promise<ExecResult> {
  const check = opts.check ?? true;
  return new Promise((resolve, reject) => {
    const child = execFile(argv[0]!, argv.slice(1), { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? (err as unknown as { code: number }).code : 1) : 0;
        const res = { stdout: String(stdout), stderr: String(stderr), code };
        if (err && check) reject(new Error(`${argv.join(' ')} failed (${code}): ${String(stderr).trim() || err.message}`));
        else resolve(res);
      });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export function sh(script: string, opts: { check?: boolean; timeoutMs?: number } = {}): Promise<ExecResult> {
  return run(['sh', '-c', script], opts);
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Remove namespaces of lab runs whose owner process is gone (a crashed or killed run). */
export async function cleanupStale(): Promise<string[]> {
  let owners: string[] = [];
  try { owners = readdirSync(STATE_DIR); } catch { return []; }
  const removed: string[] = [];
  // Per-run extras (socket dirs) named `<prefix>…` whose owner record is gone.
  for (const entry of owners) {
    if (entry.endsWith('-')) continue;
    const prefix = entry.slice(0, entry.indexOf('-') + 1);
    if (!prefix || !owners.includes(prefix)) rmSync(`${STATE_DIR}/${entry}`, { recursive: true, force: true });
  }
  const { stdout } = await run(['ip', '-j', 'netns', 'list'], { check: false });
  const all: string[] = stdout.trim() ? (JSON.parse(stdout) as { name: string }[]).map((n) => n.name) : [];
  for (const prefix of owners) {
    // Owner records are files named after the prefix; other entries (socket dirs) belong to a prefix.
    if (!prefix.endsWith('-')) continue;
    const pid = Number(readFileSync(`${STATE_DIR}/${prefix}`, 'utf8'));
    if (pidAlive(pid)) continue;
    for (const ns of all.filter((n) => n.startsWith(prefix))) {
      await killNsProcesses(ns);
      await run(['ip', 'netns', 'del', ns], { check: false });
      removed.push(ns);
    }
    for (const other of owners) {
      if (other !== prefix && other.startsWith(prefix)) rmSync(`${STATE_DIR}/${other}`, { recursive: true, force: true });
    }
    rmSync(`${STATE_DIR}/${prefix}`, { force: true });
  }
  return removed;
}

async function killNsProcesses(ns: string): Promise<void> {
  const { stdout } = await run(['ip', 'netns', 'pids', ns], { check: false });
  for (const p of stdout.split(/\s+/).filter(Boolean)) {
    try { process.kill(Number(p), 'SIGKILL'); } catch { /* already gone */ }
  }
}

export interface NsProcess {
  child: ChildProcess;
  ns: string;
  /** Collected output, for assertions and for failure messages. */
  output(): string;
  /** Resolves when the process exits. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * One lab run: every namespace is `${prefix}${name}`; `destroy()` kills every
 * process in them and deletes them (veths go with their namespace).
 */
export class Lab {
  readonly prefix: string;
  private readonly namespaces = new Set<string>();
  private readonly procs: NsProcess[] = [];

  constructor(tag = 'x') {
    // Short: namespace names appear in /run/netns, interface names stay inside.
    // LVSD_LAB_TAG (letters/digits, no '-': cleanupStale cuts at the first '-')
    // marks whose runs they are when several checkouts share the machine.
    const own = (process.env.LVSD_LAB_TAG ?? '').replace(/[^A-Za-z0-9]/g, '').slice(0, 4);
    this.prefix = `lv${own}${tag.slice(0, 3)}${randomBytes(2).toString('hex')}-`;
    mkdirSync(STATE_DIR, { recursive: true });
    writeFileSync(`${STATE_DIR}/${this.prefix}`, String(process.pid));
  }

  ns(name: string): string { return `${this.prefix}${name}`; }

  async addNs(name: string): Promise<string> {
    const ns = this.ns(name);
    await run(['ip', 'netns', 'add', ns]);
    this.namespaces.add(ns);
    await this.exec(name, ['ip', 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** A bridge "switch" in its own namespace, so nothing of the lab lives in the host's. */
  async addSwitch(name: string): Promise<void> {
    await this.addNs(name);
    await this.exec(name, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    // No STP/forward delay: ports forward at once, as a lab switch should.
    await this.exec(name, ['ip', 'link', 'set', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
    await this.exec(name, ['ip', 'link', 'set', 'br0', 'up']);
    // A switch forwards frames, it does not judge them: with br_netfilter loaded the
    // bridge would drop malformed IP (bad checksums, lengths) before any host sees it.
    await this.exec(name, ['sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=0'], { check: false });
  }

  /** Plug `ifname` of namespace `host` into switch `sw` (a veth pair; the switch port is `p-<host>-<ifname>`). */
  async plug(host: string, ifname: string, sw: string, opts: { addr?: string; mac?: string } = {}): Promise<string> {
    const port = `p${this.portSeq++}`;
    await run(['ip', 'link', 'add', ifname, 'netns', this.ns(host), 'type', 'veth', 'peer', 'name', port, 'netns', this.ns(sw)]);
    await this.exec(sw, ['ip', 'link', 'set', port, 'master', 'br0']);
    await this.exec(sw, ['ip', 'link', 'set', port, 'up']);
    if (opts.mac) await this.exec(host, ['ip', 'link', 'set', ifname, 'address', opts.mac]);
    if (opts.addr) await this.exec(host, ['ip', 'addr', 'add', opts.addr, 'dev', ifname]);
    await this.exec(host, ['ip', 'link', 'set', ifname, 'up']);
    return port;
  }
  private portSeq = 0;

  /** A point-to-point veth between two namespaces. */
  async link(a: string, ifA: string, b: string, ifB: string, addrA?: string, addrB?: string): Promise<void> {
    await run(['ip', 'link', 'add', ifA, 'netns', this.ns(a), 'type', 'veth', 'peer', 'name', ifB, 'netns', this.ns(b)]);
    if (addrA) await this.exec(a, ['ip', 'addr', 'add', addrA, 'dev', ifA]);
    if (addrB) await this.exec(b, ['ip', 'addr', 'add', addrB, 'dev', ifB]);
    await this.exec(a, ['ip', 'link', 'set', ifA, 'up']);
    await this.exec(b, ['ip', 'link', 'set', ifB, 'up']);
  }

  exec(name: string, argv: string[], opts: { input?: string; timeoutMs?: number; check?: boolean } = {}): Promise<ExecResult> {
    return run(['ip', 'netns', 'exec', this.ns(name), ...argv], opts);
  }

  sh(name: string, script: string, opts: { check?: boolean; timeoutMs?: number } = {}): Promise<ExecResult> {
    return this.exec(name, ['sh', '-c', script], opts);
  }

  /** Start a long-running process in a namespace; it is killed by destroy(). */
  spawn(name: string, argv: string[], opts: SpawnOptions = {}): NsProcess {
    const ns = this.ns(name);
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    child.stdout?.on('data', (d) => { out += d; if (out.length > 1 << 20) out = out.slice(-(1 << 19)); });
    child.stderr?.on('data', (d) => { out += d; if (out.length > 1 << 20) out = out.slice(-(1 << 19)); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const proc: NsProcess = {
      child, ns, exited,
      output: () => out,
      kill: (signal = 'SIGTERM') => { try { child.kill(signal); } catch { /* gone */ } },
    };
    this.procs.push(proc);
    return proc;
  }

  async sysctl(name: string, key: string, value: string | number): Promise<void> {
    await this.exec(name, ['sysctl', '-q', '-w', `${key}=${value}`]);
  }

  async destroy(): Promise<void> {
    for (const p of this.procs) p.kill('SIGKILL');
    await Promise.all(this.procs.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 2000))])));
    for (const ns of this.namespaces) {
      await killNsProcesses(ns);
      await run(['ip', 'netns', 'del', ns], { check: false });
    }
    this.namespaces.clear();
    // The run's extras (e.g. lab/director.ts's socket dir), then its owner record.
    for (const entry of readdirSync(STATE_DIR)) {
      if (entry !== this.prefix && entry.startsWith(this.prefix)) rmSync(`${STATE_DIR}/${entry}`, { recursive: true, force: true });
    }
    rmSync(`${STATE_DIR}/${this.prefix}`, { force: true });
  }
}

/** Poll `fn` until it returns a truthy value or the time runs out. */
export async function waitFor<T>(fn: () => Promise<T> | T, timeoutMs = 10_000, stepMs = 50, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Missing lab prerequisites: in CI a failure, elsewhere a reason to skip. */
export async function missingPrerequisites(cmds: string[]): Promise<string[]> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root');
  for (const c of cmds) {
    const r = await run(['sh', '-c', `command -v ${c}`], { check: false });
    if (r.code !== 0) missing.push(c);
  }
  return missing;
}
