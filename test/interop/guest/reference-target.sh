# The kernel's own NVMe/TCP target (nvmet, nvmet-tcp) set up through configfs inside the guest, with
# the same subsystem, namespaces, serial, model, UUIDs and allow-list as the nvmetd configuration.
# Namespace 1: null_blk, memory backed (RAM), 512-byte blocks. Namespace 2: a file in tmpfs with
# buffered I/O (4096-byte blocks: the kernel target takes the file system's block size).
# Sourced by scenarios.sh in reference mode.
NVMET=/sys/kernel/config/nvmet
NULLB=/sys/kernel/config/nullb
REF_FILE=/tmp/ns2.img

# null_blk names the disk after the configfs directory on newer kernels, nullb<index> on older ones.
ref_nullb_dev() {
  REF_NULLB_DEV=/dev/refram0
  [ -b "$REF_NULLB_DEV" ] && return 0
  REF_NULLB_DEV=/dev/nullb$(cat "$NULLB/refram0/index")
  [ -b "$REF_NULLB_DEV" ]
}

ref_nullb() {
  if [ -d "$NULLB/refram0" ]; then
    ref_nullb_dev
    return 0
  fi
  mkdir "$NULLB/refram0" || return 1
  echo "$NS1_BS" > "$NULLB/refram0/blocksize"
  echo $(( NS1_SIZE / 1048576 )) > "$NULLB/refram0/size"
  echo 1 > "$NULLB/refram0/memory_backed"
  echo 1 > "$NULLB/refram0/discard" 2>/dev/null
  echo 1 > "$NULLB/refram0/power"
  i=0; while ! ref_nullb_dev && [ $i -lt 10 ]; do sleep 1; i=$((i + 1)); done
  i=0; while [ ! -b "$REF_NULLB_DEV" ] && [ $i -lt 10 ]; do sleep 1; i=$((i + 1)); done
  [ -b "$REF_NULLB_DEV" ]
}

ref_ns() { # nsid path uuid nguid buffered
  d=$NVMET/subsystems/$SUBNQN/namespaces/$1
  mkdir "$d" || return 1
  echo "$2" > "$d/device_path" || return 1
  echo "$3" > "$d/device_uuid" || return 1
  echo "$4" > "$d/device_nguid" || return 1
  [ "$5" = 1 ] && { echo 1 > "$d/buffered_io" || return 1; }
  echo 1 > "$d/enable"
}

ref_port_up() {
  [ -d "$NVMET/ports/1" ] || {
    mkdir "$NVMET/ports/1" &&
    echo tcp > "$NVMET/ports/1/addr_trtype" &&
    echo ipv4 > "$NVMET/ports/1/addr_adrfam" &&
    echo "$TADDR" > "$NVMET/ports/1/addr_traddr" &&
    echo "$TPORT" > "$NVMET/ports/1/addr_trsvcid" || return 1
  }
  ln -s "$NVMET/subsystems/$SUBNQN" "$NVMET/ports/1/subsystems/$SUBNQN"
}

# Like SIGKILL of a user-space target: connections drop and the port stops listening.
ref_port_down() {
  rm -f "$NVMET/ports/1/subsystems/$SUBNQN"
  rmdir "$NVMET/ports/1"
}

ref_start() {
  ref_nullb || { echo "null_blk setup failed"; return 1; }
  [ -f "$REF_FILE" ] || truncate -s "$NS2_SIZE" "$REF_FILE" || return 1
  mkdir -p "$NVMET/hosts/$HOSTNQN1" "$NVMET/hosts/$HOSTNQN2"
  s=$NVMET/subsystems/$SUBNQN
  mkdir "$s" || return 1
  echo 0 > "$s/attr_allow_any_host"
  echo "$SERIAL" > "$s/attr_serial" || return 1
  echo "$MODEL" > "$s/attr_model" 2>/dev/null || echo "attr_model not settable on this kernel"
  ln -s "$NVMET/hosts/$HOSTNQN1" "$s/allowed_hosts/$HOSTNQN1"
  ln -s "$NVMET/hosts/$HOSTNQN2" "$s/allowed_hosts/$HOSTNQN2"
  ref_ns "$NS1_NSID" "$REF_NULLB_DEV" "$NS1_UUID" "$NS1_NGUID" 0 || { echo "namespace $NS1_NSID setup failed"; return 1; }
  ref_ns "$NS2_NSID" "$REF_FILE" "$NS2_UUID" "$NS2_NGUID" 1 || { echo "namespace $NS2_NSID setup failed"; return 1; }
  ref_port_up
}

ref_stop() {
  ref_port_down 2>/dev/null
  s=$NVMET/subsystems/$SUBNQN
  for n in "$s"/namespaces/*; do
    [ -d "$n" ] || continue
    echo 0 > "$n/enable"
    rmdir "$n"
  done
  rm -f "$s"/allowed_hosts/*
  rmdir "$s"
  rmdir "$NVMET/hosts/$HOSTNQN1" "$NVMET/hosts/$HOSTNQN2"
  return 0
}

ref_dump_config() { # what the kernel target runs with, for the reference data
  for f in $(find "$NVMET" -type f | sort); do
    case "$f" in */passthru/*|*/dhchap*|*/ana_groups/*/*) continue ;; esac
    echo "${f#$NVMET/} = $(cat "$f" 2>/dev/null | head -n 1)"
  done
}

ref_action() {
  case "$1" in
    restart-target) ref_stop && ref_start ;;
    kill-target) ref_port_down ;;
    start-target) ref_port_up ;;
    *) echo "unknown action $1"; return 1 ;;
  esac
}
