// lvsd refusals printed as ipvsadm prints kernel refusals (ipvs_strerror,
// which words the same errno differently per call), and what happens when
// lvsd is not there at all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { lvsadm } from './helpers.js';
import { TestLvsd } from '../helpers/lvsd-server.js';
import type { ErrorCode } from '../../src/control/protocol.js';
import type { ServedOpName } from '../../src/control/server.js';
import { run } from '../../src/lvsadm/run.js';
import { StaticResolver } from '../../src/lvsadm/names.js';
import { ControlClient, ControlConnectError } from '../../src/control/client.js';

let lvsd: TestLvsd;
beforeAll(async () => { lvsd = await TestLvsd.start(); });
afterAll(async () => { await lvsd.destroy(); });
const L = (args: string[]) => lvsadm(args, { socket: lvsd.path });

const ADD_SVC = ['-A', '-t', '10.0.0.1:80'];
const EDIT_SVC = ['-E', '-t', '10.0.0.1:80'];
const DEL_SVC = ['-D', '-t', '10.0.0.1:80'];
const ZERO_SVC = ['-Z', '-t', '10.0.0.1:80'];
const ADD_DEST = ['-a', '-t', '10.0.0.1:80', '-r', '10.0.0.2'];
const EDIT_DEST = ['-e', '-t', '10.0.0.1:80', '-r', '10.0.0.2'];
const DEL_DEST = ['-d', '-t', '10.0.0.1:80', '-r', '10.0.0.2'];

// [command, op lvsd refuses, code, what ipvsadm prints]
const CASES: Array<[string[], string, string, string]> = [
  [ADD_SVC, 'add-service', 'EEXIST', 'Service already exists'],
  [ADD_SVC, 'add-service', 'ENOENT', 'Scheduler or persistence engine not found'],
  [EDIT_SVC, 'edit-service', 'ESRCH', 'No such service'],
  [EDIT_SVC, 'edit-service', 'ENOENT', 'Scheduler or persistence engine not found'],
  [DEL_SVC, 'del-service', 'ESRCH', 'No such service'],
  [ZERO_SVC, 'zero', 'ESRCH', 'No such service'],
  [ADD_DEST, 'add-dest', 'ESRCH', 'Service not defined'],
  [ADD_DEST, 'add-dest', 'EEXIST', 'Destination already exists'],
  [ADD_DEST, 'add-dest', 'ERANGE', 'Numerical result out of range'],
  [EDIT_DEST, 'edit-dest', 'ESRCH', 'Service not defined'],
  [EDIT_DEST, 'edit-dest', 'ENOENT', 'No such destination'],
  [EDIT_DEST, 'edit-dest', 'ERANGE', 'Numerical result out of range'],
  [DEL_DEST, 'del-dest', 'ESRCH', 'Service not defined'],
  [DEL_DEST, 'del-dest', 'ENOENT', 'No such destination'],
  [['--start-daemon', 'master'], 'start-daemon', 'EEXIST', 'Daemon has already run'],
  [['--stop-daemon', 'backup'], 'stop-daemon', 'ESRCH', 'No daemon is running'],
  // Codes a call has no special wording for fall back to strerror().
  [DEL_SVC, 'del-service', 'ENOENT', 'No such file or directory'],
  [ADD_SVC, 'add-service', 'ESRCH', 'No such process'],
  [EDIT_SVC, 'edit-service', 'EEXIST', 'File exists'],
  [['-C'], 'flush', 'EINVAL', 'Invalid operation.  Possibly wrong module version, address not unicast, ...'],
  // No faithful ipvsadm wording: lvsd's own message.
  [ADD_SVC, 'add-service', 'EOPNOTSUPP', 'lvsd says: not yet'],
];

describe('kernel-refusal messages', () => {
  it.each(CASES)('%j refused by %s with %s -> "%s", exit 255', async (args, op, code, text) => {
    const restore = lvsd.refuse(op as ServedOpName, code as ErrorCode, 'lvsd says: not yet');
    try {
      expect(await L(args)).toEqual({ code: 255, stdout: '', stderr: `${text}\n` });
    } finally {
      restore();
    }
  });

  it('listing failures exit 1', async () => {
    const restore = lvsd.refuse('list-services', 'ESRCH', 'x');
    try {
      expect(await L(['-Ln'])).toEqual({ code: 1, stdout: '', stderr: 'No such service\n' });
      expect(await L(['-Sn'])).toEqual({ code: 1, stdout: '', stderr: 'No such service\n' });
    } finally {
      restore();
    }
  });
});

