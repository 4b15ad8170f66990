// Pieces the experiments share: a director with lvsd and rules from lvsadm,
// lvs-keepalived from a config derived from the notes' own, a client loop.
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab, NsProcess } from '../netns.js';
import { waitFor } from '../netns.js';
import { BIN, ROOT } from '../paths.js';
import type { Lvsd } from '../director.js';

/** Answer lines of the client's requests ("from rs1", or "ERR"). */
export function answers(lines: string[]): string {
  return lines.map((l) => l.replace(/^from /, '')).join(' ');
}

/** The notes' keepalived.conf for one director, with edits applied (sed-like [from, to] pairs). */
export function seedConfig(role: 'master' | 'backup', edits: [RegExp | string, string][] = []): string {
  let text = readFileSync(join(ROOT, 'configs', `seed-dr-ha-${role}.conf`), 'utf8');
  for (const [from, to] of edits) text = text.replace(from, to);
  return text;
}

export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), 'lvsd-lab-'));
  file(name: string, content: string): string {
    const p = join(this.path, name);
    writeFileSync(p, content);
    return p;
  }
  remove(): void { rmSync(this.path, { recursive: true, force: true }); }
}

export interface Keepalived { proc: NsProcess; host: string; conf: string; stateDir: string }

export function startKeepalived(lab: Lab, host: string, conf: string, lvsd: Lvsd | undefined, tmp: TempDir, extra: string[] = []): Keepalived {
  const stateDir = join(tmp.path, `state-${host}`);
  const argv = ['node', BIN.keepalived, '-n', '-l', '-f', conf, '--state-dir', stateDir, ...extra];
  if (lvsd) argv.push('--socket', lvsd.socket);
  else argv.push('-P');
  return { proc: lab.spawn(host, argv), host, conf, stateDir };
}

export async function hasVip(lab: Lab, host: string, vip: string, ifname = 'eth0'): Promise<boolean> {
  const { stdout } = await lab.exec(host, ['ip', '-j', 'addr', 'show', 'dev', ifname], { check: false });
  if (!stdout.trim()) return false;
  return (JSON.parse(stdout) as { addr_info: { local: string }[] }[])[0]!.addr_info.some((a) => a.local === vip);
}

export async function waitVip(lab: Lab, host: string, vip: string, present = true, timeoutMs = 15_000): Promise<void> {
  await waitFor(async () => (await hasVip(lab, host, vip)) === present, timeoutMs, 20, `VIP ${present ? 'on' : 'off'} ${host}`);
}

/**
 * A client that sends a new HTTP request every `intervalMs` from inside the
 * client namespace (lab/client-loop.mjs: requests overlap, each bounded by
 * 300 ms) and timestamps each by when it was sent; `stop()` returns them in
 * sending order.
 */
export function clientLoop(lab: Lab, url: string, intervalMs = 10): { stop(): Promise<{ t: number; body: string }[]> } {
  const p = lab.spawn('client', ['node', join(ROOT, 'lab', 'client-loop.mjs'), url, String(intervalMs), '300']);
  return {
    async stop() {
      p.kill('SIGTERM');
      await p.exited;
      return p.output().split('\n').map((l) => l.trim().split(' ')).filter((f) => f.length >= 2 && /^\d+$/.test(f[0]!))
        .map((f) => ({ t: Number(f[0]), body: f.slice(1).join(' ') }))
        .sort((a, b) => a.t - b.t);
    },
  };
}

/** The longest run of failed requests, in ms: from the first failed one sent to the first successful one sent after it. */
export function longestOutage(samples: { t: number; body: string }[]): number {
  let worst = 0;
  let since: number | undefined;
  for (const s of samples) {
    const bad = s.body === 'ERR' || !s.body.startsWith('from ');
    if (bad && since === undefined) since = s.t;
    if (!bad && since !== undefined) { worst = Math.max(worst, s.t - since); since = undefined; }
  }
  return worst;
}
