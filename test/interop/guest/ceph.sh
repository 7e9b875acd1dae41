# Scale-out on Ceph (sourced by scenarios.sh; busybox ash): two nvmetd gateways export one RBD image of
# a single-node cluster on the host (gateways.ts). The host builds one multipath device over both;
# while fio verifies through it, the owning gateway is SIGKILLed and the other one takes the image over
# (ANA optimized: it breaks the dead gateway's exclusive lock); then the first comes back and ownership
# moves back to it (planned: the owner gives the lock up first). Nothing acknowledged may be lost.

gw_ctrl() { # port: the live-or-not controller of the RBD subsystem through that port
  for d in /sys/class/nvme/nvme*; do
    [ "$(cat "$d/subsysnqn" 2>/dev/null)" = "$RBD_NQN" ] || continue
    grep -qE "trsvcid=$1(,|\$)" "$d/address" 2>/dev/null || continue
    echo "${d##*/}"
    return 0
  done
  return 1
}
gw_live() { _g=$(gw_ctrl "$1") && [ "$(ctrl_state "$_g")" = live ]; }
gw_connect() { # port
  echo "+ nvme connect -t tcp -a $TADDR -s $1 -n $RBD_NQN (ctrl-loss-tmo $CTRL_LOSS_TMO, reconnect-delay $RECONNECT_DELAY)"
  nvme connect -t tcp -a "$TADDR" -s "$1" -n "$RBD_NQN" -q "$HOSTNQN1" -I "$HOSTID1" \
    --ctrl-loss-tmo="$CTRL_LOSS_TMO" --reconnect-delay="$RECONNECT_DELAY" > /tmp/gw.conn 2>&1 ||
    die "nvme connect to gateway port $1 failed: $(tr '\n' ' ' < /tmp/gw.conn)"
  wait_for 30 gw_live "$1" || die "no live controller through gateway port $1"
}
gw_request() { # action args: dies with the host's answer when refused
  request "$*" > /tmp/gw.req 2>&1 || die "request $* failed: $(tail -n 1 /tmp/gw.req)"
  cat /tmp/gw.req
}
gw_path_ana() { # ctrl
  _p=$(path_of "$1" 1) || { echo none; return; }
  ana_of "$1" "$_p"
}
gw_ana_is() { [ "$(gw_path_ana "$1")" = "$2" ]; }

rbd_failover_body() {
  disconnect_all
  [ "$(cat /sys/module/nvme_core/parameters/multipath 2>/dev/null)" = Y ] || skip "native NVMe multipath is off"
  t_up=$(date +%s)
  gw_request gw-up
  gw_request gw-ana a optimized
  gw_request gw-ana b inaccessible
  echo "cluster and gateways up in $(( $(date +%s) - t_up ))s"
  gw_connect "$GW_A"
  gw_connect "$GW_B"
  ca=$(gw_ctrl "$GW_A"); cb=$(gw_ctrl "$GW_B")
  wait_for 20 ns_dev "$ca" 1 > /dev/null || die "gateway a's controller $ca shows no namespace 1"
  head=$(ns_dev "$ca" 1)
  [ "$(ns_dev "$cb" 1)" = "$head" ] || die "the two gateways give different block devices ($head, $(ns_dev "$cb" 1)): no multipath head (NGUID/UUID must match)"
  wait_for 10 gw_ana_is "$ca" optimized || die "gateway a's path is $(gw_path_ana "$ca"), expected optimized"
  wait_for 10 gw_ana_is "$cb" inaccessible || die "gateway b's path is $(gw_path_ana "$cb"), expected inaccessible"
  nvme list-subsys > /tmp/art/rbd-list-subsys.txt 2>&1; cat /tmp/art/rbd-list-subsys.txt
  make_pattern /tmp/rbd.p $MiB
  write_pattern "$head" /tmp/rbd.p $((200 * MiB)) 65536
  echo "+ fio on $head for ${RBD_FIO_SECS}s with verify across the death of gateway a"
  ( fio --name=rbdha --filename="$head" --ioengine=libaio --direct=1 --rw=randwrite --bs=4k --iodepth="$FIO_IODEPTH" \
      --offset=$((16 * MiB)) --size=16M --time_based --runtime="$RBD_FIO_SECS" --verify=crc32c --do_verify=1 \
      --verify_backlog=256 --verify_fatal=1 --verify_dump=0 --randrepeat=0 --output-format=normal > /tmp/fio.rbdha.out 2>&1
    echo $? > /tmp/rbdha.fio.rc ) < /dev/null &
  fpid=$!
  sleep 5
  [ -f /tmp/rbdha.fio.rc ] && { cat /tmp/fio.rbdha.out; die "fio ended before the failover"; }
  # Gateway a dies holding the image's exclusive lock; b is made the owner.
  gw_request gw-kill a
  t0=$(date +%s)
  gw_request gw-ana b optimized
  took=$(( $(date +%s) - t0 ))
  wait_for 15 gw_ana_is "$cb" optimized || die "gateway b's path is $(gw_path_ana "$cb") 15s after it was made optimized"
  echo "gateway b took the image over in ${took}s; locks: $(request gw-lock > /dev/null 2>&1; cat /tmp/ack.rest)"
  # Gateway a comes back (its controller reconnects), then ownership moves back to it, planned.
  sleep 3
  gw_request gw-start a
  wait_for 60 gw_live "$GW_A" || die "gateway a's controller did not reconnect within 60s of its restart (state $(ctrl_state "$ca"))"
  gw_request gw-ana a inaccessible
  gw_request gw-ana b inaccessible
  gw_request gw-ana a optimized
  wait_for 15 gw_ana_is "$ca" optimized || die "gateway a's path is $(gw_path_ana "$ca") after the move back"
  wait_for $((RBD_FIO_SECS + 90)) test -f /tmp/rbdha.fio.rc || { kill $fpid 2>/dev/null; die "fio did not end within $((RBD_FIO_SECS + 90))s"; }
  grep -E 'err=|IOPS=|verify|fio:|error' /tmp/fio.rbdha.out | head -n 20
  [ "$(cat /tmp/rbdha.fio.rc)" = 0 ] && grep -q 'err= 0' /tmp/fio.rbdha.out ||
    { tail -n 30 /tmp/fio.rbdha.out; die "fio across the gateway failover failed: $(grep -E 'err=|verify|fio:' /tmp/fio.rbdha.out | head -n 3 | tr '\n' ' ')"; }
  read_region "$head" $((200 * MiB)) $MiB 65536 /tmp/rbd.r
  [ "$(md5 /tmp/rbd.p)" = "$(md5 /tmp/rbd.r)" ] || die "the 1 MiB written through gateway a before its death reads back differently"
  verify_mib "$head" $((220 * MiB)) rbd2 || die "1 MiB through $head after the move back reads back differently"
  note "one head ($head) over gateways a and b; fio ${RBD_FIO_SECS}s verify passed while a was SIGKILLed and b took the image over (${took}s for the RPC) and a came back and took it back; data before the failover intact"
}
rbd_failover_cleanup() {
  for p in "$GW_A" "$GW_B"; do c=$(gw_ctrl "$p") && disconnect_ctrl "$c"; done
  return 0
}
scn_rbd_failover() {
  [ "$MODE" = reference ] && skip "the kernel target has no RBD backend"
  with_cleanup rbd_failover_body rbd_failover_cleanup
}
