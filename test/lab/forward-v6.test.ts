// IPv6 end to end, DR, NAT and TUN: lvsd in the director namespace of a
// dual-stack lab, real `curl -6 -g 'http://[VIP]/'` clients, the real
// servers' own kernel TCP stacks (TUN: IPv6 in IPv6, decapsulated by the
// lab's helper; this kernel has no ip6_tunnel), veth offloads left on.
import { describe, beforeAll, afterAll, it, expect } from 'vitest';
import { buildModeLab, destroyModeLab, diagnoseOnFailure, prerequisites, bigSha, FLAG, type Mode, type ModeLab } from './forward-suite.js';
import { curlMany, lvsdTables, startLvsd, tally } from '../../lab/director.js';
import { waitListening } from '../../lab/topology.js';
import { waitFor, type Lab } from '../../lab/netns.js';

const METHOD: Record<Mode, string> = { dr: 'Route', nat: 'Masq', tun: 'Tunnel' };

/** A TCP sink on [::]:port: hashes each connection's bytes until EOF and answers "<bytes> <sha256>". */
function hashSink6(port: number): string {
  return `
import hashlib, socket
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('::', ${port})); s.listen(4)
while True:
    c, _ = s.accept(); h = hashlib.sha256(); n = 0
    while True:
        b = c.recv(1 << 16)
        if not b: break
        h.update(b); n += len(b)
    c.sendall(('%d %s\\n' % (n, h.hexdigest())).encode()); c.close()
`;
}

async function mac(lab: Lab, host: string, dev: string): Promise<string> {
  return JSON.parse((await lab.exec(host, ['ip', '-j', 'link', 'show', dev])).stdout)[0].address as string;
}

