"""Two companies, each with its own Routty keys and no shared one, through the whole loop against a
Routty simulator that keeps its tenants apart by key: each company's masterdata, documents and
feedback arrive under its own keys only, and the status sensor polls each upload with the key that
made it."""

import json
import os
import time

import dagster as dg
import duckdb
import pytest

from orchestration.definitions import build_definitions
from assets.masterdata.sensors import masterdata_status_sensor
from resources.routty import RouttyResource
from tests.conftest import execute, reset_sandbox

COMPANIES = ("acme", "globex")
LEAVE_UPLOADS_TO_THE_SENSOR = {"masterdata__upload_status": {"config": {"max_wait_seconds": 0}}}


@pytest.fixture
def sandbox(sandbox_process):
    return reset_sandbox(sandbox_process, size=20)


@pytest.fixture
def companies(tenants_env, sandbox):
    sandbox.admin("POST", "routty/settings", json={"processing_delay": 0.5}).raise_for_status()
    assert not [name for name in sandbox.tenant_env() if name.startswith("ROUTTY_") and name.endswith("_KEY")]  # none shared
    return sandbox


def run(instance, job: str, company: str, ops: dict | None = None) -> None:
    result = execute(build_definitions().resolve_job_def(job), instance, company,
        run_config={"ops": ops or {}}, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]


def warehouse(sql: str, params=()) -> list[tuple]:
    with duckdb.connect(os.environ["WAREHOUSE_PATH"], read_only=True) as db:
        return db.execute(sql, list(params)).fetchall()


def test_each_company_reaches_routty_under_its_own_keys_only(companies, instance):
    for company in COMPANIES:
        run(instance, "routty_sync", company, LEAVE_UPLOADS_TO_THE_SENSOR)
    admin = companies.admin

    uploads = admin("GET", "routty/masterdata").json()["uploads"]
    assert {u["routty_tenant"] for u in uploads} == set(COMPANIES)
    for upload in uploads:  # our correlation id starts with the company that sent it
        assert (upload["routty_tenant"], upload["key_name"]) == (upload["correlation_id"].split(":")[0], "ROUTTY_API_KEY")
    for company in COMPANIES:
        held = set(admin("GET", "routty/store", params={"tenant": company}).json()["parties"])
        ours = {n for (n,) in warehouse("SELECT number FROM model.routty_parties WHERE tenant_id = ?", [company])}
        theirs = {n for (n,) in warehouse("SELECT number FROM model.routty_parties WHERE tenant_id <> ?", [company])}
        assert held and held <= ours and not held & (theirs - ours)

    documents = admin("GET", "routty/documents").json()["documents"]
    sent_by = dict(warehouse("SELECT document_id, tenant_id FROM sync.routty_documents WHERE document_id IS NOT NULL"))
    assert {d["routty_tenant"] for d in documents} == set(COMPANIES)
    for document in documents:
        assert document["routty_tenant"] == sent_by[document["documentId"]]
        flow_key = {"Outbound": "ROUTTY_INPUT_OUTBOUND_API_KEY", "Inbound": "ROUTTY_INPUT_INBOUND_API_KEY"}
        assert document["key_name"] == flow_key[document["flow"]]

    # The sensor follows every upload still in flight, each with the key of the company that made it.
    admin("DELETE", "stats")
    time.sleep(0.6)
    context = dg.build_sensor_context(instance=instance, resources={"routty": RouttyResource(
        base_url=companies.env()["ROUTTY_BASE_URL"])})
    tick = masterdata_status_sensor(context)
    polls = [r for r in admin("GET", "stats").json()["requests"] if "/masterdata/status/" in r["path"]]
    assert len(polls) == len(uploads) and {r["status"] for r in polls} == {200}
    assert {r.partition_key for r in tick.run_requests} == set(COMPANIES)
    assert json.loads(tick.cursor)["in_flight"] == {}

    for company in COMPANIES:  # exports and their feedback: each company's own queue and key
        run(instance, "routty_exports", company)
        exports = admin("GET", "routty/exports", params={"tenant": company}).json()
        feedback = [f for answers in exports["feedback"].values() for f in answers]
        assert feedback and {(f["routty_tenant"], f["key_name"]) for f in feedback} == {
            (company, "ROUTTY_OUTPUT_INBOUND_API_KEY")}


def test_a_warehouse_file_per_company_holds_that_company_only(companies, instance, tmp_path, monkeypatch):
    """`{tenant}` in WAREHOUSE_PATH: each company's runs write their own DuckDB file, so companies
    never wait on one another's write lock."""
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouses" / "{tenant}.duckdb"))
    streams = [dg.AssetKey(["rutter", "vendors"]), dg.AssetKey(["jortt", "customers"])]
    for company in COMPANIES:
        result = execute(build_definitions().resolve_job_def("routty_sync"), instance, company, asset_selection=streams)
        assert result.success

    assert sorted(p.name for p in (tmp_path / "warehouses").iterdir()) == [f"{c}.duckdb" for c in COMPANIES]
    for company in COMPANIES:
        with duckdb.connect(str(tmp_path / "warehouses" / f"{company}.duckdb"), read_only=True) as db:
            tenants = {t for table in ("rutter_vendors", "jortt_customers")
                       for (t,) in db.execute(f"SELECT DISTINCT tenant_id FROM staging.{table}").fetchall()}
        assert tenants == {company}
