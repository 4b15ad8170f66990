// The whole forwarder, rings included, under hostile input: TPACKET_V3 RX
// blocks are built in a plain ArrayBuffer exactly as the kernel lays them out
// (block descriptor, tpacket3_hdr chain, frames at tp_mac), filled with valid,
// oversize, truncated (snaplen < len), random and corrupted frames, and with
// broken block headers; TX rings that the fake kernel drains sometimes, so
// they fill. The real engine decides (NAT, DR and TUN services), wrapped so
// that it sometimes throws or answers outside its buffer. Nothing may throw,
// every block must go back to the kernel and every frame must land in exactly
// one counter.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Forwarder, makePort, type DataPathEngine, type DataPathNeigh, type PortSocket, type XmitOut } from '../../src/io/forwarder.js';
import {
  BLK_FIRST_PKT, BLK_NUM_PKTS, BLK_STATUS, H_LEN, H_MAC_NET, H_NEXT, H_SNAPLEN, H_STATUS, TP_STATUS_AVAILABLE,
  H2_LEN, H2_MAC_NET, H2_SNAPLEN, H2_STATUS,
  TP_STATUS_CSUMNOTREADY, TP_STATUS_SEND_REQUEST, TP_STATUS_USER, TP_STATUS_VLAN_VALID, TxRing,
} from '../../src/io/ring.js';
import { ipToU32 } from '../../src/packet/addr.js';
import { checksum, csumFold, pseudoHeaderSum } from '../../src/packet/checksum.js';
import { l4ChecksumOk } from '../packet/build/l4csum.js';
import { CLIENT, VIP, dest, engine, svc, tcp, tcpKey, udp, udpKey } from '../ipvs/helpers.js';
import { formatIpv6, parseIpv6, pseudoHeaderSum6, upperChecksum6 } from '../../src/packet/ipv6.js';
import { buildTcp6Frame } from '../packet/build/ipv6.js';

const BLOCK = 4096;
const BLOCKS = 8;
const TX_FRAME = 2048;
const TX_SLOTS = 4;
const TX_DATA = 48;
const MAC = [0x02, 0, 0, 0, 0, 0x01];
const MAC_STR = '02:00:00:00:00:01';
const RS_NAT = '192.168.1.10';
/** Where the kernel puts the frame in a tpacket3 frame slot (TPACKET_ALIGN(68 + 16) - 14). */
const MACOFF = 82;

interface FakePort {
  sock: PortSocket;
  u32: Uint32Array;
  u8: Uint8Array;
  /** Frames the fake kernel took off the TX ring, and the largest. */
  sent: number;
  /** TX slots with a length no slot can hold (the kernel would reject them). */
  badTx: number;
  /** Fake kernel: drain SEND_REQUEST slots on kick (false: the ring fills up). */
  draining: boolean;
}

/** TPACKET_V2 geometry of the fake: 2 KiB slots, two to a block; the kernel's macoff without a vnet header (TPACKET_ALIGN(52 + 16) - 14). */
const SLOT = 2048;
const MACOFF2 = 66;
const TX_DATA2 = 32;

function fakePort(ifname: string, v2 = false): FakePort {
  const rxSize = BLOCK * BLOCKS;
  const buf = new ArrayBuffer(rxSize + TX_FRAME * TX_SLOTS);
  const u32 = new Uint32Array(buf);
  const fp: FakePort = { sock: undefined as unknown as PortSocket, u32, u8: new Uint8Array(buf), sent: 0, badTx: 0, draining: true };
  const txData = v2 ? TX_DATA2 : TX_DATA;
  const hStatus = v2 ? H2_STATUS : H_STATUS;
  const hLen = v2 ? H2_LEN : H_LEN;
  const layout = { txOffset: rxSize, txFrameSize: TX_FRAME, txFrameCount: TX_SLOTS, txFramesPerBlock: TX_SLOTS, txBlockSize: TX_FRAME * TX_SLOTS, txDataOffset: txData, version: v2 ? 2 : 3 };
  const tx = new TxRing(buf, layout, () => {
    if (!fp.draining) return 0;
    let bytes = 0;
    for (let i = 0; i < TX_SLOTS; i++) {
      const h = (rxSize + i * TX_FRAME) >>> 2;
      if (u32[h + (hStatus >>> 2)] === TP_STATUS_SEND_REQUEST) {
        const len = u32[h + (hLen >>> 2)]!;
        // The kernel's own check: a slot never holds more than it can.
        if (len > TX_FRAME - txData || len < 14) fp.badTx++;
        bytes += len;
        fp.sent++;
        u32[h + (hStatus >>> 2)] = TP_STATUS_AVAILABLE;
      }
    }
    return bytes;
  });
  fp.sock = {
    buffer: buf, ifname, macBytes: Uint8Array.from(MAC), rx: { blockSize: BLOCK, blockCount: BLOCKS, frameSize: SLOT }, tx,
    onReadable: () => {}, pause: () => {}, version: v2 ? 2 : 3,
  };
  return fp;
}

/**
 * TPACKET_V2: fills free slots from `start` as the kernel would (tpacket2_hdr,
 * the frame at MACOFF2, cut to what the slot holds with tp_len the real
 * length); stops at a slot still user-owned (ring full). Returns frames written.
 */
