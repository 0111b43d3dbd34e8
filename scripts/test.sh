#!/usr/bin/env bash
# The test suite: unit, contract (clients ⇄ simulators over loopback HTTP) and end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/ensure-sshd.sh
exec .venv/bin/python -m pytest -q "$@"
