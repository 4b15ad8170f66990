// Typed face of the packet I/O addon (native/, built by `npm run build:native`).
// Everything that touches the wire for the data plane goes through here.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildGratuitousArp } from '../packet/arp.js';
import { ipToU32, parseMac } from '../packet/addr.js';
import { RxRing, RxRingV2, TxRing, type RxHandler } from './ring.js';
import type { KernelTables, NeighEntry, RouteEntry } from './neigh.js';
import type { NativeNfqSocket, NfqSocketOptions } from './nfqueue.js';

export const ADDON_NAME = 'lvsd_native.node';

/** Ethertypes a packet socket can be bound to (PacketSocketOptions.protocol). */
export const ETH_P_ALL = 0x0003;
export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;

/** PACKET_FANOUT modes (<linux/if_packet.h>) for openPacket({fanout}) / setFanout. */
export const PACKET_FANOUT_HASH = 0;
export const PACKET_FANOUT_LB = 1;
export const PACKET_FANOUT_CPU = 2;
export const PACKET_FANOUT_ROLLOVER = 3;
export const PACKET_FANOUT_RND = 4;
export const PACKET_FANOUT_QM = 5;
export const PACKET_FANOUT_CBPF = 6;
export const PACKET_FANOUT_EBPF = 7;
/** Flag: when the chosen socket's ring is full, another member takes the frame (breaks flow affinity). */
export const PACKET_FANOUT_FLAG_ROLLOVER = 0x1000;
/** Flag (first member, group 0): the kernel picks a group id no one in the namespace uses; fanoutInfo() reads it. */
export const PACKET_FANOUT_FLAG_UNIQUEID = 0x2000;
/**
 * Flag (Linux >= 6.2): the group ignores frames the host sends. A member's own
 * PACKET_IGNORE_OUTGOING does not apply once it is in a group: the group's
 * hook replaces the socket's.
 */
export const PACKET_FANOUT_FLAG_IGNORE_OUTGOING = 0x4000;
/** Flag: defragment before hashing, so all fragments of a datagram go to one socket. */
export const PACKET_FANOUT_FLAG_DEFRAG = 0x8000;

/** Options for openPacket(); sizes are bytes and powers of two. */
export interface PacketSocketOptions {
  /** TPACKET_V3 RX block size. Default 256 KiB. */
  rxBlockSize?: number;
  /** Number of RX blocks. Default 64 (16 MiB ring). At low rates every block timeout retires a block holding few frames, so blockCount × rxBlockTimeoutMs is how long JS may stall without drops. */
  rxBlockCount?: number;
  /** Nominal RX frame size (V3 packs frames back to back; this only sizes tp_frame_nr). Default 2048. */
  rxFrameSize?: number;
  /** A partly filled block is handed to user space after this many ms, so latency stays low at low rates. Default 1. */
  rxBlockTimeoutMs?: number;
  /**
   * 3 (default): TPACKET_V3, frames packed into blocks that reach user space
   * when full or after rxBlockTimeoutMs. 2: TPACKET_V2, fixed slots of
   * rxFrameSize, each handed over (and signalled) as soon as it is filled:
   * no frame waits for a block to close. The TX ring's slots follow the
   * same version.
   */
  rxVersion?: 2 | 3;
  /** TX slot size; the largest frame is txFrameSize - 48. Default: the smallest power of two >= 2048 holding MTU + 14 + 4 + 20 (IPIP) + 48. */
  txFrameSize?: number;
  /** TX slots (rounded up to whole TX blocks). Default 1024. */
  txFrameCount?: number;
  /** TX block size. Default 64 KiB. */
  txBlockSize?: number;
  /**
   * PACKET_VNET_HDR on the ring socket: each RX frame has a 10-byte
   * virtio_net_hdr right before it (GSO type/size, checksum state of a
   * TSO/GRO super-frame), and each TX slot one before its frame (written by
   * TxRing). Default false.
   */
  vnetHdr?: boolean;
  /** PACKET_QDISC_BYPASS: TX goes straight to the driver. Default true. */
  qdiscBypass?: boolean;
  /** PACKET_IGNORE_OUTGOING: the RX ring never sees frames this host sends. Default true. */
  ignoreOutgoing?: boolean;
  /**
   * The ethertype the socket is bound to: ETH_P_ALL (default) taps every
   * frame before the device's ingress hooks (tc, netdev nftables);
   * ETH_P_IP or ETH_P_IPV6 binds a protocol handler, which sees only what
   * passed them (io/intercept.ts says why lvsd uses which). TX is the same
   * either way: each frame goes out with its own ethertype.
   */
  protocol?: number;
  /** A classic-BPF program attached BEFORE the socket is bound, so the ring never holds a rejected frame. */
  filter?: BpfProgram;
  /** PACKET_FANOUT: join group `group` with mode (PACKET_FANOUT_HASH = 0 by default). */
  fanout?: FanoutSpec;
}

