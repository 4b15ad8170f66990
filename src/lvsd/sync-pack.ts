// Synced conns between lvsd's main thread (the sync daemons) and its
// workers, as flat u32 words: one transferable buffer per batch instead of
// an object per conn through structured cloning.
import type { SyncConn } from '../ipvs/sync.js';

const FIELDS = ['protocol', 'flags', 'state', 'cport', 'vport', 'dport', 'fwmark', 'timeout', 'caddr', 'vaddr', 'daddr'] as const;
export const SYNC_WORDS = FIELDS.length;

export function packSyncConns(conns: readonly SyncConn[]): Uint32Array {
  const out = new Uint32Array(conns.length * SYNC_WORDS);
  let o = 0;
  for (const c of conns) for (const f of FIELDS) out[o++] = c[f] >>> 0;
  return out;
}

export function unpackSyncConns(words: Uint32Array): SyncConn[] {
  const out: SyncConn[] = [];
  for (let o = 0; o + SYNC_WORDS <= words.length; o += SYNC_WORDS) {
    const c = {} as Record<(typeof FIELDS)[number], number>;
    FIELDS.forEach((f, i) => { c[f] = words[o + i]!; });
    out.push(c as SyncConn);
  }
  return out;
}
