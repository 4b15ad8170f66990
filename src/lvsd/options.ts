// lvsd's command line. Errors name the flag and say what to do.
import { availableParallelism } from 'node:os';
import { socketPath } from '../control/protocol.js';
import { FANOUT_MAX_MEMBERS } from '../io/fanout.js';

export interface LvsdOptions {
  socket: string;
  /** Interfaces to drive; empty = every non-loopback interface that is up. */
  interfaces: string[];
  metrics?: { host: string; port: number };
  logConsole: boolean;
  logDetail: boolean;
  connTabBits?: number;
  maxConns?: number;
  /** MTU of the IPIP path (the RS side), for frag-needed on oversize DF packets. */
  tunMtu?: number;
  /** IPVS's sloppy_tcp: create conns from mid-flow TCP packets (off by default). */
  sloppyTcp?: boolean;
  /** Shed pure SYNs in the socket filter while a SYN flood overloads lvsd (io/syn-shed.ts); --no-syn-shed turns it off. */
  synShed: boolean;
  /**
   * Forwarding threads (--workers; default: the CPUs this process may run
   * on). 1 forwards in the main thread, as lvsd always did; more spread the
   * frames over worker threads with PACKET_FANOUT (src/lvsd/workers.ts).
   */
  workers: number;
  /** RX ring kind for ordinary frames (io/ring-geometry.ts): 2 = TPACKET_V2 (default), 3 = TPACKET_V3 blocks. */
  rxRing?: 2 | 3;
  /** NFQUEUE queue number for fwmark services (default: io/nfqueue.ts queueNumFor). */
  fwmarkQueue?: number;
  /**
   * Established IPv4 and IPv6 NAT/DR flows forwarded by a tcx eBPF program lvsd
   * programs (io/fastpath.ts). 'auto' (default): on where the kernel takes
   * it, else a warning and lvsd forwards every packet itself; 'on'
   * (--fast-path): fail to start without it; 'off' (--no-fast-path).
   */
  fastPath: 'auto' | 'on' | 'off';
  /** --fast-path-flows: the flow map's size (default io/fastpath.ts DEFAULT_FAST_FLOWS); a full map leaves new flows to lvsd. */
  fastFlows?: number;
  /** --fast-path-min-packets: client packets a conn shows before its flows are learnt (default 8). */
  fastMinPackets?: number;
  /**
   * --intercept: how the rings take frames (io/intercept.ts). 'auto'
   * (default): 'protocol' unless an interface is a bridge/bond port or has
   * a macvlan-like upper device, then 'tap'.
   */
  intercept: 'auto' | 'tap' | 'protocol';
  help: boolean;
  version: boolean;
}

export class UsageError extends Error {
  constructor(message: string) { super(message); this.name = 'UsageError'; }
}

export const USAGE = `Usage: lvsd [options]
  --socket PATH         control socket (default /run/lvsd/lvsd.sock, or $LVSD_SOCKET)
  --interface IF        interface to forward on; repeatable (default: every non-loopback interface that is up)
  --metrics HOST:PORT   serve Prometheus metrics on http://HOST:PORT/metrics
  -l, --log-console     log to the console (pretty on a terminal)
  -D, --log-detail      detailed (debug) logging
  --conn-tab-bits N     connection hash table size 2^N (8..20, default 12)
  --max-conns N         bound on tracked connections
  --tun-mtu N           path MTU towards tunnel (-i) real servers
  --sloppy-tcp          create connections from mid-flow TCP packets, not only SYNs (IPVS sloppy_tcp);
                        with mh/sh a flow that moves to this director keeps its real server
  --rx-ring v2|v3       RX ring for ordinary frames: v2 (default) hands over each frame at once;
                        v3 packs frames into blocks (fewer wake-ups, up to 1 ms of added latency)
  --no-syn-shed         keep every SYN while overloaded (default: a SYN flood that overloads lvsd has a
                        share of its SYNs dropped in the socket filter, so established flows keep moving)
  --workers N           forwarding threads, 1..${FANOUT_MAX_MEMBERS} (default: the number of CPUs lvsd may run on); the
                        kernel steers both directions of each flow to one of them (PACKET_FANOUT)
  --fast-path           require the fast path (default: used where the kernel allows it): established IPv4
                        and IPv6 NAT and DR flows and IPv4 TUN (IPIP) flows are forwarded in the kernel
                        by an eBPF program (tcx, Linux 6.6+) whose flows lvsd learns from their first
                        packets; SYN/FIN/RST, new flows, IPv6 extension headers and IPv6 TUN still go
                        through lvsd
  --no-fast-path        forward every packet in lvsd
  --fast-path-flows N   flows each of the fast path's maps (IPv4, IPv6) holds, 1024..16777216 (default 262144;
                        kernel memory ~4 MiB per map at that size plus ~140 bytes per IPv4 flow, ~180 per IPv6
                        flow, as flows are learnt); when full, further flows go through lvsd (fast_map_full)
  --fast-path-min-packets N
                        client packets a conn must have shown before the kernel takes it over, 0..1000000
                        (default 8: short conns never cost a map write and delete)
  --intercept auto|protocol|tap
                        how lvsd takes frames: protocol binds its sockets to IPv4 and IPv6, behind the
                        device's tc and netdev-nftables hooks (frames the fast path forwards never reach
                        lvsd); tap binds them to every frame, ahead of those hooks (needed on a bridge or
                        bond port); auto (default): protocol where the interfaces allow it
  --fwmark-queue N      NFQUEUE queue number that takes fwmark services' packets (default 47000; another
                        lvsd in the same namespace gets its own)
  -h, --help            this text
  -v, --version         print the version
Runs in the foreground; SIGTERM/SIGINT stop it and remove its nftables table and socket.`;

