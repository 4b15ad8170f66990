// ipvsadm 1.31's command line (parse_options + process_options), reproduced
// check for check so the same command lines are accepted and refused with
// the same messages and exit codes: option errors exit 2 via fail(), popt
// errors exit 255, an unknown first option prints the "Try ..." hint.
import type { FwdMethod, Protocol, Timeouts } from '../ipvs/types.js';
import { Popt, poptStrerror, type PoptOption } from './popt.js';
import type { Resolver } from './names.js';

/** A user-visible termination: what to print and the exit status. */
export class LvsadmExit extends Error {
  constructor(readonly code: number, readonly stderr: string, readonly stdout = '') {
    super(stderr.trimEnd() || `exit ${code}`);
    this.name = 'LvsadmExit';
  }
}

/** ipvsadm's fail(): message plus newline on stderr. */
export function fail(code: number, msg: string): never {
  throw new LvsadmExit(code, `${msg}\n`);
}

export const PROGRAM = 'lvsadm';

export function tryhelpText(program: string): string {
  return `Try \`${program} -h' or '${program} --help' for more information.\n`;
}

// Command indexes follow ipvsadm's CMD_* order (cmdnames[] / the table rows).
export const CMD = {
  ADD: 0, EDIT: 1, DEL: 2, FLUSH: 3, LIST: 4, ADDDEST: 5, DELDEST: 6, EDITDEST: 7,
  TIMEOUT: 8, STARTDAEMON: 9, STOPDAEMON: 10, RESTORE: 11, SAVE: 12, ZERO: 13,
  /** lvsadm extension: --trace. */
  TRACE: 14,
} as const;
export type CmdIndex = (typeof CMD)[keyof typeof CMD];

const CMDNAMES = [
  'add-service', 'edit-service', 'delete-service', 'flush', 'list', 'add-server', 'delete-server',
  'edit-server', 'set', 'start-daemon', 'stop-daemon', 'restore', 'save', 'zero', 'trace',
];

export const OPTC = {
  NUMERIC: 0, CONNECTION: 1, SERVICE: 2, SCHEDULER: 3, PERSISTENT: 4, NETMASK: 5, SERVER: 6,
  FORWARD: 7, WEIGHT: 8, UTHRESHOLD: 9, LTHRESHOLD: 10, MCAST: 11, TIMEOUT: 12, DAEMON: 13,
  STATS: 14, RATE: 15, THRESHOLDS: 16, PERSISTENTCONN: 17, NOSORT: 18, SYNCID: 19, EXACT: 20,
  ONEPACKET: 21, PERSISTENCE_ENGINE: 22, SCHED_FLAGS: 23, MCAST_GROUP: 24, MCAST_PORT: 25,
  MCAST_TTL: 26, SYNC_MAXLEN: 27, TUN_INFO: 28, TUN_TYPE: 29, TUN_PORT: 30, TUN_NOCSUM: 31,
  TUN_CSUM: 32, TUN_REMCSUM: 33,
  /** lvsadm extension: --client for --trace. */
  CLIENT: 34,
} as const;

const OPTNAMES = [
  'numeric', 'connection', 'service-address', 'scheduler', 'persistent', 'netmask', 'real-server',
  'forwarding-method', 'weight', 'u-threshold', 'l-threshold', 'mcast-interface', 'timeout',
  'daemon', 'stats', 'rate', 'thresholds', 'persistent-conn', 'nosort', 'syncid', 'exact', 'ops',
  'pe', 'sched-flags', 'mcast-group', 'mcast-port', 'mcast-ttl', 'sync-maxlen', 'tun-info',
  'tun-type', 'tun-port', 'tun-nocsum', 'tun-csum', 'tun-remcsum', 'client',
];

// commands_v_options from ipvsadm.c, one string per command, one column per
// option above ('+' compulsory, 'x' illegal, '1' mutually exclusive, ' '
// optional); the last column is lvsadm's --client.
const COMMANDS_V_OPTIONS = [
  /* ADD     */ 'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxxx',
  /* EDIT    */ 'xx+   xxxxxxxxxxxxxxx   xxxxxxxxxxx',
  /* DEL     */ 'xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* FLUSH   */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* LIST    */ ' 11xxxxxxxxx11       xxxxxxx xxxxxx',
  /* ADDSRV  */ 'xx+xxx+    xxxxxxxxxxxxxxxxxx     x',
  /* DELSRV  */ 'xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* EDITSRV */ 'xx+xxx+    xxxxxxxxxxxxxxxxxx     x',
  /* TIMEOUT */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* STARTD  */ 'xxxxxxxxxxx xxxxxxx xxxx    xxxxxxx',
  /* STOPD   */ 'xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxxx',
  /* RESTORE */ 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* SAVE    */ ' xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* ZERO    */ 'xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
  /* TRACE   */ ' x+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx+',
];

