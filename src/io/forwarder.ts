// The data-plane loop: when a port's RX ring has ready blocks, walk every
// frame in place, let the engine decide, write the L2 header for the chosen
// next hop, move the frame into the egress port's TX ring and, once the walk
// is over, kick each TX ring that got frames (one send() per batch per port;
// sooner when a ring reaches half full, so a long batch never fills it).
// Nothing here allocates per packet: the engine rewrites the frame where it
// lies in the RX ring, and copies between rings use Buffer.copy on views made
// once per port.
import { Buffer } from 'node:buffer';
import {
  BLK_FIRST_PKT, BLK_NUM_PKTS, BLK_STATUS, H_LEN, H_MAC_NET, H_NEXT, H_SNAPLEN, H_STATUS,
  H2_LEN, H2_MAC_NET, H2_SNAPLEN, H2_STATUS,
  TP_STATUS_CSUMNOTREADY, TP_STATUS_USER, TP_STATUS_VLAN_VALID, type TxRing,
} from './ring.js';
import type { NeighTable } from './neigh.js';

/** The part of the neighbour table the loop drives (NeighTable; a fake in tests, which may leave IPv6 out). */
export type DataPathNeigh = Pick<NeighTable, 'writeMacs' | 'holdFrame'> & Partial<Pick<NeighTable, 'writeMacs6' | 'holdFrame6'>>;
import { csumPartial, csumFold, pseudoHeaderSum, checksum } from '../packet/checksum.js';
import { ipv6Upper, pseudoHeaderSum6 } from '../packet/ipv6.js';
import { VERDICT_DROP, VERDICT_IGNORE, VERDICT_XMIT, type XmitOut } from '../ipvs/engine.js';
import type { FastPath } from './fastpath.js';

// The verdicts and the XmitOut contract are the engine's (src/ipvs/engine.ts).
export { VERDICT_DROP, VERDICT_XMIT, VERDICT_IGNORE, type XmitOut } from '../ipvs/engine.js';

/** The part of the engine the loop drives. */
export interface DataPathEngine {
  /** `gso`: the frame is a GSO super-frame (engine.ts: TUN leaves its segmentation to the loop). */
  input(buf: Uint8Array, off: number, len: number, now: number, out: XmitOut, gso?: boolean, mark?: number): number;
  /** The MTU towards tunnel real servers, if the engine has one (caps TUN segments). */
  readonly tunMtu?: number;
}

// struct virtio_net_hdr (<linux/virtio_net.h>), little-endian on x86-64.
const VNET_F_NEEDS_CSUM = 1;
const VNET_GSO_TCPV4 = 1;
const VNET_GSO_TCPV6 = 4;
const VNET_GSO_UDP_L4 = 5;
const VNET_GSO_ECN = 0x80;
const VNET_HDR_LEN = 10;

/** The socket side of a port: what the loop needs of the addon's PacketSocket (native.ts). */
export interface PortSocket {
  readonly buffer: ArrayBuffer;
  readonly ifname: string;
  readonly macBytes: Uint8Array;
  readonly rx: { readonly blockSize: number; readonly blockCount: number; readonly frameSize?: number };
  readonly tx: TxRing;
  /** TPACKET version of the RX ring: 3 (blocks, the default) or 2 (one slot per frame). */
  readonly version?: 2 | 3;
  /** Bytes of virtio_net_hdr before each RX frame (10 with PACKET_VNET_HDR, else 0). */
  readonly vnetHdrLen?: number;
  /** The interface's MTU: caps the segments the kernel cuts a super-frame into. */
  readonly mtu?: number;
  /** A frame after its virtio_net_hdr at buffer[off, off+len), through the PACKET_VNET_HDR companion socket. */
  sendVnetAt?(buffer: ArrayBuffer, off: number, len: number): number;
  onReadable(cb: (err?: Error) => void): void;
  pause(): void;
}

export interface Port {
  ifname: string;
  sock: PortSocket;
  u8: Uint8Array;
  u16: Uint16Array;
  u32: Uint32Array;
  /** A Buffer over the same memory, for Buffer.copy between rings (longer frames: copyFrame). */
  bytes: Buffer;
  tx: TxRing;
  blockSize: number;
  blockCount: number;
  /** The RX ring is TPACKET_V2: fixed slots, each with its own status, walked one by one. */
  v2: boolean;
  /** V2: slot size, slots per block, slots in all. */
  frameSize: number;
  framesPerBlock: number;
  frameCount: number;
  /** RX walk position (block index; slot index for V2). */
  cur: number;
  /** The interface's MAC as two numbers (bytes 0-3, 4-5), compared against each frame's destination. */
  macHi: number;
  macLo: number;
  /** Bytes of virtio_net_hdr before each RX frame (0: the socket has no PACKET_VNET_HDR). */
  vnet: number;
  mtu: number;
}

/** Where a frame lies: xmit copies from `bytes` (or `u16`) when the engine left the packet in `u8`'s memory. */
export type FrameSource = Pick<Port, 'u8' | 'bytes'> & { u16?: Uint16Array };

/** Frames up to this length are copied 16 bits at a time (copyFrame). */
const SHORT_COPY_MAX = 112;

