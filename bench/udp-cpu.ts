// Where the director's CPU goes per 64-byte UDP packet (issue 17, "speed per
// core"), at FIXED offered loads below every peer's capacity, so that the
// figure is CPU time per packet, not a throughput that a shared machine's
// other load decides. NAT lab as bench/e2e.ts places it: client and real
// servers on CPU0, the director's process and (through RPS) its interfaces'
// receive softirqs on CPU1. A paced blaster in the client sends 256 UDP flows
// to VIP:5353 at each rate; peers are measured alternately, round after
// round (A/B/A/B), in one run:
//
//   forward     kernel IP forwarding (no NAT), the floor
//   nft-dnat    nftables DNAT (numgen inc over the two servers)
//   lvsd        this checkout's lvsd, NAT
//   lvsd-v3     the same with --rx-ring v3
//   lvsd-fast   the same, requiring the fast path (established flows forwarded by lvsd's tcx program; lvsd's default where the kernel allows)
//   lvsd-nofast the same with --no-fast-path: every packet through lvsd's rings
//   lvsd-tap    (suffix, e.g. lvsd-tap, lvsd-nofast-tap) with --intercept tap: ETH_P_ALL taps ahead of
//               the ingress hooks in place of the default protocol-bound rings (io/intercept.ts)
//   lvsd-base   another checkout's lvsd (--base DIR), e.g. main before a change
//   lvsd-base-v3
//
// Per peer and rate: lvsd's own CPU per forwarded packet (schedstat of all
// its threads: user + its syscalls' kernel work + any softirq that ran while
// it was on the CPU), its user/system split, sleeps (voluntary context
// switches) and RX batches per packet; with --perf, a cpu-clock profile of
// CPU1 cut into buckets (lvsd user/JS, lvsd syscalls by name, receive
// softirq by the innermost known kernel function) in nanoseconds per
// forwarded packet, the same buckets for the kernel peers. Not a test:
// nothing fails on a figure; on a loaded machine read ratios, not absolutes.
//
//   node dist/bench/udp-cpu.js --rates 20000,60000 --seconds 4 --rounds 2 \
//     --peers nft-dnat,lvsd,lvsd-base --base /work/wt-speed-base --perf
import { readFileSync, readdirSync, rmSync, mkdirSync, existsSync, copyFileSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Buffer } from 'node:buffer';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Lab, run, cleanupStale } from '../lab/netns.js';
import { buildNat, waitListening, type Topology } from '../lab/topology.js';
import { startLvsd, removeLabSockets, type Lvsd } from '../lab/director.js';

const argOf = (k: string, d: string): string => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] ?? d : d; };
const emit = (o: object): void => { process.stdout.write(JSON.stringify(o) + '\n'); };
const note = (m: string): void => { process.stderr.write(`[udp-cpu] ${m}\n`); };
/** The blaster on CPU0, niced so that the shared machine's other load does not turn its pacing into bursts. */
const BLASTER = ['nice', '-n', '-19', 'taskset', '-c', '0'];

/** Per-frame work a peer's profile is cut into: the innermost of these on a sample's stack names its bucket. */
const KNOWN = [
  // RX, in the director's softirq
  'tpacket_rcv', 'packet_rcv', 'run_filter', 'bpf_prog_run', 'sk_run_filter',
  'nft_do_chain_netdev', 'nft_do_chain_ipv4', 'nft_do_chain_inet', 'nft_do_chain',
  'nf_conntrack_in', 'nf_nat_inet_fn', 'nf_nat_ipv4_pre_routing', 'nf_nat_ipv4_out', 'nf_confirm', 'ipv4_confirm',
  'ip_route_input_noref', 'ip_forward', 'ip_output', 'ip_finish_output2', 'ip_rcv', 'udp_rcv',
  'neigh_resolve_output', 'dev_queue_xmit', '__dev_queue_xmit',
  'ep_poll_callback', 'sock_def_readable', 'try_to_wake_up',
  'kfree_skb_reason', 'sk_skb_reason_drop', 'consume_skb', 'napi_consume_skb', 'skb_release_data', 'kmem_cache_free',
  '__netif_receive_skb_core', '__netif_receive_skb_one_core', 'process_backlog', 'netif_receive_skb',
  // TX, in lvsd's send()
  'tpacket_snd', 'tpacket_fill_skb', 'sock_alloc_send_pskb', 'alloc_skb_with_frags', '__alloc_skb', 'skb_copy_bits',
  'packet_direct_xmit', 'packet_xmit', 'veth_xmit', 'veth_forward_skb', '__netif_rx', 'netif_rx', 'enqueue_to_backlog',
  'get_rps_cpu', 'sock_wfree', 'packet_read_pending', 'virtio_net_hdr_to_skb', 'skb_set_owner_w',
  // per batch: IPIs (a VM exit each on a virtual machine), wake-ups, timers
  'x2apic_send_IPI', 'net_rps_send_ipi', 'lapic_next_deadline', 'finish_task_switch.isra.0',
  // waits
  'do_epoll_wait', 'ep_poll', 'schedule', 'schedule_hrtimeout_range', '__schedule',
];
const KNOWN_SET = new Set(KNOWN);

