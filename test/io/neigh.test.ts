import { describe, it, expect } from 'vitest';
import { NeighTable, type KernelTables, type NeighEntry } from '../../src/io/neigh.js';
import { ipToU32 } from '../../src/packet/addr.js';
import { parseIpv6 } from '../../src/packet/ipv6.js';

function fakeKernel(opts: { routes: Record<string, { dev: string; gateway?: string }>; neigh: Record<string, string>; learnAfterResolve?: Record<string, string> }) {
  const calls: string[] = [];
  const k: KernelTables = {
    async routeGet(a) { calls.push(`route ${a}`); return opts.routes[a]; },
    async neighGet(a, dev) {
      calls.push(`neigh ${a} ${dev}`);
      const mac = opts.neigh[a];
      return mac ? { lladdr: mac, state: ['REACHABLE'] } : undefined;
    },
    async neighResolve(a, dev) {
      calls.push(`resolve ${a} ${dev}`);
      const mac = opts.learnAfterResolve?.[a];
      if (mac) setTimeout(() => { opts.neigh[a] = mac; }, 10);
    },
  };
  return { k, calls };
}

const ports = [
  { ifname: 'eth0', mac: Uint8Array.of(2, 0, 0, 0, 0, 1) },
  { ifname: 'eth1', mac: Uint8Array.of(2, 0, 0, 0, 0, 2) },
];
const tick = () => new Promise((r) => setTimeout(r, 5));

describe('NeighTable', () => {
  it('holds frames while the kernel resolves the next hop, then sends them with the right MACs and port', async () => {
    const { k, calls } = fakeKernel({ routes: { '10.0.0.5': { dev: 'eth1' } }, neigh: {}, learnAfterResolve: { '10.0.0.5': 'aa:bb:cc:dd:ee:ff' } });
    const sent: [number, Uint8Array[]][] = [];
    const t = new NeighTable({ ports, kernel: k, onResolved: (p, f) => sent.push([p, f]) });
    const frame = new Uint8Array(60).fill(7);
    const hop = ipToU32('10.0.0.5');
    expect(t.writeMacs(hop, frame, 0, 0)).toBe(-1);
    t.holdFrame(hop, frame, 0);
    t.holdFrame(hop, frame, 1);
    for (let i = 0; i < 50 && sent.length === 0; i++) await tick();
    expect(calls).toContain('resolve 10.0.0.5 eth1');
    expect(sent).toHaveLength(1);
    const [port, frames] = sent[0]!;
    expect(port).toBe(1);
    expect(frames).toHaveLength(2);
    expect([...frames[0]!.subarray(0, 12)]).toEqual([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 2, 0, 0, 0, 0, 2]);
    expect(frame[0]).toBe(7); // held frames are copies
    // Now the hot path answers from the cache.
    const buf = new Uint8Array(64);
    expect(t.writeMacs(hop, buf, 2, 5)).toBe(1);
    expect([...buf.subarray(2, 14)]).toEqual([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 2, 0, 0, 0, 0, 2]);
  });

  it('resolves a remote next hop through its gateway', async () => {
    const { k, calls } = fakeKernel({ routes: { '172.16.0.9': { dev: 'eth0', gateway: '10.1.1.1' } }, neigh: { '10.1.1.1': '02:11:22:33:44:55' } });
    const t = new NeighTable({ ports, kernel: k, onResolved: () => {} });
    const hop = ipToU32('172.16.0.9');
    t.holdFrame(hop, new Uint8Array(20), 0);
    for (let i = 0; i < 50 && t.writeMacs(hop, new Uint8Array(20), 0, 1) < 0; i++) await tick();
    const buf = new Uint8Array(14);
    expect(t.writeMacs(hop, buf, 0, 1)).toBe(0);
    expect([...buf.subarray(0, 6)]).toEqual([2, 0x11, 0x22, 0x33, 0x44, 0x55]);
    expect(calls).toEqual(['route 172.16.0.9', 'neigh 10.1.1.1 eth0']);
  });

  it('bounds the queue and counts drops: queue full, no route through our ports, resolution failure, hold timeout', async () => {
    const { k } = fakeKernel({ routes: { '10.0.0.7': { dev: 'wlan9' } }, neigh: {} });
    const t = new NeighTable({ ports, kernel: k, queueMax: 3, holdMs: 50 });
    const hop = ipToU32('10.0.0.7');
    for (let i = 0; i < 5; i++) t.holdFrame(hop, new Uint8Array(20), 0);
    expect(t.counters.held).toBe(3);
    expect(t.counters.dropQueueFull).toBe(2);
    for (let i = 0; i < 50 && t.counters.dropNoRoute === 0; i++) await tick();
    expect(t.counters.dropNoRoute).toBe(3);
    // A next hop the kernel never resolves: frames wait holdMs, then are dropped.
    const slow = fakeKernel({ routes: { '10.0.0.8': { dev: 'eth0' } }, neigh: {} });
    const t2 = new NeighTable({ ports, kernel: slow.k, holdMs: 40 });
    t2.holdFrame(ipToU32('10.0.0.8'), new Uint8Array(20), performance.now());
    t2.expire(performance.now() + 100);
    expect(t2.counters.dropUnresolved).toBe(1);
  });
});

