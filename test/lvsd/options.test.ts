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

  it('--fast-path, --no-fast-path, --fast-path-flows, --fast-path-min-packets', () => {
    const d = parseOptions([], {});
    expect([d.fastPath, d.fastFlows, d.fastMinPackets]).toEqual(['auto', undefined, undefined]);
    expect(parseOptions(['--fast-path'], {}).fastPath).toBe('on');
    expect(parseOptions(['--no-fast-path'], {}).fastPath).toBe('off');
    expect(parseOptions(['--fast-path-flows', '1048576'], {}).fastFlows).toBe(1048576);
    expect(parseOptions(['--fast-path-min-packets=0'], {}).fastMinPackets).toBe(0);
    expect(() => parseOptions(['--fast-path-flows', '100'], {})).toThrow(/--fast-path-flows: 100 is outside 1024\.\.16777216/);
    expect(() => parseOptions(['--fast-path-min-packets', '-1'], {})).toThrow(/--fast-path-min-packets: "-1" is not a number/);
    expect(() => parseOptions(['--fast-path-min-packets'], {})).toThrow(/--fast-path-min-packets needs a value/);
  });

  it('--intercept auto|protocol|tap', () => {
    expect(parseOptions([], {}).intercept).toBe('auto');
    expect(parseOptions(['--intercept', 'tap'], {}).intercept).toBe('tap');
    expect(parseOptions(['--intercept=protocol'], {}).intercept).toBe('protocol');
    expect(() => parseOptions(['--intercept', 'xdp'], {})).toThrow(/--intercept: expected auto, protocol or tap, got "xdp"/);
    expect(() => parseOptions(['--intercept'], {})).toThrow(/--intercept needs a value/);
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
