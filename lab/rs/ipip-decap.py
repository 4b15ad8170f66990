#!/usr/bin/env python3
"""Userspace IPIP decapsulation for kernels without the ipip module.

Receives protocol-4 packets on a raw socket, checks the outer header, and
writes the inner IPv4 packet into a TUN device, so the real server's own TCP
stack sees the client's packet to the VIP exactly as `tunl0` would deliver it.
Usage: ipip-decap.py [TUN_NAME]
"""
import fcntl, os, socket, struct, sys

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000

name = sys.argv[1] if len(sys.argv) > 1 else "tun0"
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
os.system(f"ip link set {name} up && echo 0 > /proc/sys/net/ipv4/conf/{name}/rp_filter")
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 4)
print(f"ipip-decap: {name} up", flush=True)
count = bad = 0
while True:
    pkt = raw.recv(65535)
    ihl = (pkt[0] & 0x0F) * 4
    if len(pkt) < ihl + 20 or pkt[9] != 4 or (pkt[ihl] >> 4) != 4:
        bad += 1
        continue
    os.write(tun, pkt[ihl:])
    count += 1
