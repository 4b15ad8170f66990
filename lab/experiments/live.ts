// The default `npm run lab`: the notes' HA lab, live. Two directors (lvsd +
// lvs-keepalived each, VRRP MASTER/BACKUP), two real servers, a client
// sending a request every 100 ms. The screen shows which real server
// answered, each director's VRRP role and the active director's
// `lvsadm -Ln`; keys crash/restore the master and stop/start a real server.
// Without a terminal (tests, CI, `-- ha --script`) it plays a fixed script.
import { join } from 'node:path';
import type { Experiment, ExperimentContext, Verdict } from './types.js';
import { buildHa, destroyHa } from './ha.js';
import { hasVip, startKeepalived, waitVip } from './common.js';
import { startLvsd } from '../director.js';
import { waitListening } from '../topology.js';
import { RS_DIR, ROOT } from '../paths.js';
import type { NsProcess } from '../netns.js';

type Action = 'crash' | 'restore' | 'rs-stop' | 'rs-start' | 'quit';

const HELP = 'keys: [k] crash the master  [r] bring it back  [s] stop rs1\'s web server  [S] start it  [q] quit';

export const live: Experiment = {
  name: 'ha',
  title: 'The HA lab, live: two directors (VRRP MASTER/BACKUP) balancing two real servers',
  async run(ctx: ExperimentContext): Promise<Verdict> {
    const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true && !process.argv.includes('--script');
    ctx.say('building: client, node01 (MASTER, prio 100), node04 (BACKUP, prio 50), rs1, rs2 …');
    const ha = await buildHa(ctx.tag ?? 'ha', [
      [/advert_int 1/, 'advert_int 0.1'],
      [/\n\s*authentication \{[^}]*\}/, ''],
      [/router_id (\S+)/, 'router_id $1\n    vrrp_version 3\n    vrrp_garp_master_delay 1'],
    ]);
    const { lab, t } = ha;
    const names = ['node01', 'node04'];
    const hosts = ['dir', 'dir2'];
    const crashed = [false, false];
    const history: string[] = [];
    const counts: Record<string, number> = {};
    const events: string[] = [];
    let total = 0;
    let failed = 0;
    const phaseFailures: number[] = [];

    const client: NsProcess = lab.spawn('client', ['node', join(ROOT, 'lab', 'client-loop.mjs'), `http://${t.vip}/`, '100', '500']);
    let buffered = '';
    client.child.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl); buffered = buffered.slice(nl + 1);
        const body = line.split(' ').slice(1).join(' ');
        const who = body.startsWith('from ') ? body.slice(5) : 'ERR';
        total++;
        if (who === 'ERR') failed++;
        counts[who] = (counts[who] ?? 0) + 1;
        history.push(who);
        if (history.length > 40) history.shift();
      }
    });

    const roles = async (): Promise<string[]> => Promise.all(hosts.map(async (h, i) =>
      crashed[i] ? 'DOWN (crashed)' : (await hasVip(lab, h, t.vip)) ? 'MASTER (holds VIP)' : 'BACKUP'));

    const act = async (a: Action): Promise<void> => {
      const master = (await Promise.all(hosts.map((h) => hasVip(lab, h, t.vip)))).indexOf(true);
      if (a === 'crash') {
        const i = master >= 0 ? master : 0;
        if (crashed[i]) return;
        events.push(`${names[i]} crashes (link down, lvsd and lvs-keepalived killed)`);
        await lab.exec(hosts[i]!, ['ip', 'link', 'set', 'eth0', 'down']);
        ha.ka[i]?.proc.kill('SIGKILL');
        await ha.lvsd[i]!.kill9();
        crashed[i] = true;
      } else if (a === 'restore') {
        const i = crashed.indexOf(true);
        if (i < 0) return;
        events.push(`${names[i]} comes back`);
        await lab.exec(hosts[i]!, ['ip', 'link', 'set', 'eth0', 'up']);
        ha.lvsd[i] = await startLvsd(lab, hosts[i]!, { interfaces: ['eth0'], socket: ha.lvsd[i]!.socket });
        ha.ka[i] = startKeepalived(lab, hosts[i]!, ha.confs[i]!, ha.lvsd[i], ha.tmp);
        crashed[i] = false;
      } else if (a === 'rs-stop') {
        events.push('rs1: web server stopped');
        await lab.exec('rs1', ['pkill', '-f', 'httpd.mjs rs1 '], { check: false });
      } else if (a === 'rs-start') {
        events.push('rs1: web server started');
        lab.spawn('rs1', ['node', join(RS_DIR, 'httpd.mjs'), 'rs1', '--port', '80', '--udp', '5353']);
        await waitListening(lab, 'rs1', 80);
      }
    };

    const render = async (): Promise<void> => {
      const r = await roles();
      const active = r.findIndex((x) => x.startsWith('MASTER'));
      const table = active >= 0 ? (await ha.lvsd[active]!.lvsadm(['-Ln'], { check: false })).stdout.trimEnd() : '(no director holds the VIP)';
      const strip = history.map((w) => (w === 'ERR' ? 'x' : w.replace('rs', ''))).join(' ');
      const lines = [
        `lvsd HA lab — VIP ${t.vip}, DR, rr; VRRPv3 advert_int 0.1   (${new Date().toLocaleTimeString()})`,
        '',
        ...names.map((n, i) => `  ${n} (${hosts[i] === 'dir' ? '192.168.150.11' : '192.168.150.14'}): ${r[i]}`),
        '',
        `  client → VIP, last answers (1 = rs1, 2 = rs2, x = failed): ${strip}`,
        `  ${total} requests: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`,
        '',
        `  lvsadm -Ln on ${active >= 0 ? names[active] : '—'}:`,
        ...table.split('\n').map((l) => `    ${l}`),
        '',
        ...events.slice(-4).map((e) => `  * ${e}`),
      ];
      if (interactive) process.stdout.write(`\x1b[2J\x1b[H${lines.join('\n')}\n\n${HELP}\n`);
      else ctx.say(lines.filter((l) => !l.startsWith('  client') && l !== '').join('\n'));
    };

    try {
      await waitVip(lab, 'dir', t.vip, true);
      if (interactive) {
        const keys = new Map<string, Action>([['k', 'crash'], ['r', 'restore'], ['s', 'rs-stop'], ['S', 'rs-start'], ['q', 'quit'], ['\u0003', 'quit']]);
        process.stdin.setRawMode(true);
        process.stdin.resume();
        let quit = false;
        let busy = Promise.resolve();
        process.stdin.on('data', (d: Buffer) => {
          const a = keys.get(d.toString());
          if (!a) return;
          if (a === 'quit') { quit = true; return; }
          busy = busy.then(() => act(a)).catch((e: Error) => { events.push(`error: ${e.message}`); });
        });
        while (!quit) {
          await render();
          await new Promise((r) => setTimeout(r, 500));
        }
        process.stdin.setRawMode(false);
        process.stdin.pause();
        await busy;
      } else {
        const script: [number, Action | undefined][] = [[2500, undefined], [3000, 'crash'], [3000, 'restore'], [4000, 'rs-stop'], [3000, 'rs-start'], [2500, undefined]];
        for (const [ms, a] of script) {
          const before = failed;
          if (a) { ctx.say(`\n>>> ${a}`); await act(a); }
          await new Promise((r) => setTimeout(r, ms));
          await render();
          phaseFailures.push(failed - before);
        }
      }
    } finally {
      client.kill('SIGTERM');
      await destroyHa(ha);
    }
    const served = Object.entries(counts).filter(([k]) => k !== 'ERR');
    const ok = served.length === 2 && (interactive || (phaseFailures[0] === 0 && phaseFailures[phaseFailures.length - 1] === 0));
    return {
      ok,
      facts: { total, failed, counts, phaseFailures },
      summary: `${total} requests, ${failed} failed (${phaseFailures.length ? `per phase: ${phaseFailures.join('/')}` : 'interactive'}); answered by ${served.map(([k, v]) => `${k}×${v}`).join(' ')}`,
    };
  },
};