function fillSlots(p: FakePort, start: number, frames: RxFrame[], corrupt: ((slot: number) => void) | undefined): number {
  const n = (BLOCK / SLOT) * BLOCKS;
  let written = 0;
  for (let k = 0; k < frames.length && k < n; k++) {
    const i = (start + k) % n;
    const off = i * SLOT; // blocks are whole multiples of slots here, back to back
    const h = off >>> 2;
    if (p.u32[h + (H2_STATUS >>> 2)]! & TP_STATUS_USER) break;
    const f = frames[k]!;
    const cap = Math.min(f.caplen, f.bytes.length, SLOT - MACOFF2);
    p.u32.fill(0, h, h + 8);
    p.u32[h + (H2_SNAPLEN >>> 2)] = cap;
    p.u32[h + (H2_LEN >>> 2)] = Math.max(f.wirelen, cap);
    p.u32[h + (H2_MAC_NET >>> 2)] = MACOFF2 | ((MACOFF2 + 14) << 16);
    p.u8.set(f.bytes.subarray(0, cap), off + MACOFF2);
    corrupt?.(off);
    p.u32[h + (H2_STATUS >>> 2)] = (f.status | TP_STATUS_USER) >>> 0;
    written++;
  }
  return written;
}

interface RxFrame { bytes: Uint8Array; caplen: number; wirelen: number; status: number }

/**
 * Fills the next blocks as the kernel would (tpacket3_hdr, then the frame at
 * MACOFF, frames 16-aligned back to back); a frame longer than a block is cut
 * to what fits (the kernel's max_frame_len), with tp_len its real length.
 * Returns how many frames were written.
 */
function fillBlocks(p: FakePort, start: number, frames: RxFrame[], corrupt: ((blk: number) => void) | undefined): number {
  let fi = 0;
  let written = 0;
  for (let b = 0; b < BLOCKS && fi < frames.length; b++) {
    const blkIdx = (start + b) % BLOCKS;
    const blk = blkIdx * BLOCK;
    if (p.u32[(blk + BLK_STATUS) >>> 2]! & TP_STATUS_USER) break; // still user-owned: the ring is full
    let off = 48;
    let n = 0;
    let prev = -1;
    while (fi < frames.length) {
      const f = frames[fi]!;
      const room = BLOCK - off - MACOFF;
      const cap = Math.min(f.caplen, f.bytes.length, BLOCK - 48 - MACOFF);
      if (cap > room) break;
      const h = (blk + off) >>> 2;
      p.u32.fill(0, h, h + 12);
      p.u32[h + (H_SNAPLEN >>> 2)] = cap;
      p.u32[h + (H_LEN >>> 2)] = Math.max(f.wirelen, cap);
      p.u32[h + (H_STATUS >>> 2)] = f.status | TP_STATUS_USER;
      p.u32[h + (H_MAC_NET >>> 2)] = MACOFF | ((MACOFF + 14) << 16);
      p.u8.set(f.bytes.subarray(0, cap), blk + off + MACOFF);
      if (prev >= 0) p.u32[(prev >>> 2) + (H_NEXT >>> 2)] = off - (prev - blk);
      prev = blk + off;
      off += (MACOFF + cap + 15) & ~15;
      n++;
      fi++;
    }
    p.u32[(blk + BLK_NUM_PKTS) >>> 2] = n;
    p.u32[(blk + BLK_FIRST_PKT) >>> 2] = 48;
    corrupt?.(blk);
    p.u32[(blk + BLK_STATUS) >>> 2] = TP_STATUS_USER;
    written += n;
  }
  return written;
}

function realEngine() {
  const e = engine({ maxConns: 2000, connTableBits: 10 });
  e.addService(svc(tcpKey(80)));
  e.addDest(tcpKey(80), dest(RS_NAT, 8080, { fwd: 'masq' }));
  e.addService(svc(tcpKey(443)));
  e.addDest(tcpKey(443), dest('192.168.1.12', 443, { fwd: 'tunnel' }), { tunSource: ipToU32('192.168.1.1') });
  e.addService(svc(udpKey(53)));
  e.addDest(udpKey(53), dest('192.168.1.11', 53));
  const k6 = { kind: 'addr' as const, protocol: 'tcp' as const, addr: '2001:db8::100', port: 80 };
  e.addService(svc(k6));
  e.addDest(k6, dest('2001:db8:1::10', 8080, { fwd: 'masq' }));
  e.addDest(k6, dest('2001:db8:1::13', 8080, { fwd: 'masq' }));
  return e;
}

function bases(): Uint8Array[] {
  const m = { dstMac: MAC_STR };
  return [
    tcp({ ...m, flags: 'S', srcPort: 1000 }),
    tcp({ ...m, flags: 'A', srcPort: 1000, payload: new Uint8Array(1400) }),
    tcp({ ...m, flags: 'S', dstPort: 443, srcPort: 1001, payload: 'x' }),
    tcp({ ...m, flags: 'A', dstPort: 443, srcPort: 1001, payload: new Uint8Array(1460) }),
    tcp({ ...m, flags: 'SA', src: RS_NAT, dst: CLIENT, srcPort: 8080, dstPort: 1000 }),
    udp({ ...m, srcPort: 5353, payload: 'q' }),
    // A super-frame as a TSO sender hands veth: far longer than a TX slot.
    tcp({ ...m, flags: 'A', srcPort: 1000, payload: new Uint8Array(2900) }),
    tcp({ ...m, flags: 'S', src: '10.0.0.2', payload: new Uint8Array(3500) }),
    tcp({ flags: 'S', srcPort: 1000 }), // another host's MAC
    buildTcp6Frame({ ...m, flags: 'S', srcPort: 1000 }),
    buildTcp6Frame({ ...m, flags: 'A', srcPort: 1000, payload: new Uint8Array(1400), ext: [{ type: 0 }] }),
    buildTcp6Frame({ ...m, flags: 'SA', src: '2001:db8:1::10', dst: '2001:db8::1', srcPort: 8080, dstPort: 1000 }),
  ];
}

