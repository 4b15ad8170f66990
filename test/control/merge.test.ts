// The listing and counter merges of lvsd --workers (src/control/merge.ts).
import { describe, expect, it } from 'vitest';
import { mergeServices, perWorkerCounters, sumBatches, sumCounters, sumStats } from '../../src/control/merge.js';
import type { DestStatus, ServiceStatus } from '../../src/ipvs/types.js';

const stats = (n: number) => ({ conns: n, inpkts: 2 * n, outpkts: 3 * n, inbytes: 100 * n, outbytes: 200 * n });
const rates = (n: number) => ({ cps: n, inpps: 2 * n, outpps: 3 * n, inbps: 10 * n, outbps: 20 * n });
const dst = (addr: string, n: number, weight = 1): DestStatus => ({
  addr, port: 80, fwd: 'masq', weight, uThreshold: 0, lThreshold: 0, activeConns: n, inactConns: 2 * n, persistConns: 0, stats: stats(n), rates: rates(n),
});
const service = (port: number, dests: DestStatus[], n: number): ServiceStatus => ({
  key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.100', port }, scheduler: 'wlc', persistence: 0, netmask: '255.255.255.255',
  ops: false, schedFlags: [], stats: stats(n), rates: rates(n), dests,
});

describe('mergeServices', () => {
  it('takes services and dests (and their order and specs) from the configuration, counters summed over workers', () => {
    const config = [service(80, [dst('10.0.1.1', 99, 5), dst('10.0.1.2', 99)], 99), service(443, [dst('10.0.1.1', 99)], 99)];
    const w0 = [service(443, [dst('10.0.1.1', 1)], 1), service(80, [dst('10.0.1.2', 2), dst('10.0.1.1', 3)], 5)];
    const w1 = [service(80, [dst('10.0.1.1', 10), dst('10.0.1.2', 20), dst('10.9.9.9', 7)], 30), service(8080, [], 4)];
    const m = mergeServices(config, [w0, w1]);
    expect(m.map((s) => s.key)).toEqual(config.map((s) => s.key));
    expect(m[0]!.stats).toEqual(stats(35));
    expect(m[0]!.rates).toEqual(rates(35));
    expect(m[0]!.dests.map((d) => [d.addr, d.weight, d.activeConns, d.inactConns, d.stats.conns, d.rates.cps])).toEqual([
      ['10.0.1.1', 5, 13, 26, 13, 13], ['10.0.1.2', 1, 22, 44, 22, 22],
    ]);
    expect(m[1]!.stats).toEqual(stats(1));
    expect(m[1]!.dests[0]!.activeConns).toBe(1);
    // The configuration's own (zero-traffic) counters are not added; the input is not changed.
    expect(config[0]!.stats).toEqual(stats(99));
  });

  it('no workers: zero counters', () => {
    const m = mergeServices([service(80, [dst('10.0.1.1', 9)], 9)], []);
    expect(m[0]!.stats).toEqual(stats(0));
    expect(m[0]!.dests[0]!.activeConns).toBe(0);
  });
});

describe('counters', () => {
  it('sums counts, keeps sizes and levels as levels', () => {
    const c = sumCounters([
      { frames: 10, drop_no_service: 1, conn_table_size: 4096, defense_level: 0, io_syn_shed_accept_permille: 1000 },
      { frames: 5, drop_no_service: 2, conn_table_size: 4096, defense_level: 2, io_syn_shed_accept_permille: 250, only_here: 7 },
    ]);
    expect(c).toEqual({ frames: 15, drop_no_service: 3, conn_table_size: 4096, defense_level: 2, io_syn_shed_accept_permille: 250, only_here: 7 });
  });

  it('per-worker rows name the worker', () => {
    expect(perWorkerCounters(1, { io_rx_frames: 9, io_tx_frames: 8, io_forwarded: 7, ring_eth0_drops: 2, ring_eth0_big_drops: 1, ring_eth0_packets: 50 }, { conns: 3 })).toEqual({
      io_worker1_rx_frames: 9, io_worker1_tx_frames: 8, io_worker1_forwarded: 7, io_worker1_ring_drops: 3, io_worker1_conns: 3,
    });
  });

  it('totals and batch histograms add up', () => {
    expect(sumStats([stats(1), stats(2)])).toEqual(stats(3));
    expect(sumBatches([
      { bounds: [1, 2], counts: [1, 3], sum: 10, count: 4 },
      { bounds: [1, 2], counts: [2, 2], sum: 5, count: 3 },
    ])).toEqual({ bounds: [1, 2], counts: [3, 5], sum: 15, count: 7 });
    expect(sumBatches([])).toEqual({ bounds: [], counts: [], sum: 0, count: 0 });
  });
});
