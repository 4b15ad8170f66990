// The sync wire format: round trips, a datagram laid out by hand from the
// kernel's structs (ip_vs_sync.c), version 0, and every way a datagram can be
// refused. decodeMessage never throws (checked over random bytes).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  IP_VS_CONN_F_DROUTE, IP_VS_CONN_F_INACTIVE, IP_VS_CONN_F_NOOUTPUT, IP_VS_CONN_F_TEMPLATE, IP_VS_CONN_F_HASHED,
  SyncEncoder, type SyncConn, decodeMessage, encodeMessage,
} from '../../src/sync/message.js';
import { ipToU32 } from '../../src/packet/addr.js';
import { parseIpv6 } from '../../src/packet/ipv6.js';

const conn = (k: number, over: Partial<SyncConn> = {}): SyncConn => ({
  protocol: 6, flags: IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT, state: 1, cport: 40000 + k, vport: 80, dport: 8080,
  fwmark: 0, timeout: 900, caddr: ipToU32('192.0.2.1') + k, vaddr: ipToU32('10.0.0.100'), daddr: ipToU32('10.0.1.11'), ...over,
});

/** A hand-written version 1 datagram: struct ip_vs_sync_mesg + one struct ip_vs_sync_v4, bytes as the kernel writes them. */
const KERNEL_V1 = Uint8Array.from([
  // ip_vs_sync_mesg: reserved 0, syncid 7, size 44 (be16), nr_conns 1, version 1, spare 0
  0x00, 0x07, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x00,
  // ip_vs_sync_v4: type 0, protocol 6, ver_size 0x0024 (version 0, size 36)
  0x00, 0x06, 0x00, 0x24,
  // flags (be32): DROUTE | NOOUTPUT | INACTIVE | HASHED (the kernel masks HASHED out; the receiver must not care)
  0x00, 0x00, 0x01, 0xc3,
  // state 4 (FIN_WAIT), cport 51000, vport 80, dport 80
  0x00, 0x04, 0xc7, 0x38, 0x00, 0x50, 0x00, 0x50,
  // fwmark 0, timeout 120 s
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x78,
  // caddr 192.0.2.9, vaddr 10.0.0.100, daddr 10.0.1.12
  192, 0, 2, 9, 10, 0, 0, 100, 10, 0, 1, 12,
]);

