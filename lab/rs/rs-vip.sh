#!/bin/sh
# LVS-DR/TUN real server, step 2 of the notes: the hidden VIP on lo with a /32
# mask (a /24 on lo would swallow the whole subnet's traffic). An IPv6 VIP
# goes on lo as a /128, without duplicate address detection (nothing on lo
# to detect against); Linux answers neighbour solicitations only for
# addresses on the interface they arrive on, so an IPv6 VIP on lo stays
# hidden with no tuning (the arp_ignore of IPv6 is the default).
# Usage: rs-vip.sh VIP
set -eu
vip=$1
case "$vip" in
  *:*) ip -6 addr replace "$vip/128" dev lo nodad ;;
  *) ip addr replace "$vip/32" dev lo label lo:3 ;;
esac
