// Prometheus metrics for lvsd (`--metrics HOST:PORT`), via prom-client:
// lvsd's own series, and node_exporter's ipvs series (node-ipvs.ts) so that
// dashboards built on kernel IPVS read lvsd unchanged.
// Nothing is counted twice: at scrape time every value is read from where
// the data plane already keeps it (the engine's per-service and per-dest
// stats, its drop counters, the loop's counters), so the hot path pays nothing.
import { Registry, Gauge, Counter } from 'prom-client';
import type { ServiceKey, ServiceStatus, StatsSnapshot } from '../ipvs/types.js';
import { registerNodeIpvs } from './node-ipvs.js';

export interface MetricsSource {
  listServices(): ServiceStatus[];
  /** The engine's totals over all services ever (node_ipvs_*_total); without it, sums over the current services. */
  totals?(): StatsSnapshot;
  /** Engine counters: drop reasons and table figures, by name. */
  engineCounters(): Record<string, number>;
  /** The I/O loop's counters (rx/tx frames, neighbour misses...). */
  ioCounters(): Record<string, number>;
  /** Frames per RX batch: cumulative bucket counts for `le` bounds, plus the count and sum. */
  batchSizes(): { bounds: number[]; counts: number[]; sum: number; count: number };
}

/** ioCounters' one gauge: the SYN gate's share, in thousandths (src/io/syn-shed.ts). */
export const SYN_ACCEPT = 'io_syn_shed_accept_permille';

