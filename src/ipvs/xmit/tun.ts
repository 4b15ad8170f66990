// IP-in-IP tunnelling (ip_vs_tunnel_xmit): an outer IPv4 header, protocol
// 4, from the director's tunnel source to the real server, written into the
// headroom just before the inner packet. As the kernel does, TOS and TTL
// are the inner packet's and DF is copied, so path MTU discovery works
// end to end; a DF packet that does not fit the tunnel gets ICMP
// frag-needed with MTU = tunnel MTU - 20 (__mtu_check_toobig_v4).

export const IPIP_HLEN = 20;

/**
 * Writes the outer header at l3 - 20 for the inner packet at
 * buf[l3, l3 + innerLen). `id` is used only without DF (Linux sends 0 with DF).
 */
export function writeIpipOuter(buf: Uint8Array, l3: number, innerLen: number, src: number, dst: number, id: number): number {
  const o = l3 - IPIP_HLEN;
  const tot = innerLen + IPIP_HLEN;
  const df = buf[l3 + 6]! & 0x40;
  const ident = df ? 0 : id & 0xffff;
  buf[o] = 0x45;
  buf[o + 1] = buf[l3 + 1]!;
  buf[o + 2] = tot >>> 8;
  buf[o + 3] = tot;
  buf[o + 4] = ident >>> 8;
  buf[o + 5] = ident;
  buf[o + 6] = df;
  buf[o + 7] = 0;
  buf[o + 8] = buf[l3 + 8]!;
  buf[o + 9] = 4;
  buf[o + 10] = 0;
  buf[o + 11] = 0;
  buf[o + 12] = src >>> 24; buf[o + 13] = src >>> 16; buf[o + 14] = src >>> 8; buf[o + 15] = src;
  buf[o + 16] = dst >>> 24; buf[o + 17] = dst >>> 16; buf[o + 18] = dst >>> 8; buf[o + 19] = dst;
  let sum = 0;
  for (let k = 0; k < IPIP_HLEN; k += 2) sum += (buf[o + k]! << 8) | buf[o + k + 1]!;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  buf[o + 10] = c >>> 8;
  buf[o + 11] = c;
  return o;
}
