// SYN flood: do established connections keep moving while SYNs from random
// sources are offered faster than the director can forward them?
//
// NAT lab (client — director — two nginx real servers). A keep-alive client
// holds CONNS connections open and counts the requests answered each second;
// after SECONDS of that, a flooder in the client's namespace sends pure SYNs
// from random sources in 10.200.0.0/16 (random ports) at the VIP for SECONDS,
// then SECONDS more without the flood. Per peer, in the same run: lvsd (SYN
// shedding on, the default), lvsd --no-syn-shed, and nftables DNAT (the
// kernel's conntrack). The director's work (and through RPS its interfaces'
// softirqs) is on CPU1, everything else on CPU0; the flooder is paced to
// --flood-pps (default 200k) so every peer faces the same flood, and what it
// reaches is printed. Figures: requests/s and p99 of the established
// connections during the flood as a share of before it. A benchmark, not a
// test: it never fails on a figure.
//
//   node dist/bench/synflood.js [--seconds 8] [--conns 50] [--flood-pps 200000] [--peers lvsd,lvsd-noshed,lvsd-nofast,nft-dnat]
// (lvsd-nofast: --no-fast-path, every established packet through lvsd's rings as well)
import { writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, cleanupStale } from '../lab/netns.js';
import { buildNat, waitListening, type Topology } from '../lab/topology.js';
import { startLvsd, removeLabSockets, type Lvsd } from '../lab/director.js';

const argOf = (k: string, d: string): string => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] ?? d : d; };
const SECONDS = Number(argOf('--seconds', '8'));
const CONNS = Number(argOf('--conns', '50'));
const PEERS = argOf('--peers', 'lvsd,lvsd-noshed,nft-dnat').split(',');
/** SYNs per second the flooder aims at: the same offered flood for every peer (what it reaches is printed). */
const FLOOD_PPS = Number(argOf('--flood-pps', '200000'));
const FLOOD_NET = '10.200';

const emit = (o: object): void => { process.stdout.write(JSON.stringify(o) + '\n'); };
const note = (m: string): void => { process.stderr.write(`[synflood] ${m}\n`); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs in the client namespace: CONNS keep-alive connections; one line per second: "<s> <answered> <p99 ms>". */
async function keepAliveClient(url: string, conns: number, seconds: number): Promise<void> {
  const http = await import('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  let answered = 0;
  let lat: number[] = [];
  const end = Date.now() + seconds * 1000;
  const loop = async (): Promise<void> => {
    while (Date.now() < end) {
      const t0 = performance.now();
      const ok = await new Promise<boolean>((resolve) => {
        const req = http.get(url, { agent, timeout: 3000 }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode === 200)); res.on('error', () => resolve(false)); });
        req.on('timeout', () => { req.destroy(); resolve(false); });
        req.on('error', () => resolve(false));
      });
      if (ok) { answered++; lat.push(performance.now() - t0); } else await sleep(10);
    }
  };
  let sec = 0;
  const tick = setInterval(() => {
    lat.sort((a, b) => a - b);
    const p99 = lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]! : NaN;
    process.stdout.write(`${++sec} ${answered} ${p99.toFixed(2)}\n`);
    answered = 0;
    lat = [];
  }, 1000);
  await Promise.all(Array.from({ length: conns }, loop));
  clearInterval(tick);
  agent.destroy();
}

