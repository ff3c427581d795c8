#!/bin/bash
# Postgres instructions per order, counted by callgrind on the worker's own statements replayed in a
# single-user backend (Benchmarks/OrderBench/PROFILE.md, sessions 29-32):
#
#   vg.sh NAME PRESQL N1 N2 [full|fence|nofence|batch]
#
# prints (total(N2) - total(N1)) / (N2 - N1): per lone order (its two transactions: fence + INSERT,
# fence + UPDATE), or per batch (mode batch: the group commit's merged INSERT of 5 new rows, then the
# UPDATE of their 5 moves; divide by 5 — or by $WRITERS, gen_batch.py's batch size; N1 >= 4, see there).
# Over the wire (Bind/Execute, text against binary array parameters): wire.sh.
# Each run is on a fresh copy of $W/c0 with PRESQL applied
# first ('-' for none; single-user -j input: statements end with ";" and an empty line).
#
# Set-up, once ($W defaults to /tmp/pgrow; as root, postgres's tools run as the postgres user):
#   1. capture: `ALTER SYSTEM SET log_statement = 'all'` on your test server, run order-bench (lone:
#      --burst 1 --rates 10 --seconds 0.1 --serial 3; batches: --burst 60 --rates 0), reset it; cut a
#      lone order's `execute` lines (the fence, the INSERT, the UPDATE) into $W/replay/{fence,ins,upd}.sql
#      and their `parameters:` lines into *.params (for batches: bins/bupd, a merged INSERT of 5 rows
#      and a merged UPDATE of 4, which gen_batch.py widens to 5).
#   2. c0: initdb (-U postgres -A trust), fsync/synchronous_commit/full_page_writes off, listen_addresses
#      '' and a socket dir of your own; load a pg_dump of your migrated test database; seed the user,
#      broker account(s) and the lease's lock_fences row (token 1) the captured parameters name
#      (gen_batch.py N SEEDFILE writes the batch's users and accounts); stop it; chmod 700.
# The replay pays its own parse of EXECUTE's literals and prints its rows (~440k a lone order, session
# 29); differences between variants are exact and load-free.
name=$1; pre=$2; n1=$3; n2=$4; mode=${5:-full}
W=${W:-/tmp/pgrow}; B=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
here=$(cd "$(dirname "$0")" && pwd)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
run() {
  n=$1; d=$W/run.$name.$n; rm -rf "$d"; cp -a "$W/c0" "$d"; chmod 700 "$d"
  if [ "$pre" != "-" ]; then as_pg "$B/postgres" --single -j -D "$d" tm_test < "$pre" > "$d.pre.out" 2>&1; fi
  if [ "$mode" = batch ]; then (cd "$W/replay" && python3 "$here/gen_batch.py" "$n") > "$d.in"
  else (cd "$W/replay" && python3 "$here/gen.py" "$n" "$mode") > "$d.in"; fi
  as_pg valgrind --tool=callgrind --callgrind-out-file="$W/cg.$name.$n" "$B/postgres" --single -j -D "$d" tm_test < "$d.in" > "$d.out" 2>&1
  callgrind_annotate "$W/cg.$name.$n" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}
t1=$(run "$n1"); t2=$(run "$n2")
echo "$name: $(( (t2 - t1) / (n2 - n1) )) per order (batch: per batch) ($t1 @ $n1, $t2 @ $n2)"