const TUNNAMES = ['ipip', 'gue', 'gre'] as const;
const TUNOPTS = [OPTC.TUN_PORT, OPTC.TUN_NOCSUM, OPTC.TUN_CSUM, OPTC.TUN_REMCSUM];
// tunnel_types_v_options: rows ipip, gue, gre; columns tun-port, nocsum, csum, remcsum.
const TUNNEL_TYPES_V_OPTIONS = ['xxxx', '+111', 'x11x'];

/** Listing format flags (FMT_* in ipvsadm.c). */
export const FMT = {
  NONE: 0, NUMERIC: 0x1, RULE: 0x2, STATS: 0x4, RATE: 0x8, THRESHOLDS: 0x10,
  PERSISTENTCONN: 0x20, NOSORT: 0x40, EXACT: 0x80, TUN_INFO: 0x100,
} as const;

/** Service flag bits as the kernel keeps them (IP_VS_SVC_F_SCHED1..3). */
export const SVC_F_SCHED1 = 0x8;
export const SVC_F_SCHED2 = 0x10;
export const SVC_F_SCHED3 = 0x20;

export const DEF_SCHED = 'wlc';
export const DEF_MCAST_IFN = 'eth0';
export const MAX_TIMEOUT = 86400 * 31;
export const IPVS_SVC_PERSISTENT_TIMEOUT = 6 * 60;
const INT_MAX = 2147483647;

export interface SvcEntry {
  fwmark: number;
  af: 4 | 6;
  /** 'ip' until a -t/-u/--sctp-service/-f is seen (ipvsadm's zeroed protocol). */
  protocol: Protocol | 'ip';
  addr: string;
  port: number;
  sched: string;
  persistent: boolean;
  timeout: number;
  netmask: string;
  ops: boolean;
  pe: string;
  /** SCHED1..3 bits; the names depend on the scheduler (print_sched_flags). */
  schedBits: number;
}

export interface DestEntry {
  af: 4 | 6;
  addr: string;
  port: number;
  fwd: FwdMethod;
  weight: number;
  uThreshold: number;
  lThreshold: number;
  tunType: 0 | 1 | 2;
  tunPort: number;
  /** 0 nocsum, 1 csum, 2 remcsum (IP_VS_TUNNEL_ENCAP_FLAG_*). */
  tunFlags: number;
}

export interface DaemonEntry {
  state: 'master' | 'backup' | null;
  mcastIfn: string;
  syncid: number;
  maxlen: number;
  group: string | null;
  port: number;
  ttl: number;
}

/** The parsed command line: ipvsadm's struct ipvs_command_entry plus options. */
export interface CommandEntry {
  cmd: CmdIndex;
  options: Set<number>;
  format: number;
  svc: SvcEntry;
  dest: DestEntry;
  timeouts: Timeouts;
  daemon: DaemonEntry;
  /** lvsadm extensions. */
  socket?: string;
  json: boolean;
  client?: { addr: string; port: number };
}

export type ParseOutcome =
  | { kind: 'command'; entry: CommandEntry }
  /** No command at all (bare `lvsadm`, possibly with global options): list everything. */
  | { kind: 'default'; socket?: string; json: boolean }
  | { kind: 'help' }
  | { kind: 'version' };

// Tags for options without a short letter (ipvsadm's TAG_* values).
const T = {
  SET: 'set', START_DAEMON: 'start-daemon', STOP_DAEMON: 'stop-daemon', MCAST_INTERFACE: 'mcast-interface',
  TIMEOUT: 'timeout', DAEMON: 'daemon', STATS: 'stats', RATE: 'rate', THRESHOLDS: 'thresholds',
  PERSISTENTCONN: 'persistent-conn', SORT: 'sort', NO_SORT: 'nosort', PE: 'pe', SCTP: 'sctp-service',
  MCAST_GROUP: 'mcast-group', MCAST_PORT: 'mcast-port', MCAST_TTL: 'mcast-ttl', SYNC_MAXLEN: 'sync-maxlen',
  TUN_INFO: 'tun-info', TUN_TYPE: 'tun-type', TUN_PORT: 'tun-port', TUN_NOCSUM: 'tun-nocsum',
  TUN_CSUM: 'tun-csum', TUN_REMCSUM: 'tun-remcsum',
  // lvsadm extensions
  SOCKET: 'socket', JSON: 'json', TRACE: 'trace', CLIENT: 'client',
} as const;

