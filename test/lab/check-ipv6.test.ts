// Health checks to IPv6 real servers across namespaces (issue 16): the
// checker half of lvs-keepalived (config → planVirtualServers → CheckDaemon,
// the code lvs-keepalived runs) in a director namespace, against real web
// servers in real-server namespaces. HTTP_GET (from bindto) and TCP_CHECK take
// rs1 out when its web server stops and back when it returns; rs2, reached at
// its link-local address through bind_if, and its MISC_CHECK are not
// affected. lvsd is not needed for this part; the dests the checks hold are
// what lvs-keepalived would send it (test/lab/keepalived-v6.test.ts does that
// through lvsd).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, missingPrerequisites, waitFor, type NsProcess } from '../../lab/netns.js';
import { waitListening } from '../../lab/topology.js';
import { ROOT, RS_DIR } from '../../lab/paths.js';
import { buildLan6, type Host6 } from '../../lab/vrrp-testbed.js';

const missing = await missingPrerequisites(['ip', 'node', 'ss']);
if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);
const built = (() => { try { readFileSync(join(ROOT, 'dist/src/keepalived/check-daemon.js')); return true; } catch { return false; } })();
if (!built && process.env.CI === 'true') throw new Error('dist/ missing: run npx tsc -p tsconfig.json first');

// The checker half, as lvs-keepalived runs it, printing one JSON line per checker report and per change of dests.
const RUNNER = `
import { loadConfig } from '${ROOT}/dist/src/config/index.js';
import { planVirtualServers } from '${ROOT}/dist/src/keepalived/check-data.js';
import { CheckDaemon } from '${ROOT}/dist/src/keepalived/check-daemon.js';
import { scriptPolicy } from '${ROOT}/dist/src/core/notify.js';
const { model, diagnostics } = loadConfig(process.argv[2]);
const errors = diagnostics.filter((d) => d.severity === 'error');
if (errors.length) { console.log(JSON.stringify({ errors })); process.exit(1); }
const out = (o) => process.stdout.write(JSON.stringify({ t: Date.now(), ...o }) + '\\n');
const log = { debug() {}, info() {}, warn: (o, m) => out({ warn: m, ...o }), error: (o, m) => out({ error: m, ...o }) };
const d = new CheckDaemon({ log });
d.scriptPolicy = scriptPolicy(model.global_defs);
const plans = planVirtualServers(model, (m) => out({ note: m }));
const dests = () => Object.fromEntries(d.destsOf(plans[0]));
d.on('checker', ({ report }) => out({ rs: report.rs, checker: report.name, up: report.event.up, changed: report.event.changed, reason: report.event.reason }));
d.on('dests', () => out({ dests: dests() }));
d.start(plans);
out({ started: true, dests: dests() });
process.on('SIGTERM', async () => { await d.stop(); process.exit(0); });
`;

const BINDTO = '2001:db8:66::21';

