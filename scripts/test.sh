#!/usr/bin/env bash
# The test suite: unit, contract (clients ⇄ simulators over loopback HTTP) and end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/ensure-sshd.sh
bash scripts/ensure-postgres.sh >/dev/null   # the production-engine test starts a real PostgreSQL
bash scripts/ensure-chromium.sh >/dev/null   # the browser test of the Dagster UI drives Debian's chromium
# Three workers on CI's two cores: the tests wait on loopback servers, Dagster's subprocesses and the
# daemon, so a third keeps both cores busy (measured: 9.7 to 10.5 min, against 13.3 with two). worksteal: an
# idle worker takes tests from a busy one, so the long end-to-end tests do not finish last alone.
exec .venv/bin/python -m pytest -q -n 3 --dist worksteal "$@"
