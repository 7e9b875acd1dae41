#!/bin/sh
# The interop scenarios, run once per boot by /init. The Linux host (nvme-tcp, nvme-cli, fio) talks to
# the target at $TADDR:$TPORT: nvmetd on the host machine (through QEMU user networking, 10.0.2.2) or,
# in reference mode, the kernel's nvmet-tcp inside this guest (127.0.0.1).
. /interop/env.sh
. /interop/lib.sh
. /interop/live.sh
. /interop/ha.sh
. /interop/auth.sh
. /interop/ceph.sh
. /interop/tls.sh
[ "$MODE" = reference ] && . /interop/reference-target.sh
exec 3<&0 4>&1
mkdir -p /tmp/art

MAIN_OPTS="--keep-alive-tmo=$KATO --ctrl-loss-tmo=$CTRL_LOSS_TMO --reconnect-delay=$RECONNECT_DELAY"
N1="${NS1_KIND}${NS1_BS}"
N2="${NS2_KIND}${NS2_BS}"

main_ctrl() { find_ctrl "$HOSTNQN1"; }
need_main() {
  CTRL=$(main_ctrl) && [ "$(ctrl_state "$CTRL")" = live ] && return 0
  # shellcheck disable=SC2086
  must_connect "$HOSTNQN1" "$HOSTID1" $MAIN_OPTS
}
dev1() { ns_dev "$CTRL" "$NS1_NSID"; }
dev2() { ns_dev "$CTRL" "$NS2_NSID"; }
MiB=1048576

# --- scenarios -------------------------------------------------------------------------------------
scn_reference_target() {
  ref_start || die "configfs setup of the kernel target failed"
  ref_dump_config > /tmp/art/nvmet-configfs.txt
  i=0
  while ! nc -z "$TADDR" "$TPORT" 2>/dev/null && [ $i -lt 10 ]; do sleep 1; i=$((i + 1)); done
  note "nvmet-tcp listening on $TADDR:$TPORT"
}

scn_discover() {
  echo "+ nvme discover -t tcp -a $TADDR -s $TPORT -q $HOSTNQN1"
  nvme discover -t tcp -a "$TADDR" -s "$TPORT" -q "$HOSTNQN1" -I "$HOSTID1" -o json > /tmp/art/discover.json 2> /tmp/discover.err ||
    die "nvme discover failed: $(tr '\n' ' ' < /tmp/discover.err)"
  nvme discover -t tcp -a "$TADDR" -s "$TPORT" -q "$HOSTNQN1" -I "$HOSTID1" > /tmp/art/discover.txt 2>&1
  cat /tmp/art/discover.txt
  grep -q "\"subnqn\" *: *\"$SUBNQN\"" /tmp/art/discover.json || die "the discovery log does not list $SUBNQN"
  grep -q "\"traddr\" *: *\"$TADDR\"" /tmp/art/discover.json || die "no discovery log entry has traddr $TADDR"
  if grep "\"traddr\"" /tmp/art/discover.json | grep -v "\"$TADDR\"" | grep -q .; then
    die "a discovery log entry points elsewhere than $TADDR: $(grep '"traddr"' /tmp/art/discover.json | tr -d ' \n')"
  fi
  note "$(grep -c '"subnqn"' /tmp/art/discover.json) record(s), traddr $TADDR"
}

# nvme connect-all: connect to what the discovery log advertises (so its addresses must be usable).
scn_connect_all() {
  disconnect_all
  echo "+ nvme connect-all -t tcp -a $TADDR -s $TPORT -q $HOSTNQN1"
  nvme connect-all -t tcp -a "$TADDR" -s "$TPORT" -q "$HOSTNQN1" -I "$HOSTID1" > /tmp/ca.out 2>&1
  rc=$?
  cat /tmp/ca.out
  i=0
  while [ $i -lt 20 ]; do
    CTRL=$(find_ctrl "$HOSTNQN1") && [ "$(ctrl_state "$CTRL")" = live ] && break
    sleep 1; i=$((i + 1))
  done
  [ -n "$CTRL" ] || die "nvme connect-all (exit $rc) created no controller for $SUBNQN: $(tr '\n' ' ' < /tmp/ca.out)"
  addr=$(cat /sys/class/nvme/$CTRL/address)
  echo "$CTRL address: $addr"
  disconnect_all
  note "$addr"
}