const frameArb = (b: Uint8Array[]) => fc.oneof(
  // a known frame, maybe mutated
  fc.record({
    base: fc.integer({ min: 0, max: b.length - 1 }),
    muts: fc.oneof(
      { arbitrary: fc.constant([] as [number, number][]), weight: 3 },
      { arbitrary: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), weight: 1 },
    ),
    cut: fc.oneof({ arbitrary: fc.constant(null), weight: 6 }, { arbitrary: fc.nat(), weight: 1 }),
    wireExtra: fc.oneof({ arbitrary: fc.constant(0), weight: 6 }, { arbitrary: fc.integer({ min: 1, max: 60000 }), weight: 1 }),
    status: fc.constantFrom(0, 0, TP_STATUS_CSUMNOTREADY, TP_STATUS_VLAN_VALID),
  }).map(({ base, muts, cut, wireExtra, status }): RxFrame => {
    const bytes = b[base]!.slice();
    for (const [i, v] of muts) bytes[i % bytes.length] = v;
    const caplen = cut === null ? bytes.length : cut % (bytes.length + 1);
    return { bytes, caplen, wirelen: caplen + wireExtra, status };
  }),
  // random bytes with this host's MAC
  fc.uint8Array({ minLength: 0, maxLength: 3000 }).map((r): RxFrame => {
    const bytes = new Uint8Array(Math.max(r.length, 6));
    bytes.set(r);
    bytes.set(MAC, 0);
    return { bytes, caplen: bytes.length, wirelen: bytes.length, status: 0 };
  }),
);

/** Ways to break a block header the kernel wrote. */
const corruptArb = fc.option(fc.record({
  field: fc.constantFrom(BLK_NUM_PKTS, BLK_FIRST_PKT, 48 + H_NEXT, 48 + H_MAC_NET, 48 + H_SNAPLEN),
  value: fc.oneof(fc.nat(), fc.constant(0), fc.constant(0xffffffff), fc.integer({ min: 1, max: BLOCK * 2 })),
}), { freq: 3 });

describe('Forwarder under hostile frames (rings included)', () => {
  it('never throws, returns every block and accounts for every frame', () => {
    const b = bases();
    const seen = { forwarded: 0, oversize: 0, truncated: 0, txFull: 0, badFrame: 0, neighMiss: 0, otherHost: 0, engineErrors: 0, drops: 0, ignored: 0 };
    fc.assert(fc.property(
      fc.array(fc.record({
        frames: fc.array(frameArb(b), { minLength: 1, maxLength: 60 }),
        corrupt: corruptArb,
        draining: fc.boolean(),
        port: fc.integer({ min: 0, max: 1 }),
      }), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 0, max: 20 }),
      (batches, chaos) => {
        const ports = [fakePort('eth0'), fakePort('eth1')];
        const real = realEngine();
        let calls = 0;
        // Sometimes a bug: the engine throws, or answers outside its buffer.
        const eng: DataPathEngine = {
          input(buf: Uint8Array, off: number, len: number, now: number, out: XmitOut): number {
            calls++;
            if (chaos && calls % (chaos + 7) === 0) throw new Error('engine bug');
            const v = real.input(buf, off, len, now, out);
            if (chaos && calls % (chaos + 11) === 0) { out.start = buf.length - 4; out.len = 100; }
            return v;
          },
        };
        let holds = 0;
        const neigh: DataPathNeigh = {
          writeMacs: (nextHop, buf, off) => {
            if ((nextHop & 3) === 3) return -1;
            buf.set(MAC, off);
            buf.set(MAC, off + 6);
            return nextHop & 1;
          },
          holdFrame: () => { holds++; },
          writeMacs6: (a, buf, off) => {
            if ((a[15]! & 3) === 3) return -1;
            buf.set(MAC, off);
            buf.set(MAC, off + 6);
            return a[15]! & 1;
          },
          holdFrame6: () => { holds++; },
        };
        const f = new Forwarder(eng, ports.map((p) => makePort(p.sock)), neigh, { now: () => 1000 });
        const starts = [0, 0];
        let fed = 0;
        for (const batch of batches) {
          const p = ports[batch.port]!;
          p.draining = batch.draining;
          const corrupt = batch.corrupt
            ? (blk: number) => { p.u32[(blk + batch.corrupt!.field) >>> 2] = batch.corrupt!.value >>> 0; }
            : undefined;
          const n = fillBlocks(p, starts[batch.port]!, batch.frames, corrupt);
          const walked = f.onReadable(batch.port);
          // Every block is handed back.
          for (let k = 0; k < BLOCKS; k++) expect(p.u32[(k * BLOCK + BLK_STATUS) >>> 2]! & TP_STATUS_USER).toBe(0);
          expect(walked).toBeGreaterThanOrEqual(0);
          void n;
          starts[batch.port] = f.ports[batch.port]!.cur;
          fed += walked;
        }
        const c = f.counters;
        expect(c.rxFrames).toBe(fed);
        expect(c.outcomes()).toBe(c.rxFrames);
        expect(c.txFrames).toBe(c.forwarded);
        // The loop itself never threw: all it met was bounds-checked.
        expect(c.faults).toBe(0);
        if (!chaos) expect(c.engineErrors).toBe(0);
        // Every forwarded frame is in a slot the fake kernel sent or still queued, never one it refused.
        expect(ports.reduce((s, p) => s + p.badTx, 0)).toBe(0);
        expect(ports.reduce((s, p) => s + p.sent + queuedSlots(p), 0)).toBe(c.forwarded);
        expect(holds).toBe(c.neighMiss);
        for (const k of Object.keys(seen) as (keyof typeof seen)[]) seen[k] += c[k];
      },
    ), { numRuns: 300 });
    // The runs reached every outcome, not only the easy ones.
    for (const [k, v] of Object.entries(seen)) expect(v, k).toBeGreaterThan(0);
  });

  it('drops a frame longer than a TX slot as io_drop_oversize instead of throwing', () => {
    const ports = [fakePort('eth0')];
    const e = realEngine();
    const neigh: DataPathNeigh = { writeMacs: (_n, buf, off) => { buf.set(MAC, off); buf.set(MAC, off + 6); return 0; }, holdFrame: () => {} };
    const f = new Forwarder(e, ports.map((p) => makePort(p.sock)), neigh, { now: () => 1 });
    const syn = tcp({ dstMac: MAC_STR, flags: 'S', srcPort: 1000 });
    const big = tcp({ dstMac: MAC_STR, flags: 'A', srcPort: 1000, payload: new Uint8Array(2962 - 54) });
    fillBlocks(ports[0]!, 0, [
      { bytes: syn, caplen: syn.length, wirelen: syn.length, status: 0 },
      { bytes: big, caplen: big.length, wirelen: big.length, status: 0 },
    ], undefined);
    expect(() => f.onReadable(0)).not.toThrow();
    expect(f.counters.rxFrames).toBe(2);
    expect(f.counters.forwarded).toBe(1);
    expect(f.counters.oversize).toBe(1);
    expect(ports[0]!.sent).toBe(1);
  });
});

