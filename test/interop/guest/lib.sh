# Helpers for the guest scenarios (sourced by scenarios.sh; busybox ash).
# Output protocol (one line each, parsed by test/interop/run.ts):
#   INTEROP PLAN a b c          scenarios this guest will report
#   INTEROP PASS name [: note]  / INTEROP FAIL name: reason / INTEROP SKIP name: reason
#   INTEROP LOG name text       detail for the scenario above (command output, dmesg)
#   INTEROP FILE-BEGIN name / INTEROP B64 data / INTEROP FILE-END name bytes   an artifact
#   INTEROP REQUEST id action   ask the host (restart-target, kill-target, start-target, or
#                               rpc METHOD JSON: one call on nvmetd's RPC socket); the host answers
#                               "ACK id ok [result]" or "ACK id error text" on the serial console

info() { echo "INTEROP INFO $*"; }

emit() { # name file
  [ -f "$2" ] || return 0
  echo "INTEROP FILE-BEGIN $1"
  base64 "$2" | sed 's/^/INTEROP B64 /'
  echo "INTEROP FILE-END $1 $(wc -c < "$2")"
}

# fd 3 is the console input and fd 4 the console output (set up by scenarios.sh), so that requests
# work from inside a scenario whose output is captured.
request() { # action -> 0 when the host acknowledged with ok
  REQ_ID=$(( $(cat /tmp/reqid 2>/dev/null || echo 0) + 1 ))
  echo $REQ_ID > /tmp/reqid
  if [ "$MODE" = reference ]; then
    echo "+ reference target: $1"
    ref_action "$1"
    return $?
  fi
  echo "+ request to the host: $1"
  echo "INTEROP REQUEST $REQ_ID $1" >&4
  end=$(( $(date +%s) + ${REQUEST_TIMEOUT:-120} ))
  while [ "$(date +%s)" -lt "$end" ]; do
    if read -r -t 5 a id st rest <&3; then
      if [ "$a" = ACK ] && [ "$id" = "$REQ_ID" ]; then
        [ "$st" = ok ] && { echo "$rest" > /tmp/ack.rest; return 0; }
        echo "host answered: $st $rest"
        return 1
      fi
    fi
  done
  echo "no answer from the host to request $REQ_ID $1"
  return 1
}

# One JSON-RPC call on nvmetd's RPC socket, made by the host (nvmetd mode only): method, params as
# one line of JSON (no spaces needed). 0 when it succeeded; the result (JSON) is in /tmp/ack.rest.
rpc() { # method [json]
  request "rpc $1${2:+ $2}"
}
must_rpc() { # method [json]: dies with the target's answer when the call fails
  rpc "$@" > /tmp/rpc.out 2>&1
  _rc=$?
  cat /tmp/rpc.out
  [ $_rc -eq 0 ] || die "RPC $1 failed: $(tail -n 1 /tmp/rpc.out)"
  echo "= $(cat /tmp/ack.rest)"
}

# Polls a command once a second until it succeeds: 0, or 1 after the given seconds.
wait_for() { # seconds command [args...]
  _t=$1; shift
  _s=$(date +%s)
  while :; do
    "$@" && return 0
    [ $(( $(date +%s) - _s )) -ge "$_t" ] && return 1
    sleep 1
  done
}

# --- scenario runner -------------------------------------------------------------------------------
DMESG_ALL=/tmp/dmesg.all
: > "$DMESG_ALL"

die() { echo "$*" > /tmp/reason; exit 1; }
skip() { echo "$*" > /tmp/reason; exit 77; }
note() { echo "$*" > /tmp/note; }

