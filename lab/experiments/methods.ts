// The `dr`, `nat` and `tun` experiments: the notes' LVS set-up step by step,
// with lvsadm in place of ipvsadm, and what the notes check afterwards.
import { Lab } from '../netns.js';
import { buildLan, buildNat, type Topology } from '../topology.js';
import { curlMany, removeLabSockets, startLvsd, tally, type Lvsd } from '../director.js';
import type { Experiment, ExperimentContext, Verdict } from './types.js';
import { answers } from './common.js';

type Method = 'dr' | 'nat' | 'tun';
const FLAG: Record<Method, string> = { dr: '-g', nat: '-m', tun: '-i' };

async function lvsadmShown(ctx: ExperimentContext, lvsd: Lvsd, args: string[]): Promise<string> {
  ctx.say(`dir# lvsadm ${args.join(' ')}`);
  const { stdout } = await lvsd.lvsadm(args);
  if (stdout) ctx.say(stdout.replace(/\n$/, ''));
  return stdout;
}

async function runMethod(method: Method, ctx: ExperimentContext): Promise<Verdict> {
  const lab = new Lab(ctx.tag ?? method);
  let lvsd: Lvsd | undefined;
  try {
    const t: Topology = method === 'nat' ? await buildNat(lab) : await buildLan(lab, method);
    const r0 = t.rs[0]!;
    ctx.say(`# ${t.rs.length} real servers, director ${t.directors[0]!.ip}, VIP ${t.vip}`);
    if (method === 'nat') {
      const { stdout } = await lab.exec(r0.name, ['ip', 'route', 'show', 'default']);
      ctx.say(`${r0.name}# ip route show default\n${stdout.trim()}        ← the director is the real servers' gateway`);
    } else {
      const { stdout } = await lab.exec(r0.name, ['sysctl', 'net.ipv4.conf.all.arp_ignore', 'net.ipv4.conf.all.arp_announce']);
      ctx.say(`${r0.name}# sysctl net.ipv4.conf.all.arp_ignore net.ipv4.conf.all.arp_announce\n${stdout.trim()}`);
      const { stdout: lo } = await lab.exec(r0.name, ['ip', '-br', 'addr', 'show', 'dev', 'lo']);
      ctx.say(`${r0.name}# ip -br addr show dev lo\n${lo.trim()}        ← the hidden VIP`);
      if (method === 'tun') {
        const { stdout: tun } = await lab.exec(r0.name, ['ip', '-br', 'link', 'show', 'tun0']);
        ctx.say(`${r0.name}# ip -br link show tun0\n${tun.trim()}        ← IPIP decapsulation (userspace helper: this kernel has no ipip module)`);
      }
    }
    lvsd = await startLvsd(lab, t.directors[0]!.name, { interfaces: method === 'nat' ? ['eth0', 'eth1'] : ['eth0'] });
    const svc = `${t.vip}:80`;
    await lvsadmShown(ctx, lvsd, ['-A', '-t', svc, '-s', 'rr']);
    for (const r of t.rs) await lvsadmShown(ctx, lvsd, ['-a', '-t', svc, '-r', method === 'nat' ? `${r.ip}:80` : r.ip, FLAG[method], '-w', '1']);
    await lvsadmShown(ctx, lvsd, ['-Ln']);

    let tunPackets = 0;
    let capture: ReturnType<Lab['spawn']> | undefined;
    if (method === 'tun') {
      capture = lab.spawn(r0.name, ['tshark', '-l', '-n', '-i', 'eth0', '-f', 'ip proto 4', '-a', 'duration:4',
        '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.proto']);
      const start = Date.now();
      while (!capture.output().includes('Capturing on') && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 50));
    }
    ctx.say(`client# for i in $(seq 10); do curl -s http://${t.vip}/; done`);
    const got = await curlMany(lab, 'client', `http://${t.vip}/`, 10);
    ctx.say(answers(got));
    const counts = tally(got);
    if (capture) {
      await capture.exited;
      const lines = capture.output().split('\n').filter((l) => /^\d+\.\d+\.\d+\.\d+[,\t]/.test(l));
      tunPackets = lines.length;
      ctx.say(`${r0.name}# tshark -f 'ip proto 4' → ${tunPackets} IPIP packets, e.g. ${lines[0]?.replace(/\t/g, ' ') ?? '(none)'}`);
    }
    // The director holds no socket for the service; the real servers do (keep-alive connections held open).
    const held = lab.spawn('client', ['sh', '-c', `for i in 1 2 3 4; do curl -s -m 5 http://${t.vip}/slow?ms=3000 >/dev/null & done; wait`]);
    await new Promise((r) => setTimeout(r, 800));
    const { stdout: dirSs } = await lab.exec(t.directors[0]!.name, ['ss', '-Htn', 'state', 'established']);
    const rsSs: number[] = [];
    for (const r of t.rs) {
      const { stdout } = await lab.exec(r.name, ['ss', '-Htn', 'state', 'established', '( sport = :80 )']);
      rsSs.push(stdout.split('\n').filter(Boolean).length);
    }
    ctx.say(`dir# ss -tn state established → ${dirSs.split('\n').filter(Boolean).length} sockets (the director does not terminate TCP)`);
    ctx.say(t.rs.map((r, i) => `${r.name}# ss -tn … sport :80 → ${rsSs[i]} sockets`).join('\n'));
    await held.exited;
    ctx.say('dir# lvsadm -lnc');
    const { stdout: conns } = await lvsd.lvsadm(['-lnc']);
    ctx.say(conns.split('\n').slice(0, 8).join('\n') + (conns.split('\n').length > 9 ? '\n…' : ''));
    const finWait = conns.split('\n').filter((l) => / (FIN_WAIT|TIME_WAIT) /.test(l)).length;

    const balanced = t.rs.every((r) => counts[`from ${r.name}`] === 5);
    const ok = balanced && dirSs.split('\n').filter(Boolean).length === 0 && rsSs.every((n) => n > 0) && finWait > 0
      && (method !== 'tun' || tunPackets > 0);
    return {
      ok,
      facts: { counts, finWait, rsSockets: rsSs, tunPackets },
      summary: `10 requests → ${Object.entries(counts).map(([k, v]) => `${k.replace('from ', '')}×${v}`).join(' ')}; `
        + `director holds no socket, RS hold ${rsSs.join('+')}; ${finWait} FIN_WAIT/TIME_WAIT entries in lvsadm -lnc`
        + (method === 'tun' ? `; ${tunPackets} IPIP packets seen on ${r0.name}` : ''),
    };
  } finally {
    if (lvsd) await lvsd.stop();
    await lab.destroy();
    removeLabSockets(lab);
  }
}

export const dr: Experiment = { name: 'dr', title: 'LVS-DR: ARP tuning, VIP on lo, lvsadm -g, requests alternate', run: (c) => runMethod('dr', c) };
export const nat: Experiment = { name: 'nat', title: 'LVS-NAT: the director as the real servers\' gateway, lvsadm -m', run: (c) => runMethod('nat', c) };
export const tun: Experiment = { name: 'tun', title: 'LVS-TUN: IPIP to the real servers, which answer directly, lvsadm -i', run: (c) => runMethod('tun', c) };
