// keepalived's command line as lvs-keepalived reads it, and the one-shot
// modes (-t, --signum, --dump-config) with keepalived's exit statuses.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { oneShot, type Io } from '../../src/keepalived/main.js';
import { DEFAULT_CONFIG, parseOptions, UsageError } from '../../src/keepalived/options.js';
import { TmpDir } from './helpers.js';

describe('parseOptions', () => {
  it('defaults as keepalived: /etc/keepalived/keepalived.conf, both subsystems, $LVSD_SOCKET or the default socket', () => {
    const o = parseOptions([], {});
    expect(o).toMatchObject({ configFile: DEFAULT_CONFIG, configTest: false, vrrpOnly: false, checkOnly: false, socket: '/run/lvsd/lvsd.sock' });
    expect(parseOptions([], { LVSD_SOCKET: '/tmp/x.sock' }).socket).toBe('/tmp/x.sock');
    expect(parseOptions(['--socket', '/tmp/y.sock'], { LVSD_SOCKET: '/tmp/x.sock' }).socket).toBe('/tmp/y.sock');
  });

  it('takes getopt forms: bundles, attached and separate values, --long=value, unique prefixes', () => {
    expect(parseOptions(['-nlDC', '-f/etc/k.conf'], {})).toMatchObject({ logConsole: true, logDetail: true, checkOnly: true, configFile: '/etc/k.conf' });
    expect(parseOptions(['-f', 'a.conf', '-i', 'node01'], {})).toMatchObject({ configFile: 'a.conf', configId: 'node01' });
    expect(parseOptions(['--use-file=b.conf', '--config-id', 'n2', '--log-console'], {})).toMatchObject({ configFile: 'b.conf', configId: 'n2', logConsole: true });
    expect(parseOptions(['--use-f', 'c.conf', '--vrrp'], {})).toMatchObject({ configFile: 'c.conf', vrrpOnly: true });
    expect(parseOptions(['-lf', 'd.conf'], {})).toMatchObject({ logConsole: true, configFile: 'd.conf' });
  });

  it('-t takes its log file only attached, as getopt optional arguments', () => {
    expect(parseOptions(['-t'], {}).configTest).toBe(true);
    expect(parseOptions(['-t/tmp/report'], {}).configTest).toBe('/tmp/report');
    expect(parseOptions(['--config-test=/tmp/r2'], {}).configTest).toBe('/tmp/r2');
    // A separate word after -t is not its argument: keepalived takes no operands.
    expect(() => parseOptions(['-t', 'x.conf'], {})).toThrow(UsageError);
    expect(parseOptions(['-t', '-f', 'x.conf'], {})).toMatchObject({ configTest: true, configFile: 'x.conf' });
  });

  it('accepts keepalived flags that have no effect here, and the release flags', () => {
    const o = parseOptions(['-n', '-B', '-G', '-R', '-X', '-S', '6', '-u', '022', '-r', '/run/v.pid', '-c', '/run/c.pid', '--all', '-p', '/run/k.pid', '-I', '-V'], {});
    expect(o).toMatchObject({ pidFile: '/run/k.pid', dontReleaseIpvs: true, dontReleaseVrrp: true });
  });

  it('lvs-keepalived flags: --metrics, --dump-config, --state-dir, --signum', () => {
    expect(parseOptions(['--metrics', '127.0.0.1:9650'], {}).metrics).toEqual({ host: '127.0.0.1', port: 9650 });
    expect(parseOptions(['--metrics=:9650'], {}).metrics).toEqual({ host: '0.0.0.0', port: 9650 });
    expect(parseOptions(['--metrics=[::1]:9650'], {}).metrics).toEqual({ host: '::1', port: 9650 });
    expect(parseOptions(['--dump-config=json'], {}).dumpConfig).toBe('json');
    expect(parseOptions(['--state-dir', '/run/x'], {}).stateDir).toBe('/run/x');
    expect(parseOptions(['--signum=RELOAD'], {}).signum).toBe('RELOAD');
  });

  it('refuses what it does not understand, naming the flag', () => {
    expect(() => parseOptions(['--bogus'], {})).toThrow(/unrecognized option '--bogus'/);
    expect(() => parseOptions(['-Z'], {})).toThrow(/invalid option -- 'Z'/);
    expect(() => parseOptions(['-f'], {})).toThrow(/requires an argument -- 'f'/);
    expect(() => parseOptions(['--use-file'], {})).toThrow(/'--use-file' requires an argument/);
    expect(() => parseOptions(['--log-console=yes'], {})).toThrow(/doesn't allow an argument/);
    expect(() => parseOptions(['--dump-config=xml'], {})).toThrow(/neither yaml nor json/);
    expect(() => parseOptions(['--metrics=9650'], {})).toThrow(/HOST:PORT/);
    expect(() => parseOptions(['--d'], {})).toThrow(/ambiguous/);
    expect(() => parseOptions(['-x'], {})).toThrow(/SNMP/);
    expect(() => parseOptions(['--namespace', 'foo'], {})).toThrow(/ip netns exec/);
    expect(() => parseOptions(['stray'], {})).toThrow(/takes no operands/);
  });

  it('-P and -C together run both subsystems, as keepalived', () => {
    expect(parseOptions(['-P', '-C'], {})).toMatchObject({ vrrpOnly: false, checkOnly: false });
  });
});

function capture(): Io & { out: string; err: string } {
  const io = { out: '', err: '', stdout: (s: string) => { io.out += s; }, stderr: (s: string) => { io.err += s; } };
  return io;
}

const tmp = new TmpDir();
afterAll(() => tmp.remove());

const GOOD = `virtual_server 192.0.2.1 80 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 192.0.2.11 80 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
`;
const BAD = GOOD.replace('lb_algo rr', 'lb_algo bogus');

describe('one-shot modes', () => {
  it('--signum prints the numbers keepalived 2.2.7 prints and refuses unknown names with status 1', () => {
    for (const [name, n] of [['STOP', 15], ['RELOAD', 1], ['DATA', 10], ['STATS', 12], ['STATS_CLEAR', 63], ['JSON', 36]] as const) {
      const io = capture();
      expect(oneShot(parseOptions([`--signum=${name}`], {}), io)).toBe(0);
      expect(io.out).toBe(`${n}\n`);
    }
    const io = capture();
    expect(oneShot(parseOptions(['--signum=FOO'], {}), io)).toBe(1);
    expect(io.err).toBe('Unknown sigfunc FOO\n');
  });

  it('-t: 0 for a clean config, 5 with the error named by file:line:col', () => {
    const good = tmp.write('good.conf', GOOD);
    const bad = tmp.write('bad.conf', BAD);
    let io = capture();
    expect(oneShot(parseOptions(['-t', '-f', good], {}), io)).toBe(0);
    expect(io.err).toBe('');
    io = capture();
    expect(oneShot(parseOptions(['-t', '-f', bad], {}), io)).toBe(5);
    expect(io.err).toMatch(new RegExp(`^${bad.replace(/[.]/g, '\\.')}:2:\\d+: error: .*bogus`, 'm'));
  });

  it('-t=FILE writes the report to FILE', () => {
    const bad = tmp.write('bad2.conf', BAD);
    const report = `${tmp.dir}/report.txt`;
    const io = capture();
    expect(oneShot(parseOptions([`--config-test=${report}`, '-f', bad], {}), io)).toBe(5);
    expect(io.err).toBe('');
    expect(readFileSync(report, 'utf8')).toMatch(/bogus/);
  });

  it('-t agrees with Debian keepalived -t on these two files', () => {
    const ka = spawnSync('keepalived', ['-v']);
    if (ka.error && process.env.CI !== 'true') return; // keepalived is a lab prerequisite; CI has it
    for (const [name, text] of [['ka-good.conf', GOOD], ['ka-bad.conf', BAD]] as const) {
      const f = tmp.write(name, text);
      const theirs = spawnSync('keepalived', ['-t', '-f', f]).status;
      const ours = oneShot(parseOptions(['-t', '-f', f], {}), capture());
      expect(ours, name).toBe(theirs);
    }
  });

  it('--dump-config prints the model (no source positions), and refuses a broken config', () => {
    const good = tmp.write('d.conf', GOOD);
    let io = capture();
    expect(oneShot(parseOptions(['-f', good, '--dump-config', 'json'], {}), io)).toBe(0);
    const m = JSON.parse(io.out);
    expect(m.virtual_servers[0]).toMatchObject({ key: { kind: 'addr', addr: '192.0.2.1', port: 80 }, lvs_sched: 'rr', lvs_method: 'DR' });
    expect(io.out).not.toMatch(/"pos"/);
    io = capture();
    expect(oneShot(parseOptions(['-f', tmp.write('d2.conf', BAD), '--dump-config', 'yaml'], {}), io)).toBe(5);
    expect(io.out).toBe('');
  });

  it('the daemon modes are not one-shot', () => {
    expect(oneShot(parseOptions(['-f', 'x.conf', '-l'], {}), capture())).toBeUndefined();
  });
});
