// TUN end to end: lvsd in the director namespace, real clients and servers.
import { describe, beforeAll, afterAll } from 'vitest';
import { buildModeLab, destroyModeLab, forwardingTests, prerequisites, type ModeLab } from './forward-suite.js';

describe('lvsd forwards: TUN', async () => {
  const missing = await prerequisites();
  let m: ModeLab | undefined;
  beforeAll(async () => { if (!missing.length) m = await buildModeLab('tun'); });
  afterAll(async () => { await destroyModeLab(m); });
  forwardingTests(() => m!, missing.length > 0);
});
