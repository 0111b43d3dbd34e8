"""Many companies through the production instance: the daemon, the queue and the `rutter` pool.

    python -m benchmarks.companies --companies 50 --concurrency 1,2,4 [--size 8] [--seed 7]

For each concurrency c: a fresh PostgreSQL (tests/e2e/postgres.py), an instance made from
deploy/dagster.yaml with `concurrency.runs.max_concurrent_runs: c`, a fresh warehouse and a fresh
sandbox serving N companies, and `dagster-daemon run`. The sync schedule ticks once (its cron names
the minute that has just begun, as in tests/e2e/test_production_deployment.py) and asks for one
`routty_sync` run per company; the table gives the wall time from the tick to the last run's end,
and what went wrong on the way:
- runs failed;
- DuckDB lock errors: events of the runs (PostgreSQL event log) whose text says the warehouse file
  was locked (retried ones included: `DuckDBResource` retries a locked file with backoff);
- 429s: the sum of the ingest assets' `rate_limited_429` metadata (Rutter's limit is per organization,
  shared by every company: the pool keeps them from a storm);
- documents: every company's documents in Routty exactly once, checked as the fault campaign checks
  it (benchmarks/fault_invariants.check_documents: duplicates and losses against the simulator).

The sandbox serves two companies (`sandbox/tenants.yaml`); for N companies this script starts it with
N (`c01`, `c02`, ...: each its own Rutter connection, Jortt client, B2Brouter account and Routty
tenant, generated from the seed at --size vendors each), without changing the sandbox's code: it
extends `sandbox.credentials.TENANTS` in the sandbox's process before the dataset is built.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked", "lock on file")

# Runs in the sandbox's own process: N companies, then the usual `python -m sandbox`.
SANDBOX_BOOT = textwrap.dedent("""
    import random, runpy, sys
    from sandbox import credentials
    n = int(sys.argv.pop(1))
    # The credentials' class (named CompanyCredentials since the rename, TenantCredentials before).
    Credentials = type(next(iter(credentials.TENANTS.values())))
    extra = {}
    for i in range(1, n + 1):
        name = f"c{i:02d}"
        extra[name] = Credentials(
            name, f"sandbox-access-token-{name}", "current", (f"sandbox-jortt-client-{name}", f"sandbox-jortt-secret-{name}"),
            None, f"test_sandbox-b2brouter-{name}", str(20000 + i))
    credentials.TENANTS.clear()
    credentials.TENANTS.update(extra)
    credentials.ROUTTY_KEYS.clear()
    credentials.ROUTTY_KEYS.update({key: credentials.RouttyKey(t.name, env, *credentials.ROUTTY_CONFIGS[env])
                                    for t in credentials.TENANTS.values() for env, key in t.routty_keys.items()})

    from sandbox.data import dataset as ds
    import sandbox.app as app

    def build_dataset(size=200, seed=42):
        rng = random.Random(seed)
        org_id = ds.rand_uuid(rng)
        tenants = {}
        for k, (name, creds) in enumerate(credentials.TENANTS.items()):
            conn, own, vendor_cos = ds.rutter_connection(random.Random(f"{seed}:{name}"), creds.rutter_access_token,
                                                         org_id, size)
            conn.collections.update(ds.rutter_books(random.Random(f"rutter:{name}:{seed}"), conn.collections["vendors"]))
            jortt, org = ds.jortt_books(random.Random(f"jortt:{name}:{seed}"), vendor_cos, own, size)
            account, b2b = ds.b2brouter_books(random.Random(f"b2brouter:{name}:{seed}"), creds, vendor_cos, own, size,
                                              jortt, base=k * 100_000)
            tenants[name] = ds.SandboxCompany(name, creds, conn, jortt, org, account, b2b)
        return ds.Dataset(size, seed, tenants)

    app.build_dataset = build_dataset
    sys.argv[0] = "sandbox"
    runpy.run_module("sandbox", run_name="__main__")
