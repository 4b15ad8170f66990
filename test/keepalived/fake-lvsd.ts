// A stand-in for lvsd: a net.Server on a temp Unix socket speaking the NDJSON
// control protocol, holding a ruleset in memory with the engine's error codes
// (EEXIST, ESRCH, ENOENT), and recording every request.
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestSpec, Ruleset, ServiceKey, ServiceRules, ServiceStatus, SyncDaemonConfig, Timeouts } from '../../src/ipvs/types.js';

export interface Recorded { v: number; id: number; op: string; args: any }

class OpError extends Error {
  constructor(readonly code: string, message: string) { super(message); }
}

const zero = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
const zeroRates = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
const kid = (k: ServiceKey): string => JSON.stringify(k.kind === 'fwmark' ? ['f', k.fwmark] : ['a', k.protocol, k.addr, k.port]);

export class FakeLvsd {
  readonly dir = mkdtempSync(join(tmpdir(), 'lvs-keepalived-test-'));
  readonly path = join(this.dir, 'lvsd.sock');
  readonly requests: Recorded[] = [];
  services: ServiceRules[] = [];
  timeouts: Timeouts = { tcp: 900, tcpfin: 120, udp: 300 };
  daemons: SyncDaemonConfig[] = [];
  /** Make the next request of this op fail with this code. */
  failNext: { op: string; code: string } | undefined;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  ops(): string[] {
    return this.requests.map((r) => r.op);
  }

  /** Requests that change state (not list-services / get-*). */
  writes(): Recorded[] {
    return this.requests.filter((r) => !r.op.startsWith('list-') && !r.op.startsWith('get-'));
  }

  /** "addr:port@weight" of each dest of the service on `vip:port`, sorted. */
  destsOf(addr: string, port: number, protocol: 'tcp' | 'udp' = 'tcp'): string[] {
    const s = this.find({ kind: 'addr', protocol, addr, port });
    return (s?.dests ?? []).map((d) => `${d.addr}:${d.port}@${d.weight}`).sort();
  }

  find(k: ServiceKey): ServiceRules | undefined {
    return this.services.find((s) => kid(s.key) === kid(k));
  }

  private svc(k: ServiceKey): ServiceRules {
    const s = this.find(k);
    if (!s) throw new OpError('ESRCH', 'No such service');
    return s;
  }

  private handle(op: string, a: any): unknown {
    if (this.failNext?.op === op) {
      const code = this.failNext.code;
      this.failNext = undefined;
      throw new OpError(code, `injected ${code}`);
    }
    switch (op) {
      case 'get-info': return { version: '1.2.1', connTableSize: 4096 };
      case 'list-services': return this.services.map((s): ServiceStatus => ({
        ...s, stats: zero, rates: zeroRates,
        dests: s.dests.map((d) => ({ ...d, activeConns: 0, inactConns: 0, persistConns: 0, stats: zero, rates: zeroRates })),
      }));
      case 'replace': {
        const r = a.ruleset as Ruleset;
        const seen = new Set<string>();
        for (const s of r.services) {
          if (seen.has(kid(s.key))) throw new OpError('EEXIST', 'Service already exists');
          seen.add(kid(s.key));
        }
        this.services = structuredClone(r.services);
        return null;
      }
      case 'add-service': {
        if (this.find(a.service.key)) throw new OpError('EEXIST', 'Service already exists');
        this.services.push({ ...structuredClone(a.service), dests: [] });
        return null;
      }
      case 'add-dest': {
        const s = this.svc(a.key);
        const d = a.dest as DestSpec;
        if (s.dests.some((x) => x.addr === d.addr && x.port === d.port)) throw new OpError('EEXIST', 'Destination already exists');
        s.dests.push(structuredClone(d));
        return null;
      }
      case 'edit-dest': {
        const s = this.svc(a.key);
        const d = a.dest as DestSpec;
        const i = s.dests.findIndex((x) => x.addr === d.addr && x.port === d.port);
        if (i < 0) throw new OpError('ENOENT', 'No such destination');
        s.dests[i] = structuredClone(d);
        return null;
      }
      case 'del-dest': {
        const s = this.svc(a.key);
        const i = s.dests.findIndex((x) => x.addr === a.addr && x.port === a.port);
        if (i < 0) throw new OpError('ENOENT', 'No such destination');
        s.dests.splice(i, 1);
        return null;
      }
      case 'flush': this.services = []; return null;
      case 'start-daemon': {
        if (this.daemons.some((d) => d.state === a.daemon.state)) throw new OpError('EEXIST', 'daemon already running');
        this.daemons.push(structuredClone(a.daemon));
        return null;
      }
      case 'stop-daemon': {
        const i = this.daemons.findIndex((d) => d.state === a.state);
        if (i < 0) throw new OpError('ESRCH', 'no such daemon');
        this.daemons.splice(i, 1);
        return null;
      }
      case 'set-timeouts': this.timeouts = { ...this.timeouts, ...a.timeouts }; return null;
      default: throw new OpError('EOPNOTSUPP', `op ${op} not in the fake`);
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
          let reply: unknown;
          try {
            reply = { v: 1, id: req.id, ok: true, result: this.handle(req.op, req.args) ?? null };
          } catch (e) {
            const err = e instanceof OpError ? { code: e.code, message: e.message } : { code: 'EINVAL', message: String(e) };
            reply = { v: 1, id: req.id, ok: false, error: err };
          }
          sock.write(JSON.stringify(reply) + '\n');
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.path, () => resolve());
    });
    return this;
  }

  /** Stop listening and drop every connection (an lvsd that died). */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const srv = this.server;
    this.server = null;
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  }

  async destroy(): Promise<void> {
    await this.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