/**
 * Copies `n` bytes at `s` of `src`'s buffer to `d` of `dst`'s (the same
 * buffer or another ring's; the ranges never overlap: an RX frame and a TX
 * slot). A short frame whose ends are both even (as RX frames and TX slots
 * are: the kernel starts both on even offsets) goes 16 bits at a time:
 * measured ~20 ns for 60 bytes against ~55-80 ns for Buffer.copy, which also
 * makes a view per call. Longer frames take the runtime's memcpy.
 */
export function copyFrame(src: FrameSource, s: number, dst: Pick<Port, 'u8' | 'u16' | 'bytes'>, d: number, n: number): void {
  const su16 = src.u16;
  if (n <= SHORT_COPY_MAX && su16 !== undefined && ((s | d) & 1) === 0) {
    const du16 = dst.u16;
    let w = s >>> 1;
    let v = d >>> 1;
    const wEnd = (s + n) >>> 1;
    while (w < wEnd) du16[v++] = su16[w++]!;
    if ((n & 1) !== 0) dst.u8[d + n - 1] = src.u8[s + n - 1]!;
    return;
  }
  if (src.u8 === dst.u8) dst.u8.copyWithin(d, s, s + n);
  else src.bytes.copy(dst.bytes, d, s, s + n);
}

export function makePort(sock: PortSocket): Port {
  const buf = sock.buffer;
  const m = sock.macBytes;
  return {
    ifname: sock.ifname,
    sock,
    u8: new Uint8Array(buf),
    u16: new Uint16Array(buf),
    u32: new Uint32Array(buf),
    bytes: Buffer.from(buf),
    tx: sock.tx,
    blockSize: sock.rx.blockSize,
    blockCount: sock.rx.blockCount,
    v2: sock.version === 2,
    frameSize: sock.rx.frameSize ?? 2048,
    framesPerBlock: (sock.rx.blockSize / (sock.rx.frameSize ?? 2048)) | 0,
    frameCount: ((sock.rx.blockSize / (sock.rx.frameSize ?? 2048)) | 0) * sock.rx.blockCount,
    cur: 0,
    macHi: ((m[0]! << 24) | (m[1]! << 16) | (m[2]! << 8) | m[3]!) >>> 0,
    macLo: (m[4]! << 8) | m[5]!,
    vnet: sock.vnetHdrLen ?? 0,
    mtu: sock.mtu ?? 1500,
  };
}

/** Data-plane counters kept by the loop itself (the engine counts its own). */
export class ForwarderCounters {
  rxFrames = 0;
  rxBatches = 0;
  txFrames = 0;
  drops = 0;
  ignored = 0;
  /** Frames longer on the wire than in the ring (a GRO/GSO super-frame): the engine would see a truncated packet. */
  truncated = 0;
  /**
   * Frames addressed to another host's MAC (PACKET_OTHERHOST): a packet tap sees
   * what a bridge floods, but IPVS only ever gets packets sent to this host. Two
   * directors on one LAN would otherwise both forward a flooded frame.
   */
  otherHost = 0;
  /** Frames with a VLAN tag the device stripped: services are untagged. */
  vlan = 0;
  /** TX ring full after a kick. */
  txFull = 0;
  /** TX kicks because a ring reached half full (TxRing.kickAt) in the middle of an RX batch. */
  txKicksHalf = 0;
  /** TX kicks at the end of an RX batch (the frames the batch left pending). */
  txKicksBatch = 0;
  /** Frames the engine forwarded but whose next hop was not resolved yet (held or dropped by the neighbour table). */
  neighMiss = 0;
  /** Frames on which the engine threw (a bug): dropped, forwarding goes on. */
  engineErrors = 0;
  /** Frames forwarded into a TX ring. */
  forwarded = 0;
  /** Frames longer than an egress TX slot (and not a super-frame the kernel can segment): dropped. */
  oversize = 0;
  /** Frames whose ring header points outside its block, or an engine answer outside its buffer: dropped. */
  badFrame = 0;
  /** Frames on which the loop itself threw (a bug outside the engine): dropped, forwarding goes on. */
  faults = 0;
  /** Held frames (neighbour resolved later) that no longer fit a TX slot or found the ring full. */
  heldDropped = 0;
  /** GSO/GRO super-frames received (virtio_net_hdr gso_type set). Not an outcome: each also ends in one below. */
  gsoRx = 0;
  /** Super-frames sent whole through the PACKET_VNET_HDR socket: the kernel (or NIC) segments them. */
  gsoSent = 0;
  /** Super-frames to TUN real servers cut into IPIP segments here (an IPIP GSO type is not expressible in virtio_net_hdr). */
  gsoSegmented = 0;
  /** Segments those made (TX ring frames). */
  gsoSegments = 0;
  /** Super-frames lvsd cannot forward: not TCPv4/TCPv6/UDP-L4 GSO, no NEEDS_CSUM, UDP over TUN, or no vnet socket. */
  gsoUnsupported = 0;
  /** Super-frames the kernel refused on send (-errno in lastGsoErrno). */
  gsoSendErrors = 0;
  lastGsoErrno = 0;
  /**
   * Every RX frame ends in exactly one outcome, so this equals rxFrames
   * (heldDropped and txFrames are not outcomes: held frames were counted
   * under neighMiss when they arrived).
   */
  outcomes(): number {
    return this.forwarded + this.drops + this.ignored + this.truncated + this.otherHost + this.vlan + this.txFull
      + this.neighMiss + this.engineErrors + this.oversize + this.badFrame + this.faults
      + this.gsoSent + this.gsoSegmented + this.gsoUnsupported + this.gsoSendErrors;
  }
  /** Histogram of frames per RX batch: bounds in BATCH_BUCKETS. */
  readonly batchHist = new Float64Array(BATCH_BUCKETS.length + 1);
}
export const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];


