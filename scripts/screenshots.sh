#!/usr/bin/env bash
# Regenerates the README's screenshots (docs/images/asset-graph.png, docs/images/company-status.png):
# runs the Dagster UI browser test, which drives the UI against the sandbox and, with
# ROUTTY_UI_SCREENSHOTS_TO_DOCS=1, copies those two of its screenshots (test-output/ui/) there.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/ensure-chromium.sh >/dev/null
ROUTTY_UI_SCREENSHOTS_TO_DOCS=1 exec .venv/bin/python -m pytest -q -s tests/e2e/test_dagster_ui.py "$@"
