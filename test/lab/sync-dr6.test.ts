// Stateful failover by connection sync for IPv6 conns, DR: directors A
// (master) and B (backup) with the same IPv6 service; IPv6 conns made
// through A reach B as ip_vs_sync_v6 entries (whole addresses) in the same
// messages as IPv4 ones, sent to an IPv6 group (--mcast-group ff02::8848,
// IPVS's mcast_af 6: UDP/IPv6 from A's link-local address), and land in B's table; a
// rate-limited IPv6 download through A survives A's lvsd being killed -9 and
// the IPv6 VIP moving to B (announced with unsolicited neighbour
// advertisements, as VRRPv3 over IPv6 does), byte for byte; tshark decodes
// every sync datagram A sent, the IPv6 entries' addresses included.
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, waitFor, type NsProcess } from '../../lab/netns.js';
import { buildLan, type Topology } from '../../lab/topology.js';
import { curlMany, removeLabSockets, startLvsd, type Lvsd } from '../../lab/director.js';
import { ROOT } from '../../lab/paths.js';
import { prerequisites } from './forward-suite.js';
import { bigBodySha256 } from '../../lab/rs/big-body.js';

const SYNCID = '61';
const GROUP6 = 'ff02::8848';
interface Conn { cport: string; state: string; caddr: string; daddr: string }
/** `-Lnc` lines of one virtual service: "TCP 14:59  ESTABLISHED [c]:port [vip]:80 [rs]:80". */
function conns(lnc: string, vs: string): Conn[] {
  const out: Conn[] = [];
  for (const l of lnc.split('\n')) {
    const p = l.trim().split(/\s+/);
    if (p[0] !== 'TCP' || p[4] !== vs) continue;
    const m = /^(.*):(\d+)$/.exec(p[3]!)!;
    out.push({ state: p[2]!, caddr: m[1]!, cport: m[2]!, daddr: p[5]! });
  }
  return out.sort((a, b) => a.cport.localeCompare(b.cport));
}

