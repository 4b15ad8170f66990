// The `arp` experiment: what goes wrong without the real servers' ARP tuning.
// With the VIP on lo and arp_ignore=0, every real server answers ARP for the
// VIP, so the client's ARP cache may point at a real server and bypass the
// director. With arp_ignore=1 / arp_announce=2 only the director answers.
import { Lab, waitFor } from '../netns.js';
import { buildLan } from '../topology.js';
import type { Experiment, ExperimentContext, Verdict } from './types.js';

async function macOf(lab: Lab, host: string): Promise<string> {
  const { stdout } = await lab.exec(host, ['ip', '-j', 'link', 'show', 'eth0']);
  return (JSON.parse(stdout) as { address: string }[])[0]!.address;
}

/** Ask for the VIP once and collect every ARP reply (who claims the VIP). */
async function arpReplies(lab: Lab, vip: string): Promise<string[]> {
  const cap = lab.spawn('client', ['tshark', '-l', '-n', '-i', 'eth0', '-f', `arp and arp[6:2] == 2`,
    '-a', 'duration:3', '-T', 'fields', '-e', 'arp.src.hw_mac', '-e', 'arp.src.proto_ipv4']);
  // tshark needs a moment before it captures; its "Capturing on" banner says when.
  await waitFor(() => cap.output().includes('Capturing on'), 5000, 50, 'tshark to start');
  // dumpcap says "Capturing on" a little before the capture is live: ask a few times.
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 300));
    await lab.exec('client', ['ip', 'neigh', 'flush', 'dev', 'eth0']);
    await lab.exec('client', ['ping', '-c1', '-W1', vip], { check: false });
  }
  await cap.exited;
  return cap.output().split('\n')
    .map((l) => l.trim().split('\t'))
    .filter((f) => f.length === 2 && f[1] === vip)
    .map((f) => f[0]!);
}

export const arp: Experiment = {
  name: 'arp',
  title: 'ARP for the VIP with and without the real servers\' arp_ignore/arp_announce',
  async run(ctx: ExperimentContext): Promise<Verdict> {
    const facts: Record<string, unknown> = {};
    for (const tuned of [false, true]) {
      const lab = new Lab(ctx.tag ?? 'arp');
      try {
        const t = await buildLan(lab, 'dr', { skipArpTuning: !tuned, servers: false });
        const who = new Map<string, string>();
        for (const h of [t.directors[0]!.name, ...t.rs.map((r) => r.name)]) who.set(await macOf(lab, h), h);
        ctx.say(`\n# real servers ${tuned ? 'WITH' : 'WITHOUT'} arp_ignore=1 / arp_announce=2 (VIP ${t.vip} on lo)`);
        for (const r of t.rs) {
          const { stdout } = await lab.exec(r.name, ['sysctl', '-n', 'net.ipv4.conf.all.arp_ignore', 'net.ipv4.conf.all.arp_announce']);
          ctx.say(`${r.name}: arp_ignore=${stdout.split('\n')[0]} arp_announce=${stdout.split('\n')[1]}`);
        }
        const replies = await arpReplies(lab, t.vip);
        const claimants = [...new Set(replies)].map((m) => who.get(m) ?? m);
        ctx.say(`who-has ${t.vip}? answered by: ${claimants.join(', ') || '(nobody)'}`);
        const { stdout: neigh } = await lab.exec('client', ['ip', 'neigh', 'show', t.vip]);
        const mac = neigh.match(/lladdr (\S+)/)?.[1];
        ctx.say(`client: ${neigh.trim()}  → ${mac ? who.get(mac) ?? '?' : '(no entry)'}`);
        facts[tuned ? 'tuned' : 'untuned'] = { claimants, cachedAt: mac ? who.get(mac) : undefined };
      } finally {
        await lab.destroy();
      }
    }
    const untuned = (facts.untuned as { claimants: string[] }).claimants;
    const tuned = (facts.tuned as { claimants: string[] }).claimants;
    const ok = untuned.length > 1 && tuned.length === 1 && tuned[0] === 'dir';
    return {
      ok,
      facts,
      summary: ok
        ? `without the tuning ${untuned.length} hosts claim the VIP (${untuned.join(', ')}); with it only the director does`
        : `unexpected ARP behaviour: untuned=${untuned.join(',')} tuned=${tuned.join(',')}`,
    };
  },
};
