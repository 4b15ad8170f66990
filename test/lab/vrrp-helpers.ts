// Lab helpers for the VRRP tests: address-event monitors (who held the VIP
// when, from the kernel's own timestamps), the switch port of a director,
// and tshark over a capture.
import { spawnSync } from 'node:child_process';
import type { Lab, NsProcess } from '../../lab/netns.js';

export interface AddrEvent { t: number; host: string; kind: 'add' | 'del' }

/** `ip -ts -o monitor address` in a namespace; the lab's clock is UTC, as ip prints local time. */
export class AddrMonitor {
  readonly proc: NsProcess;
  constructor(readonly lab: Lab, readonly host: string, readonly vip = '192.168.150.100') {
    this.proc = lab.spawn(host, ['ip', '-ts', '-o', 'monitor', 'address']);
  }

  events(): AddrEvent[] {
    const out: AddrEvent[] = [];
    for (const line of this.proc.output().split('\n')) {
      const m = /^\[([0-9T:.-]+)\]\s*(Deleted )?\d+:\s+\S+\s+inet (\d+\.\d+\.\d+\.\d+)\//.exec(line);
      if (!m || m[3] !== this.vip) continue;
      out.push({ t: Date.parse(`${m[1]!.slice(0, 23)}Z`), host: this.host, kind: m[2] ? 'del' : 'add' });
    }
    return out;
  }
}

/** Intervals [from, to) during which each host held the VIP (to = Infinity while still held). */
export function holdIntervals(events: AddrEvent[]): Map<string, [number, number][]> {
  const res = new Map<string, [number, number][]>();
  const open = new Map<string, number>();
  for (const e of [...events].sort((a, b) => a.t - b.t)) {
    const list = res.get(e.host) ?? [];
    res.set(e.host, list);
    if (e.kind === 'add' && !open.has(e.host)) open.set(e.host, e.t);
    else if (e.kind === 'del' && open.has(e.host)) { list.push([open.get(e.host)!, e.t]); open.delete(e.host); }
  }
  for (const [h, t] of open) res.get(h)!.push([t, Infinity]);
  return res;
}

/** Every moment (as intervals) at which two hosts held the VIP together, restricted to t >= since. */
export function overlaps(events: AddrEvent[], since = 0): [number, number][] {
  const iv = [...holdIntervals(events).entries()];
  const out: [number, number][] = [];
  for (let i = 0; i < iv.length; i++) {
    for (let j = i + 1; j < iv.length; j++) {
      for (const a of iv[i]![1]) for (const b of iv[j]![1]) {
        const s = Math.max(a[0], b[0], since);
        const e = Math.min(a[1], b[1]);
        if (e > s) out.push([s, e]);
      }
    }
  }
  return out;
}

/** The switch-side port (in the switch namespace) of `host`'s eth0. */
export async function switchPort(lab: Lab, host: string, sw = 'sw'): Promise<string> {
  const { stdout } = await lab.exec(host, ['ip', '-j', 'link', 'show', 'eth0']);
  const peerIndex = (JSON.parse(stdout) as { link_index: number }[])[0]!.link_index;
  const { stdout: s2 } = await lab.exec(sw, ['ip', '-j', 'link', 'show']);
  const port = (JSON.parse(s2) as { ifindex: number; ifname: string }[]).find((l) => l.ifindex === peerIndex);
  if (!port) throw new Error(`no switch port for ${host}`);
  return port.ifname;
}

export interface AdvertSeen { src: string; ttl: number; version: number; prio: number; vrid: number; csum: string; expert: string; auth: string }

/** tshark's verdict on every VRRP packet in a capture, checksum validation on. */
export function tsharkAdverts(pcap: string): AdvertSeen[] {
  const r = spawnSync('tshark', ['-r', pcap, '-o', 'ip.check_checksum:TRUE', '-Y', 'vrrp', '-T', 'fields', '-E', 'separator=|',
    '-e', 'ip.src', '-e', 'ip.ttl', '-e', 'vrrp.version', '-e', 'vrrp.prio', '-e', 'vrrp.virt_rtr_id', '-e', 'vrrp.checksum.status',
    '-e', '_ws.expert', '-e', 'vrrp.auth_string'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => {
    const [src, ttl, version, prio, vrid, csum, expert, auth] = l.split('|');
    return { src: src!, ttl: Number(ttl), version: Number(version), prio: Number(prio), vrid: Number(vrid), csum: csum ?? '', expert: expert ?? '', auth: auth ?? '' };
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
