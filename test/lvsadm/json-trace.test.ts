// --json documents (schema in src/lvsadm/json.ts) and --trace.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConnEntry, ServiceStatus, SyncDaemonConfig } from '../../src/ipvs/types.js';
import { lvsadm, serveConns, serveServices, zeroRates, zeroStats } from './helpers.js';
import { TestLvsd } from '../helpers/lvsd-server.js';

// SERVICES and the connection are formatter fixtures (serveServices/serveConns): pe sip and GRE tunnels are refused by lvsd.
let lvsd: TestLvsd;
let daemons: SyncDaemonConfig[];
beforeAll(async () => { lvsd = await TestLvsd.start(); daemons = lvsd.syncDaemons(); serveServices(lvsd, SERVICES); });
afterAll(async () => { await lvsd.destroy(); });
const L = (args: string[]) => { lvsd.requests.length = 0; return lvsadm(args, { socket: lvsd.path }); };

const dest = (addr: string, port: number, extra: object = {}) => ({
  addr, port, fwd: 'masq' as const, weight: 1, uThreshold: 0, lThreshold: 0,
  activeConns: 1, inactConns: 2, persistConns: 3, stats: zeroStats(), rates: zeroRates(), ...extra,
});
const SERVICES: ServiceStatus[] = [
  { key: { kind: 'fwmark', fwmark: 5 }, scheduler: 'rr', persistence: 0, netmask: '255.255.255.255', ops: false, schedFlags: [],
    stats: zeroStats(), rates: zeroRates(), dests: [] },
  { key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.1', port: 80 }, scheduler: 'sh', persistence: 30, netmask: '255.255.255.0',
    ops: false, schedFlags: ['sh-port'], pe: 'sip', stats: { conns: 1, inpkts: 2, outpkts: 3, inbytes: 4, outbytes: 5 }, rates: zeroRates(),
    dests: [dest('10.0.0.3', 80), dest('10.0.0.2', 80, { fwd: 'tunnel', tunType: 'gre', tunCsum: 'csum' })] },
];

