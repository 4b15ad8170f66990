// lvsd's connection-sync daemons (the I/O half of ip_vs_sync.c): a master
// multicasts the conns the engine hands it (IpvsCtl.setSyncMaster) in
// version 1 messages; a backup joins the group and applies what it receives
// (IpvsCtl.syncConn). Both may run at once, as in IPVS.
//
// Timing follows the kernel's master thread: a full buffer goes out at once
// (the kernel: within IPVS_SYNC_SEND_DELAY, 20 ms), a partly filled one when
// it is flushMs old (IPVS_SYNC_FLUSH_TIME, 2 s), checked every checkMs.
// Sockets as make_send_sock / make_receive_sock: the sender is bound to the
// interface's address, multicast TTL `ttl`, loopback off; the receiver binds
// the group:port and joins it on the interface. An IPv6 group (mcast_af
// AF_INET6) works the same over UDP/IPv6: the sender's interface is given by
// index (its source is the interface's link-local address), the receiver is
// bound to the group on that interface.
import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { readFileSync } from 'node:fs';
import type { SyncConn } from '../ipvs/sync.js';
import { ControlError } from '../ipvs/errors.js';
import type { SyncDaemonConfig } from '../ipvs/types.js';
import { type DecodeReason, SyncEncoder, decodeMessage } from './message.js';
import { parseIpv6 } from '../packet/ipv6.js';

export const SYNC_DEFAULT_GROUP = '224.0.0.81';
export const SYNC_DEFAULT_PORT = 8848;
/** IP + UDP headers (IPv4, IPv6): sync_maxlen is the UDP payload. */
const HLEN = 28;
const HLEN6 = 48;

const DROP_REASONS: readonly (DecodeReason | 'too_long')[] = ['short', 'bad_size', 'other_syncid', 'bad_version', 'bad_entry', 'too_long'];

export interface SyncLog {
  info(o: object, msg: string): void;
  warn(o: object, msg: string): void;
}

/**
 * What the daemons need of the engine: IpvsEngine itself, or lvsd's workers
 * (each conn collected from, or installed in, the worker that owns it).
 */
export interface SyncEngine {
  setSyncMaster(sink: ((c: SyncConn) => void) | null): void;
  syncConn(c: SyncConn, now: number): unknown;
}

export interface SyncDaemonsOptions {
  engine: SyncEngine;
  /** The engine's clock (ms). */
  now: () => number;
  log: SyncLog;
  /** Partly filled buffers wait at most this long (default 2000, IPVS_SYNC_FLUSH_TIME). */
  flushMs?: number;
  /** How often the age of the current buffer is checked (default 250). */
  checkMs?: number;
}

interface Master {
  cfg: Required<SyncDaemonConfig>;
  sock: dgram.Socket;
  enc: SyncEncoder;
  firstUse: number;
  queue: Uint8Array[];
  sending: boolean;
  timer: NodeJS.Timeout;
}

interface Backup {
  cfg: Required<SyncDaemonConfig>;
  sock: dgram.Socket;
}

export class SyncDaemons {
  private master: Master | undefined;
  private backup: Backup | undefined;
  private readonly flushMs: number;
  private readonly checkMs: number;
  private readonly c = {
    msgsSent: 0, bytesSent: 0, connsSent: 0, sendErrors: 0,
    msgsReceived: 0, bytesReceived: 0, connsReceived: 0, entriesSkipped: 0,
  };
  private readonly dropped = new Map<string, number>(DROP_REASONS.map((r) => [r, 0]));

  constructor(private readonly o: SyncDaemonsOptions) {
    this.flushMs = o.flushMs ?? 2000;
    this.checkMs = o.checkMs ?? 250;
  }

  /** What `-L --daemon` lists: the effective configuration, defaults filled in as the kernel reports them. */
  list(): SyncDaemonConfig[] {
    const out: SyncDaemonConfig[] = [];
    if (this.master) out.push({ ...this.master.cfg });
    if (this.backup) out.push({ ...this.backup.cfg });
    return out;
  }

