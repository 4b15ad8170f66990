import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tcpCheckProbe } from '../../src/check/tcp-check.js';
import { close, listen, never, sleep } from './helpers.js';

let server: net.Server;
let port: number;
const peers: number[] = [];

beforeAll(async () => {
  server = net.createServer((s) => {
    peers.push(s.remotePort ?? -1);
    s.resume();
  });
  port = await listen(server);
});
afterAll(async () => close(server));

const openConns = (): Promise<number> => new Promise((r) => server.getConnections((_e, n) => r(n)));

describe('TCP_CHECK', () => {
  it('passes when the connection completes, and closes it', async () => {
    expect(await tcpCheckProbe({ type: 'TCP_CHECK', connectIp: '127.0.0.1', connectPort: port, connectTimeout: 300 })(never)).toEqual({ ok: true });
    await sleep(30);
    expect(await openConns()).toBe(0);
  });

  it('fails when the port is closed', async () => {
    const probe = net.createServer();
    const dead = await listen(probe);
    await close(probe);
    const r = await tcpCheckProbe({ type: 'TCP_CHECK', connectIp: '127.0.0.1', connectPort: dead, connectTimeout: 300 })(never);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/ECONNREFUSED/);
  });

  it('binds to bindto/bind_port', async () => {
    const probe = net.createServer();
    const free = await listen(probe);
    await close(probe);
    peers.length = 0;
    const r = await tcpCheckProbe({ type: 'TCP_CHECK', connectIp: '127.0.0.1', connectPort: port, bindto: '127.0.0.1', bindPort: free, connectTimeout: 300 })(never);
    expect(r.ok).toBe(true);
    await sleep(20);
    expect(peers).toEqual([free]);
  });

  it('fails at connect_timeout when the SYN goes unanswered', async () => {
    // A listener that never accepts: once its accept queue is full the kernel
    // drops further SYNs, so connect() hangs. Node always accepts, hence python.
    const py = spawn('python3', ['-c', [
      'import socket, sys, time',
      's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)',
      'print(s.getsockname()[1], flush=True)',
      'time.sleep(30)',
    ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const fport = Number(await new Promise<string>((resolve, reject) => {
        py.once('error', reject);
        py.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
      }));
      const fillers: net.Socket[] = [];
      for (let i = 0; i < 3; i++) fillers.push(net.connect(fport, '127.0.0.1').on('error', () => undefined));
      await sleep(50);
      const t0 = performance.now();
      const r = await tcpCheckProbe({ type: 'TCP_CHECK', connectIp: '127.0.0.1', connectPort: fport, connectTimeout: 200 })(never);
      const dt = performance.now() - t0;
      for (const f of fillers) f.destroy();
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(/timeout after 200 ms/);
      expect(dt).toBeGreaterThanOrEqual(190);
      expect(dt).toBeLessThan(400);
    } finally {
      py.kill('SIGKILL');
    }
  });
});
