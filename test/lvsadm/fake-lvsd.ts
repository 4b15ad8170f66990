// A stand-in for lvsd's control socket: answers NDJSON requests from an
// in-memory model the test controls, and records every request it got.
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnEntry, EngineInfo, ServiceStatus, SyncDaemonConfig, Timeouts } from '../../src/ipvs/types.js';
import { run, type RunIO } from '../../src/lvsadm/run.js';
import { StaticResolver, type Resolver } from '../../src/lvsadm/names.js';

export interface FakeState {
  info: EngineInfo;
  services: ServiceStatus[];
  conns: ConnEntry[];
  timeouts: Timeouts;
  daemons: SyncDaemonConfig[];
}

export type Handler = (args: any, state: FakeState) => unknown;

export class OpError extends Error {
  constructor(readonly code: string, message: string) { super(message); }
}

export interface Recorded { v: number; id: number; op: string; args: any }

export class FakeLvsd {
  readonly dir = mkdtempSync(join(tmpdir(), 'lvsadm-test-'));
  readonly path = join(this.dir, 'lvsd.sock');
  readonly requests: Recorded[] = [];
  readonly handlers: Record<string, Handler> = {};
  state: FakeState = {
    info: { version: '1.2.1', connTableSize: 4096 },
    services: [], conns: [], timeouts: { tcp: 900, tcpfin: 120, udp: 300 }, daemons: [],
  };
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor() {
    const h = this.handlers;
    h['get-info'] = (_a, s) => s.info;
    h['list-services'] = (a, s) => {
      if (!a.key) return s.services;
      const k = JSON.stringify(a.key);
      const found = s.services.filter((x) => JSON.stringify(x.key) === k);
      if (found.length === 0) throw new OpError('ESRCH', 'no such service');
      return found;
    };
    h['list-conns'] = (_a, s) => s.conns;
    h['get-timeouts'] = (_a, s) => s.timeouts;
    h['list-daemons'] = (_a, s) => s.daemons;
    for (const op of ['add-service', 'edit-service', 'del-service', 'add-dest', 'edit-dest', 'del-dest',
      'flush', 'zero', 'set-timeouts', 'replace', 'start-daemon', 'stop-daemon']) {
      h[op] = () => null;
    }
  }

  async start(): Promise<this> {
    this.server = createServer((sock) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const req = JSON.parse(line) as Recorded;
          this.requests.push(req);
          const handler = this.handlers[req.op];
          let reply: unknown;
          try {
            if (!handler) throw new OpError('EPROTO', `unknown op ${req.op}`);
            reply = { v: 1, id: req.id, ok: true, result: handler(req.args, this.state) ?? null };
          } catch (e) {
            const err = e instanceof OpError ? { code: e.code, message: e.message } : { code: 'EINVAL', message: String(e) };
            reply = { v: 1, id: req.id, ok: false, error: err };
          }
          sock.write(JSON.stringify(reply) + '\n');
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.path, resolve));
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
    rmSync(this.dir, { recursive: true, force: true });
  }

  ops(): string[] { return this.requests.map((r) => r.op); }
}

export const SERVICES_TEXT = [
  'ssh\t\t22/tcp',
  'http\t\t80/tcp\t\twww',
  'http\t\t80/udp',
  'https\t\t443/tcp',
  'domain\t\t53/tcp',
  'domain\t\t53/udp',
  'sip\t\t5060/udp',
].join('\n');

export interface Outcome { code: number; stdout: string; stderr: string }

/** Run lvsadm in-process against a socket path. */
export async function lvsadm(
  args: string[], opts: { socket?: string; stdin?: string; resolver?: Resolver } = {},
): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const io: RunIO = {
    stdout: (s) => { stdout += s; },
    stderr: (s) => { stderr += s; },
    readStdin: async () => opts.stdin ?? '',
    resolver: opts.resolver ?? new StaticResolver(SERVICES_TEXT),
    envSocket: opts.socket,
    timeoutMs: 5000,
  };
  const code = await run(args, io);
  return { code, stdout, stderr };
}

export const zeroStats = () => ({ conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
export const zeroRates = () => ({ cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });
