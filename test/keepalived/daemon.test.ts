// lvs-keepalived against an in-process lvsd (the real engine behind the real control server): real config files, real HTTP_GET
// checkers against 127.0.0.1 backends whose health the test flips, and the
// requests the daemon sends over the control socket.
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dumpConfig, loadConfig } from '../../src/config/index.js';
import { KeepalivedDaemon } from '../../src/keepalived/daemon.js';
import { KeepalivedMetrics } from '../../src/keepalived/metrics.js';
import type { StateChange } from '../../src/vrrp/index.js';
import { TestLvsd } from '../helpers/lvsd-server.js';
import { Backend, httpGet, recordingLog, sleep, TmpDir, waitFor } from './helpers.js';

const VIP = '10.0.0.100';

interface Ctx { lvsd: TestLvsd; tmp: TmpDir; b1: Backend; b2: Backend; b3: Backend; daemons: KeepalivedDaemon[] }
let ctx: Ctx;

beforeEach(async () => {
  ctx = {
    lvsd: await TestLvsd.start(), tmp: new TmpDir(),
    b1: await new Backend().start(), b2: await new Backend().start(), b3: await new Backend().start(),
    daemons: [],
  };
});
afterEach(async () => {
  for (const d of ctx.daemons) await d.stop().catch(() => undefined);
  await ctx.lvsd.destroy();
  await Promise.all([ctx.b1.close(), ctx.b2.close(), ctx.b3.close()]);
  ctx.tmp.remove();
});

function vsConf(opts: { sched?: string; vsExtra?: string; rs?: string[]; global?: string } = {}): string {
  const rs = opts.rs ?? [rsBlock('10.1.0.1', ctx.b1.port), rsBlock('10.1.0.2', ctx.b2.port)];
  return `${opts.global ? `global_defs {\n${opts.global}\n}\n` : ''}
virtual_server ${VIP} 80 {
    lb_algo ${opts.sched ?? 'rr'}
    lb_kind DR
    protocol TCP
    ${opts.vsExtra ?? ''}
${rs.join('\n')}
}
`;
}

function rsBlock(addr: string, port: number, extra = ''): string {
  return `    real_server ${addr} 80 {
        weight 1
        ${extra}
${httpGet(port)}
    }`;
}

function daemon(file: string, opts: { metrics?: KeepalivedMetrics; flags?: Partial<{ dontReleaseIpvs: boolean }> } = {}) {
  const log = recordingLog();
  const d = new KeepalivedDaemon({
    configFile: file, socket: ctx.lvsd.path, vrrpOnly: false, checkOnly: true,
    dontReleaseIpvs: opts.flags?.dontReleaseIpvs ?? false, dontReleaseVrrp: false, logDetail: false,
  }, log, { checkHost: false, ipvs: { retryMs: 100 }, ...(opts.metrics ? { metrics: opts.metrics } : {}) });
  ctx.daemons.push(d);
  return { d, log };
}

