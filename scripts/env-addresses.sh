# shellcheck shell=bash
# Sourced after an env file written by scripts/tm-servers.sh: the servers' addresses for command-line
# tools, over the same transport as the URLs (a Unix socket when the URL names one, else TCP).
#   redis_port, redis_args (redis-cli / redis-benchmark: -s SOCKET or -h HOST -p PORT),
#   pg_host (host name or socket directory: psql/pgbench -h), pg_port, db.
# A unix:// Redis URL carries its TCP port as port=; a Postgres socket directory is percent-encoded.

url_decode() { printf '%b' "${1//%/\\x}"; }

redis_port=$(sed -E -e 's#.*[?&]port=([0-9]+).*#\1#;t' -e 's#.*:([0-9]+)(/.*)?$#\1#;t' -e 's#.*#6379#' <<<"$TM_REDIS_URL")
case "$TM_REDIS_URL" in
  unix://*) redis_socket=${TM_REDIS_URL#unix://}; redis_socket=$(url_decode "${redis_socket%%\?*}"); redis_args=(-s "$redis_socket") ;;
  *) redis_host=$(sed -E 's#^redis://([^@/]*@)?([^:/]+).*#\2#' <<<"$TM_REDIS_URL"); redis_args=(-h "$redis_host" -p "$redis_port") ;;
esac
pg_port=$(sed -E 's#.*:([0-9]+)/.*#\1#' <<<"$TM_DATABASE_URL")
pg_host=$(url_decode "$(sed -E 's#^postgres(ql)?://([^@/]*@)?([^/]*):[0-9]+/.*#\3#' <<<"$TM_DATABASE_URL")")
db=${TM_DATABASE_URL##*/}
db=${db%%\?*}
