// Command-line parsing: every option error ipvsadm 1.31 gives, with its exit
// status. The expected messages were recorded from ipvsadm 1.31 itself
// (built from ipvsadm.c against the system's popt 1.19, with only the
// program name changed), not derived from lvsadm's code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lvsadm } from './helpers.js';
import { TestLvsd } from '../helpers/lvsd-server.js';
import { usageText, versionText } from '../../src/lvsadm/usage.js';
import type { ServiceRules, SyncDaemonConfig } from '../../src/ipvs/types.js';

let lvsd: TestLvsd;
let daemons: SyncDaemonConfig[];
beforeAll(async () => { lvsd = await TestLvsd.start(); daemons = lvsd.syncDaemons(); });
afterAll(async () => { await lvsd.destroy(); });
const L = (args: string[]) => lvsadm(args, { socket: lvsd.path });

// What lvsd holds before a command: the engine refuses a dest op on a service it does not have.
const svc = (key: ServiceRules['key'], dests: ServiceRules['dests'] = []): ServiceRules =>
  ({ key, scheduler: 'wlc', persistence: 0, netmask: '255.255.255.255', ops: false, schedFlags: [], dests });
const TCP80 = svc({ kind: 'addr', protocol: 'tcp', addr: '10.0.0.1', port: 80 });
const TCP80_RS = svc(TCP80.key, [{ addr: '10.0.0.2', port: 80, fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0 }]);
const UDP53 = svc({ kind: 'addr', protocol: 'udp', addr: '10.0.0.1', port: 53 });

