# NVMe/TCP over TLS 1.3 scenarios (sourced by scenarios.sh; busybox ash).
# --- NVMe/TCP over TLS 1.3 (kernel 6.12+: tlshd does the handshake, kernel TLS the records) ---------
# The TLS port ($TLS_TPORT) requires TLS and offers $TLS_SUBNQN (one RAM namespace) to hosts 4 and 5.
DISC_NQN=nqn.2014-08.org.nvmexpress.discovery
tls_skip_reasons() {
  [ "$MODE" = reference ] && skip "the kernel target runs without TLS in this suite"
  command -v tlshd > /dev/null || skip "no tlshd (ktls-utils) in this guest image: run with --release trixie"
  [ -d /sys/module/nvme_keyring ] || skip "this kernel has no NVMe/TCP TLS (no nvme_keyring: CONFIG_NVME_TCP_TLS)"
}
# Once per boot: tlshd running, the PSKs of hosts 4 and 5 derived and inserted into the .nvme keyring
# by nvme-cli (identity version 0: what Linux 6.12 looks up by default), for the TLS subsystem and for
# the discovery subsystem.
tls_setup() {
  [ -f /tmp/tls.ready ] && return 0
  printf '[debug]\nloglevel=1\ntls=0\nnl=0\n\n[authenticate]\nkeyrings=.nvme\n' > /etc/tlshd.conf
  if ! pidof tlshd > /dev/null; then
    tlshd -s -c /etc/tlshd.conf >> /tmp/tlshd.log 2>&1 &
    sleep 1
    pidof tlshd > /dev/null || die "tlshd did not start: $(tail -n 5 /tmp/tlshd.log | tr '\n' ' ')"
  fi
  for h in 4 5; do
    eval "hq=\$HOSTNQN$h key=\$TLS_KEY$h"
    for sn in "$TLS_SUBNQN" "$DISC_NQN"; do
      echo "+ nvme check-tls-key --keydata <host $h key> --hostnqn $hq --subsysnqn $sn --identity 0 --insert"
      nvme check-tls-key --keydata "$key" --hostnqn "$hq" --subsysnqn "$sn" --identity 0 --insert 2>&1 ||
        die "nvme check-tls-key --insert failed for host $h / $sn"
    done
  done
  echo "+ nvme tls-key --export (the TLS PSKs libnvme derived, as the keyring holds them)"
  nvme tls-key --export 2>&1 | tee /tmp/art/tls-keyring.txt | sed 's/:[A-Za-z0-9+/=]*:$/:<key>:/'
  : > /tmp/tls.ready
}
find_tls_ctrl() { # hostnqn
  for d in /sys/class/nvme/nvme*; do
    [ "$(cat "$d/subsysnqn" 2>/dev/null)" = "$TLS_SUBNQN" ] && [ "$(cat "$d/hostnqn" 2>/dev/null)" = "$1" ] && { echo "${d##*/}"; return 0; }
  done
  return 1
}
# nvme connect --tls to the TLS subsystem; sets CTRL and TDEV (its namespace 1).
tls_connect() { # hostnqn hostid [args...]
  hq=$1; hid=$2; shift 2
  echo "+ nvme connect -t tcp -a $TADDR -s $TLS_TPORT -n $TLS_SUBNQN -q $hq -I $hid --tls $*"
  nvme connect -t tcp -a "$TADDR" -s "$TLS_TPORT" -n "$TLS_SUBNQN" -q "$hq" -I "$hid" --tls "$@" > /tmp/tconn.out 2>&1
  rc=$?
  cat /tmp/tconn.out
  [ $rc -eq 0 ] || { echo "nvme connect --tls: exit $rc: $(tr '\n' ' ' < /tmp/tconn.out) | tlshd: $(tail -n 3 /tmp/tlshd.log | tr '\n' ' ')" > /tmp/connect.err; return 1; }
  CTRL=""; TDEV=""; i=0
  while [ $i -lt 30 ]; do
    CTRL=$(find_tls_ctrl "$hq") && [ "$(ctrl_state "$CTRL")" = live ] && TDEV=$(ns_dev "$CTRL" 1) && return 0
    sleep 1; i=$((i + 1))
  done
  echo "no live controller with namespace 1 for $hq on $TLS_SUBNQN (ctrl '$CTRL')" > /tmp/connect.err
  return 1
}
tls_verify_1m() { # label: 1 MiB written and read back at 8 MiB
  make_pattern /tmp/tls.x $MiB
  write_pattern "$TDEV" /tmp/tls.x $((8 * MiB)) 65536
  read_region "$TDEV" $((8 * MiB)) $MiB 65536 /tmp/tls.r
  [ "$(md5 /tmp/tls.x)" = "$(md5 /tmp/tls.r)" ] || die "$1: 1 MiB read back differs"
}

