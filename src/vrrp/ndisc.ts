// keepalived's vrrp_ndisc.c at run time: an IPv6 master announces each VIP
// with unsolicited neighbour advertisements (the frame is packet/ndisc.ts's),
// sent whole on a packet socket as keepalived sends them, as many times as
// garp_master_repeat / garp_master_refresh_repeat say (keepalived uses the
// gratuitous-ARP keywords for both families).
//
// The R (router) flag says whether this node forwards IPv6 on that
// interface; keepalived reads net.ipv6.conf.IF.forwarding again when its
// last look is more than 5 s old, and so do we. An interface that does no
// neighbour discovery (IFF_NOARP) gets none, as in keepalived.
import { readFileSync } from 'node:fs';
import { ifaceInfo, sendFrame } from '../io/native.js';
import { buildUnsolicitedNa } from '../packet/ndisc.js';
import { parseMac } from '../packet/addr.js';

const IFF_NOARP = 0x80;
const ROUTER_RECHECK_MS = 5000;

const routerCache = new Map<string, { router: boolean; at: number }>();

/** keepalived's set_ipv6_forwarding: does `ifname` forward IPv6 (so its NAs carry the R flag)? */
export function ipv6Forwarding(ifname: string, now = Date.now(), read: (path: string) => string = (p) => readFileSync(p, 'utf8')): boolean {
  const c = routerCache.get(ifname);
  if (c && now - c.at < ROUTER_RECHECK_MS) return c.router;
  let router = false;
  try { router = read(`/proc/sys/net/ipv6/conf/${ifname}/forwarding`).trim() !== '0'; } catch { /* no IPv6 on it: not a router */ }
  routerCache.set(ifname, { router, at: now });
  return router;
}

/** Sends `count` unsolicited NAs for `addr` from `ifname`'s MAC; how many went out (0 on a NOARP interface). */
export function sendUnsolicitedNa(ifname: string, addr: string, count = 1): number {
  const info = ifaceInfo(ifname);
  if (info.flags & IFF_NOARP) return 0;
  const frame = buildUnsolicitedNa({ mac: parseMac(info.mac), target: addr, router: ipv6Forwarding(ifname) });
  let sent = 0;
  for (let i = 0; i < count; i++) if (sendFrame(ifname, frame) > 0) sent++;
  return sent;
}
