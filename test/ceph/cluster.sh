#!/usr/bin/env bash
# A single-node Ceph cluster on loopback, for the rbd backend's tests and for trying nvmetd as a gateway:
# one monitor, one manager, one BlueStore OSD on a sparse file, cephx on, pool size 1.
#
#   test/ceph/cluster.sh up [DIR]      install Debian's packages if missing, start, create pool + image
#   test/ceph/cluster.sh down [DIR]    stop the daemons and remove DIR
#   test/ceph/cluster.sh status [DIR]  `ceph -s`
#
# DIR defaults to $NVMETD_CEPH_DIR or /tmp/nvmetd-ceph. After `up`, DIR/env holds CEPH_CONF, the pool and
# the image name, for tests: `. DIR/env`. Pool: $NVMETD_CEPH_POOL (nvmetd), image: $NVMETD_CEPH_IMAGE
# (nvmetd-test, $NVMETD_CEPH_IMAGE_SIZE, default 256M). The OSD's file is sparse ($NVMETD_CEPH_OSD_SIZE,
# default 4G): it only takes the space written.
set -euo pipefail

cmd=${1:-up}
DIR=${2:-${NVMETD_CEPH_DIR:-/tmp/nvmetd-ceph}}
POOL=${NVMETD_CEPH_POOL:-nvmetd}
IMAGE=${NVMETD_CEPH_IMAGE:-nvmetd-test}
IMAGE_SIZE=${NVMETD_CEPH_IMAGE_SIZE:-256M}
OSD_SIZE=${NVMETD_CEPH_OSD_SIZE:-4G}
MON_PORT=${NVMETD_CEPH_MON_PORT:-}
CONF=$DIR/ceph.conf

say() { echo "ceph-cluster: $*" >&2; }

install_packages() {
  local missing=()
  for b in ceph-mon:ceph-mon ceph-mgr:ceph-mgr ceph-osd:ceph-osd ceph:ceph-common rbd:ceph-common; do
    command -v "${b%%:*}" > /dev/null || missing+=("${b#*:}")
  done
  [ -e /usr/lib/x86_64-linux-gnu/librbd.so.1 ] || [ -n "$(ldconfig -p 2>/dev/null | grep librbd.so.1)" ] || missing+=(librbd1)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || { say "missing ${missing[*]}: run as root, or apt-get install ${missing[*]}"; exit 1; }
  say "installing ${missing[*]} from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" > "${TMPDIR:-/tmp}/nvmetd-ceph-apt.log" 2>&1 || {
    apt-get update > /dev/null 2>&1 || true
    apt-get install -y --no-install-recommends "${missing[@]}" > "${TMPDIR:-/tmp}/nvmetd-ceph-apt.log" 2>&1 || {
      tail -n 20 "${TMPDIR:-/tmp}/nvmetd-ceph-apt.log" >&2; say "apt-get install failed"; exit 1; }
  }
}

ceph_() { ceph -c "$CONF" --connect-timeout 20 "$@"; }