scn_tls_connect() {
  tls_skip_reasons
  tls_setup
  tls_connect "$HOSTNQN5" "$HOSTID5" || die "$(cat /tmp/connect.err)"
  tls_verify_1m "TLS"
  run_fio tls-verify "$TDEV" randwrite 4k 0 8M || die "fio verify over TLS failed"
  tls=$(cat /sys/class/nvme/$CTRL/tls_key 2>/dev/null)
  disconnect_ctrl "$CTRL" || die "cannot disconnect the TLS controller"
  note "nvme connect --tls (tlshd, PSK from the .nvme keyring${tls:+, key $tls}): 1 MiB dd and 8 MiB fio verify"
}

scn_tls_discover() {
  tls_skip_reasons
  tls_setup
  # Plain discovery (port $TPORT) lists the TLS port with TSAS TLS 1.3 and TREQ required.
  echo "+ nvme discover -t tcp -a $TADDR -s $TPORT -q $HOSTNQN5 -o json"
  nvme discover -t tcp -a "$TADDR" -s "$TPORT" -q "$HOSTNQN5" -I "$HOSTID5" -o json > /tmp/art/tls-discover-plain.json 2>&1 ||
    die "plain nvme discover failed: $(head -c 300 /tmp/art/tls-discover-plain.json)"
  cat /tmp/art/tls-discover-plain.json
  tr -d '\n ' < /tmp/art/tls-discover-plain.json | grep -o "{[^{}]*\"subnqn\":\"$TLS_SUBNQN\"[^{}]*}" > /tmp/tls.rec
  [ -s /tmp/tls.rec ] || die "the discovery log has no entry for $TLS_SUBNQN"
  grep -q "\"trsvcid\":\"$TLS_TPORT\"" /tmp/tls.rec || die "the $TLS_SUBNQN entry is not on port $TLS_TPORT: $(cat /tmp/tls.rec)"
  grep -q '"sectype":"tls13"' /tmp/tls.rec || die "the TLS port's entry does not say TSAS tls13: $(cat /tmp/tls.rec)"
  grep -q '"treq":"required' /tmp/tls.rec || die "the TLS port's entry does not say TREQ required: $(cat /tmp/tls.rec)"
  # Discovery over TLS on the TLS port itself (its discovery controller requires TLS too).
  echo "+ nvme discover -t tcp -a $TADDR -s $TLS_TPORT -q $HOSTNQN5 --tls"
  nvme discover -t tcp -a "$TADDR" -s "$TLS_TPORT" -q "$HOSTNQN5" -I "$HOSTID5" --tls > /tmp/art/tls-discover-tls.txt 2>&1 ||
    die "nvme discover --tls failed: $(tr '\n' ' ' < /tmp/art/tls-discover-tls.txt | head -c 300) | tlshd: $(tail -n 3 /tmp/tlshd.log | tr '\n' ' ')"
  cat /tmp/art/tls-discover-tls.txt
  grep -q "$TLS_SUBNQN" /tmp/art/tls-discover-tls.txt || die "discovery over TLS does not list $TLS_SUBNQN"
  note "plain log: $(cat /tmp/tls.rec | grep -o '"treq":"[^"]*"\|"sectype":"[^"]*"' | tr '\n' ' ')| discover --tls on $TLS_TPORT lists $TLS_SUBNQN"
}

# The target's default derivation (TP 8018, RFC 8446 HKDF labels) with the Linux host: host 6's TLS PSK
# is derived on the test machine and imported as is (`nvme tls-key --import`), as libnvme 1.16+ would
# have inserted it; the guest's older libnvme derives the compat way, which hosts 4 and 5 use.
scn_tls_rfc8446() {
  tls_skip_reasons
  tls_setup
  printf '%s\n' "$TLS_IMPORT6" > /tmp/tls6.keys
  echo "+ nvme tls-key --import --keyfile /tmp/tls6.keys  (${TLS_IMPORT6% *} <key>)"
  nvme tls-key --import --keyfile /tmp/tls6.keys 2>&1 || die "nvme tls-key --import failed"
  tls_connect "$HOSTNQN6" "$HOSTID6" || die "$(cat /tmp/connect.err)"
  tls_verify_1m "TLS (RFC 8446 derivation)"
  disconnect_ctrl "$CTRL" || die "cannot disconnect"
  note "RFC 8446-derived PSK (nvmetd's default) in the .nvme keyring: nvme connect --tls, 1 MiB verified"
}

