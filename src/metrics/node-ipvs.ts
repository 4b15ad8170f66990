// node_exporter's ipvs collector series (collector/ipvs_linux.go), computed
// from lvsd's services the way that collector computes them from
// /proc/net/ip_vs_stats and /proc/net/ip_vs (read through procfs), so
// dashboards and alerts written for kernel IPVS work against lvsd unchanged:
// - the five totals are counters without labels;
// - per backend, three gauges labelled local_address local_port
//   remote_address remote_port proto local_mark. procfs reads a fwmark
//   service's line "FWM  %08X sched" as proto "FWM", local_mark the mark as
//   the kernel prints it (8 upper-case hex digits), no local address (""),
//   local port 0; an address service has local_mark "". Backends with the
//   same labels are summed, as the collector does.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ServiceKey, ServiceStatus, StatsSnapshot } from '../ipvs/types.js';

export const NODE_IPVS_BACKEND_LABELS = ['local_address', 'local_port', 'remote_address', 'remote_port', 'proto', 'local_mark'] as const;
type BackendLabels = Record<(typeof NODE_IPVS_BACKEND_LABELS)[number], string>;

/** The local half of a backend's labels, as procfs reads a service line of /proc/net/ip_vs. */
function localLabels(k: ServiceKey): Pick<BackendLabels, 'local_address' | 'local_port' | 'proto' | 'local_mark'> {
  if (k.kind === 'fwmark') {
    return { local_address: '', local_port: '0', proto: 'FWM', local_mark: (k.fwmark >>> 0).toString(16).toUpperCase().padStart(8, '0') };
  }
  return { local_address: k.addr, local_port: String(k.port), proto: k.protocol.toUpperCase(), local_mark: '' };
}

export function registerNodeIpvs(reg: Registry, listServices: () => ServiceStatus[], totals?: () => StatsSnapshot): void {
  const registers = [reg];
  const total = (name: string, help: string) => new Counter({ name, help, registers });
  const conns = total('node_ipvs_connections_total', 'The total number of connections made.');
  const inPkts = total('node_ipvs_incoming_packets_total', 'The total number of incoming packets.');
  const outPkts = total('node_ipvs_outgoing_packets_total', 'The total number of outgoing packets.');
  const inBytes = total('node_ipvs_incoming_bytes_total', 'The total amount of incoming data.');
  const outBytes = total('node_ipvs_outgoing_bytes_total', 'The total amount of outgoing data.');
  const backend = (name: string, help: string) => new Gauge({ name, help, labelNames: NODE_IPVS_BACKEND_LABELS, registers });
  const active = backend('node_ipvs_backend_connections_active', 'The current active connections by local and remote address.');
  const inact = backend('node_ipvs_backend_connections_inactive', 'The current inactive connections by local and remote address.');
  const weight = backend('node_ipvs_backend_weight', 'The current backend weight by local and remote address.');

  const collect = (): void => {
    for (const m of [conns, inPkts, outPkts, inBytes, outBytes, active, inact, weight]) m.reset();
    const t = { conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 };
    const sums = new Map<string, { labels: BackendLabels; active: number; inact: number; weight: number }>();
    for (const s of listServices()) {
      // /proc/net/ip_vs_stats counts every service; procfs skips the lines of protocols it does not know (only TCP, UDP, FWM).
      t.conns += s.stats.conns; t.inpkts += s.stats.inpkts; t.outpkts += s.stats.outpkts;
      t.inbytes += s.stats.inbytes; t.outbytes += s.stats.outbytes;
      if (s.key.kind === 'addr' && s.key.protocol !== 'tcp' && s.key.protocol !== 'udp') continue;
      const local = localLabels(s.key);
      for (const d of s.dests) {
        const labels: BackendLabels = {
          local_address: local.local_address, local_port: local.local_port, remote_address: d.addr,
          remote_port: String(d.port), proto: local.proto, local_mark: local.local_mark,
        };
        const key = NODE_IPVS_BACKEND_LABELS.map((l) => labels[l]).join('-');
        const sum = sums.get(key) ?? { labels, active: 0, inact: 0, weight: 0 };
        sum.active += d.activeConns; sum.inact += d.inactConns; sum.weight += d.weight;
        sums.set(key, sum);
      }
    }
    // The kernel's tot_stats outlive deleted services; the sum over current ones is the fallback.
    if (totals) Object.assign(t, totals());
    conns.inc(t.conns); inPkts.inc(t.inpkts); outPkts.inc(t.outpkts); inBytes.inc(t.inbytes); outBytes.inc(t.outbytes);
    for (const b of sums.values()) {
      active.set(b.labels, b.active);
      inact.set(b.labels, b.inact);
      weight.set(b.labels, b.weight);
    }
  };
  // prom-client calls each metric's collect() in registration order before reading it: the first refreshes all eight.
  (conns as unknown as { collect: () => void }).collect = collect;
}