describe('sync message v1', () => {
  it('decodes a datagram laid out from the kernel structs', () => {
    const r = decodeMessage(KERNEL_V1, 7);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.msg.version).toBe(1);
    expect(r.msg.syncid).toBe(7);
    expect(r.msg.conns).toEqual([{
      protocol: 6, flags: 0x1c3, state: 4, cport: 51000, vport: 80, dport: 80, fwmark: 0, timeout: 120,
      caddr: ipToU32('192.0.2.9'), vaddr: ipToU32('10.0.0.100'), daddr: ipToU32('10.0.1.12'),
    }]);
  });

  it('encodes the same bytes the kernel lays out (HASHED masked off)', () => {
    const c = conn(0, { flags: 0x1c3, state: 4, cport: 51000, dport: 80, timeout: 120, caddr: ipToU32('192.0.2.9'), daddr: ipToU32('10.0.1.12') });
    const b = encodeMessage(7, [c]);
    const want = KERNEL_V1.slice();
    want[15] = 0xc3 & ~IP_VS_CONN_F_HASHED;
    expect([...b]).toEqual([...want]);
  });

  it('round-trips many entries, templates included', () => {
    const cs = [conn(1), conn(2, { protocol: 17, state: 0, timeout: 300 }),
      conn(3, { cport: 0, flags: IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT, state: 0, timeout: 360 })];
    const r = decodeMessage(encodeMessage(0, cs), 0);
    expect(r.ok && r.msg.conns).toEqual(cs);
  });

  it('batches up to sync_maxlen: 1472 bytes hold 40 entries', () => {
    const e = new SyncEncoder(1, 1472);
    const msgs: Uint8Array[] = [];
    for (let k = 0; k < 100; k++) { const m = e.add(conn(k)); if (m) msgs.push(m); }
    msgs.push(e.flush()!);
    expect(msgs.map((m) => m.length)).toEqual([8 + 40 * 36, 8 + 40 * 36, 8 + 20 * 36]);
    const all = msgs.flatMap((m) => { const r = decodeMessage(m, 1); return r.ok ? r.msg.conns : []; });
    expect(all.map((c) => c.cport)).toEqual(Array.from({ length: 100 }, (_, k) => 40000 + k));
    expect(e.flush()).toBeNull();
  });

  it('parses and skips options: sequence data, optional params, pe data', () => {
    // Entry with a SEQ_DATA option (2 + 24 bytes): size 62, padded to 64.
    const seq = new Uint8Array(8 + 64 + 36);
    seq.set(KERNEL_V1.subarray(8), 8);
    seq[8 + 3] = 62;
    seq[8 + 36] = 1; seq[8 + 37] = 24;
    seq.set(KERNEL_V1.subarray(8), 8 + 64);
    seq.set([0, 9, 0, seq.length, 2, 1, 0, 0], 0);
    const r = decodeMessage(seq, 9);
    expect(r.ok && r.msg.conns.length).toBe(2);
    // Unknown optional (0x40 | 5) is skipped; unknown mandatory (5) drops that entry only.
    const opt = (t: number) => {
      const b = new Uint8Array(8 + 40);
      b.set(KERNEL_V1.subarray(8), 8);
      b[8 + 3] = 40; b[8 + 36] = t; b[8 + 37] = 2;
      b.set([0, 9, 0, b.length, 1, 1, 0, 0], 0);
      return b;
    };
    const o1 = decodeMessage(opt(0x45), 9);
    expect(o1.ok && [o1.msg.conns.length, o1.msg.skipped]).toEqual([1, 0]);
    const o2 = decodeMessage(opt(5), 9);
    expect(o2.ok && [o2.msg.conns.length, o2.msg.skipped]).toEqual([0, 1]);
    const bad = opt(1); // sequence option of length 2: malformed
    expect(decodeMessage(bad, 9)).toMatchObject({ ok: false, reason: 'bad_entry' });
  });

  it('refuses short, bad size, other syncid, wrong version, garbage', () => {
    expect(decodeMessage(new Uint8Array(3), 0)).toMatchObject({ ok: false, reason: 'short' });
    const sz = KERNEL_V1.slice(); sz[3] = 40;
    expect(decodeMessage(sz, 0)).toMatchObject({ ok: false, reason: 'bad_size' });
    expect(decodeMessage(KERNEL_V1, 8)).toMatchObject({ ok: false, reason: 'other_syncid' });
    expect(decodeMessage(KERNEL_V1, 0).ok).toBe(true); // syncid 0 on the backup accepts any
    const ver = KERNEL_V1.slice(); ver[5] = 2;
    expect(decodeMessage(ver, 0)).toMatchObject({ ok: false, reason: 'bad_version' });
    const ev = KERNEL_V1.slice(); ev[10] = 0x10; // entry version 1
    expect(decodeMessage(ev, 0)).toMatchObject({ ok: false, reason: 'bad_entry' });
    const many = KERNEL_V1.slice(); many[4] = 2; // claims 2 entries, holds 1
    expect(decodeMessage(many, 0)).toMatchObject({ ok: false, reason: 'bad_entry' });
  });

  it('never throws on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (b, fix) => {
      if (fix && b.length >= 4) { b[2] = b.length >> 8; b[3] = b.length & 0xff; }
      const r = decodeMessage(b, 0);
      return typeof r.ok === 'boolean';
    }), { numRuns: 3000 });
  });
});

