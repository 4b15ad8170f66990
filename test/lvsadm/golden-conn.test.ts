// -Lc, --timeout and --daemon listings, byte for byte.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnEntry, SyncDaemonConfig } from '../../src/ipvs/types.js';
import { lvsadm, serveConns } from './helpers.js';
import { TestLvsd } from '../helpers/lvsd-server.js';
import { StaticResolver } from '../../src/lvsadm/names.js';

// Connections are formatter fixtures (serveConns): a unit test cannot hold real ones mid-countdown.
let lvsd: TestLvsd;
let daemons: SyncDaemonConfig[];
beforeAll(async () => { lvsd = await TestLvsd.start(); daemons = lvsd.syncDaemons(); });
afterAll(async () => { await lvsd.destroy(); });
const L = (args: string[], resolver?: StaticResolver) => lvsadm(args, { socket: lvsd.path, resolver });

function conn(over: Partial<ConnEntry>): ConnEntry {
  return {
    protocol: 'tcp', caddr: '192.168.175.30', cport: 41724, vaddr: '192.168.175.100', vport: 80,
    daddr: '192.168.175.102', dport: 80, state: 'ESTABLISHED', expiresMs: 0, fwd: 'route', template: false, ...over,
  };
}

describe('-Lnc', () => {
  it('reproduces the stored example, persistence template included', async () => {
    serveConns(lvsd, [
      conn({ state: 'FIN_WAIT', expiresMs: 115_999 }),
      conn({ state: 'NONE', cport: 0, expiresMs: 296_000, template: true }),
    ]);
    const r = await L(['-Lnc']);
    expect(r).toEqual({ code: 0, stderr: '', stdout:
      'IPVS connection entries\n' +
      'pro expire state       source             virtual            destination\n' +
      'TCP 01:55  FIN_WAIT    192.168.175.30:41724 192.168.175.100:80 192.168.175.102:80\n' +
      'TCP 04:56  NONE        192.168.175.30:0   192.168.175.100:80 192.168.175.102:80\n' });
  });

  it('mm:ss keeps counting minutes past 99, names UDP/SCTP/IP rows', async () => {
    serveConns(lvsd, [
      conn({ protocol: 'udp', state: 'UDP', caddr: '10.0.0.1', cport: 5353, vaddr: '10.0.0.2', vport: 53, daddr: '10.0.0.3', dport: 53, expiresMs: 6_000_000 }),
      conn({ protocol: 'ip', state: 'NONE', caddr: '10.0.0.1', cport: 0, vaddr: '0.0.0.1', vport: 0, daddr: '10.0.0.3', dport: 0, expiresMs: 999 }),
      conn({ protocol: 'sctp', state: 'ESTABLISHED', caddr: '10.0.0.1', cport: 1, vaddr: '10.0.0.2', vport: 2, daddr: '10.0.0.3', dport: 3, expiresMs: 61_000 }),
    ]);
    const r = await L(['-l', '-n', '-c']);
    expect(r.stdout).toBe(
      'IPVS connection entries\n' +
      'pro expire state       source             virtual            destination\n' +
      'UDP 100:00 UDP         10.0.0.1:5353      10.0.0.2:53        10.0.0.3:53\n' +
      'IP  00:00  NONE        10.0.0.1:0         0.0.0.1:0          10.0.0.3:0\n' +
      'SCTP 01:01  ESTABLISHED 10.0.0.1:1         10.0.0.2:2         10.0.0.3:3\n');
  });

  it('--persistent-conn adds pe columns only for rows that carry pe data', async () => {
    serveConns(lvsd, [
      conn({ protocol: 'udp', state: 'UDP', caddr: '10.0.0.1', cport: 5060, vaddr: '10.0.0.2', vport: 5060, daddr: '10.0.0.3', dport: 5060, expiresMs: 30_000, peName: 'sip', peData: 'a84b4c76e66710' }),
      conn({ caddr: '10.0.0.1', cport: 9, vaddr: '10.0.0.2', vport: 80, daddr: '10.0.0.3', dport: 80, expiresMs: 1_000 }),
    ]);
    const r = await L(['-Lnc', '--persistent-conn']);
    expect(r.stdout).toBe(
      'IPVS connection entries\n' +
      'pro expire state       source             virtual            destination        pe name          pe_data\n' +
      'UDP 00:30  UDP         10.0.0.1:5060      10.0.0.2:5060      10.0.0.3:5060    sip                a84b4c76e66710\n' +
      'TCP 00:01  ESTABLISHED 10.0.0.1:9         10.0.0.2:80        10.0.0.3:80\n');
  });

  it('resolves service and host names without -n', async () => {
    serveConns(lvsd, [conn({ caddr: '127.0.0.1', cport: 22, vaddr: '10.0.0.2', vport: 80, daddr: '10.0.0.3', dport: 8080, expiresMs: 900_000 })]);
    const r = await L(['-Lc'], new StaticResolver('ssh 22/tcp\nhttp 80/tcp', {}, { '127.0.0.1': 'localhost' }));
    expect(r.stdout.split('\n')[2]).toBe('TCP 15:00  ESTABLISHED localhost:ssh      10.0.0.2:http      10.0.0.3:8080');
  });
});

describe('--timeout and --daemon', () => {
  it('--timeout', async () => {
    lvsd.engine.setTimeouts({ tcp: 900, tcpfin: 120, udp: 300 });
    expect(await L(['-L', '--timeout'])).toEqual({ code: 0, stderr: '', stdout: 'Timeout (tcp tcpfin udp): 900 120 300\n' });
  });
  it('--daemon prints master then backup with only the fields set', async () => {
    daemons.push(
      { state: 'backup', mcastIfn: 'eth1', syncid: 3, maxlen: 1472, group: '224.0.0.81', port: 8848, ttl: 1 },
      { state: 'master', mcastIfn: 'eth0', syncid: 0 },
    );
    expect((await L(['-L', '--daemon'])).stdout).toBe(
      'master sync daemon (mcast=eth0, syncid=0)\n' +
      'backup sync daemon (mcast=eth1, syncid=3, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n');
    daemons.length = 0;
    expect(await L(['-L', '--daemon'])).toEqual({ code: 0, stderr: '', stdout: '' });
  });
});
