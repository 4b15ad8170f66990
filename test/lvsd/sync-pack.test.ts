// Synced conns crossing between lvsd's main thread and its workers: every
// field, of both families, comes out as it went in.
import { describe, expect, it } from 'vitest';
import { packSyncConns, unpackSyncConns, SYNC_WORDS } from '../../src/lvsd/sync-pack.js';
import type { SyncConn } from '../../src/ipvs/sync.js';
import { parseIpv6 } from '../../src/packet/ipv6.js';

const v4: SyncConn = { protocol: 6, flags: 0x100, state: 1, cport: 40000, vport: 80, dport: 8080, fwmark: 0, timeout: 900, caddr: 0x0a000001, vaddr: 0xc0a89664, daddr: 0xc0a8960c };
const v6: SyncConn = {
  protocol: 17, flags: 0x4, state: 0, cport: 5353, vport: 53, dport: 53, fwmark: 7, timeout: 300, caddr: 0, vaddr: 0, daddr: 0,
  v6: { caddr: parseIpv6('2001:db8::1')!, vaddr: parseIpv6('2001:db8:100::1')!, daddr: parseIpv6('fd00::12')! },
};

describe('sync-pack', () => {
  it('keeps every field of IPv4 and IPv6 entries, in order, in one buffer', () => {
    const words = packSyncConns([v4, v6, v4]);
    expect(words.length).toBe(3 * SYNC_WORDS);
    const back = unpackSyncConns(words);
    expect(back).toHaveLength(3);
    expect(back[0]).toEqual(v4);
    expect(back[2]).toEqual(v4);
    expect(back[1]!.v6).toBeDefined();
    expect([...back[1]!.v6!.caddr]).toEqual([...v6.v6!.caddr]);
    expect([...back[1]!.v6!.vaddr]).toEqual([...v6.v6!.vaddr]);
    expect([...back[1]!.v6!.daddr]).toEqual([...v6.v6!.daddr]);
    const { v6: _a, ...rest } = back[1]!;
    const { v6: _b, ...want } = v6;
    expect(rest).toEqual(want);
  });
});
