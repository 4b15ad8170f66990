// Egress: for the engine's next hop (a real server, or a NAT client behind a
// router), which interface it leaves by and which MAC it goes to. The answer
// comes from the kernel's own routing and neighbour tables (never hard-coded
// MACs): a snapshot of both, re-read every ttl by two `ip -j` calls however
// many next hops there are (a NAT director has one per client), with a
// longest-prefix match in JS; the hot path only does a typed-array hash probe
// and a 12-byte copy. (rtnetlink from the addon would replace the processes.)
//
// When a next hop is unknown or unresolved, frames for it are held in a small
// bounded queue while the kernel resolves it (`ip neigh replace … managed`
// makes the kernel ARP for it and keep it fresh, as it does for XDP load
// balancers), then sent; past the hold time they are dropped and counted.
//
// IPv6 next hops take the same path through the kernel's IPv6 tables
// (`ip -6 route`, `ip -6 neigh`; neighbour discovery is the kernel's): a
// second open-addressing table keyed by the address's four words, and the
// same hold queue, resolution and snapshot refresh.
import { execFile } from 'node:child_process';
import { parseMac } from '../packet/addr.js';
import { formatIpv6, parseIpv6, readIp6Words } from '../packet/ipv6.js';

export interface EgressPort {
  ifname: string;
  /** The port's own MAC: the source of every frame it sends (DR must not keep the client's). */
  mac: Uint8Array;
}

export interface RouteAnswer { dev: string; gateway?: string; prefsrc?: string }
export interface NeighAnswer { lladdr?: string; state: string[] }

/** How the kernel is asked; tests and the daemon use the `ip` implementation, a test may pass a fake. */
export interface KernelTables {
  routeGet(addr: string): Promise<RouteAnswer | undefined>;
  neighGet(addr: string, dev: string): Promise<NeighAnswer | undefined>;
  /** Ask the kernel to resolve (and keep resolving) `addr` on `dev`. */
  neighResolve(addr: string, dev: string): Promise<void>;
  /** Whole main routing table and neighbour table: one call each per refresh, whatever the number of next hops. */
  routeTable?(): Promise<RouteEntry[]>;
  neighTable?(): Promise<NeighEntry[]>;
  /** The same two for IPv6. */
  routeTable6?(): Promise<RouteEntry[]>;
  neighTable6?(): Promise<NeighEntry[]>;
}

export interface RouteEntry { dst: string; dev?: string; gateway?: string; prefsrc?: string }
export interface NeighEntry { dst: string; dev: string; lladdr?: string; state: string[] }

function ipJson(args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['-j', ...args], { timeout: 5000 }, (err, stdout, stderr) => {
      if (err) { reject(new Error(`ip ${args.join(' ')}: ${String(stderr).trim() || err.message}`)); return; }
      const text = String(stdout).trim();
      try { resolve(text ? JSON.parse(text) : []); } catch (e) { reject(e); }
    });
  });
}