describe('Forwarder under hostile frames, TPACKET_V2 slots', () => {
  it('never throws, returns every slot and accounts for every frame', () => {
    const b = bases();
    // (No oversize here: a 2 KiB RX slot cannot hold a frame longer than a 2 KiB TX slot.)
    const seen = { forwarded: 0, truncated: 0, badFrame: 0, otherHost: 0, drops: 0, ignored: 0 };
    fc.assert(fc.property(
      fc.array(fc.record({
        frames: fc.array(frameArb(b), { minLength: 1, maxLength: 40 }),
        corrupt: fc.option(fc.record({
          field: fc.constantFrom(H2_MAC_NET, H2_SNAPLEN),
          value: fc.oneof(fc.nat(), fc.constant(0), fc.constant(0xffffffff), fc.integer({ min: 1, max: SLOT * 2 })),
        }), { freq: 3 }),
        draining: fc.boolean(),
        port: fc.integer({ min: 0, max: 1 }),
      }), { minLength: 1, maxLength: 12 }),
      (batches) => {
        const ports = [fakePort('eth0', true), fakePort('eth1', true)];
        const neigh: DataPathNeigh = {
          writeMacs: (nextHop, buf, off) => { buf.set(MAC, off); buf.set(MAC, off + 6); return nextHop & 1; },
          holdFrame: () => {},
        };
        const f = new Forwarder(realEngine(), ports.map((p) => makePort(p.sock)), neigh, { now: () => 1000 });
        let fed = 0;
        for (const batch of batches) {
          const p = ports[batch.port]!;
          p.draining = batch.draining;
          const corrupt = batch.corrupt ? (off: number) => { p.u32[(off + batch.corrupt!.field) >>> 2] = batch.corrupt!.value >>> 0; } : undefined;
          const n = fillSlots(p, f.ports[batch.port]!.cur, batch.frames, corrupt);
          const walked = f.onReadable(batch.port);
          // Every slot the kernel handed over was walked and handed back.
          expect(walked).toBe(n);
          for (let k = 0; k < (BLOCK / SLOT) * BLOCKS; k++) expect(p.u32[((k * SLOT) >>> 2) + (H2_STATUS >>> 2)]! & TP_STATUS_USER).toBe(0);
          fed += walked;
        }
        const c = f.counters;
        expect(c.rxFrames).toBe(fed);
        expect(c.outcomes()).toBe(c.rxFrames);
        expect(c.faults).toBe(0);
        expect(c.engineErrors).toBe(0);
        expect(ports.reduce((s, p) => s + p.badTx, 0)).toBe(0);
        expect(ports.reduce((s, p) => s + p.sent + queuedSlots(p, true), 0)).toBe(c.forwarded);
        for (const k of Object.keys(seen) as (keyof typeof seen)[]) seen[k] += c[k];
      },
    ), { numRuns: 200 });
    for (const [k, v] of Object.entries(seen)) expect(v, k).toBeGreaterThan(0);
  });

  it('a V2 TX slot carries tpacket2_hdr status and length, the frame at offset 32', () => {
    const p = fakePort('eth0', true);
    p.draining = false;
    const neigh: DataPathNeigh = { writeMacs: (_n, buf, off) => { buf.set(MAC, off); buf.set(MAC, off + 6); return 0; }, holdFrame: () => {} };
    const f = new Forwarder(realEngine(), [makePort(p.sock)], neigh, { now: () => 1 });
    const syn = tcp({ dstMac: MAC_STR, flags: 'S', srcPort: 1000, dstPort: 53 }).slice();
    const udpq = udp({ dstMac: MAC_STR, srcPort: 5353, payload: 'q' });
    fillSlots(p, 0, [{ bytes: syn, caplen: syn.length, wirelen: syn.length, status: 0 }, { bytes: udpq, caplen: udpq.length, wirelen: udpq.length, status: 0 }], undefined);
    f.onReadable(0);
    expect(f.counters.forwarded).toBe(1); // the UDP query (DR to 192.168.1.11); the SYN to :53/tcp has no service
    const slot = BLOCK * BLOCKS;
    expect(p.u32[(slot + H2_STATUS) >>> 2]).toBe(TP_STATUS_SEND_REQUEST);
    expect(p.u32[(slot + H2_LEN) >>> 2]).toBe(udpq.length);
    expect([...p.u8.subarray(slot + TX_DATA2 + 14, slot + TX_DATA2 + udpq.length)]).toEqual([...udpq.subarray(14)]);
  });
});

function queuedSlots(p: FakePort, v2 = false): number {
  const hStatus = v2 ? H2_STATUS : H_STATUS;
  const base = BLOCK * BLOCKS;
  let n = 0;
  for (let i = 0; i < TX_SLOTS; i++) if (p.u32[((base + i * TX_FRAME) >>> 2) + (hStatus >>> 2)] === TP_STATUS_SEND_REQUEST) n++;
  return n;
}