/** Runs in the client namespace: pure SYNs from random FLOOD_NET sources and ports at dst:80 for `seconds`; prints "sent N". */
async function flood(ifname: string, dstMac: string, dst: string, seconds: number, pps: number): Promise<void> {
  const { openPacket } = await import('../src/io/native.js');
  const { buildTcpFrame } = await import('../test/packet/build/frame.js');
  const { csumUpdate32, csumUpdate16, getCsum, setCsum } = await import('../src/packet/checksum.js');
  const { ipToU32 } = await import('../src/packet/addr.js');
  const sock = openPacket(ifname, { txFrameCount: 4096, ignoreOutgoing: true });
  const f = buildTcpFrame({ srcMac: sock.macBytes, dstMac, src: `${FLOOD_NET}.0.1`, dst, srcPort: 1024, dstPort: 80, flags: 'S' });
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const IP_CSUM = 14 + 10, TCP_CSUM = 14 + 20 + 16;
  const base = ipToU32(`${FLOOD_NET}.0.0`);
  let x = 0x9e3779b9;
  let n = 0;
  const t0 = Date.now();
  const end = t0 + seconds * 1000;
  while (Date.now() < end) {
    // Paced: never ahead of pps × elapsed, so every peer is offered the same flood.
    const due = Math.floor(((Date.now() - t0) / 1000) * pps) - n;
    if (due <= 0) { await new Promise((r) => setImmediate(r)); continue; }
    for (let k = 0; k < Math.min(512, due); k++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5; // xorshift32
      const oldSrc = dv.getUint32(14 + 12), oldPort = dv.getUint16(34);
      const src = (base | (x & 0xffff)) >>> 0, port = 1024 + ((x >>> 16) % 64000);
      dv.setUint32(14 + 12, src);
      dv.setUint16(34, port);
      setCsum(f, IP_CSUM, csumUpdate32(getCsum(f, IP_CSUM), oldSrc, src));
      setCsum(f, TCP_CSUM, csumUpdate16(csumUpdate32(getCsum(f, TCP_CSUM), oldSrc, src), oldPort, port));
      if (!sock.tx.push(f)) break;
      n++;
    }
    sock.tx.flush();
  }
  sock.tx.flush();
  process.stdout.write(`sent ${n - sock.tx.fullDrops}\n`);
  sock.close();
}

async function startNginx(lab: Lab, host: string, dir: string): Promise<void> {
  const conf = join(dir, `${host}.conf`);
  writeFileSync(conf, `daemon off; worker_processes 1; pid ${join(dir, host)}.pid; error_log stderr crit;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s;
  client_body_temp_path ${dir}/${host}-b; proxy_temp_path ${dir}/${host}-p; fastcgi_temp_path ${dir}/${host}-f;
  uwsgi_temp_path ${dir}/${host}-u; scgi_temp_path ${dir}/${host}-s;
  server { listen 80 backlog=1024; location / { return 200 "${host}\\n"; } } }
`);
  lab.spawn(host, ['taskset', '-c', '0', 'nginx', '-c', conf]);
  await waitListening(lab, host, 80);
}

/** Everything but the director on CPU0; the director's interfaces' receive work on CPU1 (RPS). */
async function placeCpus(lab: Lab, topo: Topology): Promise<void> {
  const rpsAll = (host: string, mask: number) => lab.sh(host, `for q in /sys/class/net/*/queues/rx-*; do echo ${mask} > $q/rps_cpus; done 2>/dev/null; true`, { check: false });
  for (const h of [topo.client.name, ...topo.rs.map((r) => r.name), 'pub', 'sw']) await rpsAll(h, 1);
  await rpsAll('dir', 2);
}

interface Phase { rps: number; p99: number }

