// fwmark services end to end (issue 16): the user's own MARK rule (iptables-nft
// in the DR lab, nftables in the NAT lab) marks ports 80 and 8080 of the VIP
// with 1; `lvsadm -A -f 1 -s rr -p 300` balances both as one group, each
// client sticking to one real server across the ports, as IPVS does. The
// packets reach lvsd through NFQUEUE (src/io/nfqueue.ts). Also: what
// lvs-keepalived makes of `virtual_server fwmark 1`, and kill -9 / restart
// with the queue rule in lvsd's own table.
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModeLab, destroyModeLab, diagnoseOnFailure, prerequisites, bigSha, FLAG, type ModeLab } from './forward-suite.js';
import { curlMany, lvsdTables, startLvsd, tally } from '../../lab/director.js';
import { run, waitFor, type Lab, type NsProcess } from '../../lab/netns.js';
import { waitListening } from '../../lab/topology.js';
import { BIN, RS_DIR } from '../../lab/paths.js';
import { hashSinkScript } from '../../lab/py.js';
import type { ServiceStatus } from '../../src/ipvs/types.js';

const esc = (s: string) => s.replace(/\./g, '\\.');

/** An HTTP server on 8080 beside the lab's own on 80, on every real server. */
async function serve8080(m: ModeLab): Promise<void> {
  for (const r of m.topo.rs) m.lab.spawn(r.name, ['node', join(RS_DIR, 'httpd.mjs'), r.name, '--port', '8080']);
  for (const r of m.topo.rs) await waitListening(m.lab, r.name, 8080);
}

/** A second client on the client's subnet (the switch `sw` for DR, `pub` for NAT). */
async function addClient2(m: ModeLab): Promise<string> {
  const nat = m.mode === 'nat';
  const ip = nat ? '192.168.160.2' : '192.168.150.2';
  await m.lab.addNs('client2');
  await m.lab.plug('client2', 'eth0', nat ? 'pub' : 'sw', { addr: `${ip}/24` });
  return ip;
}

