#!/usr/bin/env bash
# `make bench`: the wrappers' round trips (tm-bench) beside redis-benchmark and pgbench doing the
# same operations, one client at a time, against the same loopback servers (the test profile).
# Writes bench-results/wrappers.json, bench-results/peers.json and prints both tables.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export TM_ENV_FILE=$root/.tm/test/env
scripts/tm-servers.sh up test >/dev/null
# shellcheck disable=SC1090
source "$TM_ENV_FILE"
# The peers over the same transport as the wrappers (the env file's sockets, or TCP).
# shellcheck source=scripts/env-addresses.sh
source scripts/env-addresses.sh
n=${BENCH_N:-20000}
export PGOPTIONS="-c client_min_messages=warning"
mkdir -p bench-results

swift build -c release --product tm-bench >/dev/null
.build/release/tm-bench --n "$n" --json bench-results/wrappers.json

echo
echo "peers on the same servers, 1 client"
rb=$(redis-benchmark "${redis_args[@]}" -c 1 -n "$n" -d 64 -t ping_mbulk,set --csv -q 2>/dev/null)
pb_dir=$(mktemp -d)
echo "INSERT INTO bench_pgbench (account, quantity) VALUES ('acct-1', 12.5);" >"$pb_dir/insert.sql"
echo "SELECT 1;" >"$pb_dir/select.sql"
psql -q -h "$pg_host" -p "$pg_port" -U postgres -d "$db" -c "DROP TABLE IF EXISTS bench_pgbench; CREATE UNLOGGED TABLE bench_pgbench (id bigserial PRIMARY KEY, account text NOT NULL, quantity numeric NOT NULL, at timestamptz NOT NULL DEFAULT now())"
pg_insert=$(pgbench -n -M extended -c 1 -t $((n / 2)) -f "$pb_dir/insert.sql" -h "$pg_host" -p "$pg_port" -U postgres "$db" 2>/dev/null)
pg_select=$(pgbench -n -M extended -c 1 -t $((n / 2)) -f "$pb_dir/select.sql" -h "$pg_host" -p "$pg_port" -U postgres "$db" 2>/dev/null)
psql -q -h "$pg_host" -p "$pg_port" -U postgres -d "$db" -c "DROP TABLE bench_pgbench"
rm -rf "$pb_dir"

python3 - "$rb" "$pg_insert" "$pg_select" <<'PY'
import csv, io, json, re, sys
rb, pg_insert, pg_select = sys.argv[1:4]
figures = []
for row in csv.DictReader(io.StringIO(rb)):
    figures.append({"name": "redis-benchmark " + row["test"], "opsPerSecond": float(row["rps"]),
                    "p50Micros": float(row["p50_latency_ms"]) * 1000, "p99Micros": float(row["p99_latency_ms"]) * 1000,
                    "meanMicros": float(row["avg_latency_ms"]) * 1000})
for name, out in (("pgbench INSERT (extended protocol)", pg_insert), ("pgbench SELECT 1 (extended protocol)", pg_select)):
    tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))
    lat = float(re.search(r"latency average = ([0-9.]+) ms", out).group(1))
    figures.append({"name": name, "opsPerSecond": tps, "p50Micros": None, "p99Micros": None, "meanMicros": lat * 1000})
print(f"{'operation':34}      ops/s     p50 µs     p99 µs    mean µs")
for f in figures:
    p50 = f"{f['p50Micros']:10.1f}" if f["p50Micros"] is not None else "         -"
    p99 = f"{f['p99Micros']:10.1f}" if f["p99Micros"] is not None else "         -"
    print(f"{f['name']:34} {f['opsPerSecond']:10.0f} {p50} {p99} {f['meanMicros']:10.1f}")
json.dump({"figures": figures}, open("bench-results/peers.json", "w"), indent=2)
print("figures written to bench-results/peers.json")
PY

# The queue benchmarks (enqueue, drain, latency, recovery; Sidekiq beside them with BENCH_PEERS=1).
scripts/bench-queue.sh