export interface ForwarderOptions {
  /** Monotonic milliseconds; the engine's clock. */
  now?: () => number;
  /** Called after each readiness event with the frames walked (metrics). */
  onBatch?: (frames: number) => void;
  /** The engine threw on a frame (counted in engineErrors). */
  onEngineError?: (err: unknown) => void;
  /** The loop itself threw on a frame (counted in faults); the frame is dropped. */
  onFault?: (err: unknown) => void;
  /**
   * More RX-only ports, walked like `ports` (onReadable(ports.length + i)) but
   * never chosen as egress: the large-block ring of each interface, which
   * takes the frames a page-sized block cannot hold.
   */
  rxOnly?: Port[];
}

export class Forwarder {
  /** The fast path, when lvsd runs with --fast-path; fastCand: the frame in hand was captured for it. */
  private fast: FastPath | null = null;
  private fastIfindex: number[] = [];
  private fastCand = false;
  readonly counters = new ForwarderCounters();
  private readonly out: XmitOut;
  private readonly now: () => number;
  private running = false;
  /** Ports that got TX frames during the current batch. */
  private readonly dirty: Uint8Array;
  /** Every port with an RX ring: `ports`, then opts.rxOnly. */
  readonly rxPorts: Port[];

  constructor(
    private readonly engine: DataPathEngine,
    readonly ports: Port[],
    private readonly neigh: DataPathNeigh,
    private readonly opts: ForwarderOptions = {},
  ) {
    this.out = { buf: ports[0]?.u8 ?? new Uint8Array(0), start: 0, len: 0, nextHop: 0 };
    this.now = opts.now ?? (() => performance.now());
    this.dirty = new Uint8Array(ports.length);
    this.rxPorts = [...ports, ...(opts.rxOnly ?? [])];
  }

  start(): void {
    this.running = true;
    this.rxPorts.forEach((p, i) => this.listen(p, i));
  }

  private listen(p: Port, i: number): void {
    p.sock.onReadable((err) => { if (!err) this.onReadable(i); });
  }

  /** More RX-only ports, walked from now on (the IPv6 rings opened with the first IPv6 rule). */
  addRxPorts(ports: Port[]): void {
    for (const p of ports) {
      const i = this.rxPorts.length;
      this.rxPorts.push(p);
      if (this.running) this.listen(p, i);
    }
  }

  stop(): void {
    this.running = false;
    for (const p of this.rxPorts) {
      try { p.sock.pause(); } catch { /* closed */ }
    }
  }

  /** Sends frames the neighbour table held until their next hop resolved (already L2-addressed). */
  sendHeld(port: number, frames: Uint8Array[]): void {
    const p = this.ports[port];
    if (!p || !this.running) return;
    const c = this.counters;
    try {
      for (const f of frames) {
        if (f.length > p.tx.maxFrameLen || f.length < 14) c.heldDropped++;
        else if (p.tx.push(f)) c.txFrames++;
        else c.heldDropped++;
      }
      p.tx.flush();
    } catch (err) {
      c.faults++;
      this.opts.onFault?.(err);
    }
  }

  /**
   * Walk every ready block of port `pi`; returns frames walked. Nothing a
   * frame holds (or a bug it triggers) escapes: every frame ends in exactly
   * one counter, and a block is handed back to the kernel whatever happened.
   */
  onReadable(pi: number): number {
    const port = this.rxPorts[pi]!;
    const now = this.now();
    const c = this.counters;
    const frames = port.v2 ? this.walkSlots(port, now) : this.walkBlocks(port, now);
    this.kickDirty();
    if (frames) {
      c.rxFrames += frames;
      c.rxBatches++;
      let k = 0;
      while (k < BATCH_BUCKETS.length && frames > BATCH_BUCKETS[k]!) k++;
      c.batchHist[k]!++;
      this.opts.onBatch?.(frames);
    }
    return frames;
  }

