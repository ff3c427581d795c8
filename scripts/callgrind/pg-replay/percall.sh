#!/bin/bash
# Instructions of one call of an expression over the replay's order rows, exactly (session 34):
#
#   EXPR='tm_orders_row_rules(o)' percall.sh NAME PRESQL DATADIR
#
# DATADIR: a data directory after a vg.sh run (e.g. $W/run.base.30: its `orders` hold the replay's
# orders, valid and moved). On two fresh copies (PRESQL applied first, '-' for none) a single-user
# backend under callgrind evaluates EXPR for every order row 20 and 60 times in one statement
# (`SELECT count(*) FROM (SELECT EXPR AS ok FROM orders o, generate_series(1, N) g OFFSET 0) x WHERE ok`;
# OFFSET 0 keeps EXPR in the join's target list, not pushed down to the scan) and prints the difference
# per 40 passes over the rows — divide by the row count (printed), and subtract an EXPR='true' run for
# the statement's own per-row cost. One transaction: PL/pgSQL's per-transaction set-up is in both runs,
# so this counts the call and its evaluation only (variants.sh counts the set-up).
name=$1; pre=$2; data=$3; expr=${EXPR:-tm_orders_row_rules(o)}
W=${W:-/tmp/pgrow}; B=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
run() {
  n=$1; d=$W/percall.$name.$n; rm -rf "$d"; cp -a "$data" "$d"; chmod 700 "$d"
  if [ "$pre" != "-" ]; then as_pg "$B/postgres" --single -j -D "$d" tm_test < "$pre" > "$d.pre.out" 2>&1; fi
  printf 'SELECT count(*) FROM (SELECT %s AS ok FROM orders o, generate_series(1, %d) g OFFSET 0) x WHERE ok;\n\n' "$expr" "$n" > "$d.in"
  as_pg valgrind --tool=callgrind --callgrind-out-file="$W/cgp.$name.$n" "$B/postgres" --single -j -D "$d" tm_test < "$d.in" > "$d.out" 2>&1
  callgrind_annotate "$W/cgp.$name.$n" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}
t1=$(run 20); t2=$(run 60)
rows=$(printf 'SELECT count(*) FROM orders;\n\n' | as_pg "$B/postgres" --single -j -D "$W/percall.$name.60" tm_test 2>/dev/null | sed -n 's/.*count = "\([0-9]*\)".*/\1/p')
echo "$name: $(( (t2 - t1) / 40 )) a pass over $rows rows, $(( (t2 - t1) / 40 / ${rows:-1} )) a row ($t1 @ 20, $t2 @ 60)"