describe('start', () => {
  it('applies the whole configuration as one replace, with lvs_timeouts, keeping foreign services', async () => {
    // A service an operator added with lvsadm before keepalived started.
    ctx.lvsd.services = [{
      key: { kind: 'addr', protocol: 'udp', addr: '10.9.9.9', port: 53 }, scheduler: 'wlc', persistence: 0,
      netmask: '255.255.255.255', ops: false, schedFlags: [], dests: [{ addr: '10.9.9.1', port: 53, fwd: 'masq', weight: 3, uThreshold: 0, lThreshold: 0 }],
    }];
    const file = ctx.tmp.write('k.conf', vsConf({ global: '  lvs_timeouts tcp 7200 tcpfin 60 udp 100' }));
    const { d } = daemon(file);
    await d.start();
    const writes = ctx.lvsd.writes();
    expect(writes.map((w) => w.op)).toEqual(['set-timeouts', 'replace']);
    expect(ctx.lvsd.timeouts).toEqual({ tcp: 7200, tcpfin: 60, udp: 100 });
    const rs = writes[1]!.args.ruleset.services;
    expect(rs).toHaveLength(2);
    const mine = rs.find((s: any) => s.key.addr === VIP);
    expect(mine).toMatchObject({ key: { kind: 'addr', protocol: 'tcp', addr: VIP, port: 80 }, scheduler: 'rr', persistence: 0 });
    expect(mine.dests.map((x: any) => `${x.addr}:${x.port}/${x.fwd}@${x.weight}`).sort()).toEqual(['10.1.0.1:80/route@1', '10.1.0.2:80/route@1']);
    expect(ctx.lvsd.destsOf('10.9.9.9', 53, 'udp')).toEqual(['10.9.9.1:53@3']);
  });

  it('reads the same model from YAML (-f file.yaml) and applies the same ruleset', async () => {
    const text = vsConf({ vsExtra: 'persistence_timeout 300' });
    const a = daemon(ctx.tmp.write('k.conf', text));
    await a.d.start();
    const fromConf = structuredClone(ctx.lvsd.services);
    await a.d.stop();
    const { model } = loadConfig(ctx.tmp.write('k2.conf', text));
    const b = daemon(ctx.tmp.write('k.yaml', dumpConfig(model, 'yaml')));
    await b.d.start();
    expect(ctx.lvsd.services).toEqual(fromConf);
    expect(fromConf[0]!.persistence).toBe(300);
  });

  it('-i/--config-id picks the @id lines of this node', async () => {
    const text = vsConf().replace('    lb_algo rr', '@node01    lb_algo rr\n@node02    lb_algo wrr');
    const file = ctx.tmp.write('k.conf', text);
    for (const [id, sched] of [['node01', 'rr'], ['node02', 'wrr']] as const) {
      const d = new KeepalivedDaemon({
        configFile: file, configId: id, socket: ctx.lvsd.path, vrrpOnly: false, checkOnly: true,
        dontReleaseIpvs: false, dontReleaseVrrp: false, logDetail: false,
      }, recordingLog(), { checkHost: false });
      ctx.daemons.push(d);
      await d.start();
      expect(ctx.lvsd.services[0]!.scheduler).toBe(sched);
      await d.stop();
    }
  });

  it('lvs_flush drops foreign services at start', async () => {
    ctx.lvsd.services = [{
      key: { kind: 'fwmark', fwmark: 7 }, scheduler: 'wlc', persistence: 0, netmask: '255.255.255.255', ops: false, schedFlags: [], dests: [],
    }];
    const { d } = daemon(ctx.tmp.write('k.conf', vsConf({ global: '  lvs_flush' })));
    await d.start();
    expect(ctx.lvsd.services.map((s) => s.key)).toEqual([{ kind: 'addr', protocol: 'tcp', addr: VIP, port: 80 }]);
  });

  it('alpha real servers stay out until their checker succeeds', async () => {
    ctx.b2.healthy = false;
    const { d } = daemon(ctx.tmp.write('k.conf', vsConf({ vsExtra: 'alpha' })));
    await d.start();
    const first = ctx.lvsd.writes().find((w) => w.op === 'replace')!;
    expect(first.args.ruleset.services[0].dests).toEqual([]);
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).join() === '10.1.0.1:80@1', 8000, 'rs1 added after its first success');
    await sleep(400);
    expect(ctx.lvsd.destsOf(VIP, 80)).toEqual(['10.1.0.1:80@1']);
  });
});

