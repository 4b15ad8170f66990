// The HTTP side of a Prometheus endpoint: GET /metrics renders a registry at
// scrape time, anything else is a 404 that says where the metrics are.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export class MetricsServer {
  private server: Server | undefined;

  /**
   * `program` names who answers in the 404 text. `refresh` runs before each
   * scrape: lvsd --workers gathers its workers' counters there, since
   * prom-client reads its sources synchronously.
   */
  constructor(readonly registry: Registry, private readonly program: string, private readonly refresh?: () => Promise<void>) {}

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end(`${this.program}: metrics are at /metrics\n`);
        return;
      }
      (this.refresh ? this.refresh() : Promise.resolve()).then(() => this.registry.metrics()).then((text) => {
        res.writeHead(200, { 'content-type': this.registry.contentType });
        res.end(text);
      }, (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`metrics failed: ${String(err)}\n`);
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const a = server.address();
        resolve(typeof a === 'object' && a ? { host: a.address, port: a.port } : { host, port });
      });
    });
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    return s ? new Promise((r) => s.close(() => r())) : Promise.resolve();
  }
}
