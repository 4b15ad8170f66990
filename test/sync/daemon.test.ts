// The sync daemons over a real socket: a master and a backup on the loopback
// interface (both in one process, two engines), start/stop/list semantics
// as ip_vs_sync.c's start_sync_thread/stop_sync_thread, and the drop counters.
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { SyncDaemons } from '../../src/sync/daemon.js';
import { ControlError } from '../../src/ipvs/errors.js';
import { CLIENT, VIP, dest, engine, send, svc, tcp, tcpKey } from '../ipvs/helpers.js';
import { VIP6, buildTcp6Frame } from '../packet/build/ipv6.js';

const log = { info: () => {}, warn: () => {} };
const open: SyncDaemons[] = [];
afterEach(async () => { for (const d of open.splice(0)) await d.close(); });

function director() {
  const e = engine();
  e.addService(svc(tcpKey(80)));
  e.addDest(tcpKey(80), dest('10.0.1.11', 80));
  e.addDest(tcpKey(80), dest('10.0.1.12', 80));
  const k6 = { kind: 'addr' as const, protocol: 'tcp' as const, addr: VIP6, port: 80 };
  e.addService(svc(k6));
  e.addDest(k6, dest('2001:db8:1::11', 80));
  const d = new SyncDaemons({ engine: e, now: () => performance.now(), log, flushMs: 50, checkMs: 10 });
  open.push(d);
  return { e, d };
}

const port = () => 20000 + Math.floor(Math.random() * 20000);
const until = async (f: () => boolean, ms = 3000) => {
  const t0 = Date.now();
  while (!f()) { if (Date.now() - t0 > ms) throw new Error('timed out'); await new Promise((r) => setTimeout(r, 10)); }
};

describe('SyncDaemons', () => {
  it('lists the effective config as the kernel reports it; EEXIST twice, ESRCH when stopped, ENODEV for no interface', async () => {
    const { d } = director();
    await d.start({ state: 'master', mcastIfn: 'lo', syncid: 7 });
    expect(d.list()).toEqual([{ state: 'master', mcastIfn: 'lo', syncid: 7, maxlen: 1472, group: '224.0.0.81', port: 8848, ttl: 1 }]);
    await expect(d.start({ state: 'master', mcastIfn: 'lo', syncid: 7 })).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(d.start({ state: 'backup', mcastIfn: 'nosuchif0', syncid: 7 })).rejects.toBeInstanceOf(ControlError);
    await expect(d.start({ state: 'backup', mcastIfn: 'nosuchif0', syncid: 7 })).rejects.toMatchObject({ code: 'ENODEV' });
    await d.stop('master');
    await expect(d.stop('master')).rejects.toMatchObject({ code: 'ESRCH' });
    await expect(d.stop('backup')).rejects.toMatchObject({ code: 'ESRCH' });
    expect(d.list()).toEqual([]);
  });

  it('master → backup over multicast: the backup gets the conn; foreign datagrams are counted and dropped', async () => {
    const p = port();
    const a = director();
    const b = director();
    await b.d.start({ state: 'backup', mcastIfn: 'lo', syncid: 9, port: p });
    await a.d.start({ state: 'master', mcastIfn: 'lo', syncid: 9, port: p });
    const f = (flags: string) => tcp({ src: CLIENT, dst: VIP, srcPort: 40001, dstPort: 80, flags });
    send(a.e, f('S')); send(a.e, f('A')); send(a.e, f('A'));
    expect(a.e.counters().sync_conns_queued).toBe(1);
    await until(() => a.d.counters().sync_msgs_sent === 1);
    await until(() => b.d.counters().sync_msgs_received >= 1);
    expect(b.e.listConns(0).map((c) => [c.cport, c.state, c.daddr])).toEqual([[40001, 'ESTABLISHED', '10.0.1.11']]);
    expect(b.e.counters().sync_in_created).toBe(1);
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    s.setMulticastInterface('127.0.0.1');
    const junk = [Buffer.from([1, 2]), Buffer.from([0, 8, 0, 8, 0, 1, 0, 0]), Buffer.from([0, 9, 0, 10, 0, 1, 0, 0, 0])];
    for (const j of junk) await new Promise<void>((r) => s.send(j, p, '224.0.0.81', () => r()));
    s.close();
    await until(() => b.d.counters().sync_msgs_received >= 4);
    const c = b.d.counters();
    expect([c.sync_msgs_dropped_short, c.sync_msgs_dropped_other_syncid, c.sync_msgs_dropped_bad_size]).toEqual([1, 1, 1]);
  });

  it('an IPv6 conn and an IPv4 one go out in one datagram and both land on the backup', async () => {
    const p = port();
    const a = director();
    const b = director();
    await b.d.start({ state: 'backup', mcastIfn: 'lo', syncid: 3, port: p });
    await a.d.start({ state: 'master', mcastIfn: 'lo', syncid: 3, port: p });
    for (const fl of ['S', 'A', 'A']) send(a.e, buildTcp6Frame({ src: '2001:db8::7', dst: VIP6, srcPort: 40007, dstPort: 80, flags: fl }));
    for (const fl of ['S', 'A', 'A']) send(a.e, tcp({ src: CLIENT, dst: VIP, srcPort: 40008, dstPort: 80, flags: fl }));
    await until(() => a.d.counters().sync_msgs_sent === 1);
    expect(a.d.counters()).toMatchObject({ sync_conns_sent: 2, sync_bytes_sent: 8 + 72 + 36 });
    await until(() => b.d.counters().sync_conns_received === 2);
    expect(b.e.listConns(0).map((c) => `${c.caddr}:${c.cport} ${c.daddr} ${c.state}`).sort())
      .toEqual([`${CLIENT}:40008 10.0.1.11 ESTABLISHED`, '2001:db8::7:40007 2001:db8:1::11 ESTABLISHED']);
    expect(b.e.counters().sync_in_created).toBe(2);
  });
  it('an IPv6 group (mcast_af 6): maxlen leaves room for IPv6 + UDP; a group that is not multicast is EINVAL (the round trip: test/lab/sync-dr6)', async () => {
    const a = director();
    await expect(a.d.start({ state: 'master', mcastIfn: 'lo', syncid: 4, group: '2001:db8::1' })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(a.d.start({ state: 'master', mcastIfn: 'lo', syncid: 4, group: '10.1.1.1' })).rejects.toMatchObject({ code: 'EINVAL' });
    await a.d.start({ state: 'master', mcastIfn: 'lo', syncid: 4, group: 'ff02::8848' });
    await a.d.start({ state: 'backup', mcastIfn: 'lo', syncid: 4, group: 'ff02::8848', maxlen: 1500 });
    expect(a.d.list()).toEqual([
      { state: 'master', mcastIfn: 'lo', syncid: 4, maxlen: 1452, group: 'ff02::8848', port: 8848, ttl: 1 },
      { state: 'backup', mcastIfn: 'lo', syncid: 4, maxlen: 1500, group: 'ff02::8848', port: 8848, ttl: 1 },
    ]);
  });
});
