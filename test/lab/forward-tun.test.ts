// TUN (-i) end to end: lvsd encapsulates in IPIP; the lab's RS decapsulate in
// user space (this kernel has no ipip) and answer the client directly.
import { describe, beforeAll, afterAll, it, expect } from 'vitest';
import { buildModeLab, destroyModeLab, diagnoseOnFailure, forwardingTests, prerequisites, type ModeLab } from './forward-suite.js';
import { curlMany } from '../../lab/director.js';
import { waitFor } from '../../lab/netns.js';

const TUN_MTU = 1400;

describe('lvsd forwards: TUN', async () => {
  const missing = await prerequisites(['tshark']);
  const skip = missing.length > 0;
  let m: ModeLab | undefined;
  beforeAll(async () => { if (!skip) m = await buildModeLab('tun', { args: ['--tun-mtu', String(TUN_MTU)] }); });
  afterAll(async () => { await destroyModeLab(m); });
  forwardingTests(() => m!, skip);

  it.skipIf(skip)('tshark decodes the IPIP packets on the wire: outer director → RS proto 4, inner client → VIP:80', async () => {
    diagnoseOnFailure(() => m);
    const { lab, topo, vs } = m!;
    const rs1 = topo.rs[0]!;
    await m!.rules([['-A', '-t', vs, '-s', 'rr'], ['-a', '-t', vs, '-r', `${rs1.ip}:80`, '-i']]);
    const cap = lab.spawn(rs1.name, ['tshark', '-l', '-n', '-i', 'eth0', '-c', '3', '-f', 'ip proto 4',
      '-T', 'fields', '-E', 'separator=|', '-e', 'ip.proto', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'tcp.dstport', '-e', '_ws.expert']);
    await waitFor(() => /Capturing on/.test(cap.output()), 15_000, 50, 'tshark to start capturing');
    // tshark may print "Capturing on" before dumpcap's filter is live (CI once saw 0 of the
    // packets of the first two requests): ask again until it has its 3 packets and exits.
    let exited = false;
    void cap.exited.then(() => { exited = true; });
    for (let i = 0; i < 10 && !exited; i++) {
      expect(await curlMany(lab, 'client', m!.url, 1)).toEqual(['from rs1']);
      await Promise.race([cap.exited, new Promise((r) => setTimeout(r, 500))]);
    }
    const rows = cap.output().split('\n').filter((l) => /^\d+,\d+\|/.test(l));
    expect(rows.length, cap.output()).toBe(3);
    for (const r of rows) {
      const [proto, src, dst, dport, expert] = r.split('|');
      expect(proto).toBe('4,6');
      expect(src).toBe(`${topo.directors[0]!.ip},${topo.client.ip}`);
      expect(dst).toBe(`${rs1.ip},${topo.vip}`);
      expect(dport).toBe('80');
      // Chat-level notes (SYN, GET) are fine; nothing malformed, no warning or error (bad checksums are warnings).
      expect(expert ?? '').not.toMatch(/Malformed|Warning|Error/i);
    }
  });

  it.skipIf(skip)('a TUN real server with no route yet is accepted and listed; traffic flows once the route appears', async () => {
    diagnoseOnFailure(() => m);
    const { lab, topo, vs } = m!;
    const rs1 = topo.rs[0]!;
    const far = '10.3.0.1'; // rs1's second address, which the director has no route to
    await lab.exec(rs1.name, ['ip', 'addr', 'add', `${far}/32`, 'dev', 'lo']);
    try {
      expect((await lab.exec('dir', ['ip', 'route', 'get', far], { check: false })).code).not.toBe(0);
      // As the kernel: accepted (rules are often loaded before routes at boot).
      await m!.rules([['-A', '-t', vs, '-s', 'rr'], ['-a', '-t', vs, '-r', `${far}:80`, '-i'], ['-A', '-u', `${topo.vip}:53`, '-s', 'rr']]);
      const udpDest = await m!.lvsd.lvsadm(['-a', '-u', `${topo.vip}:53`, '-r', `${far}:53`, '-i'], { check: false });
      expect(udpDest.code, udpDest.stderr).toBe(0);
      const list = (await m!.lvsd.lvsadm(['-Ln'])).stdout;
      expect(list).toMatch(new RegExp(`-> ${far.replace(/\./g, '\\.')}:80\\s+Tunnel`));
      expect(list).toMatch(new RegExp(`-> ${far.replace(/\./g, '\\.')}:53\\s+Tunnel`));
      const before = await m!.lvsd.call('get-counters', {});
      expect(await curlMany(lab, 'client', m!.url, 1, { extra: '-m 1' })).toEqual(['ERR']);
      const dropped = await m!.lvsd.call('get-counters', {});
      expect(dropped.drop_tun_no_route! - (before.drop_tun_no_route ?? 0)).toBeGreaterThanOrEqual(1);
      // The route appears (after the rules, as at boot): lvsd picks its source up without a reload.
      await lab.exec('dir', ['ip', 'route', 'add', `${far}/32`, 'via', rs1.ip, 'dev', 'eth0']);
      await waitFor(async () => (await curlMany(lab, 'client', m!.url, 1, { extra: '-m 1' }))[0] === 'from rs1', 15_000, 100, 'traffic to the TUN dest once routed');
      const out = m!.lvsd.proc.output();
      expect(out).toMatch(/no route to tunnel real server 10\.3\.0\.1 yet/);
      expect(out).toMatch(/tunnel real server 10\.3\.0\.1 is routable now/);
      expect(out).not.toMatch(/"stack"|control op failed/);
    } finally {
      await lab.exec('dir', ['ip', 'route', 'del', `${far}/32`], { check: false });
      await lab.exec(rs1.name, ['ip', 'addr', 'del', `${far}/32`, 'dev', 'lo'], { check: false });
      await m!.lvsd.lvsadm(['-C']);
    }
  });

  it.skipIf(skip)('an oversize DF packet gets ICMP frag-needed with the tunnel MTU', async () => {
    diagnoseOnFailure(() => m);
    const { lab, topo } = m!;
    const vus = `${topo.vip}:5353`;
    await m!.rules([['-A', '-u', vus, '-s', 'rr'], ['-a', '-u', vus, '-r', `${topo.rs[0]!.ip}:5353`, '-i']]);
    // A connected UDP socket with DF: the first oversize send goes out, the
    // frag-needed it earns lowers the route's path MTU, and IP_MTU reports it.
    const py = `
import socket, time
IP_MTU_DISCOVER, IP_PMTUDISC_DO, IP_MTU = 10, 2, 14
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
s.connect(('${topo.vip}', 5353))
print('before', s.getsockopt(socket.IPPROTO_IP, IP_MTU))
s.send(b'x' * 1450)
time.sleep(0.5)
try:
    s.send(b'x' * 1450); print('second send went out')
except OSError as e:
    print('second send', e.errno)
print('after', s.getsockopt(socket.IPPROTO_IP, IP_MTU))
`;
    const before = await m!.lvsd.call('get-counters', {});
    const { stdout } = await lab.exec('client', ['python3', '-c', py]);
    const after = await m!.lvsd.call('get-counters', {});
    expect(stdout).toContain('before 1500');
    expect(stdout).toContain('second send 90'); // EMSGSIZE
    expect(stdout).toContain(`after ${TUN_MTU - 20}`);
    expect(after.icmp_generated! - before.icmp_generated!).toBeGreaterThanOrEqual(1);
    // Small packets still go through the tunnel.
    const echo = await lab.exec('client', ['python3', '-c', `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b'y' * 1000, ('${topo.vip}', 5353)); print(len(s.recvfrom(4000)[0]))`]);
    expect(echo.stdout.trim()).toBe(String(1000 + 'from rs1: '.length));
  });
});
