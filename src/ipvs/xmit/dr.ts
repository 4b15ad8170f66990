// Direct routing (ip_vs_dr_xmit): the IP packet leaves as it came; only the
// link layer changes, which the io layer does from out.nextHop (the real
// server). Ethernet padding is trimmed: the output is the IP total length.
import type { XmitOut } from '../engine.js';

export function xmitDr(out: XmitOut, buf: Uint8Array, l3: number, totLen: number, raddr: number): void {
  out.buf = buf;
  out.start = l3;
  out.len = totLen;
  out.nextHop = raddr;
}