/** PACKET_FANOUT: join `group` (0 with PACKET_FANOUT_FLAG_UNIQUEID: a new unique one) in `mode`, with PACKET_FANOUT_FLAG_* `flags`. */
export interface FanoutSpec { group: number; mode?: number; flags?: number }

/** Classic BPF: a flat Uint32Array [code, jt, jf, k, ...] or a list of [code, jt, jf, k]. */
export type BpfProgram = Uint32Array | number[][];

export interface PacketStats {
  /** Frames that reached the socket since open (the kernel counts ring drops in here too). */
  packets: number;
  /** Frames lost because every RX block was user-owned. */
  drops: number;
  /** Times the RX queue froze (ring full). */
  freezeQueue: number;
}

/** The kernel's route for a destination (RTM_GETROUTE, as `ip route get`). */
export interface RouteInfo {
  /** 'unicast', 'local', 'broadcast', 'unreachable', ... */
  type: string;
  ifindex: number;
  /** Interface name in the calling thread's namespace ('' if it vanished). */
  dev: string;
  /** Next hop when not on-link. */
  gateway?: string;
  prefsrc?: string;
}

/** One neighbour entry (RTM_GETNEIGH). */
export interface NeighInfo {
  /** null while unresolved (INCOMPLETE/FAILED). */
  lladdr: string | null;
  /** NUD_* bits. */
  state: number;
  /** Their names as `ip neigh` prints them: REACHABLE, STALE, ... NONE. */
  states: string[];
}

/** struct virtio_net_hdr (<linux/virtio_net.h>), for PacketSocket.sendVnet. */
export interface VnetHeader {
  flags?: number;
  gsoType?: number;
  /** Bytes of headers (L2 + IP + L4) in front of each segment's payload. */
  hdrLen?: number;
  /** Payload bytes per segment. */
  gsoSize?: number;
  /** Where the checksummed region starts (the L4 header), from the frame start. */
  csumStart?: number;
  /** Where the checksum field is, from csumStart (TCP 16, UDP 6). */
  csumOffset?: number;
}

export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;

/**
 * The virtio_net_hdr for an IPv4 TCP/UDP frame (untagged or one 802.1Q tag)
 * whose L4 checksum field holds the folded pseudo-header sum: NEEDS_CSUM at
 * the L4 header; with `mss` > 0 and a TCP payload longer than it, also TCPv4
 * segmentation into `mss`-byte segments. undefined for any other frame.
 */
export function ipv4VnetHeader(frame: Uint8Array, mss = 0): VnetHeader | undefined {
  let l2 = 14;
  let type = (frame[12]! << 8) | frame[13]!;
  if (type === 0x8100 && frame.length >= 18) {
    l2 = 18;
    type = (frame[16]! << 8) | frame[17]!;
  }
  if (type !== 0x0800 || frame.length < l2 + 20) return undefined;
  const ihl = (frame[l2]! & 15) * 4;
  const proto = frame[l2 + 9];
  const l4 = l2 + ihl;
  if (proto === 6) {
    if (frame.length < l4 + 20) return undefined;
    const hdrLen = l4 + (frame[l4 + 12]! >> 4) * 4;
    const payload = frame.length - hdrLen;
    const gso = mss > 0 && payload > mss;
    return {
      flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: l4, csumOffset: 16, hdrLen,
      gsoType: gso ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_NONE, gsoSize: gso ? mss : 0,
    };
  }
  if (proto === 17) {
    if (frame.length < l4 + 8) return undefined;
    return { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: l4, csumOffset: 6, hdrLen: l4 + 8, gsoType: VIRTIO_NET_HDR_GSO_NONE, gsoSize: 0 };
  }
  return undefined;
}

