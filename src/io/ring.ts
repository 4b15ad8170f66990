// JS walkers over the AF_PACKET rings the addon maps (native/src/packet_socket.cc).
// Both rings live in one ArrayBuffer (RX ring, then TX ring, the kernel's mmap
// layout), so moving a frame RX → TX is Uint8Array.copyWithin: a memcpy, no
// allocation. Layouts are <linux/if_packet.h>, TPACKET_V3, little-endian (x86-64).
//
// Ordering: the kernel reads TX slots only inside send() (kick), and RX block
// status words are single aligned 32-bit loads/stores, which x86-64 (TSO)
// orders as the kernel expects. That is the platform the project runs on.

// struct tpacket_block_desc { u32 version; u32 offset_to_priv; struct tpacket_hdr_v1 hdr; }
export const BLK_STATUS = 8;
export const BLK_NUM_PKTS = 12;
export const BLK_FIRST_PKT = 16;
export const BLK_SEQ = 24;

// struct tpacket3_hdr
export const H_NEXT = 0;
export const H_SNAPLEN = 12;
export const H_LEN = 16;
export const H_STATUS = 20;
export const H_MAC_NET = 24; // u16 tp_mac, u16 tp_net
export const H_VLAN_TCI = 32;

// struct tpacket2_hdr (TPACKET_V2: one fixed-size slot per frame, each with its own status)
export const H2_STATUS = 0;
export const H2_LEN = 4;
export const H2_SNAPLEN = 8;
export const H2_MAC_NET = 12; // u16 tp_mac, u16 tp_net
export const H2_VLAN_TCI = 24;

export const TP_STATUS_KERNEL = 0;
export const TP_STATUS_USER = 1;
export const TP_STATUS_COPY = 1 << 1;
export const TP_STATUS_LOSING = 1 << 2;
/** The L4 checksum is not filled in yet (CHECKSUM_PARTIAL: a local sender with TX offload, e.g. veth). */
export const TP_STATUS_CSUMNOTREADY = 1 << 3;
export const TP_STATUS_VLAN_VALID = 1 << 4;
export const TP_STATUS_BLK_TMO = 1 << 5;
export const TP_STATUS_VLAN_TPID_VALID = 1 << 6;
/** The L4 checksum was verified by the device. */
export const TP_STATUS_CSUM_VALID = 1 << 7;

/**
 * Frames up to this length leave a PACKET_VNET_HDR TX ring as linear skbs
 * (virtio_net_hdr.hdr_len = the frame's length): see TxRing.commit.
 */
export const LINEAR_TX_MAX = 2048;

export const TP_STATUS_AVAILABLE = 0;
export const TP_STATUS_SEND_REQUEST = 1;
export const TP_STATUS_SENDING = 2;
export const TP_STATUS_WRONG_FORMAT = 4;

/**
 * Called once per frame, in ring order. `off` is the frame's first byte
 * (Ethernet header) in `ring.u8`; `caplen` bytes are present, `len` is the
 * length on the wire. `status` is tp_status (TP_STATUS_* flags: CSUMNOTREADY,
 * VLAN_VALID...). `vlanTci` is the tag the device stripped (hardware VLAN
 * acceleration), or -1 when none was stripped. The bytes are valid only until
 * the handler returns (the block goes back to the kernel after the walk).
 */
export type RxHandler = (off: number, caplen: number, len: number, status: number, vlanTci: number) => void;

export class RxRing {
  readonly u8: Uint8Array;
  private readonly u32: Uint32Array;
  /** Index of the next block the kernel will hand to user space. */
  private cur = 0;
  /** Blocks walked and frames seen since creation (cheap counters for metrics). */
  blocks = 0;
  frames = 0;
  /** Sequence number of the last block walked (tpacket_hdr_v1.seq_num), to detect skipped blocks in tests. */
  lastSeq = 0;

  constructor(
    buffer: ArrayBuffer,
    readonly blockSize: number,
    readonly blockCount: number,
    /** Byte offset of the RX ring in `buffer` (0 with the addon's layout). */
    readonly base = 0,
  ) {
    if (blockSize % 8 !== 0 || base % 8 !== 0) throw new RangeError('RxRing: blockSize and base must be multiples of 8');
    this.u8 = new Uint8Array(buffer);
    this.u32 = new Uint32Array(buffer);
  }