describe('Forwarder: GSO super-frames (PACKET_VNET_HDR)', () => {
  /** A client's TCP super-frame as veth hands it: CHECKSUM_PARTIAL (pseudo-header sum in the field), virtio_net_hdr before it. */
  function superFrame(dstPort: number, payload: number, mss: number): { bytes: Uint8Array; vnet: Uint8Array } {
    const f = tcp({ dstMac: MAC_STR, flags: 'PA', srcPort: 1000, dstPort, seq: 1000, payload: new Uint8Array(payload).map((_, i) => i & 0xff) });
    const tot = f.length - 14;
    const ps = csumFold(pseudoHeaderSum(ipToU32(CLIENT), ipToU32(VIP), 6, tot - 20));
    const partial = ~ps & 0xffff;
    f[14 + 20 + 16] = partial >>> 8;
    f[14 + 20 + 17] = partial & 0xff;
    const v = new Uint8Array(10);
    v[0] = 1; v[1] = 1; v[2] = 54; v[4] = mss & 0xff; v[5] = mss >>> 8; v[6] = 34; v[8] = 16;
    return { bytes: f, vnet: v };
  }

  function run(dstPort: number) {
    const p = fakePort('eth0');
    const sends: { off: number; len: number; hdr: number[]; frame: Uint8Array }[] = [];
    (p.sock as { vnetHdrLen?: number }).vnetHdrLen = 10;
    (p.sock as { sendVnetAt?: unknown }).sendVnetAt = (buf: ArrayBuffer, off: number, len: number) => {
      const u = new Uint8Array(buf, off, len);
      sends.push({ off, len, hdr: [...u.subarray(0, 10)], frame: u.slice(10) });
      return len;
    };
    const e = realEngine();
    const neigh: DataPathNeigh = { writeMacs: (_n, buf, off) => { buf.set(MAC, off); buf.set(MAC, off + 6); return 0; }, holdFrame: () => {} };
    const f = new Forwarder(e, [makePort(p.sock)], neigh, { now: () => 1 });
    const syn = tcp({ dstMac: MAC_STR, flags: 'S', srcPort: 1000, dstPort, seq: 999 });
    const sf = superFrame(dstPort, 3000, 1448);
    // Frames at MACOFF + 10 (the vnet header sits in front), as the kernel lays them out with PACKET_VNET_HDR.
    const blk = 0;
    const put = (off: number, bytes: Uint8Array, vnet: Uint8Array) => {
      const h = (blk + off) >>> 2;
      p.u32.fill(0, h, h + 12);
      p.u32[h + (H_SNAPLEN >>> 2)] = bytes.length;
      p.u32[h + (H_LEN >>> 2)] = bytes.length;
      p.u32[h + (H_STATUS >>> 2)] = TP_STATUS_USER;
      p.u32[h + (H_MAC_NET >>> 2)] = (MACOFF + 10) | ((MACOFF + 24) << 16);
      p.u8.set(vnet, blk + off + MACOFF);
      p.u8.set(bytes, blk + off + MACOFF + 10);
      return (MACOFF + 10 + bytes.length + 15) & ~15;
    };
    const first = 48;
    const n1 = put(first, syn, new Uint8Array(10));
    p.u32[((blk + first) >>> 2) + (H_NEXT >>> 2)] = n1;
    put(first + n1, sf.bytes, sf.vnet);
    p.u32[(blk + BLK_NUM_PKTS) >>> 2] = 2;
    p.u32[(blk + BLK_FIRST_PKT) >>> 2] = first;
    p.u32[(blk + BLK_STATUS) >>> 2] = TP_STATUS_USER;
    f.onReadable(0);
    return { f, p, sends, sf };
  }

  it('NAT: sent whole with NEEDS_CSUM at the rewritten L4 header; the partial sum is the new pseudo-header sum', () => {
    const { f, sends } = run(80);
    expect(f.counters.outcomes()).toBe(f.counters.rxFrames);
    expect(f.counters.gsoRx).toBe(1);
    expect(f.counters.gsoSent).toBe(1);
    expect(sends).toHaveLength(1);
    const { hdr, frame } = sends[0]!;
    expect(hdr[0]).toBe(1); // NEEDS_CSUM
    expect(hdr[1]).toBe(1); // TCPV4
    expect(hdr[2]! | (hdr[3]! << 8)).toBe(54);
    expect(hdr[4]! | (hdr[5]! << 8)).toBe(1448);
    expect(hdr[6]! | (hdr[7]! << 8)).toBe(34);
    expect(hdr[8]).toBe(16);
    // DNAT to 192.168.1.10:8080, the field the pseudo-header sum of the new addresses.
    expect([...frame.subarray(30, 34)]).toEqual([192, 168, 1, 10]);
    expect((frame[36]! << 8) | frame[37]!).toBe(8080);
    const tot = (frame[16]! << 8) | frame[17]!;
    const want = ~csumFold(pseudoHeaderSum(ipToU32(CLIENT), ipToU32(RS_NAT), 6, tot - 20)) & 0xffff;
    expect((frame[50]! << 8) | frame[51]!).toBe(want);
  });

  it('TUN: cut into IPIP segments that fit the tunnel, with complete checksums and consecutive sequence numbers', () => {
    const { f, p, sends, sf } = run(443);
    expect(sends).toHaveLength(0);
    expect(f.counters.gsoSegmented).toBe(1);
    expect(f.counters.outcomes()).toBe(f.counters.rxFrames);
    const segs: Uint8Array[] = [];
    for (let i = 0; i < TX_SLOTS; i++) {
      const h = (BLOCK * BLOCKS + i * TX_FRAME) >>> 2;
      if (p.u32[h + (H_STATUS >>> 2)] !== TP_STATUS_SEND_REQUEST && p.sent === 0) continue;
      const len = p.u32[h + (H_LEN >>> 2)]!;
      if (len) segs.push(p.u8.slice(BLOCK * BLOCKS + i * TX_FRAME + TX_DATA, BLOCK * BLOCKS + i * TX_FRAME + TX_DATA + len));
    }
    // The SYN, then the segments: gso_size 1448 capped to what fits the tunnel (1500 - 20 - 20 - 20 = 1440): 3 of them.
    const data = segs.slice(1);
    expect(data.length).toBe(3);
    expect(data.length).toBe(f.counters.gsoSegments);
    let seq = 1000;
    let got = 0;
    for (const s of data) {
      expect(s[14 + 9]).toBe(4);
      expect(checksum(s, 14, 20)).toBe(0);
      expect(checksum(s, 34, 20)).toBe(0);
      const itot = (s[36]! << 8) | s[37]!;
      expect(14 + 20 + itot).toBe(s.length);
      expect(s.length).toBeLessThanOrEqual(14 + 1500);
      const l4 = 54;
      expect(((s[l4 + 4]! << 24) | (s[l4 + 5]! << 16) | (s[l4 + 6]! << 8) | s[l4 + 7]!) >>> 0).toBe(seq);
      const l4len = itot - 20;
      expect(l4ChecksumOk(s, l4, l4len, ipToU32(CLIENT), ipToU32(VIP), 6)).toBe(true);
      const thl = (s[l4 + 12]! >>> 4) * 4;
      expect([...s.subarray(l4 + thl)]).toEqual([...sf.bytes.subarray(54 + got, 54 + got + l4len - thl)]);
      seq += l4len - thl;
      got += l4len - thl;
    }
    expect(got).toBe(3000);
  });
});

