// End-to-end benchmark: the same clients and servers, the same director
// namespace, side by side: lvsd (DR and NAT), plain kernel IP forwarding (the
// limit), nftables DNAT (numgen inc over the two servers) and HAProxy mode tcp.
// Client and servers run on CPU0; the director's work (the balancer process,
// and through RPS the kernel's share of its interfaces) on CPU1, so what
// tells the peers apart is CPU1's busy time at the rate the client reaches.
// Prints one JSON object per line. Not a test: never fails on a figure.
//
//   npx tsc -p tsconfig.json && node dist/bench/e2e.js
//   BENCH_RUNS=3 BENCH_SECONDS=8 BENCH_PEERS=forward,nft-dnat,haproxy,lvsd-nat,lvsd-dr node dist/bench/e2e.js
//
// lvsd --workers: peers lvsd-nat-w2, lvsd-dr-w2 (any N) run lvsd with N
// workers beside lvsd-nat / lvsd-dr (one worker) in the same run, and the
// ratios compare them; BENCH_LVSD_CPUS (default 1: the director's CPU) is
// where lvsd and its interfaces' softirqs (RPS) may run, e.g. 1-2 on a
// machine with three cores or more, so that the client keeps CPU0 to itself.
//   BENCH_PEERS=lvsd-nat,lvsd-nat-w2,lvsd-dr,lvsd-dr-w2 BENCH_TESTS=keepalive,udp BENCH_LVSD_CPUS=1-2 node dist/bench/e2e.js
import { readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, run, cleanupStale } from '../lab/netns.js';
import { buildLan, buildNat, waitListening, type Topology } from '../lab/topology.js';
import { startLvsd, removeLabSockets, type Lvsd } from '../lab/director.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNS = Number(process.env.BENCH_CONNS ?? 50);
const PEERS = (process.env.BENCH_PEERS ?? 'forward,nft-dnat,haproxy,lvsd-nat,lvsd-dr').split(',');
const TESTS = (process.env.BENCH_TESTS ?? 'keepalive,close,bulk,udp').split(',') as ('keepalive' | 'close' | 'bulk' | 'udp')[];
const HTTP_TESTS = TESTS.filter((t): t is 'keepalive' | 'close' => t === 'keepalive' || t === 'close');
/** CPUs lvsd (and RPS of the director's interfaces) may use: taskset's list form. */
const LVSD_CPUS = process.env.BENCH_LVSD_CPUS ?? '1';
const DIR_CPUS = LVSD_CPUS.split(',').flatMap((r) => {
  const [a, b] = r.split('-').map(Number);
  return Array.from({ length: (b ?? a!) - a! + 1 }, (_, i) => a! + i);
});
const DIR_MASK = DIR_CPUS.reduce((m, c) => m | (1 << c), 0) | 2; // CPU1 stays in: the other peers run there

function emit(o: object): void { process.stdout.write(JSON.stringify(o) + '\n'); }
function note(msg: string): void { process.stderr.write(`[bench] ${msg}\n`); }

/**
 * The director's CPUs' jiffies: [busy, total] (CPU1, plus BENCH_LVSD_CPUS):
 * busy/total is the share of one such CPU, so a director busy on two CPUs
 * shows up to 200 % when both are counted.
 */
