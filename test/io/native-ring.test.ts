// The ring walkers against hand-built TPACKET_V3 memory (the kernel's side is
// in test/lab/native.test.ts): block hand-back, wrap-around, batch limits,
// VLAN metadata, TX slot accounting, full rings, and a closed (detached) buffer.
import { describe, expect, it } from 'vitest';
import {
  LINEAR_TX_MAX, RxRing, TxRing, TP_STATUS_AVAILABLE, TP_STATUS_CSUMNOTREADY, TP_STATUS_KERNEL, TP_STATUS_SEND_REQUEST,
  TP_STATUS_SENDING, TP_STATUS_USER, TP_STATUS_VLAN_VALID, TP_STATUS_WRONG_FORMAT,
} from '../../src/io/ring.js';

const BLOCK = 4096;
const NBLOCKS = 3;

interface FakeFrame { len: number; fill: number; status?: number; tci?: number }

/** Writes a user-owned block the way the kernel does: block header, then frames chained by tp_next_offset. */
function fillBlock(buf: ArrayBuffer, block: number, seq: number, frames: FakeFrame[]): number[] {
  const dv = new DataView(buf);
  const u8 = new Uint8Array(buf);
  const base = block * BLOCK;
  dv.setUint32(base + 12, frames.length, true);
  dv.setUint32(base + 16, 48, true);
  dv.setUint32(base + 24, seq, true);
  let p = base + 48;
  const macOffs: number[] = [];
  frames.forEach((f, i) => {
    const mac = 66; // tp_mac: where the kernel put the Ethernet header
    const st = (f.status ?? 0) | TP_STATUS_USER;
    dv.setUint32(p + 12, f.len, true);
    dv.setUint32(p + 16, f.len + 100, true);
    dv.setUint32(p + 20, st, true);
    dv.setUint16(p + 24, mac, true);
    dv.setUint16(p + 26, mac + 14, true);
    dv.setUint32(p + 32, f.tci ?? 0, true);
    u8.fill(f.fill, p + mac, p + mac + f.len);
    macOffs.push(p + mac);
    const next = i === frames.length - 1 ? 0 : (mac + f.len + 15) & ~15;
    dv.setUint32(p, next, true);
    p += next;
  });
  dv.setUint32(base + 8, TP_STATUS_USER, true); // published last, as the kernel does
  return macOffs;
}

function blockStatus(buf: ArrayBuffer, block: number): number {
  return new DataView(buf).getUint32(block * BLOCK + 8, true);
}

describe('RxRing', () => {
  it('walks nothing until a block is user-owned', () => {
    const buf = new ArrayBuffer(BLOCK * NBLOCKS);
    const rx = new RxRing(buf, BLOCK, NBLOCKS);
    expect(rx.ready()).toBe(false);
    expect(rx.drain(() => { throw new Error('no frames expected'); })).toBe(0);
  });

  it('walks every frame of every ready block in order, hands each block back, and wraps', () => {
    const buf = new ArrayBuffer(BLOCK * NBLOCKS);
    const rx = new RxRing(buf, BLOCK, NBLOCKS);
    const offs0 = fillBlock(buf, 0, 1, [{ len: 60, fill: 1 }, { len: 100, fill: 2, status: TP_STATUS_CSUMNOTREADY }]);
    const offs1 = fillBlock(buf, 1, 2, [{ len: 70, fill: 3, status: TP_STATUS_VLAN_VALID, tci: 0x2007 }]);
    const seen: [number, number, number, number, number, number][] = [];
    expect(rx.ready()).toBe(true);
    const n = rx.drain((off, caplen, len, status, tci) => seen.push([off, caplen, len, status, tci, rx.u8[off]!]));
    expect(n).toBe(3);
    expect(seen).toEqual([
      [offs0[0], 60, 160, TP_STATUS_USER, -1, 1],
      [offs0[1], 100, 200, TP_STATUS_USER | TP_STATUS_CSUMNOTREADY, -1, 2],
      [offs1[0], 70, 170, TP_STATUS_USER | TP_STATUS_VLAN_VALID, 0x2007, 3],
    ]);
    expect(blockStatus(buf, 0)).toBe(TP_STATUS_KERNEL);
    expect(blockStatus(buf, 1)).toBe(TP_STATUS_KERNEL);
    expect(rx.lastSeq).toBe(2);
    expect(rx.ready()).toBe(false);
    // The kernel fills block 2, then wraps to block 0.
    fillBlock(buf, 2, 3, [{ len: 60, fill: 4 }]);
    fillBlock(buf, 0, 4, [{ len: 60, fill: 5 }]);
    const fills: number[] = [];
    expect(rx.drain((off) => fills.push(rx.u8[off]!))).toBe(2);
    expect(fills).toEqual([4, 5]);
    expect(rx.blocks).toBe(4);
    expect(rx.frames).toBe(5);
  });

  it('stops at maxBlocks and leaves the rest for the next call', () => {
    const buf = new ArrayBuffer(BLOCK * NBLOCKS);
    const rx = new RxRing(buf, BLOCK, NBLOCKS);
    fillBlock(buf, 0, 1, [{ len: 60, fill: 1 }]);
    fillBlock(buf, 1, 2, [{ len: 60, fill: 2 }]);
    expect(rx.drain(() => {}, 1)).toBe(1);
    expect(blockStatus(buf, 1)).toBe(TP_STATUS_USER);
    expect(rx.drain(() => {}, 1)).toBe(1);
    expect(blockStatus(buf, 1)).toBe(TP_STATUS_KERNEL);
  });

  it('an empty retired block (num_pkts 0) is handed back too', () => {
    const buf = new ArrayBuffer(BLOCK * NBLOCKS);
    const rx = new RxRing(buf, BLOCK, NBLOCKS);
    fillBlock(buf, 0, 1, []);
    expect(rx.drain(() => {})).toBe(0);
    expect(blockStatus(buf, 0)).toBe(TP_STATUS_KERNEL);
    expect(rx.blocks).toBe(1);
  });

  it('a buffer detached by close() mid-walk ends the walk without touching it', () => {
    const buf = new ArrayBuffer(BLOCK * NBLOCKS);
    const rx = new RxRing(buf, BLOCK, NBLOCKS);
    fillBlock(buf, 0, 1, [{ len: 60, fill: 1 }, { len: 60, fill: 2 }]);
    fillBlock(buf, 1, 2, [{ len: 60, fill: 3 }]);
    let calls = 0;
    // structuredClone with transfer detaches, as the addon's close() does.
    expect(() => rx.drain(() => { calls++; structuredClone(buf, { transfer: [buf] }); })).not.toThrow();
    expect(calls).toBe(1);
    expect(rx.ready()).toBe(false);
    expect(rx.drain(() => {})).toBe(0);
  });
});

