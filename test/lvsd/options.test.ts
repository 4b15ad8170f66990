import { describe, it, expect } from 'vitest';
import { availableParallelism } from 'node:os';
import { parseOptions, UsageError } from '../../src/lvsd/options.js';

describe('lvsd options', () => {
  it('defaults: the socket from $LVSD_SOCKET or /run/lvsd/lvsd.sock, every up interface', () => {
    expect(parseOptions([], {}).socket).toBe('/run/lvsd/lvsd.sock');
    expect(parseOptions([], { LVSD_SOCKET: '/tmp/x.sock' }).socket).toBe('/tmp/x.sock');
    expect(parseOptions(['--socket', '/a.sock'], { LVSD_SOCKET: '/tmp/x.sock' }).socket).toBe('/a.sock');
    expect(parseOptions([], {}).interfaces).toEqual([]);
  });

  it('parses repeatable interfaces, metrics, logging and table sizes', () => {
    const o = parseOptions(['--interface', 'eth0', '--interface=eth1', '--metrics', '127.0.0.1:9120', '-l', '-D', '--conn-tab-bits', '16', '--max-conns', '1000', '--tun-mtu', '1400'], {});
    expect(o).toMatchObject({
      interfaces: ['eth0', 'eth1'], metrics: { host: '127.0.0.1', port: 9120 }, logConsole: true, logDetail: true,
      connTabBits: 16, maxConns: 1000, tunMtu: 1400,
    });
    expect(parseOptions(['--metrics', ':9120'], {}).metrics).toEqual({ host: '0.0.0.0', port: 9120 });
  });

  it('names the flag in every error', () => {
    expect(() => parseOptions(['--metrics', 'nope'], {})).toThrow(/--metrics: "nope" is not HOST:PORT/);
    expect(() => parseOptions(['--conn-tab-bits', '40'], {})).toThrow(/--conn-tab-bits: 40 is outside 8\.\.20/);
    expect(() => parseOptions(['--socket'], {})).toThrow(/--socket needs a value/);
    expect(() => parseOptions(['--bogus'], {})).toThrow(UsageError);
  });

  it('--workers: default the CPUs this process may use, 1..256', () => {
    expect(parseOptions([], {}).workers).toBe(availableParallelism());
    expect(parseOptions(['--workers', '1'], {}).workers).toBe(1);
    expect(parseOptions(['--workers=4'], {}).workers).toBe(4);
    expect(() => parseOptions(['--workers', '0'], {})).toThrow(/--workers: 0 is outside 1\.\.256/);
    expect(() => parseOptions(['--workers', '257'], {})).toThrow(/--workers: 257 is outside 1\.\.256/);
    expect(() => parseOptions(['--workers', 'two'], {})).toThrow(/--workers: "two" is not a number/);
  });
});
