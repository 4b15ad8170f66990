// The lvsd side of the control socket: a Unix stream socket speaking
// newline-delimited JSON (protocol.ts). Every request gets exactly one reply;
// nothing a client sends can crash the daemon: bad JSON, a wrong protocol
// version, an unknown op or a handler that throws all become error replies.
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { mkdirSync, unlinkSync, chmodSync, lstatSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  ControlError, PROTOCOL_VERSION, type ErrorBody, type OpName, type Ops, type Reply,
} from './protocol.js';

export type ServedOps = Ops;
export type ServedOpName = keyof ServedOps;

/** One function per op; ops without a handler answer EOPNOTSUPP. */
export type Handlers = {
  [K in ServedOpName]?: (args: ServedOps[K]['args']) => ServedOps[K]['result'] | Promise<ServedOps[K]['result']>;
};

export interface ServerLog {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silentLog: ServerLog = { debug() {}, info() {}, warn() {}, error() {} };

export interface ControlServerOptions {
  path: string;
  handlers: Handlers;
  log?: ServerLog;
  /**
   * Called after every op that succeeded and may have changed the rules; the
   * reply waits for it, so when a client sees "ok" the interception rules
   * (nftables, BPF) already match the new services.
   */
  onRulesChanged?: (op: OpName) => void | Promise<void>;
  /** A request line longer than this is refused (and the connection closed): a client cannot make us buffer without bound. */
  maxLineBytes?: number;
}

/** Ops that change the set of services or dests (and so the interception rules). */
const RULE_OPS: ReadonlySet<OpName> = new Set<OpName>([
  'add-service', 'edit-service', 'del-service', 'add-dest', 'edit-dest', 'del-dest', 'flush', 'replace',
]);

const KNOWN_OPS: ReadonlySet<string> = new Set<ServedOpName>([
  'get-info', 'add-service', 'edit-service', 'del-service', 'add-dest', 'edit-dest', 'del-dest', 'flush',
  'zero', 'set-timeouts', 'get-timeouts', 'list-services', 'list-conns', 'replace', 'start-daemon',
  'stop-daemon', 'list-daemons', 'get-counters', 'trace',
]);

export class ControlServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly log: ServerLog;
  private readonly maxLine: number;

  constructor(private readonly opts: ControlServerOptions) {
    this.log = opts.log ?? silentLog;
    this.maxLine = opts.maxLineBytes ?? 64 << 20;
  }

  get path(): string { return this.opts.path; }

  /** Create the socket directory, remove a stale socket, listen, chmod 0600. Refuses to steal a live daemon's socket. */
  async listen(): Promise<void> {
    const path = this.opts.path;
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    let exists = false;
    try { exists = lstatSync(path) !== undefined; } catch { /* none */ }
    if (exists) {
      if (await isLive(path)) {
        throw new Error(`another lvsd is listening on ${path}; stop it or pass a different --socket`);
      }
      unlinkSync(path);
    }
    const server = createServer((s) => this.onConnection(s));
    this.server = server;
    // The socket file is created by bind(): a umask keeps it private from the
    // first instant, the chmod makes 0600 explicit whatever the umask was.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => { server.off('error', reject); resolve(); });
      });
    } finally {
      process.umask(oldMask);
    }
    chmodSync(path, 0o600);
    server.on('error', (err) => this.log.error({ err }, 'control socket error'));
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    try { unlinkSync(this.opts.path); } catch { /* already gone */ }
  }

  /** Remove the socket file synchronously (exit paths that cannot await). */
  unlinkSync(): void {
    try { unlinkSync(this.opts.path); } catch { /* already gone */ }
  }

  private onConnection(sock: Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => { /* a client that vanished mid-reply is its own problem */ });
    let pending = '';
    // Replies go out in request order: one chain per connection.
    let chain: Promise<void> = Promise.resolve();
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.trim() === '') continue;
        chain = chain.then(() => this.handleLine(line)).then((reply) => {
          if (!sock.destroyed) sock.write(JSON.stringify(reply) + '\n');
        });
      }
      if (pending.length > this.maxLine) {
        pending = '';
        const reply = errorReply(0, { code: 'EPROTO', message: `request line longer than ${this.maxLine} bytes` });
        chain = chain.then(() => { if (!sock.destroyed) sock.end(JSON.stringify(reply) + '\n'); });
      }
    });
  }

  /** Parse, check and dispatch one request line; always returns a reply. */
  async handleLine(line: string): Promise<Reply> {
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch (e) {
      return errorReply(0, { code: 'EPROTO', message: `bad JSON: ${(e as Error).message}` });
    }
    if (typeof req !== 'object' || req === null || Array.isArray(req)) {
      return errorReply(0, { code: 'EPROTO', message: 'a request is a JSON object {v, id, op, args}' });
    }
    const r = req as { v?: unknown; id?: unknown; op?: unknown; args?: unknown };
    const id = typeof r.id === 'number' && Number.isFinite(r.id) ? r.id : 0;
    if (r.v !== PROTOCOL_VERSION) {
      return errorReply(id, {
        code: 'EPROTO',
        message: `protocol version mismatch: lvsd speaks ${PROTOCOL_VERSION}, request has ${JSON.stringify(r.v)}`,
      });
    }
    if (typeof r.op !== 'string' || !KNOWN_OPS.has(r.op)) {
      return errorReply(id, { code: 'EPROTO', message: `unknown op ${JSON.stringify(r.op)}` });
    }
    const op = r.op as ServedOpName;
    const args = r.args ?? {};
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      return errorReply(id, { code: 'EPROTO', message: `op ${op}: args must be an object` });
    }
    const handler = this.opts.handlers[op] as ((a: unknown) => unknown) | undefined;
    if (!handler) {
      return errorReply(id, { code: 'EOPNOTSUPP', message: `op ${op} is not supported by this lvsd` });
    }
    try {
      const result = await handler(args);
      if (op !== 'trace' && RULE_OPS.has(op)) {
        try { await this.opts.onRulesChanged?.(op); } catch (err) {
          this.log.error({ err, op }, 'applying rule change failed');
        }
      }
      this.log.debug({ op, args }, 'control op');
      return { v: PROTOCOL_VERSION, id, ok: true, result: (result ?? null) as never };
    } catch (e) {
      if (e instanceof ControlError) {
        // The user's error, answered to the user: one line, no stack.
        this.log.debug({ op, code: e.code, reason: e.message }, 'control op refused');
        return errorReply(id, { code: e.code, message: e.message });
      }
      // A handler that throws anything else met input it did not expect: the
      // client gets EINVAL with the reason, the daemon keeps running.
      this.log.warn({ err: e, op }, 'control op failed');
      return errorReply(id, { code: 'EINVAL', message: e instanceof Error ? e.message : String(e) });
    }
  }
}

function errorReply(id: number, error: ErrorBody): Reply {
  return { v: PROTOCOL_VERSION, id, ok: false, error };
}

/** True when something accepts connections on the socket path (a running lvsd). */
function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection(path);
    const done = (v: boolean) => { c.destroy(); resolve(v); };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    setTimeout(() => done(false), 1000).unref();
  });
}
