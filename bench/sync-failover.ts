// Stateful failover figures (issue 13), DR, two directors with lvsd's sync
// daemon (A master, B backup), in the lab:
//   - sync traffic per 1,000 new connections (A's sync counters);
//   - B's table after the switch vs A's before it;
//   - connections lost across A's crash (lvsd kill -9, VIP moved to B with a
//     gratuitous ARP), out of N open keep-alive connections each sending a
//     request every 500 ms, and of new connections opened at R/s during the move.
//
//   node dist/bench/sync-failover.js [--open 1000] [--rate 100] [--no-sync]
//
// A benchmark, not a test: prints one JSON object, never fails on a figure.
import { Lab, waitFor } from '../lab/netns.js';
import { buildLan } from '../lab/topology.js';
import { removeLabSockets, startLvsd } from '../lab/director.js';
import { gratuitousArpScript } from '../lab/py.js';

const args = process.argv.slice(2);
const opt = (f: string, d: number) => { const i = args.indexOf(f); return i >= 0 ? Number(args[i + 1]) : d; };
const OPEN = opt('--open', 1000);
const RATE = opt('--rate', 100);
const SYNC = !args.includes('--no-sync');


// 1,000 short connections, 50 at a time.
const SHORT = (vip: string) => `
import net from 'node:net';
let left = 1000, ok = 0, bad = 0, active = 0;
function one() {
  if (left === 0) { if (active === 0) { console.log(JSON.stringify({ ok, bad })); } return; }
  left--; active++;
  const c = net.connect({ host: '${vip}', port: 80 });
  let body = '';
  c.setTimeout(3000, () => c.destroy(new Error('timeout')));
  c.on('connect', () => c.write('GET / HTTP/1.0\\r\\n\\r\\n'));
  c.on('data', (d) => { body += d; });
  c.on('close', () => { active--; if (/from rs/.test(body)) ok++; else bad++; one(); });
  c.on('error', () => {});
}
for (let i = 0; i < 50; i++) one();
`;

// N keep-alive conns, a request every 500 ms each; new conns at R/s from SIGUSR1 (the move) for 5 s.
// SIGUSR2: print per-conn results and exit.
const OPENCLIENT = (vip: string, n: number, rate: number) => `
import net from 'node:net';
const conns = [];
let tMove = 0;
for (let i = 0; i < ${n}; i++) {
  const s = { ok: 0, okAfter: 0, err: null, pending: 0, lastSent: 0 };
  const c = net.connect({ host: '${vip}', port: 80 });
  c.setNoDelay(true);
  let buf = '';
  c.on('data', (d) => { buf += d; let k; while ((k = buf.indexOf('from rs')) >= 0) { buf = buf.slice(k + 7); s.ok++; s.pending--; if (tMove && Date.now() > tMove) s.okAfter++; } });
  c.on('error', (e) => { s.err = s.err || e.code || String(e); });
  c.on('close', () => { s.err = s.err || 'closed'; });
  c.on('connect', () => {
    const t = setInterval(() => { if (s.err) { clearInterval(t); return; } s.pending++; c.write('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'); }, 500 + (i % 50));
  });
  conns.push(s);
}
const fresh = { tried: 0, ok: 0, bad: 0 };
process.on('SIGUSR1', () => {
  tMove = Date.now();
  const t = setInterval(() => {
    if (Date.now() - tMove > 5000) { clearInterval(t); return; }
    fresh.tried++;
    const c = net.connect({ host: '${vip}', port: 80 });
    let body = '';
    c.setTimeout(8000, () => c.destroy(new Error('timeout')));
    c.on('connect', () => c.write('GET / HTTP/1.0\\r\\n\\r\\n'));
    c.on('data', (d) => { body += d; });
    c.on('close', () => { if (/from rs/.test(body)) fresh.ok++; else fresh.bad++; });
    c.on('error', () => {});
  }, ${Math.max(1, Math.round(1000 / rate))});
});
process.on('SIGUSR2', () => {
  const lost = conns.filter((s) => s.err || s.okAfter === 0).length;
  const errs = {};
  for (const s of conns) if (s.err) errs[s.err] = (errs[s.err] || 0) + 1;
  console.log(JSON.stringify({ open: conns.length, established: conns.filter((s) => s.ok > 0).length, lost, errs, fresh }));
  process.exit(0);
});
`;

