// lvs-keepalived end to end over IPv6 (issue 16), NEEDS lvsd WITH IPv6 (the
// v6 branch): lvsd and lvs-keepalived -C in the director namespace (the VIP
// already on it, as keepalived-dr.test.ts has it), an IPv6 DR virtual_server
// with HTTP_GET checkers and a virtual_server_group range, real servers in
// their namespaces with the VIP on lo, and `curl -6` from a client. The
// service and dests lvsd lists are the requests lvs-keepalived made; a real
// server whose web server stops leaves them, and comes back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, missingPrerequisites, run, waitFor, type NsProcess } from '../../lab/netns.js';
import { waitListening } from '../../lab/topology.js';
import { curlMany, removeLabSockets, startLvsd, tally, type Lvsd } from '../../lab/director.js';
import { BIN, RS_DIR } from '../../lab/paths.js';
import { V6, buildLan6, type Host6 } from '../../lab/vrrp-testbed.js';
import type { ServiceStatus } from '../../src/ipvs/types.js';

const missing = await missingPrerequisites(['ip', 'curl', 'nft', 'keepalived']);
if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);

const VIP = V6.vip;

async function destsOf(lvsd: Lvsd, vip: string, port = 80): Promise<string[]> {
  const list = await lvsd.call('list-services', {}) as ServiceStatus[];
  const s = list.find((x) => x.key.kind === 'addr' && x.key.addr === vip && x.key.port === port);
  return (s?.dests ?? []).map((d) => `[${d.addr}]:${d.port}`).sort();
}

/** Kill the lab httpd of one real server: found by namespace, never by a name other runs share. */
async function killHttpd(lab: Lab, host: string): Promise<void> {
  const { stdout } = await run(['ip', 'netns', 'pids', lab.ns(host)]);
  let killed = 0;
  for (const pid of stdout.split(/\s+/).filter(Boolean)) {
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { continue; }
    if (cmd.includes('httpd.mjs')) { process.kill(Number(pid), 'SIGKILL'); killed++; }
  }
  if (killed === 0) throw new Error(`no httpd found in ${host}`);
}

