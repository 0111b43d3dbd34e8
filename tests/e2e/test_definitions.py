"""The code location as Dagster's own CLI sees it: it loads, validates, and materializes every
asset against whatever endpoints the environment names (here: the sandbox)."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.masterdata.lists import LISTS
from orchestration.definitions import defs

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = [sys.executable, "-m", "dagster"]


STAGES = ["ingest", "model", "masterdata", "invoices", "exports"]


def test_asset_graph_flows_one_way_through_the_stages():
    graph = defs.resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    group = {key: graph.get(key).group_name for key in keys}
    for key in keys:  # no asset depends on a later stage
        assert all(STAGES.index(group[parent]) <= STAGES.index(group[key]) for parent in graph.get(key).parent_keys), key
    assert {k.to_user_string() for k in keys if group[k] == "ingest"} >= {
        f"rutter/{s}" for s in ("vendors", "customers", "purchase_orders", "bills", "invoices", "accounts", "items",
                                "tax_rates", "company_info", "connection_status")
    } | {f"jortt/{s}" for s in ("customers", "invoices", "expenses", "ledger_accounts", "organization")} | {
        f"b2brouter/{s}" for s in ("received_invoices", "received_invoice_documents", "issued_invoices", "contacts", "accounts")
    }
    parents = {key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys} for key in keys}
    assert parents["masterdata/party_list_push"] == {"masterdata/party_list_xml"}
    assert parents["masterdata/party_list_xml"] == {"model/routty_parties"}
    assert {"rutter/invoices", "rutter/tax_rates"} <= parents["model/routty_sales_invoices"]  # VAT from the books
    check = next(c for c in graph.asset_check_keys if c.asset_key == dg.AssetKey(["masterdata", "party_list_xml"]))
    assert graph.get_check_spec(check).blocking


def test_secrets_are_env_vars_not_values():
    resources = defs.resources
    for name, field in (("rutter", "client_id"), ("rutter", "client_secret")):
        assert isinstance(getattr(resources[name], field), dg.EnvVar)
    assert not {"api_key", "key"} & set(type(resources["routty"]).model_fields)  # per company, at run time


@pytest.fixture
def sandbox(sandbox_process):
    """A small company: materializing everything includes uploading every invoice with its PDF."""
    sandbox_process.admin("POST", "reset", json={"size": 20, "seed": 7}).raise_for_status()
    return sandbox_process


def test_cli_validates_and_materializes_everything_against_the_environment(embedded_env, tmp_path):
    env = {**embedded_env, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").touch()
    validate = subprocess.run([*DAGSTER, "definitions", "validate", "-w", "workspace.yaml"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    assert validate.returncode == 0, validate.stderr[-2000:]

    sync = subprocess.run([sys.executable, "-m", "orchestration.tenants", "sync"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert sync.returncode == 0 and "added default" in sync.stdout, sync.stderr[-2000:]
    run = subprocess.run([*DAGSTER, "asset", "materialize", "-m", "orchestration.definitions", "--select", "*",
                          "--partition", "default"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "RUN_SUCCESS" in run.stderr
    with duckdb.connect(env["WAREHOUSE_PATH"], read_only=True) as db:
        assert db.execute("SELECT count(*) FROM staging.rutter_vendors").fetchone()[0] > 0
        lists = db.execute("SELECT list_type FROM sync.masterdata_uploads WHERE status_id IS NOT NULL ORDER BY 1").fetchall()
        assert [t for (t,) in lists] == sorted(doc.list_type for doc in LISTS)
    for secret in ("RUTTER_CLIENT_SECRET", "RUTTER_ACCESS_TOKEN", "ROUTTY_API_KEY"):
        assert env[secret] not in run.stdout + run.stderr
