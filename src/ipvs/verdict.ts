// The io ↔ engine contract for one frame (see engine.ts for the whole of it):
// what input() returns and where the packet to send is.

/** Bytes the caller keeps free before a frame: TUN writes its outer header there, the io layer the Ethernet header. */
export const HEADROOM = 64;

/** For a service or a tracked flow, and not to be delivered; counted under drop_<reason>. */
export const VERDICT_DROP = 0;
/** out describes the IP packet to send (IPv4 or IPv6: its version nibble says which). */
export const VERDICT_XMIT = 1;
/** Not the engine's business; counted under ignore_<reason>. */
export const VERDICT_IGNORE = 2;

export interface XmitOut {
  buf: Uint8Array;
  start: number;
  len: number;
  /** IPv4 packets: the next hop, u32, host order. */
  nextHop: number;
  /**
   * IPv6 packets: the next hop's 16 bytes (the engine's own array, valid
   * until the next input()). Set by the engine for every IPv6 verdict.
   */
  nextHop6?: Uint8Array;
}