function cpu1(): [number, number] {
  let busy = 0, total = 0;
  for (const c of new Set([1, ...DIR_CPUS])) {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${c} `));
    if (!line) continue;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const t = v.reduce((a, b) => a + b, 0);
    busy += t - (v[3]! + (v[4] ?? 0));
    total += t;
  }
  const n = new Set([1, ...DIR_CPUS]).size;
  return [busy, total / n];
}

async function nsPids(lab: Lab, host: string): Promise<number[]> {
  const { stdout } = await run(['ip', 'netns', 'pids', lab.ns(host)], { check: false });
  return stdout.split(/\s+/).filter(Boolean).map(Number);
}

/** Pin every process (and thread) of a namespace to `cpu`. */
async function pinNs(lab: Lab, host: string, cpu: number): Promise<void> {
  for (const pid of await nsPids(lab, host)) await run(['taskset', '-a', '-p', '-c', String(cpu), String(pid)], { check: false });
}

async function rps(lab: Lab, host: string, ifname: string, mask: number): Promise<void> {
  await lab.sh(host, `for q in /sys/class/net/${ifname}/queues/rx-*; do echo ${mask} > $q/rps_cpus; done`, { check: false });
}

async function switchPorts(lab: Lab, sw: string): Promise<string[]> {
  const { stdout } = await lab.exec(sw, ['ip', '-j', 'link', 'show', 'master', 'br0']);
  return (JSON.parse(stdout || '[]') as { ifname: string }[]).map((l) => l.ifname.split('@')[0]!);
}

async function startNginx(lab: Lab, host: string, dir: string): Promise<void> {
  const conf = join(dir, `${host}.conf`);
  writeFileSync(conf, `daemon off; worker_processes 1; pid ${join(dir, host)}.pid; error_log stderr error;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 120s;
  client_body_temp_path ${dir}/${host}-body; proxy_temp_path ${dir}/${host}-proxy; fastcgi_temp_path ${dir}/${host}-fcgi;
  uwsgi_temp_path ${dir}/${host}-uwsgi; scgi_temp_path ${dir}/${host}-scgi;
  server { listen 80 backlog=4096; location / { return 200 "from ${host}\\n"; } } }
`);
  lab.spawn(host, ['taskset', '-c', '0', 'nginx', '-c', conf]);
  await waitListening(lab, host, 80);
}

interface WrkResult { rps: number; busy: number; errors: number; procPct?: number; p50?: number; p99?: number }

/** wrk's `--latency` percentile as ms (it prints us, ms or s). */
function wrkPercentile(out: string, pct: string): number | undefined {
  const m = new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
  if (!m) return undefined;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

/** utime + stime of a process (all threads), in clock ticks (USER_HZ = 100). */
function procTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

async function wrk(lab: Lab, url: string, close: boolean, pid?: number): Promise<WrkResult> {
  const args = ['taskset', '-c', '0', 'wrk', '-t2', `-c${CONNS}`, `-d${SECONDS}s`, '--timeout', '2s', '--latency'];
  if (close) args.push('-H', 'Connection: close');
  args.push(url);
  const [b0, t0] = cpu1();
  const p0 = pid ? procTicks(pid) : 0;
  const w0 = Date.now();
  const { stdout } = await lab.exec('client', args, { timeoutMs: (SECONDS + 30) * 1000 });
  const [b1, t1] = cpu1();
  const procPct = pid ? (procTicks(pid) - p0) * 10 * 100 / Math.max(1, Date.now() - w0) : undefined;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0);
  const e = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const errors = (e ? e.slice(1).reduce((a, x) => a + Number(x), 0) : 0) + non2xx;
  return { rps, busy: (100 * (b1 - b0)) / Math.max(1, t1 - t0), errors, procPct, p50: wrkPercentile(stdout, '50'), p99: wrkPercentile(stdout, '99') };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const results = new Map<string, { rps: number; busy: number; p99?: number }>();

/** `pid`: the balancer process (lvsd, haproxy), whose own CPU time is reported beside CPU1's (other load on a shared machine shows in CPU1 only). */
async function measure(lab: Lab, peer: string, url: string, pid?: number): Promise<void> {
  for (const test of HTTP_TESTS) {
    // Warm-up: caches, ARP, conn tables.
    await wrk(lab, url, test === 'close', pid).catch(() => undefined);
    const runs: WrkResult[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await wrk(lab, url, test === 'close', pid));
    const rps = median(runs.map((r) => r.rps));
    const busy = median(runs.map((r) => r.busy));
    const p99s = runs.map((r) => r.p99).filter((x): x is number => x !== undefined);
    const p99 = p99s.length ? median(p99s) : undefined;
    const p50s = runs.map((r) => r.p50).filter((x): x is number => x !== undefined);
    results.set(`${peer}/${test}`, { rps, busy, p99 });
    emit({
      bench: 'e2e', peer, test, unit: test === 'close' ? 'conns/s' : 'req/s',
      value: Math.round(rps), runs: runs.map((r) => Math.round(r.rps)),
      spread: rps ? +((Math.max(...runs.map((r) => r.rps)) - Math.min(...runs.map((r) => r.rps))) / rps).toFixed(3) : null,
      directorBusyPct: +busy.toFixed(1), busyPctPer10k: rps ? +((busy * 10000) / rps).toFixed(2) : null,
      ...(p99 !== undefined ? { p50ms: +median(p50s).toFixed(3), p99ms: +p99.toFixed(3) } : {}),
      ...(pid ? { processCpuPct: +median(runs.map((r) => r.procPct ?? 0)).toFixed(1) } : {}),
      errors: runs.reduce((a, r) => a + r.errors, 0), wrk: `-t2 -c${CONNS} -d${SECONDS}s`,
    });
  }
}

/** NAT bulk TCP: iperf3 through the director to rs1:5201, Gbit/s, median of RUNS. */
async function bulk(lab: Lab, peer: string, host: string, pid?: number): Promise<void> {
  if (!TESTS.includes('bulk')) return;
  const runs: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const p0 = pid ? procTicks(pid) : 0;
    const w0 = Date.now();
    const { stdout } = await lab.exec('client', ['taskset', '-c', '0', 'iperf3', '-c', host, '-t', String(Math.min(SECONDS, 5)), '-J'], { timeoutMs: 60_000, check: false });
    if (pid) cpu.push((procTicks(pid) - p0) * 1000 / Math.max(1, Date.now() - w0));
    try {
      const j = JSON.parse(stdout) as { end?: { sum_received?: { bits_per_second?: number } } };
      runs.push((j.end?.sum_received?.bits_per_second ?? 0) / 1e9);
    } catch { runs.push(0); }
  }
  const v = median(runs);
  results.set(`${peer}/bulk`, { rps: v, busy: 0 });
  emit({ bench: 'e2e', peer, test: 'bulk', unit: 'Gbit/s', value: +v.toFixed(3), runs: runs.map((r) => +r.toFixed(3)),
    ...(pid ? { processCpuPct: +median(cpu).toFixed(1) } : {}), tool: 'iperf3 -t ' + Math.min(SECONDS, 5) });
}

/**
 * 64-byte UDP through the director: a blaster in the client (this script
 * with --blast, on the addon's TX ring: one send() per 256 frames) sends
 * from 64 source ports to `dst`:5353 for SECONDS; what counts is what
 * reaches the real servers' interfaces.
 */
async function udpPps(lab: Lab, peer: string, topo: Topology, dst: string, nextHopMac: string, pid?: number): Promise<void> {
  if (!TESTS.includes('udp')) return;
  const rsRx = async () => {
    let n = 0;
    for (const r of topo.rs) n += Number((await lab.exec(r.name, ['cat', '/sys/class/net/eth0/statistics/rx_packets'])).stdout);
    return n;
  };
  const runs: number[] = [];
  const sent: number[] = [];
  const cpu: number[] = [];
  const busy: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r0 = await rsRx();
    const p0 = pid ? procTicks(pid) : 0;
    const w0 = Date.now();
    const [b0, t0] = cpu1();
    const { stdout } = await lab.exec('client', ['taskset', '-c', '0', 'node', process.argv[1]!, '--blast', 'eth0', nextHopMac, topo.client.ip, dst, String(SECONDS)], { timeoutMs: (SECONDS + 30) * 1000 });
    const [b1, t1] = cpu1();
    busy.push((b1 - b0) / Math.max(1, t1 - t0));
    await new Promise((r) => setTimeout(r, 300));
    const wall = (Date.now() - w0) / 1000;
    if (pid) cpu.push((procTicks(pid) - p0) * 1000 / Math.max(1, Date.now() - w0));
    const r1 = await rsRx();
    const tx = Number(/sent (\d+)/.exec(stdout)?.[1] ?? 0);
    runs.push((r1 - r0) / SECONDS);
    sent.push(tx / SECONDS);
    void wall;
  }
  const v = median(runs);
  // The director's whole work (the balancer and, through RPS, its interfaces' softirqs) is on CPU1:
  // packets per second per busy CPU1 is the per-core cost, whatever the sender reached.
  const b = median(busy);
  const perCore = b > 0 ? v / b : 0;
  results.set(`${peer}/udp`, { rps: v, busy: b });
  results.set(`${peer}/udp-core`, { rps: perCore, busy: b });
  emit({ bench: 'e2e', peer, test: 'udp64', unit: 'pps at the RS', value: Math.round(v), runs: runs.map(Math.round),
    offeredPps: Math.round(median(sent)), directorBusyPct: +(100 * b).toFixed(1), ppsPerBusyCore: Math.round(perCore),
    ...(pid ? { processCpuPct: +median(cpu).toFixed(1) } : {}) });
}

/** The blaster itself (run inside the client namespace). */
async function blast(ifname: string, dstMac: string, src: string, dst: string, seconds: number): Promise<void> {
  const { openPacket } = await import('../src/io/native.js');
  const { buildUdpFrame } = await import('../test/packet/build/frame.js');
  // vnetHdr: the frames leave as linear skbs, as a UDP socket's would (a
  // TX ring's ring-page fragments are copied into a fresh page at the veth,
  // and the director would free a page per frame it drops).
  const sock = openPacket(ifname, { txFrameCount: 4096, ignoreOutgoing: true, vnetHdr: true });
  const frames = Array.from({ length: 64 }, (_, i) => buildUdpFrame({
    srcMac: sock.macBytes, dstMac, src, dst, srcPort: 20000 + i, dstPort: 5353, payload: new Uint8Array(18), df: false,
  }));
  const end = Date.now() + seconds * 1000;
  let n = 0;
  while (Date.now() < end) {
    for (let k = 0; k < 256; k++) {
      if (!sock.tx.push(frames[n & 63]!)) break;
      n++;
    }
    sock.tx.flush();
  }
  process.stdout.write(`sent ${n - sock.tx.fullDrops}\n`);
  sock.close();
}

async function macOf(lab: Lab, host: string, ifname: string): Promise<string> {
  return (JSON.parse((await lab.exec(host, ['ip', '-j', 'link', 'show', ifname])).stdout) as { address: string }[])[0]!.address;
}

async function placeCpus(lab: Lab, topo: Topology): Promise<void> {
  for (const h of [topo.client.name, ...topo.rs.map((r) => r.name)]) {
    await rps(lab, h, 'eth0', 1);
    await pinNs(lab, h, 0);
  }
  for (const sw of topo.method === 'nat' ? ['pub', 'sw'] : ['sw']) {
    for (const p of await switchPorts(lab, sw)) await rps(lab, sw, p, 1);
  }
  await rps(lab, 'dir', 'eth0', DIR_MASK);
  if (topo.method === 'nat') await rps(lab, 'dir', 'eth1', DIR_MASK);
}

async function natPeers(dir: string): Promise<void> {
  const lab = new Lab('bnt');
  let lvsd: Lvsd | undefined;
  try {
    const topo = await buildNat(lab, { servers: false });
    for (const r of topo.rs) await startNginx(lab, r.name, dir);
    lab.spawn(topo.rs[0]!.name, ['taskset', '-c', '0', 'iperf3', '-s', '-p', '5201']);
    await waitListening(lab, topo.rs[0]!.name, 5201);
    await lab.sysctl('client', 'net.ipv4.ip_local_port_range', '1024 65535');
    await lab.sysctl('client', 'net.ipv4.tcp_tw_reuse', 1);
    for (const r of topo.rs) await lab.sysctl(r.name, 'net.ipv4.tcp_tw_reuse', 1);
    await placeCpus(lab, topo);
    const vipUrl = `http://${topo.vip}/`;
    const [rs1, rs2] = topo.rs;

    if (PEERS.includes('forward')) {
      await lab.exec('client', ['ip', 'route', 'add', '192.168.150.0/24', 'via', topo.directors[0]!.ip]);
      await lab.sysctl('dir', 'net.ipv4.ip_forward', 1);
      await measure(lab, 'forward', `http://${rs1!.ip}/`);
      await bulk(lab, 'forward', rs1!.ip);
      await udpPps(lab, 'forward', topo, rs1!.ip, await macOf(lab, 'dir', 'eth0'));
      await lab.sysctl('dir', 'net.ipv4.ip_forward', 0);
      await lab.exec('client', ['ip', 'route', 'del', '192.168.150.0/24']);
    }
    if (PEERS.includes('nft-dnat')) {
      await lab.sysctl('dir', 'net.ipv4.ip_forward', 1);
      await lab.exec('dir', ['nft', '-f', '-'], {
        input: `table ip bench {\n chain pre {\n type nat hook prerouting priority dstnat; policy accept;\n`
          + ` ip daddr ${topo.vip} tcp dport 80 dnat to numgen inc mod 2 map { 0 : ${rs1!.ip}, 1 : ${rs2!.ip} }\n`
          + ` ip daddr ${topo.vip} tcp dport 5201 dnat to ${rs1!.ip}\n`
          + ` ip daddr ${topo.vip} udp dport 5353 dnat to numgen inc mod 2 map { 0 : ${rs1!.ip}, 1 : ${rs2!.ip} }\n }\n}\n`,
      });
      await measure(lab, 'nft-dnat', vipUrl);
      await bulk(lab, 'nft-dnat', topo.vip);
      await udpPps(lab, 'nft-dnat', topo, topo.vip, await macOf(lab, 'dir', 'eth0'));
      await lab.exec('dir', ['nft', 'delete', 'table', 'ip', 'bench']);
      await lab.sysctl('dir', 'net.ipv4.ip_forward', 0);
    }
    if (PEERS.includes('haproxy')) {
      const cfg = join(dir, 'haproxy.cfg');
      writeFileSync(cfg, `global
  maxconn 8000
  nbthread 1
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind ${topo.vip}:80
  default_backend be
backend be
  balance roundrobin
  server rs1 ${rs1!.ip}:80
  server rs2 ${rs2!.ip}:80
`);
      const hp = lab.spawn('dir', ['taskset', '-c', '1', 'haproxy', '-db', '-f', cfg]);
      await waitListening(lab, 'dir', 80).catch((e: Error) => { throw new Error(`${e.message}: haproxy said ${hp.output()}`); });
      await measure(lab, 'haproxy', vipUrl, hp.child.pid);
      hp.kill('SIGKILL');
      await hp.exited;
    }
    for (const peer of PEERS.filter((p) => p === 'lvsd-nat' || p.startsWith('lvsd-nat-'))) {
      lvsd = await startLvsd(lab, 'dir', { wrap: ['taskset', '-c', LVSD_CPUS], args: lvsdArgs(peer) });
      const vs = `${topo.vip}:80`;
      await lvsd.lvsadm(['-A', '-t', vs, '-s', 'rr']);
      for (const r of topo.rs) await lvsd.lvsadm(['-a', '-t', vs, '-r', `${r.ip}:80`, '-m']);
      await measure(lab, peer, vipUrl, lvsd.proc.child.pid);
      await lvsd.lvsadm(['-A', '-t', `${topo.vip}:5201`, '-s', 'rr']);
      await lvsd.lvsadm(['-a', '-t', `${topo.vip}:5201`, '-r', `${rs1!.ip}:5201`, '-m']);
      await bulk(lab, peer, topo.vip, lvsd.proc.child.pid);
      await lvsd.lvsadm(['-A', '-u', `${topo.vip}:5353`, '-s', 'rr']);
      for (const r of topo.rs) await lvsd.lvsadm(['-a', '-u', `${topo.vip}:5353`, '-r', `${r.ip}:5353`, '-m']);
      await udpPps(lab, peer, topo, topo.vip, await macOf(lab, 'dir', 'eth0'), lvsd.proc.child.pid);
      emit({ bench: 'e2e', peer, counters: await lvsd.call('get-counters', {}) });
      await lvsd.stop();
      lvsd = undefined;
    }
  } finally {
    await lvsd?.stop().catch(() => undefined);
    await lab.destroy();
    removeLabSockets(lab);
  }
}