/** Both ports, n requests each, alternating: the answering servers' names. */
async function bothPorts(lab: Lab, host: string, vip: string, n: number): Promise<string[]> {
  const script = `for i in $(seq ${n}); do for p in 80 8080; do curl -s -m 3 http://${vip}:$p/ || echo ERR; done; done`;
  const { stdout } = await lab.sh(host, script, { timeoutMs: 60_000 });
  return stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

async function fwmarkRules(m: ModeLab, persistence = 300): Promise<void> {
  await m.rules([
    ['-A', '-f', '1', '-s', 'rr', ...(persistence ? ['-p', String(persistence)] : [])],
    ...m.topo.rs.map((r) => ['-a', '-f', '1', '-r', r.ip, FLAG[m.mode]]),
  ]);
}

/** The `queue num` rules in lvsd's fwmark chain (nft prints the xt NFQUEUE target that way). */
async function queueRules(lab: Lab): Promise<number> {
  const tables = await lvsdTables(lab, 'dir');
  const ip = tables.find((t) => t.startsWith('ip '));
  if (!ip) return 0;
  const { stdout } = await lab.exec('dir', ['nft', 'list', 'table', ...ip.split(' ')]);
  return (stdout.match(/queue num \d+/g) ?? []).length;
}

function tests(mode: 'dr' | 'nat'): void {
  describe(`lvsd forwards a fwmark service: ${mode.toUpperCase()}`, async () => {
    const missing = await prerequisites(['iptables']);
    const skip = missing.length > 0;
    let m: ModeLab | undefined;
    let client2 = '';
    beforeAll(async () => {
      if (skip) return;
      m = await buildModeLab(mode, {}, undefined, `w${mode}`);
      await serve8080(m);
      client2 = await addClient2(m);
      const vip = m.topo.vip;
      if (mode === 'dr') {
        // The classic LVS recipe: iptables (here iptables-nft) marks the group in mangle PREROUTING.
        await m.lab.exec('dir', ['iptables', '-t', 'mangle', '-A', 'PREROUTING', '-d', `${vip}/32`, '-p', 'tcp', '-m', 'multiport', '--dports', '80,8080,9000', '-j', 'MARK', '--set-mark', '1']);
        // Pings of the VIP too: the engine has nothing to do with them and hands them back.
        await m.lab.exec('dir', ['iptables', '-t', 'mangle', '-A', 'PREROUTING', '-d', `${vip}/32`, '-p', 'icmp', '-j', 'MARK', '--set-mark', '1']);
      } else {
        await m.lab.exec('dir', ['nft', '-f', '-'], {
          input: `table ip usermark {\n  chain pre {\n    type filter hook prerouting priority mangle; policy accept;\n    ip daddr ${vip} tcp dport { 80, 8080 } meta mark set 1\n  }\n}\n`,
        });
      }
    }, 120_000);
    afterAll(async () => { await destroyModeLab(m); });
    const test = (name: string, fn: () => Promise<void>, timeout = 90_000) => it.skipIf(skip)(name, async () => { diagnoseOnFailure(() => m); await fn(); }, timeout);

    test('-A -f 1 -p 300: one client sticks to one real server on both ports; a second client is spread to the other', async () => {
      const { lab, topo, lvsd } = m!;
      await fwmarkRules(m!);
      const before = await lvsd.call('get-counters', {});
      const one = await bothPorts(lab, 'client', topo.vip, 5);
      expect(one).toHaveLength(10);
      expect(new Set(one).size, one.join(',')).toBe(1);
      const two = await bothPorts(lab, 'client2', topo.vip, 5);
      expect(new Set(two).size, two.join(',')).toBe(1);
      // rr gave the second client's template the other server.
      expect(two[0]).not.toBe(one[0]);
      expect(new Set([one[0], two[0]])).toEqual(new Set(['from rs1', 'from rs2']));
      const after = await lvsd.call('get-counters', {});
      const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
      expect(d('nfq_packets')).toBeGreaterThan(0);
      expect(d('nfq_forwarded')).toBeGreaterThan(0);
      // Each packet once: the packet sockets never saw the group's packets (their filter is by VIP:port).
      expect(d('ignore_fwmark_unmarked')).toBe(0);
      for (const k of ['nfq_faults', 'nfq_malformed', 'nfq_drop_truncated', 'nfq_engine_errors', 'nfq_send_errors', 'nfq_netlink_errors', 'nfq_kernel_queue_dropped', 'nfq_kernel_user_dropped']) expect(d(k), k).toBe(0);
    });

    test('-Ln, -Lnc and -S show the fwmark service as ipvsadm does', async () => {
      const { topo, lvsd } = m!;
      await fwmarkRules(m!);
      await bothPorts(m!.lab, 'client', topo.vip, 1);
      const fwd = { dr: 'Route', nat: 'Masq' }[mode];
      const ln = (await lvsd.lvsadm(['-Ln'])).stdout;
      expect(ln).toContain('FWM  1 rr persistent 300\n');
      for (const r of topo.rs) expect(ln).toMatch(new RegExp(`^  -> ${esc(r.ip)}:0\\s+${fwd}\\s+1\\s+`, 'm'));
      const lnc = (await lvsd.lvsadm(['-Lnc'])).stdout;
      // Conns keep the real VIP:port; the template is IP, client:0 → mark 0.0.0.1:0.
      expect(lnc).toMatch(new RegExp(`^TCP\\s+\\d\\d:\\d\\d\\s+\\S+\\s+${esc(topo.client.ip)}:\\d+\\s+${esc(topo.vip)}:80\\s+`, 'm'));
      expect(lnc).toMatch(new RegExp(`^TCP\\s+\\d\\d:\\d\\d\\s+\\S+\\s+${esc(topo.client.ip)}:\\d+\\s+${esc(topo.vip)}:8080\\s+`, 'm'));
      expect(lnc).toMatch(new RegExp(`^IP\\s+0[45]:\\d\\d\\s+NONE\\s+${esc(topo.client.ip)}:0\\s+0\\.0\\.0\\.1:0\\s+192\\.168\\.150\\.1[23]:0$`, 'm'));
      // nft decodes the rule lvsd wrote over netlink (xt NFQUEUE through nft_compat) back into its own syntax.
      const ipTable = (await lvsdTables(m!.lab, 'dir')).find((t) => t.startsWith('ip '))!;
      const chain = (await m!.lab.exec('dir', ['nft', 'list', 'chain', ...ipTable.split(' '), 'fwmark'])).stdout;
      expect(chain).toMatch(/type filter hook prerouting priority 300; policy accept;\n\s+meta mark @fwmarks fib daddr \. mark type local counter packets [1-9]\d* bytes \d+ queue num \d+\n/);
      expect((await m!.lab.exec('dir', ['nft', 'list', 'set', ...ipTable.split(' '), 'fwmarks'])).stdout).toMatch(/elements = \{ 0x00000001 \}/);
      const trace = (await lvsd.lvsadm(['--trace', '-f', '1', '--client', topo.client.ip, '-n'])).stdout;
      expect(trace).toMatch(new RegExp(`^FWM  1 from ${esc(topo.client.ip)}:0\\n  -> 192\\.168\\.150\\.1[23]:0 ${fwd}: persistence template \\(every port of the mark\\)\\n$`));
      const save = (await lvsd.lvsadm(['-S', '-n'])).stdout;
      expect(save).toContain('-A -f 1 -s rr -p 300\n');
      expect(save).toContain(`-a -f 1 -r ${topo.rs[0]!.ip}:0 ${FLAG[mode]} -w 1\n`);
    });

    if (mode === 'dr') {
      test('a marked packet that is not the engine\'s business (a ping of the VIP) goes back to the stack (NF_ACCEPT), which answers it', async () => {
        const { lab, topo, lvsd } = m!;
        await fwmarkRules(m!);
        const before = await lvsd.call('get-counters', {});
        await lab.exec('client', ['ping', '-c', '3', '-i', '0.2', '-W', '2', topo.vip]);
        const after = await lvsd.call('get-counters', {});
        expect((after.nfq_verdict_accept ?? 0) - (before.nfq_verdict_accept ?? 0)).toBe(3);
        expect((after.ignore_icmp_no_conn ?? 0) - (before.ignore_icmp_no_conn ?? 0)).toBe(3);
      });

      test('bulk upload through the group (the kernel segments super-packets before queueing): 10 MB arrive intact', async () => {
        const { lab, topo, lvsd } = m!;
        const sinks: NsProcess[] = topo.rs.map((r) => lab.spawn(r.name, ['python3', '-c', hashSinkScript(9000)]));
        try {
          for (const r of topo.rs) await waitListening(lab, r.name, 9000);
          await fwmarkRules(m!);
          const send = `
import hashlib, random, socket
data = random.Random(16).randbytes(10 * 1024 * 1024)
c = socket.socket(); c.settimeout(30); c.connect(('${topo.vip}', 9000)); c.sendall(data); c.shutdown(socket.SHUT_WR)
print('%d %s' % (len(data), hashlib.sha256(data).hexdigest())); print(c.makefile().readline().strip())
`;
          const { stdout } = await lab.exec('client', ['python3', '-c', send], { timeoutMs: 60_000 });
          const [sent, got] = stdout.trim().split('\n');
          expect(got).toBe(sent);
          const c = await lvsd.call('get-counters', {});
          expect(c.nfq_drop_oversize ?? 0).toBe(0);
        } finally {
          for (const s of sinks) s.kill('SIGKILL');
        }
      });
    } else {
      test('a 10 MB download from port 8080 of the group arrives intact (replies SNATed by the packet-socket path)', async () => {
        const { lab, topo } = m!;
        await fwmarkRules(m!);
        const size = 10 * 1024 * 1024;
        const { stdout } = await lab.sh('client', `curl -s -m 60 'http://${topo.vip}:8080/big?size=${size}' | sha256sum`, { timeoutMs: 70_000 });
        expect(stdout.split(' ')[0]).toBe(await bigSha(lab, size));
      });
    }

    test('without persistence the group is balanced per connection: rr alternates across both ports', async () => {
      const { lab, topo } = m!;
      await fwmarkRules(m!, 0);
      const t = tally(await bothPorts(lab, 'client', topo.vip, 5));
      expect(t).toEqual({ 'from rs1': 5, 'from rs2': 5 });
      expect(client2).not.toBe('');
    });

    if (mode === 'dr') {
      test('lvs-keepalived: virtual_server fwmark 1 is applied; TCP_CHECK on the real_server port takes a dead server out of the whole group', async () => {
        const { lab, topo, lvsd } = m!;
        await lvsd.lvsadm(['-C']);
        const tmp = mkdtempSync(join(tmpdir(), 'lvs-fwmark-'));
        const conf = join(tmp, 'keepalived.conf');
        writeFileSync(conf, `global_defs {\n  router_id fwlab\n}\nvirtual_server fwmark 1 {\n  delay_loop 1\n  lb_algo rr\n  lb_kind DR\n  persistence_timeout 300\n  protocol TCP\n${
          topo.rs.map((r) => `  real_server ${r.ip} 80 {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 1\n      retry 0\n    }\n  }\n`).join('')}}\n`);
        const ka = lab.spawn('dir', ['node', BIN.keepalived, '-C', '-n', '-l', '-f', conf, '--socket', lvsd.socket]);
        onTestFailed(() => { process.stderr.write(`--- lvs-keepalived output ---\n${ka.output().slice(-4000)}\n`); });
        try {
          const dests = async () => {
            const l = await lvsd.call('list-services', {}) as ServiceStatus[];
            return (l.find((s) => s.key.kind === 'fwmark' && s.key.fwmark === 1)?.dests ?? []).map((d) => `${d.addr}:${d.port}`).sort();
          };
          await waitFor(async () => (await dests()).length === 2, 15_000, 100, 'the fwmark service with both real servers');
          const ln = (await lvsd.lvsadm(['-Ln'])).stdout;
          expect(ln).toContain('FWM  1 rr persistent 300\n');
          const one = await bothPorts(lab, 'client', topo.vip, 3);
          expect(new Set(one).size, one.join(',')).toBe(1);
          // The client's server loses its port-80 web server: the check (port 80) takes it out, and
          // the client's next connections, on either port, go to the other server.
          const held = topo.rs.find((r) => one[0] === `from ${r.name}`)!;
          const other = topo.rs.find((r) => r !== held)!;
          await killHttpdOnPort(lab, held.name, 80);
          // keepalived clears a fwmark DR real server's port (the service has none); its checker keeps the one written.
          await waitFor(async () => (await dests()).join() === `${other.ip}:0`, 15_000, 100, `${held.name} out of the service`);
          const after = await bothPorts(lab, 'client', topo.vip, 2);
          expect(tally(after)).toEqual({ [`from ${other.name}`]: 4 });
          lab.spawn(held.name, ['node', join(RS_DIR, 'httpd.mjs'), held.name, '--port', '80']);
          await waitFor(async () => (await dests()).length === 2, 15_000, 100, `${held.name} back`);
        } finally {
          ka.kill('SIGTERM');
          await Promise.race([ka.exited, new Promise((r) => setTimeout(r, 5000))]);
          rmSync(tmp, { recursive: true, force: true });
        }
      }, 120_000);

      test('kill -9: the queue rule stays and drops (fail closed, no RST from the director); a restart removes it, and re-adding the service installs exactly one', async () => {
        const { lab, topo } = m!;
        await fwmarkRules(m!);
        expect(new Set(await bothPorts(lab, 'client', topo.vip, 1)).size).toBe(1);
        expect(await queueRules(lab)).toBe(1);
        const queue = /queue num (\d+)/.exec((await lab.exec('dir', ['nft', 'list', 'ruleset'])).stdout)![1]!;
        await m!.lvsd.kill9();
        // lvsd is gone: its tables stay (the addr drops, and the fwmark chain with its rule), no one reads the queue.
        expect((await lvsdTables(lab, 'dir')).map((t) => t.split(' ')[0]).sort()).toEqual(['ip', 'netdev']);
        expect(await queueRules(lab)).toBe(1);
        const proc = await lab.exec('dir', ['cat', '/proc/net/netfilter/nfnetlink_queue']);
        expect(proc.stdout.split('\n').some((l) => l.trim().split(/\s+/)[0] === queue)).toBe(false);
        // A marked SYN is dropped: curl times out (28), it is not refused (7) by the director's stack.
        const down = await lab.exec('client', ['curl', '-s', '-m', '2', `http://${topo.vip}:8080/`], { check: false });
        expect(down.code).toBe(28);
        m!.lvsd = await startLvsd(lab, 'dir', { socket: m!.lvsd.socket });
        // The fresh start removed the crashed run's fwmark table: nothing is queued until a fwmark service exists.
        expect(await lvsdTables(lab, 'dir')).toHaveLength(1);
        const open = await lab.exec('client', ['curl', '-s', '-m', '2', `http://${topo.vip}:8080/`], { check: false });
        expect(open.code).toBe(7);
        await fwmarkRules(m!);
        expect(await queueRules(lab)).toBe(1);
        // A second ruleset only changes the set: still one rule.
        await fwmarkRules(m!, 60);
        expect(await queueRules(lab)).toBe(1);
        const t = await bothPorts(lab, 'client', topo.vip, 3);
        expect(new Set(t).size, t.join(',')).toBe(1);
        // A clean stop takes both tables away.
        expect(await m!.lvsd.stop()).toBe(0);
        expect(await lvsdTables(lab, 'dir')).toEqual([]);
        m!.lvsd = await startLvsd(lab, 'dir', { socket: m!.lvsd.socket });
      });
    }
  });
}

/** Kill one real server's httpd on `port` (found by namespace and command line, never by a shared name). */
async function killHttpdOnPort(lab: Lab, host: string, port: number): Promise<void> {
  const { stdout } = await run(['ip', 'netns', 'pids', lab.ns(host)]);
  let killed = 0;
  for (const pid of stdout.split(/\s+/).filter(Boolean)) {
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { continue; }
    const args = cmd.split('\0');
    const p = args.indexOf('--port');
    const listens = p >= 0 ? Number(args[p + 1]) : 80;
    if (cmd.includes('httpd.mjs') && listens === port) { process.kill(Number(pid), 'SIGKILL'); killed++; }
  }
  if (killed === 0) throw new Error(`no httpd on ${port} found in ${host}`);
}

tests('dr');
tests('nat');
