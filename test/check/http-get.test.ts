import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostHeader, httpGetProbe, statusAccepted } from '../../src/check/http-get.js';
import type { HttpGetOptions, HttpUrl } from '../../src/check/types.js';
import { close, listen, never, sleep } from './helpers.js';

const BODY = 'hello from rs1\n';
const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

interface Seen {
  host?: string;
  connection?: string;
  userAgent?: string;
  remotePort?: number;
  remoteAddress?: string;
}

let server: http.Server;
let port: number;
let silent: net.Server;
let silentPort: number;
const seen: Seen[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({
      host: req.headers.host,
      connection: req.headers.connection,
      userAgent: req.headers['user-agent'],
      remotePort: req.socket.remotePort,
      remoteAddress: req.socket.remoteAddress,
    });
    const url = req.url ?? '/';
    if (url === '/ok') return res.end(BODY);
    if (url === '/missing') {
      res.statusCode = 404;
      return res.end('no');
    }
    if (url === '/moved') {
      res.writeHead(301, { Location: '/ok' });
      return res.end();
    }
    if (url === '/vhost') {
      res.statusCode = req.headers.host === 'www.example.test' ? 200 : 421;
      return res.end(req.headers.host);
    }
    if (url === '/headers-only') {
      // Status and headers at once, then nothing: the body never completes.
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('x');
      return;
    }
    if (url === '/trickle') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      const t = setInterval(() => res.write('.'), 20);
      res.on('close', () => clearInterval(t));
      return;
    }
    if (url === '/short') {
      // Promises 1000 bytes, sends 5, hangs up.
      res.writeHead(200, { 'Content-Length': '1000' });
      res.write('short');
      setTimeout(() => res.socket?.destroy(), 10);
      return;
    }
    if (url === '/chunked') {
      res.write('hello ');
      setTimeout(() => res.end('from rs1\n'), 10);
      return;
    }
    res.statusCode = 500;
    res.end();
  });
  port = await listen(server);
  // Accepts the connection, reads the request and never says a word.
  silent = net.createServer((s) => s.resume());
  silentPort = await listen(silent);
});

afterAll(async () => {
  await close(server);
  await close(silent);
});

function opts(urls: HttpUrl[], extra: Partial<HttpGetOptions> = {}): HttpGetOptions {
  return { type: 'HTTP_GET', connectIp: '127.0.0.1', connectPort: port, connectTimeout: 300, urls, ...extra };
}

describe('statusAccepted', () => {
  it('defaults to 200-299', () => {
    expect(statusAccepted(200, undefined)).toBe(true);
    expect(statusAccepted(299, [])).toBe(true);
    expect(statusAccepted(300, undefined)).toBe(false);
    expect(statusAccepted(199, undefined)).toBe(false);
  });
  it('takes single codes and ranges', () => {
    const spec = [404, [500, 503]] as const;
    expect(statusAccepted(404, spec)).toBe(true);
    expect(statusAccepted(502, spec)).toBe(true);
    expect(statusAccepted(200, spec)).toBe(false);
    expect(statusAccepted(504, spec)).toBe(false);
  });
});

describe('hostHeader', () => {
  it('prefers the url virtualhost, then the checker one, then ip:port', () => {
    const o = opts([], { virtualhost: 'checker.test' });
    expect(hostHeader(o, { path: '/', virtualhost: 'url.test' })).toBe('url.test');
    expect(hostHeader(o, { path: '/' })).toBe('checker.test');
    expect(hostHeader(opts([]), { path: '/' })).toBe(`127.0.0.1:${port}`);
    expect(hostHeader({ ...opts([]), connectIp: '::1' }, { path: '/' })).toBe(`[::1]:${port}`);
  });
});