interface Sample { comm: string; pid: number; frames: { sym: string; dso: string }[] }

/** perf script output (-F comm,pid,tid,ip,sym,dso with call chains) → samples, leaf first. */
function parsePerfScript(text: string): Sample[] {
  const out: Sample[] = [];
  let cur: Sample | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) { if (cur) out.push(cur); cur = undefined; continue; }
    if (!/^\s/.test(line)) {
      // "node 1234/1234" or "swapper     0/0"
      const m = /^(.*?)\s+(\d+)\/(\d+)\s*$/.exec(line) ?? /^(.*?)\s+(\d+)\s/.exec(line);
      cur = { comm: (m?.[1] ?? line).trim(), pid: Number(m?.[2] ?? -1), frames: [] };
      continue;
    }
    const m = /^\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$/.exec(line);
    if (cur && m) cur.frames.push({ sym: m[1]!.replace(/\+0x[0-9a-f]+$/, ''), dso: m[2]! });
  }
  if (cur) out.push(cur);
  return out;
}

function bucketOf(s: Sample, lvsdPid: number): string {
  const kern = s.frames.filter((f) => f.dso.includes('kernel'));
  const has = (re: RegExp) => kern.some((f) => re.test(f.sym));
  const innermost = () => kern.find((f) => KNOWN_SET.has(f.sym))?.sym ?? (kern[0]?.sym ?? '?');
  // Receive softirq (RPS brings the director's frames to CPU1 as softirq work).
  const net = has(/^(net_rx_action|process_backlog|__netif_receive_skb.*)$/);
  // A sample taken when interrupts came back on: the time went to the hard
  // interrupt named (e.g. sysvec_call_function_single, the RPS IPI) with
  // interrupts off, which a cpu-clock (hrtimer) sample cannot see inside.
  const irq = kern.find((f) => /^sysvec_/.test(f.sym))?.sym;
  const where = (): string => (net ? `net.${innermost()}` : irq && kern[0]?.sym === 'handle_softirqs' ? `irq.${irq}` : has(/^handle_softirqs$/) ? `softirq-other.${innermost()}` : '');
  if (s.pid === lvsdPid) {
    if (s.frames.length && !s.frames[0]!.dso.includes('kernel')) {
      const d = s.frames[0]!.dso;
      const sym = s.frames[0]!.sym;
      if (d.includes('lvsd_native')) return 'lvsd.user.addon';
      if (/perf-\d+\.map|JIT|\[unknown\]/.test(d) || /^(JS:|LazyCompile:|Function:|Builtin:|BytecodeHandler:|Stub:|\*|~)/.test(sym)) return 'lvsd.user.js';
      if (d.includes('libc')) return 'lvsd.user.libc';
      if (d.includes('node')) return /uv_|uv__/.test(sym) ? 'lvsd.user.libuv' : /^Builtins_/.test(sym) ? 'lvsd.user.v8-builtins' : /napi|node::|v8::/.test(sym) ? 'lvsd.user.node-napi-v8' : 'lvsd.user.node';
      return 'lvsd.user.other';
    }
    const sys = kern.find((f) => /^__(x64|se|do)_sys_/.test(f.sym))?.sym.replace(/^__(x64|se|do)_sys_/, '');
    const w = where();
    // Softirq or IRQ work that ran inside lvsd's time slice (e.g. the
    // softirq a send() triggers on leaving its bh-disabled section).
    if (w) return `lvsd.${sys ? `sys.${sys}.` : ''}${w}`;
    if (sys) return `lvsd.sys.${sys}.${innermost()}`;
    return `lvsd.kernel.${innermost()}`;
  }
  const w = where();
  if (w) return w;
  if (s.pid === 0 || s.comm.startsWith('swapper')) return 'idle';
  return `other.${s.comm.replace(/[\d/]+$/, '')}`;
}

