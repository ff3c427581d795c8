#!/usr/bin/env bash
# Local Redis and PostgreSQL on loopback, with their data under .tm/<profile>/.
# Both also listen on a Unix socket there, and the env files (dev and test) point at the sockets:
# a round trip costs the servers ~30% less CPU than over loopback TCP (Benchmarks/OrderBench/
# PROFILE.md, session 21 (redis)). The TCP ports stay open for tools that build their own
# addresses; a Redis socket URL names its TCP address too (host=, port=). A socket path longer than
# the kernel's 107 bytes (a checkout in a long path) keeps that server's URL on TCP.
# TM_UNIX_SOCKETS=0 writes TCP URLs instead.
#
#   scripts/tm-servers.sh up [dev|test]      start (or reuse) both servers, write the env file
#   scripts/tm-servers.sh down [dev|test|all] stop them
#   scripts/tm-servers.sh status [dev|test]
#   scripts/tm-servers.sh restart-redis|restart-postgres [dev|test]
#
# Profiles use their own ports so `make test` never touches the data of `make up`:
#   dev:  Redis 6479, PostgreSQL 5479, env file .tm/env
#   test: Redis 6480, PostgreSQL 5480, env file .tm/test/env
# Ports can be overridden with TM_REDIS_PORT / TM_PG_PORT.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-up}
profile=${2:-dev}

log() { printf '==> %s\n' "$*"; }

configure() {
  case "$1" in
    dev)  redis_port=${TM_REDIS_PORT:-6479}; pg_port=${TM_PG_PORT:-5479}; dbname=tm;      base=$root/.tm/dev;  envfile=$root/.tm/env ;;
    test) redis_port=${TM_REDIS_PORT:-6480}; pg_port=${TM_PG_PORT:-5480}; dbname=tm_test; base=$root/.tm/test; envfile=$root/.tm/test/env ;;
    *) echo "unknown profile '$1' (expected dev or test)" >&2; exit 2 ;;
  esac
  redis_dir=$base/redis
  redis_socket=$redis_dir/redis.sock
  pg_link=$base/postgres
}

# sun_path holds 108 bytes with the terminating NUL.
socket_fits() { [ "${#1}" -le 107 ]; }

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] || { echo "PostgreSQL server binaries not found; run scripts/install-deps.sh" >&2; exit 1; }
  echo "$dir"
}

# PostgreSQL refuses to run as root: as root, run its tools as the 'postgres' user.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

redis_up() {
  mkdir -p "$redis_dir"
  if redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
    log "Redis already running on 127.0.0.1:$redis_port (reused)"
    return
  fi
  local unix=()
  socket_fits "$redis_socket" && unix=(--unixsocket "$redis_socket" --unixsocketperm 700)
  redis-server --bind 127.0.0.1 --port "$redis_port" "${unix[@]}" --dir "$redis_dir" \
    --appendonly yes --appendfsync everysec --save '' \
    --daemonize yes --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log" >/dev/null
  for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null || { echo "Redis did not start; see $redis_dir/redis.log" >&2; exit 1; }
  log "Redis $(redis-server --version | sed -E 's/.*v=([0-9.]+).*/\1/') started on 127.0.0.1:$redis_port (AOF on, data in ${redis_dir#$root/})"
}

# The data directory must be reachable by the postgres user; when the checkout is not (a private
# home directory), the data lives in /tmp and .tm holds a symlink to it.
pg_datadir() {
  if [ -L "$pg_link" ] || [ -d "$pg_link" ]; then readlink -f "$pg_link"; return; fi
  mkdir -p "$base"
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -w "$base" 2>/dev/null; then
    chown postgres "$base" 2>/dev/null || true
  fi
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -w "$base" 2>/dev/null; then
    local tmp
    tmp=$(mktemp -d "/tmp/tm-postgres-$profile-XXXXXX")
    chown postgres "$tmp"
    ln -s "$tmp" "$pg_link"
  else
    mkdir -p "$pg_link"
    [ "$(id -u)" -eq 0 ] && chown postgres "$pg_link"
  fi
  readlink -f "$pg_link"
}

pg_ready() { "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$pg_port" >/dev/null 2>&1; }

pg_up() {
  local bin data
  bin=$(pg_bin)
  if pg_ready; then
    log "PostgreSQL already running on 127.0.0.1:$pg_port (reused)"
  else
    data=$(pg_datadir)
    if [ ! -f "$data/PG_VERSION" ]; then
      as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-instructions >"$base/initdb.log" 2>&1 \
        || { cat "$base/initdb.log" >&2; exit 1; }
    fi
    local opts="-c listen_addresses=127.0.0.1 -p $pg_port -k $data -c max_connections=200"
    [ "$profile" = test ] && opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c track_commit_timestamp=on"
    as_pg "$bin/pg_ctl" -D "$data" -l "$data/server.log" -o "$opts" -w -t 60 start >/dev/null \
      || { tail -n 20 "$data/server.log" >&2; exit 1; }
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') started on 127.0.0.1:$pg_port (data in ${pg_link#$root/})"
  fi
  if ! psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$dbname'" | grep -q 1; then
    psql -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qc "CREATE DATABASE $dbname" >/dev/null
    log "created database $dbname"
  fi
}