const OPTIONS_TABLE: PoptOption[] = [
  { long: 'add-service', short: 'A', arg: 'none', val: 'A' },
  { long: 'edit-service', short: 'E', arg: 'none', val: 'E' },
  { long: 'delete-service', short: 'D', arg: 'none', val: 'D' },
  { long: 'clear', short: 'C', arg: 'none', val: 'C' },
  { long: 'list', short: 'L', arg: 'none', val: 'L' },
  { long: 'list', short: 'l', arg: 'none', val: 'l' },
  { long: 'zero', short: 'Z', arg: 'none', val: 'Z' },
  { long: 'add-server', short: 'a', arg: 'none', val: 'a' },
  { long: 'edit-server', short: 'e', arg: 'none', val: 'e' },
  { long: 'delete-server', short: 'd', arg: 'none', val: 'd' },
  { long: 'set', arg: 'none', val: T.SET },
  { long: 'help', short: 'h', arg: 'none', val: 'h' },
  { long: 'version', short: 'v', arg: 'none', val: 'v' },
  { long: 'restore', short: 'R', arg: 'none', val: 'R' },
  { long: 'save', short: 'S', arg: 'none', val: 'S' },
  { long: 'start-daemon', arg: 'string', val: T.START_DAEMON },
  { long: 'stop-daemon', arg: 'string', val: T.STOP_DAEMON },
  { long: 'tcp-service', short: 't', arg: 'string', val: 't' },
  { long: 'udp-service', short: 'u', arg: 'string', val: 'u' },
  { long: 'sctp-service', arg: 'string', val: T.SCTP },
  { long: 'fwmark-service', short: 'f', arg: 'string', val: 'f' },
  { long: 'scheduler', short: 's', arg: 'string', val: 's' },
  { long: 'persistent', short: 'p', arg: 'optional', val: 'p' },
  { long: 'netmask', short: 'M', arg: 'string', val: 'M' },
  { long: 'real-server', short: 'r', arg: 'string', val: 'r' },
  { long: 'masquerading', short: 'm', arg: 'none', val: 'm' },
  { long: 'ipip', short: 'i', arg: 'none', val: 'i' },
  { long: 'gatewaying', short: 'g', arg: 'none', val: 'g' },
  { long: 'weight', short: 'w', arg: 'string', val: 'w' },
  { long: 'u-threshold', short: 'x', arg: 'string', val: 'x' },
  { long: 'l-threshold', short: 'y', arg: 'string', val: 'y' },
  { long: 'numeric', short: 'n', arg: 'none', val: 'n' },
  { long: 'connection', short: 'c', arg: 'none', val: 'c' },
  { long: 'mcast-interface', arg: 'string', val: T.MCAST_INTERFACE },
  { long: 'syncid', arg: 'string', val: 'I' },
  { long: 'timeout', arg: 'none', val: T.TIMEOUT },
  { long: 'daemon', arg: 'none', val: T.DAEMON },
  { long: 'stats', arg: 'none', val: T.STATS },
  { long: 'rate', arg: 'none', val: T.RATE },
  { long: 'thresholds', arg: 'none', val: T.THRESHOLDS },
  { long: 'persistent-conn', arg: 'none', val: T.PERSISTENTCONN },
  { long: 'nosort', arg: 'none', val: T.NO_SORT },
  { long: 'sort', arg: 'none', val: T.SORT },
  { long: 'exact', short: 'X', arg: 'none', val: 'X' },
  { long: 'ipv6', short: '6', arg: 'none', val: '6' },
  { long: 'ops', short: 'o', arg: 'none', val: 'o' },
  { long: 'pe', arg: 'string', val: T.PE },
  { long: 'sched-flags', short: 'b', arg: 'string', val: 'b' },
  { long: 'mcast-group', arg: 'string', val: T.MCAST_GROUP },
  { long: 'mcast-port', arg: 'string', val: T.MCAST_PORT },
  { long: 'mcast-ttl', arg: 'string', val: T.MCAST_TTL },
  { long: 'sync-maxlen', arg: 'string', val: T.SYNC_MAXLEN },
  { long: 'tun-info', arg: 'none', val: T.TUN_INFO },
  { long: 'tun-type', arg: 'string', val: T.TUN_TYPE },
  { long: 'tun-port', arg: 'string', val: T.TUN_PORT },
  { long: 'tun-nocsum', arg: 'none', val: T.TUN_NOCSUM },
  { long: 'tun-csum', arg: 'none', val: T.TUN_CSUM },
  { long: 'tun-remcsum', arg: 'none', val: T.TUN_REMCSUM },
  { long: 'socket', arg: 'string', val: T.SOCKET },
  { long: 'json', arg: 'none', val: T.JSON },
  { long: 'trace', arg: 'none', val: T.TRACE },
  { long: 'client', arg: 'string', val: T.CLIENT },
];

// ---------------------------------------------------------------- C helpers

/** strtol(s, &end, 10) accepting the whole string (leading space, sign). */
export function strtolWhole(s: string): number | null {
  if (!/^[ \t\n\v\f\r]*[+-]?[0-9]+$/.test(s)) return null;
  const n = Number(s.trim());
  // strtol saturates with ERANGE beyond a 64-bit long; callers reject that.
  if (!Number.isFinite(n) || Math.abs(n) > 9223372036854775807) return null;
  return n;
}

/** string_to_number: an integer in [min, max], else -1. */
export function stringToNumber(s: string, min: number, max: number): number {
  const n = strtolWhole(s);
  if (n === null || n < min || n > max) return -1;
  return n;
}

