"""Ingest under the faults a source can throw at it (issue 12), against the sandbox over loopback:
records dated in the future, short pages, pages without their records key, times without an offset,
received-invoice documents that cannot be had. Each switch is set through POST /_sandbox/faults."""

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest

from assets.ingest.engine.spool import spool_records
from assets.ingest.factory import IngestConfig
from assets.ingest.endpoints.rutter import VENDORS
from orchestration.definitions import build_definitions
from resources.b2brouter import B2BrouterClient
from resources.http import RemoteError
from resources.http.paginators import MissingRecords, Page
from assets.ingest.engine.land import land_spool
from tests.conftest import execute

ROOT = Path(__file__).resolve().parents[2]
INVOICES = "b2brouter/received_invoices"


@pytest.fixture
def sandbox(sandbox_process):
    """A small company: a few dozen records per stream, so each test stays within seconds."""
    sandbox_process.admin("POST", "reset", json={"size": 20, "seed": 7}).raise_for_status()
    yield sandbox_process
    sandbox_process.admin("DELETE", "faults").raise_for_status()


def faults(sandbox, **settings):
    sandbox.admin("POST", "faults", json=settings).raise_for_status()


def run(instance, *assets, config: dict | None = None, expect_success=True):
    defs = build_definitions()
    result = execute(defs.resolve_job_def("routty_sync"), instance,
        asset_selection=[dg.AssetKey.from_user_string(a) for a in assets],
        run_config={"ops": config or {}}, raise_on_error=False)
    if expect_success:
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    metadata = {"/".join(e.asset_key.path): {k: v.value for k, v in e.materialization.metadata.items()}
                for e in result.get_asset_materialization_events()}
    return result, metadata


def truth(sandbox, stream):
    return sandbox.admin("GET", f"truth/{stream}", params={"tenant": "acme"}).json()["records"]


def query(env, sql, params=()):
    with duckdb.connect(env["WAREHOUSE_PATH"], read_only=True) as db:
        return db.execute(sql, list(params)).fetchall()


def live(env, table):
    return {i for (i,) in query(env, f"SELECT id FROM staging.{table} WHERE deleted_at IS NULL")}


def cursor(env, stream):
    rows = query(env, "SELECT cursor_value FROM sync.cursors WHERE stream = ?", [stream])
    return rows[0][0] if rows else None


def logged(instance, result) -> str:
    """Every message the run logged (warnings included), as one text."""
    return "\n".join(e.user_message for e in instance.all_logs(result.run_id))


def failure(result) -> str:
    return " ".join(str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure)


# 1. A record dated in the future


def test_a_future_dated_record_neither_freezes_the_cursor_nor_goes_unreported(embedded_env, sandbox, instance):
    faults(sandbox, future_dated_every=4, systems=["rutter"])
    result, first = run(instance, "rutter/vendors")
    meta = first["rutter/vendors"]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.999Z")
    assert meta["rows_rejected"] == 0 and meta["cursor_after"] <= now  # landed, and the cursor stops at the read
    assert meta["rows_future_dated"] == len(truth(sandbox, "rutter/vendors")) // 4 > 0
    sample = meta["future_dated_sample"].split(", ")[0]
    assert f"dated in the future (updated_at), e.g. {sample}" in logged(instance, result)

    sandbox.admin("DELETE", "faults")  # off: the source is sane again, and a vendor changes
    dated_now = {i for (i,) in query(embedded_env, "SELECT id FROM staging.rutter_vendors WHERE updated_at < '2090-01-01'")}
    vendor = sorted(dated_now)[0]
    sandbox.admin("POST", f"touch/rutter/vendors/{vendor}", params={"tenant": "acme"}, json={"vendor_name": "Changed BV"})
    _, second = run(instance, "rutter/vendors")

    assert second["rutter/vendors"]["rows_updated"] >= 1
    assert query(embedded_env, "SELECT vendor_name FROM staging.rutter_vendors WHERE id = ?", [vendor]) == [("Changed BV",)]


def test_a_cursor_already_frozen_in_the_future_is_healed_by_a_full_read(embedded_env, sandbox, instance):
    run(instance, "rutter/vendors")
    with duckdb.connect(embedded_env["WAREHOUSE_PATH"]) as db:  # as a future-dated record left it before the fix
        db.execute("UPDATE sync.cursors SET cursor_value = '2099-01-01T00:00:00.000Z' WHERE stream = 'rutter.vendors'")
    vendor = truth(sandbox, "rutter/vendors")[-1]["id"]
    sandbox.admin("POST", f"touch/rutter/vendors/{vendor}", params={"tenant": "acme"}, json={"vendor_name": "Changed BV"})

    result, healed = run(instance, "rutter/vendors")

    assert healed["rutter/vendors"]["read"] == "full read" and healed["rutter/vendors"]["rows_updated"] == 1
    assert cursor(embedded_env, "rutter.vendors") < "2090"
    assert "cursor 2099-01-01T00:00:00.000Z of tenant default is in the future" in logged(instance, result)


