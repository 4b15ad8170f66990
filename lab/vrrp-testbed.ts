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
  /** One VIP with its prefix (default 192.168.150.100/24); an IPv6 one makes the instance IPv6 (VRRPv3). */
  vip?: string;
  /** More VIPs after `vip` (IPv6: keepalived wants the link-local one first, so put that in `vip`). */
  moreVips?: string[];
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
    // Labels are IPv4's (ip(8) ignores them for IPv6).
    ...[vip, ...(c.moreVips ?? [])].map((v) => (v.includes(':') ? `    ${v} dev ${iface}` : `    ${v} dev ${iface} label ${c.label ?? `${iface}:3`}`)),
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

/** Does `host` hold `vip` (IPv4 or IPv6, as ip(8) prints it) on its interface? */
export async function holdsVip(lab: Lab, host: string, vip = '192.168.150.100', iface = 'eth0'): Promise<boolean> {
  const r = await lab.exec(host, ['ip', vip.includes(':') ? '-6' : '-4', '-o', 'addr', 'show', 'dev', iface], { check: false });
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

// ---------------------------------------------------------------- IPv6

/** The IPv6 lab's addresses: hosts are NET::N/64, the VIPs a link-local one (keepalived wants it first) and a global one. */
export const V6 = { net: '2001:db8:66', vip: '2001:db8:66::100', llVip: 'fe80::66:1' } as const;

export interface Host6 { name: string; mac: string; ll: string; addr: string }

/**
 * An IPv6 LAN on its own switch: each host's eth0 with a fixed MAC (so a
 * fixed link-local address) and NET::N/64, after DAD has passed (a VRRP
 * source that is still tentative cannot send; on a real host the link-local
 * address is long settled when keepalived starts).
 */
export async function buildLan6(lab: Lab, hosts: { name: string; n: number }[], sw = 'sw6'): Promise<Map<string, Host6>> {
  await lab.addSwitch(sw);
  const out = new Map<string, Host6>();
  for (const h of hosts) {
    await lab.addNs(h.name);
    const mac = `02:00:00:00:66:${h.n.toString(16).padStart(2, '0')}`;
    await lab.plug(h.name, 'eth0', sw, { mac });
    const addr = `${V6.net}::${h.n.toString(16)}`;
    await lab.exec(h.name, ['ip', 'addr', 'add', `${addr}/64`, 'dev', 'eth0', 'nodad']);
    out.set(h.name, { name: h.name, mac, ll: '', addr });
  }
  for (const h of out.values()) {
    const end = Date.now() + 10_000;
    for (;;) {
      const r = await lab.exec(h.name, ['ip', '-j', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']);
      const ai = (JSON.parse(r.stdout) as { addr_info?: { local?: string; tentative?: boolean }[] }[])[0]?.addr_info ?? [];
      const ll = ai.find((a) => a.local?.startsWith('fe80') && !a.tentative);
      if (ll) { h.ll = ll.local!; break; }
      if (Date.now() > end) throw new Error(`${h.name}: no usable link-local address after 10 s`);
      await new Promise((r2) => setTimeout(r2, 100));
    }
  }
  return out;
}

export interface AddrEvent6 { t: number; host: string; kind: 'add' | 'del' }

/** `ip -ts -o monitor address` output → when `vip` (IPv4 or IPv6) came and went; the lab's clock is UTC, as ip prints local time. */
export function addrEvents(output: string, host: string, vip: string): AddrEvent6[] {
  const out: AddrEvent6[] = [];
  for (const line of output.split('\n')) {
    const m = /^\[([0-9T:.-]+)\]\s*(Deleted )?\d+:\s+\S+\s+inet6? ([0-9a-f.:]+)\//.exec(line);
    if (!m || m[3] !== vip) continue;
    out.push({ t: Date.parse(`${m[1]!.slice(0, 23)}Z`), host, kind: m[2] ? 'del' : 'add' });
  }
  return out;
}
