#!/usr/bin/env bash
# The production-deployment tests (tests/e2e) start a throwaway PostgreSQL server: make `initdb` and
# `pg_ctl` available, installing Debian's postgresql when no server binaries are found, and print
# the directory that holds them (tests/e2e/postgres.py looks in the same places). Quiet and one stat
# when they are already there, so cheap to call before every test run.
set -euo pipefail

find_bindir() {
  local initdb
  if initdb="$(command -v initdb 2>/dev/null)" && [ -x "$(dirname "$initdb")/pg_ctl" ]; then
    dirname "$initdb"; return 0
  fi
  # Debian/Ubuntu keep the server binaries off PATH, one folder per major version: the newest wins.
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
  done
  return 1
}

if bindir="$(find_bindir)"; then
  echo "$bindir"
  exit 0
fi

echo "bootstrap: installing postgresql for the production-deployment tests (once, about 30 s)" >&2
apt_install='apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null'
if [ "$(id -u)" = 0 ]; then sh -c "$apt_install"
elif command -v sudo >/dev/null 2>&1; then sudo -n sh -c "$apt_install"  # -n: fail, not hang, without a password
else echo "bootstrap: initdb/pg_ctl are missing and neither root nor sudo is available to install postgresql; the production-deployment tests need them" >&2; exit 1
fi
bindir="$(find_bindir)" || { echo "bootstrap: installing postgresql did not provide initdb and pg_ctl" >&2; exit 1; }
echo "$bindir"
