// lvsd's fast path for IPv4 TUN (-i) real servers, end to end: after a
// conn's first client packets, the tcx program puts the IPIP header in front
// itself (bpf_skb_adjust_room) and the real server, which decapsulates in
// user space here (this kernel has no ipip), answers the client directly.
// - keep-alive requests and UDP datagrams: every answer arrives, most
//   client packets are the kernel's, and --stats adds up to what nftables
//   counted leaving the client;
// - with checksum offload off at the client, tshark on the real server
//   finds every outer and inner checksum right and the header as the
//   engine writes it (proto 4, director → RS, TTL and DF of the inner);
// - bulk TCP with the client's TSO on: its super-frames are encapsulated
//   whole (the kernel cuts them with an outer header each) and every byte
//   arrives.
import { describe, beforeAll, afterAll, it, expect } from 'vitest';
import { diagnoseLvsd, nftCounter, udpEchoScript } from './lvsd-helpers.js';
import { Lab, missingPrerequisites, waitFor } from '../../lab/netns.js';
import { buildLan, waitListening, type Topology } from '../../lab/topology.js';
import { startLvsd, removeLabSockets, type Lvsd } from '../../lab/director.js';
import { hashSinkScript } from '../../lab/py.js';

describe('lvsd --fast-path: TUN (IPIP in the kernel)', async () => {
  const missing = await missingPrerequisites(['ip', 'nft', 'curl', 'node', 'tshark', 'ethtool', 'python3']);
  if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);
  const skip = missing.length > 0;
  let lab: Lab | undefined;
  let topo: Topology | undefined;
  let lvsd: Lvsd | undefined;
  const diagnose = () => diagnoseLvsd(() => lvsd);
  const counters = async () => { await new Promise((r) => setTimeout(r, 1500)); return lvsd!.call('get-counters', {}); };
  const d = (a: Record<string, number>, b: Record<string, number>, k: string) => (b[k] ?? 0) - (a[k] ?? 0);

  beforeAll(async () => {
    if (skip) return;
    lab = new Lab('fptun');
    topo = await buildLan(lab, 'tun');
    lvsd = await startLvsd(lab, 'dir', { args: ['--workers', '1', '--fast-path'] });
  });

  afterAll(async () => {
    if (!lab) return;
    try { await lvsd?.stop(); } finally {
      await lab.destroy();
      removeLabSockets(lab);
    }
  });

  it.skipIf(skip)('keep-alive requests and UDP datagrams: all answered, most client packets encapsulated by the kernel, --stats adds up', async () => {
    diagnose();
    const l = lab!, t = topo!;
    const vs = `${t.vip}:80`;
    await lvsd!.lvsadm(['-A', '-t', vs, '-s', 'rr']);
    await lvsd!.lvsadm(['-a', '-t', vs, '-r', `${t.rs[0]!.ip}:80`, '-i']);
    await lvsd!.lvsadm(['-A', '-u', `${t.vip}:5353`, '-s', 'rr']);
    await lvsd!.lvsadm(['-a', '-u', `${t.vip}:5353`, '-r', `${t.rs[0]!.ip}:5353`, '-i']);
    await l.sh('client', `nft add table ip fpcnt && nft add chain ip fpcnt out '{ type filter hook output priority 0; }' && nft add rule ip fpcnt out ip daddr ${t.vip} tcp dport 80 counter`);
    const b0 = await lvsd!.call('get-counters', {});
    const curl = await l.exec('client', ['curl', '-s', '-m', '20', ...Array.from({ length: 30 }, () => `http://${vs}/`)]);
    expect(curl.stdout.split('from rs1').length - 1).toBe(30);
    const b1 = await counters();
    expect(d(b0, b1, 'fast_learnt'), 'the TCP flow learnt').toBeGreaterThan(0);
    expect(d(b0, b1, 'fast_packets'), 'kernel vs lvsd').toBeGreaterThan(d(b0, b1, 'io_forwarded'));
    const st = (await lvsd!.lvsadm(['-Ln', '--stats', '--exact'])).stdout.split('\n').find((x) => x.startsWith(`TCP  ${vs}`))!;
    expect(Number(st.trim().split(/\s+/)[3]), 'InPkts').toBe((await nftCounter(l, 'client', 'fpcnt')).packets);
    const udp = await l.exec('client', ['node', '-e', udpEchoScript(t.vip, 5353, 20)]);
    expect(udp.stdout).toContain('ECHOES 20');
    const b2 = await counters();
    expect(d(b1, b2, 'fast_packets'), 'UDP datagrams the kernel encapsulated').toBeGreaterThan(10);
    for (const k of ['io_engine_errors', 'io_drop_fault', 'drop_tcp_no_conn']) expect(d(b0, b2, k), k).toBe(0);
  });

  it.skipIf(skip)('with checksum offload off at the client, tshark on the real server finds the IPIP header as the engine writes it and every checksum right', async () => {
    diagnose();
    const l = lab!, t = topo!;
    const rs1 = t.rs[0]!;
    await l.exec('client', ['ethtool', '-K', 'eth0', 'tx', 'off']);
    try {
      const pcap = `/tmp/${l.prefix}-fptun.pcap`;
      const cap = l.spawn(rs1.name, ['tshark', '-n', '-i', 'eth0', '-f', 'ip proto 4', '-a', 'duration:8', '-w', pcap]);
      await waitFor(() => /Capturing on/.test(cap.output()), 15_000, 50, 'tshark to start capturing');
      await new Promise((r) => setTimeout(r, 1000));
      const b0 = await lvsd!.call('get-counters', {});
      const curl = await l.exec('client', ['curl', '-s', '-m', '10', ...Array.from({ length: 20 }, () => `http://${t.vip}/`)]);
      expect(curl.stdout.split('from rs1').length - 1).toBe(20);
      await cap.exited;
      const b1 = await lvsd!.call('get-counters', {});
      expect(d(b0, b1, 'fast_packets') + d(b0, b1, 'fast_learnt'), 'the kernel carried some').toBeGreaterThan(0);
      const dec = await l.exec(rs1.name, ['tshark', '-n', '-r', pcap, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE',
        '-T', 'fields', '-E', 'separator=|', '-e', 'ip.proto', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status',
        '-e', 'ip.flags.df', '-e', 'ip.ttl']);
      const rows = dec.stdout.trim().split('\n').filter(Boolean).map((x) => x.split('|'));
      expect(rows.length, dec.stdout).toBeGreaterThan(20);
      for (const r of rows) {
        const [proto, src, dst, ipStatus, tcpStatus, df, ttl] = r;
        expect(proto, r.join(' ')).toBe('4,6');
        expect(src).toBe(`${t.directors[0]!.ip},${t.client.ip}`);
        expect(dst).toBe(`${rs1.ip},${t.vip}`);
        expect(ipStatus, 'outer and inner IP checksums').toBe('1,1');
        expect(tcpStatus, 'inner TCP checksum').toBe('1');
        // The outer header takes the inner's DF and TTL (ip_vs_tunnel_xmit).
        const [odf, idf] = df!.split(','), [ottl, ittl] = ttl!.split(',');
        expect(odf).toBe(idf);
        expect(ottl).toBe(ittl);
      }
      await l.exec('client', ['rm', '-f', pcap], { check: false });
    } finally {
      await l.exec('client', ['ethtool', '-K', 'eth0', 'tx', 'on']);
    }
  });

  it.skipIf(skip)('bulk TCP with the client\'s TSO on: super-frames go through the kernel whole, encapsulated, and every byte arrives', async () => {
    diagnose();
    const l = lab!, t = topo!;
    expect((await l.exec('client', ['ethtool', '-k', 'eth0'])).stdout).toMatch(/^tcp-segmentation-offload: on/m);
    const rs1 = t.rs[0]!;
    const sink = l.spawn(rs1.name, ['python3', '-c', hashSinkScript(9000)]);
    try {
      await waitListening(l, rs1.name, 9000);
      await lvsd!.lvsadm(['-A', '-t', `${t.vip}:9000`, '-s', 'rr']);
      await lvsd!.lvsadm(['-a', '-t', `${t.vip}:9000`, '-r', `${rs1.ip}:9000`, '-i']);
      const size = 20 * 1024 * 1024;
      const b0 = await counters();
      const send = `
import hashlib, random, socket
data = random.Random(7).randbytes(${size})
c = socket.socket(); c.settimeout(30); c.connect(('${t.vip}', 9000)); c.sendall(data); c.shutdown(socket.SHUT_WR)
print('%d %s' % (len(data), hashlib.sha256(data).hexdigest())); print(c.makefile().readline().strip())`;
      const up = (await l.exec('client', ['python3', '-c', send], { timeoutMs: 60_000 })).stdout.trim().split('\n');
      expect(up[1]).toBe(up[0]);
      const b1 = await counters();
      expect(d(b0, b1, 'fast_bytes'), 'upload bytes the kernel encapsulated').toBeGreaterThan(0.9 * size);
      for (const k of ['io_engine_errors', 'io_drop_fault', 'io_drop_gso_unsupported', 'io_drop_gso_send', 'drop_tcp_no_conn']) expect(d(b0, b1, k), k).toBe(0);
    } finally {
      sink.kill('SIGKILL');
    }
  });
});
