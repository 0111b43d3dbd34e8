"""Every stream of Rutter, Jortt (current and legacy) and B2Brouter into DuckDB, for two tenants,
over loopback HTTP against the sandbox: exact rows, faults, incremental reads, full refresh,
credentials, readiness and period backfills."""

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import dagster as dg
from dagster._core.instance import DagsterInstance, InstanceRef
import duckdb
import pytest

from orchestration.definitions import build_definitions
from orchestration.tenants import sync_tenant_partitions
from tests.conftest import execute
from tests.selections import WITHOUT_DOCUMENTS

ROOT = Path(__file__).resolve().parents[2]
# (asset, staging table, ground-truth stream, key of a record in the API's shape)
STREAMS = [
    ("rutter/vendors", "rutter_vendors", "rutter/vendors", "id"),
    ("rutter/customers", "rutter_customers", "rutter/customers", "id"),
    ("rutter/purchase_orders", "rutter_purchase_orders", "rutter/purchase_orders", "id"),
    ("rutter/bills", "rutter_bills", "rutter/bills", "id"),
    ("rutter/invoices", "rutter_invoices", "rutter/invoices", "id"),
    ("rutter/accounts", "rutter_accounts", "rutter/accounts", "id"),
    ("rutter/items", "rutter_items", "rutter/items", "id"),
    ("rutter/tax_rates", "rutter_tax_rates", "rutter/tax_rates", "id"),
    ("jortt/customers", "jortt_customers", "jortt/customers", None),
    ("jortt/invoices", "jortt_invoices", "jortt/invoices", None),
    ("b2brouter/received_invoices", "b2brouter_received_invoices", "b2brouter/received_invoices", "id"),
    ("b2brouter/issued_invoices", "b2brouter_issued_invoices", "b2brouter/issued_invoices", "id"),
    ("b2brouter/contacts", "b2brouter_contacts", "b2brouter/contacts", "id"),
]
LEGACY_KEYS = {"jortt/customers": "customer_id", "jortt/invoices": "invoice_id"}


def run(instance, tenant, select=None, config=None, expect_success=True):
    defs = build_definitions()
    job = defs.resolve_job_def("routty_sync")
    selection = ([dg.AssetKey.from_user_string(s) for s in select] if select
                 else list(WITHOUT_DOCUMENTS.resolve(defs.resolve_asset_graph())))
    result = execute(job, instance, tenant, asset_selection=selection,
                                    run_config={"ops": config or {}}, raise_on_error=False)
    if expect_success:
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    metadata = {"/".join(e.asset_key.path): {k: v.value for k, v in e.materialization.metadata.items()}
                for e in result.get_asset_materialization_events()}
    return result, metadata


def truth(sandbox, stream, tenant):
    return sandbox.admin("GET", f"truth/{stream}", params={"tenant": tenant}).json()["records"]


def staged(env, table, tenant, where="deleted_at IS NULL"):
    with duckdb.connect(env["WAREHOUSE_PATH"], read_only=True) as db:
        return {row[0] for row in db.execute(f"SELECT id FROM staging.{table} WHERE tenant_id = ? AND {where}", [tenant]).fetchall()}


def key_of(stream, tenant):
    return LEGACY_KEYS.get(stream) if tenant == "globex" and stream in LEGACY_KEYS else "id"


