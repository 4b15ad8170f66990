// IPv6 fwmark services end to end: the user's MARK rule (ip6tables-nft in
// the DR lab, nftables in the NAT lab) marks ports 80 and 8080 of the IPv6
// VIP with 1; `lvsadm -A -f 1 -6 -s rr -p 300` balances both as one group,
// each client sticking to one real server across the ports, as IPVS does.
// The packets reach lvsd through NFQUEUE from lvsd's own `ip6` table (the
// same queue as the `ip` one), and the engine takes them on its IPv6 path
// with their mark. An IPv4 fwmark service of the same mark beside it only
// ever gets IPv4 packets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { buildModeLab, destroyModeLab, diagnoseOnFailure, prerequisites, bigSha, FLAG, type ModeLab } from './forward-suite.js';
import { lvsdTables, tally } from '../../lab/director.js';
import type { Lab } from '../../lab/netns.js';
import { waitListening } from '../../lab/topology.js';
import { RS_DIR } from '../../lab/paths.js';

const esc = (s: string) => s.replace(/[.[\]]/g, '\\$&');

/** An HTTP server on 8080 (both families) beside the lab's own on 80, on every real server. */
async function serve8080(m: ModeLab): Promise<void> {
  for (const r of m.topo.rs) m.lab.spawn(r.name, ['node', join(RS_DIR, 'httpd.mjs'), r.name, '--port', '8080', '--bind', '::']);
  for (const r of m.topo.rs) await waitListening(m.lab, r.name, 8080);
}

/** A second client on the client's subnet (the switch `sw` for DR, `pub` for NAT), IPv6 only. */
async function addClient2(m: ModeLab): Promise<string> {
  const nat = m.mode === 'nat';
  const ip = nat ? '2001:db8:160::2' : '2001:db8:150::2';
  await m.lab.addNs('client2');
  await m.lab.plug('client2', 'eth0', nat ? 'pub' : 'sw');
  await m.lab.exec('client2', ['ip', '-6', 'addr', 'add', `${ip}/64`, 'dev', 'eth0', 'nodad']);
  return ip;
}

