"""The code location's shape, pinned: asset keys with their group and upstream keys, checks, jobs,
schedules with their crons, sensors. A change to the graph then shows in review as a change to
tests/snapshots/definitions.txt. After a deliberate change:

    UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/unit/test_definitions_snapshot.py
"""

import os
from pathlib import Path

import dagster as dg

from orchestration.definitions import build_definitions

SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "definitions.txt"


def describe(defs: dg.Definitions) -> str:
    graph = defs.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        parents = ", ".join(sorted(p.to_user_string() for p in node.parent_keys))
        lines.append(f"asset {key.to_user_string()} [{node.group_name}] <- {parents or '-'}")
    for check in sorted(graph.asset_check_keys, key=lambda c: (c.asset_key.to_user_string(), c.name)):
        blocking = " blocking" if graph.get_check_spec(check).blocking else ""
        lines.append(f"check {check.asset_key.to_user_string()}:{check.name}{blocking}")
    lines += [f"job {job.name}" for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name)
              if not job.name.startswith("__")]
    lines += [f"schedule {s.name} '{s.cron_schedule}' {s.execution_timezone} -> {s.job_name}"
              for s in sorted(defs.schedules, key=lambda s: s.name)]
    lines += [f"sensor {s.name} -> {', '.join(sorted(j.name for j in s.jobs)) if s.has_jobs else '-'}"
              for s in sorted(defs.sensors, key=lambda s: s.name)]
    return "\n".join(lines) + "\n"


def test_the_definitions_match_the_snapshot(monkeypatch):
    for name in ("ROUTTY_SYNC_CRON", "ROUTTY_PUSH_CRON", "ROUTTY_EXPORTS_CRON", "ROUTTY_SYNC_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)  # the defaults are what is pinned
    current = describe(build_definitions())
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(current)
    assert current == SNAPSHOT.read_text(), "the definitions changed: review the diff, then UPDATE_SNAPSHOTS=1"
