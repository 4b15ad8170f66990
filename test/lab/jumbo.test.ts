// Issue 17: a 9000-byte-MTU network (client ↔ director ↔ real servers, every
// link and switch port at 9000) moves a 20 MB hash-checked download through
// lvsd, NAT and DR. Twice: with veth defaults (TSO/GSO on: super-frames), and
// with segmentation offloads off at the senders, so the frames lvsd handles
// are real 9014-byte jumbo frames (the large-frame RX ring, 16 KiB TX slots).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type Lab } from '../../lab/netns.js';
import { FLAG, bigSha, buildModeLab, destroyModeLab, diagnoseOnFailure, prerequisites, type ModeLab } from './forward-suite.js';

const missing = await prerequisites(['ethtool', 'sha256sum']);
const SIZE = 20 * 1024 * 1024;

async function jumboEverywhere(lab: Lab): Promise<void> {
  const { stdout } = await run(['ip', '-j', 'netns', 'list']);
  const mine = (JSON.parse(stdout || '[]') as { name: string }[]).map((n) => n.name).filter((n) => n.startsWith(lab.prefix));
  for (const ns of mine) {
    const links = JSON.parse((await run(['ip', '-n', ns, '-j', 'link', 'show'])).stdout) as { ifname: string }[];
    // Bridge ports first: a bridge takes no MTU above its smallest port's.
    const order = links.map((l) => l.ifname.split('@')[0]!).filter((n) => n !== 'lo').sort((a, b) => Number(a === 'br0') - Number(b === 'br0'));
    for (const ifname of order) await run(['ip', '-n', ns, 'link', 'set', ifname, 'mtu', '9000']);
  }
}

for (const mode of ['nat', 'dr'] as const) {
  describe.skipIf(missing.length > 0)(`9000-byte MTU through lvsd (${mode})`, () => {
    let m: ModeLab | undefined;
    beforeAll(async () => {
      // lvsd sizes its TX slots from the MTU when it opens a port: jumbo first, then lvsd.
      // --no-fast-path: the subject is lvsd's own large-frame ring; the kernel's fast path would carry these flows.
      m = await buildModeLab(mode, { args: ['--no-fast-path'] }, (lab) => jumboEverywhere(lab), `j${mode}`);
      await m.rules([['-A', '-t', m.vs, '-s', 'rr'], ...m.topo.rs.map((r) => ['-a', '-t', m!.vs, '-r', `${r.ip}:80`, FLAG[mode]])]);
    }, 120_000);
    afterAll(async () => { await destroyModeLab(m); });

    const download = async () => {
      const { stdout } = await m!.lab.sh('client', `curl -s -m 60 '${m!.url}big?size=${SIZE}' | sha256sum`, { timeoutMs: 70_000 });
      expect(stdout.split(' ')[0]).toBe(await bigSha(m!.lab, SIZE));
    };
    const noDrops = (before: Record<string, number>, after: Record<string, number>) => {
      for (const k of ['io_drop_fault', 'io_engine_errors', 'io_drop_bad_frame', 'io_drop_oversize', 'io_drop_gso_unsupported', 'io_drop_gso_send']) {
        expect((after[k] ?? 0) - (before[k] ?? 0), k).toBe(0);
      }
      expect(m!.lvsd.proc.child.exitCode).toBeNull();
    };

    it('every link is at 9000 and a 20 MB download arrives intact (offloads on)', async () => {
      diagnoseOnFailure(() => m);
      expect((await m!.lab.exec('dir', ['ip', 'link', 'show', 'eth0'])).stdout).toMatch(/mtu 9000/);
      const before = await m!.lvsd.call('get-counters', {});
      await download();
      noDrops(before, await m!.lvsd.call('get-counters', {}));
    });

    it('with segmentation offloads off at the senders, real 9014-byte frames cross lvsd and the download is intact', async () => {
      diagnoseOnFailure(() => m);
      const hosts = [m!.topo.client.name, ...m!.topo.rs.map((r) => r.name)];
      for (const h of hosts) await m!.lab.exec(h, ['ethtool', '-K', 'eth0', 'tso', 'off', 'gso', 'off']);
      try {
        const before = await m!.lvsd.call('get-counters', {});
        await download();
        const after = await m!.lvsd.call('get-counters', {});
        noDrops(before, after);
        const big = (c: Record<string, number>) => Object.entries(c).filter(([k]) => /^ring_.*_big_packets$/.test(k)).reduce((a, [, v]) => a + v, 0);
        // NAT: the download's 9014-byte frames come from the RS through lvsd. DR: the RS answers
        // the client directly and only ACKs pass lvsd; the request is small either way.
        if (mode === 'nat') expect(big(after) - big(before)).toBeGreaterThan(1000);
        expect((after.io_forwarded ?? 0) - (before.io_forwarded ?? 0)).toBeGreaterThan(100);
      } finally {
        for (const h of hosts) await m!.lab.exec(h, ['ethtool', '-K', 'eth0', 'tso', 'on', 'gso', 'on'], { check: false });
      }
    });
  });
}