  /** True when the next block is owned by user space. */
  ready(): boolean {
    if (this.u8.byteLength === 0) return false; // closed: the buffer was detached
    return (this.u32[(this.base + this.cur * this.blockSize + BLK_STATUS) >>> 2]! & TP_STATUS_USER) !== 0;
  }

  /**
   * Walks every ready block (at most `maxBlocks`), calls `handler` for each
   * frame and returns each block to the kernel right after its last frame.
   * Returns the number of frames walked.
   */
  drain(handler: RxHandler, maxBlocks = this.blockCount): number {
    const u32 = this.u32;
    let frames = 0;
    for (let b = 0; b < maxBlocks; b++) {
      if (this.u8.byteLength === 0) break; // closed inside the handler
      const blk = this.base + this.cur * this.blockSize;
      const statusIdx = (blk + BLK_STATUS) >>> 2;
      if ((u32[statusIdx]! & TP_STATUS_USER) === 0) break;
      const n = u32[(blk + BLK_NUM_PKTS) >>> 2]!;
      this.lastSeq = u32[(blk + BLK_SEQ) >>> 2]!;
      let p = blk + u32[(blk + BLK_FIRST_PKT) >>> 2]!;
      for (let i = 0; i < n; i++) {
        const h = p >>> 2;
        const st = u32[h + (H_STATUS >>> 2)]!;
        const macNet = u32[h + (H_MAC_NET >>> 2)]!;
        const tci = (st & TP_STATUS_VLAN_VALID) !== 0 ? u32[h + (H_VLAN_TCI >>> 2)]! & 0xffff : -1;
        handler(p + (macNet & 0xffff), u32[h + (H_SNAPLEN >>> 2)]!, u32[h + (H_LEN >>> 2)]!, st, tci);
        // close() inside the handler detaches the buffer: stop before reading it again.
        if (u32.length === 0) {
          this.frames += frames + i + 1;
          return frames + i + 1;
        }
        p += u32[h + (H_NEXT >>> 2)]!;
      }
      frames += n;
      // Hand the block back: the kernel fills it again on a later lap.
      u32[statusIdx] = TP_STATUS_KERNEL;
      this.cur = this.cur + 1 === this.blockCount ? 0 : this.cur + 1;
      this.blocks++;
    }
    this.frames += frames;
    return frames;
  }

}

/**
 * A TPACKET_V2 RX ring: fixed slots of `frameSize` bytes, `framesPerBlock`
 * to a block, each handed to user space (and signalled) on its own as soon
 * as the kernel has filled it. Same walking contract as RxRing.
 */
export class RxRingV2 {
  readonly u8: Uint8Array;
  private readonly u32: Uint32Array;
  private cur = 0;
  blocks = 0;
  frames = 0;
  readonly framesPerBlock: number;

  constructor(
    buffer: ArrayBuffer,
    readonly blockSize: number,
    readonly blockCount: number,
    readonly frameSize: number,
    readonly base = 0,
  ) {
    if (frameSize % 16 !== 0 || blockSize % frameSize !== 0) throw new RangeError('RxRingV2: frameSize must divide blockSize (TPACKET_ALIGNMENT 16)');
    this.u8 = new Uint8Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.framesPerBlock = blockSize / frameSize;
  }

  get frameCount(): number { return this.framesPerBlock * this.blockCount; }

  /** Byte offset of slot `i`. */
  slot(i: number): number {
    const b = (i / this.framesPerBlock) | 0;
    return this.base + b * this.blockSize + (i - b * this.framesPerBlock) * this.frameSize;
  }

  ready(): boolean {
    if (this.u8.byteLength === 0) return false;
    return (this.u32[(this.slot(this.cur) + H2_STATUS) >>> 2]! & TP_STATUS_USER) !== 0;
  }

  /** Walks every ready slot (at most `maxFrames`), handing each back to the kernel right after its handler. */
  drain(handler: RxHandler, maxFrames = this.frameCount): number {
    const u32 = this.u32;
    let n = 0;
    while (n < maxFrames) {
      if (this.u8.byteLength === 0) break;
      const p = this.slot(this.cur);
      const h = p >>> 2;
      const st = u32[h + (H2_STATUS >>> 2)]!;
      if ((st & TP_STATUS_USER) === 0) break;
      const macNet = u32[h + (H2_MAC_NET >>> 2)]!;
      const tci = (st & TP_STATUS_VLAN_VALID) !== 0 ? u32[h + (H2_VLAN_TCI >>> 2)]! & 0xffff : -1;
      handler(p + (macNet & 0xffff), u32[h + (H2_SNAPLEN >>> 2)]!, u32[h + (H2_LEN >>> 2)]!, st, tci);
      n++;
      if (u32.length === 0) break; // closed inside the handler
      u32[h + (H2_STATUS >>> 2)] = TP_STATUS_KERNEL;
      this.cur = this.cur + 1 === this.frameCount ? 0 : this.cur + 1;
    }
    this.frames += n;
    return n;
  }
}

