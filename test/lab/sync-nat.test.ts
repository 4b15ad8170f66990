// Stateful failover by connection sync, NAT: the real servers' gateway moves
// with the VIP. A (master) and B (backup) with the same services; a
// rate-limited download and a wrk keep-alive run through A survive A's
// kill -9 and the move of VIP + gateway to B: the download is intact (hash),
// wrk reports no socket errors and B no drop_tcp_no_conn.
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { Lab, waitFor } from '../../lab/netns.js';
import { buildNat, type Topology } from '../../lab/topology.js';
import { removeLabSockets, startLvsd, type Lvsd } from '../../lab/director.js';
import { prerequisites } from './forward-suite.js';
import { gratuitousArpScript } from '../../lab/py.js';
import { bigBodySha256 } from '../../lab/rs/big-body.js';


describe('connection sync: NAT master/backup pair', async () => {
  const missing = await prerequisites(['python3', 'sha256sum', 'wrk']);
  const skip = missing.length > 0;
  let lab: Lab | undefined;
  let topo: Topology;
  let a: Lvsd | undefined;
  let b: Lvsd | undefined;

  beforeAll(async () => {
    if (skip) return;
    lab = new Lab('sn');
    topo = await buildNat(lab, { directors: 2, vipOnDirector: false });
    // A small client receive buffer: the RS must keep sending through the whole download (no 6 MB burst into the socket).
    await lab.sysctl('client', 'net.ipv4.tcp_rmem', '4096 32768 65536');
    await lab.exec('dir', ['ip', 'addr', 'add', `${topo.vip}/24`, 'dev', 'eth0', 'label', 'eth0:8']);
    await lab.exec('dir', ['ip', 'addr', 'add', `${topo.natGateway}/24`, 'dev', 'eth1']);
    a = await startLvsd(lab, 'dir', { interfaces: ['eth0', 'eth1'] });
    b = await startLvsd(lab, 'dir2', { interfaces: ['eth0', 'eth1'] });
    const vs = `${topo.vip}:80`;
    for (const d of [a, b]) {
      await d.lvsadm(['-A', '-t', vs, '-s', 'rr']);
      for (const r of topo.rs) await d.lvsadm(['-a', '-t', vs, '-r', `${r.ip}:80`, '-m']);
    }
    await a.lvsadm(['--start-daemon', 'master', '--mcast-interface', 'eth1', '--syncid', '9']);
    await b.lvsadm(['--start-daemon', 'backup', '--mcast-interface', 'eth1', '--syncid', '9']);
  });
  afterAll(async () => {
    try { await a?.stop(); } catch { /* killed */ }
    try { await b?.stop(); } catch { /* gone */ }
    if (lab) { await lab.destroy(); removeLabSockets(lab); }
  });

  it.skipIf(skip)('a download and a wrk keep-alive run through A survive its kill -9 and the VIP + gateway move', async () => {
    onTestFailed(async () => {
      for (const d of [a, b]) {
        const c = await d?.call('get-counters', {}).catch(() => ({}));
        console.error(`${d?.host}: ${JSON.stringify(Object.fromEntries(Object.entries(c ?? {}).filter(([k, v]) => v && /sync|drop/.test(k))))}`);
      }
    });
    const size = 12 * 1024 * 1024; // at 1 MB/s still running at the kill, however curl bursts
    const want = bigBodySha256(size);
    const file = `/tmp/${lab!.prefix}big`;
    const dl = lab!.spawn('client', ['sh', '-c',
      `curl -s -m 60 --limit-rate 1M -o ${file} http://${topo.vip}/big?size=${size}; echo "rc=$?"; sha256sum ${file}; rm -f ${file}`]);
    const wrk = lab!.spawn('client', ['wrk', '-t', '2', '-c', '20', '-d', '12s', '--timeout', '10s', `http://${topo.vip}/`]);
    await new Promise((r) => setTimeout(r, 3000));
    const onB = (await b!.lvsadm(['-Lnc'])).stdout;
    expect(onB.split('\n').filter((l) => /ESTABLISHED/.test(l)).length).toBeGreaterThanOrEqual(21);
    expect(dl.output(), 'the download is still running').not.toContain('rc=');
    await a!.kill9();
    await lab!.exec('dir', ['ip', 'addr', 'del', `${topo.vip}/24`, 'dev', 'eth0']);
    await lab!.exec('dir', ['ip', 'addr', 'del', `${topo.natGateway}/24`, 'dev', 'eth1']);
    await lab!.exec('dir2', ['ip', 'addr', 'add', `${topo.vip}/24`, 'dev', 'eth0', 'label', 'eth0:8']);
    await lab!.exec('dir2', ['ip', 'addr', 'add', `${topo.natGateway}/24`, 'dev', 'eth1']);
    await lab!.exec('dir2', ['python3', '-c', gratuitousArpScript(topo.vip, 'eth0')]);
    await lab!.exec('dir2', ['python3', '-c', gratuitousArpScript(topo.natGateway!, 'eth1')]);
    const rc = await Promise.race([dl.exited, new Promise((r) => setTimeout(() => r('timeout'), 60_000))]);
    expect(rc).toBe(0);
    expect(dl.output()).toContain('rc=0');
    expect(dl.output()).toContain(want);
    await waitFor(async () => (await wrk.exited) !== undefined, 30_000, 100, 'wrk to finish');
    const w = wrk.output();
    expect(w).toMatch(/requests in/);
    expect(w).not.toMatch(/Socket errors/);
    const reqs = Number(/(\d+) requests in/.exec(w)?.[1] ?? 0);
    expect(reqs).toBeGreaterThan(100);
    const c = await b!.call('get-counters', {});
    expect(c.drop_tcp_no_conn ?? 0).toBe(0);
    // B forwarded the flow after the move (its ACKs, its replies too).
    expect(c.xmit).toBeGreaterThan(100);
    expect(c.sync_in_created).toBeGreaterThanOrEqual(21);
    console.log(`NAT failover: wrk ${reqs} requests, no socket errors; B created ${c.sync_in_created} conns from sync`);
  });
});
