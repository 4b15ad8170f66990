import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatTrio, runNotification, VirtualServerChecks, type Notification } from '../../src/check/index.js';
import { close, listen, sleep } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'lvsd-vs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const kinds = (ns: Notification[]): string[] => ns.map((n) => `${n.kind}${'rs' in n ? ` ${n.rs}` : ''}`);

async function until(cond: () => boolean, ms = 1500): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error('condition not reached in time');
    await sleep(10);
  }
}

describe('VirtualServerChecks', () => {
  it('drives dests and notifications from real checkers: removal, dynamic weight, quorum loss to the sorry server and back', async () => {
    const tcp = net.createServer((s) => s.resume());
    const tcpPort = await listen(tcp);
    const web = http.createServer((_req, res) => res.end('ok'));
    const webPort = await listen(web);
    const exitFile = join(dir, 'exit');
    writeFileSync(exitFile, '0');

    const R1 = formatTrio('127.0.0.1', 'tcp', tcpPort);
    const R2 = formatTrio('127.0.0.1', 'tcp', webPort);
    const R3 = formatTrio('127.0.0.3', 'tcp', 80);
    const SORRY = formatTrio('127.0.0.9', 'tcp', 80);
    const timing = { delayLoop: 40, retry: 0, warmup: 0, connectTimeout: 200 };
    const vs = new VirtualServerChecks({
      name: formatTrio('10.0.0.100', 'tcp', 80),
      quorum: 2,
      quorumDown: '/bin/qdown',
      sorryServer: { key: SORRY },
      realServers: [
        { key: R1, checkers: [{ type: 'TCP_CHECK', connectIp: '127.0.0.1', connectPort: tcpPort, ...timing }] },
        { key: R2, checkers: [{ type: 'HTTP_GET', connectIp: '127.0.0.1', connectPort: webPort, urls: [{ path: '/' }], ...timing }] },
        {
          key: R3,
          notifyDown: '/bin/rs3down',
          checkers: [{ type: 'MISC_CHECK', miscPath: `exit $(cat ${exitFile})`, miscDynamic: true, ...timing, miscTimeout: 500 }],
        },
      ],
    });
    const dests: Record<string, number>[] = [];
    const notes: Notification[] = [];
    vs.on('dests', (d) => dests.push(Object.fromEntries([...d].sort())));
    vs.on('notify', (n) => notes.push(n));
    try {
      vs.start();
      // Non-alpha real servers are in at once, before any check ran.
      expect(dests[0]).toEqual({ [R1]: 1, [R2]: 1, [R3]: 1 });

      // misc_dynamic: exit 7 = weight 5.
      writeFileSync(exitFile, '7');
      await until(() => vs.dests().get(R3) === 5);

      await close(tcp);
      await until(() => !vs.dests().has(R1));
      expect(vs.state.hasQuorum).toBe(true);

      // R3 fails: only R2 (weight 1) left, below quorum 2: the sorry server takes over.
      writeFileSync(exitFile, '1');
      await until(() => vs.dests().has(SORRY));
      expect(Object.fromEntries(vs.dests())).toEqual({ [SORRY]: 1 });
      expect(notes.map((n) => n.kind)).toEqual(expect.arrayContaining(['rs_down', 'quorum_down']));
      expect(notes.find((n) => n.kind === 'rs_down' && n.rs === R3)?.script).toBe('/bin/rs3down');

      // R3 back at its configured weight: 1 + 1 >= 2, quorum regained.
      writeFileSync(exitFile, '0');
      await until(() => !vs.dests().has(SORRY));
      expect(Object.fromEntries([...vs.dests()].sort())).toEqual({ [R2]: 1, [R3]: 1 });
    } finally {
      await vs.stop();
      await close(web);
    }
    expect(vs.dests().size).toBe(0);
    expect(dests.at(-1)).toEqual({});
  });

  it('a reload keeps unchanged checkers running with their verdict and replaces changed ones', async () => {
    const up = net.createServer((s) => s.resume());
    const upPort = await listen(up);
    const probe = net.createServer();
    const deadPort = await listen(probe);
    await close(probe);
    const R1 = formatTrio('127.0.0.1', 'tcp', upPort);
    const R2 = formatTrio('127.0.0.1', 'tcp', deadPort);
    const R3 = formatTrio('127.0.0.3', 'tcp', deadPort);
    const timing = { delayLoop: 40, retry: 0, warmup: 0, connectTimeout: 200 };
    const tcp = (port: number, extra = {}) => ({ type: 'TCP_CHECK' as const, connectIp: '127.0.0.1', connectPort: port, ...timing, ...extra });
    const cfg = (r2Timeout: number) => ({
      name: formatTrio('10.0.0.100', 'tcp', 80),
      realServers: [
        { key: R1, checkers: [tcp(upPort)] },
        { key: R2, checkers: [tcp(deadPort, { connectTimeout: r2Timeout })] },
        { key: R3, checkers: [tcp(deadPort)] },
      ],
    });
    const a = new VirtualServerChecks(cfg(200));
    a.start();
    let b: VirtualServerChecks | undefined;
    try {
      await until(() => !a.dests().has(R2) && !a.dests().has(R3));
      const keptR1 = a.allCheckers.find((c) => c.rs === R1)!.checker;
      const oldR2 = a.allCheckers.find((c) => c.rs === R2)!.checker;

      // Same options for R1, a changed connect_timeout for R2.
      b = new VirtualServerChecks(cfg(150));
      const first: Record<string, number>[] = [];
      const notes: Notification[] = [];
      b.on('dests', (d) => first.push(Object.fromEntries(d)));
      b.on('notify', (n) => notes.push(n));
      b.start(a);
      // A replaced checker starts afresh and, without alpha, optimistic (as
      // keepalived): R2 is back at once, and its first failure takes it out.
      expect(first[0]).toEqual({ [R1]: 1, [R2]: 1 });
      expect(kinds(notes)).toEqual([`rs_up ${R2}`]);
      expect(b.allCheckers.find((c) => c.rs === R1)!.checker).toBe(keptR1);
      expect(b.allCheckers.find((c) => c.rs === R2)!.checker).not.toBe(oldR2);
      expect(oldR2.started).toBe(false);
      await until(() => !b!.dests().has(R2));
      expect(kinds(notes)).toEqual([`rs_up ${R2}`, `rs_down ${R2}`]);
      // R1's and R3's checkers carried on: no notification, R1 never left IPVS, R3 never came back.
      expect(first.every((d) => d[R1] === 1 && !(R3 in d))).toBe(true);
      await a.stop(); // handed over: a no-op
      expect(keptR1.started).toBe(true);
    } finally {
      await (b ?? a).stop();
      await close(up);
    }
  });

  it('runs a notification\'s script as configured, with nothing appended', async () => {
    const out = join(dir, 'notified');
    const n: Notification = { kind: 'rs_down', rs: 'x', script: `echo "$0 $#" > ${out}`, fifo: 'RS x y DOWN', stopping: false };
    expect(await runNotification(n)).toEqual({ code: 0, signal: null, timedOut: false });
    expect(readFileSync(out, 'utf8')).toBe('/bin/sh 0\n');
    expect(await runNotification({ ...n, script: undefined } as Notification)).toBeUndefined();
    const t0 = performance.now();
    const slow = await runNotification({ ...n, script: 'sleep 5', stopping: true });
    expect(slow?.timedOut).toBe(true);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('a real server without checkers is simply alive', () => {
    const vs = new VirtualServerChecks({ name: 'FWM 1', realServers: [{ key: formatTrio('10.0.0.1', 'none', 0), weight: 2, checkers: [] }] });
    vs.start();
    expect(Object.fromEntries(vs.dests())).toEqual({ '[10.0.0.1]:none:0': 2 });
    return vs.stop();
  });
});