describe('--json', () => {
  it('full listing: engine info and services in listing order, dests sorted', async () => {
    const r = await L(['-L', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.schema).toBe('lvsadm/1');
    expect(doc.version).toBe('1.2.1');
    expect(doc.connTableSize).toBe(4096);
    expect(doc.services.map((s: ServiceStatus) => s.key)).toEqual([SERVICES[1]!.key, SERVICES[0]!.key]);
    expect(doc.services[0]).toEqual({
      key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.1', port: 80 }, scheduler: 'sh', persistence: 30, netmask: '255.255.255.0',
      ops: false, schedFlags: ['sh-port'], pe: 'sip', stats: { conns: 1, inpkts: 2, outpkts: 3, inbytes: 4, outbytes: 5 }, rates: zeroRates(),
      dests: [
        { addr: '10.0.0.2', port: 80, fwd: 'tunnel', weight: 1, uThreshold: 0, lThreshold: 0, activeConns: 1, inactConns: 2, persistConns: 3, tunType: 'gre', tunCsum: 'csum', stats: zeroStats(), rates: zeroRates() },
        { addr: '10.0.0.3', port: 80, fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0, activeConns: 1, inactConns: 2, persistConns: 3, stats: zeroStats(), rates: zeroRates() },
      ],
    });
    expect(r.stdout.endsWith('}\n')).toBe(true);
  });

  it('--json comes before the command too, and works with --nosort', async () => {
    const doc = JSON.parse((await L(['--json', '-Ln', '--nosort'])).stdout);
    expect(doc.services.map((s: ServiceStatus) => s.key)).toEqual(SERVICES.map((s) => s.key));
    expect(doc.services[1].dests.map((d: { addr: string }) => d.addr)).toEqual(['10.0.0.3', '10.0.0.2']);
  });

  it('one service, no engine info; missing service is still "No such service" exit 1', async () => {
    const doc = JSON.parse((await L(['-L', '-f', '5', '--json'])).stdout);
    expect(Object.keys(doc)).toEqual(['schema', 'services']);
    expect(doc.services).toHaveLength(1);
    expect(await L(['-L', '-f', '6', '--json'])).toEqual({ code: 1, stdout: '', stderr: 'No such service\n' });
  });

  it('-c, --timeout, --daemon, -S', async () => {
    const conns: ConnEntry[] = [{ protocol: 'tcp', caddr: '1.1.1.1', cport: 5, vaddr: '10.0.0.1', vport: 80, daddr: '10.0.0.2', dport: 80, state: 'ESTABLISHED', expiresMs: 5000, fwd: 'masq', template: false }];
    serveConns(lvsd, conns);
    lvsd.engine.setTimeouts({ tcp: 1, tcpfin: 2, udp: 3 });
    daemons.push({ state: 'master', mcastIfn: 'eth0', syncid: 1 });
    expect(JSON.parse((await L(['-Lc', '--json'])).stdout)).toEqual({ schema: 'lvsadm/1', connections: conns });
    expect(JSON.parse((await L(['-L', '--timeout', '--json'])).stdout)).toEqual({ schema: 'lvsadm/1', timeouts: { tcp: 1, tcpfin: 2, udp: 3 } });
    expect(JSON.parse((await L(['-L', '--daemon', '--json'])).stdout)).toEqual({ schema: 'lvsadm/1', daemons: [{ state: 'master', mcastIfn: 'eth0', syncid: 1 }] });
    const saved = JSON.parse((await L(['-S', '--json'])).stdout);
    expect(saved.ruleset.services[0]).toEqual({
      key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.1', port: 80 }, scheduler: 'sh', persistence: 30, netmask: '255.255.255.0',
      ops: false, schedFlags: ['sh-port'], pe: 'sip',
      dests: [
        { addr: '10.0.0.2', port: 80, fwd: 'tunnel', weight: 1, uThreshold: 0, lThreshold: 0, tunType: 'gre', tunCsum: 'csum' },
        { addr: '10.0.0.3', port: 80, fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0 },
      ],
    });
  });

  it('bare `lvsadm --json` lists everything', async () => {
    const undo = serveServices(lvsd, []);
    expect(JSON.parse((await L(['--json'])).stdout)).toEqual({ schema: 'lvsadm/1', version: '1.2.1', connTableSize: 4096, services: [] });
    undo();
  });
});

describe('--trace', () => {
  // The replies are fixtures of the trace reply's shapes; the engine's own answer where it has one (no such service).
  let undo: (() => void) | undefined;
  const traceReply = (fn: Parameters<TestLvsd['override']>[1]) => { undo?.(); undo = lvsd.override('trace', fn as never); };
  afterEach(() => { undo?.(); undo = undefined; });

  it('sends a trace request and prints the chosen server and the reason', async () => {
    traceReply(() => ({ dest: { addr: '10.0.0.2', port: 8080, fwd: 'masq' }, reason: 'scheduled by wlc (least weighted connections)' }));
    const r = await L(['--trace', '-t', '10.0.0.1:80', '--client', '192.168.1.5:40000', '-n']);
    expect(r).toEqual({ code: 0, stderr: '', stdout:
      'TCP  10.0.0.1:80 from 192.168.1.5:40000\n' +
      '  -> 10.0.0.2:8080 Masq: scheduled by wlc (least weighted connections)\n' });
    expect(lvsd.requests).toEqual([expect.objectContaining({
      op: 'trace', args: { key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.1', port: 80 }, caddr: '192.168.1.5', cport: 40000 },
    })]);
  });

  it('a client without a port is traced with port 0; no server is exit 1', async () => {
    traceReply(() => ({ reason: 'all real servers have weight 0' }));
    const r = await L(['--trace', '-f', '3', '--client', '192.168.1.5', '-n']);
    expect(r).toEqual({ code: 1, stderr: '', stdout: 'FWM  3 from 192.168.1.5:0\n  -> no real server: all real servers have weight 0\n' });
    expect(lvsd.requests[0]!.args).toEqual({ key: { kind: 'fwmark', fwmark: 3 }, caddr: '192.168.1.5', cport: 0 });
  });

  it('--json', async () => {
    traceReply(() => ({ dest: { addr: '10.0.0.2', port: 80 }, reason: 'persistence template' }));
    const doc = JSON.parse((await L(['--trace', '-u', '10.0.0.1:53', '--client', '1.2.3.4:9', '--json'])).stdout);
    expect(doc).toEqual({ schema: 'lvsadm/1', service: { kind: 'addr', protocol: 'udp', addr: '10.0.0.1', port: 53 },
      client: { addr: '1.2.3.4', port: 9 }, dest: { addr: '10.0.0.2', port: 80 }, reason: 'persistence template' });
  });

  it('needs a service and a client; refusals are printed', async () => {
    expect(await L(['--trace', '-t', '10.0.0.1:80'])).toEqual({ code: 2, stdout: '', stderr: "You need to supply the 'client' option for the 'trace' command\n" });
    expect(await L(['--trace', '--client', '1.2.3.4'])).toEqual({ code: 2, stdout: '', stderr: "You need to supply the 'service-address' option for the 'trace' command\n" });
    expect(await L(['--trace', '-t', '10.0.0.1:80', '--client', 'x.invalid'])).toEqual({ code: 2, stdout: '', stderr: 'illegal client address[:port] specified\n' });
    undo?.(); undo = undefined; // the engine: it has no 10.0.0.1:80
    expect(await L(['--trace', '-t', '10.0.0.1:80', '--client', '1.2.3.4'])).toEqual({ code: 1, stdout: '', stderr: 'No such service\n' });
    undo = lvsd.refuse('trace', 'EPROTO', 'unknown op trace');
    expect(await L(['--trace', '-t', '10.0.0.1:80', '--client', '1.2.3.4'])).toEqual({ code: 255, stdout: '', stderr: 'unknown op trace\n' });
  });
});