/** perf record on CPU1, started disabled and driven through --control FIFOs. */
class PerfRecorder {
  private constructor(private readonly child: ReturnType<typeof spawn>, private readonly ctl: FileHandle, private readonly ack: FileHandle) {}

  static async start(dir: string, file: string, hz: number): Promise<PerfRecorder> {
    const ctlPath = join(dir, 'perf-ctl');
    const ackPath = join(dir, 'perf-ack');
    for (const f of [ctlPath, ackPath]) if (!existsSync(f)) await run(['mkfifo', f]);
    const child = spawn('taskset', ['-c', '0', 'perf', 'record', '-q', '-D', '-1', '--control', `fifo:${ctlPath},${ackPath}`,
      '-e', 'cpu-clock', '-F', String(hz), '-C', '1', '-g', '-o', file], { stdio: 'ignore' });
    // O_RDWR: opening a FIFO so never blocks, whoever comes first.
    return new PerfRecorder(child, await open(ctlPath, 'r+'), await open(ackPath, 'r+'));
  }

  private async command(cmd: string): Promise<void> {
    await this.ctl.write(`${cmd}\n`);
    const buf = Buffer.alloc(16);
    const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`perf did not acknowledge ${cmd}`)), 60_000).unref());
    await Promise.race([this.ack.read(buf, 0, 16), timeout]);
  }

  enable(): Promise<void> { return this.command('enable'); }

  async stop(): Promise<void> {
    await this.command('disable');
    const exited = new Promise((r) => this.child.on('exit', r));
    this.child.kill('SIGINT');
    await exited;
    await this.ctl.close();
    await this.ack.close();
  }
}

/** utime, stime in ticks (USER_HZ) and nanoseconds on the CPU (schedstat) summed over every thread; the main thread's voluntary switches. */
function procCpu(pid: number): { ns: number; waitNs: number; utime: number; stime: number; sleeps: number } {
  let ns = 0;
  let waitNs = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ');
      ns += Number(f[0]);
      if (t === String(pid)) waitNs = Number(f[1]);
    } catch { /* thread gone */ }
  }
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  const st = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  const sleeps = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(st)?.[1] ?? 0);
  return { ns, waitNs, utime: Number(rest[11]), stime: Number(rest[12]), sleeps };
}

/** Interrupts per CPU from /proc/interrupts: CAL (function calls: RPS IPIs), RES (rescheduling), LOC (timer). */
function irqs(): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (const line of readFileSync('/proc/interrupts', 'utf8').split('\n')) {
    const m = /^\s*(CAL|RES|LOC):\s+(\d+)\s+(\d+)/.exec(line);
    if (m) out[m[1]!] = [Number(m[2]), Number(m[3])];
  }
  return out;
}

/** CPU1's busy and total jiffies (everything that ran there, other load included). */
function cpu1(): [number, number] {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu1 '))!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return [total - v[3]! - (v[4] ?? 0), total];
}

async function rps(lab: Lab, host: string, ifname: string, mask: number): Promise<void> {
  await lab.sh(host, `for q in /sys/class/net/${ifname}/queues/rx-*; do echo ${mask} > $q/rps_cpus; done`, { check: false });
}

/** As bench/e2e.ts: everything but the director on CPU0, the director's receive work on CPU1. */
async function placeCpus(lab: Lab, topo: Topology): Promise<void> {
  for (const h of [topo.client.name, ...topo.rs.map((r) => r.name)]) await rps(lab, h, 'eth0', 1);
  for (const sw of ['pub', 'sw']) {
    const { stdout } = await lab.exec(sw, ['ip', '-j', 'link', 'show', 'master', 'br0']);
    for (const l of JSON.parse(stdout || '[]') as { ifname: string }[]) await rps(lab, sw, l.ifname.split('@')[0]!, 1);
  }
  await rps(lab, 'dir', 'eth0', 2);
  await rps(lab, 'dir', 'eth1', 2);
}

