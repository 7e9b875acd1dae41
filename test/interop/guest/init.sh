#!/bin/sh
# /init of the interop guest (busybox sh as PID 1). Mounts the basics, loads the modules listed by the
# image builder, configures the emulated NIC and runs the scenarios. Every line meant for the runner on
# the host starts with "INTEROP "; kernel messages are kept off the console and sent as an artifact.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib:/usr/lib
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t tmpfs -o size=1200m tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
echo 1 > /proc/sys/kernel/printk
stty -echo 2>/dev/null

. /interop/env.sh
echo "INTEROP BOOTED kernel=$(uname -r) mode=$MODE"

while read -r m; do
  case "$m" in
    */null_blk.ko|*/brd.ko|*/loop.ko) [ "$MODE" = reference ] || continue ;;
  esac
  case "$m" in
    */null_blk.ko) insmod "$m" nr_devices=0 ;;
    */brd.ko) insmod "$m" rd_nr=0 ;;
    *) insmod "$m" ;;
  esac 2>/tmp/insmod.err || echo "INTEROP INFO insmod $m: $(cat /tmp/insmod.err)"
done < /etc/interop/modules.load
mount -t configfs configfs /sys/kernel/config 2>/dev/null

ip link set lo up
for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /sys/class/net/eth0 ] && break; sleep 1; done
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
# No default route on purpose: the guest can reach the slirp host alias 10.0.2.2 and nothing else.

mkdir -p /etc/nvme
echo "$HOSTNQN1" > /etc/nvme/hostnqn
echo "$HOSTID1" > /etc/nvme/hostid

sh /interop/scenarios.sh
echo "INTEROP INFO scenarios finished with status $?"
sync
echo "INTEROP DONE"
sleep 1
poweroff -f
sleep 5
reboot -f