describe('checker transitions', () => {
  it('a failing real server is removed with del-dest and comes back with add-dest', async () => {
    const { d } = daemon(ctx.tmp.write('k.conf', vsConf()));
    await d.start();
    const n0 = ctx.lvsd.requests.length;
    ctx.b2.healthy = false;
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).join() === '10.1.0.1:80@1', 8000, 'rs2 removed');
    const after = ctx.lvsd.requests.slice(n0).filter((r) => r.op !== 'list-services');
    expect(after.map((r) => r.op)).toEqual(['del-dest']);
    expect(after[0]!.args).toEqual({ key: { kind: 'addr', protocol: 'tcp', addr: VIP, port: 80 }, addr: '10.1.0.2', port: 80 });
    ctx.b2.healthy = true;
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).length === 2, 8000, 'rs2 back');
    expect(ctx.lvsd.requests.slice(n0).filter((r) => r.op !== 'list-services').map((r) => r.op)).toEqual(['del-dest', 'add-dest']);
  });

  it('inhibit_on_failure sets weight 0 instead of removing, then restores the weight', async () => {
    const { d } = daemon(ctx.tmp.write('k.conf', vsConf({ rs: [rsBlock('10.1.0.1', ctx.b1.port), rsBlock('10.1.0.2', ctx.b2.port, 'inhibit_on_failure')] })));
    await d.start();
    ctx.b2.healthy = false;
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).join() === '10.1.0.1:80@1,10.1.0.2:80@0', 8000, 'rs2 weight 0');
    expect(ctx.lvsd.ops()).not.toContain('del-dest');
    expect(ctx.lvsd.ops()).toContain('edit-dest');
    ctx.b2.healthy = true;
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).join() === '10.1.0.1:80@1,10.1.0.2:80@1', 8000, 'rs2 weight back');
  });

  it('below quorum the sorry server replaces the real servers; above, they return', async () => {
    const { d } = daemon(ctx.tmp.write('k.conf', vsConf({ vsExtra: 'quorum 2\n    sorry_server 10.0.0.9 80' })));
    await d.start();
    expect(ctx.lvsd.destsOf(VIP, 80)).toEqual(['10.1.0.1:80@1', '10.1.0.2:80@1']);
    ctx.b1.healthy = false;
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).join() === '10.0.0.9:80@1', 8000, 'sorry server in');
    ctx.b1.healthy = true;
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).join() === '10.1.0.1:80@1,10.1.0.2:80@1', 8000, 'real servers back');
  });

  it('a dest op lvsd rejects (its state changed behind us) is repaired with a full replace', async () => {
    const { d } = daemon(ctx.tmp.write('k.conf', vsConf()));
    await d.start();
    // Someone deletes our service with lvsadm: the next del-dest meets ESRCH.
    ctx.lvsd.services = [];
    ctx.b2.healthy = false;
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).join() === '10.1.0.1:80@1', 8000, 'resynced without rs2');
    expect(ctx.lvsd.ops().filter((o) => o === 'replace')).toHaveLength(2);
  });

  it('an lvsd that restarts empty gets the whole ruleset again', async () => {
    const { d } = daemon(ctx.tmp.write('k.conf', vsConf()));
    await d.start();
    await ctx.lvsd.close();
    ctx.lvsd.services = [];
    ctx.b2.healthy = false;
    await sleep(300); // the manager fails to reach lvsd and schedules retries
    await ctx.lvsd.start();
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).join() === '10.1.0.1:80@1', 8000, 'ruleset back after lvsd restart');
  });
});

