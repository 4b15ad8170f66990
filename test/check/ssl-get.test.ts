import * as https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sslGetProbe } from '../../src/check/ssl-get.js';
import type { SslGetOptions } from '../../src/check/types.js';
import { close, listen, never, selfSigned } from './helpers.js';

let server: https.Server;
let port: number;
// What each TLS handshake carried as SNI ('' = none), and the Host header.
const sni: string[] = [];
const hosts: string[] = [];

beforeAll(async () => {
  const { key, cert } = selfSigned();
  server = https.createServer({ key, cert }, (req, res) => {
    hosts.push(req.headers.host ?? '');
    if (req.url === '/ok') return res.end('secure\n');
    if (req.url === '/hang') return;
    res.statusCode = 503;
    res.end();
  });
  server.on('secureConnection', (s: TLSSocket) => {
    const name = (s as TLSSocket & { servername?: string | false }).servername;
    sni.push(typeof name === 'string' ? name : '');
  });
  port = await listen(server);
});

afterAll(async () => {
  await close(server);
});

function opts(extra: Partial<SslGetOptions> = {}): SslGetOptions {
  return { type: 'SSL_GET', connectIp: '127.0.0.1', connectPort: port, connectTimeout: 500, urls: [{ path: '/ok' }], ...extra };
}

describe('SSL_GET', () => {
  it('accepts a self-signed certificate as keepalived does', async () => {
    expect(await sslGetProbe(opts())(never)).toEqual({ ok: true });
  });

  it('checks status and digest over TLS', async () => {
    expect((await sslGetProbe(opts({ urls: [{ path: '/other' }] }))(never)).ok).toBe(false);
    expect((await sslGetProbe(opts({ urls: [{ path: '/other', statusCodes: [503] }] }))(never)).ok).toBe(true);
    expect((await sslGetProbe(opts({ urls: [{ path: '/ok', digest: 'a58b1d9c3cf9e3f0a5b7a2b1d3a46b36' }] }))(never)).ok).toBe(false);
  });

  it('sends no SNI unless enable_sni, even with a virtualhost', async () => {
    sni.length = 0;
    hosts.length = 0;
    await sslGetProbe(opts({ virtualhost: 'www.example.test' }))(never);
    expect(sni).toEqual(['']);
    expect(hosts).toEqual(['www.example.test']);
  });

  it('with enable_sni sends sni_name, else the url virtualhost, else the checker one', async () => {
    sni.length = 0;
    await sslGetProbe(opts({ enableSni: true, sniName: 'sni.test', virtualhost: 'vh.test' }))(never);
    await sslGetProbe(opts({ enableSni: true, virtualhost: 'vh.test', urls: [{ path: '/ok', virtualhost: 'url.test' }] }))(never);
    await sslGetProbe(opts({ enableSni: true, virtualhost: 'vh.test' }))(never);
    await sslGetProbe(opts({ enableSni: true }))(never);
    expect(sni).toEqual(['sni.test', 'url.test', 'vh.test', '']);
  });

  it('fails at connect_timeout when the server never answers after the handshake', async () => {
    const t0 = performance.now();
    const r = await sslGetProbe(opts({ urls: [{ path: '/hang' }], connectTimeout: 200 }))(never);
    expect(r.ok).toBe(false);
    expect(performance.now() - t0).toBeLessThan(450);
  });

  it('fails when the port speaks plain TCP and no TLS', async () => {
    const net = await import('node:net');
    const plain = net.createServer((s) => s.end('HTTP/1.0 200 OK\r\n\r\nhi'));
    const p = await listen(plain);
    const r = await sslGetProbe(opts({ connectPort: p }))(never);
    await close(plain);
    expect(r.ok).toBe(false);
  });
});