describe('Forwarder: IPv6', () => {
  const C6 = '2001:db8::1';
  const V6 = '2001:db8::100';
  const R6 = '2001:db8:1::10';
  const T6 = '2001:db8:2::12';
  const T6SRC = '2001:db8:2::1';
  function engine6() {
    const e = engine({ maxConns: 2000, connTableBits: 10 });
    const k = (port: number) => ({ kind: 'addr' as const, protocol: 'tcp' as const, addr: V6, port });
    e.addService(svc(k(80)));
    e.addDest(k(80), dest(R6, 8080, { fwd: 'masq' }));
    e.addService(svc(k(443)));
    e.addDest(k(443), dest(T6, 443, { fwd: 'tunnel' }), { tunSource6: parseIpv6(T6SRC)! });
    return e;
  }
  const neigh6 = (log: string[] = []): DataPathNeigh => ({
    writeMacs: (_n, buf, off) => { buf.set(MAC, off); buf.set(MAC, off + 6); return 0; },
    holdFrame: () => {},
    writeMacs6: (a, buf, off) => { log.push(formatIpv6(a)); buf.set(MAC, off); buf.set(MAC, off + 6); return 0; },
    holdFrame6: () => {},
  });

  function superFrame6(dstPort: number, payload: number, mss: number): { bytes: Uint8Array; vnet: Uint8Array } {
    const f = buildTcp6Frame({ dstMac: MAC_STR, src: C6, dst: V6, flags: 'PA', srcPort: 1000, dstPort, seq: 1000, payload: new Uint8Array(payload).map((_, i) => (i * 7) & 0xff) });
    const l4len = f.length - 54;
    const partial = ~csumFold(pseudoHeaderSum6(f, 14 + 8, 14 + 24, 6, l4len)) & 0xffff;
    f[54 + 16] = partial >>> 8;
    f[54 + 17] = partial & 0xff;
    const v = new Uint8Array(10);
    v[0] = 1; v[1] = 4; v[2] = 74; v[4] = mss & 0xff; v[5] = mss >>> 8; v[6] = 54; v[8] = 16;
    return { bytes: f, vnet: v };
  }

  function run6(dstPort: number, log: string[] = []) {
    const p = fakePort('eth0');
    const sends: { hdr: number[]; frame: Uint8Array }[] = [];
    (p.sock as { vnetHdrLen?: number }).vnetHdrLen = 10;
    (p.sock as { sendVnetAt?: unknown }).sendVnetAt = (buf: ArrayBuffer, off: number, len: number) => {
      const u = new Uint8Array(buf, off, len);
      sends.push({ hdr: [...u.subarray(0, 10)], frame: u.slice(10) });
      return len;
    };
    const f = new Forwarder(engine6(), [makePort(p.sock)], neigh6(log), { now: () => 1 });
    const syn = buildTcp6Frame({ dstMac: MAC_STR, src: C6, dst: V6, flags: 'S', srcPort: 1000, dstPort, seq: 999 });
    const sf = superFrame6(dstPort, 3000, 1428);
    const put = (off: number, bytes: Uint8Array, vnet: Uint8Array) => {
      const h = off >>> 2;
      p.u32.fill(0, h, h + 12);
      p.u32[h + (H_SNAPLEN >>> 2)] = bytes.length;
      p.u32[h + (H_LEN >>> 2)] = bytes.length;
      p.u32[h + (H_STATUS >>> 2)] = TP_STATUS_USER;
      p.u32[h + (H_MAC_NET >>> 2)] = (MACOFF + 10) | ((MACOFF + 24) << 16);
      p.u8.set(vnet, off + MACOFF);
      p.u8.set(bytes, off + MACOFF + 10);
      return (MACOFF + 10 + bytes.length + 15) & ~15;
    };
    const n1 = put(48, syn, new Uint8Array(10));
    p.u32[(48 >>> 2) + (H_NEXT >>> 2)] = n1;
    put(48 + n1, sf.bytes, sf.vnet);
    p.u32[BLK_NUM_PKTS >>> 2] = 2;
    p.u32[BLK_FIRST_PKT >>> 2] = 48;
    p.u32[BLK_STATUS >>> 2] = TP_STATUS_USER;
    f.onReadable(0);
    return { f, p, sends, sf };
  }

  it('writes ethertype 0x86dd and resolves the IPv6 next hop', () => {
    const log: string[] = [];
    const { f, p } = run6(80, log);
    expect(f.counters.forwarded).toBeGreaterThanOrEqual(1);
    const slot = BLOCK * BLOCKS + TX_DATA;
    expect([p.u8[slot + 12], p.u8[slot + 13]]).toEqual([0x86, 0xdd]);
    expect(log[0]).toBe(R6);
  });

  it('NAT: a TCPv6 super-frame is sent whole (gso_type 4) with the new pseudo-header sum in its field', () => {
    const { f, sends } = run6(80);
    expect(f.counters.gsoRx).toBe(1);
    expect(f.counters.gsoSent).toBe(1);
    expect(f.counters.outcomes()).toBe(f.counters.rxFrames);
    const { hdr, frame } = sends[0]!;
    expect([hdr[0], hdr[1], hdr[2]! | (hdr[3]! << 8), hdr[4]! | (hdr[5]! << 8), hdr[6]! | (hdr[7]! << 8), hdr[8]]).toEqual([1, 4, 74, 1428, 54, 16]);
    expect([frame[12], frame[13]]).toEqual([0x86, 0xdd]);
    expect(formatIpv6(frame, 14 + 24)).toBe(R6);
    expect((frame[54 + 2]! << 8) | frame[54 + 3]!).toBe(8080);
    const want = ~csumFold(pseudoHeaderSum6(frame, 14 + 8, 14 + 24, 6, frame.length - 54)) & 0xffff;
    expect((frame[54 + 16]! << 8) | frame[54 + 17]!).toBe(want);
  });

  it('TUN: a TCPv6 super-frame is cut into IPv6-in-IPv6 segments that fit, with complete checksums', () => {
    const { f, p, sends, sf } = run6(443);
    expect(sends).toHaveLength(0);
    expect(f.counters.gsoSegmented).toBe(1);
    const segs: Uint8Array[] = [];
    for (let i = 0; i < TX_SLOTS; i++) {
      const h = (BLOCK * BLOCKS + i * TX_FRAME) >>> 2;
      const len = p.u32[h + (H_LEN >>> 2)]!;
      if (len) segs.push(p.u8.slice(BLOCK * BLOCKS + i * TX_FRAME + TX_DATA, BLOCK * BLOCKS + i * TX_FRAME + TX_DATA + len));
    }
    const data = segs.slice(1);
    // 1500 - 40 (outer) - 40 (inner) - 20 (TCP) = 1400 per segment: 1400, 1400, 200.
    expect(data.map((s) => s.length)).toEqual([14 + 80 + 20 + 1400, 14 + 80 + 20 + 1400, 14 + 80 + 20 + 200]);
    let seq = 1000;
    let got = 0;
    for (const s of data) {
      expect([s[12], s[13], s[14 + 6]]).toEqual([0x86, 0xdd, 41]);
      expect(formatIpv6(s, 14 + 8)).toBe(T6SRC);
      expect(formatIpv6(s, 14 + 24)).toBe(T6);
      expect(((s[18]! << 8) | s[19]!) + 40 + 14).toBe(s.length);
      const inner = 54;
      const ipl = (s[inner + 4]! << 8) | s[inner + 5]!;
      expect(inner + 40 + ipl).toBe(s.length);
      const l4 = inner + 40;
      expect(((s[l4 + 4]! << 24) | (s[l4 + 5]! << 16) | (s[l4 + 6]! << 8) | s[l4 + 7]!) >>> 0).toBe(seq);
      expect(upperChecksum6(s, inner, l4, ipl, 6)).toBe(0);
      expect([...s.subarray(l4 + 20)]).toEqual([...sf.bytes.subarray(74 + got, 74 + got + ipl - 20)]);
      seq += ipl - 20;
      got += ipl - 20;
    }
    expect(got).toBe(3000);
  });

  it('a neighbour table without IPv6 (a test fake) costs the frame as bad, never a throw', () => {
    const p = fakePort('eth0');
    const neigh: DataPathNeigh = { writeMacs: () => 0, holdFrame: () => {} };
    const f = new Forwarder(engine6(), [makePort(p.sock)], neigh, { now: () => 1 });
    fillBlocks(p, 0, [{ bytes: buildTcp6Frame({ dstMac: MAC_STR, src: C6, dst: V6, dstPort: 80 }), caplen: 74, wirelen: 74, status: 0 }], undefined);
    expect(() => f.onReadable(0)).not.toThrow();
    expect(f.counters.badFrame).toBe(1);
    expect(f.counters.outcomes()).toBe(f.counters.rxFrames);
  });
});