describe('reload (SIGHUP)', () => {
  it('a configuration with errors is refused, logged with file:line:col, and the running rules stay', async () => {
    const file = ctx.tmp.write('k.conf', vsConf());
    const { d, log } = daemon(file);
    await d.start();
    const before = structuredClone(ctx.lvsd.services);
    const n0 = ctx.lvsd.writes().length;
    ctx.tmp.write('k.conf', vsConf({ sched: 'bogus' }));
    expect(await d.reload()).toBe(false);
    await sleep(300);
    expect(ctx.lvsd.writes().length).toBe(n0);
    expect(ctx.lvsd.services).toEqual(before);
    const err = log.lines.find((l) => l.level === 'error' && /bogus/.test(l.msg ?? ''));
    expect(err?.msg).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}:\\d+:\\d+: error: `));
    // The checkers of the old configuration still run and still act.
    ctx.b2.healthy = false;
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).join() === '10.1.0.1:80@1', 8000, 'old checkers still acting');
  });

  it('a valid change is one replace; a surviving down real server stays down (no flap), a new one comes in', async () => {
    const file = ctx.tmp.write('k.conf', vsConf());
    const { d } = daemon(file);
    await d.start();
    ctx.b2.healthy = false;
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).join() === '10.1.0.1:80@1', 8000, 'rs2 down');
    const n0 = ctx.lvsd.requests.length;
    ctx.tmp.write('k.conf', vsConf({ sched: 'wlc', rs: [rsBlock('10.1.0.1', ctx.b1.port), rsBlock('10.1.0.2', ctx.b2.port), rsBlock('10.1.0.3', ctx.b3.port)] }));
    expect(await d.reload()).toBe(true);
    const writes = ctx.lvsd.requests.slice(n0).filter((r) => r.op !== 'list-services');
    expect(writes.map((w) => w.op)).toEqual(['replace']);
    const svc = writes[0]!.args.ruleset.services[0];
    expect(svc.scheduler).toBe('wlc');
    // rs2 was down before the reload: it is not put back on trust.
    expect(svc.dests.map((x: any) => x.addr).sort()).toEqual(['10.1.0.1', '10.1.0.3']);
    await sleep(400);
    expect(ctx.lvsd.destsOf(VIP, 80)).toEqual(['10.1.0.1:80@1', '10.1.0.3:80@1']);
    ctx.b2.healthy = true;
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).length === 3, 8000, 'rs2 back once healthy');
  });

  it('an unchanged virtual_server keeps its checkers running (same state, no new dest ops)', async () => {
    const file = ctx.tmp.write('k.conf', vsConf());
    const { d } = daemon(file);
    await d.start();
    ctx.b2.healthy = false;
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).length === 1, 8000, 'rs2 down');
    const n0 = ctx.lvsd.requests.length;
    expect(await d.reload()).toBe(true);
    await sleep(400);
    const after = ctx.lvsd.requests.slice(n0).filter((r) => r.op !== 'list-services');
    expect(after.map((r) => r.op)).toEqual(['replace']);
    expect(after[0]!.args.ruleset.services[0].dests.map((x: any) => x.addr)).toEqual(['10.1.0.1']);
  });

  it('a removed virtual_server leaves lvsd', async () => {
    const file = ctx.tmp.write('k.conf', vsConf() + `
virtual_server 10.0.0.101 443 {
    lb_algo rr
    lb_kind DR
    protocol TCP
${rsBlock('10.1.0.1', ctx.b1.port)}
}`);
    const { d } = daemon(file);
    await d.start();
    expect(ctx.lvsd.services).toHaveLength(2);
    ctx.tmp.write('k.conf', vsConf());
    expect(await d.reload()).toBe(true);
    expect(ctx.lvsd.services.map((s) => s.key)).toEqual([{ kind: 'addr', protocol: 'tcp', addr: VIP, port: 80 }]);
  });
});

describe('stop', () => {
  it('removes its own services and leaves foreign ones', async () => {
    const foreign = {
      key: { kind: 'fwmark' as const, fwmark: 7 }, scheduler: 'wlc' as const, persistence: 0, netmask: '255.255.255.255', ops: false, schedFlags: [], dests: [],
    };
    ctx.lvsd.services = [foreign];
    const { d } = daemon(ctx.tmp.write('k.conf', vsConf()));
    await d.start();
    expect(ctx.lvsd.services).toHaveLength(2);
    await d.stop();
    expect(ctx.lvsd.services).toEqual([foreign]);
    // No checker acts after stop.
    const n = ctx.lvsd.requests.length;
    ctx.b1.healthy = false;
    await sleep(400);
    expect(ctx.lvsd.requests.length).toBe(n);
  });

  it('lvs_flush_on_stop flushes lvsd', async () => {
    ctx.lvsd.services = [{ key: { kind: 'fwmark', fwmark: 7 }, scheduler: 'wlc', persistence: 0, netmask: '255.255.255.255', ops: false, schedFlags: [], dests: [] }];
    const { d } = daemon(ctx.tmp.write('k.conf', vsConf({ global: '  lvs_flush_on_stop' })));
    await d.start();
    await d.stop();
    expect(ctx.lvsd.ops()).toContain('flush');
    expect(ctx.lvsd.services).toEqual([]);
  });

  it('-I (dont-release-ipvs) leaves the services in lvsd', async () => {
    const { d } = daemon(ctx.tmp.write('k.conf', vsConf()), { flags: { dontReleaseIpvs: true } });
    await d.start();
    await d.stop();
    expect(ctx.lvsd.destsOf(VIP, 80)).toEqual(['10.1.0.1:80@1', '10.1.0.2:80@1']);
  });
});

describe('ha_suspend and notify scripts', () => {
  it('ha_suspend: checkers of a virtual_server whose address is not local do not probe; a local one does', async () => {
    const conf = (vip: string) => vsConf({ vsExtra: 'ha_suspend' }).replace(`virtual_server ${VIP} 80`, `virtual_server ${vip} 80`);
    const { d } = daemon(ctx.tmp.write('k.conf', conf('10.0.0.100')));
    await d.start();
    await sleep(500);
    expect(ctx.b1.hits + ctx.b2.hits).toBe(0);
    // Real servers start alive as keepalived's do; a suspended checker changes nothing.
    expect(ctx.lvsd.destsOf('10.0.0.100', 80)).toEqual(['10.1.0.1:80@1', '10.1.0.2:80@1']);
    ctx.tmp.write('k.conf', conf('127.0.0.1'));
    expect(await d.reload()).toBe(true);
    await waitFor(() => ctx.b1.hits > 0 && ctx.b2.hits > 0, 8000, 'probes once the address is local');
  });

  it('notify_down and notify_up run when a real server changes state', async () => {
    const out = `${ctx.tmp.dir}/notes`;
    const script = ctx.tmp.write('note.sh', `#!/bin/sh\necho "$1" >> ${out}\n`);
    chmodSync(script, 0o755);
    const rs2 = rsBlock('10.1.0.2', ctx.b2.port, `notify_down "${script} down"\n        notify_up "${script} up"`);
    const { d } = daemon(ctx.tmp.write('k.conf', vsConf({ rs: [rsBlock('10.1.0.1', ctx.b1.port), rs2] })));
    await d.start();
    ctx.b2.healthy = false;
    await waitFor(() => existsSync(out) && readFileSync(out, 'utf8') === 'down\n', 8000, 'notify_down ran');
    ctx.b2.healthy = true;
    await waitFor(() => readFileSync(out, 'utf8') === 'down\nup\n', 8000, 'notify_up ran');
  });

  it('omega: stopping runs notify_down for the real servers that were up', async () => {
    const out = `${ctx.tmp.dir}/omega`;
    const script = ctx.tmp.write('omega.sh', `#!/bin/sh\necho "$1" >> ${out}\n`);
    chmodSync(script, 0o755);
    const rs = [rsBlock('10.1.0.1', ctx.b1.port, `notify_down "${script} rs1-down"`), rsBlock('10.1.0.2', ctx.b2.port, `notify_down "${script} rs2-down"`)];
    const { d } = daemon(ctx.tmp.write('k.conf', vsConf({ vsExtra: 'omega', rs })));
    await d.start();
    await sleep(300);
    expect(existsSync(out)).toBe(false);
    await d.stop();
    await waitFor(() => existsSync(out) && readFileSync(out, 'utf8').split('\n').filter(Boolean).sort().join() === 'rs1-down,rs2-down', 8000, 'omega notify_down');
  });
});

