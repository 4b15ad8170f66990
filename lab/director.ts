// Running lvsd in a lab namespace: start it with a private control socket,
// wait until it answers, talk to it (control client or lvsadm), stop it or
// kill -9 it. Plus the client-side helpers the end-to-end tests share.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, NsProcess } from './netns.js';
import { run, waitFor } from './netns.js';
import { BIN } from './paths.js';
import { ControlClient } from '../src/control/client.js';
import type { OpName, Ops } from '../src/control/protocol.js';

export interface Lvsd {
  proc: NsProcess;
  socket: string;
  host: string;
  call<K extends OpName>(op: K, args: Ops[K]['args']): Promise<Ops[K]['result']>;
  /** `lvsadm ARGS` against this lvsd; resolves with stdout (throws on a non-zero exit). */
  lvsadm(args: string[], opts?: { check?: boolean }): Promise<{ stdout: string; stderr: string; code: number }>;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a crash would. */
  kill9(): Promise<void>;
}

export interface StartLvsdOptions {
  interfaces?: string[];
  args?: string[];
  /** Command prefix, e.g. ['taskset', '-c', '1'] to pin the daemon. */
  wrap?: string[];
  /** Another build's lvsd (bench A/B against a baseline checkout); default this checkout's. */
  bin?: string;
  /** Reuse a socket path (a restart after kill -9 must find the same table name). */
  socket?: string;
  timeoutMs?: number;
}

export function labSocketPath(lab: Lab, host: string): string {
  const dir = join('/run/lvsd-lab', `${lab.prefix}sock`);
  mkdirSync(dir, { recursive: true });
  return join(dir, `${host}.sock`);
}

export async function startLvsd(lab: Lab, host: string, opts: StartLvsdOptions = {}): Promise<Lvsd> {
  const socket = opts.socket ?? labSocketPath(lab, host);
  const argv = [...(opts.wrap ?? []), 'node', opts.bin ?? BIN.lvsd, '--socket', socket, '-l'];
  for (const i of opts.interfaces ?? []) argv.push('--interface', i);
  argv.push(...(opts.args ?? []));
  const proc = lab.spawn(host, argv);
  let exitCode: number | null | undefined;
  void proc.exited.then((c) => { exitCode = c; });
  await waitFor(async () => {
    if (exitCode !== undefined) throw new Error(`lvsd exited (${exitCode}) before listening:\n${proc.output()}`);
    const c = await ControlClient.connect({ socket, timeoutMs: 2000 });
    try { await c.request('get-info', {}); } finally { c.close(); }
    return true;
  }, opts.timeoutMs ?? 15_000, 50, `lvsd in ${host} to answer on ${socket}`).catch((e: Error) => {
    throw new Error(`${e.message}\n--- lvsd output ---\n${proc.output()}`);
  });
  const call = async <K extends OpName>(op: K, args: Ops[K]['args']): Promise<Ops[K]['result']> => {
    const c = await ControlClient.connect({ socket, timeoutMs: 20_000 });
    try { return await c.request(op, args) as Ops[K]['result']; } finally { c.close(); }
  };
  return {
    proc, socket, host, call,
    lvsadm: (args, o = {}) => lvsadm(socket, args, o),
    stop: async () => {
      proc.kill('SIGTERM');
      return Promise.race([proc.exited, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
    },
    kill9: async () => {
      proc.kill('SIGKILL');
      await proc.exited;
    },
  };
}

export async function lvsadm(socket: string, args: string[], opts: { check?: boolean } = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  return run(['env', `LVSD_SOCKET=${socket}`, 'node', BIN.lvsadm, ...args], { check: opts.check ?? true, timeoutMs: 20_000 });
}

export function removeLabSockets(lab: Lab): void {
  rmSync(join('/run/lvsd-lab', `${lab.prefix}sock`), { recursive: true, force: true });
}

/** `n` sequential HTTP requests from `host`; returns each answer's body line ("from rs1"), "ERR" for failures. */
export async function curlMany(lab: Lab, host: string, url: string, n: number, opts: { extra?: string } = {}): Promise<string[]> {
  const script = `for i in $(seq ${n}); do curl -s -m 3 ${opts.extra ?? ''} '${url}' || echo ERR; done`;
  const { stdout } = await lab.sh(host, script, { timeoutMs: 60_000 + n * 3000 });
  return stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

export function tally(lines: string[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const l of lines) t[l] = (t[l] ?? 0) + 1;
  return t;
}

/** The nftables tables of the namespace whose name starts with `lvsd`. */
export async function lvsdTables(lab: Lab, host: string): Promise<string[]> {
  const { stdout } = await lab.exec(host, ['nft', '-j', 'list', 'tables']);
  const j = JSON.parse(stdout) as { nftables: { table?: { family: string; name: string } }[] };
  return j.nftables.filter((x) => x.table && x.table.name.startsWith('lvsd')).map((x) => `${x.table!.family} ${x.table!.name}`);
}
