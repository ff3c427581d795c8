#!/usr/bin/env bash
# `make up`: the whole system on this machine, until Ctrl-C.
# Starts Redis and PostgreSQL under .tm/ (reused if already up), builds tm, migrates, seeds demo
# users and broker accounts, checks everything with `tm doctor`, then runs the services and shows
# what they do. Ctrl-C stops the services; the data servers keep running (`make down` stops them).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="/opt/swift/usr/bin:$PATH"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "servers"
scripts/tm-servers.sh up dev

step "building tm and the functions (swift build)"
if ! swift build >.tm/build.log 2>&1; then
  grep -E 'error' .tm/build.log | head -n 20 >&2 || tail -n 20 .tm/build.log >&2
  echo "build failed; the full log is in .tm/build.log" >&2
  exit 1
fi
tail -n 1 .tm/build.log
tm=$root/.build/debug/tm

step "migrations"
"$tm" migrate

step "demo data"
"$tm" demo seed

step "health"
"$tm" doctor || true

cat <<MSG

The system is up. In another terminal, from this folder:
  .build/debug/tm doctor            # health of Redis, Postgres, migrations, secret key
  .build/debug/tm migrate --status  # applied and pending migrations
  .build/debug/tm demo show         # the demo users and broker accounts
  .build/debug/tm queues            # every queue: backlog, in flight, delayed, dead letters, consumers
  .build/debug/tm enqueue notifications --json '{"user":"asha@demo.tm.local","text":"hello"}'
  .build/debug/tm dlq list orders   # dead letters, then show / replay / purge / export
  .build/debug/tm functions         # functions: triggers, settings, running, recent outcomes
  .build/debug/tm invoke NAME --event event.json   # one invocation, as the dispatcher runs it
  .build/debug/tm schedules         # every schedule: next fire times, last slot, the leader
  .build/debug/tm schedules fire broker-sync   # sync every due account now
  .build/debug/tm accounts          # broker accounts: last sync, outcome, counts
  .build/debug/tm orders place --account <label> --symbol INFY --side buy --qty 1 --type limit --price 1400
  .build/debug/tm orders list       # orders: state, risk decision, route, execution quality; show ID / unknown
  .build/debug/tm orders halt       # the kill switch (resume to trade again); --account for one account
  .build/debug/tm prices            # cached latest prices of held/ordered/watched instruments: value, source, age, stale/missing
  .build/debug/tm ticks publish INFY 1402.50 --exchange NSE   # feed a tick by hand (cache + market-ticks)
  .build/debug/tm alerts add --user <email> --symbol INFY --exchange NSE --above 1400   # fires on the next tick at or above
  .build/debug/tm notifications list    # what the notifier delivered (show ID for its deliveries); tm alerts ack ID
  .build/debug/tm portfolio --user <email>   # live value: cash, positions at the latest prices, day P&L
  .build/debug/tm analytics recompute --wait   # every user's analytics now (a manual run); status: the latest run
  .build/debug/tm analytics show --user <email> --period day   # performance, fresh within seconds of a synced trade
(tm reads .tm/env, so it finds these servers from anywhere inside the checkout;
 \`export PATH=$root/.build/debug:\$PATH\` to type just \`tm\`.)

Services below: broker-sim (the four brokers, on port ${TM_BROKER_SIM_PORT:-7479}); the scheduler
(tm schedule run) fires Schedules/*.yaml — broker-sync every 5 minutes; the dispatcher (tm dispatch)
runs Functions/*/ from their queues (sync-trigger, sync-consumer, alert-evaluator, notifier, trade-notifier,
portfolio-valuer, analytics-batch — the analytics-nightly run's chunks, 02:00 UTC — and analytics-refresh); the order-worker (tm order-worker) places orders from
the orders queue through the resident risk engine and router; market-data (tm market-data) keeps the price cache
current and publishes price moves on market-ticks.
Their log lines are prefixed with their name. Ctrl-C stops them gracefully; \`make down\` stops the servers.
MSG

pids=()
sleeper=""
cleanup() {
  trap - INT TERM
  echo
  step "stopping services (Redis and PostgreSQL keep running; \`make down\` stops them)"
  for pid in "${pids[@]:-}" $sleeper; do [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  exit 0
}
trap cleanup INT TERM

step "services"
# Each service's output goes through a prefixing filter; $! is the service itself, so Ctrl-C
# reaches it as SIGTERM and it stops gracefully (finishing running invocations, releasing leases).
# broker-sim stands in for the four brokers (seeded with the demo accounts and their history);
# .tm/env points the adapters at it.
"$root/.build/debug/broker-sim" --demo --port "${TM_BROKER_SIM_PORT:-7479}" > >(sed -u 's/^/[broker-sim] /') 2>&1 &
pids+=($!)
"$tm" schedule run > >(sed -u 's/^/[schedule] /') 2>&1 &
pids+=($!)
"$tm" dispatch > >(sed -u 's/^/[dispatch] /') 2>&1 &
pids+=($!)
"$tm" order-worker > >(sed -u 's/^/[order-worker] /') 2>&1 &
pids+=($!)
# market-data prices every held, ordered or watched instrument every second into price:<SYMBOL>:<EXCHANGE>
# and publishes moves on market-ticks (tm prices shows what it has).
"$tm" market-data > >(sed -u 's/^/[market-data] /') 2>&1 &
pids+=($!)

# shellcheck disable=SC1091
source .tm/env
# shellcheck source=scripts/env-addresses.sh
source scripts/env-addresses.sh
step "watching (every 10 s; the queues every minute)"
tick=0
while true; do
  if [ $((tick % 6)) -eq 0 ]; then "$tm" queues 2>&1 | sed 's/^/    /' || true; fi
  tick=$((tick + 1))
  ops=$(redis-cli "${redis_args[@]}" info stats 2>/dev/null | sed -n 's/^instantaneous_ops_per_sec:\([0-9]*\).*/\1/p')
  keys=$(redis-cli "${redis_args[@]}" dbsize 2>/dev/null || echo "?")
  counts=$(psql -h "$pg_host" -p "$pg_port" -U postgres -d "$db" -tAF ' ' -c \
    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM broker_accounts), (SELECT count(*) FROM orders), (SELECT count(*) FROM trades), (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()), (SELECT count(*) FROM sync_logs WHERE started_at > now() - interval '5 minutes' AND outcome = 'ok'), (SELECT count(*) FROM sync_logs WHERE started_at > now() - interval '5 minutes' AND outcome = 'error')" 2>/dev/null || echo "? ? ? ? ? ? ?")
  read -r users accounts orders trades conns synced failed <<<"$counts"
  printf '%s  redis: %s keys, %s ops/s | postgres: %s users, %s accounts, %s orders, %s trades, %s connections | syncs (5 min): %s ok, %s failed\n' \
    "$(date +%H:%M:%S)" "${keys:-?}" "${ops:-?}" "$users" "$accounts" "$orders" "$trades" "$conns" "$synced" "$failed"
  sleep 10 &
  sleeper=$!
  wait "$sleeper" || true
done
