// Script result counting (keepalived's rise/fall), track weights, and the VIP
// command lines and state file.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RiseFall, weightContribution } from '../../src/vrrp/track.js';
import { vipArgs, addLines, delLines, VipStateFile, toVipSpec, netnsId } from '../../src/vrrp/vip.js';

describe('RiseFall', () => {
  it('the first result decides at once', () => {
    const a = new RiseFall(3, 2, false);
    expect(a.feed(false)).toBe(true);
    expect(a.ok).toBe(false);
    const b = new RiseFall(3, 2, true);
    expect(b.ok).toBe(false);
    expect(b.feed(true)).toBe(true);
    expect(b.ok).toBe(true);
  });

  it('needs `rise` successes to come up and `fall` failures to go down', () => {
    const s = new RiseFall(3, 2, false);
    s.feed(false);
    expect([s.feed(true), s.feed(true)]).toEqual([false, false]);
    expect(s.ok).toBe(false);
    expect(s.feed(true)).toBe(true);
    expect(s.ok).toBe(true);
    expect(s.feed(false)).toBe(false); // 1 of 2
    expect(s.ok).toBe(true);
    expect(s.feed(true)).toBe(false); // back up to the top
    expect(s.feed(false)).toBe(false);
    expect(s.feed(false)).toBe(true);
    expect(s.ok).toBe(false);
  });

  it('rise 1 fall 1 follows every result', () => {
    const s = new RiseFall(1, 1, false);
    const seq = [true, false, true, true, false, false, true];
    for (const r of seq) { s.feed(r); expect(s.ok).toBe(r); }
  });
});

describe('weightContribution', () => {
  it('positive weights add when OK, negative ones when failing; reverse flips', () => {
    expect(weightContribution(10, false, true)).toBe(10);
    expect(weightContribution(10, false, false)).toBe(0);
    expect(weightContribution(-20, false, false)).toBe(-20);
    expect(weightContribution(-20, false, true)).toBe(0);
    expect(weightContribution(10, true, false)).toBe(10);
    expect(weightContribution(-20, true, true)).toBe(-20);
    expect(weightContribution(0, false, false)).toBe(0);
  });
});

describe('VIP commands and state file', () => {
  const pos = { file: 'k.conf', line: 1, col: 1 };
  it('spells keepalived virtual_ipaddress entries for iproute2', () => {
    const v = toVipSpec({ pos, addr: '192.168.150.100', prefix: 24, dev: 'eth0', label: 'eth0:3' }, 'eth1');
    expect(vipArgs(v)).toEqual(['192.168.150.100/24', 'dev', 'eth0', 'label', 'eth0:3']);
    const w = toVipSpec({ pos, addr: '10.0.0.1', prefix: 32, brd: '10.0.0.255', scope: 'link' }, 'eth1');
    expect(addLines([w])).toEqual(['addr add 10.0.0.1/32 broadcast 10.0.0.255 dev eth1 scope link']);
    expect(delLines([w])).toEqual(['addr del 10.0.0.1/32 broadcast 10.0.0.255 dev eth1 scope link']);
  });

  it('state file: write, read back, clear; no temp files left; one file per instance', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vrrp-state-'));
    try {
      const a = new VipStateFile(dir, 'VI_1');
      const b = new VipStateFile(dir, 'VI/2');
      const vips = [{ addr: '192.168.150.100', prefix: 24, dev: 'eth0', label: 'eth0:3' }];
      expect(a.read()).toEqual([]);
      a.write(vips);
      b.write([]);
      expect(a.read()).toEqual(vips);
      expect(b.read()).toEqual([]);
      expect(readdirSync(dir).sort()).toEqual(['vips-VI_1.json', 'vips-VI_2.json']);
      a.clear();
      expect(a.read()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the default state dir is per network namespace', () => {
    expect(netnsId()).toMatch(/^netns-\d+$/);
  });
});
