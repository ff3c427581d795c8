#!/usr/bin/env bash
# The queue benchmarks of `make bench` (issue 3), run by scripts/bench.sh after the wrapper benchmarks:
# enqueue rate, drain rate of no-op messages (1, 2 and 4 consumers), enqueue-to-handler-start latency
# p50/p99/p99.9 (HdrHistogram) at a steady 200/s and 2,000/s, and recovery time after a consumer's
# SIGKILL (6 s visibility timeout, as the shipped queues). Every figure is the median of 3 runs
# (BENCH_REPEATS); each run's value is printed beside it.
# Writes bench-results/queue.json.
#
# With BENCH_PEERS=1 (or --peers) it then runs Sidekiq 6.4 from Debian on the same workloads with the
# peers' own driver (../shared/peers/bench.py, configs sidekiq-1x-c10 and sidekiq-2x-c10), prints
# "ours vs Sidekiq" and writes bench-results/queue-peers.json. Without it, the peers' published
# figures are quoted instead, labelled as such.
#
# Redis: both sides use one private redis-server started here the way the peers start theirs
# (127.0.0.1, --save '' --appendonly no; port BENCH_QUEUE_REDIS_PORT, default 6394) and stopped at
# exit. BENCH_QUEUE_REDIS=test runs ours against the test profile's Redis instead (AOF everysec).
#
# Environment: BENCH_QUEUE_N (20000), BENCH_REPEATS (3), BENCH_PEERS (0), BENCH_QUEUE_REDIS (private|test),
# BENCH_QUEUE_REDIS_PORT (6394), QUEUE_BENCH_BIN (a prebuilt queue-bench; default: build it here).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

peers=${BENCH_PEERS:-0}
for arg in "$@"; do
  case "$arg" in
    --peers) peers=1 ;;
    *) echo "usage: scripts/bench-queue.sh [--peers]" >&2; exit 2 ;;
  esac
done
n=${BENCH_QUEUE_N:-20000}
repeats=${BENCH_REPEATS:-3}
port=${BENCH_QUEUE_REDIS_PORT:-6394}
mkdir -p bench-results

say() { printf '\n==> %s\n' "$*"; }

# --- queue-bench, in release ---------------------------------------------------------------------
if [ -n "${QUEUE_BENCH_BIN:-}" ]; then
  bin=$QUEUE_BENCH_BIN
elif grep -q '"queue-bench"' Package.swift; then
  swift build -c release --product queue-bench >"$root/.build/queue-bench-build.log" 2>&1 \
    || { tail -40 "$root/.build/queue-bench-build.log" >&2; exit 1; }
  bin=$root/.build/release/queue-bench
else
  echo "queue-bench is not a target of Package.swift; add:" >&2
  echo '  .executableTarget(name: "queue-bench", dependencies: ["TMQueue", "TMRedis", "TMCore"], path: "Benchmarks/QueueBench")' >&2
  exit 1
fi

# --- a private Redis, started the way the peers start theirs ------------------------------------
work=$(mktemp -d)
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.05; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
  echo "something already answers on 127.0.0.1:$port; set BENCH_QUEUE_REDIS_PORT to a free port" >&2
  exit 1
fi
mkdir -p "$work/redis"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --protected-mode yes \
  --dir "$work/redis" --daemonize yes --pidfile "$work/redis/redis.pid" --logfile "$work/redis/redis.log"
for _ in $(seq 1 100); do
  redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.05
done
redis_pid=$(cat "$work/redis/redis.pid")
private_url="redis://127.0.0.1:$port/0"
redis_version=$(redis-server --version | sed -E 's/.*v=([0-9.]+).*/\1/')

if [ "${BENCH_QUEUE_REDIS:-private}" = test ]; then
  # shellcheck disable=SC1090
  source "${TM_ENV_FILE:-$root/.tm/test/env}"
  ours_url=$TM_REDIS_URL
  ours_redis="the test profile's redis-server $redis_version at ${TM_REDIS_URL%%\?*} (AOF everysec)"
else
  ours_url=$private_url
  ours_redis="a private redis-server $redis_version at 127.0.0.1:$port (--save '' --appendonly no)"
fi

# --- ours ----------------------------------------------------------------------------------------
say "queue benchmarks ($(nproc) cores; $ours_redis; median of $repeats runs)"
rm -f bench-results/queue.json
common=(--redis "$ours_url" --repeats "$repeats" --json bench-results/queue.json)
"$bin" enqueue --n "$n" --batch 1000 "${common[@]}"
"$bin" drain --n "$n" --consumers 1 --concurrency 10 --placement in-process "${common[@]}"
"$bin" drain --n "$n" --consumers 2 --concurrency 10 --placement processes "${common[@]}"
"$bin" drain --n "$n" --consumers 4 --concurrency 10 --placement processes "${common[@]}"
"$bin" latency --n 2000 --rate 200 --concurrency 10 "${common[@]}"
"$bin" latency --n 10000 --rate 2000 --concurrency 10 "${common[@]}"
"$bin" recovery --visibility 6s --in-flight 10 "${common[@]}"

