// Interception: frames that lvsd forwards must not also reach the director's
// own stack (it would answer a SYN to the VIP with a RST, and route NAT
// replies itself). An nftables `netdev` ingress chain per interface matches
// them, in one of two modes (InterceptMode):
//
// - 'protocol' (the default where it works): lvsd's packet sockets are bound
//   to ETH_P_IP and ETH_P_IPV6, so the kernel hands them frames as it hands
//   them to ip_rcv: after the device's ingress hooks. The chain marks the
//   frames lvsd takes `meta pkttype set other`; the IP layers drop a frame
//   for another host (counted as the device's rx_otherhost_dropped), the
//   packet sockets take it. A frame the fast path's tcx program forwards
//   (io/fastpath.ts) leaves before nftables and lvsd's sockets ever see it,
//   so the kernel-forwarded packet costs no tap and no socket filter.
// - 'tap': the sockets are bound to ETH_P_ALL. Such taps run before any
//   ingress hook, so they see every frame, and the chain drops lvsd's. It is
//   the mode for an interface with an rx_handler (a bridge, bond or team
//   port, a macvlan/ipvlan lower device: the handler takes a frame before
//   protocol handlers could), chosen by interceptModeFor.
//
// All rules live in one table of lvsd's own, replaced in one `nft -f -`
// transaction, so there is never a moment with half a ruleset.
//
// fwmark services need the packet's mark, which only exists after the
// user's MARK rules ran in prerouting, long after netdev ingress (and the
// packet taps). Their packets are left alone there and taken at the end of
// prerouting instead: an `ip` table of the same name (a netdev table cannot
// hook prerouting) holds a set of the marks and one chain whose one rule
// queues a marked packet that is routed to this host to lvsd (NFQUEUE,
// src/io/nfqueue.ts). nft's own `queue` expression is missing from kernels
// built without CONFIG_NFT_QUEUE (this project's machines), so that rule
// uses xtables' NFQUEUE target through nft_compat, written over netlink
// (src/packet/nfnetlink.ts): the nft CLI cannot write xt targets. The table
// is made when the first fwmark service appears; afterwards only the set
// changes, so the rule (and the queue) never has a gap. Removed with the
// netdev table; a start after a crash deletes a leftover.
//
// IPv6 fwmark services (-f N -6) get the same in an `ip6` table of the same
// name: IPVS keys a fwmark service by (family, mark), so each family has its
// own set of marks, and one queue takes both (the engine tells them apart
// by the IP version). An `inet` table would take both with one chain, but
// nft (1.0.6) cannot list an xt target in an inet table, and users read
// these tables. Each table is made with the first fwmark service of its
// family (an IPv4-only user never needs the kernel's IPv6 nft modules).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { loadAddon } from './native.js';
import { nftQueueRuleBatch, type NftQueueRule } from '../packet/nfnetlink.js';
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
  /** IPv4 fwmark services' marks: marked IPv4 packets routed to this host are queued to lvsd. */
  fwmarks?: number[];
  /** IPv6 fwmark services' marks: the same for IPv6 packets. */
  fwmarks6?: number[];
}

/** How lvsd's rings take frames from the host (see the top of this file). */
export type InterceptMode = 'tap' | 'protocol';

/**
 * 'protocol' unless an interface has an rx_handler, which takes frames
 * before protocol handlers run: a master (bridge, bond, team, VRF, OVS) or
 * an upper device other than a VLAN (macvlan, ipvlan, macvtap). `sysfs` is
 * /sys/class/net. The reason names the interface that forced 'tap'.
 */
export function interceptModeFor(ifnames: string[], sysfs = '/sys/class/net'): { mode: InterceptMode; reason?: string } {
  for (const i of ifnames) {
    const dir = `${sysfs}/${checkIfname(i)}`;
    if (existsSync(`${dir}/master`)) return { mode: 'tap', reason: `${i} has a master device` };
    let entries: string[] = [];
    try { entries = readdirSync(dir); } catch { continue; }
    for (const e of entries) {
      if (!e.startsWith('upper_')) continue;
      const upper = e.slice('upper_'.length);
      let uevent = '';
      try { uevent = readFileSync(`${dir}/${e}/uevent`, 'utf8'); } catch { /* gone meanwhile */ }
      if (!/^DEVTYPE=vlan$/m.test(uevent)) return { mode: 'tap', reason: `${i} has the upper device ${upper}` };
    }
  }
  return { mode: 'protocol' };
}

