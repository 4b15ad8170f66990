// Name resolution the way ipvsadm does it through libc: ports by
// getservbyname/getservbyport (/etc/services, first match in file order),
// hosts by gethostbyname/gethostbyaddr (/etc/hosts first, then DNS). DNS is
// bounded by a timeout so a dead resolver cannot hang a listing; on timeout
// the numeric form is printed, as libc does when the lookup fails.
//
// Listing formatters are synchronous, so reverse lookups are done up front:
// `prepare()` resolves every address a listing will print, then the sync
// `addrName()` answers from that cache.
import { readFileSync } from 'node:fs';
import { promises as dnsp, lookup as dnsLookup } from 'node:dns';
import type { Protocol } from '../ipvs/types.js';

/** Protocol for port names: fwmark services and IP templates have none. */
export type NameProto = Protocol | 'ip';

export interface Resolver {
  /** gethostbyname: IPv4 dotted quad, or null when the name does not resolve. */
  hostToAddr(name: string): Promise<string | null>;
  /** getservbyname(name, proto). */
  serviceToPort(name: string, proto: NameProto): number | null;
  /** getservbyport(port, proto). */
  portToService(port: number, proto: NameProto): string | null;
  /** Resolve (and cache) the reverse names of these addresses. */
  prepare(addrs: Iterable<string>): Promise<void>;
  /** gethostbyaddr from the cache filled by prepare(); null if none. */
  addrToHost(addr: string): string | null;
}

interface ServEntry { name: string; aliases: string[]; port: number; proto: string }

export function parseServices(text: string): ServEntry[] {
  const out: ServEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const f = line.split(/\s+/);
    const m = /^(\d+)\/(\w+)$/.exec(f[1] ?? '');
    if (!m) continue;
    out.push({ name: f[0]!, aliases: f.slice(2), port: Number(m[1]), proto: m[2]! });
  }
  return out;
}

export function parseHosts(text: string): Array<{ addr: string; names: string[] }> {
  const out: Array<{ addr: string; names: string[] }> = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const f = line.split(/\s+/);
    if (f.length < 2) continue;
    out.push({ addr: f[0]!, names: f.slice(1) });
  }
  return out;
}

function readOr(path: string): string {
  try { return readFileSync(path, 'utf8'); } catch { return ''; }
}

export interface SystemResolverOptions {
  servicesFile?: string;
  hostsFile?: string;
  /** Budget for all DNS lookups of one command, ms. */
  dnsTimeoutMs?: number;
  /** Disable DNS entirely (files only). */
  noDns?: boolean;
}

function withTimeout<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(fallback), ms);
    t.unref?.();
    p.then((v) => { clearTimeout(t); resolve(v); }, () => { clearTimeout(t); resolve(fallback); });
  });
}

export class SystemResolver implements Resolver {
  private services: ServEntry[] | undefined;
  private hosts: Array<{ addr: string; names: string[] }> | undefined;
  private readonly reverse = new Map<string, string | null>();
  constructor(private readonly opts: SystemResolverOptions = {}) {}

  private servs(): ServEntry[] {
    this.services ??= parseServices(readOr(this.opts.servicesFile ?? '/etc/services'));
    return this.services;
  }
  private hostsTable(): Array<{ addr: string; names: string[] }> {
    this.hosts ??= parseHosts(readOr(this.opts.hostsFile ?? '/etc/hosts'));
    return this.hosts;
  }

  serviceToPort(name: string, proto: NameProto): number | null {
    if (proto === 'ip') return null;
    const e = this.servs().find((s) => s.proto === proto && (s.name === name || s.aliases.includes(name)));
    return e ? e.port : null;
  }

  portToService(port: number, proto: NameProto): string | null {
    if (proto === 'ip') return null;
    const e = this.servs().find((s) => s.proto === proto && s.port === port);
    return e ? e.name : null;
  }

  async hostToAddr(name: string): Promise<string | null> {
    const h = this.hostsTable().find((e) => e.names.includes(name) && /^\d+\.\d+\.\d+\.\d+$/.test(e.addr));
    if (h) return h.addr;
    if (this.opts.noDns) return null;
    const p = new Promise<string | null>((resolve) => {
      // An IP literal comes back as itself whatever the family asked for;
      // gethostbyname only answers AF_INET here, so anything else is no answer.
      dnsLookup(name, { family: 4 }, (err, address, family) => resolve(err || family !== 4 ? null : address));
    });
    return withTimeout(p, this.opts.dnsTimeoutMs ?? 2000, null);
  }

  async prepare(addrs: Iterable<string>): Promise<void> {
    const todo: string[] = [];
    for (const a of addrs) {
      if (this.reverse.has(a)) continue;
      const h = this.hostsTable().find((e) => e.addr === a);
      if (h) { this.reverse.set(a, h.names[0]!); continue; }
      this.reverse.set(a, null);
      todo.push(a);
    }
    if (this.opts.noDns || todo.length === 0) return;
    const budget = this.opts.dnsTimeoutMs ?? 2000;
    await Promise.all(todo.map(async (a) => {
      const names = await withTimeout(dnsp.reverse(a), budget, [] as string[]);
      if (names.length > 0) this.reverse.set(a, names[0]!);
    }));
  }

  addrToHost(addr: string): string | null {
    return this.reverse.get(addr) ?? null;
  }
}

/**
 * A resolver with fixed tables, for tests and for callers that must not touch
 * the system's files or DNS.
 */
export class StaticResolver implements Resolver {
  private readonly servs: ServEntry[];
  constructor(
    servicesText: string,
    private readonly hosts: Record<string, string> = {},
    private readonly reverseNames: Record<string, string> = {},
  ) {
    this.servs = parseServices(servicesText);
  }
  async hostToAddr(name: string): Promise<string | null> { return this.hosts[name] ?? null; }
  serviceToPort(name: string, proto: NameProto): number | null {
    if (proto === 'ip') return null;
    const e = this.servs.find((s) => s.proto === proto && (s.name === name || s.aliases.includes(name)));
    return e ? e.port : null;
  }
  portToService(port: number, proto: NameProto): string | null {
    if (proto === 'ip') return null;
    const e = this.servs.find((s) => s.proto === proto && s.port === port);
    return e ? e.name : null;
  }
  async prepare(): Promise<void> {}
  addrToHost(addr: string): string | null { return this.reverseNames[addr] ?? null; }
}

/**
 * addrport_to_anyname: "addr:port" numerically, or "host:service" when
 * resolution is on. libipvs formats into a 60-byte buffer, so names are
 * cut at 59 characters before any listing truncation.
 */
export function addrPortName(
  resolver: Resolver | null, addr: string, port: number, proto: NameProto,
): string {
  const v6 = addr.includes(':');
  let s: string;
  if (!resolver) {
    s = v6 ? `[${addr}]:${port}` : `${addr}:${port}`;
  } else {
    const host = resolver.addrToHost(addr) ?? addr;
    const serv = resolver.portToService(port, proto) ?? String(port);
    s = v6 ? `[${host}]:${serv}` : `${host}:${serv}`;
  }
  return s.length > 59 ? s.slice(0, 59) : s;
}
