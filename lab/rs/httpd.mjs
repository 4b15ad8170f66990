#!/usr/bin/env node
// The lab's real-server application: an HTTP server that names itself (as the
// notes' `index.html` says "from 192.168.150.1x"), a deterministic large body
// for integrity checks, and a UDP echo that also names itself.
// Usage: httpd.mjs NAME [--port 80] [--bind 0.0.0.0] [--udp PORT]
import http from 'node:http';
import dgram from 'node:dgram';
import { createHash } from 'node:crypto';

const args = process.argv.slice(2);
const name = args[0] ?? 'rs';
const opt = (flag, dflt) => { const i = args.indexOf(flag); return i >= 0 ? args[i + 1] : dflt; };
const port = Number(opt('--port', '80'));
const bind = opt('--bind', '0.0.0.0');
const udpPort = opt('--udp', undefined);

/** Byte i of the big body: the same on every RS, so a client can check integrity from the size alone. */
function fillBody(buf, start) {
  for (let i = 0; i < buf.length; i++) buf[i] = ((start + i) * 2654435761) >>> 24;
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/big') {
    const size = Number(url.searchParams.get('size') ?? 20 * 1024 * 1024);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size, 'x-served-by': name });
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024);
    const pump = () => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent);
        const part = n === chunk.length ? chunk : Buffer.alloc(n);
        fillBody(part, sent);
        sent += n;
        if (!res.write(part)) { res.once('drain', pump); return; }
      }
      res.end();
    };
    pump();
    return;
  }
  if (url.pathname === '/slow') {
    // Holds the connection open: used to show ActiveConn and weight-0 draining.
    const ms = Number(url.searchParams.get('ms') ?? 2000);
    setTimeout(() => res.end(`from ${name}\n`), ms);
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': name });
  res.end(`from ${name}\n`);
});
server.keepAliveTimeout = 60_000;
server.listen(port, bind, () => process.stdout.write(`${name} listening on ${bind}:${port}\n`));

if (udpPort) {
  // '::' takes both families (dual stack), as the HTTP server does.
  const sock = dgram.createSocket(bind.includes(':') ? 'udp6' : 'udp4');
  sock.on('message', (msg, rinfo) => sock.send(Buffer.from(`from ${name}: ${msg}`), rinfo.port, rinfo.address));
  sock.bind(Number(udpPort), bind);
}

export function bigBodySha256(size) {
  const h = createHash('sha256');
  const chunk = Buffer.alloc(64 * 1024);
  for (let sent = 0; sent < size; sent += chunk.length) {
    const n = Math.min(chunk.length, size - sent);
    const part = n === chunk.length ? chunk : Buffer.alloc(n);
    fillBody(part, sent);
    h.update(part);
  }
  return h.digest('hex');
}
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