scenario() { # name function [timeout]
  name=$1; fn=$2; tmo=${3:-300}
  if [ -n "$ONLY" ] && ! echo " $ONLY " | grep -q " $name "; then return 0; fi
  dmesg -c >> "$DMESG_ALL" 2>/dev/null
  rm -f /tmp/reason /tmp/note
  info "running $name"
  start=$(date +%s)
  ( set +e; "$fn" ) > /tmp/out.$name 2>&1 <&3 &
  pid=$!
  ( sleep "$tmo"; echo "timed out after ${tmo}s" > /tmp/reason; kill -9 $pid 2>/dev/null ) 2>/dev/null &
  wd=$!
  wait $pid
  rc=$?
  kill $wd 2>/dev/null
  wait $wd 2>/dev/null
  secs=$(( $(date +%s) - start ))
  cp /tmp/out.$name /tmp/art/out-$name.txt 2>/dev/null
  reason=$(cat /tmp/reason 2>/dev/null)
  if [ $rc -eq 0 ]; then
    n=$(cat /tmp/note 2>/dev/null)
    echo "INTEROP PASS $name (${secs}s)${n:+: $n}"
  elif [ $rc -eq 77 ]; then
    echo "INTEROP SKIP $name: $reason"
  else
    [ -n "$reason" ] || reason="exit status $rc"
    tail -n 60 /tmp/out.$name | sed "s/^/INTEROP LOG $name out| /"
    dmesg | tail -n 40 | sed "s/^/INTEROP LOG $name dmesg| /"
    echo "INTEROP FAIL $name: $reason (${secs}s)"
  fi
  dmesg -c >> "$DMESG_ALL" 2>/dev/null
  for f in /tmp/art/*; do
    [ -f "$f" ] || continue
    emit "${f##*/}" "$f"
    rm -f "$f"
  done
  return 0
}

# --- NVMe helpers ----------------------------------------------------------------------------------
# Controller (nvmeX) of our subsystem connected with the given host NQN, if any.
find_ctrl() { # hostnqn
  for d in /sys/class/nvme/nvme*; do
    [ -e "$d/subsysnqn" ] || continue
    [ "$(cat "$d/subsysnqn")" = "$SUBNQN" ] || continue
    [ "$(cat "$d/hostnqn" 2>/dev/null)" = "$1" ] || continue
    echo "${d##*/}"
    return 0
  done
  return 1
}

ctrl_state() { cat "/sys/class/nvme/$1/state" 2>/dev/null || echo gone; }

# Block device of namespace nsid reachable through controller ctrl: the multipath head of our
# subsystem (nvme_core.multipath=Y) or the controller's own namespace device (multipath=N).
ns_dev() { # ctrl nsid
  for p in /sys/class/nvme/$1/nvme*; do
    pn=${p##*/}
    case "$pn" in
      nvme*c*n*) head="${pn%%c*}n${pn##*n}" ;;
      nvme*n*) head=$pn ;;
      *) continue ;;
    esac
    [ "$(cat "$p/nsid" 2>/dev/null)" = "$2" ] || continue
    [ -b "/dev/$head" ] && { echo "/dev/$head"; return 0; }
  done
  return 1
}

