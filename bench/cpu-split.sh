#!/bin/bash
# Target CPU per command split into user and system time (/proc/PID/stat), plus the system calls per
# command (strace -c, a second run) of `nvmetd serve --ram 256MiB` under a 2 s nvme_tcp_gen load.
# Used for docs/perf.md "Where the remaining gaps go". Needs bench/.build/nvme_tcp_gen (built by
# `npm run bench` or `npm run bench:scale`) and a built tree; strace is optional.
#   bench/cpu-split.sh NAME "SERVE-ARGS" GEN-ARGS...
#   bench/cpu-split.sh r4k-dgst "" -w randread -o 4k -q 32 --hdgst --ddgst
#   bench/cpu-split.sh qd1-adaptive "--workers 1 --adaptive" -w randread -o 4k -q 1
set -u
cd "$(dirname "$0")/.."
name=$1; sargs=$2; shift 2
out=${TMPDIR:-/tmp}/nvmetd-cpu-split; mkdir -p "$out"
run() { # $1: with strace (1) or not (0), then the generator's arguments
  local st=$1; shift
  local port=$((4600 + RANDOM % 300))
  node bin/nvmetd.js serve --ram 256MiB --listen 127.0.0.1:$port --log-level warn $sargs >/dev/null 2>&1 &
  local P=$! S=
  sleep 1.5
  if [ "$st" = 1 ]; then strace -c -f -q -p $P -o "$out/$name.strace" & S=$!; sleep 0.3; fi
  read -r u0 s0 < <(awk '{print $14, $15}' /proc/$P/stat)
  bench/.build/nvme_tcp_gen -s $port -t 2 --warmup 0 --json "$@" > "$out/$name.json" 2>/dev/null
  read -r u1 s1 < <(awk '{print $14, $15}' /proc/$P/stat)
  [ -n "$S" ] && { kill -INT $S; wait $S 2>/dev/null; }
  kill -INT $P; wait $P 2>/dev/null
}
run 0 "$@"
node -e "const r=require('$out/$name.json');const u=($u1-$u0)*1e4/r.ios,s=($s1-$s0)*1e4/r.ios;console.log('$name'.padEnd(14), String(r.iops).padStart(8),'IOPS  target us/command: user',u.toFixed(2),'sys',s.toFixed(2),'total',(u+s).toFixed(2),' latency avg',r.latencyUs.avg,'p50',r.latencyUs.p50)"
if command -v strace >/dev/null; then
  run 1 "$@"
  ios=$(node -e "console.log(require('$out/$name.json').ios)")
  awk -v ios="$ios" '$NF ~ /^(writev|write|sendmsg|read|epoll_pwait|epoll_wait|io_uring_enter)$/ {printf "  %-14s %.3f per command (under strace)\n", $NF, $4/ios}' "$out/$name.strace"
fi
