// The fwmark path's cost (issue 16): the same UDP flood through lvsd once to
// an addr service (VIP:5001, the packet-socket path: TPACKET_V3 ring, BPF
// filter, TX ring) and once to a fwmark service (VIP:5002 marked by an
// iptables MARK rule, the NFQUEUE path: netlink copy, recvmmsg, verdicts),
// alternating in the same run, DR lab. Per round and path: packets/s the
// sender offered, packets/s lvsd forwarded, lvsd's CPU share (utime+stime
// from /proc) and lvsd CPU microseconds per forwarded packet. A benchmark,
// not a test: it never fails on a figure; on a loaded machine treat the
// figures as ranges and the ratio as the finding.
//
//   node dist/bench/fwmark.js [--seconds 3] [--rounds 3]
import { readFileSync } from 'node:fs';
import { Lab } from '../lab/netns.js';
import { buildLan } from '../lab/topology.js';
import { removeLabSockets, startLvsd } from '../lab/director.js';

const argOf = (k: string, d: string): string => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] ?? d : d; };
const SECONDS = Number(argOf('--seconds', '3'));
const ROUNDS = Number(argOf('--rounds', '3'));
const emit = (o: object): void => { process.stdout.write(JSON.stringify(o) + '\n'); };
const note = (m: string): void => { process.stderr.write(`[fwmark] ${m}\n`); };

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
}

const sender = (vip: string, port: number, seconds: number) => `
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
p = b'x' * 64
a = ('${vip}', ${port})
n = 0
end = time.time() + ${seconds}
while time.time() < end:
    for _ in range(500):
        s.sendto(p, a)
    n += 500
print(n)
`;

async function main(): Promise<void> {
  const lab = new Lab('bfw');
  try {
    const topo = await buildLan(lab, 'dr');
    const lvsd = await startLvsd(lab, 'dir', { interfaces: ['eth0'] });
    const vip = topo.vip;
    await lab.exec('dir', ['iptables', '-t', 'mangle', '-A', 'PREROUTING', '-d', `${vip}/32`, '-p', 'udp', '--dport', '5002', '-j', 'MARK', '--set-mark', '1']);
    for (const l of [
      ['-A', '-u', `${vip}:5001`, '-s', 'rr'], ...topo.rs.map((r) => ['-a', '-u', `${vip}:5001`, '-r', r.ip, '-g']),
      ['-A', '-f', '1', '-s', 'rr'], ...topo.rs.map((r) => ['-a', '-f', '1', '-r', r.ip, '-g']),
    ]) await lvsd.lvsadm(l);
    const pid = lvsd.proc.child.pid!;
    const hz = 100;
    const results: Record<string, number[]> = { addr: [], fwmark: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      for (const path of ['addr', 'fwmark'] as const) {
        const key = path === 'addr' ? 'io_forwarded' : 'nfq_forwarded';
        const c0 = await lvsd.call('get-counters', {});
        const t0 = cpuTicks(pid);
        const w0 = performance.now();
        const { stdout } = await lab.exec('client', ['python3', '-c', sender(vip, path === 'addr' ? 5001 : 5002, SECONDS)], { timeoutMs: SECONDS * 1000 + 30_000 });
        await new Promise((r) => setTimeout(r, 300)); // let lvsd drain what is queued
        const wall = (performance.now() - w0) / 1000;
        const t1 = cpuTicks(pid);
        const c1 = await lvsd.call('get-counters', {});
        const d = (k: string) => (c1[k] ?? 0) - (c0[k] ?? 0);
        const sent = Number(stdout.trim());
        const fwd = d(key);
        const cpu = (t1 - t0) / hz;
        const usPerPkt = fwd > 0 ? (cpu * 1e6) / fwd : NaN;
        results[path]!.push(usPerPkt);
        emit({
          round, path, seconds: SECONDS, offered_pps: Math.round(sent / SECONDS), forwarded_pps: Math.round(fwd / SECONDS),
          lvsd_cpu_share: Number((cpu / wall).toFixed(2)), lvsd_us_per_packet: Number(usPerPkt.toFixed(2)),
          ...(path === 'fwmark' ? { kernel_queue_dropped: d('nfq_kernel_queue_dropped'), kernel_user_dropped: d('nfq_kernel_user_dropped'), recv_enobufs: d('nfq_recv_enobufs') } : { ring_drops: d('ring_eth0_drops') }),
        });
      }
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    emit({ summary: true, addr_us_per_packet: Number(med(results.addr!).toFixed(2)), fwmark_us_per_packet: Number(med(results.fwmark!).toFixed(2)),
      fwmark_over_addr: Number((med(results.fwmark!) / med(results.addr!)).toFixed(2)) });
    await lvsd.stop();
  } finally {
    await lab.destroy();
    removeLabSockets(lab);
  }
}

main().catch((e) => { note(String(e?.stack ?? e)); process.exitCode = 1; });
