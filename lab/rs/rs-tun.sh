#!/bin/sh
# LVS-TUN real server: decapsulate IPIP (protocol 4) from the director.
# With the kernel's ipip module this is `tunl0`; kernels without it (this
# project's CI) use the userspace helper ipip-decap.py, which hands the inner
# packet to a TUN device. Either way rp_filter must not drop the inner packet
# (its source is the client, routed back through the LAN interface).
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
else
  exec python3 "$here/ipip-decap.py" tun0
fi