/**
 * lvsd's flags for a peer name: `lvsd-nat` / `lvsd-dr` run the defaults; a
 * suffix names a variant measured in the same run, e.g. `lvsd-nat-v3` (the
 * TPACKET_V3 block ring, --rx-ring v3), `lvsd-nat-fast` (--fast-path: required;
 * lvsd's default uses it where the kernel allows), `lvsd-nat-nofast`
 * (--no-fast-path: every packet through lvsd), `lvsd-nat-w2-nofast`. A last
 * `-tap` adds --intercept tap (ETH_P_ALL taps in place of protocol-bound
 * rings, io/intercept.ts): `lvsd-nat-tap`, `lvsd-dr-nofast-tap`.
 */
function lvsdArgs(peer: string): string[] {
  const tap = peer.endsWith('-tap');
  const variant = peer.replace(/-tap$/, '').replace(/^lvsd-(nat|dr)-?/, '');
  return [...variantArgs(variant, peer), ...(tap ? ['--intercept', 'tap'] : [])];
}

function variantArgs(variant: string, peer: string): string[] {
  // One worker unless the peer says otherwise: lvsd's default (the CPUs it may use) follows BENCH_LVSD_CPUS.
  if (variant === '') return ['--workers', '1'];
  if (variant === 'v3') return ['--rx-ring', 'v3', '--workers', '1'];
  if (variant === 'fast') return ['--fast-path', '--workers', '1'];
  if (variant === 'nofast') return ['--no-fast-path', '--workers', '1'];
  const w = /^w(\d+)(-fast|-nofast)?$/.exec(variant);
  if (w) return ['--workers', w[1]!, ...(w[2] === '-fast' ? ['--fast-path'] : w[2] === '-nofast' ? ['--no-fast-path'] : [])];
  throw new Error(`unknown lvsd variant in peer ${peer}`);
}

