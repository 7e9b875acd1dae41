# DH-HMAC-CHAP beyond scn_dhchap (sourced by scenarios.sh; busybox ash): hosts 8-10 of nvmetd's config
# each offer one hash and one DH group (host 8: SHA-256, ffdhe2048, unidirectional; host 9: SHA-512,
# the null group, bidirectional; host 10: defaults, re-keyed live). What the transaction negotiated is
# read from nvmetd's log by the runner (auth-log): "n=N hash=H dhgroup=G", N counting the host's
# successful authentications (one per queue). Hosts 8-10 see namespace 1 only.

auth_needs() {
  [ "$MODE" = reference ] && skip "the kernel target runs without host secrets in this suite"
  [ -d /sys/module/nvme_auth ] || skip "this kernel is built without NVMe in-band authentication (CONFIG_NVME_AUTH; Debian bookworm's 6.1): run with --release trixie"
  disconnect_all # nvme-cli 2.3 answers "already connected" for a second connection to the same target
}

# Sets AUTH_N, AUTH_HASH, AUTH_DHGROUP from the target's log for the host.
auth_log() { # hostnqn
  request "auth-log $1" > /tmp/authlog.out 2>&1 || die "auth-log: $(tail -n 1 /tmp/authlog.out)"
  r=$(cat /tmp/ack.rest)
  AUTH_N=$(echo "$r" | sed -n 's/^n=\([0-9]*\) .*/\1/p')
  AUTH_HASH=$(echo "$r" | sed -n 's/.* hash=\([^ ]*\).*/\1/p')
  AUTH_DHGROUP=$(echo "$r" | sed -n 's/.* dhgroup=\([^ ]*\).*/\1/p')
  [ -n "$AUTH_N" ] || die "auth-log answered '$r'"
}

# Connects with the secrets given, checks the target authenticated this connection with the hash and
# group expected, moves 1 MiB verified, disconnects.
auth_connect_verify() { # hostnqn hostid hash dhgroup offset_mib nvme-connect-args...
  hq=$1; hid=$2; want_hash=$3; want_group=$4; off=$5; shift 5
  auth_log "$hq"; n0=$AUTH_N
  WAIT_NSIDS=$NS1_NSID connect "$hq" "$hid" "$@" || die "$(cat /tmp/connect.err)"
  auth_log "$hq"
  [ "$AUTH_N" -gt "$n0" ] || die "connected, but nvmetd logged no authentication of $hq (n=$AUTH_N before and after)"
  [ "$AUTH_HASH" = "$want_hash" ] && [ "$AUTH_DHGROUP" = "$want_group" ] ||
    die "negotiated $AUTH_HASH/$AUTH_DHGROUP, the target offers only $want_hash/$want_group"
  verify_mib "$(dev1)" $((off * MiB)) au || die "1 MiB read back differs after authenticating"
  disconnect_ctrl "$CTRL" || die "cannot disconnect the authenticated controller"
  note "$AUTH_HASH, $AUTH_DHGROUP: $((AUTH_N - n0)) queues authenticated, 1 MiB verified"
}

# Unidirectional (no controller secret), SHA-256 with ffdhe2048.
scn_dhchap_uni_ffdhe2048() {
  auth_needs
  auth_connect_verify "$HOSTNQN8" "$HOSTID8" sha256 ffdhe2048 210 --dhchap-secret "$DHCHAP_KEY8"
}

# Bidirectional, SHA-512 with the null group (no DH exchange).
scn_dhchap_bi_sha512_null() {
  auth_needs
  auth_connect_verify "$HOSTNQN9" "$HOSTID9" sha512 null 212 --dhchap-secret "$DHCHAP_KEY9" --dhchap-ctrl-secret "$DHCHAP_CTRL9"
}

# A host with a configured secret connecting without one gets no controller.
scn_dhchap_no_secret() {
  auth_needs
  auth_log "$HOSTNQN9"; n0=$AUTH_N
  echo "+ nvme connect ... -q $HOSTNQN9 (the target has a secret for it; none given)"
  nvme connect -t tcp -a "$TADDR" -s "$TPORT" -n "$SUBNQN" -q "$HOSTNQN9" -I "$HOSTID9" > /tmp/ns.out 2>&1
  rc=$?
  cat /tmp/ns.out
  grep -q 'already connected' /tmp/ns.out && die "nvme-cli refused on its own (already connected), the target was not asked"
  c=$(find_ctrl "$HOSTNQN9") && { disconnect_ctrl "$c"; die "a host without its secret got controller $c"; }
  [ $rc -ne 0 ] || die "nvme connect without a secret exited 0"
  auth_log "$HOSTNQN9"
  [ "$AUTH_N" = "$n0" ] || die "nvmetd logged an authentication of $HOSTNQN9 that had no secret"
  why=$(dmesg | grep -i -E 'auth|key' | tail -n 1 | head -c 120)
  # The refusal left the target usable: the same host with its secrets gets in.
  auth_connect_verify "$HOSTNQN9" "$HOSTID9" sha512 null 214 --dhchap-secret "$DHCHAP_KEY9" --dhchap-ctrl-secret "$DHCHAP_CTRL9"
  note "no secret refused ($why | $(tr '\n' ' ' < /tmp/ns.out | head -c 100)); with it: $(cat /tmp/note)"
}

