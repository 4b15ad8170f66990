// Interception: frames that lvsd forwards must not also reach the director's
// own stack (it would answer a SYN to the VIP with a RST, and route NAT
// replies itself). An nftables `netdev` ingress chain per interface drops
// them; AF_PACKET taps run before netdev ingress, so lvsd still gets a copy.
// All rules live in one table of lvsd's own, replaced in one `nft -f -`
// transaction, so there is never a moment with half a ruleset.
import { execFile, execFileSync } from 'node:child_process';
import { canonicalIpv6 } from '../packet/ipv6.js';

export interface InterceptService {
  protocol: 'tcp' | 'udp' | 'sctp';
  addr: string;
  /** 0 = every port (persistent port-0 services). */
  port: number;
}

export interface InterceptNatDest {
  protocol: 'tcp' | 'udp' | 'sctp';
  addr: string;
  port: number;
}

export interface InterceptRules {
  services: InterceptService[];
  /** Real servers behind NAT: their replies (source RIP:rport) are lvsd's to SNAT. */
  natDests: InterceptNatDest[];
}

/** The table's name: `lvsd`, or `lvsd_<suffix>` for a second instance in the same namespace. */
export function tableName(suffix?: string): string {
  if (!suffix) return 'lvsd';
  const clean = suffix.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 40);
  return `lvsd_${clean}`;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
/** `ip daddr A` or `ip6 daddr A` (dir: daddr/saddr); the address is checked (it goes into nft's input). */
function addrMatch(a: string, dir: 'daddr' | 'saddr'): string {
  if (a.includes(':')) {
    const c = canonicalIpv6(a);
    if (c === null) throw new Error(`not an IPv6 address: ${JSON.stringify(a)}`);
    return `ip6 ${dir} ${c}`;
  }
  const m = IPV4.exec(a);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) throw new Error(`not an IPv4 address: ${JSON.stringify(a)}`);
  return `ip ${dir} ${a}`;
}
function checkIfname(i: string): string {
  // Interface names go inside a quoted nft string: refuse anything that could break out.
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(i)) throw new Error(`bad interface name ${JSON.stringify(i)}`);
  return i;
}

function l4Match(protocol: string, dir: 'sport' | 'dport', port: number): string {
  return port === 0 ? `meta l4proto ${protocol}` : `${protocol} ${dir} ${port}`;
}

/** The body of the `nft -f -` transaction: drop any leftover table, then add the new one. */
export function renderRuleset(table: string, interfaces: string[], rules: InterceptRules, opts: { deleteFirst?: boolean } = {}): string {
  const lines: string[] = [];
  // `add` then `delete` makes the delete succeed whether or not the table existed.
  if (opts.deleteFirst ?? true) {
    lines.push(`add table netdev ${table}`);
    lines.push(`delete table netdev ${table}`);
  }
  lines.push(`table netdev ${table} {`);
  // IPv6 rules match the transport header past any extension headers (nft's
  // netdev ingress finds it as ipv6_find_hdr does); ICMPv6 is never matched,
  // so neighbour discovery for the VIP stays the host's.
  const svc = dedupe(rules.services.map((s) => `${addrMatch(s.addr, 'daddr')} ${l4Match(s.protocol, 'dport', s.port)} drop`));
  // A NAT reply is the director's to rewrite only when it is not addressed to
  // the director itself: its own health checks to RIP:rport must still work.
  const nat = dedupe(rules.natDests.map((d) => `${addrMatch(d.addr, 'saddr')} ${l4Match(d.protocol, 'sport', d.port)} fib daddr type != local drop`));
  for (const ifname of interfaces) {
    const chain = `in_${ifname.replace(/[^A-Za-z0-9_]/g, '_')}`;
    lines.push(`  chain ${chain} {`);
    lines.push(`    type filter hook ingress device "${checkIfname(ifname)}" priority -500; policy accept;`);
    for (const r of svc) lines.push(`    ${r}`);
    for (const r of nat) lines.push(`    ${r}`);
    lines.push('  }');
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

function dedupe(xs: string[]): string[] { return [...new Set(xs)]; }

function nft(input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('nft', ['-f', '-'], { timeout: 10_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`nft failed: ${String(stderr).trim() || err.message}`));
      else resolve();
    });
    child.stdin?.end(input);
  });
}

/**
 * Owns lvsd's nftables table. `install` and `update` replace it atomically;
 * `remove`/`removeSync` take it away (the sync form is for exit paths).
 * Updates are serialised: the last requested ruleset always wins.
 */
export class Interceptor {
  readonly table: string;
  private chain: Promise<void> = Promise.resolve();
  private installed = false;
  private last = '';

  constructor(private readonly interfaces: string[], suffix?: string) {
    this.table = tableName(suffix);
    for (const i of interfaces) checkIfname(i);
  }

  /** Remove a leftover table of a crashed run and install the rules in one transaction. */
  install(rules: InterceptRules): Promise<void> {
    return this.update(rules, true);
  }

  update(rules: InterceptRules, force = false): Promise<void> {
    const text = renderRuleset(this.table, this.interfaces, rules);
    const run = async () => {
      if (!force && this.installed && text === this.last) return;
      await nft(text);
      this.installed = true;
      this.last = text;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  async remove(): Promise<void> {
    await this.chain;
    await nft(`add table netdev ${this.table}\ndelete table netdev ${this.table}\n`);
    this.installed = false;
  }

  /** For process exit paths: synchronous, never throws. */
  removeSync(): void {
    try {
      execFileSync('nft', ['-f', '-'], { input: `add table netdev ${this.table}\ndelete table netdev ${this.table}\n`, timeout: 5000, stdio: ['pipe', 'ignore', 'ignore'] });
    } catch { /* nothing more an exit path can do; the next start cleans up */ }
    this.installed = false;
  }
}
