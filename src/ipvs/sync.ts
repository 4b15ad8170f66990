// The engine's half of connection sync (ip_vs_sync.c's decisions, none of
// its I/O): which conns the master hands to its daemon and when
// (ip_vs_sync_conn_needed), and how a conn is described on the wire. The
// daemon (src/sync/daemon.ts) batches and sends; on the backup it hands each
// received entry to IpvsCore.syncIn(), which creates or updates the entry.
import { A6_C, A6_D, A6_V, type ConnTable, CF_INACTIVE, CF_NOOUTPUT, CF_TEMPLATE, TICK_MS } from './conn.js';
import { FWD_MASQ, FWD_ROUTE, FWD_TUNNEL } from './dest.js';
import {
  TCP_S_CLOSE, TCP_S_CLOSE_WAIT, TCP_S_ESTABLISHED, TCP_S_FIN_WAIT, TCP_S_TIME_WAIT,
} from './proto-tcp.js';
import {
  IP_VS_CONN_F_DROUTE, IP_VS_CONN_F_INACTIVE, IP_VS_CONN_F_MASQ, IP_VS_CONN_F_NOOUTPUT, IP_VS_CONN_F_TEMPLATE,
  IP_VS_CONN_F_TUNNEL, type SyncAddrs6, type SyncConn,
} from '../sync/message.js';
import { writeIp6Words } from '../packet/ipv6.js';

export type { SyncAddrs6, SyncConn } from '../sync/message.js';

/** The net.ipv4.vs sync sysctls that decide when a conn is sent. */
export interface SyncParams {
  /** sync_threshold[0]: the packet count at which a conn is first synced (default 3). */
  threshold: number;
  /** sync_threshold[1]: then every `period` packets (default 50); 0: only at `threshold`. */
  period: number;
  /** sync_refresh_period, seconds (default 0): resync only when the deadline moved this much. */
  refreshPeriod: number;
  /** sync_retries (default 0, max 3): resends within a refresh period. */
  retries: number;
}

export const DEFAULT_SYNC_PARAMS: Readonly<SyncParams> = { threshold: 3, period: 50, refreshPeriod: 0, retries: 0 };

export function validateSyncParams(p: SyncParams): void {
  const int = (v: number, lo: number, hi: number) => Number.isInteger(v) && v >= lo && v <= hi;
  // ip_vs_ctl.c proc_do_sync_threshold: 0 <= threshold < period (or period 0).
  if (!int(p.threshold, 0, 0x7fffffff) || !int(p.period, 0, 0x7fffffff)) throw new RangeError('sync threshold/period must be integers >= 0');
  if (p.period !== 0 && p.threshold >= p.period) throw new RangeError('sync threshold must be below the sync period');
  if (!int(p.refreshPeriod, 0, 2147483)) throw new RangeError('sync refresh period must be an integer number of seconds');
  if (!int(p.retries, 0, 3)) throw new RangeError('sync retries must be 0..3');
}

/** TCP states in which IPVS syncs a conn (ip_vs_sync_conn_needed). */
const TCP_SYNC_STATES = (1 << TCP_S_ESTABLISHED) | (1 << TCP_S_FIN_WAIT) | (1 << TCP_S_CLOSE)
  | (1 << TCP_S_CLOSE_WAIT) | (1 << TCP_S_TIME_WAIT);

const TEN_S_TICKS = Math.ceil(10_000 / TICK_MS);

/**
 * ip_vs_sync_conn_needed(): should entry `i`, now at `pkts` client packets,
 * be sent? `timeoutTicks` is its current timeout (cp->timeout). Records the
 * synced state and the sync deadline when it says yes.
 */
