// The control-socket client used by lvsadm (and usable by lvs-keepalived):
// newline-delimited JSON requests over lvsd's Unix socket, replies matched
// by id, so several requests may be in flight on one connection.
import { connect, type Socket } from 'node:net';
import {
  PROTOCOL_VERSION, socketPath, type ErrorCode, type Ops, type Reply,
} from './protocol.js';

type AllOps = Ops;
export type AnyOpName = keyof AllOps;

/** lvsd answered with an error reply; `code` carries the errno meaning. */
export class ControlReplyError extends Error {
  constructor(readonly code: ErrorCode | string, message: string, readonly op: string) {
    super(message);
    this.name = 'ControlReplyError';
  }
}

/** lvsd could not be reached, or the connection broke before a reply. */
export class ControlConnectError extends Error {
  constructor(readonly path: string, message: string, readonly errno?: string) {
    super(message);
    this.name = 'ControlConnectError';
  }
}

export interface ClientOptions {
  /** --socket; otherwise $LVSD_SOCKET, otherwise the default path. */
  socket?: string;
  /** Give up on a reply after this long (ms). A whole-ruleset replace can take a while. */
  timeoutMs?: number;
}

function connectMessage(path: string, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return `Can't connect to lvsd at ${path}: is lvsd running? (set --socket or $LVSD_SOCKET)`;
    case 'EACCES':
    case 'EPERM':
      return `Can't connect to lvsd at ${path}: permission denied (you must be root)`;
    case 'ENOTSOCK':
      return `Can't connect to lvsd at ${path}: not a socket (set --socket or $LVSD_SOCKET)`;
    default:
      return `Can't connect to lvsd at ${path}: ${err.message}`;
  }
}

interface Pending {
  op: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class ControlClient {
  private nextId = 1;
  private buf = '';
  private readonly pending = new Map<number, Pending>();
  private closedError: Error | null = null;

  private constructor(private readonly sock: Socket, readonly path: string, private readonly timeoutMs: number) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('error', (err) => this.failAll(new ControlConnectError(path, `lvsd connection at ${path} failed: ${err.message}`)));
    sock.on('close', () => this.failAll(new ControlConnectError(path, `lvsd at ${path} closed the connection before replying`)));
  }

  static connect(opts: ClientOptions = {}): Promise<ControlClient> {
    const path = socketPath(opts.socket);
    return new Promise((resolve, reject) => {
      const sock = connect(path);
      const onError = (err: NodeJS.ErrnoException) => {
        sock.destroy();
        reject(new ControlConnectError(path, connectMessage(path, err), err.code));
      };
      sock.once('error', onError);
      sock.once('connect', () => {
        sock.off('error', onError);
        resolve(new ControlClient(sock, path, opts.timeoutMs ?? 120_000));
      });
    });
  }

  request<K extends AnyOpName>(op: K, args: AllOps[K]['args']): Promise<AllOps[K]['result']> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const req = { v: PROTOCOL_VERSION, id, op, args };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ControlConnectError(this.path, `lvsd at ${this.path} did not answer '${op}' within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { op, resolve: resolve as (v: unknown) => void, reject, timer });
      this.sock.write(JSON.stringify(req) + '\n');
    });
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line === '') continue;
      let reply: Reply;
      try {
        reply = JSON.parse(line) as Reply;
      } catch {
        this.failAll(new ControlReplyError('EPROTO', `lvsd at ${this.path} sent a line that is not JSON`, '?'));
        this.sock.destroy();
        return;
      }
      const p = this.pending.get(reply.id);
      if (!p) {
        // lvsd answers id 0 when it could not read a request at all: every
        // request still waiting is then as good as refused.
        if (reply.id === 0 && !reply.ok) {
          const err = reply.error ?? { code: 'EPROTO', message: 'request refused' };
          for (const [id, q] of this.pending) {
            clearTimeout(q.timer);
            this.pending.delete(id);
            q.reject(new ControlReplyError(err.code, err.message, q.op));
          }
        }
        continue;
      }
      this.pending.delete(reply.id);
      clearTimeout(p.timer);
      if (reply.v !== PROTOCOL_VERSION) {
        p.reject(new ControlReplyError('EPROTO', `lvsd speaks control protocol v${reply.v}, lvsadm v${PROTOCOL_VERSION}`, p.op));
      } else if (reply.ok) {
        p.resolve(reply.result);
      } else {
        p.reject(new ControlReplyError(reply.error?.code ?? 'EPROTO', reply.error?.message ?? 'error', p.op));
      }
    }
  }

  private failAll(err: Error): void {
    this.closedError ??= err;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
  }
}
