// Stateful failover by connection sync, DR: directors A (master) and B
// (backup) with the same services; connections made through A appear in B's
// table with their state; a rate-limited download through A survives A's
// lvsd being killed -9 and the VIP moving to B (same bytes, by hash).
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { Lab, waitFor } from '../../lab/netns.js';
import { buildLan, type Topology } from '../../lab/topology.js';
import { curlMany, removeLabSockets, startLvsd, type Lvsd } from '../../lab/director.js';
import { prerequisites } from './forward-suite.js';
import type { NsProcess } from '../../lab/netns.js';
import { gratuitousArpScript } from '../../lab/py.js';
import { bigBodySha256 } from '../../lab/rs/big-body.js';

const SYNCID = '23';
interface Conn { cport: string; state: string; daddr: string }
function conns(lnc: string, vs: string): Conn[] {
  const out: Conn[] = [];
  for (const l of lnc.split('\n')) {
    const p = l.trim().split(/\s+/);
    if (p[0] !== 'TCP' || p[4] !== vs) continue;
    out.push({ state: p[2]!, cport: p[3]!, daddr: p[5]! });
  }
  return out.sort((a, b) => a.cport.localeCompare(b.cport));
}

describe('connection sync: DR master/backup pair', async () => {
  const missing = await prerequisites(['python3', 'sha256sum', 'wrk']);
  const skip = missing.length > 0;
  let lab: Lab | undefined;
  let topo: Topology;
  let a: Lvsd | undefined;
  let b: Lvsd | undefined;
  const vs = () => `${topo.vip}:80`;
  let capture: NsProcess | undefined;
  const pcap = () => `/tmp/${lab!.prefix}sync.pcap`;
  let sentByA = 0;

  beforeAll(async () => {
    if (skip) return;
    lab = new Lab('sy');
    topo = await buildLan(lab, 'dr', { directors: 2, vipOnDirector: false });
    // A small client receive buffer: the RS must keep sending through the whole download (no 6 MB burst into the socket).
    await lab.sysctl('client', 'net.ipv4.tcp_rmem', '4096 32768 65536');
    await lab.exec('dir', ['ip', 'addr', 'add', `${topo.vip}/24`, 'dev', 'eth0', 'label', 'eth0:8']);
    a = await startLvsd(lab, 'dir', { interfaces: ['eth0'] });
    b = await startLvsd(lab, 'dir2', { interfaces: ['eth0'] });
    for (const d of [a, b]) {
      await d.lvsadm(['-A', '-t', vs(), '-s', 'rr']);
      for (const r of topo.rs) await d.lvsadm(['-a', '-t', vs(), '-r', `${r.ip}:80`, '-g']);
    }
  });
  afterAll(async () => {
    try { await a?.stop(); } catch { /* killed */ }
    try { await b?.stop(); } catch { /* gone */ }
    if (lab) { await lab.destroy(); removeLabSockets(lab); await import('node:fs').then((fs) => fs.rmSync(pcap(), { force: true })); }
  });
  const diag = () => onTestFailed(async () => {
    for (const d of [a, b]) {
      if (!d) continue;
      const c = await d.call('get-counters', {}).catch((e) => String(e));
      console.error(`${d.host} counters: ${JSON.stringify(typeof c === 'string' ? c : Object.fromEntries(Object.entries(c).filter(([k, v]) => v && /sync|drop/.test(k))))}`);
      console.error(`${d.host} output: ${d.proc.output().slice(-1500)}`);
    }
  });

  it.skipIf(skip)('lvsadm --start-daemon master|backup, -L --daemon as ipvsadm prints it, --stop-daemon', async () => {
    diag();
    await a!.lvsadm(['--start-daemon', 'master', '--mcast-interface', 'eth0', '--syncid', SYNCID]);
    await b!.lvsadm(['--start-daemon', 'backup', '--mcast-interface', 'eth0', '--syncid', SYNCID]);
    expect((await a!.lvsadm(['-L', '--daemon'])).stdout)
      .toBe(`master sync daemon (mcast=eth0, syncid=${SYNCID}, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n`);
    expect((await b!.lvsadm(['-L', '--daemon'])).stdout)
      .toBe(`backup sync daemon (mcast=eth0, syncid=${SYNCID}, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n`);
    const again = await a!.lvsadm(['--start-daemon', 'master', '--mcast-interface', 'eth0'], { check: false });
    expect([again.code, again.stderr.trim()]).toEqual([255, 'Daemon has already run']);
    // Both roles at once, as IPVS allows; then stop the extra one.
    await b!.lvsadm(['--start-daemon', 'master', '--mcast-interface', 'eth0', '--syncid', SYNCID]);
    expect((await b!.lvsadm(['-L', '--daemon'])).stdout.split('\n').filter(Boolean).map((l) => l.split(' ')[0])).toEqual(['master', 'backup']);
    await b!.lvsadm(['--stop-daemon', 'master']);
    const none = await b!.lvsadm(['--stop-daemon', 'master'], { check: false });
    expect([none.code, none.stderr.trim()]).toEqual([255, 'No daemon is running']);
  });

  it.skipIf(skip)("connections made through A appear in B's -Lnc with their state", async () => {
    diag();
    // Every sync datagram on B's wire, for tshark to judge below.
    capture = lab!.spawn('dir2', ['tshark', '-q', '-n', '-i', 'eth0', '-f', 'udp port 8848', '-w', pcap()]);
    await waitFor(() => /Capturing on/.test(capture!.output()), 10_000, 50, 'tshark to capture');
    expect(await curlMany(lab!, 'client', `http://${topo.vip}/`, 6)).toHaveLength(6);
    // The master sends a partly filled buffer within 2 s (IPVS_SYNC_FLUSH_TIME).
    const seen = await waitFor(async () => {
      const onA = conns((await a!.lvsadm(['-Lnc'])).stdout, vs());
      const onB = conns((await b!.lvsadm(['-Lnc'])).stdout, vs());
      return onB.length >= 6 ? { onA, onB } : undefined;
    }, 8000, 200, "B's table to hold A's connections") as { onA: Conn[]; onB: Conn[] };
    expect(seen.onB.map((c) => `${c.cport}>${c.daddr}`)).toEqual(seen.onA.map((c) => `${c.cport}>${c.daddr}`));
    expect(seen.onB.map((c) => c.state)).toEqual(seen.onA.map((c) => c.state));
    const cb = await b!.call('get-counters', {});
    expect(cb.sync_in_created).toBeGreaterThanOrEqual(6);
    expect(cb.sync_msgs_received).toBeGreaterThan(0);
    const ca = await a!.call('get-counters', {});
    expect(ca.sync_msgs_sent).toBeGreaterThan(0);
    console.log(`sync: A sent ${ca.sync_msgs_sent} msgs / ${ca.sync_conns_sent} entries / ${ca.sync_bytes_sent} B; B received ${cb.sync_msgs_received} msgs, created ${cb.sync_in_created}, updated ${cb.sync_in_updated}`);
  });

  it.skipIf(skip)("a download through A survives A's kill -9 and the VIP's move to B, byte for byte", async () => {
    diag();
    const size = 16 * 1024 * 1024; // at 1 MB/s still running at the kill, however curl bursts
    const want = bigBodySha256(size);
    const dl = lab!.spawn('client', ['sh', '-c',
      `curl -s -m 60 --limit-rate 1M -o /tmp/${lab!.prefix}big http://${topo.vip}/big?size=${size}; echo "rc=$?"; sha256sum /tmp/${lab!.prefix}big; rm -f /tmp/${lab!.prefix}big`]);
    // The download's conn on A (a loaded machine may take a while to start curl).
    const before = await waitFor(async () => {
      const est = conns((await a!.lvsadm(['-Lnc'])).stdout, vs()).filter((c) => c.state === 'ESTABLISHED');
      return est.length > 0 ? est : undefined;
    }, 5000, 100, "the download's conn on A") as Conn[];
    expect(before.length).toBe(1);
    const wrk = lab!.spawn('client', ['wrk', '-t', '2', '-c', '20', '-d', '10s', '--timeout', '10s', `http://${topo.vip}/`]);
    // Long enough for the conns to be synced (3rd packet) and the buffer flushed (2 s).
    await new Promise((r) => setTimeout(r, 2700));
    await waitFor(async () => conns((await b!.lvsadm(['-Lnc'])).stdout, vs())
      .some((c) => c.cport === before[0]!.cport && c.state === 'ESTABLISHED'), 4000, 100, 'B to hold the download');
    expect(dl.output(), 'the download is still running').not.toContain('rc=');
    await new Promise((r) => setTimeout(r, 300));
    sentByA = (await a!.call('get-counters', {})).sync_msgs_sent!;
    await a!.kill9();
    await lab!.exec('dir', ['ip', 'addr', 'del', `${topo.vip}/24`, 'dev', 'eth0']);
    await lab!.exec('dir2', ['ip', 'addr', 'add', `${topo.vip}/24`, 'dev', 'eth0', 'label', 'eth0:8']);
    await lab!.exec('dir2', ['python3', '-c', gratuitousArpScript(topo.vip, 'eth0')]);
    const rc = await Promise.race([dl.exited, new Promise((r) => setTimeout(() => r('timeout'), 40_000))]);
    expect(rc).toBe(0);
    const out = dl.output();
    expect(out).toContain('rc=0');
    expect(out).toContain(want);
    await wrk.exited;
    expect(wrk.output()).toMatch(/requests in/);
    expect(wrk.output()).not.toMatch(/Socket errors/);
    const cb = await b!.call('get-counters', {});
    expect(cb.drop_tcp_no_conn ?? 0).toBe(0);
    // B forwarded the flow after the move (its ACKs, to the same RS).
    expect(cb.xmit).toBeGreaterThan(100);
    const after = conns((await b!.lvsadm(['-Lnc'])).stdout, vs()).find((c) => c.cport === before[0]!.cport);
    expect(after?.daddr).toBe(before[0]!.daddr);
  });

  it.skipIf(skip)('tshark decodes every sync datagram A put on the wire: none malformed', async () => {
    capture!.kill('SIGINT');
    await capture!.exited;
    const f = await lab!.exec('dir2', ['tshark', '-n', '-r', pcap(), '-d', 'udp.port==8848,ipvs', '-T', 'fields', '-E', 'separator=;',
      '-e', 'ip.src', '-e', 'ipvs.syncid', '-e', 'ipvs.version', '-e', 'ipvs.conncount', '-e', 'ipvs.size', '-e', 'udp.length', '-e', '_ws.malformed', '-e', '_ws.expert']);
    const rows = f.stdout.trim().split('\n').filter(Boolean).map((l) => l.split(';'));
    const fromA = rows.filter((r) => r[0] === topo.directors[0]!.ip);
    // sentByA was read just before the kill -9: A may have sent one more in between, never fewer.
    expect(fromA.length).toBeGreaterThanOrEqual(sentByA);
    expect(fromA.length).toBeLessThanOrEqual(sentByA + 2);
    for (const r of fromA) {
      expect(r[1]).toBe(SYNCID);
      expect(r[2]).toBe('1');
      expect(Number(r[4]) + 8).toBe(Number(r[5]));
      expect(r[6] ?? '').toBe('');
    }
    const v = await lab!.exec('dir2', ['tshark', '-n', '-r', pcap(), '-V']);
    expect(v.stdout).not.toMatch(/Malformed/i);
    const entries = fromA.reduce((n, r) => n + Number(r[3]), 0);
    console.log(`tshark: ${fromA.length} sync datagrams from A, ${entries} entries, 0 malformed`);
  });
});