/** A socket error delivered to onReadable: code is the errno name (ENETDOWN...). */
export interface PollError extends Error {
  code: string;
  errno: number;
  syscall: 'poll';
  /** True when the addon cleared the error and polling continues by itself. */
  resumed: boolean;
}

export interface IfaceInfo {
  ifindex: number;
  mac: string;
  mtu: number;
  up: boolean;
  running: boolean;
  flags: number;
}

interface NativePacketSocket {
  readonly buffer: ArrayBuffer;
  readonly fd: number;
  readonly ifname: string;
  readonly ifindex: number;
  readonly mac: string;
  readonly mtu: number;
  readonly rxBlockSize: number;
  readonly rxBlockCount: number;
  readonly rxSize: number;
  readonly txOffset: number;
  readonly txSize: number;
  readonly txBlockSize: number;
  readonly txFrameSize: number;
  readonly txFramesPerBlock: number;
  readonly txFrameCount: number;
  readonly txDataOffset: number;
  readonly vnetHdrLen: number;
  readonly rxVersion?: number;
  readonly rxFrameSize?: number;
  start(cb: (err?: Error) => void): void;
  stop(): void;
  kick(): number;
  setFilter(p: BpfProgram): void;
  attachBpf(progFd: number): void;
  sendVnet(frame: Uint8Array, vnet: VnetHeader): number;
  sendVnetAt(buffer: ArrayBuffer, off: number, len: number): number;
  detachFilter(): void;
  setFanout(f: FanoutSpec): void;
  fanoutInfo(): Required<FanoutSpec> | null;
  setFanoutData(p: BpfProgram): void;
  stats(): PacketStats;
  close(): void;
}


interface Addon {
  PacketSocket: new (ifname: string, opts: PacketSocketOptions) => NativePacketSocket;
  RawIpSocket: new (protocol: number, opts: RawIpOptions) => NativeRawSocket<RawIpHandler>;
  RawIp6Socket: new (protocol: number, opts: RawIp6Options) => NativeRawSocket<RawIp6Handler>;
  sendFrame(ifname: string, frame: Uint8Array): number;
  releaseSendSockets(): void;
  bpfCall(cmd: number, attr: Buffer, ptrs?: [number, Buffer][]): number;
  bpfClose(fd: number): void;
  ifaceInfo(ifname: string): IfaceInfo;
  routeGet(dst: string, opts?: { oif?: number; src?: string }): RouteInfo | null;
  neighGet(ifindex: number, ip: string): NeighInfo | null;
  neighResolve(ifindex: number, ip: string, opts?: { managed?: boolean }): void;
  routeDump(family: 4 | 6): { dst: string; type: string; dev?: string; gateway?: string; prefsrc?: string }[];
  neighDump(family: 4 | 6): { dst: string; dev: string; lladdr?: string; state: string[] }[];
  netnsOpen(path: string): number;
  netnsSet(fd: number): void;
  netnsClose(fd: number): void;
  onSignal(signo: number, cb: () => void): void;
  sigRtMin(): number;
  /** native/src/nfqueue.cc: an NFQUEUE socket (src/io/nfqueue.ts). */
  NfqSocket: new (opts: NfqSocketOptions) => NativeNfqSocket;
  /** Sends netlink messages on a fresh NETLINK_NETFILTER socket; [seq, errno] for each one that asked for an ACK (ETIMEDOUT: no answer). */
  netfilterTransact(messages: Uint8Array, timeoutMs?: number): [number, number][];
}

/** Where the built addon is: the first native/build/Release above this module (src/io or dist/src/io). */
export function addonPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'native', 'build', 'Release', ADDON_NAME);
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error(`${ADDON_NAME} not found above ${fileURLToPath(import.meta.url)}: run \`npm run build:native\``);
}

let addon: Addon | undefined;
export function loadAddon(): Addon {
  if (!addon) addon = createRequire(import.meta.url)(addonPath()) as Addon;
  return addon;
}

/**
 * An AF_PACKET socket on one interface with a TPACKET_V3 RX ring and a TX ring,
 * both in `buffer`. Typical batch (no allocation, one syscall):
 *
 *   sock.onReadable(() => {
 *     sock.rx.drain((off, caplen) => { ...rewrite in place...; sock.tx.copyFrom(off, caplen); });
 *     sock.tx.flush();
 *   });
 */
