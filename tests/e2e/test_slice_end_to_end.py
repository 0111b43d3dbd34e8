"""The whole graph on the sandbox over loopback: vendors → DuckDB → PartyList → Routty → status."""

import dagster as dg
import duckdb
from lxml import etree

from orchestration.definitions import build_definitions
from tests.conftest import execute

# The slice: everything the PartyList push needs, and the status it leads to.
SLICE = (dg.AssetSelection.assets(["masterdata", "party_list_push"]).upstream()
         | dg.AssetSelection.assets(["masterdata", "upload_status"]))


def run_sync(instance):
    defs = build_definitions()
    selection = list(SLICE.resolve(defs.resolve_asset_graph()))
    result = execute(defs.resolve_job_def("routty_sync"), instance, asset_selection=selection,
                                                                     raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return {"/".join(e.asset_key.path): {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


def warehouse(env) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(env["WAREHOUSE_PATH"], read_only=True)


def vendor_requests(sandbox) -> list[dict]:
    return [r for r in sandbox.admin("GET", "stats").json()["requests"] if r["path"].endswith("/accounting/vendors")]


def masterdata_uploads(sandbox, root="PartyList") -> list[dict]:
    return [u for u in sandbox.admin("GET", "routty/masterdata").json()["uploads"] if u["root"] == root]


def truth(sandbox, env) -> dict[str, dict]:
    vendors = sandbox.admin("GET", "rutter/vendors", params={"access_token": env["RUTTER_ACCESS_TOKEN"]}).json()["vendors"]
    return {v["id"]: v for v in vendors}


def test_first_run_lands_every_vendor_and_routty_accepts_one_party_list(embedded_env, sandbox, instance):
    metadata = run_sync(instance)
    vendors = truth(sandbox, embedded_env)

    with warehouse(embedded_env) as db:
        staged = dict(db.execute("SELECT id, vendor_name FROM staging.rutter_vendors").fetchall())
        raw_count = db.execute("SELECT count(*) FROM raw.rutter_vendors").fetchone()[0]
        statuses = db.execute("SELECT status FROM sync.masterdata_uploads").fetchall()
    assert staged == {vid: v.get("vendor_name") for vid, v in vendors.items()}
    assert raw_count == len(vendors)
    assert metadata["rutter/vendors"]["rows_new"] == len(vendors)

    uploads = masterdata_uploads(sandbox)
    assert [(u["root"], u["status"]) for u in uploads] == [("PartyList", "Success")]
    assert set(statuses) == {("Success",)}
    parties = etree.fromstring(uploads[0]["body"].encode())
    numbers = {p.findtext("Metadata/Number"): p for p in parties}
    assert set(numbers) >= set(vendors)  # every vendor, archived ones included (as inactive)
    for vid, vendor in vendors.items():
        assert numbers[vid].findtext("Active") == ("false" if vendor["status"] == "archived" else "true")
        assert numbers[vid].findtext("Type/Name") == "Supplier"


def test_rerun_with_nothing_changed_makes_one_list_request_and_pushes_nothing(embedded_env, sandbox, instance):
    run_sync(instance)
    sandbox.admin("DELETE", "stats")

    metadata = run_sync(instance)

    assert len(vendor_requests(sandbox)) == 1
    assert metadata["rutter/vendors"]["rows_new"] == metadata["rutter/vendors"]["rows_updated"] == 0
    assert metadata["masterdata/party_list_push"]["documents_pushed"] == 0
    assert len(masterdata_uploads(sandbox)) == 1


def test_a_changed_vendor_is_fetched_incrementally_and_pushed_again(embedded_env, sandbox, instance):
    run_sync(instance)
    vendor_id = next(iter(truth(sandbox, embedded_env)))
    sandbox.admin("POST", f"rutter/vendors/{vendor_id}", json={"vendor_name": 'Renamed & "Quoted" <B.V.>'}).raise_for_status()
    sandbox.admin("DELETE", "stats")

    metadata = run_sync(instance)

    requests = vendor_requests(sandbox)
    assert len(requests) == 1 and "updated_at_min" in requests[0]["query"]
    assert metadata["rutter/vendors"]["rows_updated"] == 1
    assert metadata["rutter/vendors"]["rows_received"] < len(truth(sandbox, embedded_env))
    uploads = masterdata_uploads(sandbox)
    assert len(uploads) == 2 and uploads[-1]["status"] == "Success"
    (party,) = etree.fromstring(uploads[-1]["body"].encode())  # exactly one party: the changed one
    assert party.findtext("Metadata/Number") == vendor_id
    assert party.findtext("Metadata/Name1") == 'Renamed & "Quoted" <B.V.>'


def test_malformed_records_are_rejected_and_the_rest_flows(embedded_env, sandbox, instance):
    sandbox.admin("POST", "faults", json={"malformed_every": 10, "systems": ["rutter"]})
    metadata = run_sync(instance)

    ingest = metadata["rutter/vendors"]
    assert ingest["rows_rejected"] > 0
    with warehouse(embedded_env) as db:
        rejects = db.execute("SELECT field, reason, raw FROM sync.rejects WHERE source = 'rutter.vendors'").fetchall()
        staged = db.execute("SELECT count(*) FROM staging.rutter_vendors").fetchone()[0]
    assert len(rejects) == ingest["rows_rejected"]
    assert {field for field, _, _ in rejects} <= {"id", "updated_at"}
    assert all(reason and raw for _, reason, raw in rejects)
    assert staged == ingest["rows_received"] - ingest["rows_rejected"]
    assert masterdata_uploads(sandbox)[0]["status"] == "Success"
