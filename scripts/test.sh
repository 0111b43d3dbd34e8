#!/usr/bin/env bash
# The test suite: unit, contract (clients ⇄ simulators over loopback HTTP) and end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/ensure-sshd.sh
bash scripts/ensure-postgres.sh >/dev/null   # the production-engine test starts a real PostgreSQL
bash scripts/ensure-chromium.sh >/dev/null   # the browser test of the Dagster UI drives Debian's chromium
# One worker per core: most tests wait on loopback servers and subprocesses, so two overlap well.
exec .venv/bin/python -m pytest -q -n auto "$@"