describe('NeighTable without a route', () => {
  it('counts frames to a next hop the kernel has no route to as dropNoRoute, and bumps routeGeneration when the table changes', async () => {
    const { k } = fakeKernel({ routes: {}, neigh: {} });
    let table = [{ dst: '10.0.0.0/24', dev: 'eth0' }];
    const t = new NeighTable({ ports, kernel: { ...k, async routeTable() { return table; }, async neighTable() { return []; } } });
    t.holdFrame(ipToU32('10.3.0.1'), new Uint8Array(20), 0);
    for (let i = 0; i < 50 && t.counters.dropNoRoute === 0; i++) await tick();
    expect(t.counters).toMatchObject({ dropNoRoute: 1, dropUnresolved: 0 });
    await t.refreshSnapshot();
    const g = t.routeGeneration;
    await t.refreshSnapshot();
    expect(t.routeGeneration).toBe(g);
    table = [...table, { dst: '10.3.0.1', dev: 'eth0' }];
    await t.refreshSnapshot();
    expect(t.routeGeneration).toBe(g + 1);
  });
});

describe('NeighTable snapshots', () => {
  it('resolves from one routing + neighbour snapshot (longest prefix wins) and follows a MAC change', async () => {
    const neighs: NeighEntry[] = [
      { dst: '192.168.150.12', dev: 'eth1', lladdr: '02:aa:00:00:00:12', state: ['REACHABLE'] },
      { dst: '192.168.160.254', dev: 'eth0', lladdr: '02:bb:00:00:00:fe', state: ['STALE'] },
    ];
    const calls: string[] = [];
    const k: KernelTables = {
      async routeGet(a) { calls.push(`route ${a}`); return undefined; },
      async neighGet(a) { calls.push(`neigh ${a}`); return undefined; },
      async neighResolve(a) { calls.push(`resolve ${a}`); },
      async routeTable() {
        return [
          { dst: 'default', dev: 'eth0', gateway: '192.168.160.254' },
          { dst: '192.168.150.0/24', dev: 'eth1' },
          { dst: '192.168.160.0/24', dev: 'eth0' },
        ];
      },
      async neighTable() { return neighs; },
    };
    const t = new NeighTable({ ports, kernel: k });
    await t.refreshSnapshot();
    const rs = ipToU32('192.168.150.12');
    const client = ipToU32('203.0.113.9');
    t.holdFrame(rs, new Uint8Array(20), 0);
    t.holdFrame(client, new Uint8Array(20), 0);
    for (let i = 0; i < 50 && (t.writeMacs(rs, new Uint8Array(14), 0, 0) < 0 || t.writeMacs(client, new Uint8Array(14), 0, 0) < 0); i++) await tick();
    const buf = new Uint8Array(14);
    expect(t.writeMacs(rs, buf, 0, 0)).toBe(1);
    expect([...buf.subarray(0, 6)]).toEqual([2, 0xaa, 0, 0, 0, 0x12]);
    expect(t.writeMacs(client, buf, 0, 0)).toBe(0);
    expect([...buf.subarray(0, 6)]).toEqual([2, 0xbb, 0, 0, 0, 0xfe]);
    expect(calls).toEqual([]);
    // The RS's MAC changes (a replaced server): the next snapshot carries it to the hot path.
    neighs[0] = { dst: '192.168.150.12', dev: 'eth1', lladdr: '02:cc:00:00:00:12', state: ['REACHABLE'] };
    await t.refreshSnapshot();
    expect(t.writeMacs(rs, buf, 0, 0)).toBe(1);
    expect([...buf.subarray(0, 6)]).toEqual([2, 0xcc, 0, 0, 0, 0x12]);
    // The kernel gives up on it: frames stop going there.
    neighs[0] = { dst: '192.168.150.12', dev: 'eth1', state: ['FAILED'] };
    await t.refreshSnapshot();
    expect(t.writeMacs(rs, buf, 0, 0)).toBe(-1);
  });
});