  /** TPACKET_V2: every slot the kernel has handed over, in ring order, each given back right after its frame. */
  private walkSlots(port: Port, now: number): number {
    const u8 = port.u8;
    const u32 = port.u32;
    const c = this.counters;
    const fs = port.frameSize;
    const fpb = port.framesPerBlock;
    const bs = port.blockSize;
    const n = port.frameCount;
    let frames = 0;
    while (frames < n) {
      if (u8.byteLength === 0) break; // socket closed
      const i = port.cur;
      const blk = (i / fpb) | 0;
      const p = blk * bs + (i - blk * fpb) * fs;
      const h = p >>> 2;
      const st = u32[h + (H2_STATUS >>> 2)]!;
      if ((st & TP_STATUS_USER) === 0) break;
      // Everything of the slot header first: the engine may use the bytes in front of the frame as headroom.
      const caplen = u32[h + (H2_SNAPLEN >>> 2)]!;
      const wirelen = u32[h + (H2_LEN >>> 2)]!;
      const mac = p + (u32[h + (H2_MAC_NET >>> 2)]! & 0xffff);
      if (mac < p + 32 || mac + caplen > p + fs) c.badFrame++;
      else {
        try {
          this.frame(port, mac, caplen, wirelen, st, now);
        } catch (err) {
          c.faults++;
          this.opts.onFault?.(err);
        }
      }
      u32[h + (H2_STATUS >>> 2)] = 0; // TP_STATUS_KERNEL: the slot is the kernel's again
      port.cur = i + 1 === n ? 0 : i + 1;
      frames++;
    }
    return frames;
  }

  /** TPACKET_V3: every ready block, every frame in it, each block given back after its last frame. */
  private walkBlocks(port: Port, now: number): number {
    const u8 = port.u8;
    const u32 = port.u32;
    const c = this.counters;
    const bs = port.blockSize;
    let frames = 0;
    for (let b = 0; b < port.blockCount; b++) {
      if (u8.byteLength === 0) break; // socket closed
      const blk = port.cur * bs;
      const blkEnd = blk + bs;
      const statusIdx = (blk + BLK_STATUS) >>> 2;
      if ((u32[statusIdx]! & TP_STATUS_USER) === 0) break;
      const claimed = u32[(blk + BLK_NUM_PKTS) >>> 2]!;
      let n = claimed;
      let p = blk + u32[(blk + BLK_FIRST_PKT) >>> 2]!;
      // A frame needs at least its tpacket3_hdr (48 bytes): more frames than
      // that fit in the block is a broken block, walked no further than it can hold.
      const maxN = (bs / 48) | 0;
      if (n > maxN) { c.badFrame += n - maxN; n = maxN; }
      for (let i = 0; i < n; i++) {
        if (p < blk + 16 || p + 48 > blkEnd || (p & 3) !== 0) {
          // The rest of the block cannot be found: count every frame it claims.
          c.badFrame += n - i;
          break;
        }
        const h = p >>> 2;
        // Read everything of the frame header first: the engine may use the
        // bytes in front of the frame (the tpacket header) as headroom.
        const next = u32[h + (H_NEXT >>> 2)]!;
        const caplen = u32[h + (H_SNAPLEN >>> 2)]!;
        const wirelen = u32[h + (H_LEN >>> 2)]!;
        const st = u32[h + (H_STATUS >>> 2)]!;
        const mac = p + (u32[h + (H_MAC_NET >>> 2)]! & 0xffff);
        if (mac < p + 32 || mac + caplen > blkEnd) c.badFrame++;
        else {
          try {
            this.frame(port, mac, caplen, wirelen, st, now);
          } catch (err) {
            c.faults++;
            this.opts.onFault?.(err);
          }
        }
        if (i + 1 < n && next === 0) { c.badFrame += n - i - 1; break; }
        p += next;
      }
      frames += claimed;
      u32[statusIdx] = 0; // TP_STATUS_KERNEL: the block is the kernel's again
      port.cur = port.cur + 1 === port.blockCount ? 0 : port.cur + 1;
    }
    return frames;
  }

  private frame(port: Port, off: number, caplen: number, wirelen: number, status: number, now: number): void {
    const c = this.counters;
    if (caplen < wirelen) { c.truncated++; return; }
    if ((status & TP_STATUS_VLAN_VALID) !== 0) { c.vlan++; return; }
    const u8 = port.u8;
    if (((u8[off]! << 24) | (u8[off + 1]! << 16) | (u8[off + 2]! << 8) | u8[off + 3]!) >>> 0 !== port.macHi
      || ((u8[off + 4]! << 8) | u8[off + 5]!) !== port.macLo) { c.otherHost++; return; }
    // gso_type in the virtio_net_hdr right before the frame: a TSO/GRO super-frame.
    if (port.vnet !== 0 && u8[off - VNET_HDR_LEN + 1] !== 0) { this.gsoFrame(port, off, caplen, now); return; }
    if ((status & TP_STATUS_CSUMNOTREADY) !== 0) completeL4Checksum(u8, off, caplen);
    const fast = this.fast;
    if (fast === null) {
      if (this.runEngine(u8, off, caplen, now, false)) this.xmit(port, now);
      return;
    }
    this.fastCand = fast.capture(u8, off, caplen);
    if (this.runEngine(u8, off, caplen, now, false)) this.xmit(port, now);
    this.fastCand = false;
  }

  /**
   * Turns the fast path on (src/io/fastpath.ts): every ordinary frame the
   * engine forwards is offered to it. `ifindexes[i]` is port i's interface.
   */
  setFastPath(fast: FastPath | null, ifindexes: number[]): void {
    this.fast = fast;
    this.fastIfindex = ifindexes;
  }

