#!/bin/bash
# The intake's facts statement's instructions a call (session 35), over the wire as wire.sh counts the batches:
#
#   facts.sh NAME STATEMENT.sql K N1 N2     (K = 0: the lone statement; K >= 1: the batch's with K orders)
#
# starts a server on a fresh copy of $W/fc0 under callgrind and prints (backend(N2) - backend(N1)) / (N2 - N1)
# instructions a call. $W/fc0 (once): a cluster (as c0, see vg.sh) holding database "bench", an order-bench
# database restored from a pg_dump taken while the bench ran (200 accounts, its instrument, its orders), analyzed.
name=$1; sqlf=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); k=$3; n1=$4; n2=$5
W=${W:-/tmp/pgrow}; B=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
here=$(cd "$(dirname "$0")" && pwd); port=${PORT:-5598}; sock=$W/sock
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
d=$W/facts.$name; rm -rf "$d" "$W"/cgf.$name.*; cp -a "$W/fc0" "$d"; chmod 700 "$d"
as_pg valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$W/cgf.$name.%p" \
  "$B/postgres" -D "$d" -p "$port" -k "$sock" -c autovacuum=off > "$d.log" 2>&1 &
for _ in $(seq 120); do as_pg "$B/pg_isready" -q -h "$sock" -p "$port" && break; sleep 1; done
python3 "$here/facts.py" "$sock" "$port" bench 0 "$sqlf" "$k" 0 > /dev/null
p1=$(python3 "$here/facts.py" "$sock" "$port" bench "$n1" "$sqlf" "$k" 1000)
p2=$(python3 "$here/facts.py" "$sock" "$port" bench "$n2" "$sqlf" "$k" 2000)
as_pg "$B/pg_ctl" -D "$d" stop -m fast > /dev/null
sleep 2
total() { callgrind_annotate "$W/cgf.$name.$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }
t1=$(total "$p1"); t2=$(total "$p2")
echo "$name (k=$k): $(( (t2 - t1) / (n2 - n1) )) a call ($t1 @ $n1, $t2 @ $n2)"