describe('sync message v0', () => {
  it('decodes struct ip_vs_sync_mesg_v0 + ip_vs_sync_conn_v0, with and without sequence options', () => {
    const e = (cport: number, flags: number) => [
      0, 6, cport >> 8, cport & 0xff, 0, 80, 0, 80, 192, 0, 2, 9, 10, 0, 0, 100, 10, 0, 1, 12, flags >> 8, flags & 0xff, 0, 1,
    ];
    const body = [...e(1000, 0x0083), ...e(1001, 0x0683), ...new Array(24).fill(0)];
    const b = Uint8Array.from([2, 5, 0, 4 + body.length, ...body]);
    const r = decodeMessage(b, 5);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.msg.version).toBe(0);
    expect(r.msg.conns.map((c) => [c.cport, c.flags, c.state, c.timeout])).toEqual([[1000, 0x83, 1, 0], [1001, 0x683, 1, 0]]);
    expect(r.msg.conns[0]!.daddr).toBe(ipToU32('10.0.1.12'));
    const cut = b.slice(0, b.length - 24); cut[3] = cut.length;
    expect(decodeMessage(cut, 5)).toMatchObject({ ok: false, reason: 'bad_entry' });
    void IP_VS_CONN_F_INACTIVE;
  });
});

const a6 = (s: string) => parseIpv6(s)!;
const conn6 = (k: number, over: Partial<SyncConn> = {}): SyncConn => ({
  protocol: 6, flags: IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT, state: 1, cport: 50000 + k, vport: 443, dport: 443,
  fwmark: 0, timeout: 900, caddr: 0, vaddr: 0, daddr: 0,
  v6: { caddr: a6(`2001:db8:c::${(k + 1).toString(16)}`), vaddr: a6('2001:db8::100'), daddr: a6('2001:db8:1::11') }, ...over,
});

/**
 * struct ip_vs_mesg + struct ip_vs_sync_v6 + struct ip_vs_sync_v4, written
 * out by hand from ip_vs_sync.c: the v6 entry is the same 24 leading bytes
 * with type STYPE_F_INET6 (1 << 0), then three struct in6_addr: 72 bytes.
 */
const KERNEL_V6_MIXED = Uint8Array.from([
  // ip_vs_sync_mesg: reserved 0, syncid 7, size 8 + 72 + 36 = 116, nr_conns 2, version 1, spare 0
  0x00, 0x07, 0x00, 0x74, 0x02, 0x01, 0x00, 0x00,
  // ip_vs_sync_v6: type 1 (STYPE_F_INET6), protocol 6, ver_size 0x0048 (version 0, size 72)
  0x01, 0x06, 0x00, 0x48,
  // flags DROUTE | NOOUTPUT | INACTIVE | HASHED
  0x00, 0x00, 0x01, 0xc3,
  // state 4 (FIN_WAIT), cport 51000, vport 80, dport 8080
  0x00, 0x04, 0xc7, 0x38, 0x00, 0x50, 0x1f, 0x90,
  // fwmark 0, timeout 120 s
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x78,
  // caddr 2001:db8::9
  0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x09,
  // vaddr 2001:db8::100
  0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
  // daddr 2001:db8:1::12
  0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12,
  // then an ip_vs_sync_v4 in the same message (already 4-byte aligned)
  ...KERNEL_V1.subarray(8),
]);