describe('subsystems (-P, -C, no virtual_server)', () => {
  const VRRP = `vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.0.2.100/32
    }
}
`;
  function withFakeVrrp(file: string, flags: { vrrpOnly?: boolean; checkOnly?: boolean }) {
    const calls: string[] = [];
    const vrrp: { emit?: (ev: StateChange) => void } = {};
    const d = new KeepalivedDaemon({
      configFile: file, socket: ctx.lvsd.path, vrrpOnly: flags.vrrpOnly ?? false, checkOnly: flags.checkOnly ?? false,
      dontReleaseIpvs: false, dontReleaseVrrp: false, logDetail: false,
    }, recordingLog(), {
      checkHost: false,
      startVrrp: async (m, _log, onStateChange) => {
        vrrp.emit = onStateChange;
        calls.push(`start ${m.vrrp_instances.map((i) => i.name).join()}`);
        return { metrics: () => ({ instances: [], unattributed: {} as never }), stop: async (o) => { calls.push(`stop graceful=${o?.graceful}`); } };
      },
    });
    ctx.daemons.push(d);
    return { d, calls, vrrp };
  }

  it('-P runs VRRP only and never talks to lvsd', async () => {
    const { d, calls } = withFakeVrrp(ctx.tmp.write('k.conf', VRRP + vsConf()), { vrrpOnly: true });
    await d.start();
    await sleep(300);
    await d.stop();
    expect(calls).toEqual(['start VI_1', 'stop graceful=true']);
    expect(ctx.lvsd.requests).toEqual([]);
  });

  it('a config without virtual_server runs without lvsd', async () => {
    const { d, calls } = withFakeVrrp(ctx.tmp.write('k.conf', VRRP), {});
    await d.start();
    await d.stop();
    expect(calls).toEqual(['start VI_1', 'stop graceful=true']);
    expect(ctx.lvsd.requests).toEqual([]);
  });

  it('-C runs the checkers and lvsd, not VRRP; both without flags', async () => {
    const file = ctx.tmp.write('k.conf', VRRP + vsConf());
    const c = withFakeVrrp(file, { checkOnly: true });
    await c.d.start();
    expect(c.calls).toEqual([]);
    expect(ctx.lvsd.destsOf(VIP, 80)).toHaveLength(2);
    await c.d.stop();
    const both = withFakeVrrp(file, {});
    await both.d.start();
    expect(both.calls).toEqual(['start VI_1']);
    expect(ctx.lvsd.destsOf(VIP, 80)).toHaveLength(2);
    // A reload that leaves VRRP's configuration alone does not restart it.
    expect(await both.d.reload()).toBe(true);
    expect(both.calls).toEqual(['start VI_1']);
    ctx.tmp.write('k.conf', VRRP.replace('priority 100', 'priority 90') + vsConf());
    expect(await both.d.reload()).toBe(true);
    expect(both.calls).toEqual(['start VI_1', 'stop graceful=false', 'start VI_1']);
    await both.d.stop();
    expect(both.calls.at(-1)).toBe('stop graceful=true');
    expect(ctx.lvsd.services).toEqual([]);
  });
});

