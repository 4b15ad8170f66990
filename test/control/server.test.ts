import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { spawn } from 'node:child_process';
import { ControlServer, type Handlers } from '../../src/control/server.js';
import { ControlError, PROTOCOL_VERSION } from '../../src/control/protocol.js';

const servers: ControlServer[] = [];
afterEach(async () => { for (const s of servers.splice(0)) await s.close(); });

function tmpSock(): string {
  return join(mkdtempSync(join(tmpdir(), 'lvsd-srv-')), 'sub', 'dir', 'lvsd.sock');
}

async function start(handlers: Handlers, extra: Partial<ConstructorParameters<typeof ControlServer>[0]> = {}): Promise<ControlServer> {
  const s = new ControlServer({ path: tmpSock(), handlers, ...extra });
  await s.listen();
  servers.push(s);
  return s;
}

/** Send raw lines, collect `n` reply lines. */
function exchange(path: string, payload: string, n: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    let buf = '';
    const got: unknown[] = [];
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        got.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
        if (got.length === n) { c.destroy(); resolve(got); }
      }
    });
    c.on('error', reject);
    c.write(payload);
  });
}

const req = (id: number, op: string, args: unknown = {}, v = PROTOCOL_VERSION) => JSON.stringify({ v, id, op, args }) + '\n';

describe('ControlServer', () => {
  it('creates the socket directory, listens with mode 0600 and answers in request order', async () => {
    let timeouts = { tcp: 900, tcpfin: 120, udp: 300 };
    const s = await start({
      'get-timeouts': () => timeouts,
      'set-timeouts': async ({ timeouts: t }) => { await new Promise((r) => setTimeout(r, 20)); timeouts = { ...timeouts, ...t }; return null; },
    });
    expect(statSync(s.path).mode & 0o777).toBe(0o600);
    const replies = await exchange(s.path, req(1, 'set-timeouts', { timeouts: { tcp: 60 } }) + req(2, 'get-timeouts'), 2);
    expect(replies).toEqual([
      { v: PROTOCOL_VERSION, id: 1, ok: true, result: null },
      { v: PROTOCOL_VERSION, id: 2, ok: true, result: { tcp: 60, tcpfin: 120, udp: 300 } },
    ]);
  });

  it('turns bad JSON, wrong versions, unknown ops and throwing handlers into error replies and keeps serving', async () => {
    const s = await start({
      'del-service': () => { throw new ControlError('ESRCH', 'No such service'); },
      'flush': () => { throw new TypeError('boom'); },
      'get-info': () => ({ version: '1.2.1', connTableSize: 4096 }),
    });
    const replies = await exchange(s.path,
      '{not json\n' + '[1,2]\n' + req(3, 'get-info', {}, 99) + req(4, 'no-such-op') + req(5, 'list-daemons')
      + req(6, 'del-service', { key: { kind: 'fwmark', fwmark: 1 } }) + req(7, 'flush') + req(8, 'get-info', 'x')
      + req(9, 'get-info'), 9) as { id: number; ok: boolean; error?: { code: string; message: string } }[];
    expect(replies.map((r) => [r.id, r.ok, r.error?.code])).toEqual([
      [0, false, 'EPROTO'], [0, false, 'EPROTO'], [3, false, 'EPROTO'], [4, false, 'EPROTO'],
      [5, false, 'EOPNOTSUPP'], [6, false, 'ESRCH'], [7, false, 'EINVAL'], [8, false, 'EPROTO'], [9, true, undefined],
    ]);
    expect(replies[2]!.error!.message).toMatch(/version mismatch.*99/);
    expect(replies[5]!.error!.message).toBe('No such service');
  });

  it('waits for the rule hook before replying to rule-changing ops only', async () => {
    const order: string[] = [];
    const s = await start({
      'flush': () => { order.push('flush'); return null; },
      'get-timeouts': () => { order.push('get'); return { tcp: 1, tcpfin: 2, udp: 3 }; },
    }, { onRulesChanged: async (op) => { await new Promise((r) => setTimeout(r, 30)); order.push(`hook:${op}`); } });
    await exchange(s.path, req(1, 'flush') + req(2, 'get-timeouts'), 2);
    expect(order).toEqual(['flush', 'hook:flush', 'get']);
  });

  it('replaces a stale socket file but refuses to steal a live one', async () => {
    const path = tmpSock();
    const first = new ControlServer({ path, handlers: {} });
    await first.listen();
    servers.push(first);
    const second = new ControlServer({ path, handlers: {} });
    await expect(second.listen()).rejects.toThrow(/another lvsd/);
    await first.close();
    expect(existsSync(path)).toBe(false);
    // A socket left by a killed daemon: the file stays, nobody listens.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => child.stdout!.once('data', r));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(path)).toBe(true);
    const third = new ControlServer({ path, handlers: { 'get-info': () => ({ version: '1.2.1', connTableSize: 1 }) } });
    await third.listen();
    servers.push(third);
    const [r] = await exchange(path, req(1, 'get-info'), 1) as { ok: boolean }[];
    expect(r!.ok).toBe(true);
  });

  it('refuses an unbounded request line with EPROTO instead of buffering it', async () => {
    const s = await start({}, { maxLineBytes: 1024 });
    const [r] = await exchange(s.path, 'x'.repeat(4096), 1) as { ok: boolean; error: { code: string } }[];
    expect(r).toMatchObject({ ok: false, error: { code: 'EPROTO' } });
  });
});
