// Synced conns between lvsd's main thread (the sync daemons) and its
// workers, as flat u32 words: one transferable buffer per batch instead of
// an object per conn through structured cloning. Every conn takes the same
// SYNC_WORDS: the IPv4 fields, a family word, and room for an IPv6 entry's
// three addresses (zero for IPv4).
import type { SyncConn } from '../ipvs/sync.js';

const FIELDS = ['protocol', 'flags', 'state', 'cport', 'vport', 'dport', 'fwmark', 'timeout', 'caddr', 'vaddr', 'daddr'] as const;
const V6_FLAG = FIELDS.length;
const V6_BYTES = 3 * 16;
export const SYNC_WORDS = FIELDS.length + 1 + V6_BYTES / 4;

export function packSyncConns(conns: readonly SyncConn[]): Uint32Array {
  const out = new Uint32Array(conns.length * SYNC_WORDS);
  const bytes = new Uint8Array(out.buffer);
  for (let k = 0; k < conns.length; k++) {
    const c = conns[k]!;
    const o = k * SYNC_WORDS;
    FIELDS.forEach((f, i) => { out[o + i] = c[f] >>> 0; });
    if (c.v6) {
      out[o + V6_FLAG] = 1;
      const b = (o + V6_FLAG + 1) * 4;
      bytes.set(c.v6.caddr.subarray(0, 16), b);
      bytes.set(c.v6.vaddr.subarray(0, 16), b + 16);
      bytes.set(c.v6.daddr.subarray(0, 16), b + 32);
    }
  }
  return out;
}

export function unpackSyncConns(words: Uint32Array): SyncConn[] {
  const out: SyncConn[] = [];
  const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  for (let o = 0; o + SYNC_WORDS <= words.length; o += SYNC_WORDS) {
    const c = {} as Record<(typeof FIELDS)[number], number>;
    FIELDS.forEach((f, i) => { c[f] = words[o + i]!; });
    const conn = c as SyncConn;
    if (words[o + V6_FLAG] === 1) {
      const b = (o + V6_FLAG + 1) * 4;
      conn.v6 = { caddr: bytes.slice(b, b + 16), vaddr: bytes.slice(b + 16, b + 32), daddr: bytes.slice(b + 32, b + 48) };
    }
    out.push(conn);
  }
  return out;
}
