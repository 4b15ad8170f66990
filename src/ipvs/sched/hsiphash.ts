// The kernel's hsiphash() as 64-bit kernels compute it (lib/siphash.c: on
// BITS_PER_LONG == 64 "HalfSipHash1-3" is really SipHash-1-3, truncated to
// u32), for inputs of at most 4 bytes, which is all ip_vs_mh.c hashes. With
// it, lvsd's Maglev table is slot for slot the one a 64-bit kernel builds
// for the same dest list. (32-bit kernels run real HalfSipHash and build a
// different table.) 64-bit words are kept as hi/lo u32 pairs.

const C0_HI = 0x736f6d65, C0_LO = 0x70736575;
const C1_HI = 0x646f7261, C1_LO = 0x6e646f6d;
const C2_HI = 0x6c796765, C2_LO = 0x6e657261;
const C3_HI = 0x74656462, C3_LO = 0x79746573;

/**
 * hsiphash(data, len, key) for len <= 4, data given as the little-endian
 * value of its bytes; the key as the low/high halves of key[0] and key[1].
 */
export function hsiphashShort(
  data: number,
  len: number,
  k0lo: number,
  k0hi: number,
  k1lo: number,
  k1hi: number,
): number {
  let v0lo = C0_LO ^ k0lo, v0hi = C0_HI ^ k0hi;
  let v1lo = C1_LO ^ k1lo, v1hi = C1_HI ^ k1hi;
  let v2lo = C2_LO ^ k0lo, v2hi = C2_HI ^ k0hi;
  let v3lo = C3_LO ^ k1lo, v3hi = C3_HI ^ k1hi;
  // b = len << 56 | data; no full 8-byte block precedes it.
  const blo = data | 0;
  const bhi = len << 24;
  v3lo ^= blo;
  v3hi ^= bhi;
  let s: number, t: number;
  // Words stay int32 (V8 keeps them unboxed); only the carry test reads
  // them as unsigned.
  // One compression round (SipHash-1-3), then the finalisation's three.
  for (let r = 0; r < 4; r++) {
    if (r === 1) {
      v0lo ^= blo;
      v0hi ^= bhi;
      v2lo ^= 0xff;
    }
    // SIPHASH_PERMUTATION(v0, v1, v2, v3)
    s = (v0lo + v1lo) | 0; v0hi = (v0hi + v1hi + ((s >>> 0) < (v0lo >>> 0) ? 1 : 0)) | 0; v0lo = s;
    t = v1hi; v1hi = ((v1hi << 13) | (v1lo >>> 19)); v1lo = ((v1lo << 13) | (t >>> 19));
    v1lo ^= v0lo; v1hi ^= v0hi;
    t = v0hi; v0hi = v0lo; v0lo = t;
    s = (v2lo + v3lo) | 0; v2hi = (v2hi + v3hi + ((s >>> 0) < (v2lo >>> 0) ? 1 : 0)) | 0; v2lo = s;
    t = v3hi; v3hi = ((v3hi << 16) | (v3lo >>> 16)); v3lo = ((v3lo << 16) | (t >>> 16));
    v3lo ^= v2lo; v3hi ^= v2hi;
    s = (v0lo + v3lo) | 0; v0hi = (v0hi + v3hi + ((s >>> 0) < (v0lo >>> 0) ? 1 : 0)) | 0; v0lo = s;
    t = v3hi; v3hi = ((v3hi << 21) | (v3lo >>> 11)); v3lo = ((v3lo << 21) | (t >>> 11));
    v3lo ^= v0lo; v3hi ^= v0hi;
    s = (v2lo + v1lo) | 0; v2hi = (v2hi + v1hi + ((s >>> 0) < (v2lo >>> 0) ? 1 : 0)) | 0; v2lo = s;
    t = v1hi; v1hi = ((v1hi << 17) | (v1lo >>> 15)); v1lo = ((v1lo << 17) | (t >>> 15));
    v1lo ^= v2lo; v1hi ^= v2hi;
    t = v2hi; v2hi = v2lo; v2lo = t;
  }
  return (v0lo ^ v1lo ^ v2lo ^ v3lo) >>> 0;
}
