#!/bin/sh
# LVS-DR/TUN real server, step 1 of the notes: never answer or announce ARP for
# the VIP that sits on lo. arp_ignore=1: answer only for addresses on the
# receiving interface; arp_announce=2: use the best local source address.
# Usage: rs-arp.sh IFACE   (run on the real server, as root)
set -eu
ifc=${1:-eth0}
for conf in "$ifc" all; do
  echo 1 > "/proc/sys/net/ipv4/conf/$conf/arp_ignore"
  echo 2 > "/proc/sys/net/ipv4/conf/$conf/arp_announce"
done
