// Every experiment of `npm run lab` is also a lab test, so none of them rots:
// each must end with a passing verdict on this machine.
import { describe, it, expect } from 'vitest';
import { missingPrerequisites } from '../../lab/netns.js';
import { experiments } from '../../lab/experiments/index.js';

describe('npm run lab experiments', async () => {
  const missing = await missingPrerequisites(['ip', 'nft', 'tshark', 'curl', 'keepalived', 'python3']);
  if (missing.length && process.env.CI === 'true') throw new Error(`lab prerequisites missing: ${missing.join(', ')}`);
  // ecmp needs BIRD and has its own file (test/lab/ecmp.test.ts).
  for (const exp of experiments.filter((e) => e.name !== 'ecmp')) {
    it.skipIf(missing.length > 0)(`${exp.name}: ${exp.title}`, async () => {
      const lines: string[] = [];
      const v = await exp.run({ say: (l) => lines.push(l), tag: exp.name.slice(0, 3) });
      expect(v.ok, `${v.summary}\n--- output ---\n${lines.join('\n')}`).toBe(true);
    }, 120_000);
  }
});
