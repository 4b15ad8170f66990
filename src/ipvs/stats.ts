// Per-service and per-dest counters as struct ip_vs_stats keeps them:
// conns, and packets/bytes "in" (client → real server) and "out" (real
// server → client, seen only for NAT). Bytes are IP packet lengths, what
// skb->len holds at the netfilter hooks IPVS runs on.
import { Estimator, S_CONNS, S_INBYTES, S_INPKTS, S_OUTBYTES, S_OUTPKTS } from './est.js';
import type { RatesSnapshot, StatsSnapshot } from './types.js';

export class Stats {
  /** conns, inpkts, outpkts, inbytes, outbytes (est.ts S_* indexes). */
  readonly c = new Float64Array(5);
  readonly est = new Estimator();

  snapshot(): StatsSnapshot {
    const c = this.c;
    return { conns: c[S_CONNS]!, inpkts: c[S_INPKTS]!, outpkts: c[S_OUTPKTS]!, inbytes: c[S_INBYTES]!, outbytes: c[S_OUTBYTES]! };
  }

  rates(): RatesSnapshot {
    return this.est.read();
  }

  zero(): void {
    this.c.fill(0);
    this.est.zero(this.c);
  }
}