# Whether the env file gets socket URLs: yes unless TM_UNIX_SOCKETS=0.
sockets_wanted() { [ "${TM_UNIX_SOCKETS:-1}" != 0 ]; }

# The URLs the env file gets: a server's Unix socket when wanted and it listens on one (a server
# started by an older version of this script, reused, may not), else loopback TCP.
redis_url() {
  if sockets_wanted && [ -S "$redis_socket" ] \
    && redis-cli -s "$redis_socket" ping >/dev/null 2>&1; then
    # Quoted: the env file is also sourced by shell scripts, where '&' would end the line.
    echo "'unix://$redis_socket?db=0&host=127.0.0.1&port=$redis_port'"
  else
    echo "redis://127.0.0.1:$redis_port/0"
  fi
}

percent_encode() {
  local LC_ALL=C text=$1 out="" c i  # bytes, not characters
  for ((i = 0; i < ${#text}; i++)); do
    c=${text:i:1}
    case "$c" in [A-Za-z0-9._~-]) out+=$c ;; *) out+=$(printf '%%%02X' "'$c") ;; esac
  done
  echo "$out"
}

pg_url() {
  local dir
  dir=$(readlink -f "$pg_link" 2>/dev/null || true)
  if sockets_wanted && [ -n "$dir" ] && socket_fits "$dir/.s.PGSQL.$pg_port" \
    && [ -S "$dir/.s.PGSQL.$pg_port" ] && "$(pg_bin)/pg_isready" -q -h "$dir" -p "$pg_port" >/dev/null 2>&1; then
    # The socket directory as the host, percent-encoded, as libpq's URLs take it.
    echo "postgres://postgres@$(percent_encode "$dir"):$pg_port/$dbname"
  else
    echo "postgres://postgres@127.0.0.1:$pg_port/$dbname"
  fi
}

write_env() {
  mkdir -p "$(dirname "$envfile")"
  local key=""
  [ -f "$envfile" ] && key=$(sed -n 's/^TM_SECRET_KEY=//p' "$envfile")
  # The secret key seals broker credentials: generated once, then kept, or the data is unreadable.
  [ -n "$key" ] || key=$(head -c 32 /dev/urandom | base64)
  umask 077
  cat >"$envfile" <<ENV
# Written by scripts/tm-servers.sh for the '$profile' profile. Variables set in the environment win.
TM_REDIS_URL=$(redis_url)
TM_DATABASE_URL=$(pg_url)
TM_SECRET_KEY=$key
# Local profiles only: users' webhook and Slack URLs may point to loopback and private hosts (the
# tests' receivers and make up's run on 127.0.0.1). Production leaves it unset: such URLs are refused.
TM_NOTIFY_ALLOW_PRIVATE_TARGETS=1
ENV
  if [ "$profile" = dev ]; then
    # make up runs broker-sim here; the adapters reach every broker through it.
    local sim="http://127.0.0.1:${TM_BROKER_SIM_PORT:-7479}"
    cat >>"$envfile" <<ENV
TM_BROKER_SIM_URL=$sim
TM_KITE_BASE_URL=$sim/kite
TM_UPSTOX_BASE_URL=$sim/upstox
TM_UPSTOX_ORDER_BASE_URL=$sim/upstox
TM_ALPACA_BASE_URL=$sim/alpaca
TM_ALPACA_DATA_BASE_URL=$sim/alpaca-data
TM_BINANCE_BASE_URL=$sim/binance
ENV
  fi
}

redis_down() {
  if redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then
    redis-cli -h 127.0.0.1 -p "$redis_port" shutdown >/dev/null 2>&1 || true
    log "Redis on :$redis_port stopped"
  fi
}

pg_down() {
  if [ -e "$pg_link" ] && [ -f "$(readlink -f "$pg_link")/postmaster.pid" ]; then
    as_pg "$(pg_bin)/pg_ctl" -D "$(readlink -f "$pg_link")" -m fast -w stop >/dev/null 2>&1 || true
    log "PostgreSQL on :$pg_port stopped"
  fi
}

case "$cmd" in
  up)
    "$root/scripts/install-deps.sh"
    configure "$profile"; mkdir -p "$base"
    redis_up; pg_up; write_env
    log "environment written to ${envfile#$root/}"
    ;;
  down)
    if [ "$profile" = all ]; then for p in dev test; do configure $p; redis_down; pg_down; done
    else configure "$profile"; redis_down; pg_down; fi
    ;;
  status)
    configure "$profile"
    redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1 && echo "redis: up on :$redis_port" || echo "redis: down (:$redis_port)"
    pg_ready && echo "postgres: up on :$pg_port" || echo "postgres: down (:$pg_port)"
    ;;
  restart-redis) configure "$profile"; redis_down; redis_up ;;
  restart-postgres) configure "$profile"; pg_down; pg_up ;;
  *) echo "usage: $0 up|down|status|restart-redis|restart-postgres [dev|test|all]" >&2; exit 2 ;;
esac
