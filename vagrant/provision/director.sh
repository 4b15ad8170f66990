#!/bin/sh
# A director of the notes' HA lab: lvsd (the forwarder) and lvs-keepalived
# (VRRP + health checks) from the synced checkout, with the notes' own
# keepalived.conf, its interface renamed to the VM's lab interface.
# Usage: director.sh STATE PRIORITY VIP IFACE RS1 RS2
set -eu
state=$1 prio=$2 vip=$3 ifc=$4 rs1=$5 rs2=$6
apt-get update -qq
apt-get install -y -qq nodejs npm >/dev/null
rm -rf /opt/lvsd && cp -a /vagrant-src /opt/lvsd
cd /opt/lvsd
bash scripts/setup.sh
mkdir -p /etc/lvs-keepalived
sed -e "s/state MASTER/state $state/" -e "s/priority 100/priority $prio/" \
    -e "s/dev eth0/dev $ifc/" -e "s/label  *eth0:3/label $ifc:3/" -e "s/interface eth0/interface $ifc/" \
    configs/seed-dr-ha-master.conf > /etc/lvs-keepalived/keepalived.conf
cat > /etc/systemd/system/lvsd.service <<EOC
[Unit]
Description=lvsd, the userspace IPVS forwarder
After=network-online.target
[Service]
ExecStart=/usr/bin/node /opt/lvsd/dist/bin/lvsd.js --interface $ifc
Restart=always
[Install]
WantedBy=multi-user.target
EOC
cat > /etc/systemd/system/lvs-keepalived.service <<EOC
[Unit]
Description=lvs-keepalived (VRRP + health checks for lvsd)
After=lvsd.service
Requires=lvsd.service
[Service]
ExecStart=/usr/bin/node /opt/lvsd/dist/bin/lvs-keepalived.js -n -l -f /etc/lvs-keepalived/keepalived.conf
ExecReload=/bin/kill -HUP \$MAINPID
Restart=always
[Install]
WantedBy=multi-user.target
EOC
ln -sf /opt/lvsd/dist/bin/lvsadm.js /usr/local/bin/lvsadm
chmod +x /opt/lvsd/dist/bin/*.js
systemctl daemon-reload
systemctl enable --now lvsd.service lvs-keepalived.service
