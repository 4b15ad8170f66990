// Prometheus metrics of lvs-keepalived (--metrics HOST:PORT): checker
// verdicts and probe outcomes, what each real server holds in lvsd, quorum,
// reloads, lvsd applies, and VRRP's own gauges when VRRP runs.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { MetricsServer } from '../metrics/server.js';

export class KeepalivedMetrics {
  readonly registry = new Registry();
  readonly checkerUp: Gauge;
  readonly checkerResults: Counter;
  readonly checkerTransitions: Counter;
  readonly rsWeight: Gauge;
  readonly vsQuorum: Gauge;
  readonly reloads: Counter;
  readonly applies: Counter;
  private readonly server = new MetricsServer(this.registry, 'lvs-keepalived');

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'lvs_keepalived_' });
    this.checkerUp = new Gauge({ name: 'lvs_keepalived_checker_up', help: 'Checker verdict: 1 up, 0 down', labelNames: ['virtual_server', 'real_server', 'checker'], registers });
    this.checkerResults = new Counter({ name: 'lvs_keepalived_checker_probes_total', help: 'Checker probes by outcome (retries included)', labelNames: ['virtual_server', 'real_server', 'checker', 'result'], registers });
    this.checkerTransitions = new Counter({ name: 'lvs_keepalived_checker_transitions_total', help: 'Checker state changes', labelNames: ['virtual_server', 'real_server', 'checker', 'to'], registers });
    this.rsWeight = new Gauge({ name: 'lvs_keepalived_real_server_weight', help: 'Weight of the real server in lvsd; -1 when it is out of the service', labelNames: ['virtual_server', 'real_server'], registers });
    this.vsQuorum = new Gauge({ name: 'lvs_keepalived_virtual_server_quorum', help: '1 while the virtual server has quorum', labelNames: ['virtual_server'], registers });
    this.reloads = new Counter({ name: 'lvs_keepalived_reloads_total', help: 'Configuration reloads (SIGHUP) by outcome', labelNames: ['result'], registers });
    this.applies = new Counter({ name: 'lvs_keepalived_lvsd_applies_total', help: 'Changes sent to lvsd by kind and outcome', labelNames: ['kind', 'result'], registers });
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return this.server.listen(host, port);
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
