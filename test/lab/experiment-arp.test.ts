import { describe, it, expect } from 'vitest';
import { missingPrerequisites } from '../../lab/netns.js';
import { arp } from '../../lab/experiments/arp.js';

describe('experiment: arp', async () => {
  const missing = await missingPrerequisites(['ip', 'tshark', 'ping']);
  if (missing.length && process.env.CI === 'true') throw new Error(`missing: ${missing.join(', ')}`);
  it.skipIf(missing.length > 0)('without ARP tuning the real servers answer for the VIP; with it only the director', async () => {
    const lines: string[] = [];
    const v = await arp.run({ say: (l) => lines.push(l), tag: 'arp' });
    expect(v.ok, `${v.summary}\n${lines.join('\n')}`).toBe(true);
    expect((v.facts.untuned as { claimants: string[] }).claimants).toEqual(expect.arrayContaining(['rs1', 'rs2']));
  });
});
