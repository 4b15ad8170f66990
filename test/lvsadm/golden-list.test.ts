// Golden listings: ServiceStatus in, ipvsadm's bytes out. Expected strings are
// literal copies of real ipvsadm output (facts file) or built here from the C
// printf formats with the small sprintf below, never from the formatter.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DestStatus, ServiceStatus } from '../../src/ipvs/types.js';
import { lvsadm, serveServices, zeroRates, zeroStats } from './helpers.js';
import { TestLvsd } from '../helpers/lvsd-server.js';
import { StaticResolver } from '../../src/lvsadm/names.js';

/** printf subset: %s %d %u %llu with flags '-' and width, and %%. */
function sprintf(fmt: string, ...args: Array<string | number>): string {
  let i = 0;
  return fmt.replace(/%(-?)(\d*)(s|d|llu|u|%)/g, (_m, minus: string, width: string, conv: string) => {
    if (conv === '%') return '%';
    const v = String(args[i++]);
    const w = width ? Number(width) : 0;
    if (v.length >= w) return v;
    return minus ? v + ' '.repeat(w - v.length) : ' '.repeat(w - v.length) + v;
  });
}

function dest(addr: string, port: number, over: Partial<DestStatus> = {}): DestStatus {
  return {
    addr, port, fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0,
    activeConns: 0, inactConns: 0, persistConns: 0, stats: zeroStats(), rates: zeroRates(), ...over,
  };
}

function svc(over: Partial<ServiceStatus> & Pick<ServiceStatus, 'key'>): ServiceStatus {
  return {
    scheduler: 'wlc', persistence: 0, netmask: '255.255.255.255', ops: false, schedFlags: [],
    stats: zeroStats(), rates: zeroRates(), dests: [], ...over,
  };
}

const HEADER = 'IP Virtual Server version 1.2.1 (size=4096)\n';
const TITLE = 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';

// The engine holds the services wherever it can; `fixture` serves statuses it cannot reach here (see serveServices).
let lvsd: TestLvsd;
let restore: (() => void) | undefined;
beforeAll(async () => { lvsd = await TestLvsd.start(); });
afterAll(async () => { await lvsd.destroy(); });
afterEach(() => { restore?.(); restore = undefined; });
const fixture = (services: ServiceStatus[]) => { restore?.(); restore = serveServices(lvsd, services); return services; };
const L = (args: string[], resolver?: StaticResolver) => lvsadm(args, { socket: lvsd.path, resolver });

