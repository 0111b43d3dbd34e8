"""The production instance (deploy/dagster.yaml) end to end: a real PostgreSQL, the sandbox's two
companies, and `dagster-daemon run` as a subprocess, as a deployment runs it.

The instance is deploy/dagster.yaml as written, with its storage pointed at a throwaway PostgreSQL
(through the same DAGSTER_PG_* variables) and two runs at most (`concurrency.runs.max_concurrent_runs`).
What it shows:
- the sync schedule ticks, through the daemon, and asks for one run per company;
- the queued run coordinator launches them, never more than two at once and never two of one company
  (read back from the run records in PostgreSQL), and both runs succeed;
- every sensor ticks;
- a second evaluation of the sync schedule for the same cron time (the daemon restarted after dying in
  the middle of the tick) starts nothing new: the run keys hold.

Promptly: the schedule's cron names the minute that has just begun, and its state is created before
the daemon starts with a start time just before that minute, so the daemon's first iteration
evaluates it (a cron of `* * * * *` would wait up to a minute, and tick again a minute later). The
other schedules get a cron far away, so the runs of this test are the sync's and the sensors'.

Parallel-safe under pytest-xdist: its own PostgreSQL on a free port, its own DAGSTER_HOME, warehouse,
outbox and workspace file in tmp_path, the worker's own sandbox; the daemon and everything it starts
(code server, runs) form one process group, stopped at the end.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.instance.ref import InstanceRef
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    ScheduleInstigatorData,
    TickStatus,
)
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter
from dagster._core.storage.tags import SCHEDULE_NAME_TAG
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from benchmarks.companies import most_at_once
from orchestration.embedded import signal_group
from tests.conftest import reset_sandbox
from tests.e2e.postgres import PostgresUnavailable, postgres_server

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_INSTANCE = PROJECT_ROOT / "deploy" / "dagster.yaml"
LOCATION = "routty_sync"
SYNC_SCHEDULE = "routty_sync_schedule"
SYNC_JOB = "routty_sync"
MAX_CONCURRENT_RUNS = 2
SANDBOX_SIZE = 10  # small books: the subject is the deployment, not the volume
RUNS_TIMEOUT = 240.0  # about 100 s alone on 2 cores; more beside the rest of the suite
ACTIVE = (DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
          DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING)
FAR_AWAY_CRON = "0 0 29 2 *"  # 29 February: never during a test


def instance_settings(max_concurrent_runs: int) -> dict:
    """deploy/dagster.yaml as it is (storage from DAGSTER_PG_*), with the test's run limit and a
    quicker queue."""
    settings = yaml.safe_load(DEPLOY_INSTANCE.read_text())
    settings["concurrency"]["runs"]["max_concurrent_runs"] = max_concurrent_runs
    settings["run_coordinator"]["config"]["dequeue_interval_seconds"] = 1
    return settings


def write_workspace(path: Path) -> Path:
    path.write_text(yaml.safe_dump({"load_from": [{"python_module": {
        "module_name": "orchestration.definitions", "attribute": "defs", "location_name": LOCATION,
        "working_directory": str(PROJECT_ROOT)}}]}))
    return path


class Daemon:
    """`dagster-daemon run` in a process group of its own (with its code server and the runs it launches)."""

    def __init__(self, workspace: Path, env: dict, log: Path):
        self.log = log
        with open(log, "ab") as out:
            # The test's interpreter, so the daemon's code location origin is the one this test loads.
            self.process = subprocess.Popen([sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)],
                                            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, process_group=0)

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to the group, SIGKILL to whatever is left after `grace` seconds."""
        group = self.process.pid
        signal_group(group, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while group_alive(group) and time.monotonic() < deadline:
            self.process.poll()
            time.sleep(0.2)
        signal_group(group, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        while group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.1)


def group_alive(group: int) -> bool:
    """Whether a process of the group still runs. Zombies do not count: killed children are
    reparented to PID 1, which in a container may be slow to reap them (or never does)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":  # fields after the name: state, ppid, pgrp
            return True
    return False


def wait_for(what: str, check, timeout: float, daemon: Daemon, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if not daemon.alive():
            pytest.fail(f"dagster-daemon exited ({daemon.process.returncode}) while waiting for {what}:\n{daemon.tail()}")
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; daemon log:\n{daemon.tail()}")


def _phase(started_at: float, what: str) -> None:
    print(f"[{time.monotonic() - started_at:6.1f} s] {what}", flush=True)


@pytest.fixture
def postgres():
    try:
        with postgres_server() as server:
            yield server
    except PostgresUnavailable as error:
        pytest.fail(f"the production-deployment test needs a PostgreSQL server and could not start one: {error} "
                    "(run scripts/ensure-postgres.sh)")


def test_daemon_runs_one_sync_per_company_through_the_queue(tenants_env, sandbox, postgres, tmp_path, monkeypatch):
    started_at = time.monotonic()
    reset_sandbox(sandbox, size=SANDBOX_SIZE)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_settings(MAX_CONCURRENT_RUNS)))
    workspace = write_workspace(tmp_path / "workspace.yaml")

    # The schedule's minute: the one that has just begun (UTC); it comes again only in 24 hours.
    tick_time = dt.datetime.fromtimestamp(time.time() // 60 * 60, tz=dt.timezone.utc)
    settings = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": postgres.host, "DAGSTER_PG_PORT": str(postgres.port), "DAGSTER_PG_USER": postgres.user,
        "DAGSTER_PG_PASSWORD": postgres.password, "DAGSTER_PG_DB": postgres.dbname,
        "ROUTTY_SYNC_CRON": f"{tick_time.minute} {tick_time.hour} * * *", "ROUTTY_SYNC_TIMEZONE": "UTC",
        "ROUTTY_PUSH_CRON": FAR_AWAY_CRON, "ROUTTY_EXPORTS_CRON": FAR_AWAY_CRON,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    env = dict(os.environ)

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"

        # The definitions as the daemon will load them: the schedule's state (started just before its
        # minute, so its first evaluation is due at once) and the names of the sensors.
        with WorkspaceProcessContext(instance, WorkspaceFileTarget([str(workspace)])) as context:
            location = context.create_request_context().get_code_location(LOCATION)
            repository = next(iter(location.get_repositories().values()))
            schedule = repository.get_schedule(SYNC_SCHEDULE)
            sensors = [sensor.name for sensor in repository.get_sensors()]
            instance.add_instigator_state(InstigatorState(
                schedule.get_remote_origin(), InstigatorType.SCHEDULE, InstigatorStatus.DECLARED_IN_CODE,
                ScheduleInstigatorData(schedule.cron_schedule, start_timestamp=tick_time.timestamp() - 1)))
            origin_id, selector_id = schedule.get_remote_origin_id(), schedule.selector_id
        assert len(sensors) >= 4, sensors

        def sync_runs():
            return instance.get_runs(RunsFilter(job_name=SYNC_JOB, tags={SCHEDULE_NAME_TAG: SYNC_SCHEDULE}))

        def the_tick(statuses=(TickStatus.SUCCESS,)):
            ticks = [t for t in instance.get_ticks(origin_id, selector_id) if t.timestamp == tick_time.timestamp()]
            return ticks[0] if ticks and ticks[0].status in statuses else None

        _phase(started_at, "schedule state created; starting the daemon")
        daemon = Daemon(workspace, env, tmp_path / "daemon.log")
        try:
            # 1. The schedule ticks at once and asks for one run per company.
            tick = wait_for("the sync schedule's tick", the_tick, 60, daemon)
            _phase(started_at, "sync schedule ticked")
            runs = sync_runs()
            assert sorted(r.tags.get("tenant") for r in runs) == ["acme", "globex"], [r.tags for r in runs]
            assert sorted(r.tags.get("dagster/partition") for r in runs) == ["acme", "globex"]
            assert sorted(tick.run_ids) == sorted(r.run_id for r in runs)

            # 2. The queue launches them; both succeed.
            def finished():
                current = sync_runs()
                return current if all(r.status not in ACTIVE for r in current) else None

            runs = wait_for("the sync runs to finish", finished, RUNS_TIMEOUT, daemon, interval=1.0)
            _phase(started_at, "sync runs finished")
            failed = [(r.tags["tenant"], r.status.value) for r in runs if r.status != DagsterRunStatus.SUCCESS]
            assert not failed, f"sync runs did not succeed: {failed}\n{daemon.tail()}"

            # 3. Every sensor has ticked.
            def sensors_ticked():
                states = {s.instigator_name: s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)}
                ticked = {name: instance.get_ticks(states[name].instigator_origin_id, states[name].selector_id, limit=1)
                          for name in sensors if name in states}
                return ticked if len(ticked) == len(sensors) and all(ticked.values()) else None

            ticks_by_sensor = wait_for("a tick of every sensor", sensors_ticked, 30, daemon)
            assert {name: t[0].status for name, t in ticks_by_sensor.items()
                    if t[0].status == TickStatus.FAILURE} == {}, [t[0].error for t in ticks_by_sensor.values()]
        finally:
            daemon.stop()
            _phase(started_at, "daemon stopped")
        assert not group_alive(daemon.process.pid), "processes of the daemon's group survived its stop"

        # 4. The queue's limits, from the run records in PostgreSQL: every run of the test (the sensors'
        # included), never more than MAX_CONCURRENT_RUNS at once, never two of one company.
        records = instance.get_run_records()
        spans = [(r.start_time, r.end_time or time.time()) for r in records if r.start_time]
        assert most_at_once(spans) <= MAX_CONCURRENT_RUNS, [(r.dagster_run.job_name, r.start_time, r.end_time) for r in records]
        by_tenant: dict[str, list] = {}
        for r in records:
            if r.start_time and r.dagster_run.tags.get("tenant"):
                by_tenant.setdefault(r.dagster_run.tags["tenant"], []).append((r.start_time, r.end_time or time.time()))
        assert all(most_at_once(s) == 1 for s in by_tenant.values()), by_tenant
        sync_spans = [(r.start_time, r.end_time) for r in records if r.dagster_run.job_name == SYNC_JOB]
        assert most_at_once(sync_spans) == 2, f"the two companies' syncs did not run side by side: {sync_spans}"
        with postgres.connect() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM runs WHERE pipeline_name = %s", (SYNC_JOB,))
            assert cursor.fetchone()[0] == 2

        # Runs the sensors started and the stop cut short are closed, so the restarted daemon has none to run.
        for record in instance.get_run_records(RunsFilter(statuses=list(ACTIVE))):
            instance.report_run_canceled(record.dagster_run, message="test: daemon stopped")

        # 5. The daemon dies in the middle of the tick (its runs submitted, the tick not yet closed) and
        # starts again: it evaluates the same cron time again, and the run keys start nothing new.
        instance.update_tick(tick.with_status(TickStatus.STARTED))
        state = instance.get_instigator_state(origin_id, selector_id)
        instance.update_instigator_state(state.with_data(ScheduleInstigatorData(
            schedule.cron_schedule, start_timestamp=tick_time.timestamp() - 1,
            last_iteration_timestamp=tick_time.timestamp() - 1)))
        daemon = Daemon(workspace, env, tmp_path / "daemon-restarted.log")
        try:
            again = wait_for("the sync schedule's tick, evaluated again", the_tick, 60, daemon)
            assert again.tick_id == tick.tick_id
            assert sorted(again.run_ids) == sorted(r.run_id for r in runs)
            assert len(sync_runs()) == 2, [(r.run_id, r.tags) for r in sync_runs()]
            _phase(started_at, "second evaluation of the tick")
        finally:
            daemon.stop()
            _phase(started_at, "restarted daemon stopped")
        assert not group_alive(daemon.process.pid), "processes of the restarted daemon's group survived its stop"

