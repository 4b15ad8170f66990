// lvsd_announce (lvsd extension, issue 14): announce VIP prefixes to the
// upstream router through an existing routing daemon (BIRD 2) while this
// director is healthy, withdraw them when it is not.
//
// Healthy, per prefix: the local lvsd answers on its control socket AND every
// virtual_server whose address falls in the prefix has quorum (the verdict of
// check/real-server-state.ts, through CheckDaemon.hasQuorum; nothing here
// judges real servers). The routes go into a `protocol static` that this
// module writes to `bird_include` (bird.conf includes the file and exports
// that protocol over BGP), then `birdc -s bird_socket configure`: BIRD
// reconfigures the static protocol in place, its BGP sessions stay up, and
// the router sees an UPDATE (announce) or a WITHDRAW.
//
// If this process dies with lvsd still up the routes stay (BIRD keeps
// them): the same as keepalived's VRRP leaving the VIP. If the whole director
// dies, BIRD dies with it and the router withdraws at the BGP hold time (or at
// once with BFD).
import { writeFileSync, renameSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { ipToU32, isIpv4 } from '../packet/addr.js';
import { formatIpv6, ipv6ToBigInt, isIpv6, parseIpv6 } from '../packet/addr6.js';
import type { LvsdAnnounce } from '../config/model.js';
import type { Log } from './ipvs-manager.js';

/** One virtual_server as the announcer sees it. */
export interface VsHealth {
  name: string;
  /** The virtual address (undefined for fwmark and group services, which never gate a prefix). */
  addr?: string;
  quorum: boolean;
}

export interface PrefixVerdict {
  prefix: string;
  announce: boolean;
  /** Why (for logs and the dump): 'healthy', 'lvsd not answering', … */
  reason: string;
}

// Both families: IPv4 prefixes go into the `ipv4` static protocol, IPv6 ones into a
// second, `ipv6` one named protocol_name + "6" (a BIRD static protocol has one
// channel). A virtual server gates only prefixes of its own family.
const isV6Prefix = (p: string): boolean => p.includes(':');

function inPrefix(addr: string, prefix: string): boolean {
  const [net, lenS] = prefix.split('/');
  if (isV6Prefix(prefix)) {
    if (!isIpv6(addr)) return false;
    const len = BigInt(Number(lenS ?? 128));
    const shift = 128n - len;
    return (ipv6ToBigInt(parseIpv6(addr)!) >> shift) === (ipv6ToBigInt(parseIpv6(net!)!) >> shift);
  }
  if (!isIpv4(addr)) return false;
  const len = Number(lenS ?? 32);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((ipToU32(addr) & mask) >>> 0) === ((ipToU32(net!) & mask) >>> 0);
}

/** The prefixes a configuration speaks of: its `prefix` lines, else the /32 (/128) of each address virtual_server. */
export function announcedPrefixes(cfg: Pick<LvsdAnnounce, 'prefix'>, vs: readonly VsHealth[]): string[] {
  if (cfg.prefix.length) return [...new Set(cfg.prefix)];
  return [...new Set(vs.filter((v) => v.addr && (isIpv4(v.addr) || isIpv6(v.addr))).map((v) => (isIpv4(v.addr!) ? `${v.addr}/32` : `${formatIpv6(parseIpv6(v.addr!)!)}/128`)))];
}

/** The decision, pure: which prefixes to announce given lvsd's liveness and each virtual_server's quorum. */
export function decide(cfg: Pick<LvsdAnnounce, 'prefix'>, vs: readonly VsHealth[], lvsdUp: boolean): PrefixVerdict[] {
  return announcedPrefixes(cfg, vs).map((prefix) => {
    if (!lvsdUp) return { prefix, announce: false, reason: 'lvsd not answering' };
    const members = vs.filter((v) => v.addr && inPrefix(v.addr, prefix));
    if (!members.length) return { prefix, announce: false, reason: 'no virtual_server in the prefix' };
    const lost = members.filter((v) => !v.quorum);
    if (lost.length) return { prefix, announce: false, reason: `no quorum: ${lost.map((v) => v.name).join(', ')}` };
    return { prefix, announce: true, reason: 'healthy' };
  });
}

/**
 * The include file: the `ipv4` static protocol, its routes the announced IPv4
 * prefixes (none = all withdrawn), and, when the configuration speaks of any
 * IPv6 prefix (`v6`), the `ipv6` one named protocol_name + "6". Both stay
 * (empty) when withdrawn, so bird.conf filters naming them stay valid.
 */
export function birdConfig(cfg: Pick<LvsdAnnounce, 'protocol_name'>, announce: readonly string[], v6 = announce.some(isV6Prefix)): string {
  const routes = (six: boolean) => announce.filter((p) => isV6Prefix(p) === six).map((p) => `  route ${p} blackhole;\n`).join('');
  return `# Written by lvs-keepalived (lvsd_announce); rewritten on every change, do not edit.\n`
    + `# Announced: ${announce.length ? announce.join(' ') : 'nothing'}\n`
    + `protocol static ${cfg.protocol_name} {\n  ipv4;\n${routes(false)}}\n`
    + (v6 ? `protocol static ${cfg.protocol_name}6 {\n  ipv6;\n${routes(true)}}\n` : '');
}

export interface BirdcResult { code: number; out: string }

/** Did `birdc configure` take the file? (birdc exits 0 on most errors: judge by its reply.) */
export function configureOk(r: BirdcResult): boolean {
  return r.code === 0 && /Reconfigur(ed|ation in progress|ation already in progress)|Reconfiguration queued/.test(r.out) && !/error/i.test(r.out);
}

export interface AnnouncerDeps {
  log: Log;
  /** Does the local lvsd answer? */
  probeLvsd(): Promise<boolean>;
  /** The virtual servers and their quorum verdicts now. */
  health(): VsHealth[];
  /** Run birdc (default: execFile). */
  birdc?(argv: string[]): Promise<BirdcResult>;
  /** Write the include file (default: atomic write + rename). */
  writeFile?(path: string, text: string): void;
  /** Told after each change is in BIRD. */
  onChange?(verdicts: PrefixVerdict[]): void;
}

function defaultBirdc(argv: string[]): Promise<BirdcResult> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 5000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, out: `${String(stdout)}${String(stderr)}` });
    });
  });
}