function v6Suite(mode: Mode): void {
  describe(`lvsd forwards IPv6: ${mode.toUpperCase()}`, async () => {
    const missing = await prerequisites(['tshark']);
    const skip = missing.length > 0;
    let m: ModeLab | undefined;
    // Two forwarding threads whatever the machine: IPv6 flows are spread over them (io/fanout.ts).
    beforeAll(async () => { if (!skip) m = await buildModeLab(mode, { args: ['--workers', '2'] }, undefined, `6${mode}`, { ipv6: true }); });
    afterAll(async () => { await destroyModeLab(m); });
    const test = (name: string, fn: (m: ModeLab, vs: string, url: string) => Promise<void>) =>
      it.skipIf(skip)(name, async () => { diagnoseOnFailure(() => m); await fn(m!, `[${m!.topo.vip6}]:80`, `http://[${m!.topo.vip6}]/`); });
    const rsLines = (x: ModeLab, vs: string, port = 80, proto = '-t') =>
      x.topo.rs.map((r) => ['-a', proto, vs.replace(/:80$/, `:${port}`), '-r', `[${r.ip6}]:${port}`, FLAG[mode]]);

    test('rr: 20 requests with curl -6 alternate between both real servers; -Ln and -Lnc show them as ipvsadm would', async (x, vs, url) => {
      await x.rules([['-A', '-t', vs, '-s', 'rr'], ...rsLines(x, vs)]);
      const answers = await curlMany(x.lab, 'client', url, 20, { extra: '-6 -g' });
      expect(tally(answers)).toEqual({ 'from rs1': 10, 'from rs2': 10 });
      // Strictly alternating, as rr does.
      expect(answers.slice(0, 4)).toEqual(answers[0] === 'from rs1' ? ['from rs1', 'from rs2', 'from rs1', 'from rs2'] : ['from rs2', 'from rs1', 'from rs2', 'from rs1']);
      const ln = (await x.lvsd.lvsadm(['-Ln'])).stdout;
      expect(ln).toContain(`TCP  ${vs} rr\n`);
      for (const r of x.topo.rs) expect(ln).toMatch(new RegExp(`  -> \\[${r.ip6!.replace(/\./g, '\\.')}\\]:80 +${METHOD[mode]} +1 +`));
      const lnc = (await x.lvsd.lvsadm(['-Lnc'])).stdout;
      expect(lnc).toMatch(new RegExp(`^TCP \\d\\d:\\d\\d  \\S+ +\\[${x.topo.client.ip6}\\]:\\d+ \\[${x.topo.vip6}\\]:80 +\\[${x.topo.rs[0]!.ip6}\\]:80`, 'm'));
      // lvsd's interception rules carry the IPv6 VIP (protocol interception, the default: marked for another host, not dropped).
      const nft = (await x.lab.exec('dir', ['nft', 'list', 'ruleset'])).stdout;
      expect(nft).toContain(`ip6 daddr ${x.topo.vip6} tcp dport 80 meta pkttype set other accept`);
    });

    test('bulk TCP with offloads on: 20 MB down and 20 MB up arrive intact, as super-frames, and lvsd stays up', async (x, vs, url) => {
      const { lab, topo } = x;
      expect((await lab.exec('client', ['ethtool', '-k', 'eth0'])).stdout).toMatch(/^tcp-segmentation-offload: on/m);
      const rs1 = topo.rs[0]!;
      const sink = lab.spawn(rs1.name, ['python3', '-c', hashSink6(9000)]);
      try {
        await waitListening(lab, rs1.name, 9000);
        await x.rules([
          ['-A', '-t', vs, '-s', 'rr'], ...rsLines(x, vs),
          ['-A', '-t', `[${topo.vip6}]:9000`, '-s', 'rr'], ['-a', '-t', `[${topo.vip6}]:9000`, '-r', `[${rs1.ip6}]:9000`, FLAG[mode]],
        ]);
        const before = await x.lvsd.call('get-counters', {});
        const size = 20 * 1024 * 1024;
        const { stdout: dl } = await lab.sh('client', `curl -6 -g -s -m 60 '${url}big?size=${size}' | sha256sum`, { timeoutMs: 70_000 });
        expect(dl.split(' ')[0]).toBe(await bigSha(lab, size));
        const send = `
import hashlib, random, socket
data = random.Random(7).randbytes(20 * 1024 * 1024)
c = socket.socket(socket.AF_INET6)
# TUN: segments that fit the tunnel from the start (as a TUN deployment clamps the MSS); the super-frames
# still exceed any MTU. Packet Too Big for an oversize segment has its own test.
if ${mode === 'tun' ? 'True' : 'False'}: c.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1300)
c.settimeout(30); c.connect(('${topo.vip6}', 9000)); c.sendall(data); c.shutdown(socket.SHUT_WR)
print('%d %s' % (len(data), hashlib.sha256(data).hexdigest())); print(c.makefile().readline().strip())
`;
        const { stdout } = await lab.exec('client', ['python3', '-c', send], { timeoutMs: 60_000 });
        const [sent, got] = stdout.trim().split('\n');
        expect(got).toBe(sent);
        const after = await x.lvsd.call('get-counters', {});
        const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
        expect(d('io_gso_rx')).toBeGreaterThan(0);
        expect(d(mode === 'tun' ? 'io_gso_segmented' : 'io_gso_sent')).toBeGreaterThan(0);
        for (const k of ['io_drop_fault', 'io_engine_errors', 'io_drop_bad_frame', 'io_drop_gso_unsupported', 'io_drop_gso_send']) expect(d(k), k).toBe(0);
        expect(x.lvsd.proc.child.exitCode).toBeNull();
      } finally {
        sink.kill('SIGKILL');
      }
    });

    test('two workers: IPv6 keep-alive connections spread over both, each stays on one real server, -Lnc lists each once', async (x, vs) => {
      await x.rules([['-A', '-t', vs, '-s', 'rr'], ...rsLines(x, vs)]);
      // Earlier tests' conns stay in the tables until they expire: count what this test adds.
      const before = await x.lvsd.call('get-counters', {});
      const N = 24;
      // N keep-alive connections, a request on each, a pause (the test reads lvsd), two more requests on each.
      const py = `
import http.client, json, sys, time
cs = [http.client.HTTPConnection("${x.topo.vip6}", 80, timeout=5) for _ in range(${N})]
def rnd(k):
    for i, c in enumerate(cs):
        c.request("GET", "/"); r = c.getresponse(); body = r.read().decode().strip()
        print(json.dumps({"conn": c.sock.getsockname()[1], "agent": i, "round": k, "body": body}), flush=True)
rnd(0); print("PAUSE", flush=True); time.sleep(2.5); rnd(1); rnd(2)
for c in cs: c.close()
print("DONE", flush=True)
`;
      const ka = x.lab.spawn('client', ['python3', '-c', py]);
      await waitFor(() => ka.output().includes('PAUSE'), 20_000, 50, 'the first round').catch((e: Error) => { throw new Error(`${e.message}\n${ka.output().slice(-2000)}`); });
      const mid = await x.lvsd.call('get-counters', {});
      const lnc = (await x.lvsd.lvsadm(['-Lnc'])).stdout.split('\n').filter((l) => / ESTABLISHED /.test(l));
      // --trace asks the worker that owns the flow: each open connection is found there.
      const first = ka.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { conn: number; body: string });
      const traced: string[] = [];
      for (const a of first.slice(0, 8)) {
        const t = (await x.lvsd.lvsadm(['--trace', '-n', '-t', vs, '--client', `[${x.topo.client.ip6}]:${a.conn}`])).stdout;
        const rs = x.topo.rs.find((r) => a.body === `from ${r.name}`)!;
        if (!t.includes(`-> [${rs.ip6}]:80`) || !t.includes('existing connection (ESTABLISHED)')) traced.push(t);
      }
      expect(traced).toEqual([]);
      await ka.exited;
      expect(ka.output()).toContain('DONE');
      expect(mid.io_worker0_conns! - (before.io_worker0_conns ?? 0), 'worker 0 holds new IPv6 conns').toBeGreaterThan(0);
      expect(mid.io_worker1_conns! - (before.io_worker1_conns ?? 0), 'worker 1 holds new IPv6 conns').toBeGreaterThan(0);
      const ours = new Set(ka.output().split('\n').filter((l) => l.startsWith('{')).map((l) => String((JSON.parse(l) as { conn: number }).conn)));
      const ports = lnc.map((l) => /\]:(\d+) /.exec(l)?.[1]).filter((p) => p !== undefined && ours.has(p));
      expect(ports).toHaveLength(N);
      expect(new Set(ports).size).toBe(N);
      const answers = ka.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { agent: number; conn: number; body: string });
      expect(answers).toHaveLength(3 * N);
      for (let i = 0; i < N; i++) {
        const mine = answers.filter((a) => a.agent === i);
        expect(new Set(mine.map((a) => a.conn)).size, `connection ${i} kept its socket`).toBe(1);
        expect(new Set(mine.map((a) => a.body)).size, `connection ${i} kept its real server`).toBe(1);
        // -Lnc names the real server that answered.
        const row = lnc.find((l) => l.includes(`]:${mine[0]!.conn} `))!;
        const rs = x.topo.rs.find((r) => row.includes(`[${r.ip6}]:80`))!;
        expect(mine[0]!.body).toBe(`from ${rs.name}`);
      }
    });

    test('a UDP service over IPv6 (echo on 5353) reaches both real servers', async (x, vs) => {
      await x.rules([['-A', '-u', vs.replace(/:80$/, ':5353'), '-s', 'rr'], ...rsLines(x, vs, 5353, '-u')]);
      const py = `
import socket
for i in range(4):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.settimeout(2)
    s.sendto(b"hello%d" % i, ("${x.topo.vip6}", 5353))
    d, a = s.recvfrom(2000)
    print(a[0], d.decode())
`;
      const lines = (await x.lab.exec('client', ['python3', '-c', py])).stdout.trim().split('\n');
      expect(lines).toHaveLength(4);
      // NAT replies leave from the VIP; in DR/TUN the echo (bound to ::) answers from whatever source its route picks.
      if (mode === 'nat') for (const l of lines) expect(l.split(' ')[0]).toBe(x.topo.vip6);
      expect(new Set(lines.map((l) => l.split(' ')[2]))).toEqual(new Set(['rs1:', 'rs2:']));
    });

    if (mode === 'dr') {
      test('the real servers hold the VIP on lo yet never answer neighbour solicitations for it: the client\'s entry is the director\'s MAC', async (x, vs, url) => {
        await x.rules([['-A', '-t', vs, '-s', 'rr'], ...rsLines(x, vs)]);
        await x.lab.exec('client', ['ip', '-6', 'neigh', 'flush', 'dev', 'eth0']);
        expect(await curlMany(x.lab, 'client', url, 2, { extra: '-6 -g' })).toHaveLength(2);
        const n = JSON.parse((await x.lab.exec('client', ['ip', '-j', '-6', 'neigh', 'show', x.topo.vip6!])).stdout) as { lladdr?: string }[];
        expect(n[0]?.lladdr).toBe(await mac(x.lab, 'dir', 'eth0'));
        for (const r of x.topo.rs) expect((await x.lab.exec(r.name, ['ip', '-6', 'addr', 'show', 'dev', 'lo'])).stdout).toContain(`${x.topo.vip6}/128`);
      });
    }

    if (mode === 'nat') {
      test('no usable real server: ICMPv6 port unreachable from the VIP, so curl is refused at once', async (x, vs) => {
        await x.rules([['-A', '-t', vs.replace(/:80$/, ':81'), '-s', 'rr']]);
        const before = await x.lvsd.call('get-counters', {});
        const r = await x.lab.exec('client', ['curl', '-6', '-g', '-s', '-m', '5', `http://[${x.topo.vip6}]:81/`], { check: false });
        expect(r.code).toBe(7); // CURLE_COULDNT_CONNECT: ECONNREFUSED, not a timeout (28)
        const after = await x.lvsd.call('get-counters', {});
        expect(after.icmp_generated! - before.icmp_generated!).toBeGreaterThan(0);
      });
    }

    if (mode === 'tun') {
      test('on the wire, rs1 receives IPv6 in IPv6 (next header 41) from the director to itself, the client\'s packet inside (tshark)', async (x, vs, url) => {
        await x.rules([['-A', '-t', vs, '-s', 'rr'], ...rsLines(x, vs).slice(0, 1)]);
        const rs1 = x.topo.rs[0]!;
        const cap = x.lab.spawn(rs1.name, ['tshark', '-n', '-l', '-i', 'eth0', '-f', 'ip6 proto 41', '-c', '3', '-a', 'duration:15',
          '-T', 'fields', '-E', 'separator=|', '-e', 'ipv6.nxt', '-e', 'ipv6.src', '-e', 'ipv6.dst', '-e', 'tcp.dstport']);
        await waitFor(() => /Capturing on/.test(cap.output()), 15_000, 50, 'tshark to start capturing');
        // "Capturing on" may come before dumpcap's filter is live: ask until tshark has its 3 packets and exits.
        let exited = false;
        void cap.exited.then(() => { exited = true; });
        for (let i = 0; i < 10 && !exited; i++) {
          expect(await curlMany(x.lab, 'client', url, 1, { extra: '-6 -g' })).toEqual(['from rs1']);
          await Promise.race([cap.exited, new Promise((r) => setTimeout(r, 500))]);
        }
        await cap.exited;
        const rows = cap.output().split('\n').filter((l) => l.startsWith('41,'));
        expect(rows.length).toBeGreaterThan(0);
        // Outer: the director's source for its route to rs1 (what IPVS takes too) to rs1; inner: the client to the VIP, port 80.
        const src = JSON.parse((await x.lab.exec('dir', ['ip', '-j', 'route', 'get', rs1.ip6!])).stdout)[0].prefsrc as string;
        expect(rows[0]).toBe(`41,6|${src},${x.topo.client.ip6}|${rs1.ip6},${x.topo.vip6}|80`);
      });

      test('a datagram too big for the tunnel earns Packet Too Big (tunnel MTU - 40): the client\'s kernel lowers its path MTU', async (x, vs) => {
        await x.rules([['-A', '-u', vs.replace(/:80$/, ':5353'), '-s', 'rr'], ...rsLines(x, vs, 5353, '-u')]);
        const before = await x.lvsd.call('get-counters', {});
        const py = `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, 23, 0)  # IPV6_MTU_DISCOVER = IP_PMTUDISC_DONT: send it whole, once
s.sendto(b"x" * 1450, ("${x.topo.vip6}", 5353))
# Keep the socket: Linux applies an ICMPv6 Packet Too Big through the socket it
# quotes (__udp6_lib_err), so one that arrives after exit changes nothing.
import time; time.sleep(1.5)
`;
        await x.lab.exec('client', ['python3', '-c', py]);
        let route = '';
        for (let i = 0; i < 40 && !/mtu 1460/.test(route); i++) {
          route = (await x.lab.exec('client', ['ip', '-6', 'route', 'get', x.topo.vip6!])).stdout;
          await new Promise((res) => setTimeout(res, 50));
        }
        const after = await x.lvsd.call('get-counters', {});
        expect(after.icmp_generated! - before.icmp_generated!).toBe(1);
        expect(route).toMatch(/mtu 1460/);
      });
    }

    test('a clean stop removes lvsd\'s nftables table (its IPv6 rules with it)', async (x, vs) => {
      await x.rules([['-A', '-t', vs, '-s', 'rr'], ...rsLines(x, vs)]);
      expect(await lvsdTables(x.lab, 'dir')).toHaveLength(1);
      expect(await x.lvsd.stop()).toBe(0);
      expect(await lvsdTables(x.lab, 'dir')).toEqual([]);
      x.lvsd = await startLvsd(x.lab, 'dir', { socket: x.lvsd.socket });
    });
  });
}

v6Suite('dr');
v6Suite('nat');
v6Suite('tun');
