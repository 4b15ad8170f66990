// Typed face of the addon's raw IPv6 socket (native/src/raw_ip.cc,
// RawIp6Socket), the IPv6 twin of io/native.ts's openRawIp. It sits here
// rather than in io/native.ts only because io/ was being changed by the
// IPv6 data-plane work at the same time; it belongs next to openRawIp.
//
// Unlike a raw IPv4 socket, a raw IPv6 socket delivers the payload only: the
// source, destination and hop limit come alongside (IPV6_PKTINFO,
// IPV6_HOPLIMIT), and so does the interface it arrived on.
import { loadAddon } from '../io/native.js';

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

/** `payload` is the IPv6 payload (no header), a fresh copy; hopLimit is -1 if the kernel gave none; dst is where it was sent. */
export type RawIp6Handler = (payload: Uint8Array, from: string, ifindex: number, hopLimit: number, dst: string) => void;

interface NativeRawIp6Socket {
  readonly fd: number;
  readonly ifindex: number;
  send(dst: string, payload: Uint8Array, src?: string): number;
  start(cb: RawIp6Handler): void;
  stop(): void;
  addMembership(group: string): void;
  dropMembership(group: string): void;
  close(): void;
  readonly errors: number;
}

export class RawIp6Socket {
  readonly protocol: number;
  readonly fd: number;
  readonly ifindex: number;
  private closed = false;

  constructor(private readonly s: NativeRawIp6Socket, protocol: number) {
    this.protocol = protocol;
    this.fd = s.fd;
    this.ifindex = s.ifindex;
  }

  /**
   * Sends `payload` to `dst` (link-local and multicast destinations are
   * scoped to the socket's interface). `src` sets this packet's source
   * (IPV6_PKTINFO). Bytes sent, or -errno for a transient error (also
   * EADDRNOTAVAIL while the source is tentative); others throw.
   */
  send(dst: string, payload: Uint8Array, opts: { src?: string } = {}): number {
    return opts.src === undefined ? this.s.send(dst, payload) : this.s.send(dst, payload, opts.src);
  }

  onMessage(cb: RawIp6Handler): void {
    this.s.start(cb);
  }

  addMembership(group: string): void {
    this.s.addMembership(group);
  }

  dropMembership(group: string): void {
    this.s.dropMembership(group);
  }

  get errors(): number {
    return this.s.errors;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.s.close();
  }
}

export function openRawIp6(protocol: number, opts: RawIp6Options = {}): RawIp6Socket {
  const A = loadAddon() as unknown as { RawIp6Socket?: new (protocol: number, opts: RawIp6Options) => NativeRawIp6Socket };
  if (!A.RawIp6Socket) throw new Error('the native addon has no RawIp6Socket: run `npm run build:native`');
  return new RawIp6Socket(new A.RawIp6Socket(protocol, opts), protocol);
}
