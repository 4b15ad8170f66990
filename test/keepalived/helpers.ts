// Shared pieces for lvs-keepalived unit tests: HTTP "real servers" on
// 127.0.0.1 whose health the test switches, a log that records, config files
// in a temp dir, and polling.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Log } from '../../src/keepalived/ipvs-manager.js';

export class Backend {
  healthy = true;
  hits = 0;
  port = 0;
  private readonly server: Server;
  private readonly socks = new Set<Socket>();
  constructor() {
    this.server = createServer((req, res) => {
      this.hits++;
      res.writeHead(this.healthy ? 200 : 503).end(this.healthy ? 'ok\n' : 'down\n');
    });
    this.server.on('connection', (s: Socket) => { this.socks.add(s); s.on('close', () => this.socks.delete(s)); });
  }
  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }
  async close(): Promise<void> {
    for (const s of this.socks) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export interface LogLine { level: string; obj: object; msg: string | undefined }

export function recordingLog(): Log & { lines: LogLine[]; text(): string } {
  const lines: LogLine[] = [];
  const at = (level: string) => (obj: object, msg?: string) => { lines.push({ level, obj, msg }); };
  return {
    lines,
    debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'),
    text: () => lines.map((l) => `${l.level}: ${l.msg ?? ''} ${JSON.stringify(l.obj)}`).join('\n'),
  };
}

export class TmpDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'lvs-keepalived-conf-'));
  write(name: string, text: string): string {
    const p = join(this.dir, name);
    writeFileSync(p, text);
    return p;
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One HTTP_GET checker block probing 127.0.0.1:port with fast timers. */
export function httpGet(port: number, extra = ''): string {
  return `
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_ip 127.0.0.1
            connect_port ${port}
            connect_timeout 2
            retry 1
            delay_before_retry 0.05
            delay_loop 0.1
            warmup 0
            ${extra}
        }`;
}
