// lvs-keepalived's command line: keepalived 2.2.7's flags (getopt_long, so
// `-nlD`, `-ffile`, `-f file`, `--use-file=file`, `--use-file file` and
// unique prefixes of long names all work), plus what lvsd needs (--socket,
// --metrics, --dump-config, --state-dir). Flags that only make sense for
// keepalived's forking/syslog/SNMP machinery are accepted and ignored where
// ignoring them is harmless, and refused where the user would expect an
// effect we do not provide.
import { socketPath } from '../control/protocol.js';

export const DEFAULT_CONFIG = '/etc/keepalived/keepalived.conf';

export interface KeepalivedOptions {
  configFile: string;
  /** -t: check the configuration and exit; a string when -t=LOG_FILE named a file for the report. */
  configTest: boolean | string;
  configId?: string;
  logConsole: boolean;
  logDetail: boolean;
  /** -P: VRRP only. */
  vrrpOnly: boolean;
  /** -C: health checkers (and lvsd) only. */
  checkOnly: boolean;
  /** -I/--dont-release-ipvs: leave the services in lvsd on stop. */
  dontReleaseIpvs: boolean;
  /** -V/--dont-release-vrrp: leave the VIPs in place on stop. */
  dontReleaseVrrp: boolean;
  pidFile?: string;
  socket: string;
  metrics?: { host: string; port: number };
  dumpConfig?: 'yaml' | 'json';
  /** Where VRRP keeps its VIP state (so a restart finds what a crash left behind). */
  stateDir?: string;
  /** --signum=NAME: print the signal number and exit. */
  signum?: string;
  help: boolean;
  version: boolean;
}

export class UsageError extends Error {
  constructor(message: string) { super(message); this.name = 'UsageError'; }
}

export const USAGE = `Usage: lvs-keepalived [OPTION...]
  -f, --use-file=FILE          Use the specified configuration file (keepalived.conf, or .yaml/.yml/.json)
                                default '${DEFAULT_CONFIG}'
  -P, --vrrp                   Only run with VRRP subsystem
  -C, --check                  Only run with Health-checker subsystem
  -l, --log-console            Log messages to local console (pretty on a terminal)
  -D, --log-detail             Detailed log messages
  -n, --dont-fork              Don't fork the daemon process (lvs-keepalived never forks)
  -p, --pid=FILE               Use specified pidfile
  -I, --dont-release-ipvs      Don't remove the lvsd services on daemon stop
  -V, --dont-release-vrrp      Don't remove VRRP VIPs on daemon stop
  -i, --config-id id           Skip any configuration lines beginning '@' that don't match id
  -t, --config-test[=LOG_FILE] Check the configuration for obvious errors, output to stderr by default
      --signum=SIGFUNC         Return signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON
      --socket=PATH            lvsd control socket (default /run/lvsd/lvsd.sock, or $LVSD_SOCKET)
      --metrics=HOST:PORT      serve Prometheus metrics on http://HOST:PORT/metrics
      --dump-config=yaml|json  print the parsed configuration model and exit
      --state-dir=DIR          where VRRP keeps its VIP state
  -v, --version                Display the version number
  -h, --help                   Display this help message
Accepted for compatibility and ignored: -B -G -R -X -S FACILITY -u MASK -r FILE -c FILE -b FILE --all.
SIGHUP reloads the configuration; SIGTERM/SIGINT stop (lvsd keeps running).
SIGUSR1 writes $TMPDIR/keepalived.data (default /tmp), SIGUSR2 keepalived.stats,
signal 36 (--signum=JSON) keepalived.json, in keepalived's formats.`;

/**
 * keepalived 2.2.7 get_signum() (core/main.c). JSON and STATS_CLEAR are
 * real-time signals (SIGRTMIN+2 and SIGRTMIN+29 on glibc: 36 and 63), the
 * numbers keepalived prints on this platform.
 */