export const ipCommandTables: KernelTables = {
  async routeGet(addr) {
    let r: { dev?: string; gateway?: string; prefsrc?: string; type?: string }[];
    try {
      r = (await ipJson(['route', 'get', addr])) as typeof r;
    } catch (err) {
      // "RTNETLINK answers: Network is unreachable" is an answer (no route), not a failure.
      if (/unreachable|no route/i.test(String(err))) return undefined;
      throw err;
    }
    const first = r[0];
    if (!first?.dev) return undefined;
    return { dev: first.dev, gateway: first.gateway, prefsrc: first.prefsrc };
  },
  async neighGet(addr, dev) {
    const r = (await ipJson(['neigh', 'show', 'to', addr, 'dev', dev])) as { dst: string; lladdr?: string; state?: string[] }[];
    const e = r.find((x) => x.dst === addr);
    return e ? { lladdr: e.lladdr, state: e.state ?? [] } : undefined;
  },
  async routeTable() {
    const r = (await ipJson(['-4', 'route', 'show', 'table', 'main'])) as { dst: string; dev?: string; gateway?: string; prefsrc?: string; type?: string }[];
    return r.filter((x) => !x.type || x.type === 'unicast').map((x) => ({ dst: x.dst, dev: x.dev, gateway: x.gateway, prefsrc: x.prefsrc }));
  },
  async neighTable() {
    const r = (await ipJson(['-4', 'neigh', 'show'])) as { dst: string; dev: string; lladdr?: string; state?: string[] }[];
    return r.map((x) => ({ dst: x.dst, dev: x.dev, lladdr: x.lladdr, state: x.state ?? [] }));
  },
  async routeTable6() {
    const r = (await ipJson(['-6', 'route', 'show', 'table', 'main'])) as { dst: string; dev?: string; gateway?: string; prefsrc?: string; type?: string }[];
    return r.filter((x) => !x.type || x.type === 'unicast').map((x) => ({ dst: x.dst, dev: x.dev, gateway: x.gateway, prefsrc: x.prefsrc }));
  },
  async neighTable6() {
    const r = (await ipJson(['-6', 'neigh', 'show'])) as { dst: string; dev: string; lladdr?: string; state?: string[] }[];
    return r.map((x) => ({ dst: x.dst, dev: x.dev, lladdr: x.lladdr, state: x.state ?? [] }));
  },
  async neighResolve(addr, dev) {
    await new Promise<void>((resolve, reject) => {
      execFile('ip', ['neigh', 'replace', addr, 'dev', dev, 'managed'], { timeout: 5000 }, (err, _o, stderr) => {
        if (err) reject(new Error(`ip neigh replace ${addr} dev ${dev} managed: ${String(stderr).trim() || err.message}`));
        else resolve();
      });
    });
  },
};

function ipU32(a: string): number {
  const p = a.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}