""")


def start_sandbox(companies: int, size: int, seed: int, workdir: Path):
    """The sandbox with `companies` companies; returns (Sandbox, its environment for the companies)."""
    from sandbox import credentials
    from sandbox.server import SHARED_ENV, Sandbox, _wait_for_port, _wait_healthy, embedded_env

    port_file, err_file = workdir / "port", workdir / "stderr"
    cmd = [sys.executable, "-c", SANDBOX_BOOT, str(companies), "--port", "0", "--size", str(size), "--seed", str(seed),
           "--processing-delay", "0.2", "--port-file", str(port_file)]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    with open(workdir / "stdout", "wb") as out, open(err_file, "wb") as err:
        process = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    sandbox = Sandbox("", process, [port_file, workdir / "stdout", err_file])  # _wait_healthy reads [2]
    try:
        sandbox.base_url = f"http://127.0.0.1:{_wait_for_port(process, port_file)}"
        _wait_healthy(sandbox)
    except BaseException:
        sandbox.stop()
        raise
    shared = embedded_env(sandbox.base_url)
    company_env = {name: shared[name] for name in SHARED_ENV}
    tenants = []
    for i in range(1, companies + 1):
        name, prefix = f"c{i:02d}", f"C{i:02d}_"
        company_env.update({
            f"{prefix}RUTTER_ACCESS_TOKEN": f"sandbox-access-token-{name}",
            f"{prefix}JORTT_CLIENT_ID": f"sandbox-jortt-client-{name}",
            f"{prefix}JORTT_CLIENT_SECRET": f"sandbox-jortt-secret-{name}",
            f"{prefix}B2BROUTER_API_KEY": f"test_sandbox-b2brouter-{name}",
            f"{prefix}B2BROUTER_ACCOUNT_ID": str(20000 + i),
            **{f"{prefix}{env_name}": f"sandbox-routty-{name}-{env_name.removeprefix('ROUTTY_').lower().replace('_', '-')}"
               for env_name in credentials.ROUTTY_CONFIGS},
        })
        tenants.append({"id": name, "env_prefix": prefix, "jortt_api": "current"})
    (workdir / "tenants.yaml").write_text(yaml.safe_dump({"tenants": tenants}))
    company_env["TENANTS_FILE"] = str(workdir / "tenants.yaml")
    return sandbox, company_env


def run_once(companies: int, concurrency: int, size: int, seed: int, timeout: float, per_company: bool = True) -> dict:
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.scheduler.instigation import (InstigatorState, InstigatorStatus, InstigatorType,
                                                      ScheduleInstigatorData, TickStatus)
    from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    from tests.e2e.postgres import postgres_server
    from tests.e2e.test_production_deployment import ACTIVE, FAR_AWAY_CRON, Daemon, instance_settings, write_workspace

    workdir = Path(tempfile.mkdtemp(prefix=f"bench-companies-{concurrency}-"))
    saved_env = dict(os.environ)
    sandbox, company_env = start_sandbox(companies, size, seed, workdir)
    try:
        with postgres_server(max_connections=400) as pg:
            home = workdir / "dagster_home"
            home.mkdir()
            (home / "dagster.yaml").write_text(yaml.safe_dump(instance_settings(concurrency)))
            workspace = write_workspace(workdir / "workspace.yaml")
            tick_time = dt.datetime.fromtimestamp(time.time() // 60 * 60, tz=dt.timezone.utc)
            os.environ.update({
                **company_env, "DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": pg.host, "DAGSTER_PG_PORT": str(pg.port),
                "DAGSTER_PG_USER": pg.user, "DAGSTER_PG_PASSWORD": pg.password, "DAGSTER_PG_DB": pg.dbname,
                "WAREHOUSE_PATH": str(workdir / ("warehouses/{tenant}.duckdb" if per_company else "warehouse.duckdb")),
                "ROUTTY_OUTBOX_URL": str(workdir / "outbox"),
                "ROUTTY_SYNC_CRON": f"{tick_time.minute} {tick_time.hour} * * *", "ROUTTY_SYNC_TIMEZONE": "UTC",
                "ROUTTY_PUSH_CRON": FAR_AWAY_CRON, "ROUTTY_EXPORTS_CRON": FAR_AWAY_CRON,
                "PYTHONPATH": str(PROJECT_ROOT),
            })
            with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
                with WorkspaceProcessContext(instance, WorkspaceFileTarget([str(workspace)])) as context:
                    repository = next(iter(context.create_request_context().get_code_location("routty_sync")
                                           .get_repositories().values()))
                    schedule = repository.get_schedule("routty_sync_schedule")
                    instance.add_instigator_state(InstigatorState(
                        schedule.get_remote_origin(), InstigatorType.SCHEDULE, InstigatorStatus.DECLARED_IN_CODE,
                        ScheduleInstigatorData(schedule.cron_schedule, start_timestamp=tick_time.timestamp() - 1)))
                    origin_id, selector_id = schedule.get_remote_origin_id(), schedule.selector_id
                daemon = Daemon(workspace, dict(os.environ), workdir / "daemon.log")
                try:
                    deadline = time.monotonic() + timeout
                    sync = RunsFilter(job_name="routty_sync")
                    while time.monotonic() < deadline:
                        ticks = [t for t in instance.get_ticks(origin_id, selector_id)
                                 if t.timestamp == tick_time.timestamp() and t.status == TickStatus.SUCCESS]
                        runs = instance.get_runs(sync)
                        if ticks and len(runs) >= companies and all(r.status not in ACTIVE for r in runs):
                            break
                        if not daemon.alive():
                            raise RuntimeError(f"daemon exited:\n{daemon.tail()}")
                        time.sleep(2)
                    else:
                        raise TimeoutError(f"runs not finished after {timeout:.0f} s (concurrency {concurrency})")
                finally:
                    daemon.stop()
                records = instance.get_run_records(sync)
                started = min(r.create_timestamp.timestamp() for r in records)
                ended = max(r.end_time for r in records if r.end_time)
                failed = [r.dagster_run.tags.get("tenant") for r in records
                          if r.dagster_run.status != DagsterRunStatus.SUCCESS]
                peak = most_at_once([(r.start_time, r.end_time) for r in records if r.start_time and r.end_time])
                with pg.connect() as connection, connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM event_logs WHERE " +
                                   " OR ".join(["event ILIKE %s"] * len(LOCK_MARKERS)),
                                   [f"%{m}%" for m in LOCK_MARKERS])
                    lock_events = cursor.fetchone()[0]
                rate_limited = 0
                for record in records:
                    for entry in instance.all_logs(record.dagster_run.run_id,
                                                   of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
                        value = entry.dagster_event.materialization.metadata.get("rate_limited_429")
                        rate_limited += int(value.value) if value is not None else 0
            duplicates, losses, expected = _documents(sandbox, os.environ["WAREHOUSE_PATH"])
            faults = sandbox.admin("GET", "faults")
            return {"companies": companies, "concurrency": concurrency,
                    "warehouse": "per company" if per_company else "one file", "wall_s": round(ended - started, 1),
                    "per_company_s": round((ended - started) / companies, 2), "peak_runs": peak,
                    "failed_runs": len(failed), "lock_errors": lock_events, "rate_limited_429": rate_limited,
                    "documents_expected": expected, "duplicates": duplicates, "losses": losses,
                    "sandbox_faults": faults.json() if faults.status_code == 200 else None}
    finally:
        sandbox.stop()
        os.environ.clear()
        os.environ.update(saved_env)


def _documents(sandbox, warehouse_path: str) -> tuple[int, int, int]:
    """(duplicates, losses, documents due) over every company's warehouse: one file, or one each."""
    import duckdb

    from benchmarks.fault_invariants import Findings, check_documents, expected_documents
    from resources.tenants import all_tenants

    findings, expected = Findings(), set()
    for tenant in all_tenants():
        with duckdb.connect(warehouse_path.replace("{tenant}", tenant.id), read_only=True) as conn:
            expected |= expected_documents(conn, [tenant])
    check_documents(sandbox.admin, None, [], findings, expected=expected)
    return findings.total("duplicate"), findings.total("loss"), findings.counts["documents expected"]


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of [start, end] intervals that overlap at one moment."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1]))
    current = peak = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