describe('default listing', () => {
  it('reproduces the kube-proxy README example byte for byte', async () => {
    lvsd.services = [svc({
      key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.1', port: 443 }, scheduler: 'rr', persistence: 10800,
      dests: [dest('10.229.43.2', 6443, { fwd: 'masq' })],
    })];
    const r = await L(['-Ln']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
      'Prot LocalAddress:Port Scheduler Flags\n' +
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
      'TCP  10.0.0.1:443 rr persistent 10800\n' +
      '  -> 10.229.43.2:6443             Masq    1      0          0         \n');
  });

  it('uses get-info for the size and prints every suffix in order', async () => {
    const big = await TestLvsd.start({ engine: { connTableBits: 16 } });
    const undo = serveServices(big, [
      svc({
        key: { kind: 'addr', protocol: 'udp', addr: '10.0.0.2', port: 53 }, scheduler: 'sh',
        schedFlags: ['sh-port', 'sh-fallback'], persistence: 360, netmask: '255.255.255.0', pe: 'sip', ops: true,
        dests: [
          dest('10.1.0.9', 53, { fwd: 'tunnel', weight: 0, activeConns: 12, inactConns: 345 }),
          dest('10.1.0.1', 53, { fwd: 'local', weight: 65535 }),
        ],
      }),
      svc({ key: { kind: 'fwmark', fwmark: 7 }, scheduler: 'mh', schedFlags: ['mh-port'], dests: [dest('10.1.0.3', 0)] }),
    ]);
    const r = await lvsadm(['-L', '-n'], { socket: big.path });
    undo();
    await big.destroy();
    const row = (n: string, f: string, w: number, a: number, i: number) => sprintf('  -> %-28s %-7s %-6d %-10u %-10u\n', n, f, w, a, i);
    expect(r.stdout).toBe(
      'IP Virtual Server version 1.2.1 (size=65536)\n' + TITLE +
      // Address services have fwmark 0, so they sort before fwmark services.
      'UDP  10.0.0.2:53 sh (sh-fallback,sh-port) persistent 360 mask 255.255.255.0 pe sip ops\n' +
      row('10.1.0.1:53', 'Local', 65535, 0, 0) + row('10.1.0.9:53', 'Tunnel', 0, 12, 345) +
      'FWM  7 mh (mh-port)\n' + row('10.1.0.3:0', 'Route', 1, 0, 0));
  });

  it('lists one service without the header, and a missing one as "No such service" exit 1', async () => {
    lvsd.services = [svc({ key: { kind: 'addr', protocol: 'tcp', addr: '192.168.150.100', port: 80 }, scheduler: 'rr' })];
    const one = await L(['-L', '-n', '-t', '192.168.150.100:80']);
    expect(one.stdout).toBe(TITLE + 'TCP  192.168.150.100:80 rr\n');
    const missing = await L(['-L', '-n', '-t', '192.168.150.100:81']);
    expect(missing).toEqual({ code: 1, stdout: '', stderr: 'No such service\n' });
  });

  it('resolves names without -n and truncates to 33 / 28 columns', async () => {
    lvsd.services = [svc({
      key: { kind: 'addr', protocol: 'tcp', addr: '10.96.0.1', port: 443 }, scheduler: 'rr',
      dests: [dest('10.0.0.5', 443), dest('10.0.0.6', 8443)],
    }), svc({ key: { kind: 'addr', protocol: 'tcp', addr: '10.96.0.2', port: 80 }, scheduler: 'rr' })];
    const resolver = new StaticResolver('https\t443/tcp\nhttp\t80/tcp', {}, {
      '10.0.0.5': 'a-rather-long-real-server-name.example.org',
      '10.96.0.2': 'an-even-longer-virtual-service-name.example.org',
    });
    const r = await L(['-L'], resolver);
    expect(r.stdout).toBe(HEADER + TITLE +
      'TCP  10.96.0.1:https rr\n' +
      sprintf('  -> %-28s %-7s %-6d %-10u %-10u\n', 'a-rather-long-real-server-na', 'Route', 1, 0, 0) +
      sprintf('  -> %-28s %-7s %-6d %-10u %-10u\n', '10.0.0.6:8443', 'Route', 1, 0, 0) +
      // "%-4s %s" cut at 33 bytes leaves 28 of the name.
      'TCP  an-even-longer-virtual-servi rr\n');
  });
});

describe('--stats / --rate / --exact', () => {
  it('reproduces the stored --stats example', async () => {
    fixture([svc({
      key: { kind: 'fwmark', fwmark: 296 },
      stats: { conns: 105116, inpkts: 827026, outpkts: 774414, inbytes: 55260589, outbytes: 51457957 },
      dests: [dest('172.50.0.21', 0, { stats: { conns: 92972, inpkts: 729968, outpkts: 711766, inbytes: 49472933, outbytes: 47539945 } })],
    })]);
    const r = await L(['-L', '-n', '--stats']);
    expect(r.stdout).toBe(
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
      'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n' +
      '  -> RemoteAddress:Port\n' +
      'FWM  296                            105116   827026   774414 55260589 51457957\n' +
      '  -> 172.50.0.21:0                   92972   729968   711766 49472933 47539945\n');
  });

  it('reproduces the --rate example (real-server CPS/PPS are plain %8llu)', async () => {
    const rated = fixture([svc({
      key: { kind: 'addr', protocol: 'tcp', addr: '192.168.1.100', port: 80 },
      rates: { cps: 0, inpps: 1, outpps: 0, inbps: 33, outbps: 38 },
      dests: [dest('172.17.0.2', 80, { rates: { cps: 0, inpps: 0, outpps: 0, inbps: 6, outbps: 7 } })],
    })]);
    const r = await L(['-Ln', '--rate']);
    expect(r.stdout).toBe(
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
      'Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n' +
      '  -> RemoteAddress:Port\n' +
      'TCP  192.168.1.100:80                    0        1        0       33       38\n' +
      '  -> 172.17.0.2:80                       0        0        0        6        7\n');
    rated[0]!.dests[0]!.rates = { cps: 123456789, inpps: 5, outpps: 6, inbps: 250000000000, outbps: 7 };
    const big = await L(['-Ln', '--rate']);
    expect(big.stdout.split('\n')[4]).toBe(
      sprintf('  -> %-28s %8llu %8llu %8llu', '172.17.0.2:80', 123456789, 5, 6) + sprintf('%8lluG', 250) + sprintf('%9llu', 7));
  });

  it('prints print_largenum boundaries with K/M/G/T and exact widths', async () => {
    const values = [99999999, 100000000, 999999999, 1000000000, 99999999999, 100000000000, 99999999999999, 100000000000000];
    const mk = (v: number[]) => ({ conns: v[0]!, inpkts: v[1]!, outpkts: v[2]!, inbytes: v[3]!, outbytes: v[4]! });
    fixture([svc({
      key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.1', port: 80 },
      stats: mk(values.slice(0, 5)),
      dests: [dest('10.0.0.2', 80, { stats: mk(values.slice(3, 8)) })],
    })]);
    const r = await L(['-Ln', '--stats']);
    const lines = r.stdout.split('\n');
    expect(lines[3]).toBe(sprintf('%-33s%9llu%8lluK%8lluK%8lluM%8lluM', 'TCP  10.0.0.1:80', 99999999, 100000, 999999, 1000, 99999));
    expect(lines[4]).toBe(sprintf('  -> %-28s%8lluM%8lluM%8lluG%8lluG%8lluT', '10.0.0.2:80', 1000, 99999, 100, 99999, 100));
    expect(lines[3]).toBe('TCP  10.0.0.1:80                  99999999  100000K  999999K    1000M   99999M');
    const x = await L(['-Ln', '--stats', '--exact']);
    const xl = x.stdout.split('\n');
    // %*llu with width 9 up to 8 digits, else len+1.
    expect(xl[3]).toBe(sprintf('%-33s', 'TCP  10.0.0.1:80') + ' 99999999' + ' 100000000' + ' 999999999' + ' 1000000000' + ' 99999999999');
    expect(xl[4]).toBe(sprintf('  -> %-28s', '10.0.0.2:80') + ' 1000000000 99999999999 100000000000 99999999999999 100000000000000');
  });
});

