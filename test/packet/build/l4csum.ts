// TCP and UDP share the pseudo-header checksum; only the field offset differs.
import { csumPartial, csumFold, pseudoHeaderSum } from '../../../src/packet/checksum.js';

/**
 * Checksum of an L4 segment with its pseudo-header, treating the 2-byte field
 * at `off + fieldOff` as zero (so it can be called on a filled-in segment).
 */
export function l4Checksum(
  buf: Uint8Array, off: number, len: number, fieldOff: number,
  src: number, dst: number, protocol: number,
): number {
  let sum = pseudoHeaderSum(src >>> 0, dst >>> 0, protocol, len);
  sum = csumPartial(buf, off, fieldOff, sum);
  sum = csumPartial(buf, off + fieldOff + 2, len - fieldOff - 2, sum);
  return csumFold(sum);
}

/** True when the segment's checksum (including its field) folds to zero. */
export function l4ChecksumOk(buf: Uint8Array, off: number, len: number, src: number, dst: number, protocol: number): boolean {
  return csumFold(csumPartial(buf, off, len, pseudoHeaderSum(src >>> 0, dst >>> 0, protocol, len))) === 0;
}
