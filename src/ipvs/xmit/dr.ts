// Direct routing (ip_vs_dr_xmit): the IP packet leaves as it came; only the
// link layer changes, which the io layer does from out.nextHop (the real
// server). Ethernet padding is trimmed: the output is the IP total length.
import { VERDICT_XMIT, type XmitOut } from '../verdict.js';

export function drXmit(out: XmitOut, buf: Uint8Array, l3: number, totLen: number, raddr: number): number {
  out.buf = buf;
  out.start = l3;
  out.len = totLen;
  out.nextHop = raddr;
  return VERDICT_XMIT;
}
