#!/bin/sh
# A real server of the notes' LVS-DR lab: ARP tuning, the hidden VIP on lo and
# a web server that names itself — the same scripts the namespace lab runs.
# Usage: rs.sh NAME VIP IFACE
set -eu
name=$1 vip=$2 ifc=$3
src=/vagrant-src/lab/rs
apt-get update -qq
apt-get install -y -qq nodejs >/dev/null
sh "$src/rs-arp.sh" "$ifc"
sh "$src/rs-vip.sh" "$vip"
# Persist the ARP tuning across reboots.
cat > /etc/sysctl.d/90-lvs-rs.conf <<EOC
net.ipv4.conf.all.arp_ignore = 1
net.ipv4.conf.all.arp_announce = 2
net.ipv4.conf.$ifc.arp_ignore = 1
net.ipv4.conf.$ifc.arp_announce = 2
EOC
cat > /etc/systemd/system/lvs-rs-httpd.service <<EOC
[Unit]
Description=lab real server HTTP ($name)
After=network-online.target
[Service]
ExecStartPre=/bin/sh $src/rs-vip.sh $vip
ExecStart=/usr/bin/node $src/httpd.mjs $name --port 80 --udp 5353
Restart=always
[Install]
WantedBy=multi-user.target
EOC
systemctl daemon-reload
systemctl enable --now lvs-rs-httpd.service
