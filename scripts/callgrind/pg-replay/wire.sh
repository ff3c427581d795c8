#!/bin/bash
# Postgres instructions per batch over the wire (session 33), text against binary array parameters:
#
#   wire.sh NAME MODE N1 N2 [WRITERS]     (MODE: text | binary | binary-but-numeric; see wire.py)
#
# starts a server on a fresh copy of $W/c0 (vg.sh's set-up) under callgrind (--trace-children: one
# file a process), runs wire.py three times — a warm-up, N1 and N2 batches, each its own connection
# and backend — and prints (backend(N2) - backend(N1)) / (N2 - N1) instructions a batch (÷ WRITERS an
# order). Needs psycopg 3 (pip install psycopg psycopg_binary). Both counts include each connection's
# start and its 6 first batches (prepared statements plan 5 times before their generic plan), equal.
name=$1; mode=$2; n1=$3; n2=$4; writers=${5:-8}
W=${W:-/tmp/pgrow}; B=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
here=$(cd "$(dirname "$0")" && pwd); port=${PORT:-5599}; sock=$W/sock
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
d=$W/wire.$name; rm -rf "$d" "$W"/cgw.$name.*; cp -a "$W/c0" "$d"; chmod 700 "$d"
as_pg valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$W/cgw.$name.%p" \
  "$B/postgres" -D "$d" -p "$port" -k "$sock" -c autovacuum=off > "$d.log" 2>&1 &
for _ in $(seq 120); do as_pg "$B/pg_isready" -q -h "$sock" -p "$port" && break; sleep 1; done
cd "$W/replay" || exit 1
python3 "$here/wire.py" "$sock" "$port" 0 "$writers" "$mode" 0 > /dev/null
p1=$(python3 "$here/wire.py" "$sock" "$port" "$n1" "$writers" "$mode" 1000)
p2=$(python3 "$here/wire.py" "$sock" "$port" "$n2" "$writers" "$mode" 2000)
as_pg "$B/pg_ctl" -D "$d" stop -m fast > /dev/null
sleep 2
total() { callgrind_annotate "$W/cgw.$name.$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }
t1=$(total "$p1"); t2=$(total "$p2")
echo "$name ($mode, $writers writers): $(( (t2 - t1) / (n2 - n1) )) a batch, $(( (t2 - t1) / (n2 - n1) / writers )) an order ($t1 @ $n1, $t2 @ $n2)"