export const SIGNUMS: Record<string, number> = {
  STOP: 15, RELOAD: 1, DATA: 10, STATS: 12, STATS_CLEAR: 63, JSON: 36,
};

type ArgKind = 'none' | 'required' | 'optional';
interface Opt { long: string; short?: string; arg: ArgKind; set: (o: KeepalivedOptions, v: string | undefined) => void }

const ignore = (): void => undefined;

const OPTS: Opt[] = [
  { long: 'use-file', short: 'f', arg: 'required', set: (o, v) => { o.configFile = v!; } },
  { long: 'vrrp', short: 'P', arg: 'none', set: (o) => { o.vrrpOnly = true; } },
  { long: 'check', short: 'C', arg: 'none', set: (o) => { o.checkOnly = true; } },
  { long: 'no_bfd', short: 'B', arg: 'none', set: ignore },
  { long: 'all', arg: 'none', set: ignore },
  { long: 'log-console', short: 'l', arg: 'none', set: (o) => { o.logConsole = true; } },
  { long: 'log-detail', short: 'D', arg: 'none', set: (o) => { o.logDetail = true; } },
  { long: 'log-facility', short: 'S', arg: 'required', set: ignore },
  { long: 'no-syslog', short: 'G', arg: 'none', set: ignore },
  { long: 'umask', short: 'u', arg: 'required', set: (_o, v) => { if (!/^[0-7]+$/.test(v!)) throw new UsageError(`--umask: "${v}" is not an octal mask`); } },
  { long: 'release-vips', short: 'X', arg: 'none', set: ignore },
  { long: 'dont-release-vrrp', short: 'V', arg: 'none', set: (o) => { o.dontReleaseVrrp = true; } },
  { long: 'dont-release-ipvs', short: 'I', arg: 'none', set: (o) => { o.dontReleaseIpvs = true; } },
  { long: 'dont-respawn', short: 'R', arg: 'none', set: ignore },
  { long: 'dont-fork', short: 'n', arg: 'none', set: ignore },
  { long: 'dump-conf', short: 'd', arg: 'none', set: (o) => { o.dumpConfig ??= 'yaml'; } },
  { long: 'pid', short: 'p', arg: 'required', set: (o, v) => { o.pidFile = v!; } },
  { long: 'vrrp_pid', short: 'r', arg: 'required', set: ignore },
  { long: 'checkers_pid', short: 'c', arg: 'required', set: ignore },
  { long: 'bfd_pid', short: 'b', arg: 'required', set: ignore },
  { long: 'config-id', short: 'i', arg: 'required', set: (o, v) => { o.configId = v!; } },
  { long: 'signum', arg: 'required', set: (o, v) => { o.signum = v!; } },
  { long: 'config-test', short: 't', arg: 'optional', set: (o, v) => { o.configTest = v ?? true; } },
  { long: 'version', short: 'v', arg: 'none', set: (o) => { o.version = true; } },
  { long: 'help', short: 'h', arg: 'none', set: (o) => { o.help = true; } },
  // lvs-keepalived's own.
  { long: 'socket', arg: 'required', set: (o, v) => { o.socket = v!; } },
  { long: 'metrics', arg: 'required', set: (o, v) => { o.metrics = parseHostPort(v!); } },
  { long: 'dump-config', arg: 'required', set: (o, v) => {
    if (v !== 'yaml' && v !== 'json') throw new UsageError(`--dump-config: "${v}" is neither yaml nor json`);
    o.dumpConfig = v;
  } },
  { long: 'state-dir', arg: 'required', set: (o, v) => { o.stateDir = v!; } },
];

