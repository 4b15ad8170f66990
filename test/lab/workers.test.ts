// lvsd --workers 2 end to end, NAT and DR: many flows from several client
// addresses, through two forwarding threads that each keep their own
// connection table. The kernel's fanout program must bring every packet of
// a flow (NAT replies included) to the worker that owns it: every keep-alive
// connection's answers name one real server, -Lnc lists each open connection
// once, --stats adds up to what the client (and, for NAT, the real servers)
// sent by nftables' own count, both workers forward, and a worker that dies
// takes lvsd down cleanly (exit 1, nftables table gone: nothing black-holed).
import { describe, beforeAll, afterAll, it, expect } from 'vitest';
import { diagnoseLvsd } from './lvsd-helpers.js';
import { Lab, missingPrerequisites, waitFor } from '../../lab/netns.js';
import { buildLan, buildNat, type Topology } from '../../lab/topology.js';
import { startLvsd, lvsdTables, removeLabSockets, tally, type Lvsd } from '../../lab/director.js';

const ADDRS = 4;
const PER_ADDR = 8;
const ROUNDS = 6;

/**
 * On the client: ADDRS × PER_ADDR keep-alive connections (one agent each, bound
 * to one of the client's addresses), ROUNDS/2 requests on each, a pause while
 * the test reads -Lnc, ROUNDS/2 more on the same sockets. One JSON line per answer.
 */
