#!/usr/bin/env bash
# The main job on the embedded default: sandbox simulators + a local DuckDB file, no credentials.
# Extra arguments go to `python -m orchestration.embedded` (e.g. --ui, --size 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# exec: the runner is this process, so SIGTERM/SIGHUP from a service manager or CI reach the Python
# runner itself, which stops everything it started (orchestration/embedded.py).
exec .venv/bin/python -m orchestration.embedded "$@"