# --- Sidekiq, live -------------------------------------------------------------------------------
if [ "$peers" = 1 ]; then
  say "Sidekiq from Debian on the same workloads (the peers' bench.py, same redis-server at 127.0.0.1:$port)"
  redis-cli -h 127.0.0.1 -p "$port" flushall >/dev/null
  if ! dpkg -s ruby-sidekiq ruby-sidekiq-cron >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { echo "ruby-sidekiq is missing and installing it needs root" >&2; exit 1; }
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q ruby-sidekiq ruby-sidekiq-cron >/dev/null
  fi
  # bench.py imports redis-py even for the Sidekiq configs: a small venv with just that, kept in .tm/.
  venv=$root/.tm/bench-peers-venv
  if ! "$venv/bin/python" -c 'import redis, hiredis' >/dev/null 2>&1; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q redis hiredis
  fi
  cp -r "$root/../shared/peers" "$work/peers"
  chmod -R u+w "$work/peers"
  # Our copy also reports p99.9 (same interpolation as its p99), for the table beside our HdrHistogram's.
  sed -i 's/p99=pct(lat, 99), max=max(lat)/p99=pct(lat, 99), p999=pct(lat, 99.9), max=max(lat)/' "$work/peers/bench.py"
  grep -q 'p999=pct' "$work/peers/bench.py" || { echo "bench.py changed: cannot add p99.9 to its latency figures" >&2; exit 1; }
  (
    cd "$work/peers"
    export BENCH_PORT=$port
    "$venv/bin/python" bench.py throughput --configs sidekiq-1x-c10,sidekiq-2x-c10 --repeats "$repeats" --n "$n"
    for spec in 200:2000 2000:10000; do
      "$venv/bin/python" bench.py latency --configs sidekiq-1x-c10 --repeats "$repeats" --n "${spec#*:}" --rate "${spec%%:*}"
      mv results/latency-sidekiq-1x-c10.json "results/latency-${spec%%:*}.json"
    done
    for _ in $(seq 1 "$repeats"); do
      redis-cli -h 127.0.0.1 -p "$port" flushall >/dev/null
      ruby sidekiq_enqueue.rb noop_bulk "$n" >>results/bulk.jsonl
    done
    redis-cli -h 127.0.0.1 -p "$port" flushall >/dev/null
  ) 2>"$work/peers-driver.log" || { cat "$work/peers-driver.log" >&2; exit 1; }
  versions="ruby $(ruby -e 'print RUBY_VERSION'), ruby-sidekiq $(dpkg-query -W -f '${Version}' ruby-sidekiq), redis-server $redis_version"
else
  versions=""
fi

# --- ours vs Sidekiq -----------------------------------------------------------------------------
python3 - "$work/peers/results" "$versions" "$ours_redis" "$port" <<'PY'
import json, os, statistics, sys

results, versions, ours_redis, port = sys.argv[1:5]
live = bool(versions)
ours = {m["id"]: m for m in json.load(open("bench-results/queue.json"))["measurements"]}

def runs(values):
    return " / ".join(values)

def ours_fig(mid, key, fmt):
    m = ours[mid]
    return m["medians"][key], fmt(m["medians"][key]), runs(fmt(r[key]) for r in m["runs"])

rate = lambda v: f"{v:,.0f}"
ms = lambda v: f"{v:.2f}"

if live:
    tp = json.load(open(os.path.join(results, "throughput-sidekiq-1x-c10_sidekiq-2x-c10.json")))
    lat = json.load(open(os.path.join(results, "latency-200.json")))
    lat2000 = json.load(open(os.path.join(results, "latency-2000.json")))
    bulk = [json.loads(line) for line in open(os.path.join(results, "bulk.jsonl"))]
    errors = [x for x in tp + lat + lat2000 if "error" in x]
    if errors:
        sys.exit("the Sidekiq runs failed: " + json.dumps(errors))
    def side(values, fmt):
        return statistics.median(values), fmt(statistics.median(values)), runs(fmt(v) for v in values)
    drain = lambda c: [x["drain_rate"] for x in tp if x["config"] == c]
    sidekiq = {
        "enqueue-one": side([x["enqueue_rate"] for x in tp if x["config"] == "sidekiq-1x-c10"], rate),
        "enqueue-batch": side([x["rate"] for x in bulk], rate),
        "drain-1": side(drain("sidekiq-1x-c10"), rate),
        "drain-2": side(drain("sidekiq-2x-c10"), rate),
        "p50": side([x["p50"] for x in lat], ms),
        "p99": side([x["p99"] for x in lat], ms),
        "p999": side([x["p999"] for x in lat], ms),
        "max": side([x["max"] for x in lat], ms),
        "p50-2000": side([x["p50"] for x in lat2000], ms),
        "p99-2000": side([x["p99"] for x in lat2000], ms),
        "p999-2000": side([x["p999"] for x in lat2000], ms),
        "max-2000": side([x["max"] for x in lat2000], ms),
    }
    lost = sum(x["lost"] for x in tp)
    dup = sum(x["duplicates"] for x in tp)
    source = f"Sidekiq 6.4.1 live, this run ({versions}), same redis-server at 127.0.0.1:{port}"
