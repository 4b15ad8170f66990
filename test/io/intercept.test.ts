import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FWMARK_CHAIN, FWMARK_PRIORITY, FWMARK_SET, dropTable, interceptModeFor, renderFwmarkSet, renderFwmarkSkeleton, renderRuleset, tableName } from '../../src/io/intercept.js';

describe('nftables interception ruleset', () => {
  const rules = {
    services: [
      { protocol: 'tcp' as const, addr: '192.168.150.100', port: 80 },
      { protocol: 'udp' as const, addr: '192.168.150.100', port: 5353 },
      { protocol: 'tcp' as const, addr: '10.0.0.1', port: 0 },
      { protocol: 'tcp' as const, addr: '2001:db8::100', port: 80 },
      { protocol: 'udp' as const, addr: '2001:DB8:0::0100', port: 0 },
    ],
    natDests: [
      { protocol: 'tcp' as const, addr: '192.168.150.12', port: 80 },
      { protocol: 'tcp' as const, addr: '192.168.150.12', port: 80 },
      { protocol: 'tcp' as const, addr: '2001:db8:1::12', port: 8080 },
    ],
  };

  it('deletes any leftover table and adds the new one in one transaction, one ingress chain per interface', () => {
    const text = renderRuleset('lvsd', ['eth0', 'eth1'], rules);
    const lines = text.split('\n');
    expect(lines[0]).toBe('add table netdev lvsd');
    expect(lines[1]).toBe('delete table netdev lvsd');
    expect(text).toContain('type filter hook ingress device "eth0" priority -500; policy accept;');
    expect(text).toContain('type filter hook ingress device "eth1" priority -500; policy accept;');
    expect(text).toContain('ip daddr 192.168.150.100 tcp dport 80 drop');
    expect(text).toContain('ip daddr 192.168.150.100 udp dport 5353 drop');
    expect(text).toContain('ip daddr 10.0.0.1 meta l4proto tcp drop');
    // NAT replies, once per chain (deduplicated), never when addressed to the director itself.
    expect(text.match(/ip saddr 192\.168\.150\.12 tcp sport 80 fib daddr type != local drop/g)).toHaveLength(2);
    // IPv6: ip6 matches, addresses in canonical form; ICMPv6 (neighbour discovery) never matched.
    expect(text).toContain('ip6 daddr 2001:db8::100 tcp dport 80 drop');
    expect(text).toContain('ip6 daddr 2001:db8::100 meta l4proto udp drop');
    expect(text).toContain('ip6 saddr 2001:db8:1::12 tcp sport 8080 fib daddr type != local drop');
    expect(text).not.toMatch(/icmpv6/);
  });

  it('protocol interception marks the same frames for another host instead of dropping them', () => {
    const text = renderRuleset('lvsd', ['eth0'], rules, { mode: 'protocol' });
    expect(text).not.toMatch(/ drop$/m);
    expect(text).toContain('ip daddr 192.168.150.100 tcp dport 80 meta pkttype set other accept');
    expect(text).toContain('ip daddr 10.0.0.1 meta l4proto tcp meta pkttype set other accept');
    expect(text).toContain('ip saddr 192.168.150.12 tcp sport 80 fib daddr type != local meta pkttype set other accept');
    expect(text).toContain('ip6 daddr 2001:db8::100 meta l4proto udp meta pkttype set other accept');
    // Same matches as tap mode, rule for rule.
    const strip = (t: string) => t.replace(/ (drop|meta pkttype set other accept)$/gm, '');
    expect(strip(text)).toBe(strip(renderRuleset('lvsd', ['eth0'], rules, { mode: 'tap' })));
  });

  it('auto mode: protocol on plain and VLAN-carrying interfaces, tap where an rx_handler takes frames first', () => {
    const root = mkdtempSync(join(tmpdir(), 'lvsd-sysfs-'));
    try {
      const dev = (name: string, devtype?: string) => {
        mkdirSync(join(root, name));
        writeFileSync(join(root, name, 'uevent'), `INTERFACE=${name}\n${devtype ? `DEVTYPE=${devtype}\n` : ''}`);
      };
      dev('eth0'); dev('eth1'); dev('eth1.100', 'vlan'); dev('eth2'); dev('mv0', 'macvlan'); dev('eth3'); dev('br0', 'bridge');
      symlinkSync('../eth1.100', join(root, 'eth1', 'upper_eth1.100'));
      symlinkSync('../mv0', join(root, 'eth2', 'upper_mv0'));
      symlinkSync('../br0', join(root, 'eth3', 'master'));
      expect(interceptModeFor(['eth0', 'eth1'], root)).toEqual({ mode: 'protocol' });
      expect(interceptModeFor(['eth0', 'eth2'], root)).toEqual({ mode: 'tap', reason: 'eth2 has the upper device mv0' });
      expect(interceptModeFor(['eth3'], root)).toEqual({ mode: 'tap', reason: 'eth3 has a master device' });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses what could break out of the ruleset text', () => {
    expect(() => renderRuleset('lvsd', ['eth0"; flush ruleset'], rules)).toThrow(/bad interface name/);
    expect(() => renderRuleset('lvsd', ['eth0'], { services: [{ protocol: 'tcp', addr: '1.2.3.4 drop; flush ruleset', port: 80 }], natDests: [] })).toThrow(/not an IPv4/);
    expect(() => renderRuleset('lvsd', ['eth0'], { services: [{ protocol: 'tcp', addr: '::1 drop; flush ruleset', port: 80 }], natDests: [] })).toThrow(/not an IPv6/);
    expect(tableName('/run/x y;z')).toMatch(/^lvsd_[A-Za-z0-9_]+$/);
    expect(tableName()).toBe('lvsd');
  });

  if (process.getuid?.() !== 0 && process.env.CI === 'true') throw new Error('nft -c needs root (CI runs as root)');
  it.skipIf(process.getuid?.() !== 0)('nft accepts the generated text (nft -c: check only, nothing applied)', () => {
    for (const mode of ['tap', 'protocol'] as const) {
      const text = renderRuleset('lvsd_unit', ['lo'], rules, { deleteFirst: false, mode });
      expect(() => execFileSync('nft', ['-c', '-f', '-'], { input: text, stdio: ['pipe', 'pipe', 'pipe'] })).not.toThrow();
    }
  });
});

describe('the fwmark table (NFQUEUE path)', () => {
  it('a prerouting chain after every user priority, a set of marks, and no rule of its own (netlink adds it)', () => {
    const t = renderFwmarkSkeleton('lvsd');
    expect(t).toContain('table ip lvsd {');
    expect(t).toContain(`set ${FWMARK_SET} { type mark; }`);
    expect(t).toContain(`type filter hook prerouting priority ${FWMARK_PRIORITY}; policy accept;`);
    expect(FWMARK_PRIORITY).toBeGreaterThan(50); // security, the last named prerouting priority
    expect(t).toContain(`flush chain ip lvsd ${FWMARK_CHAIN}`);
    expect(renderFwmarkSet('lvsd', [1, 2, 1])).toBe(`flush set ip lvsd ${FWMARK_SET}\nadd element ip lvsd ${FWMARK_SET} { 1, 2 }\n`);
    expect(renderFwmarkSet('lvsd', [])).toBe(`flush set ip lvsd ${FWMARK_SET}\n`);
    expect(() => renderFwmarkSet('lvsd', [0])).toThrow(/not a fwmark/);
    expect(() => renderFwmarkSet('lvsd', [2 ** 32])).toThrow(/not a fwmark/);
    expect(dropTable('ip', 'lvsd')).toBe('add table ip lvsd\ndelete table ip lvsd\n');
  });

  it('IPv6 fwmark services: the same table, chain and set in family ip6', () => {
    const t = renderFwmarkSkeleton('lvsd', 'ip6');
    expect(t).toContain('table ip6 lvsd {');
    expect(t).toContain(`type filter hook prerouting priority ${FWMARK_PRIORITY}; policy accept;`);
    expect(t).toContain(`flush chain ip6 lvsd ${FWMARK_CHAIN}`);
    expect(renderFwmarkSet('lvsd', [7], 'ip6')).toBe(`flush set ip6 lvsd ${FWMARK_SET}\nadd element ip6 lvsd ${FWMARK_SET} { 7 }\n`);
    expect(renderFwmarkSkeleton('lvsd')).toBe(renderFwmarkSkeleton('lvsd', 'ip'));
  });

  // Outside CI a non-root run skips it; in CI (root) it must run.
  it.skipIf(process.getuid?.() !== 0 && process.env.CI !== 'true')('nft accepts the skeleton and a set update (nft -c)', () => {
    const text = renderFwmarkSkeleton('lvsd_unit') + renderFwmarkSet('lvsd_unit', [1, 4294967295])
      + renderFwmarkSkeleton('lvsd_unit', 'ip6') + renderFwmarkSet('lvsd_unit', [2], 'ip6');
    expect(() => execFileSync('nft', ['-c', '-f', '-'], { input: text, stdio: ['pipe', 'pipe', 'pipe'] })).not.toThrow();
  });
});
