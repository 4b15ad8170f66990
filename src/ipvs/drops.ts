// Why a frame was dropped or ignored. Every frame input() sees ends in
// exactly one of: xmit, one drop reason, one ignore reason, so
// frames = xmit + Σ drop_* + Σ ignore_* (the fuzz test checks this).

export const DROP_REASONS = [
  'truncated',          // shorter than its headers claim
  'bad_ip_version',
  'bad_ihl',
  'bad_total_length',
  'bad_ip_checksum',
  'fragment',           // IPVS reassembles first; lvsd does not
  'ip_options',
  'bad_saddr',          // zero, multicast, broadcast or loopback source
  'unknown_proto',      // for a VIP, but neither TCP, UDP nor ICMP
  'bad_tcp_doff',
  'bad_udp_length',
  'zero_port',
  'tcp_no_conn',        // not a SYN and no conn (IPVS would let the stack answer RST)
  'no_dest',            // scheduler found no usable dest and the ICMP port unreachable budget is spent
  'dest_unavailable',   // conn of a deleted dest (expire_nodest_conn=0: dropped, timer not renewed)
  'conn_table_full',    // defense: no embryonic entry could be evicted
  'icmp_bad_checksum',
  'icmp_truncated',
  'ttl_exceeded',       // NAT reply forwarded with TTL <= 1
  'tun_too_big',        // TUN: oversize without DF (the director does not fragment)
  'tun_no_route',       // TUN: no route (so no outer source) to the real server yet; re-resolved as routes appear
  'ipv6_ext_header',    // IPv6: a Routing header with segments left, Hop-by-Hop not first, too many extension headers
  'udp_zero_checksum',  // IPv6: UDP without a checksum (RFC 8200 8.1: receivers discard it)
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export const IGNORE_REASONS = [
  'non_ip',             // ARP, LLDP…: neither IPv4 nor IPv6, the host's business
  'vlan_stacked',       // more than one 802.1Q tag
  'not_service',        // well-formed, no service, no conn
  'malformed_foreign',  // malformed, and not addressed to a VIP nor from a NAT real server
  'icmp_no_conn',       // ICMP(v6) that is not an error about a tracked flow (ping of the VIP, neighbour discovery)
  'fwmark_unmarked',    // a packet socket's copy of a fwmark conn's packet: it is forwarded from the queue, with its mark
] as const;
export type IgnoreReason = (typeof IGNORE_REASONS)[number];

function indexOf<T extends string>(list: readonly T[]): Record<T, number> {
  const out = {} as Record<T, number>;
  list.forEach((r, i) => { out[r] = i; });
  return out;
}

/** Reason → index into the engine's counter arrays, for the hot path. */
export const D: Record<DropReason, number> = indexOf(DROP_REASONS);
export const I: Record<IgnoreReason, number> = indexOf(IGNORE_REASONS);
