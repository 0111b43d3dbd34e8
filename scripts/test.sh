#!/usr/bin/env bash
# The test suite: unit, contract (clients ⇄ simulators over loopback HTTP) and end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/ensure-sshd.sh
# One worker per core: most tests wait on loopback servers and subprocesses, so two overlap well.
exec .venv/bin/python -m pytest -q -n auto "$@"
