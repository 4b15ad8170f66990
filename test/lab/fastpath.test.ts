// lvsd --fast-path end to end, NAT (2 workers) and DR (1 worker): established
// flows are forwarded by the tcx program from the map lvsd fills, and lvsd
// still sees what it must. Each flow stays on one real server; the kernel
// carries most packets (fast_packets against lvsd's own forwards); --stats
// adds up to what nftables counted leaving the client (and the real
// servers), so the swept counts reach the engine; the conns stay listed as
// ESTABLISHED with a full timer while only the kernel sees their packets;
// a FIN still reaches the engine (the conns leave ESTABLISHED and their
// flows leave the map). With checksum offload off at both ends the
// receivers verify every checksum the program rewrote (their kernels drop
// a wrong one, and count it), UDP too, and tshark decodes the rewritten
// frames. kill -9 leaves no program behind: a learnt flow stops at once.
// NAT runs with the default interception (protocol-bound rings behind the
// tcx program, io/intercept.ts), DR with --intercept tap (ETH_P_ALL taps
// ahead of it, with the eBPF socket filter that skips the kernel's flows).
import { describe, beforeAll, afterAll, it, expect } from 'vitest';
import { diagnoseLvsd, nftCounter, udpEchoScript } from './lvsd-helpers.js';
import { Lab, missingPrerequisites, waitFor } from '../../lab/netns.js';
import { buildLan, buildNat, type Topology } from '../../lab/topology.js';
import { startLvsd, removeLabSockets, type Lvsd } from '../../lab/director.js';
import { waitListening } from '../../lab/topology.js';
import { hashSinkScript } from '../../lab/py.js';
import { bigBodySha256 } from '../../lab/rs/big-body.js';

const AGENTS = 12;
/** Half before the pause: enough client packets (8) for every flow to be learnt by then. */
const ROUNDS = 16;

function keepAliveScript(url: string, pauseMs: number): string {
  return `
const http = require('http');
const agents = [];
for (let i = 0; i < ${AGENTS}; i++) agents.push(new http.Agent({ keepAlive: true, maxSockets: 1 }));
const get = (agent) => new Promise((res, rej) => {
  const req = http.get('${url}', { agent }, (r) => {
    const conn = r.socket.localAddress + ':' + r.socket.localPort;
    let b = '';
    r.on('data', (d) => b += d);
    r.on('end', () => res({ body: b.trim(), conn, reused: req.reusedSocket }));
  });
  req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  req.on('error', rej);
});
const round = async (k) => Promise.all(agents.map(async (agent, i) => { const a = await get(agent); console.log(JSON.stringify({ agent: i, round: k, ...a })); }));
(async () => {
  for (let k = 0; k < ${ROUNDS / 2}; k++) await round(k);
  console.log('PAUSE');
  await new Promise((r) => setTimeout(r, ${pauseMs}));
  for (let k = ${ROUNDS / 2}; k < ${ROUNDS}; k++) await round(k);
  for (const a of agents) a.destroy();
  console.log('DONE');
})().catch((e) => { console.log('ERROR ' + e.message); process.exit(1); });`;
}

interface Answer { agent: number; round: number; body: string; conn: string; reused: boolean }

function statsOf(text: string, vs: string): number[] {
  const line = text.split('\n').find((l) => l.startsWith(`TCP  ${vs}`));
  if (!line) throw new Error(`no ${vs} in\n${text}`);
  return line.trim().split(/\s+/).slice(2).map(Number);
}

/** A kernel SNMP counter (nstat -az), e.g. TcpInCsumErrors. */
async function nstat(lab: Lab, host: string, name: string): Promise<number> {
  const { stdout } = await lab.exec(host, ['nstat', '-az', name], { check: false });
  const m = new RegExp(`^${name}\\s+(\\d+)`, 'm').exec(stdout);
  return m ? Number(m[1]) : 0;
}

