#!/usr/bin/env python3
"""Userspace tunnel decapsulation for kernels without the ipip/ip6_tunnel modules.

IPIP (IPv4 protocol 4): a raw AF_INET socket gets the whole packet, outer
header included; the inner IPv4 packet follows the outer header.
IPv6 in IPv6 (next header 41, what IPVS sends to IPv6 real servers): a raw
AF_INET6 socket gets what follows the outer IPv6 header (and its extension
headers), i.e. the inner IPv6 packet.
Either inner packet is written into a TUN device (no packet info: the kernel
tells the family from the version nibble), so the real server's own TCP stack
sees the client's packet to the VIP exactly as tunl0 / ip6tnl0 would deliver it.
The kernel sends no ICMP "protocol unreachable" while a raw socket takes them.

A packet a local sender left to checksum offload (CHECKSUM_PARTIAL: its TCP
or UDP checksum field holds only the pseudo-header's sum) keeps that state
when the director's kernel encapsulates it (lvsd's fast path) and it crosses
a veth: the real server's ipip would trust it, as a NIC would have filled it
in on a wire. A raw socket hands over only the bytes, so such a checksum is
completed here; any other wrong checksum is passed on as it is, for the
real server's stack to refuse and count. (lvsd's own path sends complete
checksums.)
Usage: ipip-decap.py [TUN_NAME]
"""
import array, fcntl, os, select, socket, struct, sys

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000

name = sys.argv[1] if len(sys.argv) > 1 else "tun0"
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
os.system(f"ip link set {name} up && echo 0 > /proc/sys/net/ipv4/conf/{name}/rp_filter")
raw4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
try:
    raw6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 41)
except OSError:
    raw6 = None  # no IPv6 on this host: IPIP only
socks = [raw4] + ([raw6] if raw6 else [])
print(f"ipip-decap: {name} up ({'ipip, ip6ip6' if raw6 else 'ipip'})", flush=True)
def fold(s):
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def wsum(b):
    """One's complement sum of b's 16-bit big-endian words."""
    if len(b) % 2:
        b = b + b"\0"
    a = array.array("H", b)
    if sys.byteorder == "little":
        a.byteswap()
    return fold(sum(a))


def complete_partial(p):
    """The inner IPv4 packet p, its L4 checksum completed if it holds only the pseudo-header's sum."""
    ihl = (p[0] & 0x0F) * 4
    proto = p[9]
    if proto not in (6, 17) or struct.unpack_from("!H", p, 6)[0] & 0x3FFF or len(p) < ihl + 8:
        return p
    tot = min(struct.unpack_from("!H", p, 2)[0], len(p))
    l4 = p[ihl:tot]
    at = 16 if proto == 6 else 6
    if len(l4) < at + 2:
        return p
    field = struct.unpack_from("!H", l4, at)[0]
    if proto == 17 and field == 0:
        return p
    pseudo = wsum(p[12:20] + struct.pack("!HH", proto, len(l4)))
    if fold(pseudo + wsum(l4)) == 0xFFFF or field != pseudo:
        return p  # complete (right or wrong): as it is
    l4 = bytearray(l4)
    l4[at:at + 2] = b"\0\0"
    c = 0xFFFF - fold(pseudo + wsum(bytes(l4)))
    if proto == 17 and c == 0:
        c = 0xFFFF
    struct.pack_into("!H", l4, at, c)
    return p[:ihl] + bytes(l4) + p[tot:]


count = bad = 0
while True:
    ready, _, _ = select.select(socks, [], [])
    for s in ready:
        pkt = s.recv(65535)
        if s is raw4:
            ihl = (pkt[0] & 0x0F) * 4
            if len(pkt) < ihl + 20 or pkt[9] != 4 or (pkt[ihl] >> 4) != 4:
                bad += 1
                continue
            os.write(tun, complete_partial(pkt[ihl:]))
        else:
            if len(pkt) < 40 or (pkt[0] >> 4) != 6:
                bad += 1
                continue
            os.write(tun, pkt)
        count += 1
