// Listings of `lvsd --workers N`: every worker keeps its own connection
// table and counters, and lvsadm must see one IPVS. Services and dests come
// from the main thread's reference engine (the configuration, in its order);
// their counters, rates and conn counts are the sums over the workers. A
// conn lives on exactly one worker (the fanout program steers both of its
// directions there), so -Lnc is the concatenation.
import type { DestStatus, RatesSnapshot, ServiceKey, ServiceStatus, StatsSnapshot } from '../ipvs/types.js';

const STAT_KEYS = ['conns', 'inpkts', 'outpkts', 'inbytes', 'outbytes'] as const;
const RATE_KEYS = ['cps', 'inpps', 'outpps', 'inbps', 'outbps'] as const;

function keyOf(k: ServiceKey): string {
  return k.kind === 'fwmark' ? `f|${k.af ?? 4}|${k.fwmark}` : `a|${k.protocol}|${k.addr}|${k.port}`;
}

function addStats(into: StatsSnapshot, s: StatsSnapshot): void {
  for (const k of STAT_KEYS) into[k] += s[k];
}

/**
 * Rates add: each worker's estimator is the kernel's EWMA over its own
 * counters, and the EWMA is linear, so the sum is the estimate of the sum
 * (each term rounded as ipvsadm reads it: the total may differ by < 1 per worker).
 */
function addRates(into: RatesSnapshot, r: RatesSnapshot): void {
  for (const k of RATE_KEYS) into[k] += r[k];
}

const zeroStats = (): StatsSnapshot => ({ conns: 0, inpkts: 0, outpkts: 0, inbytes: 0, outbytes: 0 });
const zeroRates = (): RatesSnapshot => ({ cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 });

/**
 * `config`: the services as the reference engine lists them (specs, order);
 * `perWorker`: each worker's listing. Entries a worker lacks count zero;
 * entries only a worker has (it cannot: every op reaches every worker) are left out.
 */
export function mergeServices(config: readonly ServiceStatus[], perWorker: readonly (readonly ServiceStatus[])[]): ServiceStatus[] {
  const out: ServiceStatus[] = config.map((s) => ({
    ...s,
    stats: zeroStats(),
    rates: zeroRates(),
    dests: s.dests.map((d): DestStatus => ({ ...d, activeConns: 0, inactConns: 0, persistConns: 0, stats: zeroStats(), rates: zeroRates() })),
  }));
  const index = new Map<string, { svc: ServiceStatus; dests: Map<string, DestStatus> }>();
  for (const s of out) index.set(keyOf(s.key), { svc: s, dests: new Map(s.dests.map((d) => [`${d.addr}|${d.port}`, d])) });
  for (const list of perWorker) {
    for (const ws of list) {
      const m = index.get(keyOf(ws.key));
      if (!m) continue;
      addStats(m.svc.stats, ws.stats);
      addRates(m.svc.rates, ws.rates);
      for (const wd of ws.dests) {
        const d = m.dests.get(`${wd.addr}|${wd.port}`);
        if (!d) continue;
        d.activeConns += wd.activeConns;
        d.inactConns += wd.inactConns;
        d.persistConns += wd.persistConns;
        addStats(d.stats, wd.stats);
        addRates(d.rates, wd.rates);
      }
    }
  }
  return out;
}

export function sumStats(list: readonly StatsSnapshot[]): StatsSnapshot {
  const t = zeroStats();
  for (const s of list) addStats(t, s);
  return t;
}

/** Counters that are levels or sizes, not counts: merged by max or min instead of a sum. */
const MAX_KEYS = new Set(['conn_table_size', 'defense_level']);
const MIN_KEYS = new Set(['io_syn_shed_accept_permille']);

/** Per-name sums of the workers' counters (max/min for the few levels among them). */
export function sumCounters(list: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of list) {
    for (const [k, v] of Object.entries(c)) {
      const cur = out[k];
      if (cur === undefined) out[k] = v;
      else if (MAX_KEYS.has(k)) out[k] = Math.max(cur, v);
      else if (MIN_KEYS.has(k)) out[k] = Math.min(cur, v);
      else out[k] = cur + v;
    }
  }
  return out;
}

/** What each worker did, beside the sums: io_worker<i>_rx_frames etc. (a worker that gets no frames shows). */
export function perWorkerCounters(i: number, io: Record<string, number>, engine: Record<string, number>): Record<string, number> {
  let ringDrops = 0;
  for (const [k, v] of Object.entries(io)) if (/^ring_.*drops$/.test(k)) ringDrops += v;
  return {
    [`io_worker${i}_rx_frames`]: io.io_rx_frames ?? 0,
    [`io_worker${i}_tx_frames`]: io.io_tx_frames ?? 0,
    [`io_worker${i}_forwarded`]: io.io_forwarded ?? 0,
    [`io_worker${i}_ring_drops`]: ringDrops,
    [`io_worker${i}_conns`]: engine.conns ?? 0,
  };
}

/** Frames-per-batch histograms of the workers, added bucket by bucket (same bounds everywhere). */
export function sumBatches(list: readonly { bounds: number[]; counts: number[]; sum: number; count: number }[]):
  { bounds: number[]; counts: number[]; sum: number; count: number } {
  const first = list[0];
  if (!first) return { bounds: [], counts: [], sum: 0, count: 0 };
  const counts = first.counts.map(() => 0);
  let sum = 0, count = 0;
  for (const b of list) {
    b.counts.forEach((c, i) => { counts[i] = (counts[i] ?? 0) + c; });
    sum += b.sum;
    count += b.count;
  }
  return { bounds: first.bounds, counts, sum, count };
}
