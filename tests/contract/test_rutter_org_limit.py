"""Rutter's rate limit belongs to the organization: two companies' runs in parallel, in two processes
on one Dagster instance set up as the embedded default's, take turns at it through the `rutter` pool
and stay under the sandbox's organization limit."""

import os
import subprocess
import sys

import dagster as dg
from dagster._core.instance import DagsterInstance, InstanceRef

from orchestration.embedded import write_instance_settings
from orchestration.tenants import sync_tenant_partitions
from tests.e2e.test_ingest_streams import ROOT, staged, truth

LIMIT, WINDOW_MS = 15, 500  # the organization limit, scaled down from Rutter's 500 per 10 s to keep the test short
# One company's run of four Rutter streams, with the client's limit set to the sandbox's.
RUNNER = """
import sys
import dagster as dg
import resources.rutter
resources.rutter.RATE_LIMIT = (int(sys.argv[2]), int(sys.argv[3]) / 1000)
from orchestration.definitions import build_definitions
defs = build_definitions()
with dg.DagsterInstance.get() as instance:
    result = defs.resolve_job_def("routty_sync").execute_in_process(
        instance=instance, partition_key=sys.argv[1], raise_on_error=False,
        asset_selection=[dg.AssetKey(["rutter", s]) for s in ("vendors", "customers", "bills", "invoices")])
print("run", result.run_id)
sys.exit(0 if result.success else 1)
"""
STEP_EVENTS = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}


def test_parallel_company_runs_take_turns_at_rutters_organization_limit(tenants_env, sandbox, tmp_path):
    sandbox.admin("POST", "faults", json={"window_limit": LIMIT, "window_ms": WINDOW_MS,
                                          "systems": ["rutter"]}).raise_for_status()
    home = tmp_path / "dagster_home"
    write_instance_settings(home)
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        # The instance's storage made once (two processes making it at once race in its migrations),
        # with the companies' partitions, as the tenants sensor makes them.
        sync_tenant_partitions(instance)
    env = {**os.environ, "DAGSTER_HOME": str(home), "RUTTER_PAGE_SIZE": "4"}  # small pages: many requests

    processes = [subprocess.Popen([sys.executable, "-c", RUNNER, tenant, str(LIMIT), str(WINDOW_MS)], cwd=ROOT,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for tenant in ("acme", "globex")]
    outputs = [p.communicate(timeout=120)[0] for p in processes]

    assert [p.returncode for p in processes] == [0, 0], [o[-1500:] for o in outputs]
    faults = sandbox.admin("GET", "faults").json()
    requests = sandbox.admin("GET", "stats").json()["counts"]["rutter"]
    assert requests > 5 * LIMIT  # enough to fill many windows
    assert faults["injected"].get("rate_limit", 0) == 0
    assert faults["busiest_window"]["rutter"] <= LIMIT
    for tenant in ("acme", "globex"):
        expected = {r["id"] for r in truth(sandbox, "rutter/vendors", tenant)}
        assert staged(tenants_env, "rutter_vendors", tenant) == expected
    runs = [line.split()[1] for output in outputs for line in output.splitlines() if line.startswith("run ")]
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        first, second = (rutter_steps(instance, run_id) for run_id in runs)
    # The mechanism: the runs ran at the same time, their Rutter steps one at a time.
    assert overlap(span(first), span(second)) and not any(overlap(a, b) for a in first for b in second)


def rutter_steps(instance: DagsterInstance, run_id: str) -> list[range]:
    """When each step of the run ran, in milliseconds."""
    times: dict[str, list[int]] = {}
    for entry in instance.all_logs(run_id, of_type=STEP_EVENTS):
        times.setdefault(entry.step_key, []).append(int(entry.timestamp * 1000))
    return [range(min(t), max(t)) for t in times.values()]


def overlap(a: range, b: range) -> bool:
    return a.start < b.stop and b.start < a.stop


def span(steps: list[range]) -> range:
    return range(min(s.start for s in steps), max(s.stop for s in steps))