describe('--thresholds / --persistent-conn / --tun-info', () => {
  const setup = () => {
    fixture([svc({
      key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.1', port: 80 }, scheduler: 'wrr', persistence: 60,
      dests: [
        dest('10.0.0.2', 80, { fwd: 'tunnel', tunType: 'gue', tunPort: 6080, tunCsum: 'remcsum', uThreshold: 100, lThreshold: 10, activeConns: 3, inactConns: 4, persistConns: 5, weight: 7 }),
        dest('10.0.0.3', 80, { fwd: 'tunnel', tunType: 'gre', tunCsum: 'csum' }),
        dest('10.0.0.4', 80, { fwd: 'tunnel', tunType: 'ipip' }),
        dest('10.0.0.5', 8080, { fwd: 'masq' }),
      ],
    })]);
  };
  it('--thresholds', async () => {
    setup();
    const r = await L(['-Ln', '--thresholds']);
    expect(r.stdout).toBe(HEADER +
      sprintf('%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n', 'Prot LocalAddress:Port', 'Uthreshold', 'Lthreshold', 'ActiveConn', 'InActConn') +
      'TCP  10.0.0.1:80 wrr persistent 60\n' +
      sprintf('  -> %-28s %-10u %-10u %-10u %-10u\n', '10.0.0.2:80', 100, 10, 3, 4) +
      sprintf('  -> %-28s %-10u %-10u %-10u %-10u\n', '10.0.0.3:80', 0, 0, 0, 0) +
      sprintf('  -> %-28s %-10u %-10u %-10u %-10u\n', '10.0.0.4:80', 0, 0, 0, 0) +
      sprintf('  -> %-28s %-10u %-10u %-10u %-10u\n', '10.0.0.5:8080', 0, 0, 0, 0));
  });
  it('--persistent-conn', async () => {
    setup();
    const r = await L(['-Ln', '--persistent-conn']);
    expect(r.stdout).toBe(HEADER +
      sprintf('%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n', 'Prot LocalAddress:Port', 'Weight', 'PersistConn', 'ActiveConn', 'InActConn') +
      'TCP  10.0.0.1:80 wrr persistent 60\n' +
      sprintf('  -> %-28s %-9u %-11u %-10u %-10u\n', '10.0.0.2:80', 7, 5, 3, 4) +
      sprintf('  -> %-28s %-9u %-11u %-10u %-10u\n', '10.0.0.3:80', 1, 0, 0, 0) +
      sprintf('  -> %-28s %-9u %-11u %-10u %-10u\n', '10.0.0.4:80', 1, 0, 0, 0) +
      sprintf('  -> %-28s %-9u %-11u %-10u %-10u\n', '10.0.0.5:8080', 1, 0, 0, 0));
  });
  it('--tun-info', async () => {
    setup();
    const r = await L(['-Ln', '--tun-info']);
    const row = (n: string, f: string, t: string, w: number) => sprintf('  -> %-28s %-7s %-13s %-6d %-10u %-10u\n', n, f, t, w, 0, 0);
    expect(r.stdout).toBe(HEADER +
      'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n' +
      'TCP  10.0.0.1:80 wrr persistent 60\n' +
      sprintf('  -> %-28s %-7s %-13s %-6d %-10u %-10u\n', '10.0.0.2:80', 'Tunnel', 'gue:6080:r+c', 7, 3, 4) +
      row('10.0.0.3:80', 'Tunnel', 'gre:+c', 1) + row('10.0.0.4:80', 'Tunnel', 'ipip', 1) + row('10.0.0.5:8080', 'Masq', 'n/a', 1));
  });
});

