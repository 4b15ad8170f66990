// lvsadm with IPv6 services against the real engine: `[addr]:port` forms
// in, listings as ipvsadm 1.31 prints them out (no truncation of IPv6 names,
// `mask %i` for a prefix, `FWM  %d IPv6` / `-f %d -6`, services sorted by
// fwmark, family, protocol, address word by word, port), connections as
// print_conn shows them, and -S / -R round trips. Expected lines are built
// here from ipvsadm's printf formats, never by the formatter under test.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HEADROOM, type XmitOut } from '../../src/ipvs/engine.js';
import { StaticResolver } from '../../src/lvsadm/names.js';
import { buildTcp6Frame } from '../packet/build/ipv6.js';
import { TestLvsd } from '../helpers/lvsd-server.js';
import { SERVICES_TEXT, lvsadm } from './helpers.js';

/** printf subset: %s %d %u with flags '-' and width. */
function sprintf(fmt: string, ...args: Array<string | number>): string {
  let i = 0;
  return fmt.replace(/%(-?)(\d*)(s|d|u|i)/g, (_m, minus: string, width: string) => {
    const v = String(args[i++]);
    const w = width ? Number(width) : 0;
    if (v.length >= w) return v;
    return minus ? v + ' '.repeat(w - v.length) : ' '.repeat(w - v.length) + v;
  });
}

const HEADER = 'IP Virtual Server version 1.2.1 (size=4096)\n';
const TITLE = 'Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
const dline = (name: string, fwd: string, w: number, a = 0, i = 0) => sprintf('  -> %-28s %-7s %-6d %-10u %-10u\n', name, fwd, w, a, i);

let lvsd: TestLvsd;
beforeAll(async () => { lvsd = await TestLvsd.start({ now: () => 0 }); });
afterAll(async () => { await lvsd.destroy(); });
beforeEach(() => { lvsd.services = []; });
const L = (args: string[], o: { stdin?: string; resolver?: StaticResolver } = {}) => lvsadm(args, { socket: lvsd.path, ...o });
async function ok(args: string[], stdin?: string): Promise<string> {
  const r = await L(args, { stdin });
  expect(r, args.join(' ')).toMatchObject({ code: 0, stderr: '' });
  return r.stdout;
}

const VS = '[2001:db8::100]:80';
const LONG = '2001:db8:aaaa:bbbb:cccc:dddd:eeee:1';

