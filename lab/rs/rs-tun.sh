#!/bin/sh
# LVS-TUN real server: decapsulate IPIP (protocol 4) and, for IPv6 services,
# IPv6 in IPv6 (next header 41) from the director. With the kernel's ipip and
# ip6_tunnel modules these are `tunl0` and `ip6tnl0`; kernels without them
# (this project's CI) use the userspace helper ipip-decap.py, which hands the
# inner packets to a TUN device. Either way rp_filter must not drop the inner
# IPv4 packet (its source is the client, routed back through the LAN interface).
# Usage: rs-tun.sh VIP [userspace]
set -eu
vip=$1
mode=${2:-auto}
here=$(dirname "$0")
for c in all default; do echo 0 > "/proc/sys/net/ipv4/conf/$c/rp_filter"; done
if [ "$mode" != userspace ] && modprobe ipip 2>/dev/null && ip link show tunl0 >/dev/null 2>&1; then
  ip addr replace "$vip/32" dev tunl0
  ip link set tunl0 up
  echo 0 > /proc/sys/net/ipv4/conf/tunl0/rp_filter
  echo "kernel ipip: tunl0 up"
  if modprobe ip6_tunnel 2>/dev/null && ip link show ip6tnl0 >/dev/null 2>&1; then
    ip link set ip6tnl0 up
    echo "kernel ip6ip6: ip6tnl0 up"
  fi
else
  exec python3 "$here/ipip-decap.py" tun0
fi