describe('sort order', () => {
  it('sorts services by fwmark, protocol, address (with the int wrap), port; dests by address, port', async () => {
    fixture([
      svc({ key: { kind: 'addr', protocol: 'udp', addr: '10.0.0.1', port: 53 } }),
      svc({ key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.1', port: 443 } }),
      svc({ key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.1', port: 80 } }),
      svc({ key: { kind: 'fwmark', fwmark: 2 } }),
      svc({ key: { kind: 'fwmark', fwmark: 1 } }),
      svc({ key: { kind: 'addr', protocol: 'sctp', addr: '9.0.0.1', port: 80 } }),
    ]);
    const r = await L(['-Ln']);
    const names = r.stdout.split('\n').slice(3).filter((l) => l && !l.startsWith('  ->'));
    expect(names).toEqual([
      'TCP  10.0.0.1:80 wlc', 'TCP  10.0.0.1:443 wlc', 'UDP  10.0.0.1:53 wlc', 'SCTP 9.0.0.1:80 wlc', 'FWM  1 wlc', 'FWM  2 wlc',
    ]);
  });

  it('orders addresses more than 2^31 apart the way ipvsadm does (wrapped subtraction)', async () => {
    // 200.0.0.1 - 10.0.0.1 = 0xBE000000 > INT_MAX: read as negative, so 200.x sorts first.
    lvsd.services = [
      svc({ key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.1', port: 80 }, dests: [dest('10.0.0.9', 80), dest('200.0.0.9', 80), dest('10.0.0.8', 80)] }),
      svc({ key: { kind: 'addr', protocol: 'tcp', addr: '200.0.0.1', port: 80 } }),
    ];
    const r = await L(['-Ln']);
    const lines = r.stdout.split('\n').slice(3).filter(Boolean).map((l) => l.trim().split(/\s+/).slice(0, 2).join(' '));
    expect(lines).toEqual([
      'TCP 200.0.0.1:80',
      'TCP 10.0.0.1:80',
      // merge sort of [10.0.0.9, 200.0.0.9, 10.0.0.8]: [10.0.0.9] + sort([200.0.0.9, 10.0.0.8]) = [200.0.0.9, 10.0.0.8] (200 < 10 by the wrap),
      // then merge: 10.0.0.9 vs 200.0.0.9 -> 200 first; 10.0.0.9 vs 10.0.0.8 -> 10.0.0.8 first.
      '-> 200.0.0.9:80', '-> 10.0.0.8:80', '-> 10.0.0.9:80',
    ]);
    const unsorted = await L(['-Ln', '--nosort']);
    expect(unsorted.stdout.split('\n')[3]).toBe('TCP  10.0.0.1:80 wlc');
    expect(unsorted.stdout.split('\n')[4]!.startsWith('  -> 10.0.0.9:80 ')).toBe(true);
  });
});

describe('fwmark >= 2^31', () => {
  it('prints as a negative %d as ipvsadm 1.31 does', async () => {
    lvsd.services = [svc({ key: { kind: 'fwmark', fwmark: 2882430849 } })];
    const r = await L(['-Ln']);
    expect(r.stdout).toBe(HEADER + TITLE + 'FWM  -1412536447 wlc\n');
    const s = await L(['-Sn']);
    expect(s.stdout).toBe('-A -f -1412536447 -s wlc\n');
  });
});