export class PacketSocket {
  readonly rx: RxRing | RxRingV2;
  /** The socket's TPACKET version (2 or 3): how its RX ring is walked and its TX slots laid out. */
  readonly version: 2 | 3;
  readonly tx: TxRing;
  readonly ifname: string;
  readonly ifindex: number;
  /** The interface's MAC as aa:bb:cc:dd:ee:ff, and as bytes. */
  readonly mac: string;
  readonly macBytes: Uint8Array;
  readonly mtu: number;
  readonly fd: number;
  /** Bytes of virtio_net_hdr before each RX frame and in each TX slot (0, or 10 with vnetHdr). */
  readonly vnetHdrLen: number;
  /** RX ring then TX ring, mapped once; length 0 after close(). */
  readonly buffer: ArrayBuffer;
  private closed = false;

  constructor(private readonly s: NativePacketSocket) {
    this.ifname = s.ifname;
    this.ifindex = s.ifindex;
    this.mac = s.mac;
    this.macBytes = parseMac(s.mac);
    this.mtu = s.mtu;
    this.fd = s.fd;
    this.buffer = s.buffer;
    this.vnetHdrLen = s.vnetHdrLen ?? 0;
    this.version = s.rxVersion === 2 ? 2 : 3;
    this.rx = this.version === 2
      ? new RxRingV2(s.buffer, s.rxBlockSize, s.rxBlockCount, s.rxFrameSize ?? 2048, 0)
      : new RxRing(s.buffer, s.rxBlockSize, s.rxBlockCount, 0);
    this.tx = new TxRing(s.buffer, {
      txOffset: s.txOffset, txFrameSize: s.txFrameSize, txFrameCount: s.txFrameCount,
      txFramesPerBlock: s.txFramesPerBlock, txBlockSize: s.txBlockSize, txDataOffset: s.txDataOffset,
      vnetHdrLen: this.vnetHdrLen, version: this.version,
    }, () => s.kick());
  }

  /**
   * Calls `cb` from the event loop whenever an RX block is ready (level-
   * triggered: it keeps firing while a ready block is not handed back, so
   * drain the ring in the callback). Replaces any previous callback.
   *
   * `err` is set when the socket reported an error instead: code ENETDOWN
   * when the link went down (frames flow again once it is up; nothing to do).
   * The addon has already cleared the error and resumed polling when
   * `err.resumed` is true; otherwise the poll is stopped and onReadable must
   * be called again to retry. Never pause on ENETDOWN: the RX would stay dead
   * after the link comes back.
   */
  onReadable(cb: (err?: PollError) => void): void {
    this.s.start(cb as (err?: Error) => void);
  }

  /**
   * Convenience: onReadable + drain every ready block through `handler` + one
   * TX kick per batch. Socket errors (see onReadable) go to `onError`.
   */
  onFrames(handler: RxHandler, onBatchEnd?: (frames: number) => void, onError?: (err: PollError) => void): void {
    this.s.start((err) => {
      if (err) {
        onError?.(err as PollError);
        return;
      }
      const n = this.rx.drain(handler);
      this.tx.flush();
      if (onBatchEnd) onBatchEnd(n);
    });
  }

  /** Stops the poll (the ring keeps filling; the kernel drops when it is full). */
  pause(): void {
    this.s.stop();
  }

  /** send(fd, NULL, 0, MSG_DONTWAIT): publish every SEND_REQUEST slot. Bytes sent, or -errno (transient). Prefer tx.flush(). */
  kick(): number {
    return this.tx.kick();
  }

  /**
   * Sends one frame with a virtio_net_hdr through a companion socket (one
   * syscall, outside the TX ring): with flags NEEDS_CSUM the kernel (or NIC)
   * completes the L4 checksum, whose field must hold the folded pseudo-header
   * sum (how TP_STATUS_CSUMNOTREADY frames arrive); with gsoType/gsoSize it
   * segments a super-frame (what a GSO/TSO sender on veth hands the tap)
   * into MTU-sized segments. See ipv4VnetHeader(). `frame` may be a view into
   * `buffer` (an RX frame rewritten in place). Bytes sent, or -errno.
   */
  sendVnet(frame: Uint8Array, vnet: VnetHeader): number {
    return this.s.sendVnet(frame, vnet);
  }

