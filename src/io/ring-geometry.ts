// How lvsd sizes its two RX rings per interface, and where the length gate
// between them sits. One ring takes ordinary frames and must hand each to
// user space at once; the other takes what that one cannot hold: TSO/GRO
// super-frames (up to 64 KiB) and jumbo frames, rare per byte.
import type { PacketSocketOptions } from './native.js';

/**
 * The ordinary-frame ring, TPACKET_V2 (the default): one 2 KiB slot per
 * frame, handed over and signalled as soon as the kernel has filled it, so
 * a keep-alive request waits for nothing; under load the slots that filled
 * while lvsd was busy are walked as one batch. 4096 slots buffer as many
 * frames as the V3 ring below.
 *
 * TPACKET_V3 (`--rx-ring v3`, kept to measure against): a block reaches user
 * space only when it is full or its retire timer (>= 1 ms) fires, so every
 * frame waits for its block to close. Page-sized blocks close after a few
 * frames under load (measured earlier: NAT keep-alive 25k → 36k req/s
 * against 2 MiB blocks), but a quiet flow still waits the timer out, which
 * is what kept lvsd's keep-alive p99 at ~3x nftables DNAT's.
 */
const V2_SLOT = 2048;
const V2_BLOCK = 64 << 10;
const V2_BLOCKS = 128;
/**
 * A V2 slot holds its tpacket2_hdr, sockaddr_ll and virtio_net_hdr before
 * the frame (the frame starts 76 bytes in, af_packet.c's macoff): 1972 bytes
 * fit a 2 KiB slot. The gate leaves a margin under that.
 */
const V2_MAX_FRAME = 1960;
const V3_BLOCK = 4096;
const V3_BLOCKS = 2048;
/** 3840 leaves a 4096-byte block room for its descriptor (48) and the frame's tpacket3_hdr + sockaddr_ll + virtio_net_hdr (92). */
const V3_MAX_FRAME = 3840;

/**
 * The big-frame ring. With the default (V2) geometry it is V2 too: one
 * 128 KiB slot per frame (a 64 KiB GSO super-frame and its headers fit),
 * each handed over as it lands. A V3 block ring (the old geometry, kept
 * with --rx-ring v3) packs more jumbo frames into the same memory, but the
 * kernel re-arms every V3 socket's block retire timer every millisecond
 * whether frames come or not (an hrtimer on this project's 6.18 kernel:
 * measured 1,000 expiries/s per socket with no traffic), which on a virtual
 * machine costs ~14 us of CPU a time (measured: 8 idle V3 sockets took ~11 %
 * of a spinning core): ~3 % of the director core for NAT's two big rings,
 * and a wake-up of an idle core every 0.5 ms. It also held a burst's last
 * super-frame until the timer, where V2 hands it over at once. 64 slots
 * hold as many super-frames as the V3 ring's 32 blocks did; jumbo frames
 * (9014 bytes) get 64 slots where V3 packed ~400.
 */
const BIG_SLOT = 128 << 10;
const BIG_SLOTS = 64;
const BIG_BLOCK = 128 << 10;
const BIG_BLOCKS = 32;

export type RxRingVersion = 2 | 3;

export interface RingGeometry {
  /** Frames longer than this go to the big ring (lengthGate in both filters). */
  bigFrame: number;
  /** openPacket options for the ordinary-frame ring (filter added by the caller). */
  small: PacketSocketOptions;
  /** openPacket options for the big-frame ring: RX only. */
  big: PacketSocketOptions;
}

export function ringGeometry(version: RxRingVersion = 2): RingGeometry {
  const small: PacketSocketOptions = version === 2
    ? { rxVersion: 2, rxFrameSize: V2_SLOT, rxBlockSize: V2_BLOCK, rxBlockCount: V2_BLOCKS, vnetHdr: true }
    : { rxVersion: 3, rxBlockSize: V3_BLOCK, rxBlockCount: V3_BLOCKS, vnetHdr: true };
  return {
    bigFrame: version === 2 ? V2_MAX_FRAME : V3_MAX_FRAME,
    small,
    big: version === 2
      ? { rxVersion: 2, rxBlockSize: BIG_SLOT, rxBlockCount: BIG_SLOTS, rxFrameSize: BIG_SLOT, vnetHdr: true, txFrameCount: 1 }
      : { rxVersion: 3, rxBlockSize: BIG_BLOCK, rxBlockCount: BIG_BLOCKS, rxFrameSize: BIG_BLOCK, vnetHdr: true, txFrameCount: 1 },
  };
}