COLUMNS = (("warehouse", "warehouse"), ("concurrency", "runs at once (max)"), ("wall_s", "wall time (s)"), ("per_company_s", "s / company"),
           ("peak_runs", "peak runs"), ("failed_runs", "failed runs"), ("lock_errors", "DuckDB lock events"),
           ("rate_limited_429", "429s"), ("documents_expected", "documents"), ("duplicates", "duplicates"),
           ("losses", "losses"))


def render(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row[key]) for key, _ in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.companies", description=__doc__.splitlines()[0])
    parser.add_argument("--companies", type=int, default=50)
    parser.add_argument("--concurrency", default="1,2,4", help="comma-separated max_concurrent_runs to measure")
    parser.add_argument("--size", type=int, default=8, help="vendors per company in the sandbox (small books)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=7200, help="seconds per concurrency level")
    parser.add_argument("--warehouse", default="per-company", choices=("per-company", "one-file", "both"),
                        help="WAREHOUSE_PATH with {tenant} (one DuckDB file per company) or one file for all")
    parser.add_argument("--json", type=Path, help="also write the rows (with the sandbox's fault counters) here")
    args = parser.parse_args(argv)
    random.seed(args.seed)
    rows = []
    layouts = {"per-company": [True], "one-file": [False], "both": [False, True]}[args.warehouse]
    for per_company in layouts:
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            row = run_once(args.companies, concurrency, args.size, args.seed, args.timeout, per_company)
            print(json.dumps({k: v for k, v in row.items() if k != "sandbox_faults"}), flush=True)
            rows.append(row)
    print(f"\n{args.companies} companies, sandbox size {args.size}, seed {args.seed}\n")
    print(render(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))
    return 0 if all(r["failed_runs"] == 0 and r["duplicates"] == 0 and r["losses"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