  /**
   * sendVnet for a frame already in memory after its virtio_net_hdr:
   * buffer[off, off + 10) is the header, the frame follows, len counts both.
   * `buffer` may be another socket's ring (an RX frame rewritten in place).
   * Allocates nothing; bytes sent or -errno, never throws on the frame.
   */
  sendVnetAt(buffer: ArrayBuffer, off: number, len: number): number {
    return this.s.sendVnetAt(buffer, off, len);
  }

  /** Attach (atomically replace) a classic-BPF program (see bpf.ts compileFilter). */
  setFilter(p: BpfProgram): void {
    this.s.setFilter(p);
  }

  /** Attach (atomically replace) an eBPF socket filter by its program fd (the fast path's, src/io/fastpath.ts). */
  attachBpf(progFd: number): void {
    this.s.attachBpf(progFd);
  }

  detachFilter(): void {
    this.s.detachFilter();
  }

  setFanout(group: number, mode = 0, flags = 0): void {
    this.s.setFanout({ group, mode, flags });
  }

  /** The fanout group this socket is in (getsockopt PACKET_FANOUT), or null. */
  fanoutInfo(): Required<FanoutSpec> | null {
    return this.s.fanoutInfo();
  }

  /** The group's PACKET_FANOUT_CBPF program (PACKET_FANOUT_DATA): returns the member index for each frame. */
  setFanoutData(p: BpfProgram): void {
    this.s.setFanoutData(p);
  }

  /** Cumulative PACKET_STATISTICS since open. */
  stats(): PacketStats {
    return this.s.stats();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stops polling, detaches `buffer` (views become empty), unmaps the rings and closes the fd. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.s.close();
  }
}

export function openPacket(ifname: string, opts: PacketSocketOptions = {}): PacketSocket {
  const A = loadAddon();
  return new PacketSocket(new A.PacketSocket(ifname, opts));
}

export interface RawIpOptions {
  /** Interface for multicast send and membership (IP_MULTICAST_IF, IP_ADD_MEMBERSHIP), and for bindToDevice. */
  ifname?: string;
  /** Groups to join on `ifname` (e.g. ['224.0.0.18'] for VRRP). */
  multicast?: string[];
  /** TTL for unicast and multicast sends (255 for VRRP). */
  ttl?: number;
  /** Ask for the TTL as ancillary data too (it is always in the delivered IP header). */
  recvTtl?: boolean;
  /** SO_BINDTODEVICE ifname: receive and send only there. */
  bindToDevice?: boolean;
  /** IP_MULTICAST_LOOP; default false (a router does not want its own adverts). */
  multicastLoop?: boolean;
}

export type RawIpHandler = (packet: Uint8Array, from: string, ifindex: number, ttl: number) => void;

export interface RawIp6Options {
  /** Interface for multicast send and membership, the scope of link-local destinations, and bindToDevice. */
  ifname?: string;
  /** Groups to join on `ifname` (ff02::12 for VRRP). */
  multicast?: string[];
  /** Hop limit for unicast and multicast sends (255 for VRRP). */
  hopLimit?: number;
  /** SO_BINDTODEVICE ifname: receive and send only there. */
  bindToDevice?: boolean;
  /** IPV6_MULTICAST_LOOP; default false (a router does not want its own adverts). */
  multicastLoop?: boolean;
  /** IPV6_TCLASS (keepalived: 0xc0). */
  trafficClass?: number;
}

/**
 * Unlike a raw IPv4 socket, a raw IPv6 socket delivers the payload only: the
 * source, destination and hop limit come alongside (IPV6_PKTINFO,
 * IPV6_HOPLIMIT), and so does the interface it arrived on. `payload` is a
 * fresh copy; hopLimit is -1 if the kernel gave none; dst is where it was sent.
 */
export type RawIp6Handler = (payload: Uint8Array, from: string, ifindex: number, hopLimit: number, dst: string) => void;

/** What the addon's RawIpSocket and RawIp6Socket both offer; H is the receive handler. */
interface NativeRawSocket<H> {
  readonly fd: number;
  readonly ifindex: number;
  send(dst: string, payload: Uint8Array, src?: string): number;
  start(cb: H): void;
  stop(): void;
  addMembership(group: string): void;
  dropMembership(group: string): void;
  close(): void;
  readonly errors: number;
}

/**
 * A raw IP socket for one protocol (native/src/raw_ip.cc): send an L4
 * payload (the kernel builds the IP header). IPv4 (openRawIp) receives whole
 * IP packets; IPv6 (openRawIp6) the payload with its addresses alongside.
 */
