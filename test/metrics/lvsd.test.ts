import { describe, it, expect } from 'vitest';
import { buildRegistry, type MetricsSource } from '../../src/metrics/lvsd.js';
import type { ServiceStatus } from '../../src/ipvs/types.js';

const zero = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
const zr = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };

function source(state: { conns: number }): MetricsSource {
  return {
    listServices: (): ServiceStatus[] => [{
      key: { kind: 'addr', protocol: 'tcp', addr: '10.0.0.100', port: 80 }, scheduler: 'rr', persistence: 0,
      netmask: '255.255.255.255', ops: false, schedFlags: [],
      stats: { ...zero, conns: state.conns, inpkts: 10 }, rates: { ...zr, cps: 3 },
      dests: [{
        addr: '10.0.0.12', port: 80, fwd: 'route', weight: 2, uThreshold: 0, lThreshold: 0,
        activeConns: 4, inactConns: 1, persistConns: 0, stats: { ...zero, conns: state.conns }, rates: zr,
      }],
    }],
    engineCounters: () => ({ frames: 100, drop_bad_ip_checksum: 7, conns: 5 }),
    ioCounters: () => ({ io_rx_frames: 100 }),
    batchSizes: () => ({ bounds: [1, 2, 4], counts: [3, 5, 6], sum: 14, count: 7 }),
  };
}

describe('metrics', () => {
  it('exposes per service and per dest series, engine drops, table size and batch sizes, fresh at every scrape', async () => {
    const state = { conns: 42 };
    const reg = buildRegistry(source(state));
    let text = await reg.metrics();
    expect(text).toContain('lvsd_service_connections_total{service="TCP 10.0.0.100:80",protocol="tcp",vip="10.0.0.100",vport="80",fwmark="",scheduler="rr"} 42');
    expect(text).toContain('lvsd_service_packets_total{service="TCP 10.0.0.100:80",protocol="tcp",vip="10.0.0.100",vport="80",fwmark="",scheduler="rr",direction="in"} 10');
    expect(text).toContain('lvsd_dest_active_connections{service="TCP 10.0.0.100:80",dest="10.0.0.12:80",fwd="route"} 4');
    expect(text).toContain('lvsd_dest_inactive_connections{service="TCP 10.0.0.100:80",dest="10.0.0.12:80",fwd="route"} 1');
    expect(text).toContain('lvsd_dest_weight{service="TCP 10.0.0.100:80",dest="10.0.0.12:80",fwd="route"} 2');
    expect(text).toContain('lvsd_engine_events_total{counter="drop_bad_ip_checksum"} 7');
    expect(text).toContain('lvsd_conn_table_entries 5');
    expect(text).toContain('lvsd_io_events_total{counter="io_rx_frames"} 100');
    expect(text).toContain('lvsd_rx_batch_frames_bucket{le="2"} 5');
    expect(text).toContain('lvsd_rx_batch_frames_bucket{le="+Inf"} 7');
    expect(text).toContain('lvsd_rx_batch_frames_count 7');
    state.conns = 43;
    text = await reg.metrics();
    expect(text).toContain('lvsd_dest_connections_total{service="TCP 10.0.0.100:80",dest="10.0.0.12:80",fwd="route"} 43');
    expect(text).not.toContain('} 42\n');
  });
});

describe('metrics, IPv6', () => {
  it('labels IPv6 services and dests as ipvsadm writes them ([addr]:port), and IPv6 fwmark services apart', async () => {
    const svc = (key: ServiceStatus['key'], dests: ServiceStatus['dests'] = []): ServiceStatus => ({
      key, scheduler: 'rr', persistence: 0, netmask: '128', ops: false, schedFlags: [], stats: { ...zero, conns: 2 }, rates: zr, dests,
    });
    const reg = buildRegistry({
      listServices: () => [
        svc({ kind: 'addr', protocol: 'tcp', addr: '2001:db8::100', port: 80 }, [{
          addr: '2001:db8:1::12', port: 8080, fwd: 'masq', weight: 1, uThreshold: 0, lThreshold: 0,
          activeConns: 1, inactConns: 0, persistConns: 0, stats: zero, rates: zr,
        }]),
        svc({ kind: 'fwmark', fwmark: 7 }),
        svc({ kind: 'fwmark', fwmark: 7, af: 6 }),
      ],
      engineCounters: () => ({}), ioCounters: () => ({}), batchSizes: () => ({ bounds: [1], counts: [0], sum: 0, count: 0 }),
    });
    const text = await reg.metrics();
    expect(text).toContain('lvsd_dest_active_connections{service="TCP [2001:db8::100]:80",dest="[2001:db8:1::12]:8080",fwd="masq"} 1');
    expect(text).toMatch(/lvsd_service_connections_total\{service="FWM 7",[^}]*\} 2/);
    expect(text).toMatch(/lvsd_service_connections_total\{service="FWM 7 IPv6",[^}]*\} 2/);
  });
});