describe('sync message v1: IPv6 entries (struct ip_vs_sync_v6)', () => {
  const kernelV6: SyncConn = {
    protocol: 6, flags: 0x1c3, state: 4, cport: 51000, vport: 80, dport: 8080, fwmark: 0, timeout: 120, caddr: 0, vaddr: 0, daddr: 0,
    v6: { caddr: a6('2001:db8::9'), vaddr: a6('2001:db8::100'), daddr: a6('2001:db8:1::12') },
  };

  it('decodes a hand-laid IPv6 entry beside an IPv4 one in one message', () => {
    const r = decodeMessage(KERNEL_V6_MIXED, 7);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.msg.skipped).toBe(0);
    expect(r.msg.conns).toEqual([kernelV6, {
      protocol: 6, flags: 0x1c3, state: 4, cport: 51000, vport: 80, dport: 80, fwmark: 0, timeout: 120,
      caddr: ipToU32('192.0.2.9'), vaddr: ipToU32('10.0.0.100'), daddr: ipToU32('10.0.1.12'),
    }]);
  });

  it('encodes those bytes exactly (HASHED masked off), type 1 and size 72 for the IPv6 entry', () => {
    const v4 = conn(0, { flags: 0x1c3, state: 4, cport: 51000, dport: 80, timeout: 120, caddr: ipToU32('192.0.2.9'), daddr: ipToU32('10.0.1.12') });
    const b = encodeMessage(7, [kernelV6, v4]);
    const want = KERNEL_V6_MIXED.slice();
    want[8 + 7] = 0xc3 & ~IP_VS_CONN_F_HASHED;
    want[8 + 72 + 7] = 0xc3 & ~IP_VS_CONN_F_HASHED;
    expect([...b]).toEqual([...want]);
  });

  it('round-trips mixed families, templates included, and batches by size: 1472 bytes hold 20 IPv6 entries', () => {
    const cs = [conn6(1), conn(2), conn6(3, { protocol: 17, state: 0, timeout: 300 }),
      conn6(4, { cport: 0, vport: 443, flags: IP_VS_CONN_F_TEMPLATE | IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NOOUTPUT | IP_VS_CONN_F_INACTIVE, state: 0, timeout: 360 })];
    const r = decodeMessage(encodeMessage(0, cs), 0);
    expect(r.ok && r.msg.conns).toEqual(cs);
    const e = new SyncEncoder(1, 1472);
    const msgs: Uint8Array[] = [];
    for (let k = 0; k < 50; k++) { const m = e.add(conn6(k)); if (m) msgs.push(m); }
    msgs.push(e.flush()!);
    expect(msgs.map((m) => m.length)).toEqual([8 + 20 * 72, 8 + 20 * 72, 8 + 10 * 72]);
    const all = msgs.flatMap((m) => { const d = decodeMessage(m, 1); return d.ok ? d.msg.conns : []; });
    expect(all.map((c) => c.cport)).toEqual(Array.from({ length: 50 }, (_, k) => 50000 + k));
  });

  it('a sync_maxlen below one entry still sends every entry, one a message (ip_vs_sync_buff_create takes the larger)', () => {
    const e = new SyncEncoder(3, 40);
    expect(e.add(conn6(0))).toBeNull();
    const first = e.add(conn(1));
    expect(first?.length).toBe(8 + 72);
    expect(e.flush()?.length).toBe(8 + 36);
    expect(() => new SyncEncoder(3, 0)).toThrow(RangeError);
  });

  it('an IPv6 entry with options: sequence data is parsed past the 72-byte struct; a size below 72 drops the datagram', () => {
    // size 72 + 26 = 98, padded to 100 in the message.
    const b = new Uint8Array(8 + 100 + 36);
    b.set(KERNEL_V6_MIXED.subarray(8, 8 + 72), 8);
    b[8 + 3] = 98;
    b[8 + 72] = 1; b[8 + 73] = 24;
    b.set(KERNEL_V1.subarray(8), 8 + 100);
    b.set([0, 7, 0, b.length, 2, 1, 0, 0], 0);
    const r = decodeMessage(b, 7);
    expect(r.ok && r.msg.conns.map((c) => [c.cport, c.v6 !== undefined])).toEqual([[51000, true], [51000, false]]);
    // An IPv6 entry claiming the IPv4 struct's size: its addresses would run into the next entry.
    const short = KERNEL_V6_MIXED.slice();
    short[8 + 3] = 60;
    expect(decodeMessage(short, 7)).toMatchObject({ ok: false, reason: 'bad_entry' });
    // Any type with bit 0 set is IPv6 to the kernel (s->v6.type & STYPE_F_INET6); another type is refused.
    const t3 = KERNEL_V6_MIXED.slice(); t3[8] = 3;
    expect(decodeMessage(t3, 7).ok).toBe(true);
    const t2 = KERNEL_V6_MIXED.slice(); t2[8] = 2;
    expect(decodeMessage(t2, 7)).toMatchObject({ ok: false, reason: 'bad_entry' });
  });

  it('never throws on random bytes behind a valid IPv6 header', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 8, maxLength: 200 }), (tail) => {
      const b = new Uint8Array(8 + tail.length);
      b.set([0, 1, (b.length >> 8) & 0xff, b.length & 0xff, 1 + (tail[0]! & 3), 1, 0, 0]);
      b.set(tail, 8);
      b[8] = 1;
      const r = decodeMessage(b, 1);
      return typeof r.ok === 'boolean';
    }), { numRuns: 3000 });
  });
});