  async start(req: SyncDaemonConfig): Promise<void> {
    if (req.state !== 'master' && req.state !== 'backup') throw new ControlError('EINVAL', `Invalid sync daemon state: ${String(req.state)}`);
    if (req.state === 'master' ? this.master : this.backup) throw new ControlError('EEXIST', `${req.state} sync daemon already running`);
    if (!Number.isInteger(req.syncid) || req.syncid < 0 || req.syncid > 255) throw new ControlError('EINVAL', `Invalid syncid: ${req.syncid}`);
    const group = req.group || SYNC_DEFAULT_GROUP;
    const v6 = group.includes(':');
    if (v6 ? parseIpv6(group)?.[0] !== 0xff : !/^(22[4-9]|23\d)\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(group)) {
      throw new ControlError('EINVAL', `Invalid multicast group: ${group}`);
    }
    const ifaddr = interfaceAddress(req.mcastIfn);
    if (ifaddr === undefined) throw new ControlError('ENODEV', `Unknown mcast interface: ${req.mcastIfn}`);
    if (ifaddr === '' && !v6) throw new ControlError('EINVAL', `mcast interface ${req.mcastIfn} has no IPv4 address`);
    // start_sync_thread(): a backup's buffer holds what the link can carry, a master sends 1500-byte datagrams.
    const hlen = v6 ? HLEN6 : HLEN;
    const mtu = req.state === 'backup' ? Math.min(65535, Math.max(1500, interfaceMtu(req.mcastIfn))) : 1500;
    const minMtu = req.state === 'backup' ? 1024 : 1;
    const maxlen = req.maxlen ? Math.min(65535 - hlen, Math.max(minMtu, req.maxlen)) : mtu - hlen;
    const cfg: Required<SyncDaemonConfig> = {
      state: req.state, mcastIfn: req.mcastIfn, syncid: req.syncid, maxlen, group,
      port: req.port || SYNC_DEFAULT_PORT, ttl: req.ttl || 1,
    };
    if (cfg.state === 'master') await this.startMaster(cfg, ifaddr);
    else await this.startBackup(cfg, ifaddr);
    this.o.log.info({ ...cfg }, `sync daemon started: state = ${cfg.state.toUpperCase()}, mcast_ifn = ${cfg.mcastIfn}, syncid = ${cfg.syncid}`);
  }

  async stop(state: 'master' | 'backup'): Promise<void> {
    if (state === 'master') {
      const m = this.master;
      if (!m) throw new ControlError('ESRCH', 'no master sync daemon is running');
      this.o.engine.setSyncMaster(null);
      this.master = undefined;
      clearInterval(m.timer);
      // What is queued goes out before the socket closes (the kernel drops it; sending is kinder to the backup).
      const last = m.enc.flush();
      if (last) m.queue.push(last);
      await this.drain(m);
      await closeSocket(m.sock);
    } else if (state === 'backup') {
      const b = this.backup;
      if (!b) throw new ControlError('ESRCH', 'no backup sync daemon is running');
      this.backup = undefined;
      await closeSocket(b.sock);
    } else {
      throw new ControlError('EINVAL', `Invalid sync daemon state: ${String(state)}`);
    }
    this.o.log.info({ state }, `sync daemon stopped: ${state}`);
  }

  async close(): Promise<void> {
    if (this.master) await this.stop('master');
    if (this.backup) await this.stop('backup');
  }

  counters(): Record<string, number> {
    const c = this.c;
    const out: Record<string, number> = {
      sync_master_running: this.master ? 1 : 0,
      sync_backup_running: this.backup ? 1 : 0,
      sync_msgs_sent: c.msgsSent, sync_bytes_sent: c.bytesSent, sync_conns_sent: c.connsSent, sync_send_errors: c.sendErrors,
      sync_msgs_received: c.msgsReceived, sync_bytes_received: c.bytesReceived, sync_conns_received: c.connsReceived,
      sync_entries_skipped: c.entriesSkipped,
    };
    for (const [r, n] of this.dropped) out[`sync_msgs_dropped_${r}`] = n;
    return out;
  }