# nvme connect for our subsystem; waits for the controller to be live and its namespaces to appear
# (WAIT_NSIDS, default both). Sets CTRL. Extra args are passed to nvme connect. Its own variables
# start with _ or are hq, hid, opts, seen, i: scenarios keep theirs (n, d, ...) across a connect.
connect() { # hostnqn hostid [args...]
  hq=$1; hid=$2; shift 2
  echo "+ nvme connect -t tcp -a $TADDR -s $TPORT -n $SUBNQN -q $hq -I $hid $*"
  if [ "$1" = --raw ]; then
    # The kernel's own interface, as nvme-cli uses it. nvme-cli 2.3 refuses a second connection to the
    # same address and subsystem even for another host NQN ("already connected", -D does not help).
    opts="transport=tcp,traddr=$TADDR,trsvcid=$TPORT,nqn=$SUBNQN,hostnqn=$hq,hostid=$hid,keep_alive_tmo=$KATO,ctrl_loss_tmo=$CTRL_LOSS_TMO,reconnect_delay=$RECONNECT_DELAY"
    echo "+ echo $opts > /dev/nvme-fabrics"
    ( printf '%s' "$opts" > /dev/nvme-fabrics ) > /tmp/connect.out 2>&1
  else
    nvme connect -t tcp -a "$TADDR" -s "$TPORT" -n "$SUBNQN" -q "$hq" -I "$hid" "$@" > /tmp/connect.out 2>&1
  fi
  rc=$?
  cat /tmp/connect.out
  [ $rc -eq 0 ] || { echo "nvme connect: exit $rc: $(tr '\n' ' ' < /tmp/connect.out)" > /tmp/connect.err; return 1; }
  i=0
  while [ $i -lt 30 ]; do
    CTRL=$(find_ctrl "$hq") && [ "$(ctrl_state "$CTRL")" = live ] && break
    sleep 1; i=$((i + 1))
  done
  [ -n "$CTRL" ] || { echo "connect succeeded but no controller for $hq in /sys/class/nvme" > /tmp/connect.err; return 1; }
  i=0
  while [ $i -lt 30 ]; do
    seen=0
    for _wn in ${WAIT_NSIDS:-$NS1_NSID $NS2_NSID}; do ns_dev "$CTRL" "$_wn" > /dev/null || seen=1; done
    [ $seen -eq 0 ] && return 0
    sleep 1; i=$((i + 1))
  done
  echo "controller $CTRL is $(ctrl_state "$CTRL") but its namespaces did not appear" > /tmp/connect.err
  ls /sys/block /sys/class/nvme/$CTRL
  return 1
}

must_connect() { connect "$@" || die "$(cat /tmp/connect.err)"; }

disconnect_ctrl() { # ctrl
  echo "+ nvme disconnect -d $1"
  nvme disconnect -d "$1" 2>&1
  i=0
  while [ -e "/sys/class/nvme/$1" ] && [ $i -lt 20 ]; do sleep 1; i=$((i + 1)); done
  [ ! -e "/sys/class/nvme/$1" ]
}

disconnect_all() {
  for d in /sys/class/nvme/nvme*; do
    [ -e "$d/subsysnqn" ] || continue
    [ "$(cat "$d/subsysnqn")" = "$SUBNQN" ] && disconnect_ctrl "${d##*/}" > /dev/null 2>&1
  done
  return 0
}

# Writes count blocks of bs bytes of a pattern file at byte offset off with O_DIRECT.
write_pattern() { # dev file off_bytes bs
  dd if="$2" of="$1" bs="$4" seek=$(( $3 / $4 )) oflag=direct conv=notrunc 2>&1 | tail -n 1
}
read_region() { # dev off_bytes bytes bs out
  dd if="$1" of="$5" bs="$4" skip=$(( $2 / $4 )) count=$(( $3 / $4 )) iflag=direct 2>&1 | tail -n 1
}
make_pattern() { # file bytes
  dd if=/dev/urandom of="$1" bs=1024 count=$(( $2 / 1024 )) 2>/dev/null
}
md5() { md5sum "$1" | cut -d' ' -f1; }

run_fio() { # name dev rw bs offset size
  echo "+ fio $1 on $2: rw=$3 bs=$4 offset=$5 size=$6 iodepth=$FIO_IODEPTH verify=crc32c"
  fio --name="$1" --filename="$2" --ioengine=libaio --direct=1 --rw="$3" --bs="$4" \
      --iodepth="$FIO_IODEPTH" --offset="$5" --size="$6" --verify=crc32c --do_verify=1 \
      --verify_fatal=1 --verify_dump=0 --randrepeat=0 --group_reporting --output-format=normal \
      > /tmp/fio.$1.out 2>&1
  rc=$?
  grep -E 'err=|IOPS=|bw=|verify|fio:|error' /tmp/fio.$1.out | head -n 20
  [ $rc -eq 0 ] || { tail -n 30 /tmp/fio.$1.out; return 1; }
  grep -q 'err= 0' /tmp/fio.$1.out || { tail -n 30 /tmp/fio.$1.out; return 1; }
  return 0
}