describe.skipIf(missing.length > 0 || !built)('checkers to IPv6 real servers (lab)', () => {
  let lab: Lab;
  let hosts: Map<string, Host6>;
  const tmp = mkdtempSync(join(tmpdir(), 'lvs-check6-'));
  let checks: NsProcess;
  const httpd: Record<string, NsProcess> = {};
  const lines = (): Record<string, unknown>[] => checks.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const lastDests = (): Record<string, number> | undefined => [...lines()].reverse().find((l) => l.dests)?.dests as Record<string, number> | undefined;

  async function startHttpd(host: string): Promise<void> {
    httpd[host] = lab.spawn(host, ['node', join(RS_DIR, 'httpd.mjs'), host, '--port', '80', '--bind', '::']);
    await waitListening(lab, host, 80);
  }

  beforeAll(async () => {
    lab = new Lab('c6');
    hosts = await buildLan6(lab, [{ name: 'dir', n: 0x11 }, { name: 'rs1', n: 0x12 }, { name: 'rs2', n: 0x13 }]);
    await startHttpd('rs1');
    await startHttpd('rs2');
    // A second director address, deprecated so that nothing picks it as a source unless bound to it: bindto's.
    await lab.exec('dir', ['ip', 'addr', 'add', `${BINDTO}/64`, 'dev', 'eth0', 'nodad', 'preferred_lft', '0']);
    const rs1 = hosts.get('rs1')!.addr;
    const rs2ll = hosts.get('rs2')!.ll;
    const conf = join(tmp, 'keepalived.conf');
    writeFileSync(conf, `global_defs {
    enable_script_security
    script_user root
}
virtual_server ${'2001:db8:66::100'} 80 {
    delay_loop 0.5
    ! alpha: every checker starts down, so a real server is in only once its checks passed.
    alpha
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server ${rs1} 80 {
        HTTP_GET {
            url {
                path /
                status_code 200
            }
            bindto ${BINDTO}
            connect_timeout 1
            retry 0
        }
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
    real_server ${rs2ll} 80 {
        TCP_CHECK {
            bind_if eth0
            connect_timeout 1
            retry 0
        }
        MISC_CHECK {
            misc_path /bin/true
        }
    }
}
`);
    const runner = join(tmp, 'runner.mjs');
    writeFileSync(runner, RUNNER);
    checks = lab.spawn('dir', ['node', runner, conf]);
  }, 60_000);

  afterAll(async () => {
    checks?.kill('SIGTERM');
    await lab?.destroy();
    rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  it('both IPv6 real servers come up: the global one by HTTP_GET from bindto and TCP_CHECK, the link-local one through bind_if', async () => {
    const rs1 = `[${hosts.get('rs1')!.addr}]:tcp:80`;
    const rs2 = `[${hosts.get('rs2')!.ll}]:tcp:80`;
    await waitFor(() => lines().some((l) => l.started), 10_000, 50, 'the checkers to start');
    // alpha: nothing is in before a check has passed.
    expect(lines().find((l) => l.started)!.dests).toEqual({});
    await waitFor(() => lastDests()?.[rs1] === 1 && lastDests()?.[rs2] === 1, 10_000, 50, 'both real servers in the dests')
      .catch((e) => { throw new Error(`${e}\n${checks.output()}`); });
    // Every checker passed (its name says what it probed: the global address, or the link-local one on eth0).
    const ups = lines().filter((l) => l.up === true).map((l) => `${String(l.rs)} ${String(l.checker).split(' for ')[0]}`).sort();
    expect(ups).toEqual([
      `${rs1} HTTP_GET [${hosts.get('rs1')!.addr}]:80`, `${rs1} TCP_CHECK [${hosts.get('rs1')!.addr}]:80`,
      `${rs2} MISC_CHECK /bin/true`, `${rs2} TCP_CHECK [${hosts.get('rs2')!.ll}]:80`,
    ]);
    // bind_if was applied (as the zone): nothing reported as not applied.
    expect(lines().filter((l) => l.note)).toEqual([]);
    // HTTP_GET came from bindto, TCP_CHECK from the director's own address (the checker closes first: TIME_WAIT is on its side).
    const { stdout } = await lab.exec('dir', ['ss', '-Htn', 'state', 'time-wait', 'dst', `[${hosts.get('rs1')!.addr}]`]);
    expect(stdout).toContain(`[${BINDTO}]:`);
    expect(stdout).toContain(`[${hosts.get('dir')!.addr}]:`);
  }, 30_000);

  it('rs1\'s web server stops: HTTP_GET and TCP_CHECK fail and rs1 leaves the dests; rs2 (link-local, MISC_CHECK) stays; it returns: rs1 is back', async () => {
    const rs1 = `[${hosts.get('rs1')!.addr}]:tcp:80`;
    const rs2 = `[${hosts.get('rs2')!.ll}]:tcp:80`;
    const t0 = Date.now();
    httpd.rs1!.kill('SIGKILL');
    await httpd.rs1!.exited;
    await waitFor(() => lastDests() !== undefined && !(rs1 in lastDests()!), 10_000, 50, 'rs1 out of the dests');
    const tDown = Date.now() - t0;
    expect(lastDests()).toEqual({ [rs2]: 1 });
    const downs = lines().filter((l) => l.up === false && l.changed === true && typeof l.t === 'number' && (l.t as number) >= t0);
    // The first of rs1's checkers to notice takes it out; only rs1's checkers went down.
    expect(downs.length).toBeGreaterThanOrEqual(1);
    for (const l of downs) expect(l.rs).toBe(rs1);
    // Refused, or reset when the stop cut a check in flight: either way the server is gone.
    expect(String(downs[0]!.reason)).toMatch(/ECONNREFUSED|ECONNRESET/);

    const t1 = Date.now();
    await startHttpd('rs1');
    await waitFor(() => lastDests()?.[rs1] === 1, 10_000, 50, 'rs1 back in the dests');
    const tUp = Date.now() - t1;
    expect(lastDests()).toEqual({ [rs1]: 1, [rs2]: 1 });
    // Nothing ever took rs2 down.
    expect(lines().filter((l) => l.rs === rs2 && l.up === false)).toEqual([]);
    console.log(`IPv6 checks: rs1 out ${tDown} ms after its web server died, back ${tUp} ms after it returned (delay_loop 0.5 s; loaded machine)`);
  }, 40_000);
});