describe.skipIf(missing.length > 0)('lvs-keepalived with lvsd over IPv6 (lab; needs lvsd with IPv6)', () => {
  let lab: Lab;
  let hosts: Map<string, Host6>;
  let lvsd: Lvsd;
  let ka: NsProcess | undefined;
  let kaExit: number | null | undefined;
  const tmp = mkdtempSync(join(tmpdir(), 'lvs-keepalived6-'));
  const conf = join(tmp, 'keepalived.conf');
  const rs = (n: string) => hosts.get(n)!.addr;

  beforeAll(async () => {
    lab = new Lab('k6');
    hosts = await buildLan6(lab, [{ name: 'client', n: 0x01 }, { name: 'dir', n: 0x11 }, { name: 'rs1', n: 0x12 }, { name: 'rs2', n: 0x13 }]);
    // DR: each real server takes the VIP on lo (IPv6 neighbour discovery answers for eth0's own addresses only).
    for (const r of ['rs1', 'rs2']) {
      await lab.exec(r, ['ip', 'addr', 'add', `${VIP}/128`, 'dev', 'lo']);
      lab.spawn(r, ['node', join(RS_DIR, 'httpd.mjs'), r, '--port', '80', '--bind', '::']);
    }
    for (const r of ['rs1', 'rs2']) await waitListening(lab, r, 80);
    // preferred_lft 0, as keepalived advises for an IPv6 VIP (virtual_ipaddress … preferred_lft 0): a deprecated address
    // is never picked as a source, so the checkers speak from the director's own address, not from the VIP the real
    // servers hold on lo (their answers would stay with them).
    await lab.exec('dir', ['ip', 'addr', 'add', `${VIP}/64`, 'dev', 'eth0', 'nodad', 'preferred_lft', '0']);
    lvsd = await startLvsd(lab, 'dir', { interfaces: ['eth0'] });
    writeFileSync(conf, `virtual_server_group V6 {
    2001:db8:66::200-201 8080
}
virtual_server ${VIP} 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server ${rs('rs1')} 80 {
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server ${rs('rs2')} 80 {
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
virtual_server group V6 {
    lb_algo wrr
    lb_kind DR
    protocol TCP
    persistence_timeout 60
    persistence_granularity 64
    real_server ${rs('rs1')} 8080 {
        weight 2
    }
}
`);
  }, 120_000);

  afterAll(async () => {
    try {
      if (ka && kaExit === undefined) ka.kill('SIGKILL');
    } finally {
      await lab?.destroy();
      if (lab) removeLabSockets(lab);
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 60_000);

  it('-t accepts the IPv6 config in the director namespace, as Debian keepalived does', async () => {
    const ours = await lab.exec('dir', ['node', BIN.keepalived, '-t', '-f', conf], { check: false });
    expect(ours.code, ours.stderr).toBe(0);
    const theirs = await lab.exec('dir', ['keepalived', '-t', '-f', conf], { check: false });
    expect(ours.code).toBe(theirs.code);
  });

  it('applies the IPv6 services as lvs-keepalived asks (netmask a prefix length, the group range one service per address); curl -6 reaches both real servers', async () => {
    ka = lab.spawn('dir', ['node', BIN.keepalived, '-C', '-n', '-l', '-D', '-f', conf, '--socket', lvsd.socket]);
    void ka.exited.then((c) => { kaExit = c; });
    await waitFor(async () => {
      if (kaExit !== undefined) throw new Error(`lvs-keepalived exited ${kaExit}:\n${ka!.output()}`);
      return (await destsOf(lvsd, VIP)).length === 2;
    }, 20_000, 100, 'both real servers in lvsd').catch((e: Error) => { throw new Error(`${e.message}\n${ka!.output()}`); });
    const list = await lvsd.call('list-services', {}) as ServiceStatus[];
    expect(list.map((s) => s.key).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
      { kind: 'addr', protocol: 'tcp', addr: '2001:db8:66::100', port: 80 },
      { kind: 'addr', protocol: 'tcp', addr: '2001:db8:66::200', port: 8080 },
      { kind: 'addr', protocol: 'tcp', addr: '2001:db8:66::201', port: 8080 },
    ]);
    const web = list.find((s) => s.key.kind === 'addr' && s.key.port === 80)!;
    expect(web).toMatchObject({ scheduler: 'rr', netmask: '128', persistence: 0 });
    expect(web.dests.map((d) => [d.addr, d.port, d.fwd, d.weight])).toEqual([[rs('rs1'), 80, 'route', 1], [rs('rs2'), 80, 'route', 1]]);
    for (const g of list.filter((s) => s.key.kind === 'addr' && s.key.port === 8080)) {
      expect(g).toMatchObject({ scheduler: 'wrr', netmask: '64', persistence: 60 });
      expect(g.dests.map((d) => [d.addr, d.port, d.weight])).toEqual([[rs('rs1'), 8080, 2]]);
    }
    // lvsadm prints them as ipvsadm does.
    const ln = (await lvsd.lvsadm(['-Ln'])).stdout;
    expect(ln).toContain(`TCP  [${VIP}]:80 rr\n`);
    const answers = tally(await curlMany(lab, 'client', `http://[${VIP}]/`, 10, { extra: '-6 -g' }));
    expect(answers, JSON.stringify(answers)).toEqual({ 'from rs1': 5, 'from rs2': 5 });
  }, 60_000);

  it('an IPv6 real server whose web server dies leaves; no request fails after; it comes back', async () => {
    await waitFor(() => [rs('rs1'), rs('rs2')].every((ip) => new RegExp(`HTTP_GET \\[${ip}\\]:80 [^"]*: success`).test(ka!.output())),
      10_000, 100, 'first checker verdicts');
    await killHttpd(lab, 'rs1');
    await waitFor(async () => (await destsOf(lvsd, VIP)).join() === `[${rs('rs2')}]:80`, 10_000, 100, 'rs1 to leave the service')
      .catch((e: Error) => { throw new Error(`${e.message}\n${ka!.output()}`); });
    expect(tally(await curlMany(lab, 'client', `http://[${VIP}]/`, 10, { extra: '-6 -g' }))).toEqual({ 'from rs2': 10 });
    lab.spawn('rs1', ['node', join(RS_DIR, 'httpd.mjs'), 'rs1', '--port', '80', '--bind', '::']);
    await waitListening(lab, 'rs1', 80);
    await waitFor(async () => (await destsOf(lvsd, VIP)).length === 2, 10_000, 100, 'rs1 back');
    expect(tally(await curlMany(lab, 'client', `http://[${VIP}]/`, 10, { extra: '-6 -g' }))).toEqual({ 'from rs1': 5, 'from rs2': 5 });
  }, 60_000);
});
