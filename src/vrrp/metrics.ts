// lvs-keepalived's VRRP series for Prometheus, read from the runtime's metrics() on each scrape.
import type { VrrpMetrics } from './scheduler.js';

/**
 * The metrics as prom-client gauges on `registry` (collected on scrape):
 * lvs_keepalived_vrrp_state{instance}, _transitions_total, _priority,
 * _adverts_sent_total, _adverts_received_total, _bad_packets_total{reason}.
 */
export async function registerVrrpMetrics(handle: { metrics(): VrrpMetrics }, registry: import('prom-client').Registry): Promise<void> {
  const prom = await import('prom-client');
  const g = (name: string, help: string, labelNames: string[], fill: (gauge: import('prom-client').Gauge, m: VrrpMetrics) => void) =>
    new prom.Gauge({ name, help, labelNames, registers: [registry], collect() { this.reset(); fill(this, handle.metrics()); } });
  g('lvs_keepalived_vrrp_state', 'VRRP state: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT', ['instance'], (x, m) => { for (const i of m.instances) x.set({ instance: i.name }, i.stateCode); });
  g('lvs_keepalived_vrrp_transitions_total', 'State transitions since start', ['instance'], (x, m) => { for (const i of m.instances) x.set({ instance: i.name }, i.transitions); });
  g('lvs_keepalived_vrrp_priority', 'Effective priority', ['instance'], (x, m) => { for (const i of m.instances) x.set({ instance: i.name }, i.effectivePriority); });
  g('lvs_keepalived_vrrp_adverts_sent_total', 'Adverts sent', ['instance'], (x, m) => { for (const i of m.instances) x.set({ instance: i.name }, i.advertsSent); });
  g('lvs_keepalived_vrrp_adverts_received_total', 'Valid adverts received', ['instance'], (x, m) => { for (const i of m.instances) x.set({ instance: i.name }, i.advertsReceived); });
  g('lvs_keepalived_vrrp_bad_packets_total', 'Ignored VRRP packets by reason', ['instance', 'reason'], (x, m) => {
    for (const i of m.instances) for (const [r, n] of Object.entries(i.badPackets)) x.set({ instance: i.name, reason: r }, n);
    for (const [r, n] of Object.entries(m.unattributed)) x.set({ instance: '', reason: r }, n);
  });
}
