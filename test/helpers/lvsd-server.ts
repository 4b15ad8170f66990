// lvsd for tests, in-process: the real IpvsEngine behind the real control
// server and op table, on a Unix socket in a temp dir. Clients (lvsadm's
// run(), lvs-keepalived's manager) meet the engine's own answers and errors;
// the test reads what arrived (`requests`) and what the engine now holds.
//
// Two kinds of stand-in, both opt-in and named as such:
// - `override(op, fn)`: answer one op from the test (a refusal to check how
//   a client words it, or a listing fixture with counters no unit test can
//   drive the engine to);
// - `syncDaemons()`: a list standing in for lvsd's sync daemons (the real
//   ones, src/sync/daemon.ts, open multicast sockets), so a test of the
//   client side of --start-daemon needs no network.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpvsEngine, type EngineOptions } from '../../src/ipvs/engine.js';
import type { DestStatus, DestSpec, ServiceKey, ServiceRules, ServiceStatus, SyncDaemonConfig, Timeouts } from '../../src/ipvs/types.js';
import { ControlServer, type Handlers, type ServedOpName, type ServedOps } from '../../src/control/server.js';
import { ControlError, type ErrorCode, type Reply } from '../../src/control/protocol.js';
import { engineHandlers } from '../../src/control/ops.js';

export { ControlError };

/** A request line as it arrived (parsed), before the server judged it. */
export interface Recorded { v: number; id: number; op: string; args: any }

type Handler<K extends ServedOpName> = (args: ServedOps[K]['args']) => ServedOps[K]['result'] | Promise<ServedOps[K]['result']>;

export interface TestLvsdOptions {
  engine?: EngineOptions;
  /** The engine's clock for list-conns and trace (ms); default performance.now(). */
  now?: () => number;
}

class RecordingControlServer extends ControlServer {
  constructor(opts: ConstructorParameters<typeof ControlServer>[0], private readonly onLine: (line: string) => void) {
    super(opts);
  }

  override handleLine(line: string): Promise<Reply> {
    this.onLine(line);
    return super.handleLine(line);
  }
}

const ruleOf = ({ stats: _s, rates: _r, dests, ...spec }: ServiceStatus): ServiceRules =>
  ({ ...spec, dests: dests.map(destOf) });
const destOf = ({ activeConns: _a, inactConns: _i, persistConns: _p, stats: _s, rates: _r, ...spec }: DestStatus): DestSpec => spec;
const sameKey = (a: ServiceKey, b: ServiceKey): boolean =>
  a.kind === 'fwmark' ? b.kind === 'fwmark' && a.fwmark === b.fwmark && (a.af === 6) === (b.af === 6)
    : b.kind === 'addr' && a.protocol === b.protocol && a.addr === b.addr && a.port === b.port;

export class TestLvsd {
  readonly dir = mkdtempSync(join(tmpdir(), 'lvsd-test-'));
  readonly path = join(this.dir, 'lvsd.sock');
  readonly engine: IpvsEngine;
  /** Every request line received, parsed, in arrival order (also the refused ones). */
  readonly requests: Recorded[] = [];
  private readonly handlers: Handlers;
  private readonly server: RecordingControlServer;
  private listening = false;

  constructor(opts: TestLvsdOptions = {}) {
    this.engine = new IpvsEngine(opts.engine);
    this.handlers = engineHandlers(this.engine, opts.now ? { now: opts.now } : {});
    this.server = new RecordingControlServer({ path: this.path, handlers: this.handlers }, (line) => {
      try { this.requests.push(JSON.parse(line) as Recorded); } catch { /* the server answers bad JSON itself */ }
    });
  }

  /** A started lvsd. */
  static async start(opts: TestLvsdOptions = {}): Promise<TestLvsd> {
    return new TestLvsd(opts).start();
  }

  async start(): Promise<this> {
    await this.server.listen();
    this.listening = true;
    return this;
  }

  /** Stop listening and drop every connection (an lvsd that died); the engine keeps its state until the test changes it. */
  async close(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    await this.server.close();
  }

  async destroy(): Promise<void> {
    await this.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Answer `op` from the test instead of the engine; returns the function that puts the engine's answer back. */
  override<K extends ServedOpName>(op: K, fn: Handler<K>): () => void {
    const h = this.handlers as Record<string, unknown>;
    const saved = h[op];
    h[op] = fn;
    return () => { if (saved === undefined) delete h[op]; else h[op] = saved; };
  }

  /** Make `op` fail with `code` until the returned function is called. */
  refuse(op: ServedOpName, code: ErrorCode, message = `refused by the test with ${code}`): () => void {
    return this.override(op, () => { throw new ControlError(code, message); });
  }

  /**
   * A stand-in for the connection sync daemons lvsd does not run yet: start,
   * stop and list keep a list with the kernel's refusals (EEXIST when that
   * state runs, ESRCH when it does not). Returns the live list.
   */
  syncDaemons(): SyncDaemonConfig[] {
    const list: SyncDaemonConfig[] = [];
    this.override('start-daemon', ({ daemon }) => {
      if (list.some((d) => d.state === daemon.state)) throw new ControlError('EEXIST', 'daemon already running');
      list.push(structuredClone(daemon));
      return null;
    });
    this.override('stop-daemon', ({ state }) => {
      const i = list.findIndex((d) => d.state === state);
      if (i < 0) throw new ControlError('ESRCH', 'no such daemon');
      list.splice(i, 1);
      return null;
    });
    this.override('list-daemons', () => list);
    return list;
  }

  ops(): string[] {
    return this.requests.map((r) => r.op);
  }

  /** Requests that change state (not list-* / get-*). */
  writes(): Recorded[] {
    return this.requests.filter((r) => !r.op.startsWith('list-') && !r.op.startsWith('get-'));
  }

  /** The engine's services as rules (what -S would save), in the engine's order. */
  get services(): ServiceRules[] {
    return this.engine.listServices().map(ruleOf);
  }

  /** Put the engine in this state directly (an operator's lvsadm -R before the test), unrecorded. Statuses count as their rules. */
  set services(services: ServiceRules[]) {
    this.engine.replace({ services: services.map((s) => ruleOf(structuredClone(s) as ServiceStatus)) });
  }

  get timeouts(): Timeouts {
    return this.engine.getTimeouts();
  }

  find(k: ServiceKey): ServiceRules | undefined {
    return this.services.find((s) => sameKey(s.key, k));
  }

  /** "addr:port@weight" of each dest of the service on `vip:port`, sorted. */
  destsOf(addr: string, port: number, protocol: 'tcp' | 'udp' = 'tcp'): string[] {
    const s = this.find({ kind: 'addr', protocol, addr, port });
    return (s?.dests ?? []).map((d) => `${d.addr}:${d.port}@${d.weight}`).sort();
  }
}
