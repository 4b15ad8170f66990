// lvsadm's main: parse as ipvsadm does, then turn the command into control
// requests and print the answers in ipvsadm's formats. Everything the
// process touches (stdio, stdin, names, the socket path) comes in through
// RunIO so tests can drive it in-process.
import { ControlClient, ControlConnectError, ControlReplyError, type ClientOptions } from '../control/client.js';
import type { ServiceStatus } from '../ipvs/types.js';
import { CMD, FMT, LvsadmExit, OPTC, parseCommandLine, PROGRAM, type CommandEntry } from './args.js';
import { daemonConfig, destSpec, serviceKey, serviceSpec } from './convert.js';
import { ipvsStrerror } from './errors.js';
import { listConns, connAddrs, listDaemons, listTimeout } from './format-conn.js';
import { listAll, listingAddrs, listService, msort, cmpServices, cmpDests } from './format-list.js';
import { connsJson, daemonsJson, rulesetJson, servicesJson, timeoutsJson } from './json.js';
import { SystemResolver, type Resolver } from './names.js';
import { parseRestore, saveText } from './save-restore.js';
import { traceJson, traceText } from './trace.js';
import { usageText, versionText } from './usage.js';

export interface RunIO {
  stdout(s: string): void;
  stderr(s: string): void;
  readStdin(): Promise<string>;
  /** Name resolution; defaults to /etc/services, /etc/hosts and DNS. */
  resolver?: Resolver;
  /** $LVSD_SOCKET as seen by this run (defaults to process.env). */
  envSocket?: string;
  timeoutMs?: number;
}

class Session {
  private client: ControlClient | null = null;
  constructor(private readonly opts: ClientOptions) {}
  async req<T>(op: string, args: unknown): Promise<T> {
    this.client ??= await ControlClient.connect(this.opts);
    // The op name is checked by lvsd; lvsadm's ops are those of protocol.ts plus 'trace'.
    return (this.client.request as (o: string, a: unknown) => Promise<unknown>)(op, args) as Promise<T>;
  }
  close(): void { this.client?.close(); }
}

/** ipvsadm exits 255 (main returns -1) when the kernel refuses a change. */
function refused(op: string, e: ControlReplyError): LvsadmExit {
  return new LvsadmExit(255, `${ipvsStrerror(op, e.code, e.message)}\n`);
}

async function names(ce: { format: number }, resolver: Resolver, addrs: string[]): Promise<Resolver | null> {
  if (ce.format & FMT.NUMERIC) return null;
  await resolver.prepare(addrs);
  return resolver;
}

function sortedForJson(services: ServiceStatus[], format: number): ServiceStatus[] {
  if (format & FMT.NOSORT) return services;
  return msort(services, cmpServices).map((s) => ({ ...s, dests: msort(s.dests, cmpDests) }));
}

async function listAllCmd(s: Session, ce: { format: number; json: boolean }, io: RunIO, resolver: Resolver): Promise<number> {
  let info;
  let services: ServiceStatus[];
  try {
    info = await s.req<{ version: string; connTableSize: number }>('get-info', {});
    services = await s.req<ServiceStatus[]>('list-services', {});
  } catch (e) {
    if (e instanceof ControlReplyError) throw new LvsadmExit(1, `${ipvsStrerror('list-services', e.code, e.message)}\n`);
    throw e;
  }
  if (ce.json) { io.stdout(servicesJson(sortedForJson(services, ce.format), info)); return 0; }
  const r = await names(ce, resolver, listingAddrs(services));
  io.stdout(listAll(info, services, ce.format, r));
  return 0;
}