describe('connection sync of IPv6 conns: DR master/backup pair', async () => {
  const missing = await prerequisites(['tshark', 'sha256sum']);
  const skip = missing.length > 0;
  let lab: Lab | undefined;
  let topo: Topology;
  let a: Lvsd | undefined;
  let b: Lvsd | undefined;
  const vs = () => `[${topo.vip6}]:80`;
  const url = () => `http://[${topo.vip6}]/`;
  let capture: NsProcess | undefined;
  const pcap = () => `/tmp/${lab!.prefix}sync6.pcap`;
  let sentByA = 0;
  let aLinkLocal = '';

  beforeAll(async () => {
    if (skip) return;
    lab = new Lab('s6');
    topo = await buildLan(lab, 'dr', { directors: 2, vipOnDirector: false, ipv6: true });
    // A small client receive buffer (IPv6 TCP shares the ipv4 sysctl): the RS keeps sending through the whole download.
    await lab.sysctl('client', 'net.ipv4.tcp_rmem', '4096 32768 65536');
    await lab.exec('dir', ['ip', '-6', 'addr', 'add', `${topo.vip6}/64`, 'dev', 'eth0', 'nodad']);
    a = await startLvsd(lab, 'dir', { interfaces: ['eth0'] });
    b = await startLvsd(lab, 'dir2', { interfaces: ['eth0'] });
    for (const d of [a, b]) {
      await d.lvsadm(['-A', '-t', vs(), '-s', 'rr']);
      for (const r of topo.rs) await d.lvsadm(['-a', '-t', vs(), '-r', `[${r.ip6}]:80`, '-g']);
      // An IPv4 service beside it: its conns share the sync messages with the IPv6 ones.
      await d.lvsadm(['-A', '-t', `${topo.vip}:80`, '-s', 'rr']);
      for (const r of topo.rs) await d.lvsadm(['-a', '-t', `${topo.vip}:80`, '-r', `${r.ip}:80`, '-g']);
    }
    await lab.exec('dir', ['ip', 'addr', 'add', `${topo.vip}/24`, 'dev', 'eth0', 'label', 'eth0:8']);
    await a.lvsadm(['--start-daemon', 'master', '--mcast-interface', 'eth0', '--syncid', SYNCID, '--mcast-group', GROUP6]);
    await b.lvsadm(['--start-daemon', 'backup', '--mcast-interface', 'eth0', '--syncid', SYNCID, '--mcast-group', GROUP6]);
    expect((await a.lvsadm(['-L', '--daemon'])).stdout).toContain(`group=${GROUP6}`);
    // Where A's datagrams come from: its link-local address (DAD may still be running on a fresh veth).
    aLinkLocal = await waitFor(async () => (JSON.parse((await lab!.exec('dir', ['ip', '-6', '-j', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'])).stdout) as { addr_info?: { local?: string }[] }[])
      .flatMap((x) => x.addr_info ?? []).map((x) => x.local).find((x) => x?.startsWith('fe80:')), 5000, 50, "A's link-local address") as string;
  });
  afterAll(async () => {
    try { await a?.stop(); } catch { /* killed */ }
    try { await b?.stop(); } catch { /* gone */ }
    if (lab) { await lab.destroy(); removeLabSockets(lab); rmSync(pcap(), { force: true }); }
  });
  const diag = () => onTestFailed(async () => {
    for (const d of [a, b]) {
      if (!d) continue;
      const c = await d.call('get-counters', {}).catch((e) => String(e));
      console.error(`${d.host} counters: ${JSON.stringify(typeof c === 'string' ? c : Object.fromEntries(Object.entries(c).filter(([k, v]) => v && /sync|drop/.test(k))))}`);
      console.error(`${d.host} output: ${d.proc.output().slice(-1500)}`);
    }
  });

  it.skipIf(skip)("IPv6 conns made through A appear in B's -Lnc with their whole addresses and state, beside IPv4 ones", async () => {
    diag();
    capture = lab!.spawn('dir2', ['tshark', '-q', '-n', '-i', 'eth0', '-f', 'udp port 8848', '-w', pcap()]);
    await waitFor(() => /Capturing on/.test(capture!.output()), 10_000, 50, 'tshark to capture');
    expect(await curlMany(lab!, 'client', url(), 6, { extra: '-6 -g' })).toHaveLength(6);
    expect(await curlMany(lab!, 'client', `http://${topo.vip}/`, 2)).toHaveLength(2);
    // The master sends a partly filled buffer within 2 s (IPVS_SYNC_FLUSH_TIME).
    const seen = await waitFor(async () => {
      const onA = conns((await a!.lvsadm(['-Lnc'])).stdout, vs());
      const onB = conns((await b!.lvsadm(['-Lnc'])).stdout, vs());
      const v4OnB = conns((await b!.lvsadm(['-Lnc'])).stdout, `${topo.vip}:80`);
      return onB.length >= 6 && v4OnB.length >= 2 ? { onA, onB } : undefined;
    }, 8000, 200, "B's table to hold A's IPv6 and IPv4 connections") as { onA: Conn[]; onB: Conn[] };
    const key = (c: Conn) => `${c.caddr}:${c.cport}>${c.daddr} ${c.state}`;
    expect(seen.onB.map(key)).toEqual(seen.onA.map(key));
    expect(seen.onB[0]!.caddr).toBe(`[${topo.client.ip6}]`);
    expect(topo.rs.map((r) => `[${r.ip6}]:80`)).toContain(seen.onB[0]!.daddr);
    const cb = await b!.call('get-counters', {});
    expect(cb.sync_in_created).toBeGreaterThanOrEqual(8);
    expect(cb.sync_in_no_service ?? 0).toBe(0);
    expect(cb.sync_entries_skipped ?? 0).toBe(0);
  });

  it.skipIf(skip)("an IPv6 download through A survives A's kill -9 and the VIP's move to B, byte for byte", async () => {
    diag();
    const size = 12 * 1024 * 1024; // at 1 MB/s still running at the kill, however curl bursts (6 MB once finished with 19 ACKs left for B)
    const want = bigBodySha256(size);
    const out = `/tmp/${lab!.prefix}big6`;
    const dl = lab!.spawn('client', ['sh', '-c',
      `curl -6 -g -s -m 60 --limit-rate 1M -o ${out} '${url()}big?size=${size}'; echo "rc=$?"; sha256sum ${out}; rm -f ${out}`]);
    await new Promise((r) => setTimeout(r, 300));
    const before = conns((await a!.lvsadm(['-Lnc'])).stdout, vs()).filter((c) => c.state === 'ESTABLISHED');
    expect(before.length).toBe(1);
    // Long enough for the conn to be synced (3rd packet) and the buffer flushed (2 s).
    await waitFor(async () => conns((await b!.lvsadm(['-Lnc'])).stdout, vs())
      .some((c) => c.cport === before[0]!.cport && c.state === 'ESTABLISHED'), 5000, 100, 'B to hold the download');
    expect(dl.output(), 'the download is still running').not.toContain('rc=');
    await new Promise((r) => setTimeout(r, 300));
    sentByA = (await a!.call('get-counters', {})).sync_msgs_sent!;
    await a!.kill9();
    await lab!.exec('dir', ['ip', '-6', 'addr', 'del', `${topo.vip6}/64`, 'dev', 'eth0']);
    await lab!.exec('dir2', ['ip', '-6', 'addr', 'add', `${topo.vip6}/64`, 'dev', 'eth0', 'nodad']);
    // What a VRRPv3 master does on taking an IPv6 VIP: unsolicited NAs (the project's own sender, src/vrrp/ndisc.ts).
    await lab!.exec('dir2', ['node', '--input-type=module', '-e',
      `const m = await import(${JSON.stringify(join(ROOT, 'dist', 'src', 'vrrp', 'ndisc.js'))}); m.sendUnsolicitedNa('eth0', ${JSON.stringify(topo.vip6)}, 3);`]);
    const rc = await Promise.race([dl.exited, new Promise((r) => setTimeout(() => r('timeout'), 40_000))]);
    expect(rc).toBe(0);
    const text = dl.output();
    expect(text).toContain('rc=0');
    expect(text).toContain(want);
    const cb = await b!.call('get-counters', {});
    // B never saw the flow start; without the synced conn its mid-flow ACKs would be drop_tcp_no_conn.
    expect(cb.drop_tcp_no_conn ?? 0).toBe(0);
    // And forwarded the rest of it: dozens of the client's ACKs at least (how many depends on its ACK coalescing),
    // itself or, once the synced conn had shown its 8 packets on B, by its fast path.
    expect((cb.xmit ?? 0) + (cb.fast_packets ?? 0)).toBeGreaterThan(30);
    const after = conns((await b!.lvsadm(['-Lnc'])).stdout, vs()).find((c) => c.cport === before[0]!.cport);
    expect(after?.daddr).toBe(before[0]!.daddr);
  });

  it.skipIf(skip)('tshark decodes every sync datagram A put on the wire: none malformed, IPv6 entries with their addresses', async () => {
    capture!.kill('SIGINT');
    await capture!.exited;
    const f = await lab!.exec('dir2', ['tshark', '-n', '-r', pcap(), '-d', 'udp.port==8848,ipvs', '-T', 'fields', '-E', 'separator=;', '-E', 'aggregator=,',
      '-e', 'ipv6.src', '-e', 'ipvs.syncid', '-e', 'ipvs.conncount', '-e', 'ipvs.size', '-e', 'udp.length', '-e', '_ws.malformed',
      '-e', 'ipvs.type', '-e', 'ipvs.caddr6', '-e', 'ipvs.vaddr6', '-e', 'ipvs.daddr6', '-e', 'ipv6.dst']);
    const rows = f.stdout.trim().split('\n').filter(Boolean).map((l) => l.split(';'));
    const fromA = rows.filter((r) => r[0] === aLinkLocal);
    for (const r of fromA) expect(r[10]).toBe(GROUP6);
    // sentByA was read just before the kill -9: A may have sent one more in between, never fewer.
    expect(fromA.length).toBeGreaterThanOrEqual(sentByA);
    expect(fromA.length).toBeLessThanOrEqual(sentByA + 2);
    let v6 = 0;
    for (const r of fromA) {
      expect(r[1]).toBe(SYNCID);
      expect(Number(r[3]) + 8).toBe(Number(r[4]));
      expect(r[5] ?? '').toBe('');
      const types = r[6]!.split(',').map(Number);
      expect(types.length).toBe(Number(r[2]));
      const n6 = types.filter((t) => t === 1).length;
      v6 += n6;
      const c6 = r[7] ? r[7].split(',') : [];
      const vv6 = r[8] ? r[8].split(',') : [];
      const d6 = r[9] ? r[9].split(',') : [];
      expect([c6.length, vv6.length, d6.length]).toEqual([n6, n6, n6]);
      for (const c of c6) expect(c).toBe(topo.client.ip6);
      for (const v of vv6) expect(v).toBe(topo.vip6);
      for (const d of d6) expect(topo.rs.map((x) => x.ip6)).toContain(d);
    }
    expect(v6).toBeGreaterThanOrEqual(7);
    const text = await lab!.exec('dir2', ['tshark', '-n', '-r', pcap(), '-V']);
    expect(text.stdout).not.toMatch(/Malformed/i);
    console.log(`tshark: ${fromA.length} sync datagrams from A, ${v6} IPv6 entries, 0 malformed`);
  });
});