export interface TxRingLayout {
  /** Byte offset of the TX ring in the buffer. */
  txOffset: number;
  txFrameSize: number;
  txFrameCount: number;
  txFramesPerBlock: number;
  txBlockSize: number;
  /** Where a slot's frame data starts, from the slot start (tpacket3_hdr + alignment: 48). */
  txDataOffset: number;
  /** 10 when the socket has PACKET_VNET_HDR: each slot's data is a virtio_net_hdr, then the frame. */
  vnetHdrLen?: number;
  /** The socket's TPACKET version (2 or 3, the default): where a slot header keeps status and length. */
  version?: number;
}

/**
 * The TX ring: fill the next free slot, mark it SEND_REQUEST, and publish a
 * whole batch with one kick(). Slots are used strictly in ring order, which
 * is the order the kernel walks them, so the two never disagree on the head.
 */
export class TxRing {
  readonly u8: Uint8Array;
  private readonly u32: Uint32Array;
  private cur = 0;
  /** Frames marked SEND_REQUEST since the last kick. */
  pending = 0;
  /** Largest frame a slot can hold. */
  readonly maxFrameLen: number;
  /** Frames refused because the ring stayed full after a kick and one retry. */
  fullDrops = 0;
  /** Frames the kernel rejected (TP_STATUS_WRONG_FORMAT seen on reuse). */
  wrongFormat = 0;
  /** Frames committed since creation. */
  sent = 0;
  /** send() calls that published slots (every reason below, and direct kick() calls). */
  kicks = 0;
  /** Of those, kicks because acquire() found the ring full (the slow path: the kernel had to catch up). */
  fullKicks = 0;
  /**
   * Pending frames at which the forwarder kicks without waiting for the end
   * of its RX batch: half the ring, so the kernel sends one half while the
   * other is filled, and a full ring (a drop) is the exception under load.
   */
  readonly kickAt: number;
  /** Kicks of a full ring whose slots a failed send() had left published but unsent. */
  unjams = 0;
  /** Transient kick errors (-errno) seen, e.g. ENOBUFS / ENETDOWN. */
  kickErrors = 0;
  lastKickError = 0;

  /** Bytes of virtio_net_hdr in front of each slot's frame (0 or 10). */
  readonly vnet: number;
  /** From a slot's start to its frame's first byte. */
  private readonly frameOff: number;
  /** Slot header fields: tpacket3_hdr's, or tpacket2_hdr's on a V2 socket. */
  private readonly hStatus: number;
  private readonly hLen: number;
  private readonly hSnaplen: number;
  private readonly v3: boolean;

  constructor(buffer: ArrayBuffer, readonly layout: TxRingLayout, private readonly kickFn: () => number) {
    this.u8 = new Uint8Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.v3 = (layout.version ?? 3) === 3;
    this.hStatus = this.v3 ? H_STATUS : H2_STATUS;
    this.hLen = this.v3 ? H_LEN : H2_LEN;
    this.hSnaplen = this.v3 ? H_SNAPLEN : H2_SNAPLEN;
    this.vnet = layout.vnetHdrLen ?? 0;
    this.frameOff = layout.txDataOffset + this.vnet;
    this.maxFrameLen = layout.txFrameSize - this.frameOff;
    this.kickAt = Math.max(1, layout.txFrameCount >>> 1);
  }

  private slotStart(i: number): number {
    const L = this.layout;
    const blk = (i / L.txFramesPerBlock) | 0;
    return L.txOffset + blk * L.txBlockSize + (i - blk * L.txFramesPerBlock) * L.txFrameSize;
  }

