#!/usr/bin/env node
// lvsadm: ipvsadm's command line for lvsd.
import { run } from '../lvsadm/run.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

// `lvsadm -Ln | head` closes the pipe early: that ends the listing, it is not a crash.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

const code = await run(process.argv.slice(2), {
  stdout: (s) => { process.stdout.write(s); },
  stderr: (s) => { process.stderr.write(s); },
  readStdin,
  envSocket: process.env.LVSD_SOCKET,
});
// Let pending stdout drain before the status is set (a pipe may be slow).
process.exitCode = code;
