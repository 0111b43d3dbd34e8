#!/usr/bin/env bash
# The browser test (tests/e2e/test_dagster_ui.py) drives Debian's chromium through Playwright: install
# the package when no chromium is on PATH (no Playwright browser download), then print the executable.
# One lookup when it is there, so cheap to call before every test run.
set -euo pipefail
find_chromium() { command -v chromium || command -v chromium-browser || true; }
path="$(find_chromium)"
if [ -z "$path" ]; then
  echo "bootstrap: installing chromium for the Dagster UI browser test (once, about a minute)" >&2
  apt_install='apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null'
  if [ "$(id -u)" = 0 ]; then sh -c "$apt_install"
  elif command -v sudo >/dev/null 2>&1; then sudo -n sh -c "$apt_install"  # -n: fail, not hang, without a password
  else echo "bootstrap: chromium is missing and neither root nor sudo is available to install it; the browser test needs it" >&2; exit 1
  fi
  path="$(find_chromium)"
  [ -n "$path" ] || { echo "bootstrap: installing chromium did not provide a chromium executable" >&2; exit 1; }
fi
# Debian's /usr/bin/chromium is a wrapper script; Playwright can launch it (it passes its flags on).
echo "$path"
