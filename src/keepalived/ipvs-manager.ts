// lvs-keepalived's session with lvsd (keepalived's ipvswrapper.c ipvs_talk
// side): the ruleset ipvswrapper.ts maps from the model and the checks goes
// to lvsd through the control socket, and stays there.
//
// How changes are applied, and why:
// - start, reload and stop are one `replace` of the whole ruleset: atomic (no
//   instant with half a config), and lvsd's replace keeps every service and
//   dest that survives, with its connections, stats and scheduler state.
//   Services that lvs-keepalived does not own (added with lvsadm) are read
//   with list-services just before and carried through the replace, as
//   keepalived leaves foreign IPVS services alone (unless lvs_flush).
// - a checker transition changes one service's dests: it is applied as the
//   minimal add-dest / edit-dest / del-dest, adds before deletes (a sorry
//   server swap never leaves the service empty). Those ops touch nothing else,
//   so they cannot race with an operator's lvsadm edits of other services,
//   and a dest someone added by hand to our service survives, as it does
//   with keepalived and the kernel.
// - when an op fails because lvsd lost state (restarted, or a service was
//   deleted behind our back), or the socket broke, the next apply is a full
//   `replace`; while lvsd is unreachable it is retried with back-off.
import { ControlClient, ControlConnectError, ControlReplyError } from '../control/client.js';
import type { OpName, Ops } from '../control/protocol.js';
import type { DestSpec, Ruleset, ServiceKey, ServiceRules, ServiceStatus, Timeouts } from '../ipvs/types.js';
import { canonicalIpv6 } from '../packet/addr6.js';

export interface Log {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

// IPv6 text has many spellings; what lvsd lists and what the config says are compared in one (RFC 5952).
const canon = (a: string): string => (a.includes(':') ? canonicalIpv6(a) : a);

export function serviceId(k: ServiceKey): string {
  return k.kind === 'fwmark' ? `FWM ${k.fwmark}` : `${k.protocol.toUpperCase()} ${canon(k.addr)}:${k.port}`;
}

const destId = (d: { addr: string; port: number }): string => `${canon(d.addr)}:${d.port}`;

function stripService(s: ServiceStatus): ServiceRules {
  return {
    key: s.key, scheduler: s.scheduler, persistence: s.persistence, netmask: s.netmask, ops: s.ops,
    schedFlags: [...s.schedFlags], ...(s.pe !== undefined ? { pe: s.pe } : {}),
    dests: s.dests.map((d) => ({
      addr: d.addr, port: d.port, fwd: d.fwd, weight: d.weight, uThreshold: d.uThreshold, lThreshold: d.lThreshold,
      ...(d.tunType !== undefined ? { tunType: d.tunType } : {}),
      ...(d.tunPort !== undefined ? { tunPort: d.tunPort } : {}),
      ...(d.tunCsum !== undefined ? { tunCsum: d.tunCsum } : {}),
    })),
  };
}

function sameDest(a: DestSpec, b: DestSpec): boolean {
  return a.fwd === b.fwd && a.weight === b.weight && a.uThreshold === b.uThreshold && a.lThreshold === b.lThreshold &&
    a.tunType === b.tunType && a.tunPort === b.tunPort && a.tunCsum === b.tunCsum;
}

function sameSpec(a: ServiceRules, b: ServiceRules): boolean {
  return a.scheduler === b.scheduler && a.persistence === b.persistence && a.netmask === b.netmask && a.ops === b.ops &&
    a.pe === b.pe && a.schedFlags.join() === b.schedFlags.join();
}

export type DestOp =
  | { op: 'add-dest'; key: ServiceKey; dest: DestSpec }
  | { op: 'edit-dest'; key: ServiceKey; dest: DestSpec }
  | { op: 'del-dest'; key: ServiceKey; addr: string; port: number };

/**
 * The dest ops that turn `from` into `to`, or null when the change is not
 * dests-only (services added, removed or respecified): that needs a replace.
 */
export function destOps(from: Ruleset, to: Ruleset): DestOp[] | null {
  const old = new Map(from.services.map((s) => [serviceId(s.key), s]));
  if (old.size !== to.services.length) return null;
  const adds: DestOp[] = [];
  const dels: DestOp[] = [];
  for (const s of to.services) {
    const o = old.get(serviceId(s.key));
    if (!o || !sameSpec(o, s)) return null;
    const od = new Map(o.dests.map((d) => [destId(d), d]));
    const nd = new Map(s.dests.map((d) => [destId(d), d]));
    for (const [id, d] of nd) {
      const prev = od.get(id);
      if (!prev) adds.push({ op: 'add-dest', key: s.key, dest: d });
      else if (!sameDest(prev, d)) adds.push({ op: 'edit-dest', key: s.key, dest: d });
    }
    for (const [id, d] of od) if (!nd.has(id)) dels.push({ op: 'del-dest', key: s.key, addr: d.addr, port: d.port });
  }
  return [...adds, ...dels];
}

export interface IpvsManagerOptions {
  socket: string;
  log: Log;
  /** Connection factory; tests may point it elsewhere. */
  connect?: (socket: string) => Promise<Pick<ControlClient, 'request' | 'close'>>;
  /** Back-off while lvsd is unreachable, ms. */
  retryMs?: number;
  /** Called after each apply, for metrics. */
  onApply?: (kind: 'replace' | 'dest-ops' | 'flush' | 'set-timeouts', ok: boolean) => void;
}

type Client = Pick<ControlClient, 'request' | 'close'>;

export class IpvsManager {
  private client: Client | undefined;
  /** Our services as lvsd last accepted them. */
  private applied: Ruleset = { services: [] };
  private want: Ruleset | undefined;
  private wantTimeouts: Partial<Timeouts> | undefined;
  private wantAtomic = false;
  private flushForeign = false;
  private needResync = false;
  private running: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private failures = 0;
  private readonly waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(private readonly opts: IpvsManagerOptions) {}

