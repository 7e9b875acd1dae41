#!/bin/bash
# Worker mode against main-thread mode (or one build against another) per core, measured in pairs:
# two `nvmetd serve --ram 256MiB` run AT THE SAME TIME, both pinned to CPU 0, each loaded by its own
# nvme_tcp_gen (randread 4k QD32, 2 connections, 3 s; GENX adds generator arguments) pinned to CPU 1,
# sides swapped every round. Both see the same contention, so the ratio of their I/O threads' CPU per
# command (the busiest thread, /proc/PID/task/TID/stat) holds to a few percent on a shared machine
# where alternated single runs differ by 2x. Used for docs/perf.md "Workers against the main thread".
#   bench/cpu-pair.sh ROUNDS "LABEL=TREE|[ENV=V@]SERVE-ARGS" "LABEL=TREE|[ENV=V@]SERVE-ARGS"
#   bench/cpu-pair.sh 6 "W=.|--workers 1" "M=.|"
#   GENX="--span 64k" bench/cpu-pair.sh 6 "W=.|--workers 1" "M=/tmp/old-build|"
# PRE="-w write -o 128k -t 1.5": a generator run of these arguments on each target first (PRE writes
# the namespace, so that reads then read written memory in both modes, not zero pages).
set -u
cd "$(dirname "$0")/.."
gen=$PWD/bench/.build/nvme_tcp_gen
out=${TMPDIR:-/tmp}/nvmetd-cpu-pair; mkdir -p "$out"; res=$out/rounds.txt; : > "$res"
rounds=$1; A=$2; B=$3; GENX=${GENX:-}; PRE=${PRE:-}
start() { # $1: spec, $2: port; prints the pid
  local rest=${1#*=}; local tree=${rest%%|*}; local sargs=${rest#*|}; local envs=""
  if [[ "$sargs" == *@* ]]; then envs=${sargs%%@*}; sargs=${sargs#*@}; fi
  (cd "$tree" && exec env $envs taskset -c 0 node bin/nvmetd.js serve --ram 256MiB --listen 127.0.0.1:$2 --log-level warn $sargs >/dev/null 2>&1) &
  echo $!
}
snap() { for t in /proc/$1/task/*; do echo "$(basename "$t") $(awk '{print $14+$15}' "$t/stat")"; done; }
load() { taskset -c 1 "$gen" -s "$1" -t "$2" --warmup 0 -w randread -o 4k -q 32 --connections 2 $GENX --json; }
calc() { node -e '
const r=require(process.argv[1]); const a=new Map(process.argv[2].split("\n").map(l=>l.split(" ").map(Number)));
const d=process.argv[3].split("\n").map(l=>l.split(" ").map(Number)).map(([t,v])=>[t,v-(a.get(t)??0)]);
const io=Math.max(...d.map(([,v])=>v));
console.log(r.iops, (io*1e4/r.ios).toFixed(3));' "$@"; }
for r in $(seq 1 "$rounds"); do
  pa=$((5000 + RANDOM % 400)); pb=$((pa + 500))
  PA=$(start "$A" $pa); PB=$(start "$B" $pb); sleep 1.8
  if [ -n "$PRE" ]; then for p in $pa $pb; do taskset -c 1 "$gen" -s $p --warmup 0 --json $PRE >/dev/null 2>&1; done; fi
  load $pa 0.5 >/dev/null 2>&1 & G=$!; load $pb 0.5 >/dev/null 2>&1; wait $G
  a0=$(snap $PA); b0=$(snap $PB)
  load $pa 3 > "$out/a.json" 2>/dev/null & G=$!; load $pb 3 > "$out/b.json" 2>/dev/null; wait $G
  a1=$(snap $PA); b1=$(snap $PB)
  kill -INT $PA $PB; wait $PA $PB 2>/dev/null
  echo "$r ${A%%=*} $(calc "$out/a.json" "$a0" "$a1") ${B%%=*} $(calc "$out/b.json" "$b0" "$b1")" | tee -a "$res"
  T=$A; A=$B; B=$T
done
node -e '
const L=require("fs").readFileSync(process.argv[1],"utf8").trim().split("\n").map(l=>l.trim().split(/\s+/));
const by=new Map();
for(const x of L) for(const [l,iops,us] of [x.slice(1,4),x.slice(4,7)]){ if(!by.has(l)) by.set(l,[]); by.get(l).push({iops:+iops,us:+us}); }
const med=a=>{a=[...a].sort((x,y)=>x-y);const n=a.length;return n%2?a[(n-1)/2]:(a[n/2-1]+a[n/2])/2;};
const ls=[...by.keys()];
for(const [l,a] of by) console.log(l.padEnd(8),"I/O thread us/command median",med(a.map(x=>x.us)).toFixed(3),"best",Math.min(...a.map(x=>x.us)).toFixed(3),"| IOPS median",med(a.map(x=>x.iops)));
const rs=by.get(ls[0]).map((x,i)=>x.us/by.get(ls[1])[i].us);
console.log("ratio",ls[0]+"/"+ls[1],"per round",rs.map(x=>x.toFixed(3)).join(" "),"median",med(rs).toFixed(3));' "$res"