async function drPeers(dir: string): Promise<void> {
  const peers = PEERS.filter((p) => p === 'lvsd-dr' || p.startsWith('lvsd-dr-'));
  if (!peers.length) return;
  const lab = new Lab('bdr');
  let lvsd: Lvsd | undefined;
  try {
    const topo = await buildLan(lab, 'dr', { servers: false });
    for (const r of topo.rs) await startNginx(lab, r.name, dir);
    await lab.sysctl('client', 'net.ipv4.ip_local_port_range', '1024 65535');
    await lab.sysctl('client', 'net.ipv4.tcp_tw_reuse', 1);
    await placeCpus(lab, topo);
    for (const peer of peers) {
      lvsd = await startLvsd(lab, 'dir', { wrap: ['taskset', '-c', LVSD_CPUS], args: lvsdArgs(peer) });
      const vs = `${topo.vip}:80`;
      await lvsd.lvsadm(['-A', '-t', vs, '-s', 'rr']);
      for (const r of topo.rs) await lvsd.lvsadm(['-a', '-t', vs, '-r', `${r.ip}:80`, '-g']);
      await measure(lab, peer, `http://${topo.vip}/`, lvsd.proc.child.pid);
      await lvsd.lvsadm(['-A', '-u', `${topo.vip}:5353`, '-s', 'rr']);
      for (const r of topo.rs) await lvsd.lvsadm(['-a', '-u', `${topo.vip}:5353`, '-r', `${r.ip}:5353`, '-g']);
      await udpPps(lab, peer, topo, topo.vip, await macOf(lab, 'dir', 'eth0'), lvsd.proc.child.pid);
      emit({ bench: 'e2e', peer, counters: await lvsd.call('get-counters', {}) });
      await lvsd.stop();
      lvsd = undefined;
    }
  } finally {
    await lvsd?.stop().catch(() => undefined);
    await lab.destroy();
    removeLabSockets(lab);
  }
}