  private async startMaster(cfg: Required<SyncDaemonConfig>, ifaddr: string): Promise<void> {
    const v6 = cfg.group.includes(':');
    const sock = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4' });
    await bindSocket(sock, { address: v6 ? '::' : ifaddr, port: 0 });
    sock.setMulticastInterface(v6 ? `::%${cfg.mcastIfn}` : ifaddr);
    sock.setMulticastTTL(cfg.ttl);
    sock.setMulticastLoopback(false);
    sock.on('error', (err) => this.o.log.warn({ err: String(err) }, 'sync master socket error'));
    const m: Master = {
      cfg, sock, enc: new SyncEncoder(cfg.syncid, cfg.maxlen), firstUse: 0, queue: [], sending: false,
      timer: setInterval(() => this.checkAge(m), this.checkMs),
    };
    m.timer.unref();
    this.master = m;
    this.o.engine.setSyncMaster((c) => {
      if (m.enc.count === 0) m.firstUse = this.o.now();
      const full = m.enc.add(c);
      if (full) {
        m.firstUse = this.o.now();
        m.queue.push(full);
        if (!m.sending) setImmediate(() => void this.drain(m));
      }
    });
  }

  private checkAge(m: Master): void {
    if (m.enc.count > 0 && this.o.now() - m.firstUse >= this.flushMs) {
      m.queue.push(m.enc.flush()!);
      void this.drain(m);
    }
  }

  /** Sends the queue in order, one datagram at a time. */
  private async drain(m: Master): Promise<void> {
    if (m.sending) return;
    m.sending = true;
    try {
      while (m.queue.length > 0) {
        const msg = m.queue.shift()!;
        await new Promise<void>((resolve) => {
          m.sock.send(msg, m.cfg.port, m.cfg.group, (err) => {
            if (err) this.c.sendErrors++;
            else {
              this.c.msgsSent++;
              this.c.bytesSent += msg.length;
              this.c.connsSent += msg[4]!;
            }
            resolve();
          });
        });
      }
    } finally {
      m.sending = false;
    }
  }

  private async startBackup(cfg: Required<SyncDaemonConfig>, ifaddr: string): Promise<void> {
    const v6 = cfg.group.includes(':');
    const sock = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', reuseAddr: true });
    // A link-scope IPv6 group is bound with its interface (the kernel's sk_bound_dev_if).
    await bindSocket(sock, { address: v6 ? `${cfg.group}%${cfg.mcastIfn}` : cfg.group, port: cfg.port });
    try {
      sock.addMembership(cfg.group, v6 ? `::%${cfg.mcastIfn}` : ifaddr);
    } catch (err) {
      await closeSocket(sock);
      throw new ControlError('EINVAL', `joining ${cfg.group} on ${cfg.mcastIfn} failed: ${String(err)}`);
    }
    sock.on('error', (err) => this.o.log.warn({ err: String(err) }, 'sync backup socket error'));
    sock.on('message', (msg) => this.receive(cfg, msg));
    this.backup = { cfg, sock };
  }

  /** ip_vs_process_message(). */
  private receive(cfg: Required<SyncDaemonConfig>, msg: Buffer): void {
    this.c.msgsReceived++;
    this.c.bytesReceived += msg.length;
    if (msg.length > cfg.maxlen) {
      // The kernel reads at most sync_maxlen bytes; the rest is cut and the size check fails.
      this.drop('too_long');
      return;
    }
    const r = decodeMessage(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), cfg.syncid);
    if (!r.ok) {
      this.drop(r.reason);
      return;
    }
    this.c.entriesSkipped += r.msg.skipped;
    const now = this.o.now();
    for (const c of r.msg.conns) {
      this.c.connsReceived++;
      this.o.engine.syncConn(c, now);
    }
  }

  private drop(reason: string): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + 1);
  }
}

/** The interface's first IPv4 address; '' if it has none; undefined if there is no such interface. */
function interfaceAddress(ifname: string): string | undefined {
  const addrs = networkInterfaces()[ifname];
  if (addrs === undefined) {
    try {
      readFileSync(`/sys/class/net/${ifname}/mtu`);
      return '';
    } catch {
      return undefined;
    }
  }
  return addrs.find((a) => a.family === 'IPv4')?.address ?? '';
}

function interfaceMtu(ifname: string): number {
  try {
    return Number(readFileSync(`/sys/class/net/${ifname}/mtu`, 'utf8').trim()) || 1500;
  } catch {
    return 1500;
  }
}

function bindSocket(sock: dgram.Socket, o: { address: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onErr = (err: Error) => { sock.close(); reject(new ControlError('EINVAL', `binding the sync socket to ${o.address}:${o.port}: ${err.message}`)); };
    sock.once('error', onErr);
    sock.bind(o, () => { sock.off('error', onErr); resolve(); });
  });
}

function closeSocket(sock: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      sock.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