export class RawSocket<H> {
  readonly protocol: number;
  readonly fd: number;
  /** Interface index of opts.ifname, 0 when none was given. */
  readonly ifindex: number;
  private closed = false;

  constructor(private readonly s: NativeRawSocket<H>, protocol: number) {
    this.protocol = protocol;
    this.fd = s.fd;
    this.ifindex = s.ifindex;
  }

  /**
   * Sends `payload` as the IP payload to `dst` (IPv6 link-local and multicast
   * destinations are scoped to the socket's interface). `src` sets the source
   * address of this packet (IP_PKTINFO / IPV6_PKTINFO). Returns bytes sent, or
   * -errno for a transient error (ENOBUFS, ENETDOWN, ENETUNREACH, EHOSTUNREACH,
   * EAGAIN, and EADDRNOTAVAIL while an IPv6 source is tentative); other errors
   * throw with code/errno/syscall.
   */
  send(dst: string, payload: Uint8Array, opts: { src?: string } = {}): number {
    return opts.src === undefined ? this.s.send(dst, payload) : this.s.send(dst, payload, opts.src);
  }

  /** Receive (see RawIpHandler / RawIp6Handler). Replaces any previous handler. */
  onMessage(cb: H): void {
    this.s.start(cb);
  }

  addMembership(group: string): void {
    this.s.addMembership(group);
  }

  dropMembership(group: string): void {
    this.s.dropMembership(group);
  }

  /** Socket errors (e.g. a queued ICMP error) cleared so far; each would otherwise have stopped receiving. */
  get errors(): number {
    return this.s.errors;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.s.close();
  }
}

/** A raw IPv4 socket: `packet` is the whole IP packet (header included); ttl is -1 unless recvTtl. */
export type RawIpSocket = RawSocket<RawIpHandler>;
export type RawIp6Socket = RawSocket<RawIp6Handler>;

export function openRawIp(protocol: number, opts: RawIpOptions = {}): RawIpSocket {
  const A = loadAddon();
  return new RawSocket(new A.RawIpSocket(protocol, opts), protocol);
}

export function openRawIp6(protocol: number, opts: RawIp6Options = {}): RawIp6Socket {
  const A = loadAddon();
  return new RawSocket(new A.RawIp6Socket(protocol, opts), protocol);
}

/**
 * Sends one whole Ethernet frame on `ifname` (in the calling thread's current
 * network namespace). Bytes sent, or -errno (transient). Uses one cached,
 * never-receiving packet socket per namespace: closing a packet socket costs
 * an RCU grace period (~10 ms).
 */
export function sendFrame(ifname: string, frame: Uint8Array): number {
  return loadAddon().sendFrame(ifname, frame);
}

/** Closes sendFrame()'s cached sockets; each pins its namespace, so a lab calls this before deleting namespaces. */
export function releaseSendSockets(): void {
  loadAddon().releaseSendSockets();
}

/** ifindex, MAC, MTU and flags by ioctl. Throws (code ENODEV) for a missing interface. */
export function ifaceInfo(ifname: string): IfaceInfo {
  return loadAddon().ifaceInfo(ifname);
}

/**
 * keepalived's gratuitous ARP for `ip` from `ifname`'s MAC, `count` times
 * (default 1), back to back. Returns how many were sent.
 */
export function sendGratuitousArp(ifname: string, ip: string, count = 1): number {
  const info = ifaceInfo(ifname);
  const frame = buildGratuitousArp(parseMac(info.mac), ipToU32(ip));
  let sent = 0;
  for (let i = 0; i < count; i++) if (sendFrame(ifname, frame) > 0) sent++;
  return sent;
}

/**
 * Runs `fn` with the calling thread in network namespace `ns` (a name under
 * /run/netns, or a path), then switches back, also when `fn` throws. Sockets
 * opened inside stay in `ns`. Synchronous on purpose: an await inside would
 * let unrelated code run in the wrong namespace.
 */
