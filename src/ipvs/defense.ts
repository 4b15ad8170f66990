// What the director does when the connection table fills, after the
// kernel's ip_vs_ctl.c defense modes (drop_entry, secure_tcp, amemthresh),
// restated for a table of fixed capacity instead of free memory:
//
// - at `threshold` × capacity the defense turns on: new TCP conns are
//   tracked with secure_tcp's table (tcp_states_dos: a lone SYN never looks
//   established) and embryonic states (SYN_RECV, SYNACK) time out after
//   `embryonicTimeout` seconds instead of 60/120, so a SYN flood drains fast;
// - at capacity a new conn may take the slot of an evictable entry: the
//   first found in expiry order (the oldest of a kind) among `evictScan`
//   entries, like drop_entry's random sweep but never an ESTABLISHED conn,
//   a UDP flow or a persistence template. Nothing evictable: the new packet
//   is dropped (drop_conn_table_full). Live flows are never evicted.
import {
  TCP_S_CLOSE, TCP_S_LAST_ACK, TCP_S_NONE, TCP_S_SYNACK, TCP_S_SYN_RECV, TCP_S_SYN_SENT, TCP_S_TIME_WAIT,
} from './proto-tcp.js';

export interface DefenseOptions {
  /** Fraction of maxConns at which the defense turns on. */
  threshold: number;
  /** Seconds an embryonic TCP conn lives while the defense is on. */
  embryonicTimeout: number;
  /** Entries examined to find one to evict when the table is full. */
  evictScan: number;
}

export const DEFAULT_DEFENSE: DefenseOptions = { threshold: 0.75, embryonicTimeout: 5, evictScan: 256 };

export const DEFENSE_OFF = 0, DEFENSE_ON = 1, DEFENSE_FULL = 2;

const EVICTABLE = new Uint8Array(16);
for (const s of [TCP_S_NONE, TCP_S_SYN_SENT, TCP_S_SYN_RECV, TCP_S_SYNACK, TCP_S_TIME_WAIT, TCP_S_CLOSE, TCP_S_LAST_ACK]) EVICTABLE[s] = 1;

/** TCP states whose conn carries no data flow worth keeping under pressure. */
export function isEvictableTcpState(state: number): boolean {
  return EVICTABLE[state] === 1;
}

export function validateDefense(o: DefenseOptions): void {
  if (!(o.threshold > 0 && o.threshold <= 1)) throw new RangeError('defense.threshold must be in (0, 1]');
  if (!(o.embryonicTimeout >= 1)) throw new RangeError('defense.embryonicTimeout must be >= 1 s');
  if (!(Number.isInteger(o.evictScan) && o.evictScan >= 1)) throw new RangeError('defense.evictScan must be a positive integer');
}
