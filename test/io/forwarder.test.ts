import { describe, it, expect } from 'vitest';
import { completeL4Checksum } from '../../src/io/forwarder.js';
import { buildTcpFrame, buildUdpFrame } from '../packet/build/frame.js';
import { l4ChecksumOk } from '../packet/build/l4csum.js';
import { csumFold, pseudoHeaderSum } from '../../src/packet/checksum.js';
import { ipv6Upper, pseudoHeaderSum6, upperChecksum6 } from '../../src/packet/ipv6.js';
import { buildTcp6Frame, buildUdp6Frame } from '../packet/build/ipv6.js';

/** What a veth with checksum offload hands a packet socket: only the folded pseudo-header sum in the field (CHECKSUM_PARTIAL). */
function partial(frame: Uint8Array, field: number): Uint8Array {
  const f = frame.slice();
  const ip = 14;
  const ihl = (f[ip]! & 15) * 4;
  const tot = (f[ip + 2]! << 8) | f[ip + 3]!;
  const src = ((f[ip + 12]! << 24) | (f[ip + 13]! << 16) | (f[ip + 14]! << 8) | f[ip + 15]!) >>> 0;
  const dst = ((f[ip + 16]! << 24) | (f[ip + 17]! << 16) | (f[ip + 18]! << 8) | f[ip + 19]!) >>> 0;
  const ps = ~csumFold(pseudoHeaderSum(src, dst, f[ip + 9]!, tot - ihl)) & 0xffff;
  f[ip + ihl + field] = ps >> 8;
  f[ip + ihl + field + 1] = ps & 255;
  return f;
}

describe('completeL4Checksum', () => {
  it('turns a CHECKSUM_PARTIAL TCP or UDP frame into one with a full, valid checksum', () => {
    for (const [frame, field, proto] of [
      [buildTcpFrame({ payload: 'GET / HTTP/1.1\r\n\r\n' }), 16, 6],
      [buildUdpFrame({ payload: 'hello?' }), 6, 17],
    ] as const) {
      const f = partial(frame, field);
      const ip = 14;
      const l4 = ip + 20;
      const len = f.length - l4;
      const src = ((f[ip + 12]! << 24) | (f[ip + 13]! << 16) | (f[ip + 14]! << 8) | f[ip + 15]!) >>> 0;
      const dst = ((f[ip + 16]! << 24) | (f[ip + 17]! << 16) | (f[ip + 18]! << 8) | f[ip + 19]!) >>> 0;
      expect(l4ChecksumOk(f, l4, len, src, dst, proto)).toBe(false);
      completeL4Checksum(f, 0, f.length);
      expect(l4ChecksumOk(f, l4, len, src, dst, proto)).toBe(true);
      expect([...f]).toEqual([...frame]);
    }
  });

  it('leaves fragments and non-IPv4 frames alone', () => {
    const frag = partial(buildTcpFrame({ payload: 'x' }), 16);
    frag[14 + 6] = 0x20; // MF
    const copy = frag.slice();
    completeL4Checksum(frag, 0, frag.length);
    expect([...frag]).toEqual([...copy]);
    const arp = new Uint8Array(42); arp[12] = 0x08; arp[13] = 0x06;
    completeL4Checksum(arp, 0, arp.length);
    expect([...arp]).toEqual(new Array(42).fill(0).map((_, i) => (i === 12 ? 8 : i === 13 ? 6 : 0)));
  });
});

describe('completeL4Checksum, IPv6', () => {
  it('completes a CHECKSUM_PARTIAL TCP or UDP frame over the IPv6 pseudo-header, past extension headers', () => {
    for (const [frame, field, proto] of [
      [buildTcp6Frame({ payload: 'GET / HTTP/1.1\r\n\r\n' }), 16, 6],
      [buildUdp6Frame({ payload: 'hello?' }), 6, 17],
      [buildTcp6Frame({ payload: 'behind a header', ext: [{ type: 0 }, { type: 60, len: 16 }] }), 16, 6],
    ] as const) {
      const f = frame.slice();
      const l4 = 14 + (ipv6Upper(f, 14, f.length) >>> 8);
      const len = f.length - l4;
      const ps = ~csumFold(pseudoHeaderSum6(f, 14 + 8, 14 + 24, proto, len)) & 0xffff;
      f[l4 + field] = ps >> 8;
      f[l4 + field + 1] = ps & 255;
      expect(upperChecksum6(f, 14, l4, len, proto)).not.toBe(0);
      completeL4Checksum(f, 0, f.length);
      expect(upperChecksum6(f, 14, l4, len, proto)).toBe(0);
      expect([...f]).toEqual([...frame]);
    }
  });

  it('leaves IPv6 fragments and truncated frames alone', () => {
    const frag = buildTcp6Frame({ payload: 'x', ext: [{ type: 44, more: true }] });
    const copy = frag.slice();
    completeL4Checksum(frag, 0, frag.length);
    expect([...frag]).toEqual([...copy]);
    const cut = buildTcp6Frame({ payload: 'xyz' }).subarray(0, 70);
    const c2 = cut.slice();
    completeL4Checksum(cut, 0, cut.length);
    expect([...cut]).toEqual([...c2]);
  });
});