  /**
   * Offset in `u8` where the next free slot's frame data goes, or -1 when the
   * ring is full (every slot still queued or in flight). Does not advance:
   * write the frame, then commit(len).
   */
  acquire(): number {
    if (this.u8.byteLength === 0) return -1;
    const s = this.slotStart(this.cur);
    const st = this.u32[(s + this.hStatus) >>> 2]!;
    if (st === TP_STATUS_AVAILABLE) return s + this.frameOff;
    if (st === TP_STATUS_WRONG_FORMAT) {
      this.wrongFormat++;
      this.u32[(s + this.hStatus) >>> 2] = TP_STATUS_AVAILABLE;
      return s + this.frameOff;
    }
    return -1;
  }

  /** Marks the slot acquire() returned as ready to send (`len` bytes from its data offset). */
  commit(len: number): void {
    if (len > this.maxFrameLen || len < 14) throw new RangeError(`TxRing.commit: frame length ${len} outside 14..${this.maxFrameLen}`);
    const s = this.slotStart(this.cur);
    const h = s >>> 2;
    const v = this.vnet;
    if (v) {
      // An ordinary frame: no GSO, checksum complete (flags, gso_type 0).
      // hdr_len is how much of the frame tpacket_snd copies into the skb's
      // linear part; the rest it attaches as page fragments of the ring,
      // marked zero-copy, and a veth (or anything that orphans or clones
      // the skb) then copies those into a freshly allocated page per frame
      // (skb_copy_ubufs). One copy into the linear part is cheaper for an
      // ordinary frame; jumbo frames keep the fragments.
      // Written field by field: fill() is a call into the runtime per frame.
      const vh = s + this.layout.txDataOffset;
      const u8 = this.u8;
      const hdrLen = len <= LINEAR_TX_MAX ? len : 0;
      u8[vh] = 0; // flags
      u8[vh + 1] = 0; // gso_type
      u8[vh + 2] = hdrLen & 0xff;
      u8[vh + 3] = hdrLen >>> 8;
      for (let k = 4; k < v; k++) u8[vh + k] = 0; // gso_size, csum_start, csum_offset
    }
    if (this.v3) this.u32[h + (H_NEXT >>> 2)] = 0;
    this.u32[h + (this.hLen >>> 2)] = len + v;
    this.u32[h + (this.hSnaplen >>> 2)] = len + v;
    this.u32[h + (this.hStatus >>> 2)] = TP_STATUS_SEND_REQUEST;
    this.cur = this.cur + 1 === this.layout.txFrameCount ? 0 : this.cur + 1;
    this.pending++;
    this.sent++;
  }

  /**
   * acquire(), and when full kick once and retry; -1 (counted in fullDrops)
   * if still full. The kick goes to the kernel even with nothing pending
   * when the slot still says SEND_REQUEST: a send() that failed (ENOBUFS,
   * EAGAIN at the socket's send buffer) left those slots published but
   * unsent, and no later commit() can happen on a full ring, so without
   * this the ring stays jammed for good.
   */
  acquireOrKick(): number {
    let d = this.acquire();
    if (d >= 0) return d;
    if (this.pending > 0) {
      this.fullKicks++;
      this.kick();
    } else if (this.u32[(this.slotStart(this.cur) + this.hStatus) >>> 2] === TP_STATUS_SEND_REQUEST) {
      this.fullKicks++;
      this.unjams++;
      this.callKernel();
    }
    d = this.acquire();
    if (d < 0) this.fullDrops++;
    return d;
  }

  /** Copies `len` bytes at `off` of this same buffer (an RX frame) into the next slot. False when dropped (ring full). */
  copyFrom(off: number, len: number): boolean {
    const d = this.acquireOrKick();
    if (d < 0) return false;
    this.u8.copyWithin(d, off, off + len);
    this.commit(len);
    return true;
  }

  /** Copies a frame from any Uint8Array into the next slot. False when dropped (ring full). */
  push(frame: Uint8Array): boolean {
    const d = this.acquireOrKick();
    if (d < 0) return false;
    this.u8.set(frame, d);
    this.commit(frame.length);
    return true;
  }

  /** Publishes every pending slot with one send(); returns bytes sent or -errno (transient). */
  kick(): number {
    if (this.pending === 0) return 0;
    this.pending = 0;
    return this.callKernel();
  }

  private callKernel(): number {
    this.kicks++;
    const r = this.kickFn();
    if (r < 0) {
      this.kickErrors++;
      this.lastKickError = -r;
    }
    return r;
  }

  /** Kicks only if something is pending: call once at the end of each RX batch. */
  flush(): number {
    return this.pending > 0 ? this.kick() : 0;
  }
}
