// The RX ring geometry lvsd opens per interface (src/io/ring-geometry.ts).
import { describe, expect, it } from 'vitest';
import { ringGeometry } from '../../src/io/ring-geometry.js';

/** Where the kernel puts a frame in a V2 slot with PACKET_VNET_HDR (af_packet.c's macoff: TPACKET_ALIGN(52 + 16) + 10 - 14). */
const V2_MACOFF = 76;

describe('ringGeometry', () => {
  it('default: both rings TPACKET_V2, so no socket has a block retire timer and every frame is handed over as it lands', () => {
    const g = ringGeometry();
    expect(g.small.rxVersion).toBe(2);
    expect(g.big.rxVersion).toBe(2);
    // The small ring's gate leaves every frame it admits whole in a slot.
    expect(V2_MACOFF + g.bigFrame).toBeLessThanOrEqual(g.small.rxFrameSize!);
    // A big slot holds the largest GSO super-frame (IPv4 tot_len 65535 + Ethernet) after its headers.
    expect(V2_MACOFF + 65535 + 14).toBeLessThanOrEqual(g.big.rxFrameSize!);
    expect(g.big.rxBlockSize! % g.big.rxFrameSize!).toBe(0);
    // As many super-frames in flight as the V3 ring held (32 blocks of two).
    expect((g.big.rxBlockSize! / g.big.rxFrameSize!) * g.big.rxBlockCount!).toBeGreaterThanOrEqual(64);
    expect(g.big.vnetHdr && g.small.vnetHdr).toBe(true);
  });

  it('--rx-ring v3 keeps the old block rings for both', () => {
    const g = ringGeometry(3);
    expect(g.small.rxVersion).toBe(3);
    expect(g.big.rxVersion).toBe(3);
  });
});