/** Both ports, n requests each, alternating, over IPv6: the answering servers' names. */
async function bothPorts(lab: Lab, host: string, vip6: string, n: number): Promise<string[]> {
  const script = `for i in $(seq ${n}); do for p in 80 8080; do curl -6 -g -s -m 3 "http://[${vip6}]:$p/" || echo ERR; done; done`;
  const { stdout } = await lab.sh(host, script, { timeoutMs: 60_000 });
  return stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

async function fwmarkRules(m: ModeLab, persistence = 300): Promise<void> {
  await m.rules([
    ['-A', '-f', '1', '-6', '-s', 'rr', ...(persistence ? ['-p', String(persistence)] : [])],
    ...m.topo.rs.map((r) => ['-a', '-f', '1', '-6', '-r', `[${r.ip6}]:0`, FLAG[m.mode]]),
  ]);
}

function tests(mode: 'dr' | 'nat'): void {
  describe(`lvsd forwards an IPv6 fwmark service: ${mode.toUpperCase()}`, async () => {
    const missing = await prerequisites(['ip6tables', 'ping']);
    const skip = missing.length > 0;
    let m: ModeLab | undefined;
    let client2 = '';
    beforeAll(async () => {
      if (skip) return;
      m = await buildModeLab(mode, {}, undefined, `y${mode}`, { ipv6: true });
      await serve8080(m);
      client2 = await addClient2(m);
      const vip6 = m.topo.vip6!;
      if (mode === 'dr') {
        // The classic recipe, for IPv6: ip6tables (here ip6tables-nft) marks the group in mangle PREROUTING.
        await m.lab.exec('dir', ['ip6tables', '-t', 'mangle', '-A', 'PREROUTING', '-d', `${vip6}/128`, '-p', 'tcp', '-m', 'multiport', '--dports', '80,8080', '-j', 'MARK', '--set-mark', '1']);
        // Pings of the VIP too: echo is not the engine's; it hands them back to the stack.
        await m.lab.exec('dir', ['ip6tables', '-t', 'mangle', '-A', 'PREROUTING', '-d', `${vip6}/128`, '-p', 'ipv6-icmp', '--icmpv6-type', 'echo-request', '-j', 'MARK', '--set-mark', '1']);
      } else {
        await m.lab.exec('dir', ['nft', '-f', '-'], {
          input: `table ip6 usermark {\n  chain pre {\n    type filter hook prerouting priority mangle; policy accept;\n    ip6 daddr ${vip6} tcp dport { 80, 8080 } meta mark set 1\n  }\n}\n`,
        });
      }
    }, 120_000);
    afterAll(async () => { await destroyModeLab(m); });
    const test = (name: string, fn: () => Promise<void>, timeout = 90_000) => it.skipIf(skip)(name, async () => { diagnoseOnFailure(() => m); await fn(); }, timeout);

    test('-A -f 1 -6 -p 300: one client sticks to one real server on both ports; a second client is spread to the other', async () => {
      const { lab, topo, lvsd } = m!;
      await fwmarkRules(m!);
      const before = await lvsd.call('get-counters', {});
      const one = await bothPorts(lab, 'client', topo.vip6!, 5);
      expect(one).toHaveLength(10);
      expect(new Set(one).size, one.join(',')).toBe(1);
      expect(one[0]).toMatch(/^from rs[12]$/);
      const two = await bothPorts(lab, 'client2', topo.vip6!, 5);
      expect(new Set(two).size, two.join(',')).toBe(1);
      // rr gave the second client's template the other server.
      expect(new Set([one[0], two[0]])).toEqual(new Set(['from rs1', 'from rs2']));
      const after = await lvsd.call('get-counters', {});
      const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
      expect(d('nfq_packets')).toBeGreaterThan(0);
      expect(d('nfq_forwarded')).toBeGreaterThan(0);
      expect(d('ignore_fwmark_unmarked')).toBe(0);
      for (const k of ['nfq_faults', 'nfq_malformed', 'nfq_drop_truncated', 'nfq_engine_errors', 'nfq_send_errors', 'nfq_netlink_errors', 'nfq_kernel_queue_dropped', 'nfq_kernel_user_dropped']) expect(d(k), k).toBe(0);
      expect(client2).not.toBe('');
    });

    test('-Ln, -Lnc, --trace and -S show the IPv6 fwmark service as ipvsadm does; lvsd\'s ip6 table holds the queue rule and the mark', async () => {
      const { topo, lvsd, lab } = m!;
      await fwmarkRules(m!);
      await bothPorts(lab, 'client', topo.vip6!, 1);
      const fwd = { dr: 'Route', nat: 'Masq' }[mode];
      const ln = (await lvsd.lvsadm(['-Ln'])).stdout;
      expect(ln).toContain('FWM  1 IPv6 rr persistent 300\n');
      for (const r of topo.rs) expect(ln).toMatch(new RegExp(`^  -> ${esc(`[${r.ip6}]`)}:0\\s+${fwd}\\s+1\\s+`, 'm'));
      const lnc = (await lvsd.lvsadm(['-Lnc'])).stdout;
      // Conns keep the real VIP:port; the template is IP, [client]:0 → the mark as nf_inet_addr (0:1::), port 0.
      const c6 = esc(`[${topo.client.ip6}]`);
      expect(lnc).toMatch(new RegExp(`^TCP\\s+\\d\\d:\\d\\d\\s+\\S+\\s+${c6}:\\d+\\s+${esc(`[${topo.vip6}]`)}:80\\s+`, 'm'));
      expect(lnc).toMatch(new RegExp(`^TCP\\s+\\d\\d:\\d\\d\\s+\\S+\\s+${c6}:\\d+\\s+${esc(`[${topo.vip6}]`)}:8080\\s+`, 'm'));
      expect(lnc).toMatch(new RegExp(`^IP\\s+0[45]:\\d\\d\\s+NONE\\s+${c6}:0\\s+\\[0:1::\\]:0\\s+\\[2001:db8:150::1[23]\\]:0$`, 'm'));
      const tables = await lvsdTables(lab, 'dir');
      expect(tables.map((t) => t.split(' ')[0]).sort()).toEqual(['ip6', 'netdev']);
      const ip6 = tables.find((t) => t.startsWith('ip6 '))!;
      // nft decodes the rule lvsd wrote over netlink (xt NFQUEUE through nft_compat, NFPROTO_IPV6) in its own syntax.
      const chain = (await lab.exec('dir', ['nft', 'list', 'chain', ...ip6.split(' '), 'fwmark'])).stdout;
      expect(chain).toMatch(/type filter hook prerouting priority 300; policy accept;\n\s+meta mark @fwmarks fib daddr \. mark type local counter packets [1-9]\d* bytes \d+ queue num \d+\n/);
      expect((await lab.exec('dir', ['nft', 'list', 'set', ...ip6.split(' '), 'fwmarks'])).stdout).toMatch(/elements = \{ 0x00000001 \}/);
      const trace = (await lvsd.lvsadm(['--trace', '-f', '1', '-6', '--client', topo.client.ip6!, '-n'])).stdout;
      expect(trace).toMatch(/ -> \[2001:db8:150::1[23]\]:0 \w+: persistence template \(every port of the mark\)\n$/);
      const save = (await lvsd.lvsadm(['-S', '-n'])).stdout;
      expect(save).toContain('-A -f 1 -6 -s rr -p 300\n');
    });

    test('an IPv4 fwmark service of the same mark beside it: IPv4 packets marked 1 go there, IPv6 ones to the IPv6 service; both tables', async () => {
      const { lab, topo, lvsd } = m!;
      await m!.rules([
        ['-A', '-f', '1', '-6', '-s', 'rr'], ['-a', '-f', '1', '-6', '-r', `[${topo.rs[0]!.ip6}]:0`, FLAG[mode]],
        ['-A', '-f', '1', '-s', 'rr'], ['-a', '-f', '1', '-r', `${topo.rs[1]!.ip}:0`, FLAG[mode]],
      ]);
      const vip4 = topo.vip;
      // The IPv4 group: the same ports of the IPv4 VIP, marked by the user's own IPv4 rule.
      if (mode === 'dr') {
        await lab.exec('dir', ['iptables', '-t', 'mangle', '-A', 'PREROUTING', '-d', `${vip4}/32`, '-p', 'tcp', '--dport', '8080', '-j', 'MARK', '--set-mark', '1']);
      } else {
        await lab.exec('dir', ['nft', 'add', 'table', 'ip', 'usermark4']);
        await lab.exec('dir', ['nft', 'add', 'chain', 'ip', 'usermark4', 'pre', '{ type filter hook prerouting priority mangle; }']);
        await lab.exec('dir', ['nft', 'add', 'rule', 'ip', 'usermark4', 'pre', 'ip', 'daddr', vip4, 'tcp', 'dport', '8080', 'meta', 'mark', 'set', '1']);
      }
      try {
        const v6 = (await lab.sh('client', `for i in 1 2 3; do curl -6 -g -s -m 3 "http://[${topo.vip6}]:8080/" || echo ERR; done`)).stdout.trim().split('\n');
        const v4 = (await lab.sh('client', `for i in 1 2 3; do curl -4 -s -m 3 "http://${vip4}:8080/" || echo ERR; done`)).stdout.trim().split('\n');
        expect(tally(v6)).toEqual({ 'from rs1': 3 });
        expect(tally(v4)).toEqual({ 'from rs2': 3 });
        expect((await lvsdTables(lab, 'dir')).map((t) => t.split(' ')[0]).sort()).toEqual(['ip', 'ip6', 'netdev']);
        const s = (await lvsd.lvsadm(['-Ln'])).stdout;
        expect(s).toContain('FWM  1 rr\n');
        expect(s).toContain('FWM  1 IPv6 rr\n');
      } finally {
        if (mode === 'dr') await lab.exec('dir', ['iptables', '-t', 'mangle', '-F', 'PREROUTING']);
        else await lab.exec('dir', ['nft', 'delete', 'table', 'ip', 'usermark4']);
      }
    });

    test('without persistence the group is balanced per connection: rr alternates across both ports', async () => {
      const { lab, topo } = m!;
      await fwmarkRules(m!, 0);
      const t = tally(await bothPorts(lab, 'client', topo.vip6!, 5));
      expect(t).toEqual({ 'from rs1': 5, 'from rs2': 5 });
    });

    if (mode === 'dr') {
      test('a marked ping6 of the VIP is not the engine\'s business: it goes back to the stack (NF_ACCEPT), which answers it', async () => {
        const { lab, topo, lvsd } = m!;
        await fwmarkRules(m!);
        const before = await lvsd.call('get-counters', {});
        await lab.exec('client', ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', topo.vip6!]);
        const after = await lvsd.call('get-counters', {});
        expect((after.nfq_verdict_accept ?? 0) - (before.nfq_verdict_accept ?? 0)).toBe(3);
        expect((after.ignore_icmp_no_conn ?? 0) - (before.ignore_icmp_no_conn ?? 0)).toBe(3);
      });
    } else {
      test('a 10 MB download from port 8080 of the group arrives intact (IPv6 replies SNATed by the packet-socket path)', async () => {
        const { lab, topo } = m!;
        await fwmarkRules(m!);
        const size = 10 * 1024 * 1024;
        const { stdout } = await lab.sh('client', `curl -6 -g -s -m 60 'http://[${topo.vip6}]:8080/big?size=${size}' | sha256sum`, { timeoutMs: 70_000 });
        expect(stdout.split(' ')[0]).toBe(await bigSha(lab, size));
      });
    }
  });
}

tests('dr');
tests('nat');
