// Namespace scaffolding shared by the native lab tests: a per-run prefix, a
// veth pair (or chain) between namespaces, and teardown that always runs.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function ipns(ns: string, ...args: string[]): string {
  return sh('ip', ['-n', ns, ...args]);
}

/** Lab prerequisites; when CI=true a missing one fails (the caller asserts), otherwise the suite skips. */
export function labPrereqs(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root');
  if (spawnSync('ip', ['-V']).status !== 0) missing.push('iproute2 (ip)');
  if (spawnSync('ethtool', ['--version']).status !== 0) missing.push('ethtool');
  if (!existsSync(new URL('../../native/build/Release/lvsd_native.node', import.meta.url))) missing.push('native addon (npm run build:native)');
  return missing;
}

export class Lab {
  readonly prefix = `lvnx${randomBytes(2).toString('hex')}`;
  readonly namespaces: string[] = [];

  ns(suffix: string): string {
    const name = `${this.prefix}${suffix}`;
    sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    ipns(name, 'link', 'set', 'lo', 'up');
    return name;
  }

  /** veth between nsA (named ifA there) and nsB (ifB), both up, with optional addresses (CIDR). */
  link(nsA: string, ifA: string, nsB: string, ifB: string, addrA?: string, addrB?: string): void {
    const tmpA = `${this.prefix}${randomBytes(2).toString('hex')}`;
    const tmpB = `${this.prefix}${randomBytes(2).toString('hex')}`;
    sh('ip', ['link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB]);
    try {
      sh('ip', ['link', 'set', tmpA, 'netns', nsA]);
      sh('ip', ['link', 'set', tmpB, 'netns', nsB]);
    } catch (e) {
      spawnSync('ip', ['link', 'del', tmpA]);
      throw e;
    }
    ipns(nsA, 'link', 'set', tmpA, 'name', ifA);
    ipns(nsB, 'link', 'set', tmpB, 'name', ifB);
    if (addrA) ipns(nsA, 'addr', 'add', addrA, 'dev', ifA);
    if (addrB) ipns(nsB, 'addr', 'add', addrB, 'dev', ifB);
    ipns(nsA, 'link', 'set', ifA, 'up');
    ipns(nsB, 'link', 'set', ifB, 'up');
  }

  /** Deleting a namespace deletes its veth ends too. Never throws. */
  teardown(): void {
    for (const ns of this.namespaces.splice(0)) spawnSync('ip', ['netns', 'del', ns]);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every few ms until true or `ms` elapsed; returns the last value. */
export async function waitFor(cond: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(5);
  }
  return cond();
}
