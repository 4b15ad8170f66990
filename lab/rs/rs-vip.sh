#!/bin/sh
# LVS-DR/TUN real server, step 2 of the notes: the hidden VIP on lo with a /32
# mask (a /24 on lo would swallow the whole subnet's traffic).
# Usage: rs-vip.sh VIP
set -eu
vip=$1
ip addr replace "$vip/32" dev lo label lo:3
