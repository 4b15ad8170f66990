// IPVS's TCP connection tracking (ip_vs_proto_tcp.c): the state numbers,
// names and default timeouts, and the tcp_states[] / tcp_states_dos[]
// transition tables with their INPUT, OUTPUT and INPUT-ONLY parts.
// INPUT-ONLY serves DR and TUN, whose replies never cross the director.

export const TCP_S_NONE = 0;
export const TCP_S_ESTABLISHED = 1;
export const TCP_S_SYN_SENT = 2;
export const TCP_S_SYN_RECV = 3;
export const TCP_S_FIN_WAIT = 4;
export const TCP_S_TIME_WAIT = 5;
export const TCP_S_CLOSE = 6;
export const TCP_S_CLOSE_WAIT = 7;
export const TCP_S_LAST_ACK = 8;
export const TCP_S_LISTEN = 9;
export const TCP_S_SYNACK = 10;
export const TCP_S_LAST = 11;

export const TCP_STATE_NAMES: readonly string[] = [
  'NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT',
  'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK',
];

/** tcp_timeouts[] in seconds. */
export const TCP_DEFAULT_TIMEOUTS: readonly number[] = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];

/** Row offsets into the table (TCP_DIR_* in the kernel). */
export const TCP_DIR_INPUT = 0;
export const TCP_DIR_OUTPUT = 4;
export const TCP_DIR_INPUT_ONLY = 8;

const sNO = TCP_S_NONE, sES = TCP_S_ESTABLISHED, sSS = TCP_S_SYN_SENT, sSR = TCP_S_SYN_RECV;
const sFW = TCP_S_FIN_WAIT, sTW = TCP_S_TIME_WAIT, sCL = TCP_S_CLOSE, sCW = TCP_S_CLOSE_WAIT;
const sLA = TCP_S_LAST_ACK, sLI = TCP_S_LISTEN, sSA = TCP_S_SYNACK;
void sNO;

// Rows: syn, fin, ack, rst for INPUT, OUTPUT, INPUT-ONLY; columns: current state.
const NORMAL: number[][] = [
  /* INPUT */
  /*syn*/ [sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR],
  /*fin*/ [sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW],
  /*ack*/ [sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES],
  /*rst*/ [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR],
  /* OUTPUT */
  /*syn*/ [sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR],
  /*fin*/ [sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW],
  /*ack*/ [sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES],
  /*rst*/ [sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL],
  /* INPUT-ONLY */
  /*syn*/ [sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR],
  /*fin*/ [sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW],
  /*ack*/ [sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES],
  /*rst*/ [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL],
];

/** secure_tcp's table: a SYN alone never makes a conn look established. */
const DOS: number[][] = [
  /* INPUT */
  /*syn*/ [sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSA],
  /*fin*/ [sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sSA],
  /*ack*/ [sCL, sES, sSS, sSR, sFW, sTW, sCL, sCW, sCL, sLI, sSA],
  /*rst*/ [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL],
  /* OUTPUT */
  /*syn*/ [sSS, sES, sSS, sSA, sSS, sSS, sSS, sSS, sSS, sLI, sSA],
  /*fin*/ [sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW],
  /*ack*/ [sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES],
  /*rst*/ [sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL],
  /* INPUT-ONLY */
  /*syn*/ [sSA, sES, sES, sSR, sSA, sSA, sSA, sSA, sSA, sSA, sSA],
  /*fin*/ [sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW],
  /*ack*/ [sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES],
  /*rst*/ [sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL],
];

function flatten(t: number[][]): Uint8Array {
  const out = new Uint8Array(12 * 16);
  for (let r = 0; r < 12; r++) for (let s = 0; s < TCP_S_LAST; s++) out[r * 16 + s] = t[r]![s]!;
  return out;
}

/** Flattened [row * 16 + state] for a branch-free lookup on the hot path. */
export const TCP_STATES: Uint8Array = flatten(NORMAL);
export const TCP_STATES_DOS: Uint8Array = flatten(DOS);

/**
 * tcp_state_idx(): RST wins over SYN over FIN over ACK; -1 when no flag the
 * table knows is set (the kernel then moves the conn to CLOSE).
 */
export function tcpStateIdx(flags: number): number {
  if (flags & 0x04) return 3;
  if (flags & 0x02) return 0;
  if (flags & 0x01) return 1;
  if (flags & 0x10) return 2;
  return -1;
}

/** set_tcp_state()'s choice of next state; `dirOff` is TCP_DIR_*. */
export function tcpNextState(table: Uint8Array, dirOff: number, flags: number, state: number): number {
  const idx = tcpStateIdx(flags);
  if (idx < 0) return TCP_S_CLOSE;
  return table[(dirOff + idx) * 16 + state]!;
}
