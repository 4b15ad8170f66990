// lvsadm against a live lvsd forwarding real traffic: -R/-S round trip,
// counters after real requests in --stats/--exact/--json, --trace, an atomic
// failed restore, and the error when lvsd is gone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, missingPrerequisites, run } from '../../lab/netns.js';
import { buildLan, type Topology } from '../../lab/topology.js';
import { curlMany, removeLabSockets, startLvsd, tally, type Lvsd } from '../../lab/director.js';
import { BIN } from '../../lab/paths.js';

const missing = await missingPrerequisites(['ip', 'curl', 'nft']);
if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);

function lvsadm(socket: string, args: string[], input?: string) {
  return run(['env', `LVSD_SOCKET=${socket}`, 'node', BIN.lvsadm, ...args], { check: false, input, timeoutMs: 20_000 });
}

// In ipvsadm's save order (services sorted by protocol, address, port).
const RULES = [
  '-A -t 192.168.150.100:80 -s rr',
  '-a -t 192.168.150.100:80 -r 192.168.150.12:80 -g -w 1',
  '-a -t 192.168.150.100:80 -r 192.168.150.13:80 -g -w 1',
  '-A -t 192.168.150.100:8080 -s sh -p 600 -M 255.255.255.0 -b sh-fallback,sh-port',
  '-a -t 192.168.150.100:8080 -r 192.168.150.12:8080 -g -w 3',
  '-a -t 192.168.150.100:8080 -r 192.168.150.13:8080 -g -w 0',
  '-A -u 192.168.150.100:5353 -s wlc -o',
  '-a -u 192.168.150.100:5353 -r 192.168.150.12:5353 -g -w 1',
  '',
].join('\n');

describe.skipIf(missing.length > 0)('lvsadm against a live lvsd (lab)', () => {
  const lab = new Lab('adm');
  let topo: Topology;
  let lvsd: Lvsd;

  beforeAll(async () => {
    topo = await buildLan(lab, 'dr');
    lvsd = await startLvsd(lab, 'dir', { interfaces: ['eth0'] });
  }, 120_000);

  afterAll(async () => {
    try { await lvsd?.stop(); } finally { await lab.destroy(); removeLabSockets(lab); }
  });

  it('-R then -S -n gives the same rules back, and lvsd forwards by them', async () => {
    const r = await lvsadm(lvsd.socket, ['-R'], RULES);
    expect(r.code, r.stderr).toBe(0);
    const s = await lvsadm(lvsd.socket, ['-S', '-n']);
    expect(s.stdout).toBe(RULES);
    const got = tally(await curlMany(lab, 'client', `http://${topo.vip}/`, 10));
    expect(got).toEqual({ 'from rs1': 5, 'from rs2': 5 });
  });

  it('--stats counts the real requests; --exact and --json agree', async () => {
    const st = await lvsadm(lvsd.socket, ['-Ln', '--stats', '-t', `${topo.vip}:80`]);
    const svc = st.stdout.split('\n').find((l) => l.startsWith('TCP  192.168.150.100:80'))!;
    expect(svc.slice(33).trim().split(/\s+/)[0]).toBe('10');
    const rsLines = st.stdout.split('\n').filter((l) => l.startsWith('  -> 192.'));
    expect(rsLines.map((l) => l.slice(33).trim().split(/\s+/)[0])).toEqual(['5', '5']);
    type Listing = { services: { stats: { conns: number; inpkts: number }; dests: unknown[] }[] };
    const inpkts = async () => {
      const j = JSON.parse((await lvsadm(lvsd.socket, ['-Ln', '--json'])).stdout) as Listing;
      return j.services.find((x) => x.dests.length === 2)!.stats;
    };
    // The clients' last ACKs may still arrive after curl exits: --exact's count lies between two JSON reads around it.
    const first = await inpkts();
    expect(first.conns).toBe(10);
    const ex = await lvsadm(lvsd.socket, ['-Ln', '--stats', '--exact', '-t', `${topo.vip}:80`]);
    const last = await inpkts();
    const exLine = ex.stdout.split('\n').find((l) => l.startsWith('TCP  192.168.150.100:80'))!;
    const exIn = Number(exLine.slice(33).trim().split(/\s+/)[1]);
    expect(exIn).toBeGreaterThanOrEqual(first.inpkts);
    expect(exIn).toBeLessThanOrEqual(last.inpkts);
  });

  it('--trace names the real server sh would pick for a client, without state', async () => {
    const before = countdowns((await lvsadm(lvsd.socket, ['-Lnc'])).stdout);
    const t = await lvsadm(lvsd.socket, ['--trace', '-n', '-t', `${topo.vip}:8080`, '--client', '192.168.150.1:40000']);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toContain('192.168.150.12:8080');
    const after = countdowns((await lvsadm(lvsd.socket, ['-Lnc'])).stdout);
    // The same entries; their expire counts down between the two reads (01:59 -> 01:58), and a trace that
    // created or touched an entry would show as a new row or a countdown that went back up.
    expect(before.rows.length, 'the earlier tests\' connections are listed').toBeGreaterThan(0);
    expect(after.rows).toEqual(before.rows);
    after.expires.forEach((s, i) => expect(before.expires[i]! - s).toBeGreaterThanOrEqual(0));
    after.expires.forEach((s, i) => expect(before.expires[i]! - s).toBeLessThanOrEqual(10));
  });

  it('a restore with a bad line changes nothing and names the line', async () => {
    const bad = '-C\n-A -t 192.168.150.100:81 -s rr\n-a -t 192.168.150.100:81 -r 192.168.150.12 -g -w 70000\n';
    const r = await lvsadm(lvsd.socket, ['-R'], bad);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/line 3/);
    expect((await lvsadm(lvsd.socket, ['-S', '-n'])).stdout).toBe(RULES);
  });

  it('when lvsd is gone, lvsadm says so and names the socket', async () => {
    await lvsd.stop();
    const r = await lvsadm(lvsd.socket, ['-Ln']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(lvsd.socket);
  });
});

/** A -Lnc listing split into its rows without the expire column, and each row's expire in seconds. */
function countdowns(listing: string): { rows: string[]; expires: number[] } {
  const rows: string[] = [];
  const expires: number[] = [];
  for (const line of listing.split('\n').slice(2).filter(Boolean)) {
    const m = /^(\S+\s+)(\d+):(\d\d)(\s.*)$/.exec(line);
    if (!m) throw new Error(`not a -Lnc row: ${line}`);
    rows.push(`${m[1]}*${m[4]}`);
    expires.push(Number(m[2]) * 60 + Number(m[3]));
  }
  return { rows, expires };
}