  /**
   * The engine's verdict on one frame, counted; true when `this.out` is to be
   * sent. The engine promises never to throw on frame contents; if a bug
   * makes it, one frame is lost, not the forwarder.
   */
  private runEngine(u8: Uint8Array, off: number, caplen: number, now: number, gso: boolean): boolean {
    const c = this.counters;
    let v: number;
    try {
      v = this.engine.input(u8, off, caplen, now, this.out, gso);
    } catch (err) {
      c.engineErrors++;
      this.opts.onEngineError?.(err);
      return false;
    }
    if (v === VERDICT_IGNORE) { c.ignored++; return false; }
    if (v !== VERDICT_XMIT) { c.drops++; return false; }
    return true;
  }

  /** Sends what `this.out` describes (an ordinary frame) through the TX ring of its next hop's port. */
  private xmit(port: FrameSource, now: number): void {
    const c = this.counters;
    const out = this.out;
    const l2 = out.start - 14;
    const buf = out.buf;
    // The engine's word is that out describes its own buffer; a bug that
    // breaks it must cost one frame, not a write outside the packet.
    if (l2 < 0 || out.len < 0 || out.start + out.len > buf.length) { c.badFrame++; return; }
    // The ethertype from the packet's version; the MACs come from the neighbour table.
    const egress = this.l2Header(buf, out, l2, now);
    if (egress < 0) {
      if (egress === -2) { c.badFrame++; return; }
      c.neighMiss++;
      if ((buf[out.start]! >> 4) === 6) this.neigh.holdFrame6!(out.nextHop6!, buf.subarray(l2, out.start + out.len), now);
      else this.neigh.holdFrame(out.nextHop, buf.subarray(l2, out.start + out.len), now);
      return;
    }
    const tx = this.ports[egress]!;
    const flen = out.len + 14;
    if (flen > tx.tx.maxFrameLen) { c.oversize++; return; }
    const d = tx.tx.acquireOrKick();
    if (d < 0) { c.txFull++; return; }
    if (this.fastCand) this.fast!.offer(buf, buf === port.u8, l2, out.len, this.fastIfindex[egress]!, tx.mtu);
    if (buf === port.u8) copyFrame(port, l2, tx, d, flen);
    else if (buf === tx.u8) tx.u8.copyWithin(d, l2, l2 + flen);
    else tx.u8.set(buf.subarray(l2, l2 + flen), d);
    const t = tx.tx;
    t.commit(flen);
    this.dirty[egress] = 1;
    c.txFrames++;
    c.forwarded++;
    if (t.pending >= t.kickAt) { c.txKicksHalf++; t.kick(); }
  }

  /**
   * Ethertype and MACs in front of the IP packet `out` describes (at l2):
   * the egress port, -1 when the next hop is not resolved yet, -2 when the
   * packet cannot be addressed at all (an engine answer that is neither
   * IPv4 nor IPv6, or IPv6 to a neighbour table without IPv6: a test fake).
   */
  private l2Header(buf: Uint8Array, out: XmitOut, l2: number, now: number): number {
    const v = buf[out.start]! >> 4;
    if (v === 4) {
      buf[out.start - 2] = 0x08;
      buf[out.start - 1] = 0x00;
      return this.neigh.writeMacs(out.nextHop, buf, l2, now);
    }
    if (v !== 6 || out.nextHop6 === undefined || this.neigh.writeMacs6 === undefined || this.neigh.holdFrame6 === undefined) return -2;
    buf[out.start - 2] = 0x86;
    buf[out.start - 1] = 0xdd;
    return this.neigh.writeMacs6(out.nextHop6, buf, l2, now);
  }