# Connect (with digest options), move 1 MiB each way on both namespaces, disconnect.
connect_io() {
  # shellcheck disable=SC2068
  must_connect "$HOSTNQN1" "$HOSTID1" $@
  for nsid in "$NS1_NSID" "$NS2_NSID"; do
    dev=$(ns_dev "$CTRL" "$nsid") || die "no block device for namespace $nsid"
    make_pattern /tmp/p $MiB
    write_pattern "$dev" /tmp/p $((8 * MiB)) 65536 || die "write to $dev failed"
    read_region "$dev" $((8 * MiB)) $MiB 65536 /tmp/r || die "read from $dev failed"
    [ "$(md5 /tmp/p)" = "$(md5 /tmp/r)" ] || die "data read back from $dev (nsid $nsid) differs from what was written"
  done
  disconnect_ctrl "$CTRL" || die "nvme disconnect left $CTRL behind"
}
scn_connect_plain() { connect_io; }
scn_connect_hdgst() { connect_io -g; }
scn_connect_ddgst() { connect_io -G; }
scn_connect_both() { connect_io -g -G; }

scn_collect_identify() {
  need_main
  nvme list -o json > /tmp/art/nvme-list.json 2>&1 || die "nvme list failed"
  nvme list > /tmp/art/nvme-list.txt 2>&1
  nvme list-subsys > /tmp/art/nvme-list-subsys.txt 2>&1
  nvme id-ctrl "/dev/$CTRL" -o json > /tmp/art/id-ctrl.json 2>&1 || die "nvme id-ctrl failed: $(head -c 300 /tmp/art/id-ctrl.json)"
  nvme id-ctrl "/dev/$CTRL" > /tmp/art/id-ctrl.txt 2>&1
  nvme id-ctrl "/dev/$CTRL" -b > /tmp/art/id-ctrl.bin 2>/dev/null
  for nsid in "$NS1_NSID" "$NS2_NSID"; do
    nvme id-ns "/dev/$CTRL" -n "$nsid" -o json > /tmp/art/id-ns-$nsid.json 2>&1 || die "nvme id-ns -n $nsid failed: $(head -c 300 /tmp/art/id-ns-$nsid.json)"
    nvme id-ns "/dev/$CTRL" -n "$nsid" > /tmp/art/id-ns-$nsid.txt 2>&1
    nvme id-ns "/dev/$CTRL" -n "$nsid" -b > /tmp/art/id-ns-$nsid.bin 2>/dev/null
    nvme ns-descs "/dev/$CTRL" -n "$nsid" -o json > /tmp/art/ns-descs-$nsid.json 2>&1 || die "nvme ns-descs -n $nsid failed: $(head -c 300 /tmp/art/ns-descs-$nsid.json)"
    nvme ns-descs "/dev/$CTRL" -n "$nsid" > /tmp/art/ns-descs-$nsid.txt 2>&1
  done
  for d in "$(dev1)" "$(dev2)"; do
    b=${d#/dev/}
    echo "$b nsid=$(cat /sys/block/$b/nsid 2>/dev/null) size512=$(cat /sys/block/$b/size) lbs=$(cat /sys/block/$b/queue/logical_block_size) discard_max=$(cat /sys/block/$b/queue/discard_max_bytes) wzeroes_max=$(cat /sys/block/$b/queue/write_zeroes_max_bytes) uuid=$(cat /sys/block/$b/uuid 2>/dev/null) nguid=$(cat /sys/block/$b/nguid 2>/dev/null)"
  done > /tmp/art/block-sysfs.txt
  cat /tmp/art/block-sysfs.txt
  note "collected for the host-side checks"
}

fio_on() { # nsid rw bs offset
  need_main
  dev=$(ns_dev "$CTRL" "$1") || die "no block device for namespace $1"
  run_fio "ns$1-$2-$3" "$dev" "$2" "$3" "$4" "$FIO_SIZE" || die "fio $2 bs=$3 on $dev failed: $(grep -E 'err=|verify|fio:' /tmp/fio.ns$1-$2-$3.out | head -n 3 | tr '\n' ' ')"
  note "$(grep -oE '(read|write): IOPS=[^,]*, BW=[^ ]*' /tmp/fio.ns$1-$2-$3.out | tr '\n' ' ')"
}
scn_fio_ns1_rand() { fio_on "$NS1_NSID" randwrite 4k 0; }
scn_fio_ns1_seq() { fio_on "$NS1_NSID" write 128k "$FIO_SIZE"; }
scn_fio_ns2_rand() { fio_on "$NS2_NSID" randwrite 4k 0; }
scn_fio_ns2_seq() { fio_on "$NS2_NSID" write 128k "$FIO_SIZE"; }

# fio over a connection with header and data digests: CRC32C on every PDU under queue depth.
scn_fio_digests() {
  disconnect_all
  must_connect "$HOSTNQN1" "$HOSTID1" -g -G $MAIN_OPTS
  d1=$(dev1); d2=$(dev2)
  run_fio dg-rand "$d1" randwrite 4k $((160 * MiB)) 16M || die "fio 4k random with digests on $d1 failed: $(grep -E 'err=|verify|fio:' /tmp/fio.dg-rand.out | head -n 3 | tr '\n' ' ')"
  run_fio dg-seq "$d2" write 128k $((160 * MiB)) 32M || die "fio 128k sequential with digests on $d2 failed: $(grep -E 'err=|verify|fio:' /tmp/fio.dg-seq.out | head -n 3 | tr '\n' ' ')"
  disconnect_all
  note "16 MiB 4k random on nsid $NS1_NSID, 32 MiB 128k sequential on nsid $NS2_NSID, both verified"
}

scn_flush() {
  need_main
  for nsid in "$NS1_NSID" "$NS2_NSID"; do
    d=$(ns_dev "$CTRL" "$nsid")
    echo "+ nvme flush $d"
    nvme flush "$d" > /tmp/flush.out 2>&1 || die "nvme flush $d (nsid $nsid) failed: $(tr '\n' ' ' < /tmp/flush.out)"
    cat /tmp/flush.out
  done
}

scn_blkdiscard() {
  need_main
  for nsid in "$NS1_NSID" "$NS2_NSID"; do
    d=$(ns_dev "$CTRL" "$nsid"); b=${d#/dev/}
    max=$(cat /sys/block/$b/queue/discard_max_bytes)
    [ "$max" -gt 0 ] || die "$d (nsid $nsid): the host sees no discard support (queue/discard_max_bytes=0; ONCS DSM bit not set?)"
    echo "+ blkdiscard -o $((128 * MiB)) -l $MiB $d"
    make_pattern /tmp/bd.p $MiB
    write_pattern "$d" /tmp/bd.p $((128 * MiB)) 65536
    blkdiscard -o $((128 * MiB)) -l $MiB "$d" > /tmp/bd.out 2>&1 || die "blkdiscard $d failed: $(tr '\n' ' ' < /tmp/bd.out)"
    dlfeat=$(nvme id-ns "/dev/$CTRL" -n "$nsid" -o json | sed -n 's/.*"dlfeat" *: *\([0-9]*\).*/\1/p')
    echo "nsid $nsid dlfeat=${dlfeat:-?}"
    if [ -n "$dlfeat" ] && [ $((dlfeat & 7)) -eq 1 ]; then
      # DLFEAT says deallocated blocks read as zeros: hold the target to it.
      read_region "$d" $((128 * MiB)) $MiB 65536 /tmp/bd.r
      dd if=/dev/zero of=/tmp/bd.z bs=65536 count=16 2>/dev/null
      cmp /tmp/bd.z /tmp/bd.r > /tmp/bd.cmp 2>&1 || die "$d (nsid $nsid): DLFEAT=$dlfeat promises zeros after deallocate, but the discarded 1 MiB reads back non-zero: $(cat /tmp/bd.cmp)"
      zeros="$zeros $nsid"
    fi
  done
  note "${zeros:+deallocated blocks read as zeros on nsid$zeros (DLFEAT)}"
}

scn_write_zeroes() {
  need_main
  for nsid in "$NS1_NSID" "$NS2_NSID"; do
    d=$(ns_dev "$CTRL" "$nsid"); b=${d#/dev/}
    bs=$(cat /sys/block/$b/queue/logical_block_size)
    off=$((130 * MiB)); lba=$((off / bs))
    make_pattern /tmp/wz.p $((16 * bs))
    write_pattern "$d" /tmp/wz.p "$off" "$bs"
    echo "+ nvme write-zeroes $d -s $((lba + 4)) -c 7"
    if ! nvme write-zeroes "$d" -s $((lba + 4)) -c 7 > /tmp/wz.out 2>&1; then
      if [ "$MODE" = reference ] && [ "$nsid" = "$NS2_NSID" ]; then
        # The kernel's file backend zeroes with fallocate(FALLOC_FL_ZERO_RANGE), which tmpfs lacks.
        echo "kernel file backend: $(tr '\n' ' ' < /tmp/wz.out)" > /tmp/wz.skip
        continue
      fi
      die "nvme write-zeroes on $d failed: $(tr '\n' ' ' < /tmp/wz.out)"
    fi
    cat /tmp/wz.out
    read_region "$d" "$off" $((16 * bs)) "$bs" /tmp/wz.r
    dd if=/tmp/wz.p of=/tmp/wz.x bs="$bs" count=4 2>/dev/null
    dd if=/dev/zero bs="$bs" count=8 2>/dev/null >> /tmp/wz.x
    dd if=/tmp/wz.p bs="$bs" skip=12 count=4 2>/dev/null >> /tmp/wz.x
    if ! cmp /tmp/wz.x /tmp/wz.r > /tmp/wz.cmp 2>&1; then
      hexdump -C /tmp/wz.r | head -n 20
      die "$d (nsid $nsid, ${bs}-byte blocks): after write-zeroes of LBAs $((lba + 4))..$((lba + 11)) the read-back differs from zeros/neighbours: $(cat /tmp/wz.cmp)"
    fi
  done
  [ -f /tmp/wz.skip ] && skip "namespace $NS1_NSID passed; namespace $NS2_NSID (file in tmpfs) is refused by the kernel target: $(cat /tmp/wz.skip)"
  note "8 blocks zeroed on each namespace, neighbours intact"
}

compare_on() { # nsid expect(match|mismatch)
  d=$(ns_dev "$CTRL" "$1"); b=${d#/dev/}
  bs=$(cat /sys/block/$b/queue/logical_block_size)
  off=$((132 * MiB)); lba=$((off / bs))
  make_pattern /tmp/cmp.p $((2 * bs))
  dd if=/tmp/cmp.p of=/tmp/cmp.p1 bs="$bs" count=1 2>/dev/null
  write_pattern "$d" /tmp/cmp.p1 "$off" "$bs"
  cp /tmp/cmp.p1 /tmp/cmp.q
  if [ "$2" = mismatch ]; then
    # change one byte in the middle of the block
    dd if=/tmp/cmp.p bs=1 skip=$((bs + 7)) count=1 2>/dev/null > /tmp/cmp.byte
    [ "$(md5 /tmp/cmp.byte)" = "$(dd if=/tmp/cmp.p1 bs=1 skip=100 count=1 2>/dev/null | md5sum | cut -d' ' -f1)" ] && printf 'Z' > /tmp/cmp.byte
    dd if=/tmp/cmp.byte of=/tmp/cmp.q bs=1 seek=100 conv=notrunc 2>/dev/null
  fi
  echo "+ nvme compare $d -s $lba -c 0 -z $bs -d <${2} data>"
  nvme compare "$d" -s "$lba" -c 0 -z "$bs" -d /tmp/cmp.q > /tmp/cmp.out 2>&1
  rc=$?
  cat /tmp/cmp.out
  if grep -qiE 'INVALID_OPCODE|Invalid Command Opcode|opcode' /tmp/cmp.out; then
    [ "$MODE" = reference ] && skip "the kernel target does not implement Compare (ONCS bit 0 clear): $(tr '\n' ' ' < /tmp/cmp.out)"
    die "Compare rejected as an invalid opcode: $(tr '\n' ' ' < /tmp/cmp.out)"
  fi
  if [ "$2" = match ]; then
    [ $rc -eq 0 ] || die "nvme compare of identical data failed on $d (nsid $1): exit $rc: $(tr '\n' ' ' < /tmp/cmp.out)"
  else
    [ $rc -ne 0 ] || die "nvme compare of different data succeeded on $d (nsid $1)"
    grep -qi 'compare' /tmp/cmp.out || die "nvme compare of different data failed, but not with a Compare Failure status: $(tr '\n' ' ' < /tmp/cmp.out)"
  fi
}
scn_compare_match() { need_main; compare_on "$NS1_NSID" match; compare_on "$NS2_NSID" match; }
scn_compare_mismatch() { need_main; compare_on "$NS1_NSID" mismatch; compare_on "$NS2_NSID" mismatch; note "$(tr '\n' ' ' < /tmp/cmp.out)"; }

scn_keep_alive_idle() {
  need_main
  kato=$(cat /sys/class/nvme/$CTRL/kato 2>/dev/null)
  echo "controller $CTRL kato=${kato:-?}s; idle for ${IDLE_SECS}s"
  sleep "$IDLE_SECS"
  st=$(ctrl_state "$CTRL")
  dmesg > /tmp/ka.dmesg
  cat /tmp/ka.dmesg
  [ "$st" = live ] || die "controller $CTRL is '$st' after ${IDLE_SECS}s idle (kato ${kato:-?}s)"
  grep -qiE 'keep-alive|keep alive|error recovery|reconnect|reset' /tmp/ka.dmesg &&
    die "the host logged a keep-alive failure/reset while idle: $(grep -iE 'keep-alive|keep alive|error recovery|reconnect|reset' /tmp/ka.dmesg | head -n 3 | tr '\n' ' ')"
  read_region "$(dev1)" 0 4096 4096 /tmp/ka.r || die "I/O after the idle period failed"
  [ "$(find_ctrl "$HOSTNQN1")" = "$CTRL" ] || die "the controller changed during the idle period"
  note "kato ${kato:-?}s, idle ${IDLE_SECS}s, still live"
}

scn_disconnect_reconnect() {
  need_main
  make_pattern /tmp/dr.p $((256 * 1024))
  write_pattern "$(dev1)" /tmp/dr.p $((134 * MiB)) 65536
  old=$CTRL
  disconnect_ctrl "$CTRL" || die "nvme disconnect left $CTRL behind"
  nvme list > /tmp/dr.list 2>&1
  grep -q "$SERIAL" /tmp/dr.list && die "nvme list still shows our serial after disconnect"
  need_main
  read_region "$(dev1)" $((134 * MiB)) $((256 * 1024)) 65536 /tmp/dr.r
  [ "$(md5 /tmp/dr.p)" = "$(md5 /tmp/dr.r)" ] || die "data written before the disconnect reads back differently after reconnecting"
  note "$old -> $CTRL, data intact"
}

scn_shared_namespace() {
  need_main
  a=$CTRL
  da=$(dev1)
  make_pattern /tmp/sh.x $((256 * 1024))
  write_pattern "$da" /tmp/sh.x $((136 * MiB)) 65536
  must_connect "$HOSTNQN2" "$HOSTID2" --raw
  b=$CTRL
  [ "$(ctrl_state "$a")" = live ] || die "host 1's controller $a is $(ctrl_state "$a") once host 2 connected"
  echo "host1 $a cntlid=$(cat /sys/class/nvme/$a/cntlid) host2 $b cntlid=$(cat /sys/class/nvme/$b/cntlid)"
  [ "$(cat /sys/class/nvme/$a/cntlid)" != "$(cat /sys/class/nvme/$b/cntlid)" ] || die "both hosts got the same cntlid"
  disconnect_ctrl "$a" || die "cannot disconnect host 1"
  CTRL=$b
  read_region "$(dev1)" $((136 * MiB)) $((256 * 1024)) 65536 /tmp/sh.r
  [ "$(md5 /tmp/sh.x)" = "$(md5 /tmp/sh.r)" ] || die "host 2 does not read what host 1 wrote"
  make_pattern /tmp/sh.y $((256 * 1024))
  write_pattern "$(dev1)" /tmp/sh.y $((136 * MiB)) 65536
  must_connect "$HOSTNQN1" "$HOSTID1" --raw
  c=$CTRL
  disconnect_ctrl "$b" || die "cannot disconnect host 2"
  CTRL=$c
  read_region "$(dev1)" $((136 * MiB)) $((256 * 1024)) 65536 /tmp/sh.r
  [ "$(md5 /tmp/sh.y)" = "$(md5 /tmp/sh.r)" ] || die "host 1 does not read what host 2 wrote"
  # Linux before 6.7 (Debian 6.1 included) keeps, in each shared namespace head, a pointer to the
  # effects log of the controller that created the head; that controller (host 1's first) is gone
  # now, so the next nvme ioctl on /dev/nvmeXnY reads freed memory and can take random effects
  # (CCC -> re-identify under the ioctl, seen hanging in CI). The upstream fix is "nvme-core: remove
  # head->effects to fix use-after-free". Drop every controller so the heads are rebuilt.
  disconnect_all
  CTRL=
  note "host1 -> host2 and host2 -> host1 through namespace $NS1_NSID"
}

scn_file_persist_restart() {
  need_main
  d=$(dev2)
  make_pattern /tmp/fp.p $MiB
  write_pattern "$d" /tmp/fp.p $((140 * MiB)) 65536
  nvme flush "$d" || die "nvme flush failed"
  disconnect_ctrl "$CTRL" || die "disconnect failed"
  request restart-target || die "the target could not be restarted"
  need_main
  read_region "$(dev2)" $((140 * MiB)) $MiB 65536 /tmp/fp.r
  [ "$(md5 /tmp/fp.p)" = "$(md5 /tmp/fp.r)" ] || die "file namespace $NS2_NSID lost data across the target restart"
  note "1 MiB intact on the $NS2_KIND namespace"
}

scn_kill_during_fio() {
  need_main
  d=$(dev2)
  make_pattern /tmp/kf.p $((4 * MiB))
  write_pattern "$d" /tmp/kf.p $((240 * MiB)) 65536
  nvme flush "$d" || die "nvme flush failed"
  ( run_fio kill-fio "$d" randwrite 4k 0 "$KILL_FIO_SIZE" > /tmp/kf.fio.log 2>&1; echo $? > /tmp/kf.fio.rc ) < /dev/null &
  fpid=$!
  sleep "$KILL_AFTER"
  [ -f /tmp/kf.fio.rc ] && { cat /tmp/kf.fio.log; die "fio ended before the target was killed; raise KILL_FIO_SIZE"; }
  old=$CTRL
  request kill-target || die "the host could not kill the target"
  i=0; st=live
  while [ $i -lt 30 ]; do st=$(ctrl_state "$old"); [ "$st" != live ] && break; sleep 1; i=$((i + 1)); done
  echo "controller $old state after the kill: $st (${i}s)"
  killnote="'$st' ${i}s after the kill"
  [ "$st" != live ] || die "the host did not notice the target was killed (still live after 30s)"
  sleep "$KILL_DOWNTIME"
  request start-target || die "the host could not start the target again"
  i=0
  while [ $i -lt 120 ]; do st=$(ctrl_state "$old"); [ "$st" = live ] && break; sleep 1; i=$((i + 1)); done
  echo "controller $old state after the restart: $st (${i}s)"
  killnote="$killnote, live again ${i}s after the restart"
  dmesg | grep -iE 'nvme|reconnect' | tail -n 20
  [ "$st" = live ] || die "the host did not reconnect on its own within 120s (state $st)"
  i=0
  while [ ! -f /tmp/kf.fio.rc ] && [ $i -lt 400 ]; do sleep 1; i=$((i + 1)); done
  [ -f /tmp/kf.fio.rc ] || { kill $fpid 2>/dev/null; die "fio did not finish within 400s after the reconnect"; }
  cat /tmp/kf.fio.log
  [ "$(cat /tmp/kf.fio.rc)" = 0 ] || die "fio across the kill failed: $(grep -E 'err=|verify|fio:|error' /tmp/fio.kill-fio.out | head -n 4 | tr '\n' ' ')"
  CTRL=$old
  read_region "$(dev2)" $((240 * MiB)) $((4 * MiB)) 65536 /tmp/kf.r
  [ "$(md5 /tmp/kf.p)" = "$(md5 /tmp/kf.r)" ] || die "flushed data changed across the kill"
  note "$killnote; fio verify passed, flushed 4 MiB intact"
}

# fio through the kernel host and `nvmetd perf` on the host machine, same job, against a namespace that
# answers every command after PERF_DELAY_US: both must report the same IOPS and mean latency (within
# 20%), which they can only do if they count alike. The delay makes both measure the target instead
# of their own overhead (this guest is emulated and slow).
num_after() { sed -n "s/.*$1=\([0-9]*\).*/\1/p"; }
scn_perf_vs_fio() {
  [ "$MODE" = reference ] && skip "needs nvmetd's delay namespace"
  disconnect_all
  request start-delay-target || die "the host could not start the delay target"
  need_main
  d=$(dev1)
  echo "+ fio randread 4k iodepth=$PERF_QD ${PERF_SECONDS}s on $d (target delay ${PERF_DELAY_US}us)"
  fio --name=cmp --filename="$d" --ioengine=libaio --direct=1 --rw=randread --bs=4k --iodepth="$PERF_QD" \
      --size=64M --runtime="$PERF_SECONDS" --ramp_time=1 --time_based --output-format=json > /tmp/cmp.json 2> /tmp/cmp.err \
    || { cat /tmp/cmp.err; die "fio failed"; }
  fio_iops=$(awk -F: '/"iops" :/ { gsub(/[ ,]/, "", $2); print int($2); exit }' /tmp/cmp.json)
  fio_lat=$(awk -F: '/"lat_ns"/ { f = 1 } f && /"mean"/ { gsub(/[ ,]/, "", $2); print int($2 / 1000); exit }' /tmp/cmp.json)
  request perf-delay-target || die "nvmetd perf on the host failed"
  perf_iops=$(num_after iops < /tmp/ack.rest)
  perf_lat=$(num_after lat_us < /tmp/ack.rest)
  disconnect_all
  request restart-target || die "the target could not be restarted"
  res="fio: ${fio_iops} IOPS, ${fio_lat} us mean; nvmetd perf: ${perf_iops} IOPS, ${perf_lat} us mean (delay ${PERF_DELAY_US} us, QD $PERF_QD)"
  echo "$res"
  [ -n "$fio_iops" ] && [ -n "$perf_iops" ] && [ "$fio_iops" -gt 0 ] && [ "$perf_iops" -gt 0 ] || die "missing results: $res"
  within() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.2 * b) }'; }
  within "$fio_iops" "$perf_iops" || die "IOPS differ by more than 20%: $res"
  within "$fio_lat" "$perf_lat" || die "mean latency differs by more than 20%: $res"
  note "$res"
}

scn_allow_list_refused() {
  disconnect_all # else nvme-cli 2.3 answers "already connected" without asking the target
  echo "+ nvme connect -t tcp -a $TADDR -s $TPORT -n $SUBNQN -q $HOSTNQN3 (not allowed)"
  nvme connect -t tcp -a "$TADDR" -s "$TPORT" -n "$SUBNQN" -q "$HOSTNQN3" -I "$HOSTID3" > /tmp/al.out 2>&1
  rc=$?
  grep -q 'already connected' /tmp/al.out && die "nvme-cli refused on its own (already connected), the target was not asked"
  cat /tmp/al.out
  dmesg | tail -n 5
  c=$(find_ctrl "$HOSTNQN3") && { disconnect_ctrl "$c"; die "host $HOSTNQN3 (not on the allow-list) got controller $c"; }
  [ $rc -ne 0 ] || die "nvme connect for a host not on the allow-list exited 0"
  note "refused: $(tr '\n' ' ' < /tmp/al.out | head -c 160) | $(dmesg | grep -i nvme | tail -n 1 | head -c 160)"
}

# --- plan ------------------------------------------------------------------------------------------
PLAN=""
[ "$MODE" = reference ] && PLAN="reference-target"
PLAN="$PLAN discover connect-all connect-plain connect-hdgst connect-ddgst connect-both collect-identify
 fio-$N1-rand4k fio-$N1-seq128k fio-$N2-rand4k fio-$N2-seq128k fio-digests flush blkdiscard write-zeroes
 compare-match compare-mismatch copy-verify keep-alive-idle disconnect-reconnect shared-namespace
 reservations reservations-preempt reservations-ptpl file-persist-restart kill-during-fio allow-list-refused dhchap
 dhchap-uni-ffdhe2048 dhchap-bi-sha512-null dhchap-no-secret dhchap-reauth ns-masking hot-add-ns resize-ns
 remove-host multipath-ana rbd-failover tls-connect tls-discover tls-plain-refused tls-dhchap tls-rfc8446 tls-sha384 perf-vs-fio"
if [ -n "$ONLY" ]; then
  p=""; for s in $PLAN; do echo " $ONLY " | grep -q " $s " && p="$p $s"; done; PLAN=$p
fi
echo "INTEROP PLAN" $PLAN
emit versions.txt /etc/interop/versions

[ "$MODE" = reference ] && scenario reference-target scn_reference_target 60
scenario discover scn_discover 60
scenario connect-all scn_connect_all 120
scenario connect-plain scn_connect_plain 120
scenario connect-hdgst scn_connect_hdgst 120
scenario connect-ddgst scn_connect_ddgst 120
scenario connect-both scn_connect_both 120
scenario collect-identify scn_collect_identify 120
scenario "fio-$N1-rand4k" scn_fio_ns1_rand 900
scenario "fio-$N1-seq128k" scn_fio_ns1_seq 600
scenario "fio-$N2-rand4k" scn_fio_ns2_rand 900
scenario "fio-$N2-seq128k" scn_fio_ns2_seq 600
scenario fio-digests scn_fio_digests 600
scenario flush scn_flush 60
scenario blkdiscard scn_blkdiscard 60
scenario write-zeroes scn_write_zeroes 60
scenario compare-match scn_compare_match 60
scenario compare-mismatch scn_compare_mismatch 60
scenario copy-verify scn_copy_verify 90
scenario keep-alive-idle scn_keep_alive_idle $((IDLE_SECS + 60))
scenario disconnect-reconnect scn_disconnect_reconnect 120
scenario shared-namespace scn_shared_namespace 180
scenario reservations scn_reservations 240
scenario reservations-preempt scn_reservations_preempt 240
scenario reservations-ptpl scn_reservations_ptpl 300
scenario file-persist-restart scn_file_persist_restart 180
scenario kill-during-fio scn_kill_during_fio 900
scenario allow-list-refused scn_allow_list_refused 60
scenario dhchap scn_dhchap 180
scenario dhchap-uni-ffdhe2048 scn_dhchap_uni_ffdhe2048 120
scenario dhchap-bi-sha512-null scn_dhchap_bi_sha512_null 120
scenario dhchap-no-secret scn_dhchap_no_secret 120
scenario dhchap-reauth scn_dhchap_reauth 150
scenario hot-add-ns scn_hot_add_ns 180
scenario resize-ns scn_resize_ns 120
scenario remove-host scn_remove_host 150
scenario multipath-ana scn_multipath_ana $((MP_FIO_SECS + 200))
scenario rbd-failover scn_rbd_failover $((RBD_FIO_SECS + 420))
scenario ns-masking scn_ns_masking 180
scenario tls-connect scn_tls_connect 240
scenario tls-discover scn_tls_discover 120
scenario tls-plain-refused scn_tls_plain_refused 60
scenario tls-dhchap scn_tls_dhchap 120
scenario tls-rfc8446 scn_tls_rfc8446 120
scenario tls-sha384 scn_tls_sha384 120
scenario perf-vs-fio scn_perf_vs_fio 180

disconnect_all
dmesg -c >> "$DMESG_ALL" 2>/dev/null
emit dmesg.txt "$DMESG_ALL"
emit tlshd.log /tmp/tlshd.log
exit 0
