// The io ↔ engine contract for one frame (see engine.ts for the whole of it):
// what input() returns and where the packet to send is.

/** Bytes the caller keeps free before a frame: TUN writes its outer header there, the io layer the Ethernet header. */
export const HEADROOM = 64;

/** For a service or a tracked flow, and not to be delivered; counted under drop_<reason>. */
export const VERDICT_DROP = 0;
/** out describes the IPv4 packet to send. */
export const VERDICT_XMIT = 1;
/** Not the engine's business; counted under ignore_<reason>. */
export const VERDICT_IGNORE = 2;

export interface XmitOut {
  buf: Uint8Array;
  start: number;
  len: number;
  /** u32, host order. */
  nextHop: number;
}
