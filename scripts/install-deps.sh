#!/usr/bin/env bash
# Installs the Debian packages the project needs (C libraries and the local servers).
# As root it runs apt-get; otherwise it prints the exact command to run and fails.
set -euo pipefail

need=()
[ -f /usr/include/hiredis/hiredis.h ]           || need+=(libhiredis-dev)
[ -f /usr/include/postgresql/libpq-fe.h ]       || need+=(libpq-dev)
[ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -f /usr/include/curl/curl.h ] \
  || [ -n "$(ls /usr/include/*/curl/curl.h 2>/dev/null)" ] || need+=(libcurl4-openssl-dev)
[ -f /usr/include/openssl/evp.h ]               || need+=(libssl-dev)
command -v redis-server >/dev/null              || need+=(redis-server)
command -v redis-cli >/dev/null                 || need+=(redis-tools)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v psql >/dev/null                      || need+=(postgresql-client)
# The notifier's tests deliver e-mail to an SMTP sink (Tests/Sinks/smtp_sink.py) on Debian's python3.
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need+=(python3-aiosmtpd)

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "==> installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian's redis-server package may start a system instance on 6379; ours uses its own port.
else
  echo "Missing Debian packages: ${need[*]}" >&2
  echo "Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