def test_every_stream_of_both_tenants_matches_the_source_exactly(tenants_env, sandbox, instance):
    for tenant in ("acme", "globex"):
        _, metadata = run(instance, tenant)
        for asset, table, stream, _ in STREAMS:
            expected = {str(r[key_of(stream, tenant)]) for r in truth(sandbox, stream, tenant)}
            assert staged(tenants_env, table, tenant) == expected, (tenant, asset)
            assert metadata[asset]["rows_new"] == len(expected), (tenant, asset)
    with duckdb.connect(tenants_env["WAREHOUSE_PATH"], read_only=True) as db:
        tenants_per_single = db.execute(
            "SELECT (SELECT count(DISTINCT tenant_id) FROM staging.rutter_company_info), "
            "(SELECT count(*) FROM staging.jortt_organization), "
            "(SELECT count(DISTINCT tenant_id) FROM staging.rutter_connection_status)").fetchone()
        assert tenants_per_single == (2, 1, 2)  # globex's legacy Jortt API has no organization endpoint
        bills = {r["id"]: r for r in truth(sandbox, "rutter/bills", "acme")}
        lines = dict(db.execute(
            "SELECT bill_id, count(*) FROM staging.rutter_bills_lines WHERE tenant_id = 'acme' GROUP BY 1").fetchall())
        totals = dict(db.execute("SELECT id, total_amount FROM staging.rutter_bills WHERE tenant_id = 'acme'").fetchall())
        documents = db.execute("SELECT count(*) FROM raw.b2brouter_invoice_documents WHERE tenant_id = 'acme'").fetchone()[0]
    assert all(lines.get(i, 0) == len(b.get("line_items") or []) for i, b in bills.items())
    assert all(totals[i] == Decimal(str(b["total_amount"])).quantize(Decimal("0.0001")) for i, b in bills.items() if b.get("total_amount") is not None)
    assert documents == len(truth(sandbox, "b2brouter/received_invoices", "acme"))


RUTTER_ONLY = ["rutter/vendors", "rutter/purchase_orders", "rutter/bills"]


@pytest.mark.parametrize("faults", [
    {"rate_limit_every": 3, "retry_after": 1},
    {"unavailable_burst": 3},
    {"drop_every": 3},
    {"malformed_every": 9},
], ids=["429-storm", "503-burst", "dropped-connection", "malformed-records"])
def test_faults_end_with_no_duplicate_and_no_lost_row(tenants_env, sandbox, instance, faults):
    sandbox.admin("POST", "faults", json={**faults, "systems": ["rutter"]}).raise_for_status()
    _, first = run(instance, "acme", RUTTER_ONLY)
    sandbox.admin("DELETE", "faults")
    _, second = run(instance, "acme", RUTTER_ONLY)

    for asset in RUTTER_ONLY:
        stream, table = asset, asset.replace("/", "_")
        expected = {r["id"] for r in truth(sandbox, stream, "acme")}
        assert staged(tenants_env, table, "acme") == expected, asset
        with duckdb.connect(tenants_env["WAREHOUSE_PATH"], read_only=True) as db:
            assert db.execute(f"SELECT count(*) - count(DISTINCT id) FROM raw.{table}").fetchone()[0] == 0
    if "malformed_every" in faults:
        assert sum(first[a]["rows_rejected"] for a in RUTTER_ONLY) > 0
        assert all(first[a]["cursor_after"] == first[a]["cursor_before"] for a in RUTTER_ONLY if first[a]["rows_rejected"])
    else:
        assert sum(first[a]["retries"] for a in RUTTER_ONLY) > 0
        assert all(second[a]["rows_new"] == second[a]["rows_updated"] == 0 for a in RUTTER_ONLY)


def test_a_changed_record_is_picked_up_by_the_next_incremental_run_alone(tenants_env, sandbox, instance):
    run(instance, "acme", RUTTER_ONLY + ["b2brouter/received_invoices"])
    po = truth(sandbox, "rutter/purchase_orders", "acme")[-1]
    invoice = truth(sandbox, "b2brouter/received_invoices", "acme")[0]
    sandbox.admin("POST", f"touch/rutter/purchase_orders/{po['id']}", params={"tenant": "acme"}, json={"memo": "changed"}).raise_for_status()
    sandbox.admin("POST", f"touch/b2brouter/received_invoices/{invoice['id']}", params={"tenant": "acme"}, json={"state": "accepted"}).raise_for_status()
    sandbox.admin("DELETE", "stats")

    _, metadata = run(instance, "acme", RUTTER_ONLY + ["b2brouter/received_invoices"])

    for asset in RUTTER_ONLY + ["b2brouter/received_invoices"]:
        assert metadata[asset]["requests"] == 1, asset
    assert metadata["rutter/purchase_orders"]["rows_updated"] == 1
    assert metadata["b2brouter/received_invoices"]["rows_updated"] == 1
    assert metadata["rutter/vendors"]["rows_updated"] == metadata["rutter/vendors"]["rows_new"] == 0
    with duckdb.connect(tenants_env["WAREHOUSE_PATH"], read_only=True) as db:
        assert db.execute("SELECT memo FROM staging.rutter_purchase_orders WHERE id = ?", [po["id"]]).fetchone()[0] == "changed"
    queries = [r["query"] for r in sandbox.admin("GET", "stats").json()["requests"] if r["path"].endswith("/purchase_orders")]
    assert len(queries) == 1 and "updated_at_min" in queries[0]