describe('NeighTable, IPv6 next hops', () => {
  const b6 = (s: string) => parseIpv6(s)!;

  it('holds frames while the kernel resolves an IPv6 next hop (neighbour discovery is the kernel\'s), then sends them', async () => {
    const { k, calls } = fakeKernel({ routes: { '2001:db8:1::12': { dev: 'eth1' } }, neigh: {}, learnAfterResolve: { '2001:db8:1::12': '02:66:00:00:00:12' } });
    const sent: [number, Uint8Array[]][] = [];
    const t = new NeighTable({ ports, kernel: k, onResolved: (p, f) => sent.push([p, f]) });
    const hop = b6('2001:DB8:1:0::12');
    expect(t.writeMacs6(hop, new Uint8Array(14), 0, 0)).toBe(-1);
    t.holdFrame6(hop, new Uint8Array(80).fill(6), 0);
    for (let i = 0; i < 50 && sent.length === 0; i++) await tick();
    expect(calls).toContain('resolve 2001:db8:1::12 eth1');
    expect(sent[0]![0]).toBe(1);
    expect([...sent[0]![1][0]!.subarray(0, 12)]).toEqual([2, 0x66, 0, 0, 0, 0x12, 2, 0, 0, 0, 0, 2]);
    const buf = new Uint8Array(14);
    expect(t.writeMacs6(hop, buf, 0, 1)).toBe(1);
    expect([...buf.subarray(0, 6)]).toEqual([2, 0x66, 0, 0, 0, 0x12]);
    // An IPv4 next hop whose u32 equals a word of the IPv6 one is another entry.
    expect(t.writeMacs(0x12, new Uint8Array(14), 0, 1)).toBe(-1);
  });

  it('resolves from the IPv6 snapshots: longest prefix, a link-local gateway for the default route, FAILED entries', async () => {
    const neighs6: NeighEntry[] = [
      { dst: '2001:db8:1::12', dev: 'eth1', lladdr: '02:aa:00:00:00:12', state: ['REACHABLE'] },
      { dst: 'fe80::1', dev: 'eth0', lladdr: '02:bb:00:00:00:01', state: ['STALE'] },
    ];
    const calls: string[] = [];
    const k: KernelTables = {
      async routeGet(a) { calls.push(`route ${a}`); return undefined; },
      async neighGet(a) { calls.push(`neigh ${a}`); return undefined; },
      async neighResolve(a) { calls.push(`resolve ${a}`); },
      async routeTable() { return []; },
      async neighTable() { return []; },
      async routeTable6() {
        return [
          { dst: 'default', dev: 'eth0', gateway: 'fe80::1' },
          { dst: '2001:db8:1::/64', dev: 'eth1' },
          { dst: '2001:db8::/32', dev: 'eth0', gateway: 'fe80::1' },
        ];
      },
      async neighTable6() { return neighs6; },
    };
    const t = new NeighTable({ ports, kernel: k });
    await t.refreshSnapshot();
    const rs = b6('2001:db8:1::12');
    const far = b6('2001:db8:99::1');
    const world = b6('2606:4700::1111');
    for (const h of [rs, far, world]) t.holdFrame6(h, new Uint8Array(60), 0);
    for (let i = 0; i < 50 && [rs, far, world].some((h) => t.writeMacs6(h, new Uint8Array(14), 0, 0) < 0); i++) await tick();
    const buf = new Uint8Array(14);
    expect(t.writeMacs6(rs, buf, 0, 0)).toBe(1);
    expect([...buf.subarray(0, 6)]).toEqual([2, 0xaa, 0, 0, 0, 0x12]);
    expect(t.writeMacs6(far, buf, 0, 0)).toBe(0);
    expect([...buf.subarray(0, 6)]).toEqual([2, 0xbb, 0, 0, 0, 1]);
    expect(t.writeMacs6(world, buf, 0, 0)).toBe(0);
    expect(calls).toEqual([]);
    neighs6[0] = { dst: '2001:db8:1::12', dev: 'eth1', state: ['FAILED'] };
    await t.refreshSnapshot();
    expect(t.writeMacs6(rs, buf, 0, 0)).toBe(-1);
    expect(t.size()).toBe(3);
  });
});