  /**
   * A GSO super-frame (virtio_net_hdr before it says so): rewritten in place
   * as one packet, then sent whole with a virtio_net_hdr so the kernel cuts
   * it (NAT, DR), or cut here into IPIP segments (TUN). Its L4 checksum field
   * holds the pseudo-header sum (CHECKSUM_PARTIAL), which moves the other way
   * from a checksum under the engine's RFC 1624 updates: complemented around
   * input(), the engine's update is exactly the partial sum's.
   */
  private gsoFrame(port: Port, off: number, caplen: number, now: number): void {
    const c = this.counters;
    const u8 = port.u8;
    c.gsoRx++;
    const vh = off - VNET_HDR_LEN;
    const flags = u8[vh]!;
    const gsoType = u8[vh + 1]! & ~VNET_GSO_ECN;
    const gsoSize = u8[vh + 4]! | (u8[vh + 5]! << 8);
    const csumStart = u8[vh + 6]! | (u8[vh + 7]! << 8);
    const csumOff = u8[vh + 8]! | (u8[vh + 9]! << 8);
    const field = off + csumStart + csumOff;
    if ((flags & VNET_F_NEEDS_CSUM) === 0 || (gsoType !== VNET_GSO_TCPV4 && gsoType !== VNET_GSO_TCPV6 && gsoType !== VNET_GSO_UDP_L4)
      || gsoSize === 0 || csumStart < 34 || field + 2 > off + caplen) { c.gsoUnsupported++; return; }
    u8[field] = ~u8[field]! & 0xff;
    u8[field + 1] = ~u8[field + 1]! & 0xff;
    const lp = field - csumOff;
    const ports0 = ((u8[lp]! << 8) | u8[lp + 1]!) + ((u8[lp + 2]! << 8) | u8[lp + 3]!);
    // A flow whose packets are all super-frames (a bulk upload) is learnt from them: the fast path's
    // program takes TCP super-frames whose segments fit the egress link.
    const fastCand = this.fast !== null && this.fast.capture(u8, off, caplen);
    if (!this.runEngine(u8, off, caplen, now, true)) return;
    const out = this.out;
    const buf = out.buf;
    // An ICMP error the engine made about it (its own buffer): an ordinary frame.
    if (buf !== u8) { this.xmit(port, now); return; }
    const l2 = out.start - 14;
    if (l2 < VNET_HDR_LEN || out.len < 0 || out.start + out.len > buf.length || field + 2 > out.start + out.len) { c.badFrame++; return; }
    // The engine folded the port rewrite in too, but a partial sum covers
    // only the pseudo-header (the ports are summed when the segments are
    // made, as inet_proto_csum_replace2(..., pseudohdr=false) leaves it): take it out.
    let sum = ((u8[field]! << 8) | u8[field + 1]!) ^ 0xffff;
    sum += ports0 + (((u8[lp]! << 8) | u8[lp + 1]!) ^ 0xffff) + (((u8[lp + 2]! << 8) | u8[lp + 3]!) ^ 0xffff);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    u8[field] = sum >>> 8;
    u8[field + 1] = sum & 0xff;
    const egress = this.l2Header(buf, out, l2, now);
    // Not held: a copy of 64 KiB per miss is not worth it; TCP sends it again.
    if (egress === -2) { c.badFrame++; return; }
    if (egress < 0) { c.neighMiss++; return; }
    const tx = this.ports[egress]!;
    const l4 = field - csumOff;
    if (out.start < off + 14) {
      // TUN: the engine put an outer header in front (IPIP protocol 4, or IPv6 next header 41).
      const v6 = (buf[out.start]! >> 4) === 6;
      const tcpInTunnel = v6 ? buf[out.start + 6] === 41 && gsoType === VNET_GSO_TCPV6 : buf[out.start + 9] === 4 && gsoType === VNET_GSO_TCPV4;
      if (!tcpInTunnel) { c.gsoUnsupported++; return; }
      // An IPv4 TUN upload is all super-frames too: learnt from them (the program encapsulates them whole).
      if (fastCand && !v6) this.fast!.offer(buf, true, l2, out.len, this.fastIfindex[egress]!, tx.mtu);
      this.tunSegments(port, tx, egress, out.start, gsoSize, v6);
      return;
    }
    const send = tx.sock.sendVnetAt;
    if (!send) { c.gsoUnsupported++; return; }
    if (fastCand) this.fast!.offer(buf, true, l2, out.len, this.fastIfindex[egress]!, tx.mtu);
    const hdrEnd = gsoType === VNET_GSO_UDP_L4 ? l4 + 8 : l4 + ((buf[l4 + 12]! >>> 4) << 2);
    // Segments must fit the egress link, whatever the ingress one allowed (TCP takes any segment size).
    let seg = gsoSize;
    const room = tx.mtu - (hdrEnd - out.start);
    if (room < seg) seg = room;
    if (seg < 8) { c.oversize++; return; }
    const w = l2 - VNET_HDR_LEN;
    const hdrLen = hdrEnd - l2;
    const cs = l4 - l2;
    buf[w] = VNET_F_NEEDS_CSUM;
    buf[w + 1] = u8[vh + 1]!; // gso_type as received, ECN bit included
    buf[w + 2] = hdrLen & 0xff; buf[w + 3] = hdrLen >>> 8;
    buf[w + 4] = seg & 0xff; buf[w + 5] = seg >>> 8;
    buf[w + 6] = cs & 0xff; buf[w + 7] = cs >>> 8;
    buf[w + 8] = csumOff & 0xff; buf[w + 9] = csumOff >>> 8;
    // Frames of this batch already queued for that port go first: no reordering within a flow.
    if (tx.tx.pending > 0) tx.tx.kick();
    const r = send.call(tx.sock, port.sock.buffer, w, out.len + 14 + VNET_HDR_LEN);
    if (r < 0) { c.gsoSendErrors++; c.lastGsoErrno = -r; return; }
    c.gsoSent++;
    c.txFrames++;
  }