def percent(value) -> Decimal | None:
    """A rate as the staging table keeps it (DECIMAL(9,4))."""
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.0001"))


def test_tax_rates_land_typed_with_their_components_and_a_rerun_reads_only_changes(tenants_env, sandbox, instance):
    _, first = run(instance, "acme", ["rutter/tax_rates"])
    rates = truth(sandbox, "rutter/tax_rates", "acme")
    assert first["rutter/tax_rates"]["rows_new"] == len(rates) and first["rutter/tax_rates"]["rows_rejected"] == 0
    with duckdb.connect(tenants_env["WAREHOUSE_PATH"], read_only=True) as db:
        staged_rates = {r[0]: r[1:] for r in db.execute(
            "SELECT id, effective_tax_rate, total_tax_rate, status FROM staging.rutter_tax_rates WHERE tenant_id = 'acme'").fetchall()}
        components = db.execute("SELECT tax_rate_id, name, rate, is_compound FROM staging.rutter_tax_rates_components "
                                "WHERE tenant_id = 'acme' ORDER BY tax_rate_id, line_number").fetchall()
    assert staged_rates == {r["id"]: (percent(r["effective_tax_rate"]), percent(r["total_tax_rate"]), r["status"])
                            for r in rates}
    assert components == [(r["id"], c["name"], percent(c["rate"]), c["is_compound"])
                          for r in sorted(rates, key=lambda r: r["id"]) for c in r["components"]]
    changed = rates[0]["id"]
    sandbox.admin("POST", f"touch/rutter/tax_rates/{changed}", params={"tenant": "acme"},
                  json={"effective_tax_rate": None, "components": []}).raise_for_status()
    sandbox.admin("DELETE", "stats")

    _, second = run(instance, "acme", ["rutter/tax_rates"])

    assert (second["rutter/tax_rates"]["requests"], second["rutter/tax_rates"]["rows_updated"]) == (1, 1)
    query = next(r["query"] for r in sandbox.admin("GET", "stats").json()["requests"] if r["path"].endswith("/tax_rates"))
    assert "updated_at_min" in query
    with duckdb.connect(tenants_env["WAREHOUSE_PATH"], read_only=True) as db:
        assert db.execute("SELECT count(*) FROM staging.rutter_tax_rates_components WHERE tax_rate_id = ?",
                          [changed]).fetchone()[0] == 0


def test_full_refresh_marks_records_that_disappeared(tenants_env, sandbox, instance):
    run(instance, "acme", ["rutter/vendors"])
    gone = truth(sandbox, "rutter/vendors", "acme")[0]["id"]
    sandbox.admin("DELETE", f"truth/rutter/vendors/{gone}", params={"tenant": "acme"}).raise_for_status()

    _, incremental = run(instance, "acme", ["rutter/vendors"])
    assert incremental["rutter/vendors"]["rows_disappeared"] == 0  # an incremental read cannot tell
    _, full = run(instance, "acme", ["rutter/vendors"], {"rutter__vendors": {"config": {"full_refresh": True}}})

    assert full["rutter/vendors"]["rows_disappeared"] == 1
    assert staged(tenants_env, "rutter_vendors", "acme", "deleted_at IS NOT NULL") == {gone}


