# High-availability scenarios (sourced by scenarios.sh after lib.sh and live.sh): reservations, reservation
# preempt, reservations kept across a target restart (PTPL), Copy and Verify, per-host namespace masking.
# Reservations use host IDs 1 and 2 one at a time (resv_host, resv_cmd below; see
# shared-namespace for why every controller is dropped between hosts). Registrations are kept by Host
# Identifier (and, with PTPL, across restarts), so each scenario clears them on the way out, failed or not.

RK1=4369 # 0x1111, host 1's reservation key
RK2=8738 # 0x2222, host 2's
# The keys as an extended report shows them: 8 bytes, little-endian, in hex (busybox od has no u8).
RK1X=1111000000000000
RK2X=2222000000000000

hostid_hex() { echo "$1" | tr -d '-'; } # a Host Identifier as the report's bytes print
# nvme resv-report --eds -b into a file (dies when the command fails).
resv_report() { # dev nsid file
  nvme resv-report "$1" -n "$2" --eds -b > "$3" 2> /tmp/rr.err || die "resv-report failed: $(tr '\n' ' ' < /tmp/rr.err)"
  nvme resv-report "$1" -n "$2" --eds 2>&1 | head -n 40
}
rb_u8() { od -A n -t u1 -j "$2" -N 1 "$1" | tr -d ' '; } # file offset
rb_hex() { od -A n -t x1 -j "$2" -N "$3" "$1" | tr -d ' \n'; } # file offset bytes
# The registrants of an extended report, one line each, sorted: "key hostid holder".
rb_registrants() { # file
  _n=$(rb_u8 "$1" 5); _i=0
  while [ "$_i" -lt "$_n" ]; do
    _o=$((64 + 64 * _i))
    echo "$(rb_hex "$1" $((_o + 8)) 8) $(rb_hex "$1" $((_o + 16)) 16) $(rb_u8 "$1" $((_o + 2)))"
    _i=$((_i + 1))
  done | sort
}
# A write of one block by the connected host that must fail with Reservation Conflict.
write_conflicts() { # dev lba bs who
  head -c "$3" /dev/zero > /tmp/wc.z
  echo "+ nvme write $1 -s $2 -c 0 -z $3 ($4, expect a reservation conflict)"
  nvme write "$1" -s "$2" -c 0 -z "$3" -d /tmp/wc.z > /tmp/wc.out 2>&1 && die "$4: the write succeeded"
  cat /tmp/wc.out
  grep -qiE 'RESERVATION_CONFLICT|Reservation Conflict' /tmp/wc.out || die "$4: the write failed, but not with Reservation Conflict: $(tr '\n' ' ' < /tmp/wc.out)"
}
expect_conflict() { # description command...: the command must fail with Reservation Conflict
  _what=$1; shift
  echo "+ $* (expect a reservation conflict)"
  "$@" > /tmp/ec.out 2>&1 && die "$_what succeeded"
  cat /tmp/ec.out
  grep -qiE 'RESERVATION_CONFLICT|Reservation Conflict' /tmp/ec.out || die "$_what failed, but not with Reservation Conflict: $(tr '\n' ' ' < /tmp/ec.out)"
}
# Every registration on namespace 1 cleared and PTPL off, whatever state a failed scenario left:
# host 1 registers (a no-op when it already is with RK1), clears, turns the persistence feature off.
resv_reset() {
  disconnect_all
  connect "$HOSTNQN1" "$HOSTID1" --raw || { echo "cleanup: $(cat /tmp/connect.err)"; return 1; }
  _d=$(dev1)
  nvme resv-register "$_d" -n "$NS1_NSID" --nrkey=$RK1 --rrega=0 2>&1
  nvme resv-release "$_d" -n "$NS1_NSID" --crkey=$RK1 --rrela=1 2>&1
  [ "$MODE" = nvmetd ] && nvme set-feature "$_d" -n "$NS1_NSID" -f 0x83 -v 0 2>&1
  nvme resv-report "$_d" -n "$NS1_NSID" --eds -b > /tmp/rz.bin 2>/dev/null
  echo "cleanup: $(rb_u8 /tmp/rz.bin 5) registrant(s), ptpls $(rb_u8 /tmp/rz.bin 9)"
  disconnect_all
}

