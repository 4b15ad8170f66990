// Pieces every scheduler shares: the kernel's availability test, its
// connection-overhead estimate, its hash_32 and exact 64-bit comparisons.

import { DEST_F_OVERLOAD, type SchedDest, type SchedFlow } from './scheduler.js';

/**
 * Weight 0 is "quiesced" and OVERLOAD means the upper threshold was reached;
 * neither takes new connections. Presence in the dest list stands for the
 * kernel's IP_VS_DEST_F_AVAILABLE: the kernel clears that bit exactly when it
 * unlinks a dest from svc->destinations, so a listed dest is available.
 */
export function isUsable(d: SchedDest): boolean {
  return d.weight > 0 && (d.flags & DEST_F_OVERLOAD) === 0;
}

/** ip_vs_dest_conn_overhead(): an active conn costs 256 inactive ones. */
export function connOverhead(d: SchedDest): number {
  return d.activeConns * 256 + d.inactConns;
}

const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/**
 * a*b > c*d over non-negative integers, as the kernel's (__s64) casts compare
 * them. Doubles are exact below 2^53; past that BigInt keeps the result exact
 * instead of letting rounding flip a tie.
 */
export function productGreater(a: number, b: number, c: number, d: number): boolean {
  const x = a * b;
  const y = c * d;
  if (x <= MAX_EXACT && y <= MAX_EXACT) return x > y;
  return BigInt(a) * BigInt(b) > BigInt(c) * BigInt(d);
}

/** include/linux/hash.h: GOLDEN_RATIO_32. */
const GOLDEN_RATIO_32 = 0x61c88647;

/** The kernel's hash_32(val, bits): multiplicative hash, top `bits` bits. */
export function hash32(val: number, bits: number): number {
  return Math.imul(val, GOLDEN_RATIO_32) >>> (32 - bits);
}

export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** A dest's identity across updates: IPVS names a real server by addr:port. */
export function destKey(d: SchedDest): number | string {
  return d.key6 ?? d.addr * 65536 + d.port;
}

/** The key lblc/lblcr remember a flow's destination address by: the u32, or the IPv6 address's words as text. */
export function daddrKey(flow: SchedFlow): number | string {
  const w = flow.daddr6;
  if (flow.af === 6 && w !== undefined) return `${w[0]}:${w[1]}:${w[2]}:${w[3]}`;
  return flow.daddr >>> 0;
}

/** Protocols whose first header word holds ports (ip_vs_sh_get_port / ip_vs_mh_get_port). */
export function hasPorts(protocol: number): boolean {
  return protocol === 6 || protocol === 17 || protocol === 132;
}