async function execute(ce: CommandEntry, s: Session, io: RunIO, resolver: Resolver): Promise<number> {
  const op = async (name: string, args: unknown): Promise<void> => {
    try {
      await s.req(name, args);
    } catch (e) {
      if (e instanceof ControlReplyError) throw refused(name, e);
      throw e;
    }
  };
  switch (ce.cmd) {
    case CMD.LIST: {
      if (ce.options.has(OPTC.CONNECTION)) {
        let conns;
        try { conns = await s.req<import('../ipvs/types.js').ConnEntry[]>('list-conns', {}); } catch (e) {
          if (e instanceof ControlReplyError) throw new LvsadmExit(1, `${ipvsStrerror('list-conns', e.code, e.message)}\n`);
          throw e;
        }
        if (ce.json) { io.stdout(connsJson(conns)); return 0; }
        const r = await names(ce, resolver, connAddrs(conns));
        io.stdout(listConns(conns, ce.format, r));
        return 0;
      }
      if (ce.options.has(OPTC.SERVICE)) {
        const key = serviceKey(ce.svc);
        let found: ServiceStatus[];
        try {
          found = await s.req<ServiceStatus[]>('list-services', { key });
        } catch (e) {
          if (e instanceof ControlReplyError) throw new LvsadmExit(1, `${ipvsStrerror('list-services', e.code, e.message)}\n`);
          throw e;
        }
        const se = found[0];
        if (!se) throw new LvsadmExit(1, 'No such service\n');
        if (ce.json) { io.stdout(servicesJson(sortedForJson([se], ce.format), null)); return 0; }
        const r = await names(ce, resolver, listingAddrs([se]));
        io.stdout(listService(se, ce.format, r));
        return 0;
      }
      if (ce.options.has(OPTC.TIMEOUT)) {
        const t = await s.req<import('../ipvs/types.js').Timeouts>('get-timeouts', {});
        io.stdout(ce.json ? timeoutsJson(t) : listTimeout(t));
        return 0;
      }
      if (ce.options.has(OPTC.DAEMON)) {
        const d = await s.req<import('../ipvs/types.js').SyncDaemonConfig[]>('list-daemons', {});
        io.stdout(ce.json ? daemonsJson(d) : listDaemons(d));
        return 0;
      }
      return listAllCmd(s, ce, io, resolver);
    }
    case CMD.SAVE: {
      let services: ServiceStatus[];
      try { services = await s.req<ServiceStatus[]>('list-services', {}); } catch (e) {
        if (e instanceof ControlReplyError) throw new LvsadmExit(1, `${ipvsStrerror('list-services', e.code, e.message)}\n`);
        throw e;
      }
      if (ce.json) { io.stdout(rulesetJson(sortedForJson(services, ce.format))); return 0; }
      const r = await names(ce, resolver, listingAddrs(services));
      io.stdout(saveText(services, ce.format, r));
      return 0;
    }
    case CMD.RESTORE: {
      const text = await io.readStdin();
      const ruleset = await parseRestore(text, resolver);
      try {
        await s.req('replace', { ruleset });
      } catch (e) {
        if (e instanceof ControlReplyError) {
          throw new LvsadmExit(255, `${PROGRAM} -R: lvsd refused the ruleset: ${ipvsStrerror('replace', e.code, e.message)} (nothing restored)\n`);
        }
        throw e;
      }
      return 0;
    }
    case CMD.FLUSH: await op('flush', {}); return 0;
    case CMD.ADD: await op('add-service', { service: serviceSpec(ce.svc) }); return 0;
    case CMD.EDIT: await op('edit-service', { service: serviceSpec(ce.svc) }); return 0;
    case CMD.DEL: await op('del-service', { key: serviceKey(ce.svc) }); return 0;
    case CMD.ZERO:
      await op('zero', ce.options.has(OPTC.SERVICE) ? { key: serviceKey(ce.svc) } : {});
      return 0;
    case CMD.ADDDEST: await op('add-dest', { key: serviceKey(ce.svc), dest: destSpec(ce.dest) }); return 0;
    case CMD.EDITDEST: await op('edit-dest', { key: serviceKey(ce.svc), dest: destSpec(ce.dest) }); return 0;
    case CMD.DELDEST: {
      const d = destSpec(ce.dest);
      await op('del-dest', { key: serviceKey(ce.svc), addr: d.addr, port: d.port });
      return 0;
    }
    case CMD.TIMEOUT: {
      // --set: 0 leaves a value as it is.
      const t: Record<string, number> = {};
      if (ce.timeouts.tcp) t.tcp = ce.timeouts.tcp;
      if (ce.timeouts.tcpfin) t.tcpfin = ce.timeouts.tcpfin;
      if (ce.timeouts.udp) t.udp = ce.timeouts.udp;
      await op('set-timeouts', { timeouts: t });
      return 0;
    }
    case CMD.STARTDAEMON: await op('start-daemon', { daemon: daemonConfig(ce) }); return 0;
    case CMD.STOPDAEMON: await op('stop-daemon', { state: ce.daemon.state }); return 0;
    case CMD.TRACE: {
      const key = serviceKey(ce.svc);
      const client = ce.client ?? { addr: '0.0.0.0', port: 0 };
      let result;
      try {
        result = await s.req<import('./trace.js').TraceResult>('trace', { key, caddr: client.addr, cport: client.port });
      } catch (e) {
        if (e instanceof ControlReplyError) {
          throw new LvsadmExit(e.code === 'ESRCH' ? 1 : 255, `${ipvsStrerror('trace', e.code, e.message)}\n`);
        }
        throw e;
      }
      if (ce.json) io.stdout(traceJson(key, client, result));
      else {
        const r = await names(ce, resolver, [client.addr, ...(result.dest ? [result.dest.addr] : []), ...(key.kind === 'addr' ? [key.addr] : [])]);
        io.stdout(traceText(key, client, result, ce.format, r));
      }
      return result.dest ? 0 : 1;
    }
    default:
      return 0;
  }
}

/** Run lvsadm with `args` (the words after the program name); returns the exit status. */
export async function run(args: readonly string[], io: RunIO): Promise<number> {
  const resolver = io.resolver ?? new SystemResolver();
  let session: Session | null = null;
  try {
    const outcome = await parseCommandLine([PROGRAM, ...args], { resolver, program: PROGRAM });
    switch (outcome.kind) {
      case 'help': io.stdout(usageText(PROGRAM)); return 0;
      case 'version': io.stdout(versionText(PROGRAM)); return 0;
      default: break;
    }
    const socket = (outcome.kind === 'default' ? outcome.socket : outcome.entry.socket) ?? io.envSocket;
    session = new Session({ socket, timeoutMs: io.timeoutMs });
    if (outcome.kind === 'default') {
      // ipvsadm with no arguments lists everything, names resolved.
      return await listAllCmd(session, { format: FMT.NONE, json: outcome.json }, io, resolver);
    }
    return await execute(outcome.entry, session, io, resolver);
  } catch (e) {
    if (e instanceof LvsadmExit) {
      if (e.stdout) io.stdout(e.stdout);
      io.stderr(e.stderr);
      return e.code;
    }
    if (e instanceof ControlConnectError) {
      // Where ipvsadm says "Can't initialize ipvs ... built in the kernel?" and exits 2.
      io.stderr(`${e.message}\n`);
      return 2;
    }
    if (e instanceof ControlReplyError) {
      io.stderr(`${ipvsStrerror(e.op, e.code, e.message)}\n`);
      return 1;
    }
    throw e;
  } finally {
    session?.close();
  }
}