  /**
   * The TUN half of GSO: the engine wrote one outer header at `o` in front of
   * a TCP super-frame (IPIP, or IPv6 next header 41 when `v6`); cut it into
   * segments that fit the tunnel (each with its own outer and inner header,
   * sequence number, IPv4 ids and complete checksums, as tcp_gso_segment
   * would) straight into TX slots. Complete checksums, not CHECKSUM_PARTIAL:
   * a tunnel end that decapsulates in user space (the lab's RS helper) would
   * never see a partial one completed. An inner IPv6 packet is cut only when
   * its TCP header follows its fixed header directly (what TSO senders
   * make); others are counted.
   */
  private tunSegments(port: Port, tx: Port, egress: number, o: number, gsoSize: number, v6: boolean): void {
    const c = this.counters;
    const b = port.u8;
    const l2 = o - 14;
    const ohl = v6 ? 40 : 20;
    const l3 = o + ohl;
    if (v6 && b[l3 + 6] !== 6) { c.gsoUnsupported++; return; }
    const ihl = v6 ? 40 : (b[l3]! & 15) << 2;
    const l4 = l3 + ihl;
    const thl = (b[l4 + 12]! >>> 4) << 2;
    const hdrs = ohl + ihl + thl;
    // IPv4: total length, header included; IPv6: payload length.
    const payload = v6 ? ((b[l3 + 4]! << 8) | b[l3 + 5]!) - thl : ((b[l3 + 2]! << 8) | b[l3 + 3]!) - ihl - thl;
    let mtu = tx.mtu;
    const tm = this.engine.tunMtu;
    if (tm !== undefined && tm < mtu) mtu = tm;
    let mss = gsoSize;
    if (mss > mtu - hdrs) mss = mtu - hdrs;
    if (mss > tx.tx.maxFrameLen - 14 - hdrs) mss = tx.tx.maxFrameLen - 14 - hdrs;
    if (mss < 8 || payload <= 0) { c.oversize++; return; }
    // IPv4 only: the outer DF, both IP ids, and the inner addresses for the pseudo-header.
    const df = (b[o + 6]! & 0x40) !== 0;
    const outerId = (b[o + 4]! << 8) | b[o + 5]!;
    const innerId = (b[l3 + 4]! << 8) | b[l3 + 5]!;
    const src = ((b[l3 + 12]! << 24) | (b[l3 + 13]! << 16) | (b[l3 + 14]! << 8) | b[l3 + 15]!) >>> 0;
    const dst = ((b[l3 + 16]! << 24) | (b[l3 + 17]! << 16) | (b[l3 + 18]! << 8) | b[l3 + 19]!) >>> 0;
    const seq0 = ((b[l4 + 4]! << 24) | (b[l4 + 5]! << 16) | (b[l4 + 6]! << 8) | b[l4 + 7]!) >>> 0;
    const flags0 = b[l4 + 13]!;
    const t = tx.u8;
    const ps = l4 + thl;
    for (let pos = 0, k = 0; pos < payload; pos += mss, k++) {
      const n = payload - pos < mss ? payload - pos : mss;
      const d = tx.tx.acquireOrKick();
      if (d < 0) { c.txFull++; if (k) this.dirty[egress] = 1; return; }
      port.bytes.copy(tx.bytes, d, l2, l2 + 14 + hdrs);
      port.bytes.copy(tx.bytes, d + 14 + hdrs, ps + pos, ps + pos + n);
      const so = d + 14;
      const si = so + ohl;
      const st = si + ihl;
      const l4len = thl + n;
      let x: number;
      if (v6) {
        const opl = 40 + l4len;
        t[so + 4] = opl >>> 8; t[so + 5] = opl & 0xff;
        t[si + 4] = l4len >>> 8; t[si + 5] = l4len & 0xff;
      } else {
        const otot = hdrs + n;
        t[so + 2] = otot >>> 8; t[so + 3] = otot & 0xff;
        if (!df) { const id = (outerId + k) & 0xffff; t[so + 4] = id >>> 8; t[so + 5] = id & 0xff; }
        t[so + 10] = 0; t[so + 11] = 0;
        x = checksum(t, so, 20);
        t[so + 10] = x >>> 8; t[so + 11] = x & 0xff;
        const itot = ihl + l4len;
        t[si + 2] = itot >>> 8; t[si + 3] = itot & 0xff;
        const iid = (innerId + k) & 0xffff;
        t[si + 4] = iid >>> 8; t[si + 5] = iid & 0xff;
        t[si + 10] = 0; t[si + 11] = 0;
        x = checksum(t, si, ihl);
        t[si + 10] = x >>> 8; t[si + 11] = x & 0xff;
      }
      const seq = (seq0 + pos) >>> 0;
      t[st + 4] = seq >>> 24; t[st + 5] = (seq >>> 16) & 0xff; t[st + 6] = (seq >>> 8) & 0xff; t[st + 7] = seq & 0xff;
      let f = flags0;
      if (pos + n < payload) f &= ~0x09; // FIN, PSH: the last segment's
      if (k > 0) f &= ~0x80; // CWR: the first's
      t[st + 13] = f;
      t[st + 16] = 0; t[st + 17] = 0;
      const ph = v6 ? pseudoHeaderSum6(t, si + 8, si + 24, 6, l4len) : pseudoHeaderSum(src, dst, 6, l4len);
      x = csumFold(csumPartial(t, st, l4len, ph));
      t[st + 16] = x >>> 8; t[st + 17] = x & 0xff;
      tx.tx.commit(14 + hdrs + n);
      c.gsoSegments++;
      c.txFrames++;
      if (tx.tx.pending >= tx.tx.kickAt) { c.txKicksHalf++; tx.tx.kick(); }
    }
    this.dirty[egress] = 1;
    c.gsoSegmented++;
  }