describe('when lvsd is not running', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lvsadm-nolvsd-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const msg = (p: string) => `Can't connect to lvsd at ${p}: is lvsd running? (set --socket or $LVSD_SOCKET)\n`;

  it('names the socket path from --socket, exit 2', async () => {
    const p = join(dir, 'absent.sock');
    expect(await lvsadm(['-Ln', '--socket', p])).toEqual({ code: 2, stdout: '', stderr: msg(p) });
    expect(await lvsadm(['--socket', p, '-A', '-t', '10.0.0.1:80'])).toEqual({ code: 2, stdout: '', stderr: msg(p) });
  });

  it('uses $LVSD_SOCKET when there is no --socket, and --socket over it', async () => {
    const envPath = join(dir, 'env.sock');
    expect(await lvsadm(['-Ln'], { socket: envPath })).toEqual({ code: 2, stdout: '', stderr: msg(envPath) });
    const r = await lvsadm(['-Ln', `--socket=${lvsd.path}`], { socket: envPath });
    expect(r.code).toBe(0);
  });

  it('falls back to /run/lvsd/lvsd.sock', async () => {
    const saved = process.env.LVSD_SOCKET;
    delete process.env.LVSD_SOCKET;
    try {
      let stderr = '';
      const code = await run(['-C'], {
        stdout: () => {}, stderr: (s) => { stderr += s; }, readStdin: async () => '', resolver: new StaticResolver(''),
      });
      // Either an lvsd answers on the default path, or the error names that path.
      if (code === 0) expect(stderr).toBe('');
      else expect({ code, stderr }).toEqual({ code: 2, stderr: "Can't connect to lvsd at /run/lvsd/lvsd.sock: is lvsd running? (set --socket or $LVSD_SOCKET)\n" });
    } finally {
      if (saved !== undefined) process.env.LVSD_SOCKET = saved;
    }
  });

  it('a path that is a stale socket file (nobody listening) is reported the same way', async () => {
    const stale = join(dir, 'stale.sock');
    const srv = createServer();
    await new Promise<void>((res) => srv.listen(stale, res));
    // Closing a listener on Linux unlinks nothing when we recreate it as a plain file.
    await new Promise<void>((res) => srv.close(() => res()));
    writeFileSync(stale, '');
    const r = await lvsadm(['-Ln', '--socket', stale]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^Can't connect to lvsd at ${stale.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  });

  it('no request is attempted for option errors even without lvsd', async () => {
    expect(await lvsadm(['-A', '-t', '10.0.0.1:80', '-w', '1'], { socket: join(dir, 'absent.sock') }))
      .toEqual({ code: 2, stdout: '', stderr: "Illegal 'weight' option with the 'add-service' command\n" });
  });
});

describe('ControlClient', () => {
  it('matches replies to requests by id when several are in flight', async () => {
    const c = await ControlClient.connect({ socket: lvsd.path });
    try {
      const [a, b] = await Promise.all([c.request('get-timeouts', {}), c.request('get-info', {})]);
      expect(a).toEqual(lvsd.engine.getTimeouts());
      expect(b).toEqual(lvsd.engine.info());
    } finally {
      c.close();
    }
  });

  it('rejects pending requests when lvsd hangs up', async () => {
    const dir2 = mkdtempSync(join(tmpdir(), 'lvsadm-hup-'));
    const p = join(dir2, 's.sock');
    const srv = createServer((sock) => sock.on('data', () => sock.destroy()));
    await new Promise<void>((res) => srv.listen(p, res));
    try {
      const c = await ControlClient.connect({ socket: p });
      await expect(c.request('get-info', {})).rejects.toBeInstanceOf(ControlConnectError);
      c.close();
      const r = await lvsadm(['-Ln', '--socket', p]);
      expect(r).toEqual({ code: 2, stdout: '', stderr: `lvsd at ${p} closed the connection before replying\n` });
    } finally {
      await new Promise<void>((res) => srv.close(() => res()));
      rmSync(dir2, { recursive: true, force: true });
    }
  });
});

describe('ControlClient against an lvsd that cannot read the request', () => {
  it('an id-0 error reply fails the waiting request at once', async () => {
    const dir3 = mkdtempSync(join(tmpdir(), 'lvsadm-id0-'));
    const p = join(dir3, 's.sock');
    const srv = createServer((sock) => sock.on('data', () => {
      sock.write(JSON.stringify({ v: 1, id: 0, ok: false, error: { code: 'EPROTO', message: 'bad JSON: nope' } }) + '\n');
    }));
    await new Promise<void>((res) => srv.listen(p, res));
    try {
      const t0 = Date.now();
      const r = await lvsadm(['-C', '--socket', p]);
      expect(r).toEqual({ code: 255, stdout: '', stderr: 'bad JSON: nope\n' });
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      await new Promise<void>((res) => srv.close(() => res()));
      rmSync(dir3, { recursive: true, force: true });
    }
  });
});
