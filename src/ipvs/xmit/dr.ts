// Direct routing (ip_vs_dr_xmit): the IP packet leaves as it came; only the
// link layer changes, which the io layer does from out.nextHop (the real
// server). Ethernet padding is trimmed: the output is the IP total length.
import { VERDICT_XMIT, type XmitOut } from '../verdict.js';

/** The same for IPv6: the next hop is the real server, copied into the engine's `nh6`. */
export function drXmit6(out: XmitOut, buf: Uint8Array, l3: number, totLen: number, raddr: Uint8Array, nh6: Uint8Array): number {
  out.buf = buf;
  out.start = l3;
  out.len = totLen;
  nh6.set(raddr);
  out.nextHop6 = nh6;
  return VERDICT_XMIT;
}

export function drXmit(out: XmitOut, buf: Uint8Array, l3: number, totLen: number, raddr: number): number {
  out.buf = buf;
  out.start = l3;
  out.len = totLen;
  out.nextHop = raddr;
  return VERDICT_XMIT;
}