describe('Forwarder: what reaches the TX ring, byte for byte (the kernel\'s V2 + PACKET_VNET_HDR geometry)', () => {
  /** Where the kernel puts an RX frame in a V2 slot with PACKET_VNET_HDR: TPACKET_ALIGN(52 + 16) + 10 - 14 (af_packet.c's macoff). */
  const VNET_MACOFF = 76;
  const VNET_TX_DATA = 32;
  const VNET = 10;
  const SLOTS = 64;

  /** A V2 port laid out as the addon maps one: RX slots, then TX slots whose frame follows a virtio_net_hdr. The fake kernel keeps a copy of every frame it sends. */
  function vnetPort(ifname: string) {
    const rxSize = BLOCK * BLOCKS;
    const buf = new ArrayBuffer(rxSize + TX_FRAME * SLOTS);
    const u32 = new Uint32Array(buf);
    const u8 = new Uint8Array(buf);
    const sent: { vnet: Uint8Array; frame: Uint8Array }[] = [];
    const layout = { txOffset: rxSize, txFrameSize: TX_FRAME, txFrameCount: SLOTS, txFramesPerBlock: SLOTS, txBlockSize: TX_FRAME * SLOTS, txDataOffset: VNET_TX_DATA, vnetHdrLen: VNET, version: 2 };
    let next = 0;
    const tx = new TxRing(buf, layout, () => {
      // In ring order from where the kernel stopped, as tpacket_snd walks.
      for (;;) {
        const o = rxSize + next * TX_FRAME;
        if (u32[(o + H2_STATUS) >>> 2] !== TP_STATUS_SEND_REQUEST) return 0;
        const len = u32[(o + H2_LEN) >>> 2]! - VNET;
        sent.push({ vnet: u8.slice(o + VNET_TX_DATA, o + VNET_TX_DATA + VNET), frame: u8.slice(o + VNET_TX_DATA + VNET, o + VNET_TX_DATA + VNET + len) });
        u32[(o + H2_STATUS) >>> 2] = TP_STATUS_AVAILABLE;
        next = (next + 1) % SLOTS;
      }
    });
    const sock: PortSocket = {
      buffer: buf, ifname, macBytes: Uint8Array.from(MAC), rx: { blockSize: BLOCK, blockCount: BLOCKS, frameSize: SLOT }, tx,
      onReadable: () => {}, pause: () => {}, version: 2, vnetHdrLen: VNET,
    };
    return { sock, u8, u32, sent };
  }

  /** TPACKET_V2 slots as the kernel fills them with PACKET_VNET_HDR: an all-zero virtio_net_hdr, then the frame. */
  function fill(p: ReturnType<typeof vnetPort>, start: number, frames: Uint8Array[]): void {
    const n = (BLOCK / SLOT) * BLOCKS;
    frames.forEach((f, k) => {
      const off = ((start + k) % n) * SLOT;
      const h = off >>> 2;
      p.u32.fill(0, h, h + 8);
      p.u32[h + (H2_SNAPLEN >>> 2)] = f.length;
      p.u32[h + (H2_LEN >>> 2)] = f.length;
      p.u32[h + (H2_MAC_NET >>> 2)] = VNET_MACOFF | ((VNET_MACOFF + 14) << 16);
      p.u8.fill(0, off + VNET_MACOFF - VNET, off + VNET_MACOFF);
      p.u8.set(f, off + VNET_MACOFF);
      p.u32[h + (H2_STATUS >>> 2)] = TP_STATUS_USER;
    });
  }

  const NH_MAC = [0x02, 0, 0, 0, 0, 0x99];
  /** Next hops: what the forwarder must write in front of each frame, and the port (RS_NAT behind eth1, the rest on eth0). */
  const neigh: DataPathNeigh = {
    writeMacs: (nextHop, buf, off) => { buf.set(NH_MAC, off); buf.set(MAC, off + 6); return nextHop === ipToU32(RS_NAT) ? 1 : 0; },
    holdFrame: () => { throw new Error('every next hop is resolved here'); },
  };

  it('every forwarded frame is the engine\'s rewrite with the next hop\'s MACs, after a virtio_net_hdr that makes it linear', () => {
    const frameArb2 = fc.record({
      kind: fc.constantFrom('nat-syn', 'nat-data', 'nat-reply', 'dr-udp', 'none'),
      port: fc.integer({ min: 1024, max: 1100 }),
      // Lengths on both sides of the short-copy path, odd ones included, up to what a V2 slot takes.
      payload: fc.oneof(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 1900 - 54 })),
    }).map(({ kind, port, payload }) => {
      const data = new Uint8Array(payload).map((_, i) => (i * 31 + port) & 0xff);
      const m = { dstMac: MAC_STR };
      switch (kind) {
        case 'nat-syn': return tcp({ ...m, flags: 'S', srcPort: port });
        case 'nat-data': return tcp({ ...m, flags: 'A', srcPort: port, payload: data });
        case 'nat-reply': return tcp({ ...m, flags: 'A', src: RS_NAT, dst: CLIENT, srcPort: 8080, dstPort: port, payload: data });
        case 'dr-udp': return udp({ ...m, srcPort: port, payload: data });
        default: return udp({ ...m, srcPort: port, dstPort: 9, payload: data }); // no service: ignored
      }
    });
    fc.assert(fc.property(fc.array(fc.array(frameArb2, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 }), (batches) => {
      const ports = [vnetPort('eth0'), vnetPort('eth1')];
      const f = new Forwarder(realEngine(), ports.map((p) => makePort(p.sock)), neigh, { now: () => 1000 });
      // The same frames through a second engine on copies: what the forwarder must have sent, in order, per port.
      const twin = realEngine();
      const out: XmitOut = { buf: new Uint8Array(0), start: 0, len: 0, nextHop: 0 };
      const want: Uint8Array[][] = [[], []];
      for (const frames of batches) {
        fill(ports[0]!, f.ports[0]!.cur, frames);
        for (const fr of frames) {
          const copy = new Uint8Array(VNET_MACOFF + fr.length);
          copy.set(fr, VNET_MACOFF);
          if (twin.input(copy, VNET_MACOFF, fr.length, 1000, out) !== 1) continue;
          const w = new Uint8Array(out.len + 14);
          w.set(NH_MAC, 0);
          w.set(MAC, 6);
          w[12] = 0x08;
          w.set(out.buf.subarray(out.start, out.start + out.len), 14);
          want[out.nextHop === ipToU32(RS_NAT) ? 1 : 0]!.push(w);
        }
        f.onReadable(0);
      }
      expect(f.counters.outcomes()).toBe(f.counters.rxFrames);
      for (const k of [0, 1]) {
        const got = ports[k]!.sent;
        expect(got.map((s) => s.frame.length)).toEqual(want[k]!.map((w) => w.length));
        got.forEach((s, i) => {
          expect([...s.frame]).toEqual([...want[k]![i]!]);
          // flags, gso_type 0; hdr_len the whole frame (tpacket_snd copies it into a linear skb); the rest 0.
          expect([...s.vnet]).toEqual([0, 0, s.frame.length & 0xff, s.frame.length >>> 8, 0, 0, 0, 0, 0, 0]);
        });
      }
    }), { numRuns: 150 });
  });
});