export function syncNeeded(t: ConnTable, i: number, pkts: number, nowTick: number, timeoutTicks: number, p: SyncParams): boolean {
  const tpl = t.isTemplate(i);
  const orig = t.syncEnd(i);
  let n = ((nowTick + timeoutTicks) & ~3) >>> 0;
  let force = false;
  const state = t.state(i);
  check: {
    if (!tpl && t.proto(i) === 6) {
      if (((1 << state) & TCP_SYNC_STATES) === 0) return false;
      force = state !== t.syncOldState(i);
      if (force && state !== TCP_S_ESTABLISHED) break check;
    }
    const refresh = Math.ceil((p.refreshPeriod * 1000) / TICK_MS);
    if (refresh > 0) {
      const diff = n - orig;
      const minDiff = Math.max(timeoutTicks >>> 1, TEN_S_TICKS);
      // Skip when the deadline moved less than the refresh period (and half the timeout), up to `retries` resends.
      if (Math.abs(diff) < Math.min(refresh, minDiff)) {
        const retries = orig & 3;
        if (retries >= p.retries) return false;
        if (nowTick < orig - timeoutTicks + (refresh >>> 3)) return false;
        n = (n | (retries + 1)) >>> 0;
      }
    }
    if (p.period > 0) {
      if (!tpl && pkts % p.period !== p.threshold) return false;
    } else if (refresh === 0 && pkts !== p.threshold) {
      return false;
    }
  }
  t.setSyncOldState(i, state);
  if (p.refreshPeriod > 0) t.setSyncEnd(i, n);
  return true;
}

/** lvsd's conn flags → IP_VS_CONN_F_* as ip_vs_sync_conn() sends them (HASHED never). */
export function wireFlags(t: ConnTable, i: number): number {
  const f = t.flags(i);
  const fwd = t.fwd(i);
  let w = fwd === FWD_ROUTE ? IP_VS_CONN_F_DROUTE : fwd === FWD_TUNNEL ? IP_VS_CONN_F_TUNNEL : IP_VS_CONN_F_MASQ;
  if (f & CF_TEMPLATE) {
    // A kernel template carries its dest's conn_flags: INACTIVE always, NOOUTPUT unless NAT.
    w |= IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_INACTIVE;
    if (fwd !== FWD_MASQ) w |= IP_VS_CONN_F_NOOUTPUT;
  } else {
    if (f & CF_INACTIVE) w |= IP_VS_CONN_F_INACTIVE;
    if (f & CF_NOOUTPUT) w |= IP_VS_CONN_F_NOOUTPUT;
  }
  return w;
}

/**
 * Fills `out` with entry `i` as the wire describes it: an IPv4 entry, or for
 * an IPv6 conn an ip_vs_sync_v6 one whose addresses are written into `a6`
 * (a reused scratch: the sink encodes at once).
 */
export function describeConn(t: ConnTable, i: number, timeoutSec: number, fwmark: number, out: SyncConn, a6: SyncAddrs6): SyncConn {
  out.protocol = t.proto(i);
  out.flags = wireFlags(t, i);
  out.state = t.state(i);
  out.cport = t.cport(i);
  out.vport = t.vport(i);
  out.dport = t.dport(i);
  out.fwmark = fwmark;
  out.timeout = timeoutSec;
  if (t.isV6(i)) {
    // The record holds digests where an IPv4 one holds addresses; the wire wants the addresses.
    writeIp6Words(a6.caddr, 0, t.a6, t.a6At(i, A6_C));
    writeIp6Words(a6.vaddr, 0, t.a6, t.a6At(i, A6_V));
    writeIp6Words(a6.daddr, 0, t.a6, t.a6At(i, A6_D));
    out.caddr = 0;
    out.vaddr = 0;
    out.daddr = 0;
    out.v6 = a6;
  } else {
    out.caddr = t.caddr(i);
    out.vaddr = t.vaddr(i);
    out.daddr = t.daddr(i);
    out.v6 = undefined;
  }
  return out;
}

/** What the backup did with one received entry. */
export const SYNC_IN_RESULTS = [
  'created', 'updated', 'ignored_replaced', 'bad_protocol', 'bad_state', 'no_service', 'no_dest', 'table_full', 'key_clash',
] as const;
export type SyncInResult = typeof SYNC_IN_RESULTS[number];