/** An address and port as ipvsadm writes them: IPv6 in brackets. */
function addrPort(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

export function serviceLabel(k: ServiceKey): string {
  if (k.kind === 'fwmark') return k.af === 6 ? `FWM ${k.fwmark} IPv6` : `FWM ${k.fwmark}`;
  return `${k.protocol.toUpperCase()} ${addrPort(k.addr, k.port)}`;
}

/** Counters whose value is set from outside at scrape time (prom-client counters only go up by inc()). */
function setCounter(c: Counter<string>, labels: Record<string, string>, v: number): void {
  c.inc(labels, v);
}

export function buildRegistry(src: MetricsSource): Registry {
  const reg = new Registry();
  const svcLabels = ['service', 'protocol', 'vip', 'vport', 'fwmark', 'scheduler'];
  const destLabels = ['service', 'dest', 'fwd'];

  const svcConns = new Counter({ name: 'lvsd_service_connections_total', help: 'Connections scheduled for the virtual service', labelNames: svcLabels, registers: [reg] });
  const svcPkts = new Counter({ name: 'lvsd_service_packets_total', help: 'Packets of the virtual service by direction (in: client to server, out: server to client)', labelNames: [...svcLabels, 'direction'], registers: [reg] });
  const svcBytes = new Counter({ name: 'lvsd_service_bytes_total', help: 'Bytes of the virtual service by direction', labelNames: [...svcLabels, 'direction'], registers: [reg] });
  const svcCps = new Gauge({ name: 'lvsd_service_connections_per_second', help: 'Estimated connection rate (ip_vs_est)', labelNames: svcLabels, registers: [reg] });
  const svcPps = new Gauge({ name: 'lvsd_service_packets_per_second', help: 'Estimated packet rate by direction', labelNames: [...svcLabels, 'direction'], registers: [reg] });
  const svcBps = new Gauge({ name: 'lvsd_service_bytes_per_second', help: 'Estimated byte rate by direction', labelNames: [...svcLabels, 'direction'], registers: [reg] });

  const dConns = new Counter({ name: 'lvsd_dest_connections_total', help: 'Connections scheduled to the real server', labelNames: destLabels, registers: [reg] });
  const dPkts = new Counter({ name: 'lvsd_dest_packets_total', help: 'Packets of the real server by direction', labelNames: [...destLabels, 'direction'], registers: [reg] });
  const dBytes = new Counter({ name: 'lvsd_dest_bytes_total', help: 'Bytes of the real server by direction', labelNames: [...destLabels, 'direction'], registers: [reg] });
  const dCps = new Gauge({ name: 'lvsd_dest_connections_per_second', help: 'Estimated connection rate of the real server', labelNames: destLabels, registers: [reg] });
  const dPps = new Gauge({ name: 'lvsd_dest_packets_per_second', help: 'Estimated packet rate of the real server by direction', labelNames: [...destLabels, 'direction'], registers: [reg] });
  const dBps = new Gauge({ name: 'lvsd_dest_bytes_per_second', help: 'Estimated byte rate of the real server by direction', labelNames: [...destLabels, 'direction'], registers: [reg] });
  const dActive = new Gauge({ name: 'lvsd_dest_active_connections', help: 'ActiveConn (ESTABLISHED) of the real server', labelNames: destLabels, registers: [reg] });
  const dInact = new Gauge({ name: 'lvsd_dest_inactive_connections', help: 'InActConn of the real server', labelNames: destLabels, registers: [reg] });
  const dWeight = new Gauge({ name: 'lvsd_dest_weight', help: 'Weight of the real server (0 = quiesced)', labelNames: destLabels, registers: [reg] });

  const engine = new Counter({ name: 'lvsd_engine_events_total', help: 'Engine counters by name (drops by reason and other events)', labelNames: ['counter'], registers: [reg] });
  const io = new Counter({ name: 'lvsd_io_events_total', help: 'Packet I/O counters by name (rx/tx frames, neighbour misses, ring drops)', labelNames: ['counter'], registers: [reg] });
  const synAccept = new Gauge({ name: 'lvsd_syn_shed_accept_ratio', help: 'Share of pure SYNs the socket filter lets through (1 = all; below 1 while a SYN flood overloads lvsd)', registers: [reg] });
  const tableSize = new Gauge({ name: 'lvsd_conn_table_entries', help: 'Connections (and persistence templates) in the connection table', registers: [reg] });

  // A hand-fed histogram: the loop keeps the bucket counts in a typed array.
  const batchName = 'lvsd_rx_batch_frames';
  const batchMetric = {
    name: batchName,
    help: 'Frames handled per RX readiness event (batch size)',
    type: 'histogram',
    aggregator: 'sum',
    get: () => {
      const b = src.batchSizes();
      const values = b.bounds.map((le, i) => ({ value: b.counts[i]!, labels: { le }, metricName: `${batchName}_bucket` }));
      values.push({ value: b.count, labels: { le: '+Inf' as unknown as number }, metricName: `${batchName}_bucket` });
      values.push({ value: b.sum, labels: {} as { le: number }, metricName: `${batchName}_sum` });
      values.push({ value: b.count, labels: {} as { le: number }, metricName: `${batchName}_count` });
      return { name: batchName, help: batchMetric.help, type: 'histogram', values, aggregator: 'sum' };
    },
    reset: () => {},
  };
  reg.registerMetric(batchMetric as never);

  // One collect refreshes every service/dest series from one listServices() call.
  const collect = (): void => {
    for (const m of [svcConns, svcPkts, svcBytes, svcCps, svcPps, svcBps, dConns, dPkts, dBytes, dCps, dPps, dBps, dActive, dInact, dWeight, engine, io]) m.reset();
    for (const s of src.listServices()) {
      const k = s.key;
      const sl = {
        service: serviceLabel(k),
        protocol: k.kind === 'addr' ? k.protocol : '',
        vip: k.kind === 'addr' ? k.addr : '',
        vport: k.kind === 'addr' ? String(k.port) : '',
        fwmark: k.kind === 'fwmark' ? String(k.fwmark) : '',
        scheduler: s.scheduler,
      };
      setCounter(svcConns, sl, s.stats.conns);
      setCounter(svcPkts, { ...sl, direction: 'in' }, s.stats.inpkts);
      setCounter(svcPkts, { ...sl, direction: 'out' }, s.stats.outpkts);
      setCounter(svcBytes, { ...sl, direction: 'in' }, s.stats.inbytes);
      setCounter(svcBytes, { ...sl, direction: 'out' }, s.stats.outbytes);
      svcCps.set(sl, s.rates.cps);
      svcPps.set({ ...sl, direction: 'in' }, s.rates.inpps);
      svcPps.set({ ...sl, direction: 'out' }, s.rates.outpps);
      svcBps.set({ ...sl, direction: 'in' }, s.rates.inbps);
      svcBps.set({ ...sl, direction: 'out' }, s.rates.outbps);
      for (const d of s.dests) {
        const dl = { service: sl.service, dest: addrPort(d.addr, d.port), fwd: d.fwd };
        setCounter(dConns, dl, d.stats.conns);
        setCounter(dPkts, { ...dl, direction: 'in' }, d.stats.inpkts);
        setCounter(dPkts, { ...dl, direction: 'out' }, d.stats.outpkts);
        setCounter(dBytes, { ...dl, direction: 'in' }, d.stats.inbytes);
        setCounter(dBytes, { ...dl, direction: 'out' }, d.stats.outbytes);
        dCps.set(dl, d.rates.cps);
        dPps.set({ ...dl, direction: 'in' }, d.rates.inpps);
        dPps.set({ ...dl, direction: 'out' }, d.rates.outpps);
        dBps.set({ ...dl, direction: 'in' }, d.rates.inbps);
        dBps.set({ ...dl, direction: 'out' }, d.rates.outbps);
        dActive.set(dl, d.activeConns);
        dInact.set(dl, d.inactConns);
        dWeight.set(dl, d.weight);
      }
    }
    const ec = src.engineCounters();
    for (const [name, v] of Object.entries(ec)) {
      if (/^(conns|connTable|tableSize|conn_table)/i.test(name) && !/drop/i.test(name)) continue;
      if (Number.isFinite(v) && v > 0) engine.inc({ counter: name }, v);
    }
    const size = ec.conns ?? ec.connTableEntries ?? ec.tableSize ?? ec.connTable;
    tableSize.set(typeof size === 'number' ? size : 0);
    for (const [name, v] of Object.entries(src.ioCounters())) {
      if (name === SYN_ACCEPT) { synAccept.set(v / 1000); continue; } // a level, not a count
      if (Number.isFinite(v) && v > 0) io.inc({ counter: name }, v);
    }
  };
  // prom-client runs each metric's collect() just before reading it, in
  // registration order, and a synchronous collect finishes before the next
  // metric is read: so the first metric refreshes all of them from one
  // listServices() per scrape.
  (svcConns as unknown as { collect: () => void }).collect = collect;
  registerNodeIpvs(reg, () => src.listServices(), src.totals ? () => src.totals!() : undefined);
  return reg;
}
