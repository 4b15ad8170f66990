// IPVS's UDP tracking (ip_vs_proto_udp.c): one state, IP_VS_UDP_S_NORMAL,
// listed as "UDP", whose timeout every packet in either direction renews.
// UDP conns never become "active": set_tcp_state is the only place the
// kernel moves a conn out of IP_VS_CONN_F_INACTIVE, so they count in InActConn.

export const UDP_S_NORMAL = 0;
export const UDP_STATE_NAME = 'UDP';
export const UDP_DEFAULT_TIMEOUT = 300;
