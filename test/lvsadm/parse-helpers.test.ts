// The libc behaviours ipvsadm inherits (inet_aton, strtol, /etc/services,
// /etc/hosts), checked against what ipvsadm 1.31 did with the same words.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inetAton, isIpv6, stringToNumber } from '../../src/lvsadm/args.js';
import { parseServices, StaticResolver, SystemResolver, addrPortName } from '../../src/lvsadm/names.js';
import { lvsadm } from './helpers.js';
import { TestLvsd } from '../helpers/lvsd-server.js';
import { largenum } from '../../src/lvsadm/format-list.js';
import { FMT } from '../../src/lvsadm/args.js';

describe('service addresses as ipvsadm reads them', () => {
  let lvsd: TestLvsd;
  beforeAll(async () => { lvsd = await TestLvsd.start(); });
  afterAll(async () => { await lvsd.destroy(); });

  // -A -t WORD -p: the address and port ipvsadm 1.31 sent, or its refusal.
  const CASES: Array<[string, string | null, number]> = [
    ['10.1:80', '10.0.0.1', 80],
    ['010.0.0.1:80', '8.0.0.1', 80],
    ['0x0a.0.0.1:80', '10.0.0.1', 80],
    ['4294967295:80', '255.255.255.255', 80],
    ['10.16777215:80', '10.255.255.255', 80],
    ['[1.2.3.4]:80', '1.2.3.4', 0],
    ['1.2.3.4: 80', '1.2.3.4', 80],
    ['1.2.3.4:+80', '1.2.3.4', 80],
    ['1.2.3.4:-0', '1.2.3.4', 0],
    ['10.0.0.256:80', null, 0],
    ['1.2.3.4.5:80', null, 0],
    ['0x:80', null, 0],
    ['10.16777216:80', null, 0],
    ['1.2.3.4:0x50', null, 0],
  ];
  it.each(CASES)('%j', async (word, addr, port) => {
    lvsd.services = [];
    lvsd.requests.length = 0;
    const r = await lvsadm(['-A', '-t', word, '-p'], { socket: lvsd.path });
    if (addr === null) {
      expect(r).toEqual({ code: 2, stdout: '', stderr: 'illegal virtual server address[:port] specified\n' });
    } else {
      expect(r.code).toBe(0);
      expect(lvsd.requests[0]!.args.service.key).toEqual({ kind: 'addr', protocol: 'tcp', addr, port });
    }
  });
});

describe('helpers', () => {
  it('inet_aton', () => {
    expect(inetAton('127.1')).toBe('127.0.0.1');
    expect(inetAton('1')).toBe('0.0.0.1');
    expect(inetAton('08.0.0.1')).toBeNull();
    expect(inetAton('')).toBeNull();
  });
  it('string_to_number', () => {
    expect(stringToNumber(' 7', 0, 10)).toBe(7);
    expect(stringToNumber('7 ', 0, 10)).toBe(-1);
    expect(stringToNumber('', 0, 10)).toBe(-1);
    expect(stringToNumber('11', 0, 10)).toBe(-1);
    expect(stringToNumber('99999999999999999999999', 0, 2147483647)).toBe(-1);
  });
  it('tells IPv6 from host:port', () => {
    expect(isIpv6('::1')).toBe(true);
    expect(isIpv6('2001:db8::1')).toBe(true);
    expect(isIpv6('::ffff:1.2.3.4')).toBe(true);
    expect(isIpv6('1.2.3.4:80')).toBe(false);
    expect(isIpv6('1:2:3:4:5:6:7')).toBe(false);
    expect(isIpv6('localhost:http')).toBe(false);
  });
  it('print_largenum at every boundary', () => {
    const cases: Array<[number, string]> = [
      [0, '        0'], [99999999, ' 99999999'], [100000000, '  100000K'], [999999999, '  999999K'],
      [1000000000, '    1000M'], [99999999999, '   99999M'], [100000000000, '     100G'],
      [99999999999999, '   99999G'], [100000000000000, '     100T'], [123456789012345678n as unknown as number, '  123456T'],
    ];
    for (const [v, s] of cases) expect(largenum(v, FMT.NONE)).toBe(s);
    expect(largenum(12345678, FMT.EXACT)).toBe(' 12345678');
    expect(largenum(123456789, FMT.EXACT)).toBe(' 123456789');
  });
});

describe('names', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsadm-names-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const services = join(dir, 'services');
  const hosts = join(dir, 'hosts');
  writeFileSync(services, '# comment\nhttp\t80/tcp\twww www-http\nhttp\t80/udp\nhttp-alt\t80/tcp\nkerberos 88/udp kerberos5 krb5\n');
  writeFileSync(hosts, '127.0.0.1 localhost vm\n10.0.0.9 web9.example web9 # trailing\n');

  it('/etc/services: first entry for a port, aliases for names, per protocol', () => {
    const r = new SystemResolver({ servicesFile: services, hostsFile: hosts, noDns: true });
    expect(r.portToService(80, 'tcp')).toBe('http');
    expect(r.serviceToPort('www', 'tcp')).toBe(80);
    expect(r.serviceToPort('krb5', 'udp')).toBe(88);
    expect(r.serviceToPort('krb5', 'tcp')).toBeNull();
    expect(r.portToService(80, 'ip')).toBeNull();
    expect(parseServices('x 1/tcp\nbad line\ny notaport/tcp\n')).toHaveLength(1);
  });

  it('/etc/hosts both ways, canonical name first', async () => {
    const r = new SystemResolver({ servicesFile: services, hostsFile: hosts, noDns: true });
    expect(await r.hostToAddr('web9')).toBe('10.0.0.9');
    expect(await r.hostToAddr('nowhere')).toBeNull();
    // gethostbyname answers AF_INET only: an IPv6 literal is no host.
    expect(await new SystemResolver({ servicesFile: services, hostsFile: hosts }).hostToAddr('ff02::1')).toBeNull();
    await r.prepare(['10.0.0.9', '127.0.0.1', '10.0.0.10']);
    expect(addrPortName(r, '10.0.0.9', 80, 'tcp')).toBe('web9.example:http');
    expect(addrPortName(r, '127.0.0.1', 81, 'tcp')).toBe('localhost:81');
    expect(addrPortName(r, '10.0.0.10', 88, 'udp')).toBe('10.0.0.10:kerberos');
    expect(addrPortName(null, '10.0.0.9', 80, 'tcp')).toBe('10.0.0.9:80');
  });

  it('reverse DNS is bounded by the timeout', async () => {
    // 192.0.2.0/24 (TEST-NET-1) has no PTR records; a missing or slow resolver must not hold the listing.
    const r = new SystemResolver({ servicesFile: services, hostsFile: hosts, dnsTimeoutMs: 300 });
    const t0 = Date.now();
    await r.prepare(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(addrPortName(r, '192.0.2.1', 80, 'tcp')).toBe('192.0.2.1:http');
  });

  it('names longer than libipvs\'s 60-byte buffer are cut at 59', () => {
    const long = 'x'.repeat(70);
    const r = new StaticResolver('', {}, { '10.0.0.1': long });
    expect(addrPortName(r, '10.0.0.1', 80, 'tcp')).toBe(`${long}:80`.slice(0, 59));
  });
});
