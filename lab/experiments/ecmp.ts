// `npm run lab -- ecmp` (issue 14): active-active directors behind ECMP.
//
// A router namespace runs BIRD 2 (BGP to each director, kernel protocol with
// `merge paths on`, L4 multipath hash); three directors each run lvsd (DR,
// mh, --sloppy-tcp), lvs-keepalived with an lvsd_announce block, and their own
// BIRD, which lvs-keepalived drives (include file + birdc configure); two real
// servers hold the VIP on lo. Clients download from several source addresses
// at once. Then the director carrying the most flows dies (kill -9 of lvsd,
// lvs-keepalived and bird): its route must leave the router within the BGP
// hold time (or the BFD detection time with LVSD_LAB_BFD=1), the other
// directors' flows must be untouched and the dead one's must finish through
// the others, on the same real servers.
import { join } from 'node:path';
import { Lab, waitFor, type NsProcess } from '../netns.js';
import { labSocketPath, removeLabSockets, startLvsd, type Lvsd } from '../director.js';
import { RS_DIR } from '../paths.js';
import { waitListening } from '../topology.js';
import { startKeepalived, TempDir } from './common.js';
import type { Experiment, ExperimentContext, Verdict } from './types.js';

const VIP = '10.20.0.100';
const LAN = '192.168.150';
const ROUTER_LAN = `${LAN}.1`;
const HOLD_S = 3;
const CLIENTS = 12;
const SIZE = 1_200_000;
const RATE = '100k';

interface Director { name: string; ip: string; lvsd?: Lvsd; ka?: NsProcess; bird?: NsProcess; birdSock: string; include: string }

function routerBird(dirs: Director[], bfd: boolean): string {
  return `router id ${ROUTER_LAN};
log stderr all;
protocol device { scan time 1; }
protocol kernel {
  ipv4 { import none; export all; };
  merge paths on;
}
${bfd ? 'protocol bfd { interface "eth1" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }' : ''}
${dirs.map((d, i) => `protocol bgp d${i + 1} {
  local ${ROUTER_LAN} as 65000;
  neighbor ${d.ip} as 65001;
  hold time ${HOLD_S}; keepalive time 1; connect retry time 1; error wait time 1, 2;
  ${bfd ? 'bfd on;' : ''}
  ipv4 { import all; export none; };
}`).join('\n')}
`;
}

function directorBird(d: Director, bfd: boolean): string {
  return `router id ${d.ip};
log stderr all;
protocol device { scan time 1; }
include "${d.include}";
${bfd ? 'protocol bfd { interface "eth0" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }' : ''}
protocol bgp up {
  local ${d.ip} as 65001;
  neighbor ${ROUTER_LAN} as 65000;
  hold time ${HOLD_S}; keepalive time 1; connect retry time 1; error wait time 1, 2;
  ${bfd ? 'bfd on;' : ''}
  ipv4 { import none; export where proto = "lvsd_vips"; };
}
`;
}

function keepalivedConf(d: Director, rs: { ip: string }[]): string {
  return `lvsd_announce {
    bird_socket ${d.birdSock}
    bird_include ${d.include}
    protocol_name lvsd_vips
    check_interval 0.5
    prefix ${VIP}/32
}
virtual_server ${VIP} 80 {
    delay_loop 1
    lvs_sched mh
    lvs_method DR
    protocol TCP
${rs.map((r) => `    real_server ${r.ip} 80 {
        weight 1
        TCP_CHECK { connect_timeout 1 }
    }`).join('\n')}
}
`;
}

/** The router's next hops for the VIP (empty when there is no route). */
async function nextHops(lab: Lab): Promise<string[]> {
  const { stdout } = await lab.exec('router', ['ip', '-j', 'route', 'show', VIP], { check: false });
  if (!stdout.trim()) return [];
  const routes = JSON.parse(stdout) as { gateway?: string; nexthops?: { gateway: string }[] }[];
  return routes.flatMap((r) => (r.nexthops ? r.nexthops.map((n) => n.gateway) : r.gateway ? [r.gateway] : [])).sort();
}