export function withNetns<T>(ns: string, fn: () => T): T {
  const A = loadAddon();
  const path = ns.includes('/') ? ns : `/run/netns/${ns}`;
  const home = A.netnsOpen('/proc/thread-self/ns/net');
  try {
    const target = A.netnsOpen(path);
    try {
      A.netnsSet(target);
    } finally {
      A.netnsClose(target);
    }
    try {
      const r = fn();
      if (r instanceof Promise) throw new TypeError('withNetns: fn must be synchronous');
      return r;
    } finally {
      A.netnsSet(home);
    }
  } finally {
    A.netnsClose(home);
  }
}

/** The kernel's route to `dst` (rtnetlink, synchronous, microseconds); null when unreachable. */
export function routeGet(dst: string, opts: { oif?: number; src?: string } = {}): RouteInfo | null {
  return loadAddon().routeGet(dst, opts);
}

/** The neighbour entry for `ip` on `ifindex`, or null when there is none. */
export function neighGet(ifindex: number, ip: string): NeighInfo | null {
  return loadAddon().neighGet(ifindex, ip);
}

/**
 * Asks the kernel to resolve `ip` on `ifindex`: by default NTF_USE (create
 * the entry and ARP now, as a queued packet would); `managed` instead makes an
 * NTF_EXT_MANAGED entry the kernel keeps resolved (Linux >= 5.16), like
 * `ip neigh replace IP dev DEV managed`. The answer arrives later: poll neighGet.
 */
export function neighResolve(ifindex: number, ip: string, opts: { managed?: boolean } = {}): void {
  loadAddon().neighResolve(ifindex, ip, opts);
}

/**
 * The same questions as io/neigh.ts's KernelTables, answered over rtnetlink
 * instead of spawning `ip -j` (names in, names out).
 */
/**
 * The kernel's tables through rtnetlink in the addon (io/neigh.ts's
 * KernelTables): what the data path asks, answered in microseconds. The `ip`
 * implementation (ipCommandTables) forks a process per question, and a fork
 * from lvsd (rings and connection table mapped) held its event loop 5-10 ms
 * each time: every packet waiting then was a p99 outlier.
 */
export const netlinkTables: KernelTables = {
  async routeGet(addr: string): Promise<{ dev: string; gateway?: string; prefsrc?: string } | undefined> {
    const r = routeGet(addr);
    if (!r || !r.dev) return undefined;
    return { dev: r.dev, gateway: r.gateway, prefsrc: r.prefsrc };
  },
  async neighGet(addr: string, dev: string): Promise<{ lladdr?: string; state: string[] } | undefined> {
    const n = neighGet(ifaceInfo(dev).ifindex, addr);
    if (!n) return undefined;
    return { lladdr: n.lladdr ?? undefined, state: n.states };
  },
  async neighResolve(addr: string, dev: string): Promise<void> {
    neighResolve(ifaceInfo(dev).ifindex, addr, { managed: true });
  },
  async routeTable() { return routeDump(4); },
  async neighTable() { return neighDump(4); },
  async routeTable6() { return routeDump(6); },
  async neighTable6() { return neighDump(6); },
};

/** The main routing table of one family, unicast routes only (what `ip -j route show table main` lists as unicast). */
export function routeDump(family: 4 | 6): RouteEntry[] {
  return loadAddon().routeDump(family)
    .filter((r) => r.type === 'unicast')
    .map((r) => ({ dst: r.dst, dev: r.dev, gateway: r.gateway, prefsrc: r.prefsrc }));
}

/** The neighbour table of one family (as `ip -j neigh show`). */
export function neighDump(family: 4 | 6): NeighEntry[] {
  return loadAddon().neighDump(family).map((n) => ({ dst: n.dst, dev: n.dev, lladdr: n.lladdr, state: n.state }));
}

/**
 * Calls `cb` on the event loop whenever signal `signo` arrives: for the
 * signals Node cannot name (real-time ones). Does not keep the process alive.
 */
export function onSignal(signo: number, cb: () => void): void {
  loadAddon().onSignal(signo, cb);
}

/** The C library's SIGRTMIN (34 with glibc, whose first two are its own). */
export function sigRtMin(): number {
  return loadAddon().sigRtMin();
}

/** bpf(2): cmd, the attribute union, and where in it to write each buffer's address. */
export function bpfCall(cmd: number, attr: Buffer, ptrs?: [number, Buffer][]): number {
  return loadAddon().bpfCall(cmd, attr, ptrs);
}

/** Closes a bpf map, program or link fd (a link's last close detaches its program). */
export function bpfClose(fd: number): void {
  loadAddon().bpfClose(fd);
}
