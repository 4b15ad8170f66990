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
Usage: ipip-decap.py [TUN_NAME]
"""
import fcntl, os, select, socket, struct, sys

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
            os.write(tun, pkt[ihl:])
        else:
            if len(pkt) < 40 or (pkt[0] >> 4) != 6:
                bad += 1
                continue
            os.write(tun, pkt)
        count += 1