describe('lvs_sync_daemon', () => {
  it('follows its VRRP instance: backup at start, master while MASTER, backup after, stopped at the end', async () => {
    const file = ctx.tmp.write('k.conf', `global_defs {
    lvs_sync_daemon eth0 VI_1 maxlen 1400
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.0.2.100/32
    }
}
` + vsConf());
    const events: StateChange[] = [];
    let emit: ((ev: StateChange) => void) | undefined;
    // lvsd runs no sync daemon yet: the stand-in keeps the list keepalived drives.
    const daemons = ctx.lvsd.syncDaemons();
    const d = new KeepalivedDaemon({
      configFile: file, socket: ctx.lvsd.path, vrrpOnly: false, checkOnly: false, dontReleaseIpvs: false, dontReleaseVrrp: false, logDetail: false,
    }, recordingLog(), {
      checkHost: false,
      startVrrp: async (_m, _l, on) => { emit = (ev) => { events.push(ev); on(ev); }; return { metrics: () => ({ instances: [], unattributed: {} as never }), stop: async () => undefined }; },
    });
    ctx.daemons.push(d);
    await d.start();
    expect(daemons).toEqual([{ state: 'backup', mcastIfn: 'eth0', syncid: 51, maxlen: 1400 }]);
    const ev = (from: StateChange['from'], to: StateChange['to'], instance = 'VI_1'): StateChange => ({ instance, from, to, reason: 'test', priority: 100, at: 0 });
    emit!(ev('BACKUP', 'MASTER', 'VI_OTHER'));
    await sleep(100);
    expect(daemons.map((x) => x.state)).toEqual(['backup']);
    emit!(ev('BACKUP', 'MASTER'));
    await waitFor(() => daemons.map((x) => x.state).join() === 'master', 2000, 'master sync daemon');
    emit!(ev('MASTER', 'FAULT'));
    await waitFor(() => daemons.map((x) => x.state).join() === 'backup', 2000, 'back to backup');
    await d.stop();
    expect(daemons).toEqual([]);
    expect(events).toHaveLength(3);
  });
});