/** inet_aton: 1-4 parts in C number syntax (0x hex, 0 octal), last part fills the rest. */
export function inetAton(s: string): string | null {
  const parts = s.split('.');
  if (parts.length < 1 || parts.length > 4) return null;
  const nums: number[] = [];
  for (const p of parts) {
    let n: number;
    if (/^0[xX][0-9a-fA-F]+$/.test(p)) n = parseInt(p.slice(2), 16);
    else if (/^0[0-7]*$/.test(p)) n = parseInt(p, 8);
    else if (/^[1-9][0-9]*$/.test(p)) n = parseInt(p, 10);
    else return null;
    if (!Number.isFinite(n) || n > 0xffffffff) return null;
    nums.push(n);
  }
  let v: number;
  const last = nums[nums.length - 1]!;
  const head = nums.slice(0, -1);
  if (head.some((x) => x > 255)) return null;
  const restBytes = 4 - head.length;
  if (last >= 2 ** (8 * restBytes)) return null;
  v = 0;
  for (const h of head) v = v * 256 + h;
  v = v * 2 ** (8 * restBytes) + last;
  return `${Math.floor(v / 2 ** 24) & 255}.${Math.floor(v / 2 ** 16) & 255}.${Math.floor(v / 2 ** 8) & 255}.${v & 255}`;
}

/** inet_pton(AF_INET6): enough of RFC 4291 text form to tell IPv6 from a host:port. */
export function isIpv6(s: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return false;
  let body = s;
  let groupsFromV4 = 0;
  const lastColon = body.lastIndexOf(':');
  const tail = body.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(tail) || tail.split('.').some((x) => Number(x) > 255)) return false;
    body = body.slice(0, lastColon + 1) + '0:0';
    groupsFromV4 = 0;
  }
  const dbl = body.split('::');
  if (dbl.length > 2) return false;
  const groups = (x: string): string[] | null => {
    if (x === '') return [];
    const g = x.split(':');
    return g.every((h) => /^[0-9a-fA-F]{1,4}$/.test(h)) ? g : null;
  };
  const a = groups(dbl[0]!);
  const b = dbl.length === 2 ? groups(dbl[1]!) : [];
  if (!a || !b) return false;
  const n = a.length + b.length + groupsFromV4;
  return dbl.length === 2 ? n <= 7 : n === 8;
}

// ---------------------------------------------------------------- parsers

const SERVICE_NONE = 0;
const SERVICE_ADDR = 1;
const SERVICE_PORT = 2;

interface ParsedAddr { result: number; af: 4 | 6; addr: string; port: number }

/** parse_service: host[:port] or [v6]:port; result bits SERVICE_ADDR|SERVICE_PORT. */
export async function parseService(
  buf: string, protocol: Protocol | 'ip', resolver: Resolver, prev: { af: 4 | 6; addr: string; port: number },
): Promise<ParsedAddr> {
  const none: ParsedAddr = { result: SERVICE_NONE, ...prev };
  if (/^[0-9]*$/.test(buf)) return none;
  let host = buf;
  let portStr: string | null = null;
  if (host.startsWith('[')) {
    const close = host.indexOf(']', 1);
    if (close < 0) return none;
    if (host[close + 1] !== ':') return none;
    portStr = host.slice(close + 2);
    host = host.slice(1, close);
  }
  let af: 4 | 6;
  let addr: string;
  if (isIpv6(host)) {
    af = 6;
    addr = host;
  } else {
    // An IPv4 address inside brackets loses its port, as in ipvsadm.
    if (buf.startsWith('[')) {
      portStr = null;
    } else {
      const c = host.lastIndexOf(':');
      if (c >= 0) { portStr = host.slice(c + 1); host = host.slice(0, c); }
    }
    const a = inetAton(host) ?? await resolver.hostToAddr(host);
    if (a === null) return none;
    af = 4;
    addr = a;
  }
  let result = SERVICE_ADDR;
  let port = prev.port;
  if (portStr !== null) {
    result |= SERVICE_PORT;
    const n = stringToNumber(portStr, 0, 65535);
    if (n !== -1) port = n;
    else {
      const p = resolver.serviceToPort(portStr, protocol);
      if (p === null) return none;
      port = p;
    }
  }
  return { result, af, addr, port };
}

/**
 * parse_fwmark: 1..UINT_MAX. In -R input lvsadm also takes the negative
 * numbers that ipvsadm 1.31's own `-S` prints (`-f %d`) for marks of 2^31
 * and above, so that a saved ruleset always restores.
 */
export function parseFwmark(buf: string, acceptSigned = false): number {
  const l = strtolWhole(buf);
  if (acceptSigned && l !== null && l >= -2147483648 && l < 0) return l + 4294967296;
  if (l === null || l <= 0 || l > 4294967295) fail(2, `invalid fwmark value \`${buf}' specified`);
  return l;
}