describe('HTTP_GET', () => {
  it('passes on 200 and sends keepalived\'s User-Agent and ip:port Host', async () => {
    seen.length = 0;
    const r = await httpGetProbe(opts([{ path: '/ok' }]))(never);
    expect(r).toEqual({ ok: true });
    expect(seen[0]?.userAgent).toBe('KeepAliveClient');
    expect(seen[0]?.host).toBe(`127.0.0.1:${port}`);
  });

  it('fails on a status outside the default 200-299', async () => {
    const r = await httpGetProbe(opts([{ path: '/missing' }]))(never);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/404/);
    expect((await httpGetProbe(opts([{ path: '/moved' }]))(never)).ok).toBe(false);
  });

  it('passes on a status in the configured list or range', async () => {
    expect((await httpGetProbe(opts([{ path: '/missing', statusCodes: [404] }]))(never)).ok).toBe(true);
    expect((await httpGetProbe(opts([{ path: '/moved', statusCodes: [[300, 399]] }]))(never)).ok).toBe(true);
    expect((await httpGetProbe(opts([{ path: '/ok', statusCodes: [[300, 399]] }]))(never)).ok).toBe(false);
  });

  it('checks the MD5 digest of the body, in either case', async () => {
    expect((await httpGetProbe(opts([{ path: '/ok', digest: md5(BODY) }]))(never)).ok).toBe(true);
    expect((await httpGetProbe(opts([{ path: '/ok', digest: md5(BODY).toUpperCase() }]))(never)).ok).toBe(true);
    const bad = await httpGetProbe(opts([{ path: '/ok', digest: md5('other') }]))(never);
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.reason).toMatch(/digest/);
  });

  it('digests a chunked body once decoded', async () => {
    expect((await httpGetProbe(opts([{ path: '/chunked', digest: md5('hello from rs1\n') }]))(never)).ok).toBe(true);
  });

  it('sends the virtualhost as Host, the url one first', async () => {
    expect((await httpGetProbe(opts([{ path: '/vhost' }]))(never)).ok).toBe(false);
    expect((await httpGetProbe(opts([{ path: '/vhost' }], { virtualhost: 'www.example.test' }))(never)).ok).toBe(true);
    expect(
      (await httpGetProbe(opts([{ path: '/vhost', virtualhost: 'www.example.test' }], { virtualhost: 'wrong.test' }))(never)).ok,
    ).toBe(true);
    expect(
      (await httpGetProbe(opts([{ path: '/vhost', virtualhost: 'wrong.test' }], { virtualhost: 'www.example.test' }))(never)).ok,
    ).toBe(false);
  });

  it('needs every url to pass', async () => {
    expect((await httpGetProbe(opts([{ path: '/ok' }, { path: '/vhost', virtualhost: 'www.example.test' }]))(never)).ok).toBe(true);
    const r = await httpGetProbe(opts([{ path: '/ok' }, { path: '/missing' }]))(never);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/\/missing/);
  });

  it('sends Connection: close for 1.0C and 1.1, none for 1.0', async () => {
    seen.length = 0;
    await httpGetProbe(opts([{ path: '/ok' }], { httpProtocol: '1.0' }))(never);
    await httpGetProbe(opts([{ path: '/ok' }], { httpProtocol: '1.0C' }))(never);
    await httpGetProbe(opts([{ path: '/ok' }], { httpProtocol: '1.1' }))(never);
    expect(seen.map((s) => s.connection)).toEqual([undefined, 'close', 'close']);
  });

  it('binds to bindto and bind_port', async () => {
    seen.length = 0;
    const probe = net.createServer();
    const free = await listen(probe);
    await close(probe);
    const r = await httpGetProbe(opts([{ path: '/ok' }], { bindto: '127.0.0.1', bindPort: free }))(never);
    expect(r).toEqual({ ok: true });
    expect(seen[0]?.remotePort).toBe(free);
  });

  it('fails at once when the connection is refused', async () => {
    const probe = net.createServer();
    const dead = await listen(probe);
    await close(probe);
    const t0 = performance.now();
    const r = await httpGetProbe(opts([{ path: '/ok' }], { connectPort: dead }))(never);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/ECONNREFUSED/);
    expect(performance.now() - t0).toBeLessThan(250);
  });

  it('fails at connect_timeout against a server that accepts and never answers', async () => {
    const t0 = performance.now();
    const r = await httpGetProbe(opts([{ path: '/ok' }], { connectPort: silentPort, connectTimeout: 200 }))(never);
    const dt = performance.now() - t0;
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/timeout after 200 ms/);
    expect(dt).toBeGreaterThanOrEqual(190);
    expect(dt).toBeLessThan(400);
  });

  it('fails at connect_timeout when the body trickles in (keepalived #1822)', async () => {
    const t0 = performance.now();
    const r = await httpGetProbe(opts([{ path: '/trickle' }], { connectTimeout: 200 }))(never);
    const dt = performance.now() - t0;
    expect(r.ok).toBe(false);
    expect(dt).toBeGreaterThanOrEqual(190);
    expect(dt).toBeLessThan(400);
  });

  it('fails at connect_timeout when headers came but the body never completes, even without a digest', async () => {
    const t0 = performance.now();
    const r = await httpGetProbe(opts([{ path: '/headers-only' }], { connectTimeout: 200 }))(never);
    expect(r.ok).toBe(false);
    expect(performance.now() - t0).toBeLessThan(400);
  });

  it('fails when the server hangs up before the promised body', async () => {
    const r = await httpGetProbe(opts([{ path: '/short' }]))(never);
    expect(r.ok).toBe(false);
  });

  it('gives up at once when aborted', async () => {
    const ctl = new AbortController();
    const t0 = performance.now();
    const pending = httpGetProbe(opts([{ path: '/ok' }], { connectPort: silentPort, connectTimeout: 5000 }))(ctl.signal);
    setTimeout(() => ctl.abort(), 50);
    const r = await pending;
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/stopped/);
    expect(performance.now() - t0).toBeLessThan(300);
  });

  it('reads an HTTP/1.0 body delimited by the server closing, and rejects a non-HTTP answer', async () => {
    const raw = net.createServer((s) => {
      s.once('data', (d: Buffer) => {
        if (d.toString().startsWith('GET /old ')) s.end(`HTTP/1.0 200 OK\r\nServer: old\r\n\r\n${BODY}`);
        else s.end('SSH-2.0-OpenSSH_9.2\r\n');
      });
    });
    const rawPort = await listen(raw);
    try {
      expect(await httpGetProbe(opts([{ path: '/old', digest: md5(BODY) }], { connectPort: rawPort }))(never)).toEqual({ ok: true });
      expect((await httpGetProbe(opts([{ path: '/ssh' }], { connectPort: rawPort }))(never)).ok).toBe(false);
    } finally {
      await close(raw);
    }
  });

  it('speaks to an IPv6 real server with a bracketed Host', async () => {
    let host: string | undefined;
    const v6 = http.createServer((req, res) => {
      host = req.headers.host;
      res.end('v6');
    });
    await new Promise<void>((r) => v6.listen(0, '::1', () => r()));
    const p6 = (v6.address() as net.AddressInfo).port;
    try {
      expect(await httpGetProbe(opts([{ path: '/' }], { connectIp: '::1', connectPort: p6 }))(never)).toEqual({ ok: true });
      expect(host).toBe(`[::1]:${p6}`);
    } finally {
      v6.closeAllConnections();
      await new Promise<void>((r) => v6.close(() => r()));
    }
  });

  it('leaves no connection open behind a timed-out probe', async () => {
    await httpGetProbe(opts([{ path: '/ok' }], { connectPort: silentPort, connectTimeout: 100 }))(never);
    await httpGetProbe(opts([{ path: '/trickle' }], { connectTimeout: 100 }))(never);
    await sleep(50);
    const open = (s: net.Server): Promise<number> => new Promise((r) => s.getConnections((_e, n) => r(n)));
    expect(await open(silent)).toBe(0);
    expect(await open(server)).toBe(0);
  });

  it('refuses a checker without urls', () => {
    expect(() => httpGetProbe(opts([]))).toThrow(/url/);
  });
});