function ratios(): void {
  const r = (a: string, b: string, what: 'rps' | 'busy') => {
    const x = results.get(a);
    const y = results.get(b);
    return x && y && y[what] ? +(x[what] / y[what]).toFixed(3) : null;
  };
  const lvPeers = PEERS.filter((p) => p.startsWith('lvsd-'));
  for (const lv of lvPeers) {
    emit({ bench: 'e2e-ratio', what: `${lv} keep-alive req/s ÷ forward`, value: r(`${lv}/keepalive`, 'forward/keepalive', 'rps'), goal: '>= 0.95' });
    emit({ bench: 'e2e-ratio', what: `${lv} director busy % ÷ haproxy (keep-alive)`, value: r(`${lv}/keepalive`, 'haproxy/keepalive', 'busy'), goal: '<= 0.5' });
    emit({ bench: 'e2e-ratio', what: `${lv} close conns/s ÷ nft-dnat`, value: r(`${lv}/close`, 'nft-dnat/close', 'rps'), goal: '>= 0.95' });
  }
  for (const lv of lvPeers) {
    emit({ bench: 'e2e-ratio', what: `${lv} 64-byte UDP pps ÷ nft-dnat`, value: r(`${lv}/udp`, 'nft-dnat/udp', 'rps'), goal: '>= 0.5' });
    // Per busy core against a kernel peer cannot be read off /proc/stat: a tickless CPU that is
    // idle between packets is not sampled while it runs their softirqs (nft DNAT reads ~5 % busy
    // at 180 kpps). bench/udp-cpu.ts measures CPU per packet with perf instead.
    emit({ bench: 'e2e-ratio', what: `${lv} 64-byte UDP pps per busy director core ÷ nft-dnat`, value: null, goal: '>= 1.0', see: 'npm run bench:udp-cpu (perf cpu-clock on the director core)' });
    const lp = results.get(`${lv}/keepalive`)?.p99, np = results.get('nft-dnat/keepalive')?.p99;
    emit({ bench: 'e2e-ratio', what: `${lv} keep-alive p99 latency ÷ nft-dnat`, value: lp && np ? +(lp / np).toFixed(3) : null, goal: '<= 1.2' });
    emit({ bench: 'e2e-ratio', what: `${lv} director core per keep-alive request ÷ nft-dnat`, value: null, goal: '<= 1.0', see: 'npm run bench:udp-cpu -- --keepalive 50 (the same /proc/stat blind spot)' });
  }
  for (const lv of lvPeers.filter((p) => p.startsWith('lvsd-nat'))) {
    emit({ bench: 'e2e-ratio', what: `${lv} bulk TCP Gbit/s ÷ nft-dnat`, value: r(`${lv}/bulk`, 'nft-dnat/bulk', 'rps'), goal: '>= 1.0' });
  }
  // --workers: lvsd-nat-wN / lvsd-dr-wN against the same lvsd with one worker, in this run.
  for (const lv of lvPeers) {
    const m = /^(lvsd-(?:nat|dr))-w(\d+)$/.exec(lv);
    if (!m) continue;
    const [, base, n] = m;
    const cpus = `lvsd on CPUs ${LVSD_CPUS}`;
    emit({ bench: 'e2e-ratio', what: `${base} keep-alive req/s, --workers ${n} ÷ --workers 1 (${cpus})`, value: r(`${lv}/keepalive`, `${base}/keepalive`, 'rps'), goal: `-> ${n} with ${n} free cores` });
    emit({ bench: 'e2e-ratio', what: `${base} 64-byte UDP pps, --workers ${n} ÷ --workers 1 (${cpus})`, value: r(`${lv}/udp`, `${base}/udp`, 'rps'), goal: `-> ${n} with ${n} free cores` });
    emit({ bench: 'e2e-ratio', what: `${base} 64-byte UDP pps per busy director core, --workers ${n} ÷ --workers 1 (${cpus})`, value: r(`${lv}/udp-core`, `${base}/udp-core`, 'rps'), goal: '~1.0 (no cost for the fanout)' });
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/e2e needs root (network namespaces)');
  await cleanupStale();
  const dir = join('/tmp', `lvsd-bench-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    await natPeers(dir);
    await drPeers(dir);
    ratios();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const bi = process.argv.indexOf('--blast');
(bi > 0
  ? blast(process.argv[bi + 1]!, process.argv[bi + 2]!, process.argv[bi + 3]!, process.argv[bi + 4]!, Number(process.argv[bi + 5]))
  : main()
).then(() => process.exit(0), (e: unknown) => { note(String(e instanceof Error ? e.stack : e)); process.exit(1); });