export function parseTimeout(buf: string | null, min: number, max: number): number {
  if (buf === null) return IPVS_SVC_PERSISTENT_TIMEOUT;
  const i = stringToNumber(buf, min, max);
  if (i === -1) fail(2, `invalid timeout value \`${buf}' specified`);
  return i;
}

export function parseSchedFlags(sched: string, arg: string): number {
  const s = sched !== '' ? sched : DEF_SCHED;
  let flags = 0;
  // strtok skips empty fields; an all-comma argument yields one NULL token,
  // which ipvsadm would strcmp (undefined); treat it as an invalid flag.
  const toks = arg.split(',').filter((t) => t !== '');
  if (toks.length === 0) fail(2, `invalid scheduler flag \`${arg}'`);
  for (const flag of toks) {
    switch (flag) {
      case 'flag-1': flags |= SVC_F_SCHED1; break;
      case 'flag-2': flags |= SVC_F_SCHED2; break;
      case 'flag-3': flags |= SVC_F_SCHED3; break;
      case 'sh-fallback': case 'sh-port':
        flags |= flag === 'sh-fallback' ? SVC_F_SCHED1 : SVC_F_SCHED2;
        if (s !== 'sh') fail(2, `incompatible scheduler flag \`${flag}'`);
        break;
      case 'mh-fallback': case 'mh-port':
        flags |= flag === 'mh-fallback' ? SVC_F_SCHED1 : SVC_F_SCHED2;
        if (s !== 'mh') fail(2, `incompatible scheduler flag \`${flag}'`);
        break;
      default:
        fail(2, `invalid scheduler flag \`${flag}'`);
    }
  }
  return flags;
}

function isMulticast4(a: string): boolean {
  const first = Number(a.split('.')[0]);
  return first >= 224 && first <= 239;
}

/** inet_pton(AF_INET): strict dotted quad. */
function inetPton4(s: string): string | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  // inet_pton refuses leading zeros in a part ("01").
  if (m.slice(1).some((p) => p.length > 1 && p.startsWith('0'))) return null;
  return parts.join('.');
}

// ---------------------------------------------------------------- checks

function setCommand(ce: { cmd: CmdIndex | -1 }, cmd: CmdIndex): void {
  if (ce.cmd !== -1) fail(2, 'multiple commands specified');
  ce.cmd = cmd;
}

function setOption(options: Set<number>, optc: number): void {
  if (options.has(optc)) fail(2, `multiple '${OPTNAMES[optc]}' options specified`);
  options.add(optc);
}

function genericOptCheck(cmd: CmdIndex, options: Set<number>): void {
  const row = COMMANDS_V_OPTIONS[cmd]!;
  let last = 0;
  let count = 0;
  for (let j = 0; j < row.length; j++) {
    const c = row[j];
    if (!options.has(j)) {
      if (c === '+') fail(2, `You need to supply the '${OPTNAMES[j]}' option for the '${CMDNAMES[cmd]}' command`);
    } else {
      if (c === 'x') fail(2, `Illegal '${OPTNAMES[j]}' option with the '${CMDNAMES[cmd]}' command`);
      if (c === '1') {
        count++;
        if (count === 1) { last = j; continue; }
        fail(2, `The option '${OPTNAMES[j]}' conflicts with the '${OPTNAMES[last]}' option in the '${CMDNAMES[cmd]}' command`);
      }
    }
  }
}

function tunnelOptCheck(tunType: number, options: Set<number>): void {
  const row = TUNNEL_TYPES_V_OPTIONS[tunType]!;
  let last = 0;
  let count = 0;
  for (let j = 0; j < TUNOPTS.length; j++) {
    const k = TUNOPTS[j]!;
    const c = row[j];
    if (!options.has(k)) {
      if (c === '+') fail(2, `You need to supply the '${OPTNAMES[k]}' option for the '${TUNNAMES[tunType]}' tunnel type`);
    } else {
      if (c === 'x') fail(2, `Illegal '${OPTNAMES[k]}' option with the '${TUNNAMES[tunType]}' tunnel type`);
      if (c === '1') {
        count++;
        if (count === 1) { last = k; continue; }
        fail(2, `The option '${OPTNAMES[k]}' conflicts with the '${OPTNAMES[last]}' option in the '${TUNNAMES[tunType]}' tunnel type`);
      }
    }
  }
}

// ---------------------------------------------------------------- main parse

export interface ParseContext {
  resolver: Resolver;
  /** argv[0] as ipvsadm prints it in the "Try ..." hint. */
  program?: string;
  /** Parsing a line of -R input: another -R is refused as ipvsadm does. */
  readingStdin?: boolean;
}

