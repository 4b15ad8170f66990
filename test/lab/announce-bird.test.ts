// lvsd_announce against a real BIRD 2 (issue 14's ECMP scale-out, both
// families): the include file lvs-keepalived writes is accepted by `birdc
// configure`, IPv4 prefixes land in the `ipv4` static protocol and IPv6 ones
// in its `ipv6` twin (protocol_name + "6"), a virtual server that loses quorum
// withdraws its own family's prefix only, and a clean stop withdraws all.
// BIRD runs in a namespace of its own; the full BGP + ECMP failover over IPv4
// is `ecmp.test.ts`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { Lab, missingPrerequisites, waitFor, type NsProcess } from '../../lab/netns.js';
import { TempDir } from '../../lab/experiments/common.js';
import { Announcer, type VsHealth } from '../../src/keepalived/announce.js';
import type { LvsdAnnounce } from '../../src/config/model.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('lvsd_announce with BIRD 2: IPv4 and IPv6 prefixes', async () => {
  const missing = await missingPrerequisites(['ip', 'bird', 'birdc']);
  if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);
  const skip = missing.length > 0;
  let lab: Lab | undefined;
  let tmp: TempDir | undefined;
  let bird: NsProcess | undefined;
  let sock = '';
  const routes = () => execFileSync('birdc', ['-s', sock, 'show', 'route', 'all'], { encoding: 'utf8' });

  beforeAll(async () => {
    if (skip) return;
    lab = new Lab('ab');
    await lab.addNs('r');
    tmp = new TempDir();
    sock = `${tmp.path}/bird.ctl`;
    const include = tmp.file('lvsd.conf', '');
    const conf = tmp.file('bird.conf', `router id 10.255.0.1;\nprotocol device { scan time 10; }\ninclude "${include}";\n`);
    // The include must exist and parse before BIRD starts: write the withdrawn state first, as lvs-keepalived would.
    tmp.file('lvsd.conf', 'protocol static lvsd_vips {\n  ipv4;\n}\nprotocol static lvsd_vips6 {\n  ipv6;\n}\n');
    bird = lab.spawn('r', ['bird', '-f', '-c', conf, '-s', sock, '-P', `${tmp.path}/bird.pid`]);
    await waitFor(() => { try { execFileSync('birdc', ['-s', sock, 'show', 'status'], { stdio: 'pipe' }); return true; } catch { return false; } }, 10_000, 50, 'BIRD to answer');
  });
  afterAll(async () => {
    bird?.kill('SIGTERM');
    await lab?.destroy();
    tmp?.remove();
  });

  it.skipIf(skip)('announces both families through their static protocols, withdraws per family on lost quorum, and everything on stop', async () => {
    const cfg: LvsdAnnounce = {
      pos: { file: 'k.conf', line: 1, col: 1 }, bird_socket: sock, bird_include: `${tmp!.path}/lvsd.conf`, protocol_name: 'lvsd_vips',
      birdc: 'birdc', check_interval: 3600, prefix: [], withdraw_on_stop: true,
    };
    let health: VsHealth[] = [
      { name: '10.20.0.100 80', addr: '10.20.0.100', quorum: true },
      { name: '2001:db8:20::100 80', addr: '2001:db8:20::100', quorum: true },
    ];
    const a = new Announcer(cfg, { log: quiet, probeLvsd: async () => true, health: () => health });
    await a.start();
    expect(a.verdicts.map((v) => [v.prefix, v.announce])).toEqual([['10.20.0.100/32', true], ['2001:db8:20::100/128', true]]);
    let r = routes();
    expect(r).toMatch(/^10\.20\.0\.100\/32\s+blackhole \[lvsd_vips /m);
    expect(r).toMatch(/^2001:db8:20::100\/128\s+blackhole \[lvsd_vips6 /m);

    health = [health[0]!, { ...health[1]!, quorum: false }];
    await a.poke();
    r = routes();
    expect(r).toMatch(/^10\.20\.0\.100\/32/m);
    expect(r).not.toMatch(/2001:db8:20::100/);

    await a.stop(true);
    r = routes();
    expect(r).not.toMatch(/10\.20\.0\.100|2001:db8:20::100/);
    // The protocols stay (empty), so filters naming them stay valid.
    const protos = execFileSync('birdc', ['-s', sock, 'show', 'protocols'], { encoding: 'utf8' });
    expect(protos).toMatch(/^lvsd_vips\s+Static/m);
    expect(protos).toMatch(/^lvsd_vips6\s+Static/m);
  });
});