for (const [mode, workers] of [['nat', 2], ['dr', 1]] as const) {
  describe(`lvsd --fast-path: ${mode.toUpperCase()}, --workers ${workers}`, async () => {
    const missing = await missingPrerequisites(['ip', 'nft', 'curl', 'node', 'tshark', 'ethtool', 'nstat']);
    if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);
    const skip = missing.length > 0;
    let lab: Lab | undefined;
    let topo: Topology | undefined;
    let lvsd: Lvsd | undefined;
    const diagnose = () => diagnoseLvsd(() => lvsd);

    beforeAll(async () => {
      if (skip) return;
      lab = new Lab(`fp${mode}`);
      topo = mode === 'nat' ? await buildNat(lab, { ipv6: true }) : await buildLan(lab, 'dr', { ipv6: true });
      // DR also sets the map's size and the learning threshold (the defaults' values: the plumbing is what is tested).
      lvsd = await startLvsd(lab, 'dir', { args: ['--workers', String(workers), '--fast-path',
        ...(mode === 'dr' ? ['--fast-path-flows', '65536', '--fast-path-min-packets', '8', '--intercept', 'tap'] : [])] });
      const size = `"fastPathFlows":${mode === 'dr' ? 65536 : 262144}`;
      await waitFor(() => lvsd!.proc.output().includes('lvsd started'), 5000, 50, 'the start line');
      expect(lvsd.proc.output()).toContain(size);
      expect(lvsd.proc.output()).toContain(`"intercept":"${mode === 'dr' ? 'tap' : 'protocol'}"`);
    });

    afterAll(async () => {
      if (!lab) return;
      try { await lvsd?.stop(); } finally {
        await lab.destroy();
        removeLabSockets(lab);
      }
    });

    const rules = async (proto: '-t' | '-u', port: number) => {
      const vs = `${topo!.vip}:${port}`;
      await lvsd!.lvsadm(['-A', proto, vs, '-s', 'rr']);
      for (const r of topo!.rs) await lvsd!.lvsadm(['-a', proto, vs, '-r', `${r.ip}:${port}`, mode === 'nat' ? '-m' : '-g']);
      return vs;
    };

    it.skipIf(skip)('keep-alive flows go through the kernel, stay on one real server, and are counted, timed and closed by the engine', async () => {
      diagnose();
      const l = lab!, t = topo!;
      const vs = await rules('-t', 80);
      await l.sh('client', `nft add table ip fpcnt && nft add chain ip fpcnt out '{ type filter hook output priority 0; }' && nft add rule ip fpcnt out ip daddr ${t.vip} tcp dport 80 counter`);
      if (mode === 'nat') for (const r of t.rs) await l.sh(r.name, `nft add table ip fpcnt && nft add chain ip fpcnt out '{ type filter hook output priority 0; }' && nft add rule ip fpcnt out tcp sport 80 counter`);
      const before = await lvsd!.call('get-counters', {});
      // The interception mode's chain: protocol-bound rings need the frames kept (marked for another host), taps need them dropped.
      const table = /"table":"([^"]+)"/.exec(lvsd!.proc.output())?.[1];
      const chain = (await l.exec('dir', ['nft', 'list', 'table', 'netdev', table ?? 'lvsd'])).stdout;
      expect(chain).toContain(`ip daddr ${t.vip} tcp dport 80 ${mode === 'dr' ? 'drop' : 'meta pkttype set other accept'}`);

      const ka = l.spawn('client', ['node', '-e', keepAliveScript(`http://${t.vip}/`, 2500)]);
      let exited = false;
      void ka.exited.then(() => { exited = true; });
      await waitFor(() => ka.output().includes('PAUSE') || ka.output().includes('ERROR') || exited, 30_000, 50, 'the first rounds')
        .catch((e: Error) => { throw new Error(`${e.message}\n${ka.output().slice(-3000)}`); });
      expect(ka.output()).not.toContain('ERROR');
      // The sweep (1 s) has handed the kernel's counts over: the flows are learnt and the conns ESTABLISHED with a fresh timer.
      await new Promise((r) => setTimeout(r, 1500));
      const mid = await lvsd!.call('get-counters', {});
      expect(mid.fast_flows, 'flows in the map').toBe(mode === 'nat' ? 2 * AGENTS : AGENTS);
      expect(mid.fast_packets ?? 0, 'packets the kernel forwarded').toBeGreaterThan(0);
      const lnc = (await lvsd!.lvsadm(['-Lnc'])).stdout.split('\n').filter((x) => / ESTABLISHED /.test(x));
      expect(lnc.length).toBe(AGENTS);
      for (const x of lnc) expect(x.trim().split(/\s+/)[1], x).toMatch(/^1[45]:\d\d$/);

      await ka.exited;
      expect(ka.output()).toContain('DONE');
      const answers = ka.output().split('\n').filter((x) => x.startsWith('{')).map((x) => JSON.parse(x) as Answer);
      expect(answers.length).toBe(AGENTS * ROUNDS);
      const byAgent = new Map<number, Answer[]>();
      for (const a of answers) byAgent.set(a.agent, [...(byAgent.get(a.agent) ?? []), a]);
      for (const [agent, as] of byAgent) {
        expect(new Set(as.map((a) => a.conn)).size, `agent ${agent}'s connections`).toBe(1);
        expect(new Set(as.map((a) => a.body)).size, `agent ${agent}'s real servers`).toBe(1);
      }
      // The FINs went through the engine: no conn is ESTABLISHED, no flow is left in the map.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await lvsd!.lvsadm(['-Lnc'])).stdout).not.toMatch(/ ESTABLISHED /);
      const after = await lvsd!.call('get-counters', {});
      expect(after.fast_flows).toBe(0);
      const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
      // Most packets never reached lvsd: the kernel forwarded more than lvsd did.
      expect(d('fast_packets'), 'kernel vs lvsd').toBeGreaterThan(d('io_forwarded'));
      for (const k of ['io_engine_errors', 'io_drop_fault', 'drop_tcp_no_conn']) expect(d(k), k).toBe(0);
      // --stats: what nftables counted leaving the client (and the real servers), lvsd's and the kernel's packets together.
      const st = statsOf((await lvsd!.lvsadm(['-Ln', '--stats', '--exact'])).stdout, vs);
      const sent = await nftCounter(l, 'client', 'fpcnt');
      expect(st[0], 'Conns').toBe(AGENTS);
      expect(st[1], 'InPkts').toBe(sent.packets);
      expect(st[3], 'InBytes').toBe(sent.bytes);
      if (mode === 'nat') {
        let rsPkts = 0, rsBytes = 0;
        for (const r of t.rs) { const c = await nftCounter(l, r.name, 'fpcnt'); rsPkts += c.packets; rsBytes += c.bytes; }
        expect(st[2], 'OutPkts').toBe(rsPkts);
        expect(st[4], 'OutBytes').toBe(rsBytes);
      }
    });

    it.skipIf(skip)('with checksum offload off, the receivers verify every rewritten checksum (TCP and UDP, IPv4 and IPv6), and tshark decodes the frames', async () => {
      diagnose();
      const l = lab!, t = topo!;
      for (const h of ['client', ...t.rs.map((r) => r.name)]) await l.exec(h, ['ethtool', '-K', 'eth0', 'tx', 'off']);
      const csumErrs = async () => {
        let n = 0;
        for (const h of ['client', ...t.rs.map((r) => r.name)]) {
          for (const c of ['TcpInCsumErrors', 'UdpInCsumErrors', 'IpInHdrErrors', 'Udp6InCsumErrors', 'Ip6InHdrErrors']) n += await nstat(l, h, c);
        }
        return n;
      };
      const errs0 = await csumErrs();
      const before = await lvsd!.call('get-counters', {});
      const rs1 = t.rs[0]!;
      const pcap = `/tmp/${l.prefix}-fp.pcap`;
      const cap = l.spawn(rs1.name, ['tshark', '-n', '-i', 'eth0', '-f', 'tcp port 80 or udp port 5353', '-a', 'duration:15', '-w', pcap]);
      await waitFor(() => /Capturing on/.test(cap.output()), 15_000, 50, 'tshark to start capturing');
      await new Promise((r) => setTimeout(r, 1000));
      // One connection, many requests: after the handshake, the kernel forwards.
      const urls = Array.from({ length: 20 }, () => `http://${t.vip}/`);
      const curl = await l.exec('client', ['curl', '-s', '-m', '10', ...urls]);
      expect(curl.stdout.split('from ').length - 1).toBe(20);
      await rules('-u', 5353);
      const udp = await l.exec('client', ['node', '-e', udpEchoScript(t.vip, 5353, 20)]);
      expect(udp.stdout).toContain('ECHOES 20');
      await new Promise((r) => setTimeout(r, 1500));
      const mid = await lvsd!.call('get-counters', {});
      expect((mid.fast_packets ?? 0) - (before.fast_packets ?? 0), 'the kernel forwarded').toBeGreaterThan(10);
      // The same over IPv6 (no header checksum; the L4 checksum covers the addresses through the pseudo-header).
      const vs6 = `[${t.vip6}]`;
      for (const [p, port] of [['-t', 80], ['-u', 5353]] as const) {
        await lvsd!.lvsadm(['-A', p, `${vs6}:${port}`, '-s', 'rr']);
        for (const r of t.rs) await lvsd!.lvsadm(['-a', p, `${vs6}:${port}`, '-r', `[${r.ip6}]:${port}`, mode === 'nat' ? '-m' : '-g']);
      }
      const curl6 = await l.exec('client', ['curl', '-6', '-g', '-s', '-m', '10', ...Array.from({ length: 20 }, () => `http://${vs6}/`)]);
      expect(curl6.stdout.split('from ').length - 1).toBe(20);
      const udp6 = await l.exec('client', ['node', '-e', udpEchoScript(t.vip6!, 5353, 20, 'udp6')]);
      expect(udp6.stdout).toContain('ECHOES 20');
      await new Promise((r) => setTimeout(r, 1500));
      const after = await lvsd!.call('get-counters', {});
      expect((after.fast_packets ?? 0) - (mid.fast_packets ?? 0), 'the kernel forwarded IPv6').toBeGreaterThan(10);
      expect(await csumErrs(), 'checksum errors at the receivers').toBe(errs0);
      await cap.exited;
      // tshark checks every IP, TCP and UDP checksum of what rs1 received.
      const dec = await l.exec(rs1.name, ['tshark', '-n', '-r', pcap, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
        '-T', 'fields', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'udp.checksum.status', '-Y', `ip.dst == ${mode === 'nat' ? rs1.ip : t.vip}`]);
      const rows = dec.stdout.trim().split('\n').filter(Boolean).map((x) => x.split('\t'));
      expect(rows.length, dec.stdout).toBeGreaterThan(20);
      for (const r of rows) {
        expect(r[0], r.join(' ')).toBe('1'); // 1 = good
        expect(r[1] || r[2], r.join(' ')).toBe('1');
      }
      const dec6 = await l.exec(rs1.name, ['tshark', '-n', '-r', pcap, '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
        '-T', 'fields', '-e', 'tcp.checksum.status', '-e', 'udp.checksum.status', '-Y', `ipv6.dst == ${mode === 'nat' ? rs1.ip6 : t.vip6}`]);
      const rows6 = dec6.stdout.trim().split('\n').filter(Boolean).map((x) => x.split('\t'));
      expect(rows6.length, dec6.stdout).toBeGreaterThan(20);
      for (const r of rows6) expect(r[0] || r[1], r.join(' ')).toBe('1');
      await l.exec('client', ['rm', '-f', pcap], { check: false });
      // Back to the veth defaults (TSO comes back with checksum offload) for the bulk test.
      for (const h of ['client', ...t.rs.map((r) => r.name)]) await l.exec(h, ['ethtool', '-K', 'eth0', 'tx', 'on']);
    });

    it.skipIf(skip)('bulk TCP with offloads on (veth defaults): the kernel forwards the senders\' TSO super-frames too, and every byte arrives; cut into segments at the director, each checksum is right', async () => {
      diagnose();
      const l = lab!, t = topo!;
      expect((await l.exec('client', ['ethtool', '-k', 'eth0'])).stdout).toMatch(/^tcp-segmentation-offload: on/m);
      const rs1 = t.rs[0]!;
      const dirIfs = mode === 'nat' ? ['eth0', 'eth1'] : ['eth0'];
      const csumErrs = async () => {
        let n = 0;
        for (const h of ['client', rs1.name]) for (const c of ['TcpInCsumErrors', 'IpInHdrErrors']) n += await nstat(l, h, c);
        return n;
      };
      const sink = l.spawn(rs1.name, ['python3', '-c', hashSinkScript(9000)]);
      try {
        await waitListening(l, rs1.name, 9000);
        await lvsd!.lvsadm(['-A', '-t', `${t.vip}:9000`, '-s', 'rr']);
        await lvsd!.lvsadm(['-a', '-t', `${t.vip}:9000`, '-r', `${rs1.ip}:9000`, mode === 'nat' ? '-m' : '-g']);
        const size = 20 * 1024 * 1024;
        const counters = async () => { await new Promise((r) => setTimeout(r, 1500)); return lvsd!.call('get-counters', {}); };
        const d = (a: Record<string, number>, b: Record<string, number>, k: string) => (b[k] ?? 0) - (a[k] ?? 0);
        // Phase 1, super-frames out as they came in; phase 2, the director's links without TSO and checksum
        // offload: the kernel cuts each super-frame and completes its checksums from what the program left in
        // the checksum field (the pseudo-header sum of CHECKSUM_PARTIAL), and the receivers verify them.
        for (const cut of [false, true]) {
          const phase = cut ? 'cut at the director' : 'super-frames';
          if (cut) for (const i of dirIfs) await l.exec('dir', ['ethtool', '-K', i, 'tx', 'off']);
          const errs0 = await csumErrs();
          // Upload: the client's TSO frames (up to 64 KiB) reach the director whole.
          const b0 = await counters();
          const send = `
import hashlib, random, socket
data = random.Random(7).randbytes(${size})
c = socket.socket(); c.settimeout(30); c.connect(('${t.vip}', 9000)); c.sendall(data); c.shutdown(socket.SHUT_WR)
print('%d %s' % (len(data), hashlib.sha256(data).hexdigest())); print(c.makefile().readline().strip())`;
          const up = (await l.exec('client', ['python3', '-c', send], { timeoutMs: 60_000 })).stdout.trim().split('\n');
          expect(up[1], phase).toBe(up[0]);
          const b1 = await counters();
          // Download (NAT: the real server's TSO frames come back through the director).
          const dl = mode === 'nat' ? await l.sh('client', `curl -s -m 60 'http://${t.vip}/big?size=${size}' | sha256sum`, { timeoutMs: 70_000 }) : undefined;
          if (dl) expect(dl.stdout.split(' ')[0], phase).toBe(bigBodySha256(size));
          const b2 = await counters();
          // The kernel carried (nearly) all of the 20 MB: without super-frames it would carry only ACKs.
          expect(d(b0, b1, 'fast_bytes'), `${phase}: upload bytes the kernel forwarded`).toBeGreaterThan(0.9 * size);
          if (dl) expect(d(b1, b2, 'fast_bytes'), `${phase}: download bytes the kernel forwarded`).toBeGreaterThan(0.9 * size);
          // lvsd saw only each connection's first super-frames (before the flow had shown 8 client packets).
          expect(d(b0, b2, 'fast_packets'), `${phase}: kernel vs lvsd`).toBeGreaterThan(d(b0, b2, 'io_forwarded'));
          for (const k of ['io_engine_errors', 'io_drop_fault', 'io_drop_gso_unsupported', 'io_drop_gso_send', 'drop_tcp_no_conn']) expect(d(b0, b2, k), `${phase}: ${k}`).toBe(0);
          expect(await csumErrs(), `${phase}: checksum errors at the receivers`).toBe(errs0);
        }
      } finally {
        sink.kill('SIGKILL');
        for (const i of dirIfs) await l.exec('dir', ['ethtool', '-K', i, 'tx', 'on'], { check: false });
      }
    });

    it.skipIf(skip)('kill -9 leaves no program behind: a learnt flow stops at once; the next start forwards again', async () => {
      diagnose();
      const l = lab!, t = topo!;
      // A long-lived keep-alive connection whose flows the kernel carries.
      const go = `/tmp/${l.prefix}-fp-go`;
      const script = `
const http = require('http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = () => new Promise((res) => { const q = http.get('http://${t.vip}/', { agent }, (r) => { let b = ''; r.on('data', (d) => b += d); r.on('end', () => res(b.trim())); }); q.setTimeout(2000, () => q.destroy(new Error('timeout'))); q.on('error', (e) => res('ERR ' + e.message)); });
(async () => { for (let i = 0; i < 12; i++) console.log(await get()); console.log('READY'); const w = setInterval(async () => { if (!require('fs').existsSync('${go}')) return; clearInterval(w); console.log('AFTER ' + await get()); process.exit(0); }, 50); })();`;
      const ka = l.spawn('client', ['node', '-e', script]);
      await waitFor(() => ka.output().includes('READY'), 20_000, 50, 'the first requests');
      expect(ka.output()).not.toContain('ERR');
      await waitFor(async () => ((await lvsd!.call('get-counters', {})).fast_flows ?? 0) > 0, 5000, 100, 'the flow to be learnt');
      lvsd!.proc.kill('SIGKILL');
      await lvsd!.proc.exited;
      await l.exec('client', ['touch', go]);
      await ka.exited;
      expect(ka.output()).toMatch(/AFTER ERR/);
      await l.exec('client', ['rm', '-f', go]);
      lvsd = await startLvsd(lab!, 'dir', { args: ['--workers', String(workers), '--fast-path', ...(mode === 'dr' ? ['--intercept', 'tap'] : [])] });
      await rules('-t', 80);
      const ok = await l.exec('client', ['curl', '-s', '-m', '5', `http://${t.vip}/`, `http://${t.vip}/`, `http://${t.vip}/`]);
      expect(ok.stdout.split('from ').length - 1).toBe(3);
    });
  });
}
