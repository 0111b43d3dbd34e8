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