const IPVSADM_ERRORS: Array<[string[], number, string]> = [
  [["-A", "-t", "10.0.0.1:80", "-x", "5"], 2, "Illegal 'u-threshold' option with the 'add-service' command\n"],
  [["-A", "--foo"], 255, "--foo: unknown option\n"],
  [["-Lq"], 255, "-Lq: unknown option\n"],
  [["-A", "-t"], 255, "-t: missing argument\n"],
  [["-L", "--numeric=5"], 255, "--numeric=5: option does not take an argument\n"],
  [["-Ln="], 255, "-Ln=: option does not take an argument\n"],
  [["foo"], 255, "Try `lvsadm -h' or 'lvsadm --help' for more information.\n"],
  [["-t", "10.0.0.1:80"], 255, "Try `lvsadm -h' or 'lvsadm --help' for more information.\n"],
  [["-L", "-A"], 2, "invalid option `-A'\n"],
  [["-L", "foo"], 2, "unexpected argument foo\n"],
  [["-A", "-t", "10.0.0.1"], 2, "Zero port specified for non-persistent service\n"],
  [["-A", "-t", "10.0.0.1:80", "-s", "rr", "-t", "10.0.0.2:80"], 2, "multiple 'service-address' options specified\n"],
  [["-A", "-t", "80"], 2, "illegal virtual server address[:port] specified\n"],
  [["-A", "-t", "10.0.0.1:nosuchport"], 2, "illegal virtual server address[:port] specified\n"],
  [["-A", "-t", "10.0.0.1:99999"], 2, "illegal virtual server address[:port] specified\n"],
  [["-A", "-t", "nosuchhost.invalid:80"], 2, "illegal virtual server address[:port] specified\n"],
  [["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.1:abc"], 2, "illegal real server address[:port] specified\n"],
  [["-a", "-t", "10.0.0.1:80"], 2, "You need to supply the 'real-server' option for the 'add-server' command\n"],
  [["-A", "-u", "10.0.0.1:80", "-f", "5"], 2, "multiple 'service-address' options specified\n"],
  [["-A", "-f", "0"], 2, "invalid fwmark value `0' specified\n"],
  [["-A", "-f", "4294967296"], 2, "invalid fwmark value `4294967296' specified\n"],
  [["-A", "-f", "x"], 2, "invalid fwmark value `x' specified\n"],
  [["-A", "-t", "10.0.0.1:80", "-p", "0"], 2, "invalid timeout value `0' specified\n"],
  [["-A", "-t", "10.0.0.1:80", "-p", "2678401"], 2, "invalid timeout value `2678401' specified\n"],
  [["-A", "-t", "10.0.0.1:80", "-p", "abc"], 2, "invalid timeout value `abc' specified\n"],
  [["-A", "-t", "10.0.0.1:80", "-M", "bad.mask.invalid"], 2, "illegal virtual server persistent mask specified\n"],
  [["-A", "-t", "10.0.0.1:80", "-o"], 2, "One-Packet Scheduling is only for UDP virtual services\n"],
  [["-A", "-t", "10.0.0.1:80", "-b", "sh-port"], 2, "incompatible scheduler flag `sh-port'\n"],
  [["-A", "-t", "10.0.0.1:80", "-s", "sh", "-b", "sh-port,bogus"], 2, "invalid scheduler flag `bogus'\n"],
  [["-A", "-t", "10.0.0.1:80", "-b", "mh-port", "-s", "mh"], 0, ""],
  [["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-w", "65536"], 2, "illegal weight specified\n"],
  [["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-w", "-1"], 2, "illegal weight specified\n"],
  [["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-x", "2147483648"], 2, "illegal u_threshold specified\n"],
  [["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-y", "z"], 2, "illegal l_threshold specified\n"],
  [["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-g", "-m"], 2, "multiple 'forwarding-method' options specified\n"],
  [["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "--tun-type", "gue", "-i"], 2, "You need to supply the 'tun-port' option for the 'gue' tunnel type\n"],
  [["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-i", "--tun-type", "gue"], 2, "You need to supply the 'tun-port' option for the 'gue' tunnel type\n"],
  [["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-i", "--tun-type", "gre", "--tun-port", "5"], 2, "Illegal 'tun-port' option with the 'gre' tunnel type\n"],
  [["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-i", "--tun-type", "gue", "--tun-port", "5", "--tun-csum", "--tun-remcsum"], 2, "The option 'tun-remcsum' conflicts with the 'tun-csum' option in the 'gue' tunnel type\n"],
  [["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-i", "--tun-type", "ipip", "--tun-csum"], 2, "Illegal 'tun-csum' option with the 'ipip' tunnel type\n"],
  [["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-i", "--tun-type", "vxlan"], 2, "illegal tunnel type specified\n"],
  [["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-i", "--tun-type", "gue", "--tun-port", "0"], 2, "illegal tunnel port specified\n"],
  [["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-s", "rr"], 2, "Illegal 'scheduler' option with the 'add-server' command\n"],
  [["-d", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-w", "3"], 2, "Illegal 'weight' option with the 'delete-server' command\n"],
  [["-L", "-c", "--stats"], 2, "options conflicts in the list command\n"],
  [["-L", "--timeout", "--persistent-conn"], 2, "options conflicts in the list command\n"],
  [["-L", "-c", "-t", "10.0.0.1:80"], 2, "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n"],
  [["-L", "--timeout", "--daemon"], 2, "The option 'daemon' conflicts with the 'timeout' option in the 'list' command\n"],
  [["-L", "-n", "-n"], 2, "multiple 'numeric' options specified\n"],
  [["-S", "-c"], 2, "Illegal 'connection' option with the 'save' command\n"],
  [["-S", "-t", "10.0.0.1:80"], 2, "Illegal 'service-address' option with the 'save' command\n"],
  [["-C", "-n"], 2, "Illegal 'numeric' option with the 'flush' command\n"],
  [["-Z", "-t", "10.0.0.1:80", "-n"], 2, "Illegal 'numeric' option with the 'zero' command\n"],
  [["--set", "1", "2"], 2, "--set option requires 3 timeout values\n"],
  [["--set", "1", "2", "x"], 2, "invalid timeout value `x' specified\n"],
  [["--set", "1", "2", "3", "4"], 2, "unexpected argument 4\n"],
  [["--set", "1", "2", "2678401"], 2, "invalid timeout value `2678401' specified\n"],
  [["--start-daemon", "foo"], 2, "illegal start-daemon parameter specified\n"],
  [["--stop-daemon", "foo"], 2, "illegal start_daemon specified\n"],
  [["--start-daemon", "master", "--syncid", "256"], 2, "illegal syncid specified\n"],
  [["--start-daemon", "master", "--mcast-group", "10.0.0.1"], 2, "invalid IPv4 mcast-group `10.0.0.1'\n"],
  [["--start-daemon", "master", "--mcast-group", "ff02::zz"], 2, "invalid IPv6 mcast-group `ff02::zz'\n"],
  [["--start-daemon", "master", "--mcast-port", "0"], 2, "illegal mcast-port specified\n"],
  [["--start-daemon", "master", "--mcast-ttl", "256"], 2, "illegal mcast-ttl specified\n"],
  [["--start-daemon", "master", "--sync-maxlen", "65508"], 2, "illegal sync-maxlen specified\n"],
  [["--stop-daemon", "master", "--mcast-interface", "eth0"], 2, "Illegal 'mcast-interface' option with the 'stop-daemon' command\n"],
  [["-6", "-A"], 255, "Try `lvsadm -h' or 'lvsadm --help' for more information.\n"],
  [["-A", "-6", "-t", "10.0.0.1:80"], 2, "-6 used before -f\n\n"],
  [["-A", "-t", "10.0.0.1:80", "--", "-s"], 2, "unexpected argument -s\n"],
  [["-A", "-t", "10.0.0.1:80", "-s", "rr", "-E"], 2, "invalid option `-E'\n"],
  [["-A", "-h"], 2, "invalid option `-h'\n"],
  [["-R", "-n"], 2, "Illegal 'numeric' option with the 'restore' command\n"],
];

describe('option errors are ipvsadm\'s, byte for byte', () => {
  it.each(IPVSADM_ERRORS)('%j -> exit %i', async (args, code, stderr) => {
    lvsd.services = [];
    lvsd.requests.length = 0;
    const r = await L(args);
    expect(r.stderr).toBe(stderr);
    expect(r.code).toBe(code);
    // Refused command lines never reach lvsd.
    if (code !== 0) expect(lvsd.requests).toEqual([]);
  });
});

describe('accepted command lines', () => {
  /** The one request a command line sends, to an lvsd holding `given`; `refused`: what the engine answers it. */
  const reqOf = async (args: string[], opts: { given?: ServiceRules[]; refused?: string } = {}) => {
    lvsd.services = opts.given ?? [];
    lvsd.requests.length = 0;
    const r = await L(args);
    expect(r).toEqual(opts.refused === undefined ? { code: 0, stdout: '', stderr: '' } : { code: 255, stdout: '', stderr: opts.refused });
    expect(lvsd.requests).toHaveLength(1);
    return lvsd.requests[0]!;
  };

  it('-A with defaults: wlc, not persistent, /32 mask', async () => {
    const q = await reqOf(['-A', '-t', '10.0.0.1:80']);
    expect(q.op).toBe('add-service');
    expect(q.args).toEqual({ service: {
      key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.1', port: 80 }, scheduler: 'wlc', persistence: 0,
      netmask: '255.255.255.255', ops: false, schedFlags: [],
    } });
  });

  it('bare -p is 360 s and allows port 0; -p N; -p=N; --persistent=N', async () => {
    expect((await reqOf(['-A', '-t', '10.0.0.1', '-p'])).args.service.persistence).toBe(360);
    expect((await reqOf(['-A', '-t', '10.0.0.1:0', '-p', '-s', 'rr'])).args.service).toMatchObject({ persistence: 360, scheduler: 'rr' });
    expect((await reqOf(['-A', '-t', '10.0.0.1:80', '-p', '50'])).args.service.persistence).toBe(50);
    expect((await reqOf(['-A', '-t', '10.0.0.1:80', '-p=7'])).args.service.persistence).toBe(7);
    expect((await reqOf(['-A', '-t', '10.0.0.1:80', '--persistent=8'])).args.service.persistence).toBe(8);
  });

  it('combined short options and attached arguments (-At, -w5, -Ln)', async () => {
    const q = await reqOf(['-At', '10.0.0.1:http', '-sRR'.replace('RR', 'rr')]);
    expect(q.args.service).toMatchObject({ key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.1', port: 80 }, scheduler: 'rr' });
    const d = await reqOf(['-a', '-t10.0.0.1:80', '-r', '10.0.0.2:8080', '-mw5'], { given: [TCP80] });
    expect(d.args.dest).toMatchObject({ addr: '10.0.0.2', port: 8080, fwd: 'masq', weight: 5 });
  });

  it('sched flags are checked against the scheduler and sent in the kernel\'s canonical form', async () => {
    const q = await reqOf(['-A', '-u', '10.0.0.1:53', '-s', 'sh', '-b', 'sh-port,sh-fallback', '-o', '-p', '-M', '255.255.255.0', '--pe', 'sip'], { refused: 'Scheduler or persistence engine not found\n' });
    expect(q.args.service).toEqual({
      key: { kind: 'addr', protocol: 'udp', addr: '10.0.0.1', port: 53 }, scheduler: 'sh', persistence: 360,
      netmask: '255.255.255.0', ops: true, schedFlags: ['sh-fallback', 'sh-port'], pe: 'sip',
    });
  });

  it('real-server port rules: -r without port takes the service port; -g/-i force it; -m keeps its own', async () => {
    expect((await reqOf(['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2', '-m'], { given: [TCP80] })).args.dest.port).toBe(80);
    expect((await reqOf(['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2:8080', '-g'], { given: [TCP80] })).args.dest.port).toBe(80);
    expect((await reqOf(['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2:8080', '-i'], { given: [TCP80] })).args.dest.port).toBe(80);
    expect((await reqOf(['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2:8080'], { given: [TCP80] })).args.dest).toMatchObject({ port: 80, fwd: 'route' });
    expect((await reqOf(['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2:8080', '-m'], { given: [TCP80] })).args.dest.port).toBe(8080);
    // fwmark services have no port of their own: a port-less server is :0.
    expect((await reqOf(['-a', '-f', '7', '-r', '10.0.0.2', '-g'], { given: [svc({ kind: 'fwmark', fwmark: 7 })] })).args).toEqual({
      key: { kind: 'fwmark', fwmark: 7 },
      dest: { addr: '10.0.0.2', port: 0, fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0 },
    });
  });

  it('tunnel options', async () => {
    expect((await reqOf(['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2', '-i', '--tun-type', 'gue', '--tun-port', '6080', '--tun-remcsum'], { given: [TCP80], refused: 'Tunnel type gue is not supported by lvsd (ipip only)\n' })).args.dest)
      .toMatchObject({ fwd: 'tunnel', tunType: 'gue', tunPort: 6080, tunCsum: 'remcsum' });
    expect((await reqOf(['-e', '-t', '10.0.0.1:80', '-r', '10.0.0.2', '-i'], { given: [TCP80_RS] })).args.dest).toMatchObject({ fwd: 'tunnel', tunType: 'ipip' });
  });

  it('-d, -D, -Z, -C, --set, daemons', async () => {
    expect(await reqOf(['-d', '-t', '10.0.0.1:80', '-r', '10.0.0.2'], { given: [TCP80_RS] })).toMatchObject({ op: 'del-dest', args: { addr: '10.0.0.2', port: 80 } });
    expect(await reqOf(['-D', '-f', '4294967295'], { given: [svc({ kind: 'fwmark', fwmark: 4294967295 })] })).toMatchObject({ op: 'del-service', args: { key: { kind: 'fwmark', fwmark: 4294967295 } } });
    expect(await reqOf(['-Z'])).toMatchObject({ op: 'zero', args: {} });
    expect(await reqOf(['--zero', '--udp-service', '10.0.0.1:53'], { given: [UDP53] })).toMatchObject({ op: 'zero', args: { key: { kind: 'addr', protocol: 'udp' } } });
    expect(await reqOf(['--clear'])).toMatchObject({ op: 'flush' });
    // 0 leaves a timeout unchanged: it is not sent.
    expect(await reqOf(['--set', '10', '0', '5'])).toMatchObject({ op: 'set-timeouts', args: { timeouts: { tcp: 10, udp: 5 } } });
    expect((await reqOf(['--set', '10', '0', '5'])).args.timeouts).not.toHaveProperty('tcpfin');
    expect(await reqOf(['--start-daemon', 'backup', '--syncid', '9', '--mcast-group', '239.1.1.1', '--mcast-port', '9000', '--mcast-ttl', '2', '--sync-maxlen', '1400']))
      .toEqual(expect.objectContaining({ op: 'start-daemon', args: { daemon: { state: 'backup', mcastIfn: 'eth0', syncid: 9, group: '239.1.1.1', port: 9000, ttl: 2, maxlen: 1400 } } }));
    daemons.push({ state: 'master', mcastIfn: 'eth0', syncid: 0 });
    expect(await reqOf(['--stop-daemon', 'master'])).toMatchObject({ op: 'stop-daemon', args: { state: 'master' } });
  });

  it('negative fwmarks (as 1.31\'s -S prints marks >= 2^31) are refused on the command line, like ipvsadm, but restore', async () => {
    lvsd.requests.length = 0;
    expect(await L(['-A', '-f', '-1412536447'])).toEqual({ code: 2, stdout: '', stderr: "invalid fwmark value `-1412536447' specified\n" });
    expect(lvsd.requests).toEqual([]);
    const r = await lvsadm(['-R'], { socket: lvsd.path, stdin: '-A -f -1412536447 -s wlc\n' });
    expect(r.code).toBe(0);
    expect(lvsd.requests[0]!.args.ruleset.services[0].key).toEqual({ kind: 'fwmark', fwmark: 2882430849 });
  });

  it('-r before the service option resolves port names with no protocol, so they fail as in ipvsadm', async () => {
    expect(await L(['-a', '-r', '10.0.0.2:http', '-t', '10.0.0.1:80'])).toEqual({ code: 2, stdout: '', stderr: 'illegal real server address[:port] specified\n' });
    expect((await reqOf(['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2:http', '-m'], { given: [TCP80] })).args.dest.port).toBe(80);
  });

  it('IPv6: [addr]:port and -f N -6 reach lvsd with the address in inet_ntop form and a /128 default mask', async () => {
    expect((await reqOf(['-A', '-t', '[2001:DB8:0::1]:80'])).args.service).toMatchObject({
      key: { kind: 'addr', protocol: 'tcp', addr: '2001:db8::1', port: 80 }, scheduler: 'wlc', netmask: '128',
    });
    expect((await reqOf(['-A', '-f', '1', '-6', '-p', '-M', '56'])).args.service).toMatchObject({
      key: { kind: 'fwmark', fwmark: 1, af: 6 }, persistence: 360, netmask: '56',
    });
    const v6 = { ...TCP80, key: { kind: 'addr' as const, protocol: 'tcp' as const, addr: '2001:db8::1', port: 80 }, netmask: '128' };
    expect((await reqOf(['-a', '-t', '[2001:db8::1]:80', '-r', '2001:db8:0:0::2', '-m'], { given: [v6] })).args.dest)
      .toMatchObject({ addr: '2001:db8::2', port: 80, fwd: 'masq' });
  });

  it('-h and -v print on stdout, exit 0, without lvsd', async () => {
    const h = await lvsadm(['-h'], { socket: '/nonexistent/sock' });
    expect(h).toEqual({ code: 0, stdout: usageText('lvsadm'), stderr: '' });
    expect(h.stdout.split('\n')[0]).toBe('lvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)');
    expect(h.stdout).toContain('  lvsadm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]\n');
    expect(await lvsadm(['--version'], { socket: '/nonexistent/sock' })).toEqual({ code: 0, stdout: versionText('lvsadm'), stderr: '' });
  });
});