/** One peer: keep-alive load for 3 × SECONDS, the flood in the middle third. */
async function measure(lab: Lab, topo: Topology, peer: string, dirMac: string, lvsd?: Lvsd): Promise<void> {
  const me = process.argv[1]!;
  const client = lab.spawn('client', ['taskset', '-c', '0', 'node', me, '--client', `http://${topo.vip}/`, String(CONNS), String(3 * SECONDS + 1)]);
  await sleep((SECONDS + 1) * 1000);
  const c0 = lvsd ? await lvsd.call('get-counters', {}) as Record<string, number> : undefined;
  const fl = await lab.exec('client', ['taskset', '-c', '0', 'node', me, '--flood', 'eth0', dirMac, topo.vip, String(SECONDS), String(FLOOD_PPS)], { timeoutMs: (SECONDS + 30) * 1000 });
  const c1 = lvsd ? await lvsd.call('get-counters', {}) as Record<string, number> : undefined;
  await client.exited;
  const lines = client.output().trim().split('\n').map((l) => l.split(' ').map(Number)).filter((v) => v.length === 3 && Number.isFinite(v[1]));
  // Seconds 2..SECONDS before (the first opens connections), the flood's seconds, and after.
  const phase = (from: number, to: number): Phase => {
    const sel = lines.filter(([s]) => s! >= from && s! <= to);
    const rps = sel.reduce((a, v) => a + v[1]!, 0) / Math.max(1, sel.length);
    const p99s = sel.map((v) => v[2]!).filter(Number.isFinite).sort((a, b) => a - b);
    return { rps: Math.round(rps), p99: p99s.length ? +p99s[p99s.length >> 1]!.toFixed(2) : NaN };
  };
  const before = phase(2, SECONDS + 1);
  const during = phase(SECONDS + 3, 2 * SECONDS + 1); // skip the flood's first second (the flooder's start-up)
  const after = phase(2 * SECONDS + 3, 3 * SECONDS);
  const sent = Number(/sent (\d+)/.exec(fl.stdout)?.[1] ?? 0);
  const out: Record<string, unknown> = {
    bench: 'synflood', peer, before, during, after, offeredPps: Math.round(sent / SECONDS),
    duringShare: +(during.rps / Math.max(1, before.rps)).toFixed(3), perSecond: lines.map((v) => v[1]),
  };
  if (c0 && c1) {
    const d = (k: string) => (c1[k] ?? 0) - (c0[k] ?? 0);
    out.lvsd = {
      rxFrames: d('io_rx_frames'), ringDrops: Object.keys(c1).filter((k) => /^ring_.*_drops$/.test(k)).reduce((a, k) => a + d(k), 0),
      connsCreated: d('conns_created'), shedTicks: d('io_syn_shed_ticks'), acceptAtEnd: (c1.io_syn_shed_accept_permille ?? 1000) / 1000,
    };
  }
  emit(out);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/synflood needs root (network namespaces)');
  await cleanupStale();
  const dir = join('/tmp', `lvsd-synflood-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const lab = new Lab('bsf');
  try {
    const topo = await buildNat(lab, { servers: false });
    for (const r of topo.rs) await startNginx(lab, r.name, dir);
    await placeCpus(lab, topo);
    // Replies to the flood's sources go back towards the client (whose kernel drops them).
    await lab.exec('dir', ['ip', 'route', 'add', `${FLOOD_NET}.0.0/16`, 'via', topo.client.ip]);
    const dirMac = (JSON.parse((await lab.exec('dir', ['ip', '-j', 'link', 'show', 'eth0'])).stdout) as { address: string }[])[0]!.address;
    const [rs1, rs2] = topo.rs;
    for (const peer of PEERS) {
      note(`${peer}…`);
      if (peer === 'nft-dnat') {
        await lab.sysctl('dir', 'net.ipv4.ip_forward', 1);
        await lab.exec('dir', ['nft', '-f', '-'], {
          input: `table ip bsf {\n chain pre {\n type nat hook prerouting priority dstnat; policy accept;\n`
            + ` ip daddr ${topo.vip} tcp dport 80 dnat to numgen inc mod 2 map { 0 : ${rs1!.ip}, 1 : ${rs2!.ip} }\n }\n}\n`,
        });
        await measure(lab, topo, peer, dirMac);
        await lab.exec('dir', ['nft', 'delete', 'table', 'ip', 'bsf']);
        await lab.exec('dir', ['conntrack', '-F'], { check: false });
        await lab.sysctl('dir', 'net.ipv4.ip_forward', 0);
      } else {
        const args = peer === 'lvsd-noshed' ? ['--no-syn-shed'] : peer === 'lvsd-nofast' ? ['--no-fast-path'] : [];
        const lvsd = await startLvsd(lab, 'dir', { wrap: ['taskset', '-c', '1'], args });
        try {
          const vs = `${topo.vip}:80`;
          await lvsd.lvsadm(['-A', '-t', vs, '-s', 'rr']);
          for (const r of topo.rs) await lvsd.lvsadm(['-a', '-t', vs, '-r', `${r.ip}:80`, '-m']);
          await measure(lab, topo, peer, dirMac, lvsd);
        } finally {
          await lvsd.stop();
        }
      }
      await sleep(1000);
    }
  } finally {
    await lab.destroy();
    removeLabSockets(lab);
    rmSync(dir, { recursive: true, force: true });
  }
}

const ci = process.argv.indexOf('--client');
const fi = process.argv.indexOf('--flood');
(ci > 0
  ? keepAliveClient(process.argv[ci + 1]!, Number(process.argv[ci + 2]), Number(process.argv[ci + 3]))
  : fi > 0
    ? flood(process.argv[fi + 1]!, process.argv[fi + 2]!, process.argv[fi + 3]!, Number(process.argv[fi + 4]), Number(process.argv[fi + 5]))
    : main()
).then(() => process.exit(0), (e: unknown) => { note(String(e instanceof Error ? e.stack : e)); process.exit(1); });

