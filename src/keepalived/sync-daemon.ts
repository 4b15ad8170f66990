// lvs_sync_daemon: lvsd's connection-sync daemon follows the VRRP instance
// named in global_defs, as keepalived drives IPVS's (ipvs_syncd_master /
// ipvs_syncd_backup): BACKUP at start, MASTER (and no backup) while the
// instance is MASTER, back to BACKUP when it leaves MASTER, both stopped on
// shutdown. The sync id defaults to the instance's virtual_router_id.
import { ControlReplyError } from '../control/client.js';
import type { OpName, Ops } from '../control/protocol.js';
import type { KeepalivedConfig, LvsSyncDaemon } from '../config/index.js';
import type { SyncDaemonConfig } from '../ipvs/types.js';
import type { Log } from './ipvs-manager.js';

type Call = <K extends OpName>(op: K, args: Ops[K]['args']) => Promise<Ops[K]['result']>;

export class SyncDaemonDriver {
  private state: 'master' | 'backup' | undefined;
  private chain: Promise<void> = Promise.resolve();
  private unsupportedLogged = false;

  constructor(readonly cfg: LvsSyncDaemon, private readonly syncid: number, private readonly call: Call, private readonly log: Log) {}

  static fromModel(model: KeepalivedConfig, call: Call, log: Log): SyncDaemonDriver | undefined {
    const sd = model.global_defs.lvs_sync_daemon;
    if (!sd) return undefined;
    const vi = model.vrrp_instances.find((i) => i.name === sd.instance);
    return new SyncDaemonDriver(sd, sd.id ?? vi?.virtual_router_id ?? 0, call, log);
  }

  /** Does this VRRP instance drive the sync daemon? */
  follows(instance: string): boolean {
    return this.cfg.instance === instance;
  }

  private daemon(state: 'master' | 'backup'): SyncDaemonConfig {
    const c = this.cfg;
    return {
      state, mcastIfn: c.interface, syncid: this.syncid,
      ...(c.maxlen !== undefined ? { maxlen: c.maxlen } : {}),
      ...(c.group !== undefined ? { group: c.group } : {}),
      ...(c.port !== undefined ? { port: c.port } : {}),
      ...(c.ttl !== undefined ? { ttl: c.ttl } : {}),
    };
  }

  /** Switch to `state` (the other one is stopped first); resolves when lvsd answered. */
  set(state: 'master' | 'backup'): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.state === state) return;
      const other = state === 'master' ? 'backup' : 'master';
      await this.quiet(() => this.call('stop-daemon', { state: other }));
      const ok = await this.quiet(() => this.call('start-daemon', { daemon: this.daemon(state) }));
      if (ok) {
        this.state = state;
        this.log.info({ state, interface: this.cfg.interface, syncid: this.syncid }, `lvs_sync_daemon: ${state} started`);
      }
    };
    this.chain = this.chain.then(run, run);
    return this.chain;
  }

  stop(): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.state === undefined) return;
      await this.quiet(() => this.call('stop-daemon', { state: 'master' }));
      await this.quiet(() => this.call('stop-daemon', { state: 'backup' }));
      this.state = undefined;
    };
    this.chain = this.chain.then(run, run);
    return this.chain;
  }

  private async quiet(f: () => Promise<unknown>): Promise<boolean> {
    try {
      await f();
      return true;
    } catch (err) {
      if (err instanceof ControlReplyError && err.code === 'ESRCH') return true; // not running: fine when stopping
      if (err instanceof ControlReplyError && err.code === 'EOPNOTSUPP') {
        if (!this.unsupportedLogged) this.log.warn({}, 'lvs_sync_daemon: this lvsd runs no sync daemon; connections will not be synced');
        this.unsupportedLogged = true;
        return false;
      }
      this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'lvs_sync_daemon: lvsd refused');
      return false;
    }
  }
}
