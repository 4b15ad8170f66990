// The lvsd control protocol: newline-delimited JSON over a Unix socket.
// One request per line, one reply per line, matched by `id`. Every ipvsadm
// operation is one request; `replace` applies a whole ruleset atomically.
import type {
  ConnEntry, DestSpec, EngineInfo, Ruleset, ServiceKey, ServiceSpec, ServiceStatus,
  SyncDaemonConfig, Timeouts,
} from '../ipvs/types.js';
import type { ErrorCode } from '../ipvs/errors.js';

export const PROTOCOL_VERSION = 1;
export const DEFAULT_SOCKET = '/run/lvsd/lvsd.sock';

/** The socket path lvsd listens on / lvsadm connects to: flag > $LVSD_SOCKET > default. */
export function socketPath(flag?: string): string {
  return flag ?? process.env.LVSD_SOCKET ?? DEFAULT_SOCKET;
}

export interface Ops {
  'get-info': { args: Record<string, never>; result: EngineInfo };
  'add-service': { args: { service: ServiceSpec }; result: null };
  'edit-service': { args: { service: ServiceSpec }; result: null };
  'del-service': { args: { key: ServiceKey }; result: null };
  'add-dest': { args: { key: ServiceKey; dest: DestSpec }; result: null };
  'edit-dest': { args: { key: ServiceKey; dest: DestSpec }; result: null };
  'del-dest': { args: { key: ServiceKey; addr: string; port: number }; result: null };
  /** ipvsadm -C */
  'flush': { args: Record<string, never>; result: null };
  /** ipvsadm -Z [service] */
  'zero': { args: { key?: ServiceKey }; result: null };
  'set-timeouts': { args: { timeouts: Partial<Timeouts> }; result: null };
  'get-timeouts': { args: Record<string, never>; result: Timeouts };
  /** ipvsadm -L [service]: services with dests, stats and rates. */
  'list-services': { args: { key?: ServiceKey }; result: ServiceStatus[] };
  /** ipvsadm -Lc */
  'list-conns': { args: Record<string, never>; result: ConnEntry[] };
  /** Atomic replace of the whole ruleset (ipvsadm -R, keepalived start/reload). */
  'replace': { args: { ruleset: Ruleset }; result: null };
  'start-daemon': { args: { daemon: SyncDaemonConfig }; result: null };
  'stop-daemon': { args: { state: 'master' | 'backup' }; result: null };
  'list-daemons': { args: Record<string, never>; result: SyncDaemonConfig[] };
  /** Which real server a new flow from caddr:cport would get, and why, without creating state (lvsadm --trace). */
  'trace': {
    args: { key: ServiceKey; caddr: string; cport: number };
    result: { dest?: { addr: string; port: number; fwd?: string }; reason: string };
  };
  /** Engine counters: drops by reason, table size, batches. */
  'get-counters': { args: Record<string, never>; result: Record<string, number> };
}
export type OpName = keyof Ops;

/** Error codes and the error class are the engine's (ip_vs_ctl.c's errnos); the protocol carries them. */
export { ControlError, type ErrorCode } from '../ipvs/errors.js';

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

export type Reply<K extends OpName = OpName> =
  | { v: number; id: number; ok: true; result: Ops[K]['result'] }
  | { v: number; id: number; ok: false; error: ErrorBody };