/** Client address:port → real server, from `lvsadm -Lnc` on one director. */
async function connsOf(d: Director): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (!d.lvsd) return out;
  const { stdout } = await d.lvsd.lvsadm(['-Lnc'], { check: false });
  for (const line of stdout.split('\n')) {
    const m = /^TCP\s+\S+\s+(\S+)\s+(\S+)\s+\S+\s+(\S+)/.exec(line.trim());
    if (m && m[1] !== 'NONE') out.set(m[2]!, m[3]!);
  }
  return out;
}

/**
 * `crash`: 'power' (default) takes the director's link down first, then kills -9: nothing reaches the
 * router, as when a machine dies, so only the hold timer (or BFD) can tell. 'process' only kills -9: the
 * kernel then closes bird's BGP socket and the router hears of it at once (the figure for a software crash).
 */
export async function runEcmp(ctx: ExperimentContext, opts: { bfd?: boolean; crash?: 'power' | 'process' } = {}): Promise<Verdict> {
  const bfd = opts.bfd ?? process.env.LVSD_LAB_BFD === '1';
  const crash = opts.crash ?? (process.env.LVSD_LAB_CRASH === 'process' ? 'process' : 'power');
  const lab = new Lab('ec');
  const tmp = new TempDir();
  const say = ctx.say;
  try {
    // ---- topology: client — router — LAN switch (directors, real servers)
    await lab.addNs('client');
    await lab.addNs('router');
    await lab.addSwitch('sw');
    await lab.link('client', 'eth0', 'router', 'eth0', '10.10.0.2/24', '10.10.0.1/24');
    const clientIps = Array.from({ length: CLIENTS }, (_, i) => `10.10.0.${11 + i}`);
    for (const ip of clientIps) await lab.exec('client', ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    await lab.exec('client', ['ip', 'route', 'add', 'default', 'via', '10.10.0.1']);
    await lab.plug('router', 'eth1', 'sw', { addr: `${ROUTER_LAN}/24` });
    await lab.sysctl('router', 'net.ipv4.ip_forward', 1);
    await lab.sysctl('router', 'net.ipv4.fib_multipath_hash_policy', 1);
    for (const k of ['all', 'default', 'eth0', 'eth1']) await lab.sysctl('router', `net.ipv4.conf.${k}.rp_filter`, 0);
    const dirs: Director[] = [1, 2, 3].map((i) => ({
      name: `dir${i}`, ip: `${LAN}.${20 + i}`,
      birdSock: join(tmp.path, `bird-dir${i}.ctl`), include: join(tmp.path, `announce-dir${i}.conf`),
    }));
    for (const d of dirs) {
      await lab.addNs(d.name);
      await lab.plug(d.name, 'eth0', 'sw', { addr: `${d.ip}/24` });
      // The VIP is routed to the director, never ARPed for: it sits on lo.
      await lab.exec(d.name, ['ip', 'addr', 'add', `${VIP}/32`, 'dev', 'lo']);
    }
    const rs = [{ name: 'rs1', ip: `${LAN}.12` }, { name: 'rs2', ip: `${LAN}.13` }];
    for (const r of rs) {
      await lab.addNs(r.name);
      await lab.plug(r.name, 'eth0', 'sw', { addr: `${r.ip}/24` });
      await lab.exec(r.name, ['sh', join(RS_DIR, 'rs-arp.sh'), 'eth0']);
      await lab.exec(r.name, ['sh', join(RS_DIR, 'rs-vip.sh'), VIP]);
      await lab.exec(r.name, ['ip', 'route', 'add', 'default', 'via', ROUTER_LAN]);
      lab.spawn(r.name, ['node', join(RS_DIR, 'httpd.mjs'), r.name, '--port', '80']);
    }
    for (const r of rs) await waitListening(lab, r.name, 80);

    // ---- routing: BIRD on the router, then on each director with lvsd and lvs-keepalived
    const rconf = tmp.file('bird-router.conf', routerBird(dirs, bfd));
    const routerBirdProc = lab.spawn('router', ['bird', '-f', '-c', rconf, '-s', join(tmp.path, 'bird-router.ctl'), '-P', join(tmp.path, 'bird-router.pid')]);
    for (const d of dirs) {
      d.lvsd = await startLvsd(lab, d.name, { interfaces: ['eth0'], socket: labSocketPath(lab, d.name), args: ['--sloppy-tcp'] });
      // BIRD refuses a missing include: start with nothing announced; lvs-keepalived rewrites it.
      tmp.file(`announce-${d.name}.conf`, 'protocol static lvsd_vips { ipv4; }\n');
      const conf = tmp.file(`bird-${d.name}.conf`, directorBird(d, bfd));
      d.bird = lab.spawn(d.name, ['bird', '-f', '-c', conf, '-s', d.birdSock, '-P', join(tmp.path, `bird-${d.name}.pid`)]);
      await waitFor(async () => (await lab.exec(d.name, ['birdc', '-s', d.birdSock, 'show', 'status'], { check: false })).code === 0,
        10_000, 100, `bird in ${d.name}`);
      d.ka = startKeepalived(lab, d.name, tmp.file(`keepalived-${d.name}.conf`, keepalivedConf(d, rs)), d.lvsd, tmp).proc;
    }
    const allHops = dirs.map((d) => d.ip).sort();
    await waitFor(async () => JSON.stringify(await nextHops(lab)) === JSON.stringify(allHops), 40_000, 100, 'three next hops on the router')
      .catch((e: Error) => {
        throw new Error(`${e.message}\n--- router bird ---\n${routerBirdProc.output().slice(-3000)}\n--- ${dirs[0]!.name} lvs-keepalived ---\n${dirs[0]!.ka!.output().slice(-3000)}`);
      });
    say(`router: ip route show ${VIP}`);
    say((await lab.exec('router', ['ip', 'route', 'show', VIP])).stdout.trimEnd().replace(/^/gm, '  '));
    say(`router: ${(await lab.exec('router', ['birdc', '-s', join(tmp.path, 'bird-router.ctl'), 'show', 'protocols'])).stdout.trim().split('\n').filter((l) => /^d\d/.test(l)).join(' | ')}`);

    // ---- flows: one slow download from each client address, source port fixed so lvsadm -Lnc names it
    const flows = clientIps.map((ip, i) => ({ ip, port: 41000 + i, key: `${ip}:${41000 + i}` }));
    const dl = flows.map((f) => lab.spawn('client', ['sh', '-c',
      `curl -s -o /dev/null -m 60 --interface ${f.ip} --local-port ${f.port} --limit-rate ${RATE} -w '%{http_code} %{size_download}\\n' 'http://${VIP}/big?size=${SIZE}'; echo "rc=$?"`]));
    await new Promise((r) => setTimeout(r, 2500));
    const before = new Map<string, { dir: string; rs: string }>();
    for (const d of dirs) for (const [k, r] of await connsOf(d)) if (flows.some((f) => f.key === k)) before.set(k, { dir: d.name, rs: r });
    say(`\nwhich director carries which flow (lvsadm -Lnc on each, client -> real server):`);
    for (const d of dirs) {
      const mine = [...before].filter(([, v]) => v.dir === d.name);
      say(`  ${d.name} (${d.ip}): ${mine.length} flows ${mine.map(([k, v]) => `${k}->${v.rs.split(':')[0]}`).join(' ')}`);
    }
    const unseen = flows.filter((f) => !before.has(f.key)).map((f) => f.key);
    if (unseen.length) say(`  (not seen on any director: ${unseen.join(' ')})`);
    const perDir = dirs.map((d) => [...before.values()].filter((v) => v.dir === d.name).length);
    const victim = dirs[perDir.indexOf(Math.max(...perDir))]!;

    // ---- the crash: kill -9 lvsd, lvs-keepalived and bird of the busiest director
    say(`\n${crash === 'power' ? 'link down, then ' : ''}kill -9 lvsd, lvs-keepalived and bird on ${victim.name} (${victim.ip})`);
    const t0 = Date.now();
    if (crash === 'power') await lab.exec(victim.name, ['ip', 'link', 'set', 'eth0', 'down']);
    victim.lvsd!.proc.kill('SIGKILL');
    victim.ka!.kill('SIGKILL');
    victim.bird!.kill('SIGKILL');
    await waitFor(async () => !(await nextHops(lab)).includes(victim.ip), (HOLD_S + 5) * 1000, 20, `${victim.name}'s route to leave the router`);
    const withdrawMs = Date.now() - t0;
    say(`route withdrawn after ${withdrawMs} ms (${crash === 'process' ? 'BGP socket closed by the kernel' : bfd ? 'BFD 100 ms x 3' : `BGP hold ${HOLD_S} s`}); router now:`);
    say((await lab.exec('router', ['ip', 'route', 'show', VIP])).stdout.trimEnd().replace(/^/gm, '  '));
    const deadDir = victim.name;
    victim.lvsd = undefined;

    // ---- the flows finish?
    await Promise.race([Promise.all(dl.map((p) => p.exited)), new Promise((r) => setTimeout(r, 70_000))]);
    const ok = (i: number) => dl[i]!.output().includes(`200 ${SIZE}`) && dl[i]!.output().includes('rc=0');
    const after = new Map<string, { dir: string; rs: string }>();
    for (const d of dirs) for (const [k, r] of await connsOf(d)) if (flows.some((f) => f.key === k)) after.set(k, { dir: d.name, rs: r });
    let lostSurv = 0, lostDead = 0, nSurv = 0, nDead = 0, movedSameRs = 0, movedOtherRs = 0;
    say(`\nafter the crash (lvsadm -Lnc on the survivors):`);
    flows.forEach((f, i) => {
      const b = before.get(f.key);
      const a = after.get(f.key);
      const dead = b?.dir === deadDir;
      if (dead) { nDead++; if (!ok(i)) lostDead++; } else { nSurv++; if (!ok(i)) lostSurv++; }
      if (dead && a) { if (a.rs === b!.rs) movedSameRs++; else movedOtherRs++; }
      say(`  ${f.key}: ${b ? `${b.dir}->${b.rs.split(':')[0]}` : '?'}  then ${a ? `${a.dir}->${a.rs.split(':')[0]}` : '(gone)'}  ${ok(i) ? 'complete' : `FAILED ${dl[i]!.output().trim().replace(/\n/g, ' ')}`}`);
    });
    const facts = { bfd, crash, withdrawMs, holdS: HOLD_S, flows: flows.length, perDir, victim: deadDir, nSurv, lostSurv, nDead, lostDead, movedSameRs, movedOtherRs };
    say(`\nfigures: ${JSON.stringify(facts)}`);
    const limitMs = bfd || crash === 'process' ? 1500 : HOLD_S * 1000 + 1500;
    const pass = nDead > 0 && withdrawMs <= limitMs && lostSurv === 0 && lostDead === 0 && movedOtherRs === 0 && unseen.length === 0;
    return {
      ok: pass,
      summary: `${deadDir} died carrying ${nDead} of ${flows.length} flows: route withdrawn in ${withdrawMs} ms (limit ${limitMs}); `
        + `lost ${lostSurv}/${nSurv} on the survivors, ${lostDead}/${nDead} of the dead director's (${movedSameRs} seen moved, same real server)`,
      facts,
    };
  } finally {
    await lab.destroy();
    removeLabSockets(lab);
    tmp.remove();
  }
}

export const ecmp: Experiment = {
  name: 'ecmp',
  title: 'three active-active directors behind ECMP (BGP via BIRD), one killed',
  run: (ctx) => runEcmp(ctx),
};