function keepAliveScript(url: string, addrs: string[], pauseMs: number): string {
  return `
const http = require('http');
const addrs = ${JSON.stringify(addrs)};
const agents = [];
for (const a of addrs) for (let i = 0; i < ${PER_ADDR}; i++) agents.push(new http.Agent({ keepAlive: true, maxSockets: 1, localAddress: a }));
const get = (agent) => new Promise((res, rej) => {
  const req = http.get('${url}', { agent }, (r) => {
    const conn = r.socket.localAddress + ':' + r.socket.localPort; // the socket goes back to the agent before 'end'
    let b = '';
    r.on('data', (d) => b += d);
    r.on('end', () => res({ body: b.trim(), conn, reused: req.reusedSocket }));
  });
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

/** Packets and bytes an nftables counter rule saw (`nft -j list table ip <table>`). */
async function nftCounter(lab: Lab, host: string, table: string): Promise<{ packets: number; bytes: number }> {
  const { stdout } = await lab.exec(host, ['nft', '-j', 'list', 'table', 'ip', table]);
  const j = JSON.parse(stdout) as { nftables: { rule?: { expr: { counter?: { packets: number; bytes: number } }[] } }[] };
  let packets = 0, bytes = 0;
  for (const x of j.nftables) for (const e of x.rule?.expr ?? []) if (e.counter) { packets += e.counter.packets; bytes += e.counter.bytes; }
  return { packets, bytes };
}

async function countOutput(lab: Lab, host: string, table: string, match: string): Promise<void> {
  await lab.sh(host, `nft add table ip ${table} && nft add chain ip ${table} out '{ type filter hook output priority 0; }' && nft add rule ip ${table} out ${match} counter`);
}

/** The service line of `lvsadm -Ln --stats --exact`: Conns InPkts OutPkts InBytes OutBytes. */
function statsOf(text: string, vs: string): number[] {
  const line = text.split('\n').find((l) => l.startsWith(`TCP  ${vs}`));
  if (!line) throw new Error(`no ${vs} in\n${text}`);
  return line.trim().split(/\s+/).slice(2).map(Number);
}

for (const mode of ['nat', 'dr'] as const) {
  describe(`lvsd --workers 2: ${mode.toUpperCase()}`, async () => {
    const missing = await missingPrerequisites(['ip', 'nft', 'curl', 'node']);
    if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);
    const skip = missing.length > 0;
    let lab: Lab | undefined;
    let topo: Topology | undefined;
    let lvsd: Lvsd | undefined;
    const clientAddrs: string[] = [];
    const diagnose = () => diagnoseLvsd(() => lvsd);

    beforeAll(async () => {
      if (skip) return;
      lab = new Lab(`w${mode}`);
      topo = mode === 'nat' ? await buildNat(lab) : await buildLan(lab, 'dr');
      const net = topo.client.ip.split('.').slice(0, 3).join('.');
      for (let i = 0; i < ADDRS; i++) {
        const a = `${net}.${21 + i}`;
        clientAddrs.push(a);
        await lab.exec('client', ['ip', 'addr', 'add', `${a}/24`, 'dev', 'eth0']);
      }
      lvsd = await startLvsd(lab, 'dir', { args: ['--workers', '2', '--metrics', '127.0.0.1:9647'] });
    });

    afterAll(async () => {
      if (!lab) return;
      try { await lvsd?.stop(); } finally {
        await lab.destroy();
        removeLabSockets(lab);
      }
    });

    const rules = async (extra: string[] = []) => {
      const vs = `${topo!.vip}:80`;
      await lvsd!.lvsadm(['-C']);
      await lvsd!.lvsadm(['-A', '-t', vs, '-s', 'rr', ...extra]);
      for (const r of topo!.rs) await lvsd!.lvsadm(['-a', '-t', vs, '-r', `${r.ip}:80`, mode === 'nat' ? '-m' : '-g']);
      return vs;
    };

    it.skipIf(skip)('keep-alive connections from several addresses each stay on one real server; -Lnc lists each once; --stats adds up to what was sent', async () => {
      diagnose();
      const l = lab!, t = topo!;
      const vs = await rules();
      await countOutput(l, 'client', 'wkcnt', `ip daddr ${t.vip} tcp dport 80`);
      if (mode === 'nat') for (const r of t.rs) await countOutput(l, r.name, 'wkcnt', 'tcp sport 80');
      await lvsd!.lvsadm(['-Z']);
      const before = await lvsd!.call('get-counters', {});

      const ka = l.spawn('client', ['node', '-e', keepAliveScript(`http://${t.vip}/`, clientAddrs, 3000)]);
      let exited = false;
      void ka.exited.then(() => { exited = true; });
      await waitFor(() => ka.output().includes('PAUSE') || ka.output().includes('ERROR') || exited, 30_000, 50, 'the first rounds').catch((e: Error) => { throw new Error(`${e.message}\n${ka.output().slice(-3000)}`); });
      expect(ka.output()).toContain('PAUSE');
      expect(ka.output()).not.toContain('ERROR');
      // While the connections are open: each once in -Lnc, ESTABLISHED, on its one real server.
      const open = new Map<string, string>();
      for (const line of ka.output().split('\n')) {
        if (!line.startsWith('{')) continue;
        const a = JSON.parse(line) as Answer;
        open.set(a.conn, a.body);
      }
      expect(open.size).toBe(ADDRS * PER_ADDR);
      const lnc = (await lvsd!.lvsadm(['-Lnc'])).stdout.split('\n').filter((x) => / ESTABLISHED /.test(x));
      const listed = lnc.map((x) => x.trim().split(/\s+/)).map((f) => ({ src: f[3]!, dst: f[5]! }));
      expect(listed.length).toBe(ADDRS * PER_ADDR);
      expect(new Set(listed.map((x) => x.src))).toEqual(new Set(open.keys()));
      for (const x of listed) {
        const rs = t.rs.find((r) => x.dst === `${r.ip}:80`)!;
        expect(open.get(x.src), x.src).toBe(`from ${rs.name}`);
      }
      const mid = await lvsd!.call('get-counters', {});
      expect(mid.io_worker0_conns, 'worker 0 holds conns').toBeGreaterThan(0);
      expect(mid.io_worker1_conns, 'worker 1 holds conns').toBeGreaterThan(0);
      expect(mid.io_worker0_conns! + mid.io_worker1_conns!).toBe(ADDRS * PER_ADDR);

      // New connections too: curl from every address.
      const curls = (await l.sh('client', clientAddrs.map((a) => `for i in $(seq 10); do curl -s -m 3 --interface ${a} http://${t.vip}/ || echo ERR; done`).join('; '), { timeoutMs: 120_000 })).stdout.split('\n').filter(Boolean);
      expect(curls.filter((x) => x === 'ERR')).toEqual([]);
      expect(Object.values(tally(curls)).sort()).toEqual([20, 20]); // one rr rotation over both workers
      await ka.exited;
      const answers = ka.output().split('\n').filter((x) => x.startsWith('{')).map((x) => JSON.parse(x) as Answer);
      expect(answers.length).toBe(ADDRS * PER_ADDR * ROUNDS);
      // Every agent kept one connection, and every answer on it named one real server.
      const byAgent = new Map<number, Answer[]>();
      for (const a of answers) byAgent.set(a.agent, [...(byAgent.get(a.agent) ?? []), a]);
      for (const [agent, as] of byAgent) {
        expect(new Set(as.map((a) => a.conn)).size, `agent ${agent}'s connections`).toBe(1);
        expect(new Set(as.map((a) => a.body)).size, `agent ${agent}'s real servers`).toBe(1);
        expect(as.filter((a) => a.round > 0).every((a) => a.reused)).toBe(true);
      }

      // --stats: connections as the client made them; packets and bytes as nftables counted them leaving the client (and the real servers).
      await new Promise((r) => setTimeout(r, 500)); // the last ACKs and FINs
      const st = statsOf((await lvsd!.lvsadm(['-Ln', '--stats', '--exact'])).stdout, vs);
      const sent = await nftCounter(l, 'client', 'wkcnt');
      expect(st[0], 'Conns').toBe(ADDRS * PER_ADDR + curls.length);
      expect(st[1], 'InPkts').toBe(sent.packets);
      expect(st[3], 'InBytes').toBe(sent.bytes);
      if (mode === 'nat') {
        let rsPkts = 0, rsBytes = 0;
        for (const r of t.rs) { const c = await nftCounter(l, r.name, 'wkcnt'); rsPkts += c.packets; rsBytes += c.bytes; }
        expect(st[2], 'OutPkts').toBe(rsPkts);
        expect(st[4], 'OutBytes').toBe(rsBytes);
      } else {
        expect(st[2]).toBe(0);
      }
      const after = await lvsd!.call('get-counters', {});
      const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
      expect(d('io_worker0_rx_frames'), 'worker 0 forwarded').toBeGreaterThan(0);
      expect(d('io_worker1_rx_frames'), 'worker 1 forwarded').toBeGreaterThan(0);
      expect(d('io_worker0_rx_frames') + d('io_worker1_rx_frames')).toBe(d('io_rx_frames'));
      for (const k of ['io_engine_errors', 'io_drop_fault', 'io_drop_bad_frame', 'drop_tcp_no_conn']) expect(d(k), k).toBe(0);
      expect(after.workers).toBe(2);
      // Prometheus sees the same sums.
      const m = (await l.exec('dir', ['curl', '-s', 'http://127.0.0.1:9647/metrics'])).stdout;
      const conns = new RegExp(`lvsd_service_connections_total\\{[^}]*vip="${t.vip.replace(/\./g, '\\.')}"[^}]*\\} (\\d+)`).exec(m);
      expect(Number(conns?.[1])).toBe(st[0]);
      expect(m).toMatch(/lvsd_io_events_total\{counter="io_worker1_rx_frames"\} [1-9]/);
    });

    it.skipIf(skip)('persistence (-p -M 255.255.255.0) across workers: one client network, one real server, one template', async () => {
      diagnose();
      const l = lab!, t = topo!;
      await rules(['-p', '60', '-M', '255.255.255.0']);
      const out = (await l.sh('client', clientAddrs.map((a) => `for i in $(seq 8); do curl -s -m 3 --interface ${a} http://${t.vip}/ || echo ERR; done`).join('; '), { timeoutMs: 120_000 })).stdout.split('\n').filter(Boolean);
      expect(out.length).toBe(ADDRS * 8);
      expect(new Set(out).size).toBe(1);
      expect(out[0]).toMatch(/^from rs/);
      const tpl = (await lvsd!.lvsadm(['-Lnc'])).stdout.split('\n').filter((x) => / NONE /.test(x));
      expect(tpl.length).toBe(1);
      expect(tpl[0]).toMatch(new RegExp(`${t.client.ip.split('.').slice(0, 3).join('\\.')}\\.0:0`));
    });

    it.skipIf(skip)('-E -p on a live service re-steers its flows: the workers hand their open connections over and every one keeps working', async () => {
      diagnose();
      const l = lab!, t = topo!;
      const vs = await rules();
      const before = await lvsd!.call('get-counters', {});
      const ka = l.spawn('client', ['node', '-e', keepAliveScript(`http://${t.vip}/`, clientAddrs, 3000)]);
      await waitFor(() => ka.output().includes('PAUSE') || ka.output().includes('ERROR'), 30_000, 50, 'the first rounds');
      expect(ka.output()).toContain('PAUSE');
      const openBefore = (await lvsd!.lvsadm(['-Lnc'])).stdout.split('\n').filter((x) => / ESTABLISHED /.test(x)).map((x) => x.trim().split(/\s+/).slice(3).join(' ')).sort();
      expect(openBefore.length).toBe(ADDRS * PER_ADDR);
      // Flows were hashed by client address and port; persistence hashes the client address alone.
      await lvsd!.lvsadm(['-E', '-t', vs, '-s', 'rr', '-p', '300']);
      const mid = await lvsd!.call('get-counters', {});
      const moved = (mid.conns_handed_over ?? 0) - (before.conns_handed_over ?? 0);
      expect(moved, 'conns handed over').toBeGreaterThan(0);
      expect((mid.conns_adopted ?? 0) - (before.conns_adopted ?? 0)).toBe(moved);
      // The same connections, on the same real servers, each listed once.
      const openAfter = (await lvsd!.lvsadm(['-Lnc'])).stdout.split('\n').filter((x) => / ESTABLISHED /.test(x)).map((x) => x.trim().split(/\s+/).slice(3).join(' ')).sort();
      expect(openAfter).toEqual(openBefore);
      await ka.exited;
      expect(ka.output()).toContain('DONE');
      expect(ka.output()).not.toContain('ERROR');
      const answers = ka.output().split('\n').filter((x) => x.startsWith('{')).map((x) => JSON.parse(x) as Answer);
      expect(answers.length).toBe(ADDRS * PER_ADDR * ROUNDS);
      const byAgent = new Map<number, Answer[]>();
      for (const a of answers) byAgent.set(a.agent, [...(byAgent.get(a.agent) ?? []), a]);
      for (const [agent, as] of byAgent) {
        expect(new Set(as.map((a) => a.conn)).size, `agent ${agent}'s connections`).toBe(1);
        expect(new Set(as.map((a) => a.body)).size, `agent ${agent}'s real servers`).toBe(1);
      }
      const after = await lvsd!.call('get-counters', {});
      expect((after.drop_tcp_no_conn ?? 0) - (before.drop_tcp_no_conn ?? 0), 'frames of moved flows dropped as unknown').toBeLessThanOrEqual(ADDRS * PER_ADDR);
    });

    it.skipIf(skip)('a worker that dies or hangs stops lvsd: exit 1, nftables table removed; SIGTERM with workers exits 0 and removes it too', async () => {
      diagnose();
      const l = lab!;
      const stopped = await lvsd!.stop();
      expect(stopped, `lvsd's exit (signal ${lvsd!.proc.child.signalCode}):\n${lvsd!.proc.output().slice(-2000)}`).toBe(0);
      expect(await lvsdTables(l, 'dir')).toEqual([]);
      lvsd = await startLvsd(l, 'dir', { args: ['--workers', '2'], wrap: ['env', 'LVSD_TEST_WORKER_FAULT=1:3000:crash'] });
      await rules();
      expect((await lvsdTables(l, 'dir')).length).toBe(1);
      const code = await Promise.race([lvsd.proc.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 15_000))]);
      expect(code).toBe(1);
      expect(lvsd.proc.output()).toMatch(/worker 1 crashed/);
      expect(await lvsdTables(l, 'dir')).toEqual([]);
      // The VIP is only the director's own address again: its stack refuses the connection
      // at once (curl's exit 7), where a black hole would time out (28).
      const { stdout } = await l.sh('client', `curl -s -m 3 -o /dev/null http://${topo!.vip}/; echo rc=$?`, { check: false });
      expect(stdout.trim()).toBe('rc=7');
      // A worker that hangs (stops ticking) is found by the watchdog within ~10 s: the same clean exit.
      lvsd = await startLvsd(l, 'dir', { args: ['--workers', '2'], wrap: ['env', 'LVSD_TEST_WORKER_FAULT=0:3000:hang'] });
      await rules();
      const t0 = Date.now();
      const hung = await Promise.race([lvsd.proc.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 25_000))]);
      expect(hung).toBe(1);
      expect(Date.now() - t0).toBeGreaterThan(8000);
      expect(lvsd.proc.output()).toMatch(/worker 0 has not ticked for \d+ ms \(hung\)/);
      expect(await lvsdTables(l, 'dir')).toEqual([]);
      // --workers 1: no worker threads, no per-worker counters.
      lvsd = await startLvsd(l, 'dir', { args: ['--workers', '1'] });
      const c = await lvsd.call('get-counters', {});
      expect(c.workers).toBeUndefined();
      expect(Object.keys(c).filter((k) => k.startsWith('io_worker'))).toEqual([]);
    });
  });
}