async function macOf(lab: Lab, host: string, ifname: string): Promise<string> {
  return (JSON.parse((await lab.exec(host, ['ip', '-j', 'link', 'show', ifname])).stdout) as { address: string }[])[0]!.address;
}

/**
 * The paced blaster (run in the client namespace): `rate` frames/s from 256
 * source ports, pushed in whatever the elapsed time owes every `chunkUs`
 * microseconds, so arrivals are spread as a steady load's are, not in the
 * 256-frame bursts of e2e's saturating blaster.
 */
async function blast(ifname: string, dstMac: string, src: string, dst: string, seconds: number, rate: number, chunkUs: number): Promise<void> {
  const { openPacket } = await import('../src/io/native.js');
  const { buildUdpFrame } = await import('../test/packet/build/frame.js');
  // vnetHdr: the frames leave as linear skbs, as a UDP socket's would (a
  // TX ring's ring-page fragments are copied into a fresh page at the veth,
  // and the director would free a page per frame it drops).
  const sock = openPacket(ifname, { txFrameCount: 4096, ignoreOutgoing: true, vnetHdr: true });
  const frames = Array.from({ length: 256 }, (_, i) => buildUdpFrame({
    srcMac: sock.macBytes, dstMac, src, dst, srcPort: 20000 + i, dstPort: 5353, payload: new Uint8Array(18), df: false,
  }));
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let n = 0;
  for (;;) {
    const now = performance.now();
    if (now >= end) break;
    const owed = Math.floor(((now - t0) / 1000) * rate);
    while (n < owed) {
      if (!sock.tx.push(frames[n & 255]!)) break;
      n++;
    }
    sock.tx.flush();
    Atomics.wait(nap, 0, 0, chunkUs / 1000);
  }
  process.stdout.write(`sent ${n - sock.tx.fullDrops}\n`);
  sock.close();
}

