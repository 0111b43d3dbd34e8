"""The code location as Dagster's own CLI sees it: it loads, validates, and materializes every
asset against whatever endpoints the environment names (here: the sandbox)."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb

from assets.routty.party_list import party_list_xml_valid
from orchestration.definitions import defs

ROOT = Path(__file__).resolve().parent.parent
DAGSTER = [sys.executable, "-m", "dagster"]


def test_asset_graph_flows_one_way_through_the_stages():
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "rutter/vendors": "ingest",
        "model/routty_parties": "model",
        "routty/party_list_xml": "routty",
        "routty/party_list_push": "routty",
        "routty/masterdata_upload_status": "track",
    }
    parents = {key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys} for key in graph.get_all_asset_keys()}
    assert parents["routty/party_list_push"] == {"routty/party_list_xml"}
    assert parents["routty/party_list_xml"] == {"model/routty_parties"}
    (check,) = party_list_xml_valid.check_specs
    assert check.asset_key == dg.AssetKey(["routty", "party_list_xml"]) and check.blocking


def test_secrets_are_env_vars_not_values():
    resources = defs.resources
    for name, field in (("rutter", "client_secret"), ("rutter", "access_token"), ("routty", "api_key")):
        assert isinstance(getattr(resources[name], field), dg.EnvVar)


def test_cli_validates_and_materializes_everything_against_the_environment(embedded_env, tmp_path):
    env = {**embedded_env, "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").touch()
    validate = subprocess.run([*DAGSTER, "definitions", "validate", "-w", "workspace.yaml"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    assert validate.returncode == 0, validate.stderr[-2000:]

    run = subprocess.run([*DAGSTER, "asset", "materialize", "-m", "orchestration.definitions", "--select", "*"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "RUN_SUCCESS" in run.stderr
    with duckdb.connect(env["WAREHOUSE_PATH"], read_only=True) as db:
        assert db.execute("SELECT count(*) FROM staging.rutter_vendors").fetchone()[0] > 0
        assert db.execute("SELECT count(*) FROM sync.masterdata_uploads WHERE status_id IS NOT NULL").fetchone()[0] == 1
    for secret in ("RUTTER_CLIENT_SECRET", "RUTTER_ACCESS_TOKEN", "ROUTTY_API_KEY"):
        assert env[secret] not in run.stdout + run.stderr