else:
    fixed = lambda v, fmt: (v, fmt(v), "published")
    sidekiq = {
        "enqueue-one": fixed(8104, rate), "enqueue-batch": fixed(123000, rate), "drain-1": fixed(3940, rate),
        "drain-2": fixed(6568, rate), "p50": fixed(0.68, ms), "p99": fixed(1.43, ms), "max": fixed(3.3, ms),
    }
    lat2000 = []
    lost = dup = 0
    source = ("FALLBACK, not measured now: the peers' published figures (../shared/peers/README.md, measured "
              "2026-11-22 on this kind of machine; push_bulk quoted as its lower bound). Run with BENCH_PEERS=1 for live figures")

rows = [
    ("enqueue, one at a time (jobs/s)", ours_fig("enqueue-one", "jobsPerSecond", rate), sidekiq["enqueue-one"], "higher"),
    ("enqueue, batches of 1000 (jobs/s)", ours_fig("enqueue-batch", "jobsPerSecond", rate), sidekiq["enqueue-batch"], "higher"),
    ("drain, 1 consumer × c10 (jobs/s)", ours_fig("drain-1-in-process", "drainRate", rate), sidekiq["drain-1"], "higher"),
    ("drain, 2 processes × c10 (jobs/s)", ours_fig("drain-2-processes", "drainRate", rate), sidekiq["drain-2"], "higher"),
    ("drain, 4 processes × c10 (jobs/s)", ours_fig("drain-4-processes", "drainRate", rate), None, "higher"),
]
for r in ("200", "2000"):
    suffix = "" if r == "200" else "-2000"
    for key, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"), ("max", "max")):
        rows.append((f"latency {label} at {r}/s (ms)", ours_fig(f"latency-{r}", key, ms), sidekiq.get(key + suffix), "lower"))
print(f"\nours vs Sidekiq — medians of the runs (each run in brackets)\n  ours: {ours_redis}\n  Sidekiq: {source}")
table = []
for name, (ov, otext, oruns), theirs, better in rows:
    if theirs is None:
        table.append((name, f"{otext} ({oruns})", "-", "-"))
        continue
    tv, ttext, truns = theirs
    ratio = ov / tv if better == "higher" else tv / ov
    word = ("faster" if better == "higher" else "lower") if ratio >= 1 else ("slower" if better == "higher" else "higher")
    shown = ratio if ratio >= 1 else 1 / ratio
    table.append((name, f"{otext} ({oruns})", f"{ttext} ({truns})", f"{shown:.2f}× {word}"))
recovery = ours["recovery"]
recovery_runs = runs("%.2f" % r["median"] for r in recovery["runs"])
recovery_lost = sum(r["lost"] + r["duplicates"] for r in recovery["runs"])
table.append(("in-flight work after SIGKILL (6 s visibility)",
              "handled elsewhere after %.2f s (%s), %d lost/dup" % (recovery["medians"]["median"], recovery_runs, recovery_lost),
              "in-flight jobs lost, never re-run (BRPOP; peers' README crash test, not rerun)", "-"))
widths = [max(len(r[i]) for r in table + [("workload", "ours", "Sidekiq", "ratio")]) for i in range(4)]
print("  ".join(h.ljust(w) for h, w in zip(("workload", "ours", "Sidekiq", "ratio"), widths)))
for r in table:
    print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
drain_ok = ours["drain-1-in-process"]["medians"]["drainRate"] > sidekiq["drain-1"][0] and ours["drain-2-processes"]["medians"]["drainRate"] > sidekiq["drain-2"][0]
p99 = ours["latency-200"]["medians"]["p99"]
print(f"goal: drain faster than Sidekiq: {'yes' if drain_ok else 'NO'}; latency p99 under 1 ms: {'yes' if p99 < 1 else 'NO'} ({p99:.2f} ms)"
      + (f"; Sidekiq lost {lost}, duplicated {dup} in the drain runs" if live else ""))

json.dump({
    "live": live, "source": source, "oursRedis": ours_redis,
    "rows": [{"workload": name, "ours": ov, "sidekiq": theirs[0] if theirs else None} for name, (ov, _, _), theirs, _ in rows],
    # Sidekiq's medians and each run's value, for scripts/bench-table.py's "ours beside Sidekiq".
    "sidekiq": {k: {"median": v[0], "runs": v[2]} for k, v in sidekiq.items()},
    "sidekiqRuns": {"throughput": tp, "latency": lat, "latency2000": lat2000, "pushBulk": bulk} if live else None,
}, open("bench-results/queue-peers.json", "w"), indent=2)
print("figures written to bench-results/queue-peers.json")
PY