# A SHA-384 PSK (NVMeTLSkey-1:02, made by nvmetd's generator) for host 11: inserted by nvme-cli as
# tls-connect's are (identity NVMe0R02 ...), so tlshd offers TLS_AES_256_GCM_SHA384 with it. Skipped,
# with the reason, where tlshd cannot bind a SHA-384 PSK (see below).
scn_tls_sha384() {
  tls_skip_reasons
  tls_setup
  echo "+ nvme check-tls-key --keydata <host 11 key: NVMeTLSkey-1:$(echo "$TLS_KEY11" | cut -d: -f2):...> --hostnqn $HOSTNQN11 --subsysnqn $TLS_SUBNQN --identity 0 --insert"
  nvme check-tls-key --keydata "$TLS_KEY11" --hostnqn "$HOSTNQN11" --subsysnqn "$TLS_SUBNQN" --identity 0 --insert 2>&1 ||
    die "nvme check-tls-key --insert failed for the SHA-384 key of host 11"
  nvme tls-key --export 2>&1 | grep -o 'NVMe0R02 [^ ]* [^ ]*' | head -n 1
  if ! tls_connect "$HOSTNQN11" "$HOSTID11"; then
    # tlshd binds the PSK with the hash of its identity only when built on a GnuTLS that has
    # gnutls_psk_allocate_client_credentials2; without it every PSK gets a SHA-256 binder, which a
    # TLS_AES_256_GCM_SHA384 session cannot verify (nvmetd logs "binds its SHA-384 PSK with a binder
    # of another hash"). Debian 13's tlshd 1.0 is built that way.
    grep -q gnutls_psk_allocate_client_credentials2 "$(command -v tlshd)" ||
      skip "this tlshd cannot use SHA-384 PSKs (built without gnutls_psk_allocate_client_credentials2: it offers TLS_AES_256_GCM_SHA384 with a SHA-256 binder); $(cat /tmp/connect.err)"
    die "$(cat /tmp/connect.err)"
  fi
  tls_verify_1m "TLS with a SHA-384 PSK"
  tls=$(cat /sys/class/nvme/$CTRL/tls_key 2>/dev/null)
  disconnect_ctrl "$CTRL" || die "cannot disconnect"
  note "SHA-384 PSK (NVMe0R02 identity${tls:+, key $tls}, TLS_AES_256_GCM_SHA384): nvme connect --tls, 1 MiB verified"
}

scn_tls_plain_refused() {
  tls_skip_reasons
  disconnect_all
  echo "+ nvme connect -t tcp -a $TADDR -s $TLS_TPORT -n $TLS_SUBNQN -q $HOSTNQN5 (no --tls)"
  nvme connect -t tcp -a "$TADDR" -s "$TLS_TPORT" -n "$TLS_SUBNQN" -q "$HOSTNQN5" -I "$HOSTID5" > /tmp/tp.out 2>&1
  rc=$?
  cat /tmp/tp.out
  dmesg | tail -n 5
  c=$(find_tls_ctrl "$HOSTNQN5") && { disconnect_ctrl "$c"; die "a plain connection to the TLS-only port got controller $c"; }
  [ $rc -ne 0 ] || die "a plain nvme connect to the TLS-only port exited 0"
  note "refused: $(tr '\n' ' ' < /tmp/tp.out | head -c 120) | $(dmesg | grep -i nvme | tail -n 1 | head -c 120)"
}

scn_tls_dhchap() {
  tls_skip_reasons
  [ -d /sys/module/nvme_auth ] || skip "this kernel is built without NVMe in-band authentication"
  tls_setup
  tls_connect "$HOSTNQN4" "$HOSTID4" --dhchap-secret "$DHCHAP_KEY4" --dhchap-ctrl-secret "$DHCHAP_CTRL4" || die "$(cat /tmp/connect.err)"
  tls_verify_1m "TLS + DH-HMAC-CHAP"
  disconnect_ctrl "$CTRL" || die "cannot disconnect"
  note "TLS and bidirectional DH-HMAC-CHAP on one connection, 1 MiB verified"
}