async function main(): Promise<void> {
  const lab = new Lab('sb');
  try {
    const topo = await buildLan(lab, 'dr', { directors: 2, vipOnDirector: false });
    await lab.exec('client', ['sh', '-c', 'ulimit -n 65536; sysctl -q -w net.ipv4.ip_local_port_range="10000 65000"'], { check: false });
    await lab.exec('dir', ['ip', 'addr', 'add', `${topo.vip}/24`, 'dev', 'eth0', 'label', 'eth0:8']);
    const a = await startLvsd(lab, 'dir', { interfaces: ['eth0'] });
    const b = await startLvsd(lab, 'dir2', { interfaces: ['eth0'] });
    const vs = `${topo.vip}:80`;
    for (const d of [a, b]) {
      await d.lvsadm(['-A', '-t', vs, '-s', 'rr']);
      for (const r of topo.rs) await d.lvsadm(['-a', '-t', vs, '-r', `${r.ip}:80`, '-g']);
    }
    if (SYNC) {
      await a.lvsadm(['--start-daemon', 'master', '--mcast-interface', 'eth0', '--syncid', '1']);
      await b.lvsadm(['--start-daemon', 'backup', '--mcast-interface', 'eth0', '--syncid', '1']);
    }
    const result: Record<string, unknown> = { sync: SYNC, open: OPEN, rate: RATE };

    // Sync traffic per 1,000 new connections.
    const c0 = await a.call('get-counters', {});
    const short = await lab.exec('client', ['node', '--input-type=module', '-e', SHORT(topo.vip)], { timeoutMs: 120_000 });
    await new Promise((r) => setTimeout(r, 2600));
    const c1 = await a.call('get-counters', {});
    const d = (k: string) => (c1[k] ?? 0) - (c0[k] ?? 0);
    result.per1000New = {
      client: JSON.parse(short.stdout.trim()), syncMsgs: d('sync_msgs_sent'), syncEntries: d('sync_conns_sent'),
      syncPayloadBytes: d('sync_bytes_sent'), wireBytes: d('sync_bytes_sent') + d('sync_msgs_sent') * (14 + 20 + 8),
    };

    // N open connections, then the crash.
    const client = lab.spawn('client', ['sh', '-c', `ulimit -n 65536; exec node --input-type=module -e "$0"`, OPENCLIENT(topo.vip, OPEN, RATE)]);
    await new Promise((r) => setTimeout(r, 4000 + OPEN * 2));
    const keyOf = (l: string) => { const p = l.trim().split(/\s+/); return p[0] === 'TCP' && p[2] === 'ESTABLISHED' ? `${p[3]}>${p[5]}` : ''; };
    const tableA = new Set((await a.lvsadm(['-Lnc'])).stdout.split('\n').map(keyOf).filter(Boolean));
    await new Promise((r) => setTimeout(r, 2600));
    const tCrash = Date.now();
    await a.kill9();
    await lab.exec('dir', ['ip', 'addr', 'del', `${topo.vip}/24`, 'dev', 'eth0']);
    client.child.kill('SIGUSR1');
    await lab.exec('dir2', ['ip', 'addr', 'add', `${topo.vip}/24`, 'dev', 'eth0', 'label', 'eth0:8']);
    await lab.exec('dir2', ['python3', '-c', gratuitousArpScript(topo.vip)]);
    const moveMs = Date.now() - tCrash;
    const tableB = new Set((await b.lvsadm(['-Lnc'])).stdout.split('\n').map(keyOf).filter(Boolean));
    let both = 0;
    for (const k of tableA) if (tableB.has(k)) both++;
    result.tables = { masterEstablishedBefore: tableA.size, backupEstablishedAfter: tableB.size, inBoth: both };
    await new Promise((r) => setTimeout(r, 12_000));
    client.child.kill('SIGUSR2');
    await waitFor(() => /"lost"/.test(client.output()), 20_000, 100, 'client results');
    const line = client.output().split('\n').find((l) => l.includes('"lost"'))!;
    result.crash = { moveMs, ...JSON.parse(line) };
    const cb = await b.call('get-counters', {});
    result.backup = Object.fromEntries(Object.entries(cb).filter(([k, v]) => v && /^sync_|drop_tcp_no_conn|conns_created/.test(k)));
    process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
    await b.stop();
  } finally {
    await lab.destroy();
    removeLabSockets(lab);
  }
}

main().catch((e) => { process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