function u32Ip(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

const USABLE = new Set(['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP']);

export interface NeighCounters {
  /** Frames queued while their next hop was resolved. */
  held: number;
  /** Frames dropped: queue full, resolution failed or timed out. */
  dropQueueFull: number;
  dropUnresolved: number;
  /** Next hop with no route, or routed out of an interface lvsd does not drive. */
  dropNoRoute: number;
  resolutions: number;
}

interface Pending {
  frames: Uint8Array[];
  since: number;
}

/** A family's slots, by slot index: 0 empty, 1 resolving, 2 resolved, 3 failed; egress port; expiry; dst + src MAC. */
interface SlotArrays {
  readonly state: Uint8Array;
  readonly port: Int32Array;
  readonly expires: Float64Array;
  readonly macs: Uint8Array;
}

type Resolution = { port: number; mac: string } | 'no-route' | undefined;
type SnapshotHit = { port: number; mac: string; dev: string; hop: string } | 'no-route' | 'failed' | undefined;

/**
 * One address family's half of the table, as its slow path sees it: the
 * slots, and the frames held and resolutions in flight keyed by K (IPv4:
 * the address as a u32; IPv6: its text). The hot paths (writeMacs,
 * writeMacs6) do not go through it.
 */
interface Half<K> {
  readonly slots: SlotArrays;
  readonly pending: Map<K, Pending>;
  readonly inflight: Set<K>;
  /** The key of the address in `slot`. */
  keyAt(slot: number): K;
  /** The slot of `key`, made if it has none. */
  slotOf(key: K): number;
  /** The address as the kernel tables write it. */
  text(key: K): string;
}

const EMPTY = -1;

export interface NeighOptions {
  ports: EgressPort[];
  kernel?: KernelTables;
  /** How long a resolved entry is trusted before a background refresh (ms). */
  ttlMs?: number;
  /** How long frames wait for a resolution (ms). */
  holdMs?: number;
  /** Frames held per next hop. */
  queueMax?: number;
  /** Called with frames (whose 14-byte L2 header is already written) once their next hop resolves. */
  onResolved?: (port: number, frames: Uint8Array[]) => void;
  onError?: (err: unknown, addr: string) => void;
  capacityBits?: number;
}

/**
 * Next hop (u32 address) → egress port + 12 bytes of MACs. Open addressing in
 * typed arrays; lookups allocate nothing.
 */
export class NeighTable {
  readonly counters: NeighCounters = { held: 0, dropQueueFull: 0, dropUnresolved: 0, dropNoRoute: 0, resolutions: 0 };
  private readonly kernel: KernelTables;
  private readonly ttl: number;
  private readonly hold: number;
  private readonly queueMax: number;
  private readonly mask: number;
  private readonly shift: number;
  private readonly keys: Int32Array;
  private readonly state: Uint8Array; // 0 empty, 1 resolving, 2 resolved, 3 failed
  private readonly port: Int32Array;
  private readonly expires: Float64Array;
  /** dst MAC (6) + src MAC (6) per slot: copied in front of the ethertype. */
  private readonly macs: Uint8Array;
  private used = 0;
  private lastKey = 0;
  private lastSlot = EMPTY;
  private readonly portIndex = new Map<string, number>();
  /** Snapshot of the main routing table, longest prefix first (a JS longest-prefix match saves a process per next hop). */
  private routes: { net: number; mask: number; dev?: string; gateway?: string }[] | undefined;
  /** Snapshot of the neighbour table: "dev addr" → MAC, usable entries only; and entries the kernel gave up on. */
  private neighSnap = new Map<string, string>();
  private neighFailed = new Set<string>();
  private snapshotting = false;
  private routeSig = '';
  /** Bumped whenever a refresh finds the main routing table changed (the daemon then re-resolves TUN sources). */
  routeGeneration = 0;
  // IPv6: the same, keyed by the address's words; the slow path by its text.
  private readonly t6: Slots6;
  private readonly w6 = new Uint32Array(4);
  private routes6: { net: Uint32Array; len: number; dev?: string; gateway?: string }[] | undefined;
  /** Each family's slow path (held frames, resolutions) over its slots. */
  private readonly v4: Half<number>;
  private readonly v6: Half<string>;

  constructor(private readonly opts: NeighOptions) {
    this.kernel = opts.kernel ?? ipCommandTables;
    this.ttl = opts.ttlMs ?? 2000;
    this.hold = opts.holdMs ?? 1000;
    this.queueMax = opts.queueMax ?? 32;
    const bits = opts.capacityBits ?? 12;
    const cap = 1 << bits;
    this.mask = cap - 1;
    this.shift = 32 - bits;
    this.keys = new Int32Array(cap);
    this.state = new Uint8Array(cap);
    this.port = new Int32Array(cap);
    this.expires = new Float64Array(cap);
    this.macs = new Uint8Array(cap * 12);
    this.t6 = new Slots6(bits);
    opts.ports.forEach((p, i) => this.portIndex.set(p.ifname, i));
    const keys = this.keys;
    this.v4 = {
      slots: { state: this.state, port: this.port, expires: this.expires, macs: this.macs },
      pending: new Map(), inflight: new Set(),
      keyAt: (slot) => keys[slot]! >>> 0,
      slotOf: (addr) => { const slot = this.find(addr); return slot === EMPTY ? this.insert(addr) : slot; },
      text: u32Ip,
    };
    const t6 = this.t6;
    this.v6 = {
      slots: t6,
      pending: new Map(), inflight: new Set(),
      keyAt: (slot) => formatIp6Words(t6.keys.subarray(slot * 4, slot * 4 + 4)),
      slotOf: (addr) => { const w = ip6Words(addr); const slot = t6.find(w); return slot === EMPTY ? t6.insert(w) : slot; },
      text: (addr) => addr,
    };
  }

  private find(key: number): number {
    const k = key | 0;
    if (k === this.lastKey && this.lastSlot !== EMPTY && this.state[this.lastSlot] !== 0) return this.lastSlot;
    let i = Math.imul(k, 0x9e3779b1) >>> this.shift;
    for (let n = 0; n <= this.mask; n++) {
      const s = this.state[i]!;
      if (s === 0) return EMPTY;
      if (this.keys[i] === k) { this.lastKey = k; this.lastSlot = i; return i; }
      i = (i + 1) & this.mask;
    }
    return EMPTY;
  }

  private insert(key: number): number {
    if (this.used * 2 >= this.mask + 1) this.clear();
    const k = key | 0;
    let i = Math.imul(k, 0x9e3779b1) >>> this.shift;
    while (this.state[i] !== 0) {
      if (this.keys[i] === k) return i;
      i = (i + 1) & this.mask;
    }
    this.keys[i] = k;
    this.state[i] = 1;
    this.used++;
    return i;
  }

  /** Forget everything (a full table of next hops, e.g. after a scan of many NAT clients): they re-resolve on demand. */
  clear(): void {
    this.state.fill(0);
    this.used = 0;
    this.lastSlot = EMPTY;
    this.t6.clear();
  }

  /**
   * Hot path: write dst+src MAC at buf[off..off+12) and return the egress
   * port index, or -1 when the next hop is not resolved (call `holdFrame`).
   */
  writeMacs(nextHop: number, buf: Uint8Array, off: number, now: number): number {
    const slot = this.find(nextHop);
    if (slot === EMPTY || this.state[slot] !== 2) return -1;
    // Byte by byte: a subarray per frame is an allocation on the hot path.
    const m = this.macs;
    const o = slot * 12;
    for (let k = 0; k < 12; k++) buf[off + k] = m[o + k]!;
    return this.port[slot]!;
  }

  /** Slow path: keep a copy of a frame (L2 header space included) until `nextHop` resolves. */
  holdFrame(nextHop: number, frame: Uint8Array, now: number): void {
    let slot = this.find(nextHop);
    if (slot === EMPTY) slot = this.insert(nextHop);
    this.holdIn(this.v4, slot, frame, now);
  }

  /** writeMacs() for an IPv6 next hop (16 bytes at addr[0…)). */
  writeMacs6(addr: Uint8Array, buf: Uint8Array, off: number, now: number): number {
    const t = this.t6;
    readIp6Words(addr, 0, this.w6);
    const slot = t.find(this.w6);
    if (slot === EMPTY || t.state[slot] !== 2) return -1;
    const m = t.macs;
    const o = slot * 12;
    for (let k = 0; k < 12; k++) buf[off + k] = m[o + k]!;
    return t.port[slot]!;
  }

  /** holdFrame() for an IPv6 next hop. */
  holdFrame6(addr: Uint8Array, frame: Uint8Array, now: number): void {
    const t = this.t6;
    readIp6Words(addr, 0, this.w6);
    let slot = t.find(this.w6);
    if (slot === EMPTY) slot = t.insert(this.w6);
    this.holdIn(this.v6, slot, frame, now);
  }

  /** holdFrame() of either family, once the next hop has its slot. */
  private holdIn<K>(h: Half<K>, slot: number, frame: Uint8Array, now: number): void {
    const t = h.slots;
    if (t.state[slot] === 3 && now < t.expires[slot]!) {
      // Recently failed: do not queue behind a resolution we know fails.
      this.counters.dropUnresolved++;
      return;
    }
    const key = h.keyAt(slot);
    let p = h.pending.get(key);
    if (!p) { p = { frames: [], since: now }; h.pending.set(key, p); }
    if (p.frames.length >= this.queueMax) { this.counters.dropQueueFull++; }
    else { p.frames.push(frame.slice()); this.counters.held++; }
    t.state[slot] = t.state[slot] === 2 ? 2 : 1;
    this.resolve(h, key);
  }

  /** Drop held frames that waited too long. Call from the daemon's timer. */
  expire(now: number): void {
    for (const pending of [this.v4.pending, this.v6.pending] as Map<unknown, Pending>[]) {
      for (const [addr, p] of pending) {
        if (now - p.since > this.hold) {
          this.counters.dropUnresolved += p.frames.length;
          pending.delete(addr);
        }
      }
    }
  }

  /** Entries currently known, both families (for diagnostics and tests). */
  size(): number { return this.used + this.t6.used; }

  /**
   * Re-read the kernel's routing and neighbour tables (two processes, however
   * many next hops) and bring every resolved entry up to date: a new MAC, a
   * new egress port, or a next hop the kernel failed to reach. Call it from
   * the daemon's timer every ttl.
   */
  async refreshSnapshot(): Promise<void> {
    if (this.snapshotting || !this.kernel.routeTable || !this.kernel.neighTable) return;
    this.snapshotting = true;
    try {
      const k6 = this.kernel.routeTable6 && this.kernel.neighTable6 ? this.kernel : undefined;
      const [routes, neighs, routes6, neighs6] = await Promise.all([
        this.kernel.routeTable(), this.kernel.neighTable(), k6?.routeTable6!() ?? [], k6?.neighTable6!() ?? [],
      ]);
      const rs: { net: number; mask: number; len: number; dev?: string; gateway?: string }[] = [];
      for (const r of routes) {
        const m = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?$/.exec(r.dst);
        const len = r.dst === 'default' ? 0 : m ? Number(m[2] ?? 32) : -1;
        if (len < 0) continue;
        const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
        const net = len === 0 ? 0 : (ipU32(m![1]!) & mask) >>> 0;
        rs.push({ net, mask, len, dev: r.dev, gateway: r.gateway });
      }
      rs.sort((x, y) => y.len - x.len);
      this.routes = rs;
      const rs6: { net: Uint32Array; len: number; dev?: string; gateway?: string }[] = [];
      for (const r of routes6) {
        const [a, l] = r.dst === 'default' ? ['::', '0'] : r.dst.split('/');
        const b = parseIpv6(a!);
        const len = l === undefined ? 128 : Number(l);
        if (b === null || !(len >= 0 && len <= 128)) continue;
        const net = new Uint32Array(4);
        readIp6Words(b, 0, net);
        rs6.push({ net, len, dev: r.dev, gateway: r.gateway });
      }
      rs6.sort((x, y) => y.len - x.len);
      if (k6) this.routes6 = rs6;
      const sig = JSON.stringify(routes) + JSON.stringify(routes6);
      if (sig !== this.routeSig) { this.routeSig = sig; this.routeGeneration++; }
      const snap = new Map<string, string>();
      const failed = new Set<string>();
      for (const n of [...neighs, ...neighs6]) {
        if (n.lladdr && n.state.some((st) => USABLE.has(st))) snap.set(`${n.dev} ${n.dst}`, n.lladdr);
        else if (n.state.includes('FAILED')) failed.add(`${n.dev} ${n.dst}`);
      }
      this.neighSnap = snap;
      this.neighFailed = failed;
      const now = performance.now();
      const keys6 = this.t6.keys;
      this.refreshSlots(this.v4.slots, (i) => this.fromSnapshot(this.keys[i]! >>> 0), now);
      this.refreshSlots(this.v6.slots, (i) => this.fromSnapshot6(keys6.subarray(i * 4, i * 4 + 4)), now);
    } finally {
      this.snapshotting = false;
    }
  }

  /** Brings every resolved slot up to date from the fresh snapshots. */
  private refreshSlots(t: SlotArrays, hitOf: (slot: number) => SnapshotHit, now: number): void {
    for (let i = 0; i < t.state.length; i++) {
      if (t.state[i] !== 2) continue;
      const hit = hitOf(i);
      if (hit === undefined) continue; // not in the snapshot: keep what we have; the kernel is still resolving it
      if (hit === 'failed' || hit === 'no-route') { t.state[i] = 3; t.expires[i] = now + 500; continue; }
      this.fill(t, i, hit.port, hit.mac, now);
    }
  }

  /** Route + neighbour from the snapshots; undefined when they cannot tell (no snapshot, no route, MAC not known yet). */
  private fromSnapshot(addr: number): SnapshotHit {
    if (!this.routes) return undefined;
    return this.viaRoute(this.routes.find((x) => ((addr & x.mask) >>> 0) === x.net), u32Ip(addr));
  }

  /** fromSnapshot() for an IPv6 address (four words). */
  private fromSnapshot6(w: Uint32Array): SnapshotHit {
    if (!this.routes6) return undefined;
    return this.viaRoute(this.routes6.find((x) => prefixMatch6(w, x.net, x.len)), formatIp6Words(w));
  }

  /** The snapshot's answer for `addr` once its route `r` is known: the next hop's MAC, or why not. */
  private viaRoute(r: { dev?: string; gateway?: string } | undefined, addr: string): SnapshotHit {
    if (!r?.dev) return undefined;
    const port = this.portIndex.get(r.dev);
    if (port === undefined) return 'no-route';
    const hop = r.gateway ?? addr;
    const mac = this.neighSnap.get(`${r.dev} ${hop}`);
    if (mac) return { port, mac, dev: r.dev, hop };
    if (this.neighFailed.has(`${r.dev} ${hop}`)) return 'failed';
    return undefined;
  }

  private fill(t: SlotArrays, slot: number, port: number, mac: string, now: number): void {
    const o = slot * 12;
    t.macs.set(parseMac(mac), o);
    t.macs.set(this.opts.ports[port]!.mac, o + 6);
    t.port[slot] = port;
    t.state[slot] = 2;
    t.expires[slot] = now + this.ttl;
  }

  private resolve<K>(h: Half<K>, key: K): void {
    if (h.inflight.has(key)) return;
    h.inflight.add(key);
    const addr = h.text(key);
    this.counters.resolutions++;
    this.lookupKernel(addr)
      .then((res) => this.settle(h, key, res, performance.now()))
      .catch((err) => {
        this.opts.onError?.(err, addr);
        this.settle(h, key, undefined, performance.now());
      })
      .finally(() => h.inflight.delete(key));
  }

  private async lookupKernel(addr: string): Promise<Resolution> {
    const snap = addr.includes(':') ? this.fromSnapshot6(ip6Words(addr)) : this.fromSnapshot(ipU32(addr));
    if (snap === 'no-route') return snap;
    if (snap !== undefined && snap !== 'failed') return snap;
    const route = await this.kernel.routeGet(addr);
    if (!route) return 'no-route';
    const port = this.portIndex.get(route.dev);
    if (port === undefined) return 'no-route';
    const hop = route.gateway ?? addr;
    const have = await this.kernel.neighGet(hop, route.dev);
    if (have?.lladdr && have.state.some((s) => USABLE.has(s))) return { port, mac: have.lladdr };
    await this.kernel.neighResolve(hop, route.dev);
    const end = performance.now() + this.hold;
    for (let wait = 5; performance.now() < end; wait = Math.min(wait * 2, 100)) {
      await new Promise((r) => setTimeout(r, wait));
      const n = await this.kernel.neighGet(hop, route.dev);
      if (n?.lladdr && n.state.some((s) => USABLE.has(s))) return { port, mac: n.lladdr };
      if (n?.state.includes('FAILED')) return undefined;
    }
    return undefined;
  }

  private settle<K>(h: Half<K>, key: K, res: Resolution, now: number): void {
    const t = h.slots;
    const slot = h.slotOf(key);
    const p = h.pending.get(key);
    h.pending.delete(key);
    if (res === undefined || res === 'no-route') {
      // Keep a working entry through one failed refresh only if the kernel
      // still has nothing better; a failed first resolution is remembered briefly.
      t.state[slot] = 3;
      t.expires[slot] = now + Math.min(this.ttl, 500);
      const n = p?.frames.length ?? 0;
      if (res === 'no-route') this.counters.dropNoRoute += n; else this.counters.dropUnresolved += n;
      return;
    }
    this.fill(t, slot, res.port, res.mac, now);
    const o = slot * 12;
    if (p && p.frames.length) {
      for (const f of p.frames) f.set(t.macs.subarray(o, o + 12), 0);
      this.opts.onResolved?.(res.port, p.frames);
    }
  }
}

/** The four words of an IPv6 address given as text (a slow-path helper: it allocates). */
function ip6Words(addr: string): Uint32Array {
  const w = new Uint32Array(4);
  readIp6Words(parseIpv6(addr)!, 0, w);
  return w;
}

/** An IPv6 address given as four words, as text. */
function formatIp6Words(w: Uint32Array): string {
  const b = new Uint8Array(16);
  for (let k = 0; k < 4; k++) { const v = w[k]!; b[k * 4] = v >>> 24; b[k * 4 + 1] = (v >>> 16) & 255; b[k * 4 + 2] = (v >>> 8) & 255; b[k * 4 + 3] = v & 255; }
  return formatIpv6(b);
}

/** Whether the first `len` bits of w equal net's (an IPv6 longest-prefix candidate). */
function prefixMatch6(w: Uint32Array, net: Uint32Array, len: number): boolean {
  for (let k = 0; k < 4; k++) {
    const bits = len - k * 32;
    if (bits <= 0) return true;
    const m = bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
    if (((w[k]! & m) >>> 0) !== ((net[k]! & m) >>> 0)) return false;
  }
  return true;
}

/**
 * The IPv6 next-hop table: open addressing over four-word keys, as
 * NeighTable's IPv4 one over u32 keys; lookups allocate nothing.
 */
class Slots6 implements SlotArrays {
  readonly mask: number;
  private readonly shift: number;
  readonly keys: Uint32Array;
  /** 0 empty, 1 resolving, 2 resolved, 3 failed. */
  readonly state: Uint8Array;
  readonly port: Int32Array;
  readonly expires: Float64Array;
  readonly macs: Uint8Array;
  used = 0;

  constructor(bits: number) {
    const cap = 1 << bits;
    this.mask = cap - 1;
    this.shift = 32 - bits;
    this.keys = new Uint32Array(cap * 4);
    this.state = new Uint8Array(cap);
    this.port = new Int32Array(cap);
    this.expires = new Float64Array(cap);
    this.macs = new Uint8Array(cap * 12);
  }

  private hash(w: Uint32Array): number {
    return Math.imul(w[0]! ^ Math.imul(w[1]!, 0x85ebca77) ^ Math.imul(w[2]!, 0xc2b2ae3d) ^ Math.imul(w[3]!, 0x27d4eb2f), 0x9e3779b1) >>> this.shift;
  }

  find(w: Uint32Array): number {
    const k = this.keys;
    let i = this.hash(w);
    for (let n = 0; n <= this.mask; n++) {
      if (this.state[i] === 0) return EMPTY;
      const o = i * 4;
      if (k[o] === w[0] && k[o + 1] === w[1] && k[o + 2] === w[2] && k[o + 3] === w[3]) return i;
      i = (i + 1) & this.mask;
    }
    return EMPTY;
  }

  insert(w: Uint32Array): number {
    if (this.used * 2 >= this.mask + 1) this.clear();
    const f = this.find(w);
    if (f !== EMPTY) return f;
    let i = this.hash(w);
    while (this.state[i] !== 0) i = (i + 1) & this.mask;
    this.keys.set(w, i * 4);
    this.state[i] = 1;
    this.used++;
    return i;
  }

  clear(): void {
    this.state.fill(0);
    this.used = 0;
  }
}