function atomicWrite(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export class Announcer {
  private timer: NodeJS.Timeout | undefined;
  private applied: string | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  verdicts: PrefixVerdict[] = [];

  constructor(readonly cfg: LvsdAnnounce, private readonly deps: AnnouncerDeps) {}

  /** Evaluate now and then every check_interval. */
  start(): Promise<void> {
    this.timer = setInterval(() => { void this.poke(); }, Math.max(10, this.cfg.check_interval * 1000));
    this.timer.unref?.();
    return this.poke();
  }

  /** Re-evaluate now (a quorum change); evaluations never overlap, a poke during one runs another after it. */
  poke(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) { this.again = true; return this.running; }
    this.running = (async () => {
      do {
        this.again = false;
        await this.evaluate().catch((err) => this.deps.log.error({ err: String(err) }, 'lvsd_announce: evaluation failed'));
      } while (this.again && !this.stopped);
    })().finally(() => { this.running = undefined; });
    return this.running;
  }

  private async evaluate(): Promise<void> {
    const up = await this.deps.probeLvsd().catch(() => false);
    if (this.stopped) return;
    const verdicts = decide(this.cfg, this.deps.health(), up);
    await this.push(verdicts);
  }

  /** Write the file and reconfigure BIRD if what should be announced changed (or the last push failed). */
  private async push(verdicts: PrefixVerdict[]): Promise<boolean> {
    const text = birdConfig(this.cfg, verdicts.filter((v) => v.announce).map((v) => v.prefix), verdicts.some((v) => isV6Prefix(v.prefix)));
    if (text === this.applied) { this.verdicts = verdicts; return true; }
    (this.deps.writeFile ?? atomicWrite)(this.cfg.bird_include, text);
    const r = await (this.deps.birdc ?? defaultBirdc)([this.cfg.birdc, '-s', this.cfg.bird_socket, 'configure']);
    if (!configureOk(r)) {
      this.applied = undefined; // retried at the next tick
      this.deps.log.error({ socket: this.cfg.bird_socket, code: r.code, out: r.out.trim() }, 'lvsd_announce: birdc configure failed');
      return false;
    }
    const before = new Map(this.verdicts.map((v) => [v.prefix, v.announce]));
    this.applied = text;
    this.verdicts = verdicts;
    for (const v of verdicts) {
      if (before.get(v.prefix) !== v.announce) {
        this.deps.log.info({ prefix: v.prefix, reason: v.reason }, v.announce ? 'lvsd_announce: announcing' : 'lvsd_announce: withdrawing');
      }
    }
    this.deps.onChange?.(verdicts);
    return true;
  }

  /** Stop evaluating; with `withdraw`, take every route out of BIRD first. */
  async stop(withdraw: boolean): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
    if (withdraw) {
      await this.push(this.verdicts.map((v) => ({ ...v, announce: false, reason: 'lvs-keepalived stopping' }))).catch(() => false);
    }
  }
}