function defaultEntry(): Omit<CommandEntry, 'cmd'> & { cmd: CmdIndex | -1 } {
  return {
    cmd: -1,
    options: new Set(),
    format: FMT.NONE,
    svc: {
      fwmark: 0, af: 4, protocol: 'ip', addr: '0.0.0.0', port: 0, sched: '', persistent: false,
      timeout: 0, netmask: '255.255.255.255', ops: false, pe: '', schedBits: 0,
    },
    dest: {
      af: 4, addr: '0.0.0.0', port: 0, fwd: 'route', weight: 1, uThreshold: 0, lThreshold: 0,
      tunType: 0, tunPort: 0, tunFlags: 0,
    },
    timeouts: { tcp: 0, tcpfin: 0, udp: 0 },
    daemon: { state: null, mcastIfn: '', syncid: 0, maxlen: 0, group: null, port: 0, ttl: 0 },
    json: false,
  };
}

/**
 * Parse argv (argv[0] is the program name, as in C) into a command, applying
 * every check process_options makes before it talks to the kernel.
 * Throws LvsadmExit for anything ipvsadm would exit on.
 */
export async function parseCommandLine(argv: readonly string[], ctx: ParseContext): Promise<ParseOutcome> {
  const program = ctx.program ?? PROGRAM;
  const ce = defaultEntry();
  const popt = new Popt(argv, OPTIONS_TABLE);

  // The first option must be a command. lvsadm's global options (--socket,
  // --json) may come anywhere, also before it.
  let first = popt.getNextOpt();
  for (;;) {
    if (first.kind !== 'opt') break;
    if (first.val === T.SOCKET) { ce.socket = first.arg!; first = popt.getNextOpt(); continue; }
    if (first.val === T.JSON) { ce.json = true; first = popt.getNextOpt(); continue; }
    break;
  }
  if (first.kind === 'end' && !ctx.readingStdin && popt.getArg() === null) {
    return { kind: 'default', socket: ce.socket, json: ce.json };
  }
  if (first.kind !== 'opt') throw new LvsadmExit(255, tryhelpText(program));
  let sa: string | null = first.arg;
  switch (first.val) {
    case 'A': setCommand(ce, CMD.ADD); break;
    case 'E': setCommand(ce, CMD.EDIT); break;
    case 'D': setCommand(ce, CMD.DEL); break;
    case 'a': setCommand(ce, CMD.ADDDEST); break;
    case 'e': setCommand(ce, CMD.EDITDEST); break;
    case 'd': setCommand(ce, CMD.DELDEST); break;
    case 'C': setCommand(ce, CMD.FLUSH); break;
    case 'L': case 'l': setCommand(ce, CMD.LIST); break;
    case 'Z': setCommand(ce, CMD.ZERO); break;
    case T.SET: setCommand(ce, CMD.TIMEOUT); break;
    case 'R': setCommand(ce, CMD.RESTORE); break;
    case 'S': setCommand(ce, CMD.SAVE); break;
    case T.TRACE: setCommand(ce, CMD.TRACE); break;
    case T.START_DAEMON:
      setCommand(ce, CMD.STARTDAEMON);
      if (sa === 'master') ce.daemon.state = 'master';
      else if (sa === 'backup') ce.daemon.state = 'backup';
      else fail(2, 'illegal start-daemon parameter specified');
      break;
    case T.STOP_DAEMON:
      setCommand(ce, CMD.STOPDAEMON);
      if (sa === 'master') ce.daemon.state = 'master';
      else if (sa === 'backup') ce.daemon.state = 'backup';
      else fail(2, 'illegal start_daemon specified');
      break;
    case 'h': return { kind: 'help' };
    case 'v': return { kind: 'version' };
    default: throw new LvsadmExit(255, tryhelpText(program));
  }

  const { svc, dest, options } = ce;
  let schedFlagsArg = '';
  let r = popt.getNextOpt();
  for (; r.kind === 'opt'; r = popt.getNextOpt()) {
    const optarg = r.arg;
    const a = optarg ?? '';
    switch (r.val) {
      case 't': case 'u': case T.SCTP: {
        setOption(options, OPTC.SERVICE);
        svc.protocol = r.val === 't' ? 'tcp' : r.val === 'u' ? 'udp' : 'sctp';
        const p = await parseService(a, svc.protocol, ctx.resolver, svc);
        if (!(p.result & SERVICE_ADDR)) fail(2, 'illegal virtual server address[:port] specified');
        svc.af = p.af; svc.addr = p.addr; svc.port = p.port;
        if (p.af === 6) svc.netmask = '128';
        break;
      }
      case 'f':
        setOption(options, OPTC.SERVICE);
        svc.af = 4;
        svc.protocol = 'tcp';
        svc.fwmark = parseFwmark(a, ctx.readingStdin === true);
        break;
      case 's':
        setOption(options, OPTC.SCHEDULER);
        svc.sched = a.slice(0, 15);
        break;
      case 'p':
        setOption(options, OPTC.PERSISTENT);
        svc.persistent = true;
        svc.timeout = parseTimeout(optarg, 1, MAX_TIMEOUT);
        break;
      case 'M':
        setOption(options, OPTC.NETMASK);
        if (svc.af !== 6) {
          const m = inetAton(a) ?? await ctx.resolver.hostToAddr(a);
          if (m === null) fail(2, 'illegal virtual server persistent mask specified');
          svc.netmask = m;
        } else {
          const n = parseInt(a, 10);
          if (!(n >= 1 && n <= 128)) fail(2, 'illegal ipv6 netmask specified');
          svc.netmask = String(n);
        }
        break;
      case 'r': {
        setOption(options, OPTC.SERVER);
        const p = await parseService(a, svc.protocol, ctx.resolver, svc);
        dest.af = p.af; dest.addr = p.addr; dest.port = p.port;
        if (!(p.result & SERVICE_ADDR)) fail(2, 'illegal real server address[:port] specified');
        if (p.result === SERVICE_ADDR) dest.port = svc.port;
        break;
      }
      case 'i': setOption(options, OPTC.FORWARD); dest.fwd = 'tunnel'; break;
      case 'g': setOption(options, OPTC.FORWARD); dest.fwd = 'route'; break;
      case 'm': setOption(options, OPTC.FORWARD); dest.fwd = 'masq'; break;
      case 'w':
        setOption(options, OPTC.WEIGHT);
        if ((dest.weight = stringToNumber(a, 0, 65535)) === -1) fail(2, 'illegal weight specified');
        break;
      case 'x':
        setOption(options, OPTC.UTHRESHOLD);
        if ((dest.uThreshold = stringToNumber(a, 0, INT_MAX)) === -1) fail(2, 'illegal u_threshold specified');
        break;
      case 'y':
        setOption(options, OPTC.LTHRESHOLD);
        if ((dest.lThreshold = stringToNumber(a, 0, INT_MAX)) === -1) fail(2, 'illegal l_threshold specified');
        break;
      case 'c': setOption(options, OPTC.CONNECTION); break;
      case 'n': setOption(options, OPTC.NUMERIC); ce.format |= FMT.NUMERIC; break;
      case T.MCAST_INTERFACE: setOption(options, OPTC.MCAST); ce.daemon.mcastIfn = a.slice(0, 15); break;
      case 'I':
        setOption(options, OPTC.SYNCID);
        if ((ce.daemon.syncid = stringToNumber(a, 0, 255)) === -1) fail(2, 'illegal syncid specified');
        break;
      case T.TIMEOUT: setOption(options, OPTC.TIMEOUT); break;
      case T.DAEMON: setOption(options, OPTC.DAEMON); break;
      case T.STATS: setOption(options, OPTC.STATS); ce.format |= FMT.STATS; break;
      case T.RATE: setOption(options, OPTC.RATE); ce.format |= FMT.RATE; break;
      case T.THRESHOLDS: setOption(options, OPTC.THRESHOLDS); ce.format |= FMT.THRESHOLDS; break;
      case T.PERSISTENTCONN: setOption(options, OPTC.PERSISTENTCONN); ce.format |= FMT.PERSISTENTCONN; break;
      case T.NO_SORT: setOption(options, OPTC.NOSORT); ce.format |= FMT.NOSORT; break;
      case T.SORT: break;
      case 'X': setOption(options, OPTC.EXACT); ce.format |= FMT.EXACT; break;
      case '6':
        if (svc.fwmark) { svc.af = 6; svc.netmask = '128'; } else fail(2, '-6 used before -f\n');
        break;
      case 'o': setOption(options, OPTC.ONEPACKET); svc.ops = true; break;
      case T.PE: setOption(options, OPTC.PERSISTENCE_ENGINE); svc.pe = a.slice(0, 16); break;
      case 'b': setOption(options, OPTC.SCHED_FLAGS); schedFlagsArg = a.slice(0, 127); break;
      case T.MCAST_GROUP:
        setOption(options, OPTC.MCAST_GROUP);
        if (a.includes(':')) {
          if (!isIpv6(a) || !/^ff/i.test(a)) fail(2, `invalid IPv6 mcast-group \`${a}'`);
          ce.daemon.group = a;
        } else {
          const g = inetPton4(a);
          if (g === null || !isMulticast4(g)) fail(2, `invalid IPv4 mcast-group \`${a}'`);
          ce.daemon.group = g;
        }
        break;
      case T.MCAST_PORT: {
        setOption(options, OPTC.MCAST_PORT);
        const n = stringToNumber(a, 1, 65535);
        if (n === -1) fail(2, 'illegal mcast-port specified');
        ce.daemon.port = n;
        break;
      }
      case T.MCAST_TTL: {
        setOption(options, OPTC.MCAST_TTL);
        const n = stringToNumber(a, 1, 255);
        if (n === -1) fail(2, 'illegal mcast-ttl specified');
        ce.daemon.ttl = n;
        break;
      }
      case T.SYNC_MAXLEN: {
        setOption(options, OPTC.SYNC_MAXLEN);
        const n = stringToNumber(a, 1, 65535 - 20 - 8);
        if (n === -1) fail(2, 'illegal sync-maxlen specified');
        ce.daemon.maxlen = n;
        break;
      }
      case T.TUN_INFO: setOption(options, OPTC.TUN_INFO); ce.format |= FMT.TUN_INFO; break;
      case T.TUN_TYPE: {
        setOption(options, OPTC.TUN_TYPE);
        const i = (TUNNAMES as readonly string[]).indexOf(a);
        if (i < 0) fail(2, 'illegal tunnel type specified');
        dest.tunType = i as 0 | 1 | 2;
        break;
      }
      case T.TUN_PORT: {
        setOption(options, OPTC.TUN_PORT);
        const n = stringToNumber(a, 1, 65535);
        if (n === -1) fail(2, 'illegal tunnel port specified');
        dest.tunPort = n;
        break;
      }
      case T.TUN_NOCSUM: setOption(options, OPTC.TUN_NOCSUM); break;
      case T.TUN_CSUM: setOption(options, OPTC.TUN_CSUM); dest.tunFlags |= 1; break;
      case T.TUN_REMCSUM: setOption(options, OPTC.TUN_REMCSUM); dest.tunFlags |= 2; break;
      case T.SOCKET: ce.socket = a; break;
      case T.JSON: ce.json = true; break;
      case T.CLIENT: {
        setOption(options, OPTC.CLIENT);
        const p = await parseService(a, svc.protocol, ctx.resolver, { af: 4, addr: '0.0.0.0', port: 0 });
        if (!(p.result & SERVICE_ADDR)) fail(2, 'illegal client address[:port] specified');
        ce.client = { addr: p.addr, port: p.port };
        break;
      }
      default:
        fail(2, `invalid option \`${popt.badOption()}'`);
    }
  }
  if (r.kind === 'error') {
    throw new LvsadmExit(255, `${popt.badOption()}: ${poptStrerror(r.code)}\n`);
  }

  if (ce.cmd === CMD.TIMEOUT) {
    const a0 = popt.getArg();
    const a1 = a0 !== null ? popt.getArg() : null;
    const a2 = a1 !== null ? popt.getArg() : null;
    if (a0 !== null && a1 !== null && a2 !== null) {
      ce.timeouts = {
        tcp: parseTimeout(a0, 0, MAX_TIMEOUT),
        tcpfin: parseTimeout(a1, 0, MAX_TIMEOUT),
        udp: parseTimeout(a2, 0, MAX_TIMEOUT),
      };
    } else {
      fail(2, '--set option requires 3 timeout values');
    }
  }
  const extra = popt.getArg();
  if (extra !== null) fail(2, `unexpected argument ${extra}`);

  if (schedFlagsArg !== '') {
    svc.schedBits = parseSchedFlags(svc.sched, schedFlagsArg);
  }

  const cmd = ce.cmd as CmdIndex;
  if (cmd === CMD.RESTORE && ctx.readingStdin) throw new LvsadmExit(255, tryhelpText(program));

  genericOptCheck(cmd, options);

  if (cmd === CMD.ADD || cmd === CMD.EDIT) {
    if (!svc.fwmark && !svc.port && !svc.persistent) fail(2, 'Zero port specified for non-persistent service');
    if (svc.ops && !svc.fwmark && svc.protocol !== 'udp') fail(2, 'One-Packet Scheduling is only for UDP virtual services');
    if (svc.sched === '') svc.sched = DEF_SCHED;
  }
  if (cmd === CMD.STARTDAEMON && ce.daemon.mcastIfn === '') ce.daemon.mcastIfn = DEF_MCAST_IFN;

  if (cmd === CMD.ADDDEST || cmd === CMD.EDITDEST) {
    if (!svc.fwmark && (dest.fwd === 'tunnel' || dest.fwd === 'route')) dest.port = svc.port;
    if (dest.af !== svc.af && dest.fwd !== 'tunnel') fail(2, 'Different address family is allowed only for tunneling servers');
    const tunOpts = [OPTC.TUN_TYPE, OPTC.TUN_PORT, OPTC.TUN_NOCSUM, OPTC.TUN_CSUM, OPTC.TUN_REMCSUM];
    if (tunOpts.some((o) => options.has(o)) && dest.fwd !== 'tunnel') fail(2, 'Tunnel options conflict with forward method');
    tunnelOptCheck(dest.tunType, options);
  }

  if (cmd === CMD.LIST) {
    const has = (o: number) => options.has(o);
    if (((has(OPTC.CONNECTION) || has(OPTC.TIMEOUT) || has(OPTC.DAEMON)) &&
         (has(OPTC.STATS) || has(OPTC.RATE) || has(OPTC.THRESHOLDS))) ||
        ((has(OPTC.TIMEOUT) || has(OPTC.DAEMON)) && has(OPTC.PERSISTENTCONN))) {
      fail(2, 'options conflicts in the list command');
    }
  }

  return { kind: 'command', entry: { ...ce, cmd } };
}