# 2. Short pages


def test_short_pages_are_read_up_to_the_total_and_a_full_read_deletes_nothing(embedded_env, sandbox, instance):
    run(instance, INVOICES, "rutter/vendors")
    faults(sandbox, short_page_max=2, systems=["b2brouter", "rutter"])

    _, full = run(instance, INVOICES, "rutter/vendors", config={
        "b2brouter__received_invoices": {"config": {"full_refresh": True}},
        "rutter__vendors": {"config": {"full_refresh": True}}})

    for asset, table in ((INVOICES, "b2brouter_received_invoices"), ("rutter/vendors", "rutter_vendors")):
        expected = {str(r["id"]) for r in truth(sandbox, asset)}
        assert len(expected) > 4, asset  # several short pages
        assert full[asset]["rows_received"] == len(expected) and full[asset]["rows_disappeared"] == 0, asset
        assert full[asset]["pages"] == -(-len(expected) // 2), asset
        assert live(embedded_env, table) == expected, asset


class FakeHttp:
    """Answers B2Brouter list requests from a list of pages, recording the offsets asked for."""

    system = "b2brouter (tenant t)"

    def __init__(self, pages):
        self.pages, self.offsets = list(pages), []

    def request(self, method, path, params):
        self.offsets.append(params["offset"])
        return httpx.Response(200, json=self.pages.pop(0), request=httpx.Request(method, f"http://b2b.test{path}"))


def test_b2brouter_paging_ends_only_where_the_api_says():
    def page(n, total=None):
        return {"invoices": [{}] * n, **({"meta": {"total_count": total}} if total is not None else {})}

    # No total: a short page is no end; an empty one is.
    http = FakeHttp([page(2), page(1), page(0)])
    assert sum(len(p.data["invoices"]) for p in B2BrouterClient(http, "1", 5, 10).pages("/x", "invoices")) == 3
    assert http.offsets == [0, 2, 3]
    # A total: read up to it, short pages or not.
    http = FakeHttp([page(2, 5), page(2, 5), page(1, 5)])
    assert len(list(B2BrouterClient(http, "1", 5, 10).pages("/x", "invoices"))) == 3
    # An empty page while the total says more: neither loop nor stop quietly.
    with pytest.raises(RemoteError, match="empty page at offset 2 though the total says 5"):
        list(B2BrouterClient(FakeHttp([page(2, 5), page(0, 5)]), "1", 5, 10).pages("/x", "invoices"))


# 3. A page without its records key; the mass-deletion guard


def test_a_page_without_its_records_key_fails_the_stream_and_deletes_nothing(embedded_env, sandbox, instance):
    run(instance, INVOICES, "rutter/vendors")
    before = {s: cursor(embedded_env, s) for s in ("b2brouter.received_invoices", "rutter.vendors")}
    invoices, vendors = live(embedded_env, "b2brouter_received_invoices"), live(embedded_env, "rutter_vendors")
    # Pages of 2, and the second page of each stream without its records key.
    faults(sandbox, short_page_max=2, drop_records_key_every=2, systems=["b2brouter", "rutter"])

    full = {"config": {"full_refresh": True}}
    result, _ = run(instance, INVOICES, "rutter/vendors", expect_success=False,
                    config={"b2brouter__received_invoices": full, "rutter__vendors": full})

    error = failure(result)
    assert "rutter (tenant default): rutter.vendors page 2 has no 'vendors' list" in error
    assert "b2brouter (tenant default): /accounts/" in error and "/invoices at offset 2 has no 'invoices' list" in error
    assert live(embedded_env, "rutter_vendors") == vendors and live(embedded_env, "b2brouter_received_invoices") == invoices
    assert {s: cursor(embedded_env, s) for s in before} == before


def test_records_of_a_page_without_its_key_name_system_stream_and_page(tmp_path):
    pages = [Page({"vendors": [{"id": "V-1"}]}), Page({"next_cursor": None}), Page({"vendors": []})]
    with pytest.raises(MissingRecords, match=r"rutter \(tenant t\): rutter.vendors page 2 has no 'vendors' list "
                                             r"\(the page has: next_cursor\)"):
        spool_records(iter(pages), tmp_path, VENDORS, tenant_id="t")
    with pytest.raises(MissingRecords, match="page 1 has no 'vendors' list"):
        spool_records([Page({"vendors": None})], tmp_path, VENDORS)


def test_a_full_read_that_would_delete_too_much_deletes_nothing_and_fails_its_check(embedded_env, sandbox, instance, monkeypatch):
    run(instance, "rutter/vendors")
    vendors = truth(sandbox, "rutter/vendors")
    gone = [v["id"] for v in vendors[: len(vendors) // 3]]  # a third: over the default 20 %
    for vendor in gone:
        sandbox.admin("DELETE", f"truth/rutter/vendors/{vendor}", params={"tenant": "acme"}).raise_for_status()
    full = {"rutter__vendors": {"config": {"full_refresh": True}}}

    result, guarded = run(instance, "rutter/vendors", config=full)

    assert guarded["rutter/vendors"]["rows_disappeared"] == 0 and len(live(embedded_env, "rutter_vendors")) == len(vendors)
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == "mass_deletion_guard")
    assert not check.passed and check.metadata["would_mark_deleted"].value == len(gone)
    assert check.metadata["stream"].value == "rutter.vendors"
    assert f"would mark {len(gone)} of {len(vendors)} live rows deleted" in check.description

    monkeypatch.setenv("INGEST_MAX_DELETE_SHARE", "0.5")  # a looser limit, by the environment
    result, allowed = run(instance, "rutter/vendors", config=full)

    assert allowed["rutter/vendors"]["rows_disappeared"] == len(gone)
    assert all(c.passed for c in result.get_asset_check_evaluations() if c.check_name == "mass_deletion_guard")
    assert live(embedded_env, "rutter_vendors") == {v["id"] for v in vendors} - set(gone)


def test_a_full_read_with_a_malformed_record_marks_nothing_deleted(embedded_env, sandbox, instance):
    """Every third customer is served without its id or with a broken date: they are rejected, but
    they are still in the books, so none of their rows may be marked deleted (and pushed as such)."""
    run(instance, "jortt/customers")
    faults(sandbox, malformed_every=3, systems=["jortt"])
    _, metadata = run(instance, "jortt/customers")
    assert metadata["jortt/customers"]["rows_rejected"] > 0
    assert metadata["jortt/customers"]["rows_disappeared"] == 0
    assert live(embedded_env, "jortt_customers") == {c["id"] for c in truth(sandbox, "jortt/customers")}


def test_the_delete_share_comes_from_config_then_environment(monkeypatch):
    monkeypatch.delenv("INGEST_MAX_DELETE_SHARE", raising=False)
    assert IngestConfig().delete_share() == 0.2
    monkeypatch.setenv("INGEST_MAX_DELETE_SHARE", "0.35")
    assert IngestConfig().delete_share() == 0.35 and IngestConfig(max_delete_share=0.0).delete_share() == 0.0
    with pytest.raises(ValueError, match="between 0 and 1"):
        IngestConfig(max_delete_share=20).delete_share()


# 4. Times without an offset


def test_times_land_as_utc_whatever_the_connections_time_zone(tmp_path):
    records = [{"id": "naive", "updated_at": "2024-03-01T10:00:00"}, {"id": "zulu", "updated_at": "2024-03-01T10:00:00Z"},
               {"id": "offset", "updated_at": "2024-03-01T12:00:00+02:00"}, {"id": "summer", "updated_at": "2024-07-01T10:00:00"}]
    _, chunks = spool_records([Page({"vendors": records})], tmp_path, VENDORS)
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'America/New_York'")
        result = land_spool(conn, VENDORS, "t", chunks)
        times = dict(conn.execute("SELECT id, updated_at FROM staging.rutter_vendors").fetchall())
        loaded = conn.execute("SELECT min(loaded_at) FROM staging.rutter_vendors").fetchone()[0]
    assert times == {"naive": datetime(2024, 3, 1, 10), "zulu": datetime(2024, 3, 1, 10),
                     "offset": datetime(2024, 3, 1, 10), "summer": datetime(2024, 7, 1, 10)}
    assert result.cursor_after == "2024-07-01T10:00:00.000Z"
    assert abs(loaded - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(minutes=5)  # UTC, not New York


LAND_UNDER_TZ = """
import json, sys, tempfile
from pathlib import Path
import duckdb
from assets.ingest.endpoints.b2brouter import RECEIVED_INVOICES
from assets.ingest.engine.spool import spool_records
from resources.b2brouter import B2BrouterResource
from resources.tenants import Tenant
from assets.ingest.engine.land import land_spool
with B2BrouterResource(base_url=sys.argv[1]).client(Tenant("acme", "ACME_")) as client, tempfile.TemporaryDirectory() as tmp:
    _, chunks = spool_records(client.invoice_pages("ReceivedInvoice"), Path(tmp), RECEIVED_INVOICES)
    conn = duckdb.connect()
    land_spool(conn, RECEIVED_INVOICES, "acme", chunks)
    zone = conn.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    rows = conn.execute("SELECT id, strftime(updated_at, '%Y-%m-%dT%H:%M:%S') FROM staging.b2brouter_received_invoices").fetchall()
print(json.dumps({"zone": zone, "times": dict(rows)}))
"""


def test_naive_times_from_the_api_land_as_utc_in_a_process_outside_utc(sandbox):
    faults(sandbox, naive_times_every=1, systems=["b2brouter"])
    env = {**sandbox.tenant_env(), "TZ": "America/New_York", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", LAND_UNDER_TZ, sandbox.tenant_env()["B2BROUTER_BASE_URL"]],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    landed = json.loads(done.stdout)
    assert landed["zone"] == "America/New_York"
    expected = {str(r["id"]): datetime.fromisoformat(r["updated_at"].replace("Z", "+00:00")).astimezone(timezone.utc)
                .strftime("%Y-%m-%dT%H:%M:%S") for r in truth(sandbox, INVOICES)}
    assert landed["times"] == expected


# 5. Received-invoice documents, one at a time


def test_a_document_that_cannot_be_had_is_rejected_alone_and_asked_for_again(embedded_env, sandbox, instance):
    run(instance, INVOICES)
    invoices = [str(r["id"]) for r in truth(sandbox, INVOICES)]
    gone, latin1 = invoices[0], invoices[1]
    sandbox.admin("DELETE", f"truth/b2brouter/received_invoices/{gone}", params={"tenant": "acme"}).raise_for_status()
    faults(sandbox, latin1_documents=[latin1])
    documents = "b2brouter/received_invoice_documents"

    result, first = run(instance, documents)

    assert (first[documents]["documents_fetched"], first[documents]["documents_rejected"]) == (len(invoices) - 2, 2)
    rejects = dict(query(embedded_env, "SELECT record_key, reason FROM sync.rejects WHERE source = 'b2brouter.received_invoice_documents'"))
    assert set(rejects) == {gone, latin1}
    assert "404" in rejects[gone] and "not UTF-8" in rejects[latin1]
    assert {i for (i,) in query(embedded_env, "SELECT invoice_id FROM raw.b2brouter_invoice_documents")} == set(invoices) - {gone, latin1}

    sandbox.admin("DELETE", "faults")  # the document is fixed at the source; the deleted invoice stays gone
    sandbox.admin("DELETE", "stats")
    _, second = run(instance, documents)

    asked = sorted(r["path"].split("/")[-3] for r in sandbox.admin("GET", "stats").json()["requests"] if "/as/" in r["path"])
    assert asked == sorted([gone, latin1])  # only the two, again
    assert (second[documents]["documents_fetched"], second[documents]["documents_rejected"]) == (1, 1)
    assert [k for (k,) in query(embedded_env, "SELECT record_key FROM sync.rejects WHERE source = 'b2brouter.received_invoice_documents'")] == [gone]


def test_a_read_window_becomes_each_apis_parameters():
    from datetime import date

    from assets.ingest.endpoints import b2brouter as b2b_endpoints, rutter as rutter_endpoints
    from assets.ingest.factory import Window

    since = datetime(2024, 3, 1, 10, tzinfo=timezone.utc)
    period = Window(start=date(2024, 1, 1), end=date(2024, 4, 1))
    rutter, b2b = rutter_endpoints.UPDATED_AT, b2b_endpoints.INVOICE_WINDOW
    assert rutter.params(Window()) == {} == b2b.params(Window())
    assert rutter.params(Window(since=since)) == {"updated_at_min": 1709287200000}
    assert rutter.params(period) == {"updated_at_min": 1704067200000, "updated_at_max": 1711929599999}
    assert b2b.params(Window(since=since)) == {"updated_at": "2024-03-01T10:00:00+00:00"}
    assert b2b.params(period) == {"date_from": "2024-01-01", "date_to": "2024-03-31"}
    assert b2b.params(Window(end=date(2024, 4, 1))) == {"date_to": "2024-03-31"}


def test_every_endpoint_names_a_paginator_its_api_has_and_one_asset_per_stream():
    from assets.ingest.endpoints import b2brouter as b2b_endpoints, jortt as jortt_endpoints, rutter as rutter_endpoints
    from assets.ingest.factory import stream_assets
    from resources.contracts import b2brouter, jortt, rutter
    from resources.http.paginators import PAGINATORS

    for endpoints, contract in ((rutter_endpoints, rutter), (jortt_endpoints, jortt), (b2b_endpoints, b2brouter)):
        for endpoint in endpoints.ENDPOINTS:
            assert endpoint.paginator in contract.PAGING and endpoint.paginator in PAGINATORS, endpoint.spec.name
            assert endpoint.spec.system == endpoints.SOURCE.system
    assets = stream_assets(jortt_endpoints.SOURCE, jortt_endpoints.ENDPOINTS, None)
    assert [a.key.to_user_string() for a in assets] == [
        f"jortt/{s}" for s in ("customers", "invoices", "expenses", "ledger_accounts", "organization")]