// Refused rather than ignored: each would silently not do what was asked.
const UNSUPPORTED: Record<string, string> = {
  genhash: 'genhash mode is not part of lvs-keepalived; use `curl -s URL | md5sum` for a digest',
  snmp: 'SNMP is not supported; use --metrics HOST:PORT for Prometheus',
  'snmp-agent-socket': 'SNMP is not supported; use --metrics HOST:PORT for Prometheus',
  namespace: 'run lvs-keepalived inside the namespace instead (ip netns exec NAME lvs-keepalived …)',
  'address-monitoring': 'address monitoring is not supported',
  'core-dump': 'core dumps are not supported by a Node.js daemon',
  'core-dump-pattern': 'core dumps are not supported by a Node.js daemon',
  'all-config': 'use includet-style checks: lvs-keepalived -t reports missing include files',
};
const UNSUPPORTED_SHORT: Record<string, string> = { T: 'genhash', x: 'snmp', A: 'snmp-agent-socket', s: 'namespace', a: 'address-monitoring', m: 'core-dump', M: 'core-dump-pattern', e: 'all-config' };

function parseHostPort(v: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--metrics: "${v}" is not HOST:PORT (e.g. 127.0.0.1:9650)`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1') || '0.0.0.0', port };
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): KeepalivedOptions {
  const o: KeepalivedOptions = {
    configFile: DEFAULT_CONFIG, configTest: false, logConsole: false, logDetail: false,
    vrrpOnly: false, checkOnly: false, dontReleaseIpvs: false, dontReleaseVrrp: false,
    socket: '', help: false, version: false,
  };
  let socketFlag = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      if (i + 1 < argv.length) throw new UsageError(`unexpected argument ${argv[i + 1]} (keepalived takes no operands)`);
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      const inline = eq > 0 ? a.slice(eq + 1) : undefined;
      const opt = findLong(name);
      if (opt.long === 'socket') socketFlag = true;
      let v: string | undefined;
      if (opt.arg === 'none') {
        if (inline !== undefined) throw new UsageError(`option '--${opt.long}' doesn't allow an argument`);
      } else if (opt.arg === 'required') {
        v = inline ?? argv[++i];
        if (v === undefined) throw new UsageError(`option '--${opt.long}' requires an argument`);
      } else {
        // getopt: an optional argument only ever comes attached (--config-test=FILE).
        v = inline;
      }
      opt.set(o, v);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const unsup = UNSUPPORTED_SHORT[c];
        if (unsup) throw new UsageError(`-${c}: ${UNSUPPORTED[unsup]}`);
        const opt = OPTS.find((x) => x.short === c);
        if (!opt) throw new UsageError(`invalid option -- '${c}'`);
        if (opt.arg === 'none') { opt.set(o, undefined); continue; }
        const rest = a.slice(j + 1);
        if (opt.arg === 'optional') { opt.set(o, rest === '' ? undefined : rest); break; }
        const v = rest !== '' ? rest : argv[++i];
        if (v === undefined) throw new UsageError(`option requires an argument -- '${c}'`);
        opt.set(o, v);
        break;
      }
      continue;
    }
    throw new UsageError(`unexpected argument ${a} (keepalived takes no operands)`);
  }
  if (o.vrrpOnly && o.checkOnly) {
    // keepalived runs both subsystems when given both; saying so is kinder.
    o.vrrpOnly = false;
    o.checkOnly = false;
  }
  o.socket = socketPath(socketFlag ? o.socket : (env.LVSD_SOCKET || undefined));
  return o;
}

function findLong(name: string): Opt {
  const exact = OPTS.find((x) => x.long === name);
  if (exact) return exact;
  if (UNSUPPORTED[name]) throw new UsageError(`--${name}: ${UNSUPPORTED[name]}`);
  // getopt_long accepts any unambiguous prefix.
  const hits = OPTS.filter((x) => x.long.startsWith(name));
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) throw new UsageError(`option '--${name}' is ambiguous; possibilities: ${hits.map((h) => `'--${h.long}'`).join(' ')}`);
  throw new UsageError(`unrecognized option '--${name}'`);
}

/** keepalived --signum=NAME: the number, or undefined for a name keepalived does not know. */
export function signumOf(name: string): number | undefined {
  return Object.hasOwn(SIGNUMS, name) ? SIGNUMS[name] : undefined;
}
