#!/usr/bin/env node
// The lab's outage probe: a new HTTP request (new TCP connection) every
// INTERVAL ms, each bounded by TIMEOUT ms, whether or not the previous one has
// answered. Prints "<sent-ms> <answer|ERR>" per request.
// Usage: client-loop.mjs URL [INTERVAL_MS=10] [TIMEOUT_MS=300]
import http from 'node:http';

const [url, intervalArg, timeoutArg] = process.argv.slice(2);
const interval = Number(intervalArg ?? 10);
const timeout = Number(timeoutArg ?? 300);

function once() {
  const sent = Date.now();
  let done = false;
  const finish = (answer) => {
    if (done) return;
    done = true;
    process.stdout.write(`${sent} ${answer}\n`);
  };
  const req = http.get(url, { agent: false, timeout }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => { body += d; });
    res.on('end', () => finish(res.statusCode === 200 ? body.trim() || 'EMPTY' : `HTTP${res.statusCode}`));
    res.on('error', () => finish('ERR'));
  });
  req.on('timeout', () => { req.destroy(); finish('ERR'); });
  req.on('error', () => finish('ERR'));
}

setInterval(once, interval);
process.on('SIGTERM', () => process.exit(0));
