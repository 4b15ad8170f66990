// The VIP watchdog: a tiny detached process the daemon forks at start. The
// daemon keeps the write end of this process's stdin and tells it, line by
// line, which VIPs it holds right now (and, while MASTER, the priority-0
// adverts that resign them). The kernel closes that pipe when the daemon dies
// however it dies; EOF without a "bye" line means kill -9 / crash / OOM, and
// the watchdog removes the VIPs at once, sends the resignations so the
// backup takes over after Skew_Time, and exits. It needs nobody else: no
// lvsd, no lease server.
//
// Lines (one JSON object each):
//   {"vips":[VipSpec…]}                        the VIPs held now ([] = none)
//   {"resign":[{"ifname","family","src","dst","hex"}…]}  prio-0 adverts to send on crash ([] = none; family 6 = over IPv6)
//   {"bye":true}                               graceful stop: exit, touch nothing
import { createInterface } from 'node:readline';
import { spawn } from 'node:child_process';
import { ipBatch, delLines, type VipSpec } from './vip.js';

interface Resign { ifname: string; family?: 4 | 6; src: string; dst: string; hex: string }

let vips: VipSpec[] = [];
let resign: Resign[] = [];
let bye = false;
const tag = process.argv[2] ?? 'vrrp';

function log(msg: string): void {
  process.stderr.write(`${JSON.stringify({ time: Date.now(), name: 'vip-watchdog', tag, msg })}\n`);
}

// Load the addon now, not at the moment of the crash.
type RawMod = typeof import('../io/native.js');
let native: RawMod | undefined;
import('../io/native.js').then((m) => { native = m; try { m.loadAddon(); } catch { native = undefined; } }, () => { native = undefined; });

// An `ip -batch -` started now and left waiting on its stdin: at the crash we
// only write the lines, saving a fork+exec (5-15 ms on a busy host) when it counts.
const ready = spawn('ip', ['-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
let readyErr = '';
ready.stderr.on('data', (d) => { readyErr += d; });
ready.stdin.on('error', () => undefined);
const readyExit = new Promise<number>((resolve) => {
  ready.on('error', () => resolve(-1));
  ready.on('close', (code) => resolve(code ?? -1));
});

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  try {
    const m = JSON.parse(line) as { vips?: VipSpec[]; resign?: Resign[]; bye?: boolean };
    if (m.vips) vips = m.vips;
    if (m.resign) resign = m.resign;
    if (m.bye) bye = true;
  } catch {
    log(`ignoring malformed line: ${line.slice(0, 80)}`);
  }
});

// Neither SIGTERM to the daemon's process group nor a terminal hangup may take us down early.
process.on('SIGHUP', () => undefined);
process.on('SIGINT', () => undefined);

rl.on('close', () => {
  if (bye) {
    ready.stdin.end();
    process.exit(0);
  }
  const t0 = process.hrtime.bigint();
  const held = vips;
  const send = resign;
  void (async () => {
    if (held.length) {
      let code: number;
      if (ready.exitCode === null && !ready.stdin.destroyed) {
        ready.stdin.end(delLines(held).join('\n') + '\n');
        code = await readyExit;
      } else code = -1;
      if (code !== 0) {
        // The waiting ip is gone or failed: run a fresh one.
        const r = await ipBatch(delLines(held));
        if (r.code !== 0 && r.stderr.trim()) log(`ip: ${r.stderr.trim()}`);
      } else if (readyErr.trim()) log(`ip: ${readyErr.trim()}`);
    } else ready.stdin.end();
    const tDel = Number(process.hrtime.bigint() - t0) / 1e6;
    let sent = 0;
    if (send.length && native) {
      const byIf = new Map<string, Resign[]>();
      for (const r of send) {
        const k = `${r.family ?? 4}/${r.ifname}`;
        byIf.set(k, [...(byIf.get(k) ?? []), r]);
      }
      for (const list of byIf.values()) {
        const { ifname, family } = list[0]!;
        try {
          // The payload's checksum was computed for this source and destination (v3 pseudo-header).
          const s = family === 6
            ? native.openRawIp6(112, { ifname, hopLimit: 255, trafficClass: 0xc0 })
            : native.openRawIp(112, { ifname, ttl: 255 });
          for (const r of list) if (s.send(r.dst, Buffer.from(r.hex, 'hex'), { src: r.src }) > 0) sent++;
          s.close();
        } catch (e) {
          log(`resign on ${ifname} failed: ${String(e)}`);
        }
      }
    }
    log(`daemon gone without goodbye: removed ${held.length} VIP(s) in ${tDel.toFixed(1)} ms, sent ${sent} priority-0 advert(s)`);
    process.exit(0);
  })();
});
