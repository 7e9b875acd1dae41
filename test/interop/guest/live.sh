# Live management and ANA multipath scenarios (sourced by scenarios.sh; busybox ash). Each change is
# one JSON-RPC call that the host makes on nvmetd's RPC socket at the guest's request (rpc in lib.sh);
# the Linux host must follow it live, without a reconnect of its own. Each scenario undoes its change
# on the way out, failed or not (a subshell runs the body, the cleanup runs after it), so the
# scenarios after it see the configured target. Variable names here avoid those of lib.sh's helpers
# (request() reads into a, id, st, rest; find_ctrl and disconnect_all loop over d; ns_dev sets head).

# JSON of a listen_address on nvmetd's side (the address its listeners are bound to).
laddr_json() { # port
  echo "{\"trtype\":\"tcp\",\"adrfam\":\"ipv4\",\"traddr\":\"$RPC_LADDR\",\"trsvcid\":\"$1\"}"
}
sectors_are() { [ "$(cat "/sys/block/$1/size" 2>/dev/null)" = "$2" ]; }
no_ns() { ! ns_dev "$1" "$2" > /dev/null && [ ! -b "$3" ]; }
not_live() { [ "$(ctrl_state "$1")" != live ]; }
is_live() { [ "$(ctrl_state "$1")" = live ]; }

# Writes 1 MiB of a fresh pattern at the offset and reads it back: 0 when equal.
verify_mib() { # dev off_bytes tag
  make_pattern "/tmp/$3.p" $MiB
  write_pattern "$1" "/tmp/$3.p" "$2" 65536 || return 1
  read_region "$1" "$2" $MiB 65536 "/tmp/$3.r" || return 1
  [ "$(md5 "/tmp/$3.p")" = "$(md5 "/tmp/$3.r")" ]
}

with_cleanup() { # body cleanup: runs both, the body's status counts
  ( "$1" )
  _rc=$?
  "$2" > /tmp/cleanup.out 2>&1
  cat /tmp/cleanup.out
  return $_rc
}