  /** What lvsd holds of ours, as far as we know. */
  get current(): Ruleset {
    return this.applied;
  }

  /**
   * Ask for `desired` to be in lvsd. `atomic` (start, reload): one replace.
   * Otherwise (checker transitions): dest ops. Calls coalesce: only the
   * latest desired state is applied. Resolves once it is in place; rejects if
   * that attempt failed (a retry is then scheduled on its own).
   */
  apply(desired: Ruleset, opts: { atomic?: boolean; flushForeign?: boolean; timeouts?: Partial<Timeouts> } = {}): Promise<void> {
    if (this.closed) return Promise.reject(new Error('lvs-keepalived is stopping'));
    this.want = desired;
    if (opts.atomic) this.wantAtomic = true;
    if (opts.flushForeign) this.flushForeign = true;
    if (opts.timeouts) this.wantTimeouts = { ...this.wantTimeouts, ...opts.timeouts };
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.kick();
    return p;
  }

  /**
   * Stop: remove our services (keepalived's clear_services), or flush
   * everything (lvs_flush_on_stop), or leave lvsd as it is (-I). Waits for any
   * apply in flight first so nothing of ours is re-added after.
   */
  async release(mode: 'remove' | 'flush' | 'keep'): Promise<void> {
    clearTimeout(this.retryTimer);
    this.want = undefined;
    this.closed = true;
    await this.running?.catch(() => undefined);
    try {
      if (mode === 'keep' || (mode === 'remove' && this.applied.services.length === 0)) return;
      const c = await this.connection();
      if (mode === 'flush') {
        await c.request('flush', {});
        this.opts.onApply?.('flush', true);
      } else {
        const foreign = await this.foreign(c, this.applied);
        await c.request('replace', { ruleset: { services: foreign } });
        this.opts.onApply?.('replace', true);
      }
      this.applied = { services: [] };
    } finally {
      this.client?.close();
      this.client = undefined;
    }
  }

  private kick(): void {
    if (this.running) return;
    this.running = this.loop().finally(() => { this.running = undefined; });
  }

