// `npm run lab -- ecmp` as a lab test (issue 14): three directors behind a
// BIRD router's ECMP route, one killed -9; its route leaves within the BGP
// hold time and no flow is lost, on the survivors or on the dead director.
import { describe, it, expect } from 'vitest';
import { missingPrerequisites } from '../../lab/netns.js';
import { runEcmp } from '../../lab/experiments/ecmp.js';

describe('ecmp: active-active directors announced through BIRD', async () => {
  const missing = await missingPrerequisites(['ip', 'nft', 'curl', 'ethtool', 'bird', 'birdc']);
  if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);
  it.skipIf(missing.length > 0)('a killed director is withdrawn within the hold time and loses no flow (mh + sloppy TCP)', async () => {
    const lines: string[] = [];
    const v = await runEcmp({ say: (l) => lines.push(l) }, { bfd: false });
    expect(v.ok, `${v.summary}\n--- output ---\n${lines.join('\n')}`).toBe(true);
    expect(v.facts.lostSurv).toBe(0);
    expect(v.facts.lostDead).toBe(0);
    expect(v.facts.withdrawMs as number).toBeLessThanOrEqual(4500);
  }, 150_000);
});