describe('TxRing', () => {
  // 8 slots of 256 bytes, 3 per 1 KiB block (a 256-byte gap ends each block), after a 4 KiB RX area.
  const layout = { txOffset: 4096, txFrameSize: 256, txFrameCount: 8, txFramesPerBlock: 3, txBlockSize: 1024, txDataOffset: 48 };
  const slotStart = (i: number) => 4096 + Math.floor(i / 3) * 1024 + (i % 3) * 256;
  const make = (kick: (dv: DataView) => number = () => 0) => {
    const buf = new ArrayBuffer(4096 + 3 * 1024);
    const dv = new DataView(buf);
    const tx = new TxRing(buf, layout, () => kick(dv));
    return { buf, dv, tx };
  };
  /** The kernel's side of a kick: every SEND_REQUEST slot is sent and becomes AVAILABLE. */
  const kernelSendsAll = (dv: DataView) => {
    let bytes = 0;
    for (let i = 0; i < 8; i++) {
      if (dv.getUint32(slotStart(i) + 20, true) === TP_STATUS_SEND_REQUEST) {
        bytes += dv.getUint32(slotStart(i) + 16, true);
        dv.setUint32(slotStart(i) + 20, TP_STATUS_AVAILABLE, true);
      }
    }
    return bytes;
  };

  it('fills slots in ring order across blocks, sets tp_len and SEND_REQUEST, and is full after N', () => {
    const { dv, tx } = make();
    for (let i = 0; i < 8; i++) {
      const d = tx.acquire();
      expect(d).toBe(slotStart(i) + 48);
      tx.u8.fill(i + 1, d, d + 60);
      tx.commit(60);
      expect(dv.getUint32(slotStart(i) + 16, true)).toBe(60);
      expect(dv.getUint32(slotStart(i) + 20, true)).toBe(TP_STATUS_SEND_REQUEST);
      expect(dv.getUint32(slotStart(i), true)).toBe(0); // tp_next_offset must stay 0 for V3 TX
    }
    expect(tx.pending).toBe(8);
    expect(tx.acquire()).toBe(-1);
  });

  it('kick publishes once per batch; flush without pending frames does not call the kernel', () => {
    let kicks = 0;
    const { tx } = make((dv) => { kicks++; return kernelSendsAll(dv); });
    expect(tx.flush()).toBe(0);
    expect(kicks).toBe(0);
    for (let i = 0; i < 5; i++) expect(tx.push(new Uint8Array(64).fill(i))).toBe(true);
    expect(tx.flush()).toBe(5 * 64);
    expect(kicks).toBe(1);
    expect(tx.pending).toBe(0);
  });

  it('a full ring kicks and retries once; a ring still full after the kick drops and counts', () => {
    const { tx } = make(kernelSendsAll);
    for (let i = 0; i < 20; i++) expect(tx.push(new Uint8Array(60))).toBe(true);
    expect(tx.fullDrops).toBe(0);
    expect(tx.kicks).toBe(2);
    // Now the kernel keeps every slot in flight (SENDING) after a kick.
    const stuck = make((dv) => {
      for (let i = 0; i < 8; i++) dv.setUint32(slotStart(i) + 20, TP_STATUS_SENDING, true);
      return 0;
    });
    for (let i = 0; i < 8; i++) expect(stuck.tx.push(new Uint8Array(60))).toBe(true);
    expect(stuck.tx.push(new Uint8Array(60))).toBe(false);
    expect(stuck.tx.fullDrops).toBe(1);
    expect(stuck.tx.kicks).toBe(1);
  });

  it('a send() that failed leaves the ring published but unsent: the next full acquire kicks the kernel again (no jam)', () => {
    let fail = true;
    let calls = 0;
    const { tx } = make((dv) => { calls++; return fail ? -105 : kernelSendsAll(dv); }); // -ENOBUFS, slots stay SEND_REQUEST
    for (let i = 0; i < 8; i++) expect(tx.push(new Uint8Array(60))).toBe(true);
    tx.flush();
    expect(tx.pending).toBe(0);
    expect(tx.kickErrors).toBe(1);
    // Nothing pending, every slot still SEND_REQUEST: the kernel must be asked again.
    fail = false;
    expect(tx.push(new Uint8Array(60))).toBe(true);
    expect(calls).toBe(2);
    expect(tx.unjams).toBe(1);
    expect(tx.fullDrops).toBe(0);
  });

  it('reuses a slot the kernel marked WRONG_FORMAT and counts it', () => {
    const { dv, tx } = make();
    dv.setUint32(slotStart(0) + 20, TP_STATUS_WRONG_FORMAT, true);
    expect(tx.acquire()).toBe(slotStart(0) + 48);
    expect(tx.wrongFormat).toBe(1);
  });

  it('copyFrom moves a frame from elsewhere in the same buffer (RX → TX) without a view', () => {
    const { buf, tx } = make();
    const u8 = new Uint8Array(buf);
    for (let i = 0; i < 60; i++) u8[100 + i] = i;
    expect(tx.copyFrom(100, 60)).toBe(true);
    expect([...u8.subarray(slotStart(0) + 48, slotStart(0) + 108)]).toEqual(Array.from({ length: 60 }, (_, i) => i));
  });

  it('refuses frames that do not fit a slot or are shorter than an Ethernet header', () => {
    const { tx } = make();
    expect(tx.maxFrameLen).toBe(208);
    tx.acquire();
    expect(() => tx.commit(209)).toThrow(/14\.\.208/);
    expect(() => tx.commit(13)).toThrow(RangeError);
  });

  it('reports transient kick errors without throwing', () => {
    const { tx } = make(() => -105); // -ENOBUFS
    tx.push(new Uint8Array(60));
    expect(tx.kick()).toBe(-105);
    expect(tx.kickErrors).toBe(1);
    expect(tx.lastKickError).toBe(105);
  });

  it('with PACKET_VNET_HDR, each slot starts with a virtio_net_hdr: no GSO, hdr_len the whole frame up to LINEAR_TX_MAX, 0 (page fragments) above', () => {
    // Slots big enough for a jumbo frame (MTU 9000), V2 headers: status at 0, len at 4, data at 32.
    const big = { txOffset: 0, txFrameSize: 16384, txFrameCount: 2, txFramesPerBlock: 1, txBlockSize: 16384, txDataOffset: 32, vnetHdrLen: 10, version: 2 };
    const buf = new ArrayBuffer(2 * 16384);
    const u8 = new Uint8Array(buf);
    for (const slot of [0, 16384]) u8.fill(0xee, slot + 4, slot + 16384); // whatever an earlier lap left; status AVAILABLE
    const tx = new TxRing(buf, big, () => 0);
    const hdr = (slot: number) => [...u8.subarray(slot * 16384 + 32, slot * 16384 + 42)];
    expect(tx.acquire()).toBe(42);
    tx.commit(LINEAR_TX_MAX);
    expect(hdr(0)).toEqual([0, 0, LINEAR_TX_MAX & 0xff, LINEAR_TX_MAX >>> 8, 0, 0, 0, 0, 0, 0]);
    expect(new DataView(buf).getUint32(4, true)).toBe(LINEAR_TX_MAX + 10); // tp_len counts the header
    expect(tx.acquire()).toBe(16384 + 42);
    tx.commit(9014);
    expect(hdr(1)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('acquire on a detached buffer says full', () => {
    const { buf, tx } = make();
    structuredClone(buf, { transfer: [buf] });
    expect(tx.acquire()).toBe(-1);
  });
});