/** Chain and set of the fwmark table. */
export const FWMARK_CHAIN = 'fwmark';
export const FWMARK_SET = 'fwmarks';
/**
 * After every prerouting priority users mark at (mangle -150, filter 0,
 * security 50...): a mark set anywhere in prerouting counts, as IPVS (at
 * LOCAL_IN) sees it.
 */
export const FWMARK_PRIORITY = 300;

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
export function renderRuleset(table: string, interfaces: string[], rules: InterceptRules, opts: { deleteFirst?: boolean; mode?: InterceptMode } = {}): string {
  // tap: lvsd already has its copy, the stack must not; protocol: the IP layers drop it, lvsd's sockets take it.
  const verdict = opts.mode === 'protocol' ? 'meta pkttype set other accept' : 'drop';
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
  const svc = dedupe(rules.services.map((s) => `${addrMatch(s.addr, 'daddr')} ${l4Match(s.protocol, 'dport', s.port)} ${verdict}`));
  // A NAT reply is the director's to rewrite only when it is not addressed to
  // the director itself: its own health checks to RIP:rport must still work.
  const nat = dedupe(rules.natDests.map((d) => `${addrMatch(d.addr, 'saddr')} ${l4Match(d.protocol, 'sport', d.port)} fib daddr type != local ${verdict}`));
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

export type FwmarkFamily = 'ip' | 'ip6';
export const FWMARK_FAMILIES: readonly FwmarkFamily[] = ['ip', 'ip6'];

/** `nft -f` text that removes a table whether or not it exists. */
export function dropTable(family: 'netdev' | FwmarkFamily, table: string): string {
  return `add table ${family} ${table}\ndelete table ${family} ${table}\n`;
}

/** The fwmark table of `family` without its rule (which nftQueueRuleBatch adds) and with an empty set. */
export function renderFwmarkSkeleton(table: string, family: FwmarkFamily = 'ip'): string {
  return [
    `table ${family} ${table} {`,
    `  set ${FWMARK_SET} { type mark; }`,
    `  chain ${FWMARK_CHAIN} {`,
    `    type filter hook prerouting priority ${FWMARK_PRIORITY}; policy accept;`,
    '  }',
    '}',
    `flush chain ${family} ${table} ${FWMARK_CHAIN}`,
    `flush set ${family} ${table} ${FWMARK_SET}`,
    '',
  ].join('\n');
}

/** The set's new contents (part of the same transaction as the netdev table). */
export function renderFwmarkSet(table: string, marks: number[], family: FwmarkFamily = 'ip'): string {
  const m = dedupe(marks.map((x) => {
    if (!Number.isInteger(x) || x < 1 || x > 0xffffffff) throw new Error(`not a fwmark: ${x}`);
    return String(x);
  }));
  const lines = [`flush set ${family} ${table} ${FWMARK_SET}`];
  if (m.length) lines.push(`add element ${family} ${table} ${FWMARK_SET} { ${m.join(', ')} }`);
  return lines.join('\n') + '\n';
}

const ERRNO_NAME = new Map(Object.entries(constants.errno).map(([k, v]) => [v, k]));

/** Adds the fwmark chain's queue rule over netlink (nft_compat's NFQUEUE target). */
export function addQueueRuleNetlink(r: NftQueueRule): void {
  const answers = loadAddon().netfilterTransact(nftQueueRuleBatch(r), 3000);
  const bad = answers.find(([seq, e]) => seq === r.seq && e !== 0) ?? (answers.some(([seq]) => seq === r.seq) ? undefined : [r.seq, constants.errno.ETIMEDOUT] as const);
  if (bad) {
    const name = ERRNO_NAME.get(bad[1]) ?? `errno ${bad[1]}`;
    throw new Error(`adding the NFQUEUE rule to table ${r.family ?? 'ip'} ${r.table} failed: ${name}; the kernel needs nft_compat and xt_NFQUEUE (CONFIG_NFT_COMPAT, CONFIG_NETFILTER_XT_TARGET_NFQUEUE) for fwmark services`);
  }
}

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
export interface InterceptorOptions {
  /** The NFQUEUE queue number the fwmark rule sends to (src/io/nfqueue.ts binds it). */
  queueNum?: number;
  /** How the queue rule is added (default: over netlink); tests can replace it. */
  addQueueRule?: (r: NftQueueRule) => void;
  /** How lvsd's rings take frames (default 'tap'): what the chain does to the frames it matches. */
  mode?: InterceptMode;
}

export class Interceptor {
  readonly table: string;
  private chain: Promise<void> = Promise.resolve();
  private installed = false;
  private last = '';
  /** Per family, the fwmark table exists with its queue rule: from then on only its set changes. */
  private queueRuleReady: Record<FwmarkFamily, boolean> = { ip: false, ip6: false };
  private seq = 1;

  constructor(private readonly interfaces: string[], suffix?: string, private readonly opts: InterceptorOptions = {}) {
    this.table = tableName(suffix);
    for (const i of interfaces) checkIfname(i);
  }

  /** Remove a leftover table of a crashed run and install the rules in one transaction. */
  install(rules: InterceptRules): Promise<void> {
    return this.update(rules, true);
  }

  update(rules: InterceptRules, force = false): Promise<void> {
    const base = renderRuleset(this.table, this.interfaces, rules, { mode: this.opts.mode ?? 'tap' });
    const marks = { ip: rules.fwmarks ?? [], ip6: rules.fwmarks6 ?? [] };
    const dropFwmarkTables = () => FWMARK_FAMILIES.map((f) => dropTable(f, this.table)).join('');
    const run = async () => {
      let replace = force;
      const ready = this.queueRuleReady;
      if (replace) { ready.ip = false; ready.ip6 = false; }
      const make = FWMARK_FAMILIES.filter((f) => marks[f].length > 0 && !ready[f]);
      if (make.length > 0) {
        // The chain first, empty, then its rule, then the marks: no marked
        // packet meets the chain before the rule is in it.
        const q = this.opts.queueNum;
        if (q === undefined) throw new Error('fwmark services need a queue number (InterceptorOptions.queueNum)');
        await nft((replace ? dropFwmarkTables() : '') + base + make.map((f) => renderFwmarkSkeleton(this.table, f)).join(''));
        for (const family of make) {
          this.seq += 3;
          (this.opts.addQueueRule ?? addQueueRuleNetlink)({ family, table: this.table, chain: FWMARK_CHAIN, set: FWMARK_SET, queueNum: q, seq: this.seq });
          ready[family] = true;
        }
        replace = true;
      }
      const made = FWMARK_FAMILIES.filter((f) => ready[f]);
      const text = (force && made.length === 0 ? dropFwmarkTables() : '') + base
        + made.map((f) => renderFwmarkSet(this.table, marks[f], f)).join('');
      if (!replace && this.installed && text === this.last) return;
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
    await nft(dropTable('netdev', this.table) + dropTable('ip', this.table) + dropTable('ip6', this.table));
    this.installed = false;
    this.queueRuleReady = { ip: false, ip6: false };
  }

  /** For process exit paths: synchronous, never throws. */
  removeSync(): void {
    try {
      execFileSync('nft', ['-f', '-'], { input: dropTable('netdev', this.table) + dropTable('ip', this.table) + dropTable('ip6', this.table), timeout: 5000, stdio: ['pipe', 'ignore', 'ignore'] });
    } catch { /* nothing more an exit path can do; the next start cleans up */ }
    this.installed = false;
    this.queueRuleReady = { ip: false, ip6: false };
  }
}