describe('state dump (SIGUSR1/SIGUSR2)', () => {
  it('shows each real server as the checkers and lvsd see it', async () => {
    const { d } = daemon(ctx.tmp.write('k.conf', vsConf()));
    await d.start();
    ctx.b2.healthy = false;
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).length === 1, 8000, 'rs2 down');
    // lvsd already has rs2 out; the dump's view of lvsd is refreshed after the apply, and rs1's checker may not
    // have given its first verdict yet: wait until the dump has caught up, then check all of it.
    const snapshot = () => JSON.parse(JSON.stringify(d.dumpState()));
    await waitFor(() => {
      const s = snapshot();
      return s.lvsd?.services?.[0]?.dests?.length === 1
        && s.virtual_servers[0]?.real_servers.every((r: any) => r.checkers[0].up !== undefined && r.checkers[0].up !== null);
    }, 8000, 'the dump to show rs2 out of lvsd and every checker verdict');
    const dump = snapshot();
    expect(dump.virtual_servers).toHaveLength(1);
    const rs = dump.virtual_servers[0].real_servers;
    expect(rs.map((r: any) => [r.real_server, r.alive, r.weight_in_lvsd, r.checkers[0].up])).toEqual([
      ['[10.1.0.1]:tcp:80', true, 1, true],
      ['[10.1.0.2]:tcp:80', false, null, false],
    ]);
    expect(dump.lvsd.services[0].dests).toHaveLength(1);
  });
});

describe('metrics', () => {
  it('counts probes, checker verdicts and lvsd applies', async () => {
    const metrics = new KeepalivedMetrics();
    const { d } = daemon(ctx.tmp.write('k.conf', vsConf()), { metrics });
    await d.start();
    ctx.b2.healthy = false;
    await waitFor(() => ctx.lvsd.destsOf(VIP, 80).length === 1, 8000, 'rs2 down');
    await sleep(50);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/lvs_keepalived_checker_up\{virtual_server="\[10\.0\.0\.100\]:tcp:80",real_server="\[10\.1\.0\.2\]:tcp:80",checker="[^"]+"\} 0/);
    expect(text).toMatch(/lvs_keepalived_real_server_weight\{virtual_server="\[10\.0\.0\.100\]:tcp:80",real_server="\[10\.1\.0\.2\]:tcp:80"\} -1/);
    expect(text).toMatch(/lvs_keepalived_checker_probes_total\{[^}]*real_server="\[10\.1\.0\.2\]:tcp:80"[^}]*result="fail"\} [1-9]/);
    expect(text).toMatch(/lvs_keepalived_lvsd_applies_total\{kind="replace",result="ok"\} 1/);
    expect(text).toMatch(/lvs_keepalived_virtual_server_quorum\{virtual_server="\[10\.0\.0\.100\]:tcp:80"\} 1/);
  });
});
