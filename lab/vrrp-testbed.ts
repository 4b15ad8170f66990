// Shared by the VRRP lab tests and bench/failover.ts: keepalived.conf text
// for a two-director pair, and starting either implementation (ours or
// Debian's keepalived) in a lab namespace with files of its own.
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, NsProcess } from './netns.js';
import { ROOT } from './paths.js';

export type Impl = 'ours' | 'keepalived';

export interface PairConf {
  state: 'MASTER' | 'BACKUP';
  priority: number;
  version: 2 | 3;
  /** seconds */
  advertInt: number;
  vrid?: number;
  authPass?: string;
  vip?: string;
  iface?: string;
  label?: string;
  unicast?: { src: string; peer: string };
  nopreempt?: boolean;
  preemptDelay?: number;
  /** lvsd extension; left out of Debian keepalived's copy. */
  referenceIp?: string;
  garpDelay?: number;
  notify?: string;
}

export function pairConf(c: PairConf, impl: Impl): string {
  const iface = c.iface ?? 'eth0';
  const vip = c.vip ?? '192.168.150.100/24';
  const lines = [
    'global_defs {',
    `  router_id lvsd_${impl}`,
    `  vrrp_version ${c.version}`,
    // keepalived's own default garp delay (5 s) is fine; lower it only when asked.
    ...(c.garpDelay !== undefined ? [`  vrrp_garp_master_delay ${c.garpDelay}`] : []),
    '}',
    'vrrp_instance VI_1 {',
    `  state ${c.state}`,
    `  interface ${iface}`,
    `  virtual_router_id ${c.vrid ?? 51}`,
    `  priority ${c.priority}`,
    `  advert_int ${c.advertInt}`,
    ...(c.version === 2 && c.authPass ? ['  authentication {', '    auth_type PASS', `    auth_pass ${c.authPass}`, '  }'] : []),
    ...(c.unicast ? [`  unicast_src_ip ${c.unicast.src}`, '  unicast_peer {', `    ${c.unicast.peer}`, '  }'] : []),
    ...(c.nopreempt ? ['  nopreempt'] : []),
    ...(c.preemptDelay ? [`  preempt_delay ${c.preemptDelay}`] : []),
    ...(c.referenceIp && impl === 'ours' ? [`  reference_ip ${c.referenceIp}`] : []),
    ...(c.notify ? [`  notify ${c.notify}`] : []),
    '  virtual_ipaddress {',
    `    ${vip} dev ${iface} label ${c.label ?? `${iface}:3`}`,
    '  }',
    '}',
    '',
  ];
  return lines.join('\n');
}

export interface Daemon {
  impl: Impl;
  host: string;
  proc: NsProcess;
  /** Every pid of the daemon (keepalived: parent and VRRP child). */
  pids(): number[];
  /** SIGKILL every process of the daemon at once (the watchdog is not one of them). */
  kill9(): void;
  term(): void;
}

export const MAIN_JS = join(ROOT, 'dist', 'lab', 'lvs-vrrp.js');

/** A per-lab scratch dir for configs, pid files and state dirs. */
export function scratch(lab: Lab): string {
  const d = join('/tmp', `lvsd-vrrp-${lab.prefix}`);
  mkdirSync(d, { recursive: true });
  return d;
}

function readPid(f: string): number | undefined {
  try { const n = Number(readFileSync(f, 'utf8').trim()); return n > 0 ? n : undefined; } catch { return undefined; }
}

let starts = 0;

export function startDaemon(lab: Lab, host: string, impl: Impl, conf: string, extra: string[] = []): Daemon {
  const dir = scratch(lab);
  const cf = join(dir, `${host}-${impl}.conf`);
  writeFileSync(cf, conf);
  if (impl === 'ours') {
    const proc = lab.spawn(host, ['node', MAIN_JS, '-f', cf, '-l', '--state-dir', join(dir, `state-${host}`), ...extra]);
    const pid = () => (proc.child.pid ? [proc.child.pid] : []);
    return {
      impl, host, proc, pids: pid,
      kill9: () => proc.kill('SIGKILL'),
      term: () => proc.kill('SIGTERM'),
    };
  }
  // Fresh pid files every start: a SIGKILLed keepalived leaves its own, and a
  // reused pid in them makes the next one refuse to start ("daemon is already running").
  const n = ++starts;
  const pidf = join(dir, `${host}-keepalived-${n}.pid`);
  const vpidf = join(dir, `${host}-keepalived-vrrp-${n}.pid`);
  const proc = lab.spawn(host, ['keepalived', '-n', '-l', '-D', '-P', '-G', '-f', cf, '-p', pidf, '-r', vpidf, ...extra]);
  const pids = () => [readPid(vpidf), readPid(pidf) ?? proc.child.pid].filter((p): p is number => !!p);
  return {
    impl, host, proc, pids,
    kill9: () => { for (const p of pids()) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } } },
    term: () => proc.kill('SIGTERM'),
  };
}

/** Does `host` hold `vip` on its interface? */
export async function holdsVip(lab: Lab, host: string, vip = '192.168.150.100', iface = 'eth0'): Promise<boolean> {
  const r = await lab.exec(host, ['ip', '-4', '-o', 'addr', 'show', 'dev', iface], { check: false });
  return r.stdout.includes(` ${vip}/`);
}

export async function waitDaemonReady(d: Daemon, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  const marker = d.impl === 'ours' ? 'VRRP started' : 'Entering';
  while (Date.now() < end) {
    if (d.proc.output().includes(marker)) return;
    if (d.impl === 'keepalived' && d.proc.output().includes('Registering gratuitous ARP')) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${d.impl} on ${d.host} did not start:\n${d.proc.output().slice(-2000)}`);
}

export function keepalivedAvailable(): boolean {
  return existsSync('/usr/sbin/keepalived') || existsSync('/usr/bin/keepalived');
}
