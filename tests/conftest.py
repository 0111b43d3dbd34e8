"""Shared fixtures: one sandbox process per test session (real HTTP over loopback), reset before
each test that uses it, and an isolated warehouse, outbox and Dagster instance per test."""

import os
from pathlib import Path

import dagster as dg
import pytest

from orchestration.tenants import sync_tenant_partitions
from resources.tenants import DEFAULT_TENANT_ID
from sandbox.server import start_sandbox

SANDBOX_SIZE = 120
TENANTS_FILE = Path(__file__).resolve().parent.parent / "sandbox" / "tenants.yaml"
# The longest tests (seconds, measured on 2 cores), started first, one at the head of each worker's
# share: pytest-xdist's worksteal hands each worker a contiguous share of the collection, and a long
# test at the end of a share otherwise runs alone after everything else has finished.
LONG_TESTS = {
    "test_dagster_ui.py::": 120, "test_production_deployment.py::": 118, "test_fault_campaign.py::": 96,
    "test_companies_apart.py::test_each_company": 83, "test_input_documents.py::test_main_job": 75,
    "test_exports.py::test_the_main_job": 66, "test_definitions.py::test_cli": 49,
    "test_ingest_streams.py::test_every_stream": 41,
}


def _seconds(item) -> int:
    return next((s for name, s in LONG_TESTS.items() if name in item.nodeid), 0)


def pytest_collection_modifyitems(config, items):
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    long = sorted((i for i in items if _seconds(i)), key=_seconds, reverse=True)
    rest = [i for i in items if not _seconds(i)]
    ordered, pending = [], len(items)
    for worker in range(workers):  # the shares worksteal makes: what is left, split evenly
        share, heads = pending // (workers - worker), long[worker::workers]
        ordered += heads + rest[:max(0, share - len(heads))]
        del rest[:max(0, share - len(heads))]
        pending -= share
    items[:] = ordered + rest


@pytest.fixture(scope="session")
def sandbox_process():
    sandbox = start_sandbox(size=SANDBOX_SIZE, seed=7, processing_delay=0.2)
    yield sandbox
    sandbox.stop()


def reset_sandbox(sandbox_process, size: int = SANDBOX_SIZE):
    """The session's sandbox with fresh data of `size` vendors and Routty's default settings."""
    sandbox_process.admin("POST", "reset", json={"size": size, "seed": 7}).raise_for_status()
    sandbox_process.admin("POST", "routty/settings", json={"processing_delay": 0.2, "fail_next": 0}).raise_for_status()
    return sandbox_process


@pytest.fixture
def sandbox(sandbox_process):
    return reset_sandbox(sandbox_process)


@pytest.fixture
def embedded_env(sandbox, tmp_path, monkeypatch):
    """The embedded default pointed at the test sandbox, with this test's own files."""
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("ROUTTY_OUTBOX_URL", str(tmp_path / "outbox"))
    monkeypatch.delenv("TENANTS_FILE", raising=False)
    return dict(os.environ)


@pytest.fixture
def tenants_env(sandbox, tmp_path, monkeypatch):
    """The sandbox's two companies (sandbox/tenants.yaml), each with its own keys, and this test's files."""
    for name, value in sandbox.tenant_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TENANTS_FILE", str(TENANTS_FILE))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("ROUTTY_OUTBOX_URL", str(tmp_path / "outbox"))
    return dict(os.environ)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def execute(job: dg.JobDefinition, instance: dg.DagsterInstance, tenant: str = DEFAULT_TENANT_ID, **kwargs):
    """`job` run for one company as the schedules run it: in the company's partition. The instance first
    gets the partitions of the companies the environment names now, as the tenants sensor makes them
    (called at run time, after the fixtures that set TENANTS_FILE)."""
    sync_tenant_partitions(instance)
    return job.execute_in_process(instance=instance, partition_key=tenant, **kwargs)