# --- hot-add-ns: a RAM namespace added to the live subsystem, then removed -----------------------------
HOT_BDEV=interop-hot
HOT_BLOCKS=65536 # 32 MiB of 512-byte blocks
hot_add_body() {
  need_main
  c=$CTRL
  must_rpc bdev_malloc_create "{\"name\":\"$HOT_BDEV\",\"num_blocks\":$HOT_BLOCKS,\"block_size\":512}"
  must_rpc nvmf_subsystem_add_ns "{\"nqn\":\"$SUBNQN\",\"namespace\":{\"bdev_name\":\"$HOT_BDEV\",\"nsid\":$HOT_NSID}}"
  : > /tmp/hot.added
  t0=$(date +%s)
  wait_for 20 ns_dev "$c" "$HOT_NSID" > /dev/null ||
    die "namespace $HOT_NSID did not appear on $c within 20s of nvmf_subsystem_add_ns (no Namespace Attribute Changed event, or the host's rescan did not find it)"
  appeared=$(( $(date +%s) - t0 ))
  d=$(ns_dev "$c" "$HOT_NSID"); bd=${d#/dev/}
  echo "namespace $HOT_NSID is $d after ${appeared}s"
  [ "$(main_ctrl)" = "$c" ] && [ "$(ctrl_state "$c")" = live ] || die "the controller changed or left live: the host reconnected"
  wait_for 10 sectors_are "$bd" "$HOT_BLOCKS" || die "$d has $(cat /sys/block/$bd/size) sectors, expected $HOT_BLOCKS"
  verify_mib "$d" $((4 * MiB)) ha || die "1 MiB written to the new namespace ($d) reads back differently"
  run_fio hot-add "$d" randwrite 4k $((8 * MiB)) 8M || die "fio verify on the new namespace failed: $(grep -E 'err=|verify|fio:' /tmp/fio.hot-add.out | head -n 3 | tr '\n' ' ')"
  must_rpc nvmf_subsystem_remove_ns "{\"nqn\":\"$SUBNQN\",\"nsid\":$HOT_NSID}"
  rm -f /tmp/hot.added
  t0=$(date +%s)
  wait_for 20 no_ns "$c" "$HOT_NSID" "$d" || die "$d (namespace $HOT_NSID) is still there 20s after nvmf_subsystem_remove_ns"
  gone=$(( $(date +%s) - t0 ))
  [ "$(ctrl_state "$c")" = live ] || die "controller $c is $(ctrl_state "$c") after the namespace was removed"
  verify_mib "$(dev1)" $((8 * MiB)) ha1 || die "namespace $NS1_NSID no longer reads back what was written after the removal"
  verify_mib "$(dev2)" $((8 * MiB)) ha2 || die "namespace $NS2_NSID no longer reads back what was written after the removal"
  note "nsid $HOT_NSID ($bd, 32 MiB) appeared ${appeared}s after add_ns on $c, 1 MiB + 8 MiB fio verified; gone ${gone}s after remove_ns, nsid $NS1_NSID/$NS2_NSID fine"
}
hot_add_cleanup() {
  # Removed by the body unless it failed before; the bdev always goes.
  [ -f /tmp/hot.added ] && rpc nvmf_subsystem_remove_ns "{\"nqn\":\"$SUBNQN\",\"nsid\":$HOT_NSID}"
  rm -f /tmp/hot.added
  rpc bdev_malloc_delete "{\"name\":\"$HOT_BDEV\"}"
}
scn_hot_add_ns() {
  [ "$MODE" = reference ] && skip "needs nvmetd's RPC socket"
  with_cleanup hot_add_body hot_add_cleanup
}

# --- resize-ns: the RAM namespace grows by 64 MiB under the connected host -----------------------------
resize_body() {
  need_main
  c=$CTRL
  d=$(dev1); bd=${d#/dev/}
  old=$((NS1_SIZE / 512)); new=$(( (NS1_SIZE + 64 * MiB) / 512 ))
  sectors_are "$bd" "$old" || die "$d has $(cat /sys/block/$bd/size) sectors before the resize, expected $old"
  make_pattern /tmp/rs.p $MiB
  write_pattern "$d" /tmp/rs.p $((NS1_SIZE - MiB)) 65536
  must_rpc nvmetd_namespace_resize "{\"nqn\":\"$SUBNQN\",\"nsid\":$NS1_NSID,\"size\":$((NS1_SIZE + 64 * MiB))}"
  t0=$(date +%s)
  wait_for 20 sectors_are "$bd" "$new" || die "$d has $(cat /sys/block/$bd/size) sectors 20s after the resize, expected $new"
  secs=$(( $(date +%s) - t0 ))
  [ "$(main_ctrl)" = "$c" ] && [ "$(ctrl_state "$c")" = live ] || die "the controller changed or left live: the host reconnected"
  read_region "$d" $((NS1_SIZE - MiB)) $MiB 65536 /tmp/rs.r
  [ "$(md5 /tmp/rs.p)" = "$(md5 /tmp/rs.r)" ] || die "the last MiB before the old end reads back differently after the resize"
  verify_mib "$d" $((NS1_SIZE + 32 * MiB)) rs2 || die "1 MiB written past the old end reads back differently"
  note "$bd: $old -> $new sectors ${secs}s after nvmetd_namespace_resize on $c, data before the old end intact, new space verified"
}
resize_cleanup() {
  # Back to the configured size (force: data was written past it); the host follows.
  rpc nvmetd_namespace_resize "{\"nqn\":\"$SUBNQN\",\"nsid\":$NS1_NSID,\"size\":$NS1_SIZE,\"force\":true}"
  c=$(main_ctrl) && d=$(ns_dev "$c" "$NS1_NSID") && wait_for 20 sectors_are "${d#/dev/}" $((NS1_SIZE / 512))
}
scn_resize_ns() {
  [ "$MODE" = reference ] && skip "needs nvmetd's RPC socket"
  with_cleanup resize_body resize_cleanup
}

# --- remove-host: host 2 removed from the subsystem while connected ------------------------------------
remove_host_body() {
  need_main
  ca=$CTRL
  must_connect "$HOSTNQN2" "$HOSTID2" --raw
  cb=$CTRL
  : > /tmp/rh.removed
  must_rpc nvmf_subsystem_remove_host "{\"nqn\":\"$SUBNQN\",\"host\":\"$HOSTNQN2\"}"
  wait_for 15 not_live "$cb" || die "host 2's controller $cb is still live 15s after nvmf_subsystem_remove_host"
  hst=$(ctrl_state "$cb")
  echo "host 2's controller $cb: $hst; waiting $((RECONNECT_DELAY * 3))s for its reconnect attempts"
  sleep $((RECONNECT_DELAY * 3))
  hst2=$(ctrl_state "$cb")
  [ "$hst2" != live ] || die "host 2's controller $cb reconnected after its host was removed"
  dmesg | grep -iE 'nvme|connect' | tail -n 8
  echo "+ nvme discover -q $HOSTNQN2"
  nvme discover -t tcp -a "$TADDR" -s "$TPORT" -q "$HOSTNQN2" -I "$HOSTID2" > /tmp/rh.disc 2>&1 ||
    die "nvme discover as the removed host 2 failed: $(tr '\n' ' ' < /tmp/rh.disc | head -c 200)"
  cat /tmp/rh.disc
  grep -q "$SUBNQN" /tmp/rh.disc && die "the discovery log still lists $SUBNQN for the removed host 2"
  [ "$(ctrl_state "$ca")" = live ] || die "host 1's controller $ca is $(ctrl_state "$ca") after host 2 was removed"
  CTRL=$ca
  verify_mib "$(dev1)" $((12 * MiB)) rh || die "host 1's I/O failed after host 2 was removed"
  disconnect_ctrl "$cb" > /dev/null || die "cannot disconnect host 2's controller $cb"
  must_rpc nvmf_subsystem_add_host "{\"nqn\":\"$SUBNQN\",\"host\":\"$HOSTNQN2\"}"
  rm -f /tmp/rh.removed
  must_connect "$HOSTNQN2" "$HOSTID2" --raw
  note "$cb: $hst, then $hst2 after $((RECONNECT_DELAY * 3))s of reconnect attempts; not in host 2's discovery log; host 1 ($ca) live, 1 MiB verified; host 2 connects again after nvmf_subsystem_add_host"
}
remove_host_cleanup() {
  c=$(find_ctrl "$HOSTNQN2") && disconnect_ctrl "$c"
  [ -f /tmp/rh.removed ] && rpc nvmf_subsystem_add_host "{\"nqn\":\"$SUBNQN\",\"host\":\"$HOSTNQN2\"}"
  rm -f /tmp/rh.removed
  # Host 2's namespace paths are gone; drop host 1's too so no shared head outlives a controller
  # (see shared-namespace).
  disconnect_all
}
scn_remove_host() {
  [ "$MODE" = reference ] && skip "needs nvmetd's RPC socket"
  with_cleanup remove_host_body remove_host_cleanup
}

# --- multipath-ana: one namespace head over two ports, failover by ANA state and by a listener's removal --
# Host 1's controller through the port, if any.
ctrl_on_port() { # hostnqn port
  for d in /sys/class/nvme/nvme*; do
    [ "$(cat "$d/subsysnqn" 2>/dev/null)" = "$SUBNQN" ] || continue
    [ "$(cat "$d/hostnqn" 2>/dev/null)" = "$1" ] || continue
    grep -qE "trsvcid=$2(,|\$)" "$d/address" 2>/dev/null || continue
    echo "${d##*/}"
    return 0
  done
  return 1
}
live_on_port() { _c=$(ctrl_on_port "$1" "$2") && [ "$(ctrl_state "$_c")" = live ]; }
# The controller's own path device (nvmeXcYnZ) of a namespace.
path_of() { # ctrl nsid
  for p in /sys/class/nvme/$1/nvme*c*n*; do
    [ "$(cat "$p/nsid" 2>/dev/null)" = "$2" ] && { echo "${p##*/}"; return 0; }
  done
  return 1
}
ana_of() { cat "/sys/class/nvme/$1/$2/ana_state" 2>/dev/null || echo none; }
ana_is() { [ "$(ana_of "$1" "$2")" = "$3" ]; }
# Writes completed through a path device (field 5 of its stat).
writes_of() { awk '{ print $5 }' "/sys/class/nvme/$1/$2/stat" 2>/dev/null || echo 0; }
set_ana() { # port state
  must_rpc nvmf_subsystem_listener_set_ana_state "{\"nqn\":\"$SUBNQN\",\"listen_address\":$(laddr_json "$1"),\"ana_state\":\"$2\"}"
}

a_took_writes() { [ "$(writes_of "$1" "$2")" -gt "$3" ]; }
multipath_body() {
  disconnect_all
  [ "$(cat /sys/module/nvme_core/parameters/multipath 2>/dev/null)" = Y ] || skip "native NVMe multipath is off (nvme_core.multipath=$(cat /sys/module/nvme_core/parameters/multipath 2>/dev/null))"
  must_rpc nvmf_subsystem_add_listener "{\"nqn\":\"$SUBNQN\",\"listen_address\":$(laddr_json "$TPORT2")}"
  set_ana "$TPORT" optimized
  set_ana "$TPORT2" non_optimized
  need_main
  ca=$CTRL
  opts="transport=tcp,traddr=$TADDR,trsvcid=$TPORT2,nqn=$SUBNQN,hostnqn=$HOSTNQN1,hostid=$HOSTID1,keep_alive_tmo=$KATO,ctrl_loss_tmo=$CTRL_LOSS_TMO,reconnect_delay=$RECONNECT_DELAY"
  echo "+ echo $opts > /dev/nvme-fabrics"
  ( printf '%s' "$opts" > /dev/nvme-fabrics ) 2>&1 || die "connecting the second path (port $TPORT2) failed: $(dmesg | tail -n 2 | tr '\n' ' ')"
  wait_for 30 live_on_port "$HOSTNQN1" "$TPORT2" || die "no live controller through port $TPORT2"
  cb=$(ctrl_on_port "$HOSTNQN1" "$TPORT2")
  [ "$cb" != "$ca" ] || die "the second path reused controller $ca"
  wait_for 20 path_of "$cb" "$NS1_NSID" > /dev/null || die "controller $cb (port $TPORT2) shows no path to namespace $NS1_NSID: $(ls /sys/class/nvme/$cb | tr '\n' ' ')"
  pa=$(path_of "$ca" "$NS1_NSID"); pb=$(path_of "$cb" "$NS1_NSID")
  mhead=$(ns_dev "$ca" "$NS1_NSID"); mheadb=$(ns_dev "$cb" "$NS1_NSID")
  nvme list-subsys > /tmp/art/multipath-list-subsys.txt 2>&1
  cat /tmp/art/multipath-list-subsys.txt
  echo "path A: $ca/$pa ($(cat /sys/class/nvme/$ca/address)); path B: $cb/$pb ($(cat /sys/class/nvme/$cb/address)); head $mhead"
  [ "$mhead" = "$mheadb" ] || die "the two paths show different block devices ($mhead, $mheadb): no multipath head"
  [ "${pa%%c*}" = "${pb%%c*}" ] || die "the two controllers are in different host subsystems ($pa, $pb)"
  [ -e "/sys/class/nvme/$ca/$pa/ana_state" ] || die "no ana_state for $pa: the host does not use ANA with this target (CMIC bit 3 / ANA log)"
  wait_for 10 ana_is "$ca" "$pa" optimized || die "path A ($pa) is $(ana_of "$ca" "$pa"), expected optimized"
  wait_for 10 ana_is "$cb" "$pb" non-optimized || die "path B ($pb) is $(ana_of "$cb" "$pb"), expected non-optimized"
  echo "+ fio on $mhead for ${MP_FIO_SECS}s with verify across the ANA change and the second listener's removal"
  ( fio --name=mp --filename="$mhead" --ioengine=libaio --direct=1 --rw=randwrite --bs=4k --iodepth="$FIO_IODEPTH" \
      --offset=$((96 * MiB)) --size=16M --time_based --runtime="$MP_FIO_SECS" --verify=crc32c --do_verify=1 \
      --verify_backlog=256 --verify_fatal=1 --verify_dump=0 --randrepeat=0 --output-format=normal > /tmp/fio.mp.out 2>&1
    echo $? > /tmp/mp.fio.rc ) < /dev/null &
  fpid=$!
  sleep 4
  [ -f /tmp/mp.fio.rc ] && { cat /tmp/fio.mp.out; die "fio ended before the ANA change"; }
  # 1. A inaccessible, B optimized: I/O moves to B and no longer goes through A.
  wa0=$(writes_of "$ca" "$pa"); wb0=$(writes_of "$cb" "$pb")
  set_ana "$TPORT" inaccessible
  set_ana "$TPORT2" optimized
  t0=$(date +%s)
  wait_for 10 ana_is "$ca" "$pa" inaccessible || die "path A ($pa) is $(ana_of "$ca" "$pa") 10s after it was made inaccessible (ANA change event not acted on?)"
  wait_for 10 ana_is "$cb" "$pb" optimized || die "path B ($pb) is $(ana_of "$cb" "$pb") 10s after it was made optimized"
  flip=$(( $(date +%s) - t0 ))
  sleep 1
  wa1=$(writes_of "$ca" "$pa"); wb1=$(writes_of "$cb" "$pb")
  sleep 2
  wa2=$(writes_of "$ca" "$pa"); wb2=$(writes_of "$cb" "$pb")
  echo "writes through A: $wa0 before the change, $wa1 once settled, $wa2 2s later; through B: $wb0, $wb1, $wb2"
  [ -f /tmp/mp.fio.rc ] && die "fio ended during the ANA change: raise MP_FIO_SECS"
  [ "$wa2" = "$wa1" ] || die "writes still went through the inaccessible path A ($pa: $wa1 -> $wa2)"
  [ "$(ctrl_state "$ca")" = live ] || die "controller $ca (inaccessible path) is $(ctrl_state "$ca"): it should stay connected"
  if [ "$wb2" -gt "$wb1" ]; then moved="B took $((wb2 - wb0)) writes, A none once settled"
  else moved="no per-path write counts (A $wa2, B $wb2): I/O could only go through B"; fi
  # 2. A non-optimized, then B's listener removed under I/O: the host fails over to A; B re-added
  #    comes back by itself (its controller reconnects).
  set_ana "$TPORT" non_optimized
  wait_for 10 ana_is "$ca" "$pa" non-optimized || die "path A ($pa) is $(ana_of "$ca" "$pa"), expected non-optimized"
  must_rpc nvmf_subsystem_remove_listener "{\"nqn\":\"$SUBNQN\",\"listen_address\":$(laddr_json "$TPORT2")}"
  wait_for 10 not_live "$cb" || die "controller $cb is still live 10s after its listener was removed"
  echo "controller $cb: $(ctrl_state "$cb") after its listener was removed"
  wa3=$(writes_of "$ca" "$pa")
  # The host fails over once it sees B's controller go (seconds on a loaded machine): wait for A's writes.
  t3=$(date +%s)
  wait_for 15 a_took_writes "$ca" "$pa" "$wa3"
  t4=$(( $(date +%s) - t3 ))
  wa4=$(writes_of "$ca" "$pa")
  must_rpc nvmf_subsystem_add_listener "{\"nqn\":\"$SUBNQN\",\"listen_address\":$(laddr_json "$TPORT2")}"
  wait_for 30 is_live "$cb" || die "controller $cb did not reconnect within 30s of the listener's return (state $(ctrl_state "$cb"))"
  wait_for 10 ana_is "$cb" "$pb" optimized || die "path B ($pb) is $(ana_of "$cb" "$pb") after reconnecting, expected optimized (a new listener's default)"
  [ -f /tmp/mp.fio.rc ] && echo "note: fio ended before path B was back"
  echo "writes through A after B went down: $wa3, 2s later $wa4"
  [ "$wb2" -gt "$wb1" ] && { [ "$wa4" -gt "$wa3" ] || die "no writes went through A ($pa) within 15s of B's listener going ($wa3 -> $wa4)"; }
  wait_for $((MP_FIO_SECS + 60)) test -f /tmp/mp.fio.rc || { kill $fpid 2>/dev/null; die "fio did not end within $((MP_FIO_SECS + 60))s"; }
  grep -E 'err=|IOPS=|verify|fio:|error' /tmp/fio.mp.out | head -n 20
  [ "$(cat /tmp/mp.fio.rc)" = 0 ] && grep -q 'err= 0' /tmp/fio.mp.out ||
    { tail -n 30 /tmp/fio.mp.out; die "fio across the ANA change and the listener's removal failed: $(grep -E 'err=|verify|fio:' /tmp/fio.mp.out | head -n 3 | tr '\n' ' ')"; }
  verify_mib "$mhead" $((120 * MiB)) mp || die "1 MiB through $mhead after path B came back reads back differently"
  note "$mhead over $ca (:$TPORT) + $cb (:$TPORT2); fio ${MP_FIO_SECS}s verify passed while A went inaccessible and B optimized (host saw it in ${flip}s; $moved), then B's listener was removed (I/O failed over to non-optimized A: +$((wa4 - wa3)) writes within ${t4}s) and re-added ($cb reconnected, optimized)"
}
multipath_cleanup() {
  # Port 1 back to optimized, every controller dropped (no shared head outlives a controller, see
  # shared-namespace), then the second listener removed.
  rpc nvmf_subsystem_listener_set_ana_state "{\"nqn\":\"$SUBNQN\",\"listen_address\":$(laddr_json "$TPORT"),\"ana_state\":\"optimized\"}"
  disconnect_all
  rpc nvmf_subsystem_remove_listener "{\"nqn\":\"$SUBNQN\",\"listen_address\":$(laddr_json "$TPORT2")}"
}
scn_multipath_ana() {
  [ "$MODE" = reference ] && skip "needs nvmetd's RPC socket"
  with_cleanup multipath_body multipath_cleanup
}
