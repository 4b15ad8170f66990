// The connecting checkers against IPv6 real servers on ::1: TCP_CHECK,
// HTTP_GET, SSL_GET and DNS_CHECK reach them (bindto too) and fail when they
// are gone; bind_if is the zone of a link-local destination. (The lab test
// test/lab/check-ipv6.test.ts does the same across namespaces, with a
// link-local real server.)
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tcpCheckProbe } from '../../src/check/tcp-check.js';
import { httpGetProbe } from '../../src/check/http-get.js';
import { sslGetProbe } from '../../src/check/ssl-get.js';
import { dnsCheckProbe } from '../../src/check/dns-check.js';
import { socketHost } from '../../src/check/types.js';
import { checkerName } from '../../src/check/factory.js';
import { never } from './helpers.js';

const listen6 = (s: net.Server): Promise<number> => new Promise((r) => s.listen(0, '::1', () => r((s.address() as net.AddressInfo).port)));
const close = (s: net.Server): Promise<void> => new Promise((r) => s.close(() => r()));

describe('checkers to an IPv6 real server', () => {
  let web: http.Server;
  let webPort: number;
  const peers: string[] = [];
  let dns: dgram.Socket;
  let dnsPort: number;

  beforeAll(async () => {
    web = http.createServer((req, res) => { peers.push(req.socket.remoteAddress ?? ''); res.end('ok'); });
    webPort = await listen6(web);
    dns = dgram.createSocket('udp6');
    dns.on('message', (q, rinfo) => {
      const r = Buffer.from(q);
      r.writeUInt16BE(0x8180, 2); // response, recursion desired+available, NOERROR
      dns.send(r, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => dns.bind(0, '::1', () => r()));
    dnsPort = dns.address().port;
  });
  afterAll(async () => { await close(web); dns.close(); });

  it('TCP_CHECK connects to [::1]:port, from bindto', async () => {
    expect(await tcpCheckProbe({ type: 'TCP_CHECK', connectIp: '::1', connectPort: webPort, bindto: '::1', connectTimeout: 500 })(never)).toEqual({ ok: true });
  });

  it('HTTP_GET gets the url from the IPv6 server, from bindto', async () => {
    peers.length = 0;
    const r = await httpGetProbe({ type: 'HTTP_GET', connectIp: '::1', connectPort: webPort, bindto: '::1', connectTimeout: 500, urls: [{ path: '/' }] })(never);
    expect(r).toEqual({ ok: true });
    expect(peers).toEqual(['::1']);
  });

  it('SSL_GET to an IPv6 address that speaks no TLS fails (the handshake, not the address)', async () => {
    const r = await sslGetProbe({ type: 'SSL_GET', connectIp: '::1', connectPort: webPort, connectTimeout: 500, urls: [{ path: '/' }] })(never);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/^https:\/\/\[::1\]:\d+\//);
  });

  it('DNS_CHECK queries over UDP/IPv6', async () => {
    expect(await dnsCheckProbe({ type: 'DNS_CHECK', connectIp: '::1', connectPort: dnsPort, connectTimeout: 500, dnsType: 'AAAA', name: 'example.org' })(never)).toEqual({ ok: true });
  });

  it('a stopped IPv6 server fails the TCP and HTTP checks', async () => {
    const gone = net.createServer();
    const port = await listen6(gone);
    await close(gone);
    for (const r of [
      await tcpCheckProbe({ type: 'TCP_CHECK', connectIp: '::1', connectPort: port, connectTimeout: 500 })(never),
      await httpGetProbe({ type: 'HTTP_GET', connectIp: '::1', connectPort: port, connectTimeout: 500, urls: [{ path: '/' }] })(never),
    ]) {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(/\[::1\]:\d+.*ECONNREFUSED/);
    }
  });

  it('bind_if is the zone of a link-local destination only; names bracket IPv6', () => {
    expect(socketHost({ connectIp: 'fe80::12', bindIf: 'eth1' })).toBe('fe80::12%eth1');
    expect(socketHost({ connectIp: 'fe80::12' })).toBe('fe80::12');
    expect(socketHost({ connectIp: '2001:db8::12', bindIf: 'eth1' })).toBe('2001:db8::12');
    expect(socketHost({ connectIp: '10.0.0.1', bindIf: 'eth1' })).toBe('10.0.0.1');
    expect(checkerName({ type: 'TCP_CHECK', connectIp: '2001:db8::12', connectPort: 80 })).toBe('TCP_CHECK [2001:db8::12]:80');
  });
});