def test_period_backfill_reads_only_that_period_and_leaves_the_cursor(tenants_env, sandbox, instance):
    _, first = run(instance, "acme", ["rutter/bills"])
    bills = truth(sandbox, "rutter/bills", "acme")
    in_q1 = {b["id"] for b in bills if b["updated_at"] and "2024-01-01" <= b["updated_at"][:10] < "2024-04-01"}
    assert 0 < len(in_q1) < len(bills)
    sandbox.admin("DELETE", "stats")

    _, backfill = run(instance, "acme", ["rutter/bills"],
                      {"rutter__bills": {"config": {"period_start": "2024-01-01", "period_end": "2024-04-01"}}})

    assert backfill["rutter/bills"]["rows_received"] == len(in_q1)
    assert backfill["rutter/bills"]["cursor_after"] == first["rutter/bills"]["cursor_after"]
    query = next(r["query"] for r in sandbox.admin("GET", "stats").json()["requests"] if r["path"].endswith("/bills"))
    assert "updated_at_min" in query and "updated_at_max" in query


def test_a_bad_credential_fails_fast_naming_tenant_and_system(tenants_env, sandbox, instance, monkeypatch):
    monkeypatch.setenv("GLOBEX_RUTTER_ACCESS_TOKEN", "revoked-token")
    sandbox.admin("DELETE", "stats")
    result, _ = run(instance, "globex", ["rutter/vendors"], expect_success=False)
    assert not result.success
    failure = " ".join(str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure)
    assert "rutter (tenant globex)" in failure and "GLOBEX_RUTTER_ACCESS_TOKEN" in failure
    assert "revoked-token" not in failure
    assert len(sandbox.admin("GET", "stats").json()["requests"]) == 1  # no retry
    run(instance, "acme", ["rutter/vendors"])  # the other tenant is unaffected


def test_a_connection_still_syncing_is_skipped_with_a_warning(tenants_env, sandbox, instance):
    token = sandbox.tenant_env()["GLOBEX_RUTTER_ACCESS_TOKEN"]
    sandbox.admin("POST", f"rutter/connections/{token}", json={"is_ready": False}).raise_for_status()
    result, metadata = run(instance, "globex", ["rutter/vendors", "jortt/customers"])
    assert "PRODUCT_NOT_READY" in metadata["rutter/vendors"]["skipped"] and "rows_received" not in metadata["rutter/vendors"]
    assert metadata["jortt/customers"]["rows_new"] > 0  # the tenant's other systems go on
    assert any("PRODUCT_NOT_READY" in (e.message or "") for e in result.all_events)


def test_overlapping_runs_share_the_warehouse(tenants_env, sandbox, tmp_path):
    """Two processes write the same DuckDB file at once: both finish, nothing is lost."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    # Create the instance's own storage once, as `dagster dev` does: three processes creating it at
    # the same moment would race in Dagster's SQLite migrations (not in the warehouse under test).
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path))) as instance:
        sync_tenant_partitions(instance)  # the companies' partitions, as the tenants sensor makes them
    select = "rutter/vendors,rutter/purchase_orders,rutter/bills,jortt/customers,b2brouter/contacts"
    processes = [
        subprocess.Popen([sys.executable, "-m", "dagster", "asset", "materialize", "-m", "orchestration.definitions",
                          "--select", select, "--partition", tenant], cwd=ROOT, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for tenant in ("acme", "globex", "acme")
    ]
    outputs = [p.communicate(timeout=240)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], [o[-1500:] for o in outputs]
    for tenant in ("acme", "globex"):
        for asset in select.split(","):
            expected = {str(r[key_of(asset, tenant)]) for r in truth(sandbox, asset, tenant)}
            assert staged(tenants_env, asset.replace("/", "_"), tenant) == expected, (tenant, asset)


def test_schema_drift_and_reject_ratio_checks_speak_up(tenants_env, sandbox, instance):
    vendor = truth(sandbox, "rutter/vendors", "acme")[0]["id"]
    sandbox.admin("POST", f"touch/rutter/vendors/{vendor}", params={"tenant": "acme"}, json={"loyalty_tier": "gold"}).raise_for_status()
    sandbox.admin("POST", "faults", json={"malformed_every": 2, "systems": ["rutter"]}).raise_for_status()

    result, metadata = run(instance, "acme", ["rutter/vendors"])

    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["schema_drift"].passed
    assert checks["schema_drift"].metadata["unexpected_fields"].value == ["loyalty_tier"]
    assert not checks["reject_ratio"].passed and metadata["rutter/vendors"]["rows_rejected"] > 0
    assert checks["unique_keys"].passed