# Re-authentication: the target gets host 10's new secret (keyring_file_add_key + nvmf_subsystem_set_keys),
# then the Linux host does (sysfs dhchap_secret), which makes it authenticate every queue again.
REAUTH_KEY=interop-reauth10
reauth_body() {
  auth_log "$HOSTNQN10"; n0=$AUTH_N
  WAIT_NSIDS=$NS1_NSID connect "$HOSTNQN10" "$HOSTID10" --dhchap-secret "$DHCHAP_KEY10" || die "$(cat /tmp/connect.err)"
  c=$CTRL
  verify_mib "$(dev1)" $((216 * MiB)) ra || die "1 MiB read back differs after authenticating"
  auth_log "$HOSTNQN10"; n1=$AUTH_N
  [ "$n1" -gt "$n0" ] || die "connected, but nvmetd logged no authentication of host 10"
  must_rpc keyring_file_add_key "{\"name\":\"$REAUTH_KEY\",\"path\":\"$REAUTH_KEYFILE\"}"
  must_rpc nvmf_subsystem_set_keys "{\"nqn\":\"$SUBNQN\",\"host\":\"$HOSTNQN10\",\"dhchap_key\":\"$REAUTH_KEY\"}"
  echo "+ echo <new secret> > /sys/class/nvme/$c/dhchap_secret"
  printf '%s' "$DHCHAP_NEW10" > "/sys/class/nvme/$c/dhchap_secret" || die "the host refused the new secret in /sys/class/nvme/$c/dhchap_secret"
  [ "$(cat "/sys/class/nvme/$c/dhchap_secret")" = "$DHCHAP_NEW10" ] || die "/sys/class/nvme/$c/dhchap_secret does not hold the new secret"
  t0=$(date +%s)
  i=0
  while [ $i -lt 20 ]; do
    auth_log "$HOSTNQN10"
    [ "$AUTH_N" -ge $((n1 + n1 - n0)) ] && break
    sleep 1; i=$((i + 1))
  done
  [ "$AUTH_N" -gt "$n1" ] || die "no re-authentication in nvmetd's log 20s after the new secret (n=$AUTH_N)"
  [ "$AUTH_N" -ge $((n1 + n1 - n0)) ] || die "only $((AUTH_N - n1)) of the $((n1 - n0)) queues authenticated again within 20s"
  secs=$(( $(date +%s) - t0 ))
  dmesg | grep -i auth | tail -n 3
  [ "$(find_ctrl "$HOSTNQN10")" = "$c" ] && [ "$(ctrl_state "$c")" = live ] || die "controller $c is $(ctrl_state "$c") after re-authentication"
  verify_mib "$(dev1)" $((218 * MiB)) rb || die "1 MiB read back differs after re-authenticating"
  note "$c re-authenticated with the new secret in ${secs}s ($((AUTH_N - n1)) queues, $((n1 - n0)) at connect), still live, 1 MiB verified before and after"
}
reauth_cleanup() {
  c=$(find_ctrl "$HOSTNQN10") && disconnect_ctrl "$c"
  rpc nvmf_subsystem_set_keys "{\"nqn\":\"$SUBNQN\",\"host\":\"$HOSTNQN10\"}"
  rpc keyring_file_remove_key "{\"name\":\"$REAUTH_KEY\"}"
}
scn_dhchap_reauth() {
  auth_needs
  with_cleanup reauth_body reauth_cleanup
}

# In-band authentication (DH-HMAC-CHAP) by the Linux host: a wrong secret is refused, the right one
# (bidirectional: the host checks the controller's secret too) connects and moves verified data.
scn_dhchap() {
  [ "$MODE" = reference ] && skip "the kernel target runs without host secrets in this suite"
  # The option parser knows dhchap_secret either way; the host side exists only with CONFIG_NVME_AUTH.
  [ -d /sys/module/nvme_auth ] || skip "this kernel is built without NVMe in-band authentication (CONFIG_NVME_AUTH; Debian bookworm's 6.1): run with --release trixie"
  disconnect_all # nvme-cli 2.3 answers "already connected" for a second connection to the same target
  echo "+ nvme connect ... -q $HOSTNQN4 --dhchap-secret <a secret the target does not know>"
  nvme connect -t tcp -a "$TADDR" -s "$TPORT" -n "$SUBNQN" -q "$HOSTNQN4" -I "$HOSTID4" --dhchap-secret "$DHCHAP_WRONG4" > /tmp/dh.out 2>&1
  rc=$?
  cat /tmp/dh.out
  c=$(find_ctrl "$HOSTNQN4") && { disconnect_ctrl "$c"; die "a wrong DH-HMAC-CHAP secret got controller $c"; }
  [ $rc -ne 0 ] || die "nvme connect with a wrong secret exited 0"
  refused=$(dmesg | grep -i -E 'auth|dhchap' | tail -n 1 | head -c 120)
  must_connect "$HOSTNQN4" "$HOSTID4" --dhchap-secret "$DHCHAP_KEY4" --dhchap-ctrl-secret "$DHCHAP_CTRL4"
  make_pattern /tmp/dh.x $MiB
  write_pattern "$(dev1)" /tmp/dh.x $((200 * MiB)) 65536
  read_region "$(dev1)" $((200 * MiB)) $MiB 65536 /tmp/dh.r
  [ "$(md5 /tmp/dh.x)" = "$(md5 /tmp/dh.r)" ] || die "1 MiB read back differs after authenticating"
  disconnect_ctrl "$CTRL" || die "cannot disconnect the authenticated controller"
  note "wrong secret refused ($refused); bidirectional DH-HMAC-CHAP connect, 1 MiB verified"
}