stop_daemons() {
  [ -d "$DIR/run" ] || return 0
  for p in "$DIR"/run/*.pid; do
    [ -f "$p" ] || continue
    kill "$(cat "$p" 2>/dev/null)" 2>/dev/null || true
  done
  for _ in $(seq 1 50); do
    alive=0
    for p in "$DIR"/run/*.pid; do [ -f "$p" ] && kill -0 "$(cat "$p" 2>/dev/null)" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.2
  done
  for p in "$DIR"/run/*.pid; do [ -f "$p" ] && kill -9 "$(cat "$p" 2>/dev/null)" 2>/dev/null || true; done
}

up() {
  install_packages
  if [ -f "$DIR/env" ] && ceph_ health > /dev/null 2>&1; then say "already up in $DIR"; return 0; fi
  stop_daemons
  rm -rf "$DIR"
  mkdir -p "$DIR"/{run,log,mon/ceph-a,mgr/ceph-x,osd/ceph-0}
  # Another cluster (another DIR) may run here: take the first free monitor port from 6789 on.
  if [ -z "$MON_PORT" ]; then
    for p in $(seq 6789 6829); do
      (exec 3<>"/dev/tcp/127.0.0.1/$p") 2> /dev/null || { MON_PORT=$p; break; }
    done
    [ -n "$MON_PORT" ] || { say "no free monitor port in 6789-6829"; exit 1; }
  fi
  local fsid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$CONF" <<EOF
[global]
fsid = $fsid
mon_host = v1:127.0.0.1:$MON_PORT
public_network = 127.0.0.0/8
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = $DIR/ceph.client.admin.keyring
run_dir = $DIR/run
pid_file = $DIR/run/\$name.pid
admin_socket = $DIR/run/\$name.asok
log_file = $DIR/log/\$name.log
ms_bind_msgr2 = false
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_allow_pool_delete = true
mon_data_avail_warn = 1
mon_data_avail_crit = 0
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
[mon]
mon_data = $DIR/mon/\$cluster-\$id
keyring = $DIR/mon/\$cluster-\$id/keyring
[mgr]
mgr_data = $DIR/mgr/\$cluster-\$id
keyring = $DIR/mgr/\$cluster-\$id/keyring
mgr_initial_modules =
[osd]
osd_data = $DIR/osd/\$cluster-\$id
keyring = $DIR/osd/\$cluster-\$id/keyring
osd_objectstore = bluestore
bluestore_block_size = $(numfmt --from=iec "$OSD_SIZE")
bluestore_block_create = true
osd_memory_target = 939524096
bluestore_cache_autotune = false
bluestore_cache_size = 134217728
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 2
EOF
  local t0=$SECONDS
  ceph-authtool --create-keyring "$DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' > /dev/null
  ceph-authtool --create-keyring "$DIR/ceph.client.admin.keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' > /dev/null
  ceph-authtool "$DIR/mon.keyring" --import-keyring "$DIR/ceph.client.admin.keyring" > /dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$MON_PORT]" "$DIR/monmap" > /dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/mon.keyring"
  ceph-mon -c "$CONF" -i a
  ceph_ auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' -o "$DIR/mgr/ceph-x/keyring" > /dev/null
  ceph-mgr -c "$CONF" -i x
  local uuid id
  uuid=$(cat /proc/sys/kernel/random/uuid)
  id=$(ceph_ osd new "$uuid")
  mkdir -p "$DIR/osd/ceph-$id"
  ceph-authtool --create-keyring "$DIR/osd/ceph-$id/keyring" --gen-key -n "osd.$id" > /dev/null
  ceph_ auth add "osd.$id" osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' -i "$DIR/osd/ceph-$id/keyring" > /dev/null 2>&1
  ceph-osd -c "$CONF" -i "$id" --mkfs --osd-uuid "$uuid" > "$DIR/log/osd-mkfs.log" 2>&1 || {
    tail -n 20 "$DIR/log/osd-mkfs.log" >&2; say "ceph-osd --mkfs failed"; exit 1; }
  ceph-osd -c "$CONF" -i "$id" 2> "$DIR/log/osd-start.log"
  ceph_ osd pool create "$POOL" 8 8 > /dev/null 2>&1
  ceph_ osd pool set "$POOL" size 1 --yes-i-really-mean-it > /dev/null 2>&1
  rbd -c "$CONF" pool init "$POOL"
  local i=0
  until rbd -c "$CONF" create --size "$IMAGE_SIZE" "$POOL/$IMAGE" 2> "$DIR/log/rbd-create.err"; do
    i=$((i + 1)); [ $i -lt 60 ] || { cat "$DIR/log/rbd-create.err" >&2; say "cannot create the image"; exit 1; }
    sleep 1
  done
  # The first write waits for the OSD to be up and its placement groups active.
  i=0
  until timeout 20 rbd -c "$CONF" bench --io-type write --io-size 4K --io-total 4K "$POOL/$IMAGE" > /dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 6 ] || { ceph_ -s >&2 || true; say "the OSD does not take writes"; exit 1; }
  done
  cat > "$DIR/env" <<EOF
export CEPH_CONF=$CONF
export NVMETD_CEPH_CONF=$CONF
export NVMETD_CEPH_POOL=$POOL
export NVMETD_CEPH_IMAGE=$IMAGE
export NVMETD_CEPH_USER=admin
EOF
  say "up in $((SECONDS - t0)) s: $CONF, pool $POOL, image $IMAGE ($IMAGE_SIZE)"
}

down() {
  stop_daemons
  rm -rf "$DIR"
  say "down"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  status) ceph_ -s ;;
  *) echo "usage: $0 up|down|status [DIR]" >&2; exit 2 ;;
esac
