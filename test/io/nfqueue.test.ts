// The parts of the NFQUEUE reader that need no kernel: the queue number of
// an instance and the kernel's per-queue counters. The reader itself runs in
// test/lab/forward-fwmark.test.ts against the kernel's queue.
import { describe, expect, it } from 'vitest';
import { DEFAULT_FWMARK_QUEUE, parseProcQueue, queueNumFor } from '../../src/io/nfqueue.js';

describe('NFQUEUE reader', () => {
  it('one queue number per lvsd instance: the default one, or one derived from the socket suffix', () => {
    expect(queueNumFor(undefined)).toBe(DEFAULT_FWMARK_QUEUE);
    const a = queueNumFor('0a1b2c3d');
    expect(a).toBeGreaterThan(DEFAULT_FWMARK_QUEUE);
    expect(a).toBeLessThanOrEqual(DEFAULT_FWMARK_QUEUE + 1000);
    expect(queueNumFor('0a1b2c3d')).toBe(a);
    expect(queueNumFor('ffff0000')).not.toBe(a);
  });

  it('reads its line of /proc/net/netfilter/nfnetlink_queue (nfqnl_seq_show)', () => {
    // queue_num peer_portid queue_total copy_mode copy_range queue_dropped queue_user_dropped id_sequence 1
    const text = '    0  12345     0 2 65535     0     0        0  1\n47000   4001    17 2 65535     3     5    98765  1\n';
    expect(parseProcQueue(text, 47000)).toEqual({ queueTotal: 17, queueDropped: 3, userDropped: 5, idSequence: 98765 });
    expect(parseProcQueue(text, 0)?.queueTotal).toBe(0);
    expect(parseProcQueue(text, 1)).toBeUndefined();
    expect(parseProcQueue('', 47000)).toBeUndefined();
  });
});