function intArg(flag: string, v: string | undefined, min: number, max: number): number {
  if (v === undefined) throw new UsageError(`${flag} needs a value`);
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag}: "${v}" is not a number`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`${flag}: ${n} is outside ${min}..${max}`);
  return n;
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): LvsdOptions {
  const o: LvsdOptions = {
    socket: '', interfaces: [], logConsole: false, logDetail: false, synShed: true, fastPath: 'auto', intercept: 'auto', workers: 0, help: false, version: false,
  };
  let socket: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    let inline: string | undefined;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    if (eq > 0) { inline = a.slice(eq + 1); a = a.slice(0, eq); }
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--socket': socket = value(); break;
      case '--interface': case '-i': o.interfaces.push(value()); break;
      case '--metrics': {
        const v = value();
        const m = /^(.*):(\d+)$/.exec(v);
        if (!m) throw new UsageError(`--metrics: "${v}" is not HOST:PORT (e.g. 127.0.0.1:9120)`);
        const port = intArg('--metrics', m[2], 0, 65535);
        o.metrics = { host: m[1]!.replace(/^\[(.*)\]$/, '$1') || '0.0.0.0', port };
        break;
      }
      case '-l': case '--log-console': o.logConsole = true; break;
      case '-D': case '--log-detail': o.logDetail = true; break;
      case '--conn-tab-bits': o.connTabBits = intArg(a, value(), 8, 20); break;
      case '--max-conns': o.maxConns = intArg(a, value(), 1, 1 << 26); break;
      case '--tun-mtu': o.tunMtu = intArg(a, value(), 576, 65535); break;
      case '--sloppy-tcp': o.sloppyTcp = true; break;
      case '--no-syn-shed': o.synShed = false; break;
      case '--fast-path': o.fastPath = 'on'; break;
      case '--no-fast-path': o.fastPath = 'off'; break;
      case '--fast-path-flows': o.fastFlows = intArg(a, value(), 1024, 1 << 24); break;
      case '--fast-path-min-packets': o.fastMinPackets = intArg(a, value(), 0, 1_000_000); break;
      case '--workers': o.workers = intArg(a, value(), 1, FANOUT_MAX_MEMBERS); break;
      case '--rx-ring': {
        const v = value();
        if (v !== 'v2' && v !== 'v3') throw new UsageError(`--rx-ring: expected v2 or v3, got ${JSON.stringify(v)}`);
        o.rxRing = v === 'v2' ? 2 : 3;
        break;
      }
      case '--intercept': {
        const v = value();
        if (v !== 'auto' && v !== 'tap' && v !== 'protocol') throw new UsageError(`--intercept: expected auto, protocol or tap, got ${JSON.stringify(v)}`);
        o.intercept = v;
        break;
      }
      case '--fwmark-queue': o.fwmarkQueue = intArg(a, value(), 0, 65535); break;
      case '-h': case '--help': o.help = true; break;
      case '-v': case '--version': o.version = true; break;
      default: throw new UsageError(`unknown option ${argv[i]} (see lvsd --help)`);
    }
  }
  o.socket = socketPath(socket ?? (env.LVSD_SOCKET || undefined));
  if (o.workers === 0) o.workers = Math.min(availableParallelism(), FANOUT_MAX_MEMBERS);
  return o;
}