/** wrk's `--latency` percentile in ms (it prints us, ms or s). */
function wrkMs(out: string, pct: string): number | null {
  const m = new RegExp(`^\\s+${pct}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
  if (!m) return null;
  const v = Number(m[1]);
  return +(m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v).toFixed(3);
}

/** nginx as bench/e2e.ts runs it on each server (keep-alive for good, one worker on CPU0). */
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

/** fast: lvsd --fast-path, whose packets the kernel forwards (counted at the servers, as the kernel peers' are). */
interface Peer { name: string; kind: 'forward' | 'nft' | 'lvsd'; bin?: string; args?: string[]; env?: string[]; fast?: boolean }

/** `lvsd[-base][-v3][@ENV=VALUE...]`: an lvsd build, its RX ring, and environment variables for experiments. */
function peerOf(name: string, base: string | undefined): Peer {
  if (name === 'forward') return { name, kind: 'forward' };
  if (name === 'nft-dnat') return { name, kind: 'nft' };
  const [head, ...env] = name.split('@');
  const m = /^lvsd(-base)?(-v3)?(-fast|-nofast)?(-tap)?$/.exec(head!);
  if (!m) throw new Error(`unknown peer ${name}`);
  if (m[1] && !base) throw new Error(`${name} needs --base DIR (a checkout with dist/bin/lvsd.js built)`);
  const args = [...(m[2] ? ['--rx-ring', 'v3'] : []), ...(m[3] === '-fast' ? ['--fast-path'] : m[3] === '-nofast' ? ['--no-fast-path'] : []), ...(m[4] ? ['--intercept', 'tap'] : [])];
  // The fast path is lvsd's default where the kernel has tcx: then only -nofast counts its own forwards.
  return { name, kind: 'lvsd', bin: m[1] ? join(base!, 'dist', 'bin', 'lvsd.js') : undefined, args, env, fast: m[3] !== '-nofast' && !m[1] };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/udp-cpu needs root (network namespaces)');
  // --rates 20000,60000 (UDP pps); --keepalive 2,50 (wrk connections), measured as rates -2, -50.
  const rates = [
    ...(process.argv.includes('--rates') || !process.argv.includes('--keepalive') ? argOf('--rates', '20000,60000').split(',').map(Number) : []),
    ...(process.argv.includes('--keepalive') ? argOf('--keepalive', '50').split(',').map((c) => -Number(c)) : []),
  ];
  const seconds = Number(argOf('--seconds', '4'));
  const rounds = Number(argOf('--rounds', '2'));
  const chunkUs = Number(argOf('--chunk-us', '100'));
  const perf = process.argv.includes('--perf');
  /** Keep the perf.data files (their directory is printed) for perf report. */
  const keep = process.argv.includes('--keep');
  const perfHz = Number(argOf('--perf-hz', '2000'));
  const base = process.argv.includes('--base') ? argOf('--base', '') : undefined;
  const peers = argOf('--peers', 'nft-dnat,lvsd').split(',').map((p) => peerOf(p, base));
  const outDir = join('/tmp', `lvsd-udp-cpu-${process.pid}`);
  mkdirSync(outDir, { recursive: true });
  await cleanupStale();
  const lab = new Lab('ucp');
  let lvsd: Lvsd | undefined;
  interface Acc { lvsdNs: number[]; oursNs: number[]; noIpiNs: number[]; buckets: Map<string, number[]> }
  const summary = new Map<string, Acc>();
  try {
    const topo = await buildNat(lab, { servers: false });
    if (rates.some((r) => r < 0)) for (const r of topo.rs) await startNginx(lab, r.name, outDir);
    await placeCpus(lab, topo);
    const [rs1, rs2] = topo.rs;
    const dirMac = await macOf(lab, 'dir', 'eth0');
    const rsRx = async () => {
      let n = 0;
      for (const r of topo.rs) n += Number((await lab.exec(r.name, ['cat', '/sys/class/net/eth0/statistics/rx_packets'])).stdout);
      return n;
    };

    /**
     * One measurement window. `rate` > 0: the UDP blaster at that rate, per
     * forwarded packet. `rate` < 0: wrk keep-alive with -rate connections
     * against nginx on the servers, per request (closed loop: wrk decides the rate).
     */
    const one = async (peer: Peer, rate: number, round: number, pid?: number) => {
      const dst = peer.kind === 'forward' ? rs1!.ip : topo.vip;
      const keepalive = rate < 0;
      const perfFile = join(outDir, `${peer.name}-${rate}-${round}.data`);
      // perf starts disabled and is switched on and off around the blast
      // through its control FIFO: its start-up (reading every process of a
      // busy machine) takes seconds and must not eat the window.
      const rec = perf ? await PerfRecorder.start(outDir, perfFile, perfHz) : undefined;
      const c0 = lvsd ? await lvsd.call('get-counters', {}) : {};
      const r0 = await rsRx();
      const p0 = pid ? procCpu(pid) : undefined;
      const [b0, t0] = cpu1();
      const w0 = performance.now();
      const i0 = irqs();
      await rec?.enable();
      const { stdout } = keepalive
        ? await lab.exec('client', [...BLASTER, 'wrk', '-t2', `-c${-rate}`, `-d${seconds}s`, '--timeout', '2s', '--latency', `http://${dst}/`], { timeoutMs: (seconds + 30) * 1000 })
        : await lab.exec('client', [...BLASTER, 'node', process.argv[1]!, '--blast', 'eth0', dirMac, topo.client.ip, dst, String(seconds), String(rate), String(chunkUs)], { timeoutMs: (seconds + 30) * 1000 });
      await rec?.stop();
      await new Promise((r) => setTimeout(r, 200)); // what is still queued reaches the servers
      const [b1, t1] = cpu1();
      const i1 = irqs();
      const p1 = pid ? procCpu(pid) : undefined;
      const r1 = await rsRx();
      const c1 = lvsd ? await lvsd.call('get-counters', {}) : {};
      const d = (k: string) => ((c1 as Record<string, number>)[k] ?? 0) - ((c0 as Record<string, number>)[k] ?? 0);
      const sent = Number(/sent (\d+)/.exec(stdout)?.[1] ?? 0);
      const delivered = r1 - r0;
      // The unit every per-X figure below is per: a forwarded packet, or a request.
      const requests = keepalive ? Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0) : 0;
      const fwd = keepalive ? requests : peer.kind === 'lvsd' && !peer.fast ? d('io_forwarded') : delivered;
      const row: Record<string, unknown> = {
        bench: 'udp-cpu', test: keepalive ? `keepalive-c${-rate}` : 'udp64', unit: keepalive ? 'request' : 'packet',
        peer: peer.name, rate, round, seconds, ...(pid ? { pid } : {}),
        ...(keepalive
          ? { rps: Math.round(requests / seconds), p50ms: wrkMs(stdout, '50'), p99ms: wrkMs(stdout, '99'), ...(peer.kind === 'lvsd' ? { framesPerRequest: +(d('io_forwarded') / Math.max(1, requests)).toFixed(2) } : {}) }
          : { offeredPps: Math.round(sent / seconds), deliveredPps: Math.round(delivered / seconds) }),
        /** Interrupts per forwarded packet: function-call IPIs (RPS) into CPU1 and CPU0, reschedules into CPU1. */
        ipiPerPkt: fwd ? { cal1: +((i1.CAL![1] - i0.CAL![1]) / fwd).toFixed(3), cal0: +((i1.CAL![0] - i0.CAL![0]) / fwd).toFixed(3), res1: +((i1.RES![1] - i0.RES![1]) / fwd).toFixed(3) } : null,
        cpu1BusyNsPerPkt: fwd ? Math.round(((b1 - b0) / Math.max(1, t1 - t0)) * seconds * 1e9 / fwd) : null,
      };
      let lvsdNs = NaN;
      if (p0 && p1) {
        lvsdNs = (p1.ns - p0.ns) / fwd;
        Object.assign(row, {
          lvsdNsPerPkt: Math.round(lvsdNs), lvsdCpuShare: +((p1.ns - p0.ns) / ((performance.now() - w0) * 1e6)).toFixed(3),
          userShare: +((p1.utime - p0.utime) / Math.max(1, p1.utime - p0.utime + p1.stime - p0.stime)).toFixed(2),
          /** The main thread's time runnable but not running (another task had CPU1), per second. */
          runDelayMsPerS: +((p1.waitNs - p0.waitNs) / 1e6 / seconds).toFixed(1),
          pktsPerSleep: +(fwd / Math.max(1, p1.sleeps - p0.sleeps)).toFixed(2),
          framesPerBatch: +(d('io_rx_frames') / Math.max(1, d('io_rx_batches'))).toFixed(2),
          pktsPerKick: +(d('io_tx_frames') / Math.max(1, d('io_tx_kicks'))).toFixed(2),
          txRingFull: d('io_tx_ring_full'), ringDrops: d('ring_eth0_drops'), neighMiss: d('io_neigh_miss'),
        });
      }
      let oursNs = NaN;
      let noIpiNs = NaN;
      if (rec && fwd) {
        const { stdout: text } = await run(['perf', 'script', '-i', perfFile, '-F', 'comm,pid,tid,ip,sym,dso'], { timeoutMs: 300_000, check: false });
        const samples = parsePerfScript(text);
        const ns = 1e9 / perfHz;
        const buckets = new Map<string, number>();
        for (const s of samples) { const b = bucketOf(s, pid ?? -1); buckets.set(b, (buckets.get(b) ?? 0) + 1); }
        const per = (k: number) => Math.round((k * ns) / fwd);
        const sorted = [...buckets].sort((a, b) => b[1] - a[1]);
        let ours = 0;
        for (const [k, v] of sorted) if (/^(lvsd|net|irq|softirq-other)\./.test(k)) ours += v;
        oursNs = (ours * ns) / fwd;
        row.perfOursNsPerPkt = Math.round(oursNs);
        // The same without RPS's inter-processor interrupts (taking one, in any context, and
        // sending one): the bench steers the director's receive work to CPU1 with RPS, and on
        // a VM every IPI is an exit. A NIC with RSS interrupts the right core itself.
        let ipis = 0;
        for (const [k, v] of sorted) if (/^(lvsd|net|irq|softirq-other)\./.test(k) && /sysvec_call_function_single|x2apic_send_IPI|net_rps_send_ipi/.test(k)) ipis += v;
        noIpiNs = ((ours - ipis) * ns) / fwd;
        row.perfNoIpiNsPerPkt = Math.round(noIpiNs);
        row.perfNsPerPkt = Object.fromEntries(sorted.filter(([k]) => k !== 'idle' && !k.startsWith('other.')).slice(0, 40).map(([k, v]) => [k, per(v)]));
        const coarse = new Map<string, number>();
        for (const [k, v] of sorted) {
          const c = k.startsWith('lvsd.sys.') ? k.split('.').slice(0, 3).join('.') + (/\.(net|irq)\./.test(k) ? '+' + (/\.net\./.test(k) ? 'net' : 'irq') : '')
            : k.startsWith('lvsd.') ? k.split('.').slice(0, 2).join('.') + (/\.(net|irq)\./.test(k) ? '+' + (/\.net\./.test(k) ? 'net' : 'irq') : '')
            : k.split('.')[0]!;
          coarse.set(c, (coarse.get(c) ?? 0) + v);
        }
        row.perfCoarseNsPerPkt = Object.fromEntries([...coarse].filter(([k]) => k !== 'idle').sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, per(v)]));
        row.perfOtherNsPerPkt = per(sorted.filter(([k]) => k.startsWith('other.')).reduce((a, [, v]) => a + v, 0));
        const s = summary.get(`${peer.name}@${rate}`) ?? { lvsdNs: [], oursNs: [], noIpiNs: [], buckets: new Map<string, number[]>() } as Acc;
        for (const [k, v] of buckets) { const a = s.buckets.get(k) ?? []; a.push(per(v)); s.buckets.set(k, a); }
        summary.set(`${peer.name}@${rate}`, s);
        if (!keep) rmSync(perfFile, { force: true });
      }
      const s = summary.get(`${peer.name}@${rate}`) ?? { lvsdNs: [], oursNs: [], noIpiNs: [], buckets: new Map<string, number[]>() } as Acc;
      s.lvsdNs.push(lvsdNs);
      s.oursNs.push(oursNs);
      s.noIpiNs.push(noIpiNs);
      summary.set(`${peer.name}@${rate}`, s);
      emit(row);
    };

    for (let round = 1; round <= rounds; round++) {
      for (const peer of peers) {
        if (peer.kind === 'forward') {
          await lab.exec('client', ['ip', 'route', 'replace', '192.168.150.0/24', 'via', topo.directors[0]!.ip]);
          await lab.sysctl('dir', 'net.ipv4.ip_forward', 1);
          for (const rate of rates) await one(peer, rate, round);
          await lab.sysctl('dir', 'net.ipv4.ip_forward', 0);
          await lab.exec('client', ['ip', 'route', 'del', '192.168.150.0/24']);
        } else if (peer.kind === 'nft') {
          await lab.sysctl('dir', 'net.ipv4.ip_forward', 1);
          await lab.exec('dir', ['nft', '-f', '-'], {
            input: `table ip bench {\n chain pre {\n type nat hook prerouting priority dstnat; policy accept;\n`
              + ` ip daddr ${topo.vip} udp dport 5353 dnat to numgen inc mod 2 map { 0 : ${rs1!.ip}, 1 : ${rs2!.ip} }\n`
              + ` ip daddr ${topo.vip} tcp dport 80 dnat to numgen inc mod 2 map { 0 : ${rs1!.ip}, 1 : ${rs2!.ip} }\n }\n}\n`,
          });
          for (const rate of rates) await one(peer, rate, round);
          await lab.exec('dir', ['nft', 'delete', 'table', 'ip', 'bench']);
          await lab.sysctl('dir', 'net.ipv4.ip_forward', 0);
        } else {
          // nice -19: on a shared machine, CPU1's other processes would
          // otherwise take most of lvsd's time (the kernel peers run as
          // softirq, ahead of every process); this keeps CPU1 as good as
          // lvsd's own, as on a quiet director. --no-nice to see the difference.
          const wrap = process.argv.includes('--no-nice') ? ['taskset', '-c', '1'] : (process.argv.includes('--rt') ? ['chrt', '-r', '1', 'taskset', '-c', '1'] : ['nice', '-n', '-19', 'taskset', '-c', '1']);
          if (perf) wrap.unshift('NODE_OPTIONS=--perf-basic-prof-only-functions');
          wrap.unshift('env', ...(peer.env ?? []));
          lvsd = await startLvsd(lab, 'dir', { wrap, bin: peer.bin, args: peer.args });
          await lvsd.lvsadm(['-A', '-u', `${topo.vip}:5353`, '-s', 'rr']);
          for (const r of topo.rs) await lvsd.lvsadm(['-a', '-u', `${topo.vip}:5353`, '-r', `${r.ip}:5353`, '-m']);
          await lvsd.lvsadm(['-A', '-t', `${topo.vip}:80`, '-s', 'rr']);
          for (const r of topo.rs) await lvsd.lvsadm(['-a', '-t', `${topo.vip}:80`, '-r', `${r.ip}:80`, '-m']);
          // Warm-up: JIT, ARP for both servers, the flows' conns.
          await lab.exec('client', ['taskset', '-c', '0', 'node', process.argv[1]!, '--blast', 'eth0', dirMac, topo.client.ip, topo.vip, '1', '20000', String(chunkUs)], { timeoutMs: 30_000 });
          if (rates.some((r) => r < 0)) await lab.exec('client', ['taskset', '-c', '0', 'wrk', '-t2', '-c50', '-d1s', `http://${topo.vip}/`], { timeoutMs: 30_000 });
          const pid = await lvsdPid(lab, lvsd);
          for (const rate of rates) await one(peer, rate, round, pid);
          await lvsd.stop();
          const map = `/tmp/perf-${pid}.map`;
          if (keep && existsSync(map)) copyFileSync(map, join(outDir, `perf-${pid}.map`));
          rmSync(map, { force: true });
          lvsd = undefined;
        }
      }
    }
    const med = (xs: number[]) => { const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)]! : NaN; };
    for (const [key, s] of summary) {
      const top = [...s.buckets].map(([k, v]) => [k, med(v)] as const).filter(([k]) => k !== 'idle' && !k.startsWith('other.')).sort((a, b) => b[1] - a[1]).slice(0, 25);
      emit({ bench: 'udp-cpu-summary', peer: key, lvsdNsPerPkt: Math.round(med(s.lvsdNs)) || null, perfOursNsPerPkt: Math.round(med(s.oursNs)) || null,
        perfNoIpiNsPerPkt: Math.round(med(s.noIpiNs)) || null, perfBucketsMedianNs: Object.fromEntries(top) });
    }
    // Per-core ratios to nftables DNAT at each rate (CPU per packet, nft ÷ peer: > 1 means cheaper than nft), with and without the IPIs.
    for (const [key, s] of summary) {
      const [peer, rate] = key.split('@');
      const nft = summary.get(`nft-dnat@${rate}`);
      if (!nft || peer === 'nft-dnat') continue;
      const r = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? +(a / b).toFixed(2) : null);
      emit({ bench: 'udp-cpu-ratio', peer, rate: Number(rate), perCoreVsNft: r(med(nft.oursNs), med(s.oursNs)), perCoreVsNftWithoutIpis: r(med(nft.noIpiNs), med(s.noIpiNs)) });
    }
  } finally {
    await lvsd?.stop().catch(() => undefined);
    await lab.destroy();
    removeLabSockets(lab);
    if (keep) note(`perf data kept in ${outDir}`);
    else rmSync(outDir, { recursive: true, force: true });
  }
}

/** The node process itself (startLvsd spawns `ip netns exec … env … taskset … node`, which exec into it). */
async function lvsdPid(lab: Lab, l: Lvsd): Promise<number> {
  const { stdout } = await run(['ip', 'netns', 'pids', lab.ns('dir')], { check: false });
  for (const p of stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes('lvsd.js') && cmd.includes(l.socket)) return p;
    } catch { /* gone */ }
  }
  return l.proc.child.pid!;
}

const bi = process.argv.indexOf('--blast');
(bi > 0
  ? blast(process.argv[bi + 1]!, process.argv[bi + 2]!, process.argv[bi + 3]!, process.argv[bi + 4]!, Number(process.argv[bi + 5]), Number(process.argv[bi + 6]), Number(process.argv[bi + 7]))
  : main()
).then(() => process.exit(0), (e: unknown) => { note(String(e instanceof Error ? e.stack : e)); process.exit(1); });