# The function runtime (issue 4): invocations/s and enqueue-to-start latency, cold vs warm, batch 1
# and 10, and a cold start's spawn-to-result, through the dispatcher on the test profile's Redis.
# Writes bench-results/functions.json.
# Built with the Swift runtime and Foundation linked statically, as function executables should be
# deployed: a cold start then skips loading libFoundation and ICU (~11 ms -> ~3 ms here). A scratch
# path of its own keeps these objects apart from the dynamically linked release build.
echo
swift build -c release --static-swift-stdlib --scratch-path .build/static --product function-bench >/dev/null
swift build -c release --static-swift-stdlib --scratch-path .build/static --product test-function >/dev/null
.build/static/release/function-bench --repeats "${BENCH_REPEATS:-3}" --json bench-results/functions.json

# Ours beside Sidekiq from this one run (queue, functions, recovery): bench-results/summary.json.
python3 scripts/bench-table.py bench-results

# Broker sync (issue 5): accounts synced per minute through sync-trigger, the broker-sync queue, the
# dispatcher and the warm sync-consumer executable, against broker-sim adding 50 ms per call, for
# 1,000 accounts with 50 trades each, at two reserved concurrencies. Writes bench-results/sync.json.
echo
swift build -c release --static-swift-stdlib --scratch-path .build/static --product sync-bench >/dev/null
swift build -c release --static-swift-stdlib --scratch-path .build/static --product sync-consumer >/dev/null
swift build -c release --static-swift-stdlib --scratch-path .build/static --product broker-sim >/dev/null
.build/static/release/sync-bench --accounts "${BENCH_SYNC_ACCOUNTS:-1000}" --trades 50 --latency-ms 50 --concurrency "${BENCH_SYNC_CONCURRENCY:-4,8,16}" --json bench-results/sync.json

# The pre-trade risk engine alone (issue 11): one check at a time in nanoseconds, p50/p99/p99.9.
# Writes bench-results/risk.json.
echo
swift build -c release --product risk-bench >/dev/null
.build/release/risk-bench --n "${BENCH_RISK_N:-200000}" --json bench-results/risk.json

# The order path (issue 11): orders/s through one in-process order-worker, enqueue → ACCEPTED at
# offered loads (open loop), a serial profile of one order's time, and the cold order-placer, with
# broker-sim answering at once. After risk-bench, whose risk + route figures it quotes.
# Writes bench-results/orders.json.
echo
swift build -c release --product order-bench >/dev/null
swift build -c release --product broker-sim >/dev/null
.build/release/order-bench --accounts "${BENCH_ORDER_ACCOUNTS:-200}" --burst "${BENCH_ORDER_BURST:-5000}" --rates "${BENCH_ORDER_RATES:-200,1000,5000}" \
  --seconds "${BENCH_ORDER_SECONDS:-2}" --serial 1000 --cold "${BENCH_ORDER_COLD:-1000}" --batch 10 --json bench-results/orders.json

# Price alerts (issue 12): 100,000 active alerts over 1,000 symbols; ticks/s of the evaluator alone
# and through market-ticks, the dispatcher and the warm alert-evaluator executable; enqueue →
# notification row p50/p99 at a steady rate. Writes bench-results/alerts.json.
echo
swift build -c release --product alert-bench >/dev/null
swift build -c release --product alert-evaluator >/dev/null
.build/release/alert-bench --symbols 1000 --per-symbol 100 --ticks "${BENCH_ALERT_TICKS:-200000}" --rate "${BENCH_ALERT_RATE:-5000}" \
  --seconds "${BENCH_ALERT_SECONDS:-4}" --direct "${BENCH_ALERT_DIRECT:-200000}" --json bench-results/alerts.json

# Analytics (issue 13): the nightly recompute end to end — 10,000 users × 1,000 fills read from
# Postgres (binary COPY), matched and aggregated, their analytics rows replaced — time, fills/s,
# users/s and the time of each phase. The fixture database is generated once and kept
# (tm_analytics_bench_<users>x<fills>; --fresh rebuilds it). Writes bench-results/analytics.json.
echo
swift build -c release --product analytics-bench >/dev/null
.build/release/analytics-bench --users "${BENCH_ANALYTICS_USERS:-10000}" --fills "${BENCH_ANALYTICS_FILLS:-1000}" \
  --workers "${BENCH_ANALYTICS_WORKERS:-3}" --json bench-results/analytics.json
