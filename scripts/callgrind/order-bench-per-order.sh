#!/usr/bin/env bash
# Instructions per serially placed order in order-bench's process (all threads), counted by
# callgrind: two runs that differ only in --serial, (total(N2) - total(N1)) / (N2 - N1).
#
#   scripts/callgrind/order-bench-per-order.sh [bin-dir] [N1] [N2]
#
# bin-dir holds order-bench and broker-sim (default .build/release). Needs TM_ENV_FILE of your own
# servers. Why the shim: valgrind 3.19 writes to sigsuspend's mask, and libdispatch's main thread
# (any async main) passes one in read-only memory, so valgrind dies at once without it. Why strip:
# valgrind 3.19 cannot read Swift 6's DWARF 5 debug info (symbols stay).
set -euo pipefail
bin=${1:-.build/release}; n1=${2:-100}; n2=${3:-300}
work=$(mktemp -d)
gcc -shared -fPIC -O2 -o "$work/shim.so" "$(dirname "$0")/sigsuspend-shim.c" -ldl
cp "$bin/broker-sim" "$work/"
strip --strip-debug -o "$work/order-bench" "$bin/order-bench"
total() {
  LD_PRELOAD="$work/shim.so" valgrind --tool=callgrind --callgrind-out-file="$work/cg.$1" "$work/order-bench" \
    --accounts 10 --burst 10 --rates 10 --seconds 1 --serial "$1" --cold 0 --json "$work/bench.$1.json" > "$work/out.$1" 2>&1
  callgrind_annotate "$work/cg.$1" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}
t1=$(total "$n1"); t2=$(total "$n2")
echo "instructions per serial order: $(( (t2 - t1) / (n2 - n1) )) (totals $t1 at --serial $n1, $t2 at --serial $n2; profiles in $work)"