  private async loop(): Promise<void> {
    while (this.want !== undefined && !this.closed) {
      const desired = this.want;
      const atomic = this.wantAtomic || this.needResync;
      const flushForeign = this.flushForeign;
      const timeouts = this.wantTimeouts;
      const waiters = this.waiters.splice(0);
      this.want = undefined;
      this.wantAtomic = false;
      this.flushForeign = false;
      this.wantTimeouts = undefined;
      try {
        await this.applyOnce(desired, atomic, flushForeign, timeouts);
        if (this.failures > 0) this.opts.log.info({ after: this.failures }, 'lvsd reachable again; rules applied');
        this.failures = 0;
        for (const w of waiters) w.resolve();
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err));
        // A broken connection: forget it; lvsd may have restarted empty, so the retry is a full replace.
        if (!(err instanceof ControlReplyError)) this.dropClient();
        this.opts.log.error({ err: e.message }, 'applying the virtual servers to lvsd failed; will retry');
        // Nothing newer asked for: retry this one (as a full replace) after a pause.
        if (this.want === undefined) {
          this.want = desired;
          if (timeouts) this.wantTimeouts = { ...timeouts, ...(this.wantTimeouts as Partial<Timeouts> | undefined) };
          this.flushForeign ||= flushForeign;
        }
        this.needResync = true;
        for (const w of waiters) w.reject(e);
        clearTimeout(this.retryTimer);
        // Back off while lvsd stays away (1 s, 2 s, 4 s … 10 s), so a missing lvsd is not a log flood.
        this.failures++;
        const base = this.opts.retryMs ?? 1000;
        this.retryTimer = setTimeout(() => this.kick(), Math.min(base * 2 ** (this.failures - 1), Math.max(base, 10_000)));
        this.retryTimer.unref?.();
        return;
      }
    }
  }

  private async applyOnce(desired: Ruleset, atomic: boolean, flushForeign: boolean, timeouts: Partial<Timeouts> | undefined): Promise<void> {
    const c = await this.connection();
    if (timeouts && Object.keys(timeouts).length > 0) {
      try {
        await c.request('set-timeouts', { timeouts });
        this.opts.onApply?.('set-timeouts', true);
      } catch (err) {
        this.opts.onApply?.('set-timeouts', false);
        throw err;
      }
    }
    const ops = atomic ? null : destOps(this.applied, desired);
    if (ops !== null) {
      try {
        for (const op of ops) await this.destOp(c, op);
        this.applied = desired;
        this.opts.onApply?.('dest-ops', true);
        if (ops.length) this.opts.log.info({ ops: ops.map(describeOp) }, 'lvsd dests updated');
        return;
      } catch (err) {
        this.opts.onApply?.('dest-ops', false);
        if (!(err instanceof ControlReplyError)) throw err;
        // lvsd's rules are not what we think (restarted, or edited behind our back): resync in one replace.
        this.opts.log.warn({ err: err.message }, 'lvsd rejected a dest update; resynchronising with a full replace');
      }
    }
    const foreign = flushForeign ? [] : await this.foreign(c, this.applied, desired);
    try {
      await c.request('replace', { ruleset: { services: [...foreign, ...desired.services] } });
    } catch (err) {
      this.opts.onApply?.('replace', false);
      throw err;
    }
    this.opts.onApply?.('replace', true);
    this.applied = desired;
    this.needResync = false;
    this.opts.log.info({ services: desired.services.length, dests: desired.services.reduce((n, s) => n + s.dests.length, 0), foreign: foreign.length },
      'virtual servers applied to lvsd (atomic replace)');
  }

  private async destOp(c: Client, op: DestOp): Promise<void> {
    try {
      if (op.op === 'del-dest') await c.request('del-dest', { key: op.key, addr: op.addr, port: op.port });
      else await c.request(op.op, { key: op.key, dest: op.dest });
    } catch (err) {
      if (!(err instanceof ControlReplyError)) throw err;
      // Already as wanted: someone (lvsadm) got there first.
      if (op.op === 'add-dest' && err.code === 'EEXIST') { await c.request('edit-dest', { key: op.key, dest: op.dest }); return; }
      if (op.op === 'del-dest' && err.code === 'ENOENT') return;
      throw err;
    }
  }

  /** lvsd's services that are neither ours now nor ours to be. */
  private async foreign(c: Client, ...ours: Ruleset[]): Promise<ServiceRules[]> {
    const mine = new Set(ours.flatMap((r) => r.services.map((s) => serviceId(s.key))));
    const list = await c.request('list-services', {}) as ServiceStatus[];
    return list.filter((s) => !mine.has(serviceId(s.key))).map(stripService);
  }

  private async connection(): Promise<Client> {
    if (this.client) return this.client;
    const connect = this.opts.connect ?? ((socket: string) => ControlClient.connect({ socket, timeoutMs: 30_000 }));
    const c = await connect(this.opts.socket);
    this.client = c;
    return c;
  }

  /** Send one request over our connection (for callers that need get-info etc.). */
  async call<K extends OpName>(op: K, args: Ops[K]['args']): Promise<Ops[K]['result']> {
    const c = await this.connection();
    try {
      return await c.request(op, args) as Ops[K]['result'];
    } catch (err) {
      if (err instanceof ControlConnectError) this.dropClient();
      throw err;
    }
  }

  private dropClient(): void {
    this.client?.close();
    this.client = undefined;
    this.needResync = true;
  }
}

function describeOp(op: DestOp): string {
  const k = serviceId(op.key);
  if (op.op === 'del-dest') return `del ${k} -> ${op.addr}:${op.port}`;
  return `${op.op === 'add-dest' ? 'add' : 'edit'} ${k} -> ${op.dest.addr}:${op.dest.port} w${op.dest.weight}`;
}