# --- reservations-preempt: host 2 takes host 1's reservation ----------------------------------------
preempt_body() {
  n=$NS1_NSID
  resv_host 1
  d=$(dev1); bs=$(cat /sys/block/${d#/dev/}/queue/logical_block_size); lba=$((152 * MiB / bs))
  resv_cmd "host 1 resv-register" nvme resv-register "$d" -n "$n" --nrkey=$RK1 --rrega=0
  resv_cmd "host 1 resv-acquire write exclusive" nvme resv-acquire "$d" -n "$n" --crkey=$RK1 --rtype=1 --racqa=0
  resv_host 2
  d=$(dev1)
  resv_cmd "host 2 resv-register" nvme resv-register "$d" -n "$n" --nrkey=$RK2 --rrega=0
  write_conflicts "$d" "$lba" "$bs" "host 2 before the preempt"
  expect_conflict "a preempt naming a key nobody holds" nvme resv-acquire "$d" -n "$n" --crkey=$RK2 --prkey=39321 --rtype=3 --racqa=1
  # Preempt: host 1's registration goes, host 2 holds a write-exclusive-registrants-only reservation.
  resv_cmd "host 2 preempts host 1 (racqa=1)" nvme resv-acquire "$d" -n "$n" --crkey=$RK2 --prkey=$RK1 --rtype=3 --racqa=1
  resv_report "$d" "$n" /tmp/pe.bin
  [ "$(rb_u8 /tmp/pe.bin 4)" = 3 ] || die "after the preempt: rtype $(rb_u8 /tmp/pe.bin 4), expected 3 (write exclusive, registrants only)"
  regs=$(rb_registrants /tmp/pe.bin)
  [ "$regs" = "$RK2X $(hostid_hex "$HOSTID2") 1" ] || die "after the preempt the registrants are '$regs', expected host 2 alone, holding (key $RK2)"
  resv_cmd "host 2 writes as the holder" nvme write "$d" -s "$lba" -c 0 -z "$bs" -d /tmp/wc.z
  resv_host 1
  d=$(dev1)
  write_conflicts "$d" "$lba" "$bs" "host 1, preempted"
  expect_conflict "host 1's release with its preempted key" nvme resv-release "$d" -n "$n" --crkey=$RK1 --rtype=3 --rrela=0
  resv_report "$d" "$n" /tmp/pe.bin
  regs=$(rb_registrants /tmp/pe.bin)
  [ "$regs" = "$RK2X $(hostid_hex "$HOSTID2") 1" ] || die "host 1 sees registrants '$regs', expected host 2 alone"
  # Registered again, host 1 may write under a registrants-only reservation.
  resv_cmd "host 1 registers again" nvme resv-register "$d" -n "$n" --nrkey=$RK1 --rrega=0
  resv_cmd "host 1 writes as a registrant" nvme write "$d" -s "$lba" -c 0 -z "$bs" -d /tmp/wc.z
  resv_cmd "host 1 clears" nvme resv-release "$d" -n "$n" --crkey=$RK1 --rrela=1
  resv_report "$d" "$n" /tmp/pe.bin
  [ "$(rb_u8 /tmp/pe.bin 5) $(rb_u8 /tmp/pe.bin 4)" = "0 0" ] || die "registrants or a reservation left after the clear"
  note "host 2 preempted host 1 (write exclusive -> registrants only): host 1 unregistered, its writes and release refused (Reservation Conflict); a preempt of an unknown key refused"
}
scn_reservations_preempt() { with_cleanup preempt_body resv_reset; }

# --- reservations-ptpl: a write-exclusive reservation kept across a target restart -------------------
# The Reservation Persistence feature's current value of namespace 1, into PTPL_V (0 or 1). nvme-cli
# prints it as "Current value:00000001" (2.3) or with a 0x prefix.
ptpl_get() { # dev
  nvme get-feature "$1" -n "$NS1_NSID" -f 0x83 > /tmp/gf.out 2>&1 || die "get-feature 0x83 failed: $(tr '\n' ' ' < /tmp/gf.out)"
  cat /tmp/gf.out
  _v=$(sed -n 's/.*[Vv]alue: *\(0x\)\{0,1\}\([0-9a-fA-F][0-9a-fA-F]*\).*/\2/p' /tmp/gf.out | head -n 1)
  [ -n "$_v" ] || die "cannot read get-feature 0x83's value: $(tr '\n' ' ' < /tmp/gf.out)"
  PTPL_V=$((0x$_v))
}
expect_ptpl() { # dev value why
  ptpl_get "$1"
  [ "$PTPL_V" = "$2" ] || die "get-feature 0x83 (Reservation Persistence) is $PTPL_V $3, expected $2"
}
ptpl_body() {
  n=$NS1_NSID
  resv_host 1
  d=$(dev1); bs=$(cat /sys/block/${d#/dev/}/queue/logical_block_size); lba=$((154 * MiB / bs))
  expect_ptpl "$d" 0 "before the scenario"
  resv_cmd "host 1 resv-register, persist through power loss (cptpl=3)" nvme resv-register "$d" -n "$n" --nrkey=$RK1 --rrega=0 --cptpl=3
  resv_cmd "host 1 resv-acquire write exclusive" nvme resv-acquire "$d" -n "$n" --crkey=$RK1 --rtype=1 --racqa=0
  expect_ptpl "$d" 1 "after Register with cptpl=3"
  resv_host 2
  d=$(dev1)
  resv_cmd "host 2 resv-register" nvme resv-register "$d" -n "$n" --nrkey=$RK2 --rrega=0
  resv_report "$d" "$n" /tmp/pt0.bin
  [ "$(rb_u8 /tmp/pt0.bin 9)" = 1 ] || die "resv-report: PTPLS $(rb_u8 /tmp/pt0.bin 9), expected 1"
  gen=$(rb_hex /tmp/pt0.bin 0 4); regs=$(rb_registrants /tmp/pt0.bin)
  disconnect_all
  request restart-target || die "the target could not be restarted"
  resv_host 1
  d=$(dev1)
  resv_report "$d" "$n" /tmp/pt1.bin
  [ "$(rb_u8 /tmp/pt1.bin 4)" = 1 ] || die "after the restart: rtype $(rb_u8 /tmp/pt1.bin 4), expected 1 (write exclusive)"
  [ "$(rb_u8 /tmp/pt1.bin 9)" = 1 ] || die "after the restart: PTPLS $(rb_u8 /tmp/pt1.bin 9), expected 1"
  [ "$(rb_hex /tmp/pt1.bin 0 4)" = "$gen" ] || die "after the restart: generation $(rb_hex /tmp/pt1.bin 0 4), was $gen"
  after=$(rb_registrants /tmp/pt1.bin)
  [ "$after" = "$regs" ] || die "after the restart the registrants are '$(echo $after)', were '$(echo $regs)'"
  echo "$after" | grep -qx "$RK1X $(hostid_hex "$HOSTID1") 1" || die "host 1 no longer holds the reservation after the restart: '$(echo $after)'"
  expect_ptpl "$d" 1 "after the restart"
  resv_host 2
  d=$(dev1)
  write_conflicts "$d" "$lba" "$bs" "host 2 after the restart"
  # Reads stay allowed under write exclusive (namespace 1 is RAM: its data did not survive the restart).
  echo "+ dd if=$d iflag=direct (host 2 reads under the restored reservation)"
  dd if="$d" of=/tmp/pt.r bs=4096 skip=$((154 * MiB / 4096)) count=1 iflag=direct > /tmp/pt.dd 2>&1 && [ "$(wc -c < /tmp/pt.r)" -eq 4096 ] ||
    die "host 2 cannot read under the restored write-exclusive reservation: $(tr '\n' ' ' < /tmp/pt.dd)"
  resv_cmd "host 2 clears every registration" nvme resv-release "$d" -n "$n" --crkey=$RK2 --rrela=1
  resv_cmd "host 2 turns PTPL off (set-feature 0x83)" nvme set-feature "$d" -n "$n" -f 0x83 -v 0
  expect_ptpl "$d" 0 "after set-feature 0"
  gen=$((0x$(echo "$gen" | sed 's/\(..\)\(..\)\(..\)\(..\)/\4\3\2\1/')))
  note "registrations, host 1's write-exclusive reservation, generation $gen and PTPLS kept across the restart; host 2's write refused after it"
}
scn_reservations_ptpl() {
  [ "$MODE" = reference ] && skip "the kernel target has no Persist Through Power Loss (and no reservations before 6.13)"
  with_cleanup ptpl_body resv_reset
}

# --- copy-verify: Copy (19h) and Verify (0Ch) with nvme-cli ------------------------------------------
json_num() { sed -n "s/.*\"$1\" *: *\([0-9]*\).*/\1/p" | head -n 1; } # field < json
copy_verify_on() { # nsid
  d=$(ns_dev "$CTRL" "$1"); b=${d#/dev/}
  bs=$(cat /sys/block/$b/queue/logical_block_size)
  nsze=$(( $(cat /sys/block/$b/size) * 512 / bs ))
  nvme id-ns "/dev/$CTRL" -n "$1" -o json > /tmp/cv.idns 2>&1
  lim="nsid $1: mssrl=$(json_num mssrl < /tmp/cv.idns) mcl=$(json_num mcl < /tmp/cv.idns) msrc=$(json_num msrc < /tmp/cv.idns)"
  echo "$lim"
  LIMS="${LIMS:+$LIMS; }$lim"
  src=$((160 * MiB / bs)); dst=$((164 * MiB / bs))
  make_pattern /tmp/cv.a $((8 * bs)); make_pattern /tmp/cv.b $((4 * bs)); make_pattern /tmp/cv.o $((16 * bs))
  write_pattern "$d" /tmp/cv.a $((src * bs)) "$bs"
  write_pattern "$d" /tmp/cv.b $(((src + 64) * bs)) "$bs"
  write_pattern "$d" /tmp/cv.o $((dst * bs)) "$bs"
  # Two source ranges (8 and 4 blocks; nvme-cli takes zeroes-based counts) to one destination.
  echo "+ nvme copy $d --sdlba=$dst --slbs=$src,$((src + 64)) --blocks=7,3"
  nvme copy "$d" --sdlba=$dst --slbs=$src,$((src + 64)) --blocks=7,3 > /tmp/cv.out 2>&1 || die "nvme copy on $d (nsid $1) failed: $(tr '\n' ' ' < /tmp/cv.out)"
  cat /tmp/cv.out
  read_region "$d" $((dst * bs)) $((16 * bs)) "$bs" /tmp/cv.r
  cat /tmp/cv.a /tmp/cv.b > /tmp/cv.x
  dd if=/tmp/cv.o bs="$bs" skip=12 count=4 2>/dev/null >> /tmp/cv.x
  cmp /tmp/cv.x /tmp/cv.r > /tmp/cv.cmp 2>&1 || die "$d (nsid $1, ${bs}-byte blocks): the copy's destination differs from its sources (or a neighbour changed): $(cat /tmp/cv.cmp)"
  echo "+ nvme verify $d -s $src -c 7"
  nvme verify "$d" -s "$src" -c 7 > /tmp/cv.v 2>&1 || die "nvme verify of 8 written blocks on $d (nsid $1) failed: $(tr '\n' ' ' < /tmp/cv.v)"
  cat /tmp/cv.v
  echo "+ nvme verify $d -s $((nsze - 4)) -c 7 (past the end of $nsze blocks)"
  nvme verify "$d" -s $((nsze - 4)) -c 7 > /tmp/cv.v 2>&1 && die "nvme verify past the end of $d (nsid $1) succeeded"
  cat /tmp/cv.v
  grep -qi 'LBA Out of Range\|LBA_RANGE' /tmp/cv.v || die "nvme verify past the end failed, but not with LBA Out of Range: $(tr '\n' ' ' < /tmp/cv.v)"
  echo "+ nvme copy $d --sdlba=$((nsze - 2)) --slbs=$src --blocks=7 (destination past the end)"
  nvme copy "$d" --sdlba=$((nsze - 2)) --slbs="$src" --blocks=7 > /tmp/cv.out 2>&1 && die "a copy to past the end of $d (nsid $1) succeeded"
  cat /tmp/cv.out
  grep -qi 'LBA Out of Range\|LBA_RANGE' /tmp/cv.out || die "a copy past the end failed, but not with LBA Out of Range: $(tr '\n' ' ' < /tmp/cv.out)"
}
scn_copy_verify() {
  for c in copy verify; do
    nvme help 2>&1 | grep -q "^ *$c " || skip "this guest's nvme-cli ($(nvme version 2>&1 | head -n 1)) has no '$c' command"
  done
  need_main
  oncs=$(nvme id-ctrl "/dev/$CTRL" -o json 2>/dev/null | json_num oncs)
  echo "ONCS=$oncs"
  if [ $(( ${oncs:-0} & 0x180 )) -ne $((0x180)) ]; then
    [ "$MODE" = reference ] && skip "the kernel target does not advertise Copy and Verify (ONCS=${oncs:-?})"
    die "ONCS=${oncs:-?}: Verify (bit 7) or Copy (bit 8) not advertised"
  fi
  copy_verify_on "$NS1_NSID"
  copy_verify_on "$NS2_NSID"
  note "2 ranges (8 + 4 blocks) copied and read back on both namespaces ($LIMS); verify ok on written blocks, verify and copy past the end: LBA Out of Range"
}

# Reservations from two hosts (host IDs 1 and 2), one at a time: registrations are kept by Host
# Identifier, so each phase connects only the host it needs and drops every controller afterwards
# (a multipath head is then always used through the controller that created it; see shared-namespace).
resv_host() { # 1|2
  disconnect_all
  if [ "$1" = 1 ]; then must_connect "$HOSTNQN1" "$HOSTID1" --raw; else must_connect "$HOSTNQN2" "$HOSTID2" --raw; fi
}
resv_cmd() { # description command...
  what=$1; shift
  echo "+ $*"
  "$@" > /tmp/resv.out 2>&1
  rc=$?
  cat /tmp/resv.out
  if [ $rc -ne 0 ] && grep -qiE 'INVALID_OPCODE|Invalid Command Opcode' /tmp/resv.out; then
    [ "$MODE" = reference ] && skip "the kernel target here has no reservations: $(tr '\n' ' ' < /tmp/resv.out)"
  fi
  [ $rc -eq 0 ] || die "$what failed: exit $rc: $(tr '\n' ' ' < /tmp/resv.out)"
}
scn_reservations() {
  n=$NS1_NSID
  resv_host 1
  d=$(dev1)
  resv_cmd "host 1 resv-register" nvme resv-register "$d" -n "$n" --nrkey=4369 --rrega=0
  resv_cmd "host 1 resv-acquire write exclusive" nvme resv-acquire "$d" -n "$n" --crkey=4369 --rtype=1 --racqa=0
  make_pattern /tmp/rv.p 4096
  write_pattern "$d" /tmp/rv.p $((150 * MiB)) 4096
  resv_host 2
  d=$(dev1)
  resv_cmd "host 2 resv-register" nvme resv-register "$d" -n "$n" --nrkey=8738 --rrega=0
  bs=$(cat /sys/block/${d#/dev/}/queue/logical_block_size)
  echo "+ nvme write $d -s $((150 * MiB / bs)) -c 0 -z $bs (host 2, expect a reservation conflict)"
  head -c "$bs" /dev/zero > /tmp/rv.z
  nvme write "$d" -s $((150 * MiB / bs)) -c 0 -z "$bs" -d /tmp/rv.z > /tmp/rv.w 2>&1 && die "host 2's write succeeded under host 1's write-exclusive reservation"
  cat /tmp/rv.w
  grep -qiE 'RESERVATION_CONFLICT|Reservation Conflict' /tmp/rv.w || die "host 2's write failed, but not with Reservation Conflict: $(tr '\n' ' ' < /tmp/rv.w)"
  echo "+ dd of=$d oflag=direct (host 2, must fail)"
  dd if=/tmp/rv.z of="$d" bs="$bs" seek=$((150 * MiB / bs)) count=1 oflag=direct conv=notrunc > /tmp/rv.dd 2>&1 && die "host 2's block-layer write succeeded under the reservation"
  cat /tmp/rv.dd
  read_region "$d" $((150 * MiB)) 4096 4096 /tmp/rv.r
  [ "$(md5 /tmp/rv.p)" = "$(md5 /tmp/rv.r)" ] || die "host 2 cannot read (or reads something else than) what host 1 wrote"
  echo "+ nvme resv-report $d -n $n --eds -b"
  nvme resv-report "$d" -n "$n" --eds > /tmp/rv.txt 2>&1
  cat /tmp/rv.txt
  nvme resv-report "$d" -n "$n" --eds -b > /tmp/rv.bin 2>/tmp/rv.err || die "resv-report failed: $(tr '\n' ' ' < /tmp/rv.err)"
  u8() { od -A n -t u1 -j "$1" -N 1 /tmp/rv.bin | tr -d ' '; }
  [ "$(u8 4)" = 1 ] || die "resv-report: rtype $(u8 4), expected 1 (write exclusive)"
  [ "$(u8 5)" = 2 ] || die "resv-report: $(u8 5) registrants, expected 2"
  k1=$(od -A n -t u2 -j 72 -N 2 /tmp/rv.bin | tr -d ' '); k2=$(od -A n -t u2 -j 136 -N 2 /tmp/rv.bin | tr -d ' ')
  [ "$k1 $k2" = "4369 8738" ] || die "resv-report: keys $k1 $k2, expected 4369 8738"
  [ "$(u8 66) $(u8 130)" = "1 0" ] || die "resv-report: holder flags $(u8 66) $(u8 130), expected host 1 only"
  resv_host 1
  d=$(dev1)
  resv_cmd "host 1 resv-release" nvme resv-release "$d" -n "$n" --crkey=4369 --rtype=1 --rrela=0
  resv_host 2
  d=$(dev1)
  resv_cmd "host 2 write after the release" nvme write "$d" -s $((150 * MiB / bs)) -c 0 -z "$bs" -d /tmp/rv.z
  resv_cmd "host 2 clears every registration" nvme resv-release "$d" -n "$n" --crkey=8738 --rrela=1
  nvme resv-report "$d" -n "$n" --eds -b > /tmp/rv.bin 2>/dev/null
  [ "$(od -A n -t u1 -j 5 -N 1 /tmp/rv.bin | tr -d ' ')" = 0 ] || die "registrants left after the clear"
  disconnect_all
  CTRL=
  note "host 1 held write exclusive: host 2 refused writes (Reservation Conflict), read host 1's data; report showed both; released and cleared"
}

# Per-host namespace masking: namespace 2 is configured for hosts 1, 2 and 4 only. Host 1 sees both
# namespaces; host 7 (allowed on the subsystem) sees namespace 1 alone: no block device, not in
# list-ns, an all-zero id-ns for nsid 2.
scn_ns_masking() {
  [ "$MODE" = reference ] && skip "the kernel target has no per-host namespace masking"
  need_main
  a=$CTRL
  ns_dev "$a" "$NS2_NSID" > /dev/null || die "host 1 has no block device for namespace $NS2_NSID"
  WAIT_NSIDS=$NS1_NSID must_connect "$HOSTNQN7" "$HOSTID7" --raw
  b=$CTRL
  sleep 2 # a namespace that would (wrongly) appear gets the time to
  echo "+ nvme list-ns /dev/$b"
  nvme list-ns "/dev/$b" > /tmp/nm.ls 2>&1
  cat /tmp/nm.ls
  ids=$(sed -n 's/.*\]: *0x\([0-9a-fA-F]*\).*/\1/p' /tmp/nm.ls | tr '\n' ' ')
  [ "$ids" = "$(printf '%x' "$NS1_NSID") " ] || die "host 7's active namespace list is '$ids', not namespace $NS1_NSID alone"
  ns_dev "$b" "$NS2_NSID" > /dev/null && die "host 7 got a block device for masked namespace $NS2_NSID"
  ns_dev "$b" "$NS1_NSID" > /dev/null || die "host 7 has no block device for namespace $NS1_NSID"
  echo "+ nvme id-ns /dev/$b -n $NS2_NSID -b"
  nvme id-ns "/dev/$b" -n "$NS2_NSID" -b > /tmp/nm.idns 2> /tmp/nm.err || die "id-ns of the masked nsid failed: $(tr '\n' ' ' < /tmp/nm.err)"
  [ "$(tr -d '\000' < /tmp/nm.idns | wc -c)" -eq 0 ] || die "Identify Namespace of the masked nsid is not all zeroes"
  [ "$(wc -c < /tmp/nm.idns)" -eq 4096 ] || die "Identify Namespace of the masked nsid: $(wc -c < /tmp/nm.idns) bytes"
  CTRL=$b
  make_pattern /tmp/nm.x $((256 * 1024))
  write_pattern "$(dev1)" /tmp/nm.x $((210 * MiB)) 65536
  read_region "$(dev1)" $((210 * MiB)) $((256 * 1024)) 65536 /tmp/nm.r
  [ "$(md5 /tmp/nm.x)" = "$(md5 /tmp/nm.r)" ] || die "host 7 does not read back what it wrote on namespace $NS1_NSID"
  # Shared namespace heads: drop every controller (see shared-namespace).
  disconnect_all
  CTRL=
  note "host 1 sees namespaces $NS1_NSID and $NS2_NSID; host 7 only $NS1_NSID (id-ns of $NS2_NSID all zeroes)"
}