describe('IPv6 services through lvsadm', () => {
  it('-A/-a with [addr]:port, listed as ipvsadm lists them: sorted words, no truncation', async () => {
    await ok(['-A', '-t', VS, '-s', 'rr']);
    await ok(['-a', '-t', VS, '-r', '[2001:db8:1::13]:8080', '-m', '-w', '2']);
    await ok(['-a', '-t', VS, '-r', '[2001:DB8:1:0::12]:8080', '-m']);
    await ok(['-a', '-t', VS, '-r', `[${LONG}]:8080`, '-m']);
    await ok(['-A', '-t', `[${LONG}]:443`, '-s', 'wlc']);
    await ok(['-A', '-t', '192.168.150.100:80', '-s', 'rr']);
    const out = await ok(['-Ln']);
    // IPv4 (AF_INET 2) before IPv6 (AF_INET6 10). Addresses compare word by word as int differences of
    // ntohl'd words, so 0x00010000 - 0xaaaabbbb wraps positive: the aaaa:bbbb address sorts first, as in ipvsadm.
    expect(out).toBe(
      HEADER + TITLE
      + 'TCP  192.168.150.100:80 rr\n'
      + `TCP  [${LONG}]:443 wlc\n`
      + 'TCP  [2001:db8::100]:80 rr\n'
      + dline(`[${LONG}]:8080`, 'Masq', 1)
      + dline('[2001:db8:1::12]:8080', 'Masq', 1)
      + dline('[2001:db8:1::13]:8080', 'Masq', 2),
    );
    // A non-canonical spelling finds the same service; one service lists without the header.
    expect(await ok(['-Ln', '-t', '[2001:DB8:0::100]:80'])).toBe(TITLE + 'TCP  [2001:db8::100]:80 rr\n'
      + dline(`[${LONG}]:8080`, 'Masq', 1) + dline('[2001:db8:1::12]:8080', 'Masq', 1) + dline('[2001:db8:1::13]:8080', 'Masq', 2));
    // --nosort: the order they were added.
    expect(await ok(['-Ln', '--nosort'])).toBe(HEADER + TITLE + 'TCP  [2001:db8::100]:80 rr\n'
      + dline('[2001:db8:1::13]:8080', 'Masq', 2) + dline('[2001:db8:1::12]:8080', 'Masq', 1) + dline(`[${LONG}]:8080`, 'Masq', 1)
      + `TCP  [${LONG}]:443 wlc\n` + 'TCP  192.168.150.100:80 rr\n');
  });

  it('--stats, --rate, --thresholds and --persistent-conn pad IPv6 names without cutting them', async () => {
    await ok(['-A', '-t', `[${LONG}]:443`, '-s', 'rr']);
    await ok(['-a', '-t', `[${LONG}]:443`, '-r', `[${LONG.replace(/1$/, '2')}]:443`, '-g']);
    const svcName = `TCP  [${LONG}]:443`;
    const dn = `[${LONG.replace(/1$/, '2')}]:443`;
    const zeros = ' '.repeat(8) + '0';
    expect(await ok(['-Ln', '--stats'])).toBe(HEADER
      + sprintf('%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n', 'Prot LocalAddress:Port', 'Conns', 'InPkts', 'OutPkts', 'InBytes', 'OutBytes')
      + sprintf('%-33s', svcName) + zeros.repeat(5) + '\n'
      + sprintf('  -> %-28s', dn) + zeros.repeat(5) + '\n');
    expect((await ok(['-Ln', '--rate'])).split('\n')[4]).toBe(sprintf('  -> %-28s %8u %8u %8u', dn, 0, 0, 0) + zeros + zeros);
    expect((await ok(['-Ln', '--thresholds'])).split('\n')[4]).toBe(sprintf('  -> %-28s %-10u %-10u %-10u %-10u', dn, 0, 0, 0, 0));
    expect((await ok(['-Ln', '--persistent-conn'])).split('\n')[4]).toBe(sprintf('  -> %-28s %-9u %-11u %-10u %-10u', dn, 1, 0, 0, 0));
  });

  it('persistence with a prefix: "persistent 60 mask 64", -S "-p 60 -M 64"; /128 is not printed', async () => {
    await ok(['-A', '-t', VS, '-s', 'sh', '-p', '60', '-M', '64']);
    await ok(['-A', '-u', '[2001:db8::100]:53', '-s', 'rr', '-p', '30']);
    const out = await ok(['-Ln']);
    expect(out).toContain('TCP  [2001:db8::100]:80 sh persistent 60 mask 64\n');
    expect(out).toContain('UDP  [2001:db8::100]:53 rr persistent 30\n');
    expect(await ok(['-Sn'])).toBe('-A -t [2001:db8::100]:80 -s sh -p 60 -M 64\n-A -u [2001:db8::100]:53 -s rr -p 30\n');
    expect(await L(['-A', '-t', '[2001:db8::101]:80', '-p', '60', '-M', '129'])).toEqual({ code: 2, stdout: '', stderr: 'illegal ipv6 netmask specified\n' });
  });

  it('fwmark services of both families: "FWM  7" sorts before "FWM  7 IPv6"; -S writes "-f 7 -6"', async () => {
    await ok(['-A', '-f', '7', '-6', '-s', 'rr']);
    // [addr] without :port is not an address to ipvsadm's parse_service; a bare IPv6 address is.
    expect(await L(['-a', '-f', '7', '-6', '-r', '[2001:db8:1::12]', '-g'])).toEqual({ code: 2, stdout: '', stderr: 'illegal real server address[:port] specified\n' });
    await ok(['-a', '-f', '7', '-6', '-r', '2001:db8:1::12', '-g']);
    await ok(['-A', '-f', '7', '-s', 'wlc']);
    await ok(['-a', '-f', '7', '-r', '10.0.0.12', '-g']);
    expect(await ok(['-Ln'])).toBe(HEADER + TITLE
      + 'FWM  7 wlc\n' + dline('10.0.0.12:0', 'Route', 1)
      + 'FWM  7 IPv6 rr\n' + dline('[2001:db8:1::12]:0', 'Route', 1));
    expect(await ok(['-Sn'])).toBe('-A -f 7 -s wlc\n-a -f 7 -r 10.0.0.12:0 -g -w 1\n-A -f 7 -6 -s rr\n-a -f 7 -6 -r [2001:db8:1::12]:0 -g -w 1\n');
    expect(await L(['-a', '-f', '7', '-6', '-r', '10.0.0.13', '-g'])).toEqual({ code: 2, stdout: '', stderr: 'Different address family is allowed only for tunneling servers\n' });
    await ok(['-d', '-f', '7', '-6', '-r', '2001:db8:1::12']);
    expect(await ok(['-Ln', '-f', '7', '-6'])).toBe(TITLE + 'FWM  7 IPv6 rr\n');
  });

  it('-S then -C then -R gives back the same rules, byte for byte', async () => {
    await ok(['-A', '-t', VS, '-s', 'rr']);
    await ok(['-a', '-t', VS, '-r', '[2001:db8:1::12]:8080', '-m', '-w', '3']);
    await ok(['-a', '-t', VS, '-r', '[2001:db8:1::13]:80', '-i']);
    await ok(['-A', '-u', '[2001:db8::100]:53', '-s', 'mh', '-b', 'mh-port', '-p', '60', '-M', '48']);
    await ok(['-a', '-u', '[2001:db8::100]:53', '-r', '2001:db8:1::12', '-g']);
    await ok(['-A', '-t', '10.1.1.1:80', '-s', 'wlc']);
    const saved = await ok(['-Sn']);
    expect(saved).toBe(
      '-A -t 10.1.1.1:80 -s wlc\n'
      + '-A -t [2001:db8::100]:80 -s rr\n'
      + '-a -t [2001:db8::100]:80 -r [2001:db8:1::12]:8080 -m -w 3\n'
      + '-a -t [2001:db8::100]:80 -r [2001:db8:1::13]:80 -i -w 1 --tun-type ipip\n'
      + '-A -u [2001:db8::100]:53 -s mh -p 60 -M 48 -b mh-port\n'
      + '-a -u [2001:db8::100]:53 -r [2001:db8:1::12]:53 -g -w 1\n');
    await ok(['-C']);
    expect(await ok(['-Sn'])).toBe('');
    await ok(['-R'], saved);
    expect(await ok(['-Sn'])).toBe(saved);
  });

  it('-Lnc shows IPv6 conns as print_conn does; a persistence template with port 0', async () => {
    await ok(['-A', '-t', VS, '-s', 'rr', '-p', '60', '-M', '64']);
    await ok(['-a', '-t', VS, '-r', '[2001:db8:1::12]:80', '-g']);
    const f = buildTcp6Frame({ src: '2001:db8:0:7::1', dst: '2001:db8::100', srcPort: 40000, dstPort: 80 });
    const buf = new Uint8Array(HEADROOM + f.length);
    buf.set(f, HEADROOM);
    const o: XmitOut = { buf, start: 0, len: 0, nextHop: 0 };
    expect(lvsd.engine.input(buf, HEADROOM, f.length, 0, o)).toBe(1);
    const row = (p: string, e: string, s: string, c: string, v: string, d: string) => sprintf('%-3s %-6s %-11s %-18s %-18s %s\n', p, e, s, c, v, d);
    // In table order: the template was made first.
    expect(await ok(['-Lnc'])).toBe('IPVS connection entries\n' + sprintf('pro expire %-11s %-18s %-18s %s\n', 'state', 'source', 'virtual', 'destination')
      + row('TCP', '01:00', 'NONE', '[2001:db8:0:7::]:0', VS, '[2001:db8:1::12]:80')
      + row('TCP', '01:00', 'SYN_RECV', '[2001:db8:0:7::1]:40000', VS, '[2001:db8:1::12]:80'));
  });

  it('without -n, names come from the resolver: [host]:service', async () => {
    await ok(['-A', '-t', VS, '-s', 'rr']);
    const r = await L(['-L'], { resolver: new StaticResolver(SERVICES_TEXT, {}, { '2001:db8::100': 'vip6.example' }) });
    expect(r.stdout).toBe(HEADER + TITLE + 'TCP  [vip6.example]:http rr\n');
  });

  it('--json carries IPv6 addresses as text; --trace takes an IPv6 client', async () => {
    await ok(['-A', '-t', VS, '-s', 'sh']);
    await ok(['-a', '-t', VS, '-r', '[2001:db8:1::12]:80', '-g']);
    const j = JSON.parse(await ok(['-Ln', '--json']));
    expect(j.services[0].key).toEqual({ kind: 'addr', protocol: 'tcp', addr: '2001:db8::100', port: 80 });
    expect(j.services[0].netmask).toBe('128');
    const t = await ok(['--trace', '-n', '-t', VS, '--client', '[2001:db8::1]:40000']);
    expect(t).toMatch(/\[2001:db8:1::12\]:80/);
  });
});
