// The lab itself: the topologies come up, hosts reach each other, and
// teardown leaves nothing behind.
import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { Lab, run, missingPrerequisites } from '../../lab/netns.js';
import { buildLan, buildNat } from '../../lab/topology.js';

describe('lab topologies', async () => {
  const missing = await missingPrerequisites(['ip', 'python3', 'curl']);
  if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);
  const labs: Lab[] = [];
  afterAll(async () => { for (const l of labs) await l.destroy(); });

  it.skipIf(missing.length > 0)('DR LAN: client reaches the real servers by RIP; RS hide the VIP from ARP', async () => {
    const lab = new Lab('top'); labs.push(lab);
    const t = await buildLan(lab, 'dr');
    for (const r of t.rs) {
      const { stdout } = await lab.exec('client', ['curl', '-s', '--max-time', '3', `http://${r.ip}/`]);
      expect(stdout).toBe(`from ${r.name}\n`);
    }
    // Only the director answers ARP for the VIP.
    await lab.exec('client', ['ping', '-c1', '-W1', t.vip], { check: false });
    const { stdout: neigh } = await lab.exec('client', ['ip', '-j', 'neigh', 'show', t.vip]);
    const { stdout: dirLink } = await lab.exec('dir', ['ip', '-j', 'link', 'show', 'eth0']);
    expect(JSON.parse(neigh)[0].lladdr).toBe(JSON.parse(dirLink)[0].address);
    await lab.destroy();
    const { stdout } = await run(['ip', 'netns', 'list']);
    expect(stdout).not.toContain(lab.prefix);
  });

  it.skipIf(missing.length > 0)('NAT: RS route through the director; TUN: decap helper brings up tun0', async () => {
    const lab = new Lab('top'); labs.push(lab);
    const t = await buildNat(lab);
    const r = await lab.exec('rs1', ['ip', 'route', 'show', 'default']);
    expect(r.stdout).toContain(t.natGateway!);
    const lab2 = new Lab('top'); labs.push(lab2);
    const t2 = await buildLan(lab2, 'tun');
    const l = await lab2.exec(t2.rs[0]!.name, ['ip', 'link', 'show', 'tun0']);
    expect(l.code).toBe(0);
  });
});
