// Shared fixtures for checker tests: servers on 127.0.0.1 ephemeral ports and
// a self-signed certificate made with openssl at test time.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sockets = new WeakMap<Server, Set<Socket>>();

export async function listen<S extends Server>(server: S): Promise<number> {
  const set = new Set<Socket>();
  sockets.set(server, set);
  // TLS servers report the raw socket on 'connection' too, so one hook covers both.
  server.on('connection', (s: Socket) => {
    set.add(s);
    s.on('close', () => set.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

export async function close(server: Server): Promise<void> {
  for (const s of sockets.get(server) ?? []) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export interface SelfSigned {
  key: Buffer;
  cert: Buffer;
}

/** A throwaway RSA cert for CN=lvsd.test; throws (never skips) when openssl is missing. */
export function selfSigned(): SelfSigned {
  const dir = mkdtempSync(join(tmpdir(), 'lvsd-check-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
      '-subj', '/CN=lvsd.test',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'pipe' });
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An AbortSignal that never fires, for calling a probe directly. */
export const never = new AbortController().signal;