  /**
   * One frame that did not come from this forwarder's RX rings: the
   * NFQUEUE path's packets (src/io/nfqueue.ts), with the skb mark the kernel
   * gave them, at src.u8[off, off+len) with HEADROOM bytes free in front.
   * Counted as an RX frame of this forwarder, so a forwarder used for
   * injection only keeps its own rxFrames = outcomes(). Returns the engine's
   * verdict; an XMIT frame is in a TX ring (or held, or counted as lost) when
   * this returns. kickDirty() publishes what a batch of them queued.
   */
  inject(src: FrameSource, off: number, len: number, now: number, mark: number): number {
    const c = this.counters;
    c.rxFrames++;
    let v: number;
    try {
      v = this.engine.input(src.u8, off, len, now, this.out, false, mark);
    } catch (err) {
      c.engineErrors++;
      this.opts.onEngineError?.(err);
      return VERDICT_DROP;
    }
    if (v === VERDICT_IGNORE) { c.ignored++; return v; }
    if (v !== VERDICT_XMIT) { c.drops++; return v; }
    try {
      this.xmit(src, now);
    } catch (err) {
      c.faults++;
      this.opts.onFault?.(err);
    }
    return v;
  }

  /** One kick per port that got frames since the last call (an RX batch, or inject()s). */
  kickDirty(): void {
    const c = this.counters;
    for (let i = 0; i < this.ports.length; i++) {
      if (!this.dirty[i]) continue;
      this.dirty[i] = 0;
      try {
        const t = this.ports[i]!.tx;
        if (t.pending > 0) { c.txKicksBatch++; t.kick(); }
      } catch (err) {
        c.faults++;
        this.opts.onFault?.(err);
      }
    }
  }
}

/**
 * A frame from a local sender (veth with checksum offload) carries only the
 * pseudo-header sum in its L4 checksum (CHECKSUM_PARTIAL). Once it leaves
 * through a packet socket nobody completes it, so do it here, before the
 * engine's incremental updates build on it.
 */
export function completeL4Checksum(u8: Uint8Array, off: number, len: number): void {
  if (len >= 54 && u8[off + 12] === 0x86 && u8[off + 13] === 0xdd) { completeL4Checksum6(u8, off, len); return; }
  if (len < 34 || u8[off + 12] !== 0x08 || u8[off + 13] !== 0x00) return;
  const ip = off + 14;
  const ihl = (u8[ip]! & 0x0f) * 4;
  const totLen = (u8[ip + 2]! << 8) | u8[ip + 3]!;
  const frag = ((u8[ip + 6]! << 8) | u8[ip + 7]!) & 0x3fff;
  if (ihl < 20 || totLen > len - 14 || totLen < ihl || frag !== 0) return;
  const proto = u8[ip + 9]!;
  let field: number;
  if (proto === 6) field = 16;
  else if (proto === 17) field = 6;
  else return;
  const l4 = ip + ihl;
  const l4len = totLen - ihl;
  if (l4len < field + 2) return;
  const src = ((u8[ip + 12]! << 24) | (u8[ip + 13]! << 16) | (u8[ip + 14]! << 8) | u8[ip + 15]!) >>> 0;
  const dst = ((u8[ip + 16]! << 24) | (u8[ip + 17]! << 16) | (u8[ip + 18]! << 8) | u8[ip + 19]!) >>> 0;
  u8[l4 + field] = 0;
  u8[l4 + field + 1] = 0;
  let sum = csumFold(csumPartial(u8, l4, l4len, pseudoHeaderSum(src, dst, proto, l4len)));
  if (proto === 17 && sum === 0) sum = 0xffff;
  u8[l4 + field] = sum >>> 8;
  u8[l4 + field + 1] = sum & 0xff;
}

/** completeL4Checksum for IPv6: the transport header found past any extension headers, the IPv6 pseudo-header. */
function completeL4Checksum6(u8: Uint8Array, off: number, len: number): void {
  const ip = off + 14;
  if ((u8[ip]! >> 4) !== 6) return;
  const tot = 40 + ((u8[ip + 4]! << 8) | u8[ip + 5]!);
  if (tot > len - 14) return;
  const r = ipv6Upper(u8, ip, ip + tot);
  if (r < 0) return;
  const proto = r & 0xff;
  let field: number;
  if (proto === 6) field = 16;
  else if (proto === 17) field = 6;
  else return;
  const l4 = ip + (r >>> 8);
  const l4len = ip + tot - l4;
  if (l4len < field + 2) return;
  u8[l4 + field] = 0;
  u8[l4 + field + 1] = 0;
  let sum = csumFold(csumPartial(u8, l4, l4len, pseudoHeaderSum6(u8, ip + 8, ip + 24, proto, l4len)));
  if (proto === 17 && sum === 0) sum = 0xffff;
  u8[l4 + field] = sum >>> 8;
  u8[l4 + field + 1] = sum & 0xff;
}
