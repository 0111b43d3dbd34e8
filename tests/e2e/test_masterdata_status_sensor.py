"""The masterdata status sensor's ticks, evaluated against a real instance and the Routty simulator."""

import json
import time

import dagster as dg
import duckdb

from orchestration.definitions import build_definitions
from assets.masterdata.sensors import masterdata_status_sensor
from resources.routty import RouttyResource
from tests.conftest import execute

PUSH = dg.AssetKey(["masterdata", "party_list_push"])


def push_once(instance) -> str:
    """Run the graph up to and including the push (not the status asset the sensor is for)."""
    defs = build_definitions()
    upstream = dg.AssetSelection.assets(PUSH).upstream().resolve(defs.resolve_asset_graph())
    result = execute(defs.resolve_implicit_global_asset_job_def(), instance, asset_selection=list(upstream))
    assert result.success
    push = next(e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "party_list_push")
    (status_id,) = push.materialization.metadata["status_ids"].value["default"]
    return status_id


def tick(instance, env, cursor=None):
    routty = RouttyResource(base_url=env["ROUTTY_BASE_URL"])
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"routty": routty})
    return masterdata_status_sensor(context)


def test_sensor_waits_while_pending_then_requests_one_status_run(embedded_env, sandbox, instance):
    sandbox.admin("POST", "routty/settings", json={"processing_delay": 4.0})  # room for a busy machine
    status_id = push_once(instance)

    pending = tick(instance, embedded_env)
    assert pending.run_requests == []
    assert status_id in json.loads(pending.cursor)["in_flight"]

    settled, deadline = pending, time.monotonic() + 15
    while not settled.run_requests and time.monotonic() < deadline:
        time.sleep(1)
        settled = tick(instance, embedded_env, settled.cursor)
    assert len(settled.run_requests) == 1
    assert json.loads(settled.cursor)["in_flight"] == {}

    quiet = tick(instance, embedded_env, settled.cursor)  # nothing new: no run, nothing polled
    assert quiet.run_requests == []


def test_failed_upload_is_recorded_with_routty_errors_and_fails_the_check(embedded_env, sandbox, instance):
    sandbox.admin("POST", "routty/settings", json={"fail_next": 1, "processing_delay": 0.1})
    push_once(instance)
    time.sleep(0.3)
    request = tick(instance, embedded_env).run_requests[0]

    defs = build_definitions()
    result = execute(defs.resolve_job_def("routty_masterdata_status"), instance,
        tags=request.tags, run_config={"ops": {"masterdata__upload_status": {"config": {"max_wait_seconds": 0}}}}
    )
    assert result.success
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == "masterdata_uploads_accepted")
    assert not check.passed
    failed = check.metadata["failed_lists"].value
    assert failed["default/PartyList"][0]["code"] == "SimulatedFailure"
    with duckdb.connect(embedded_env["WAREHOUSE_PATH"], read_only=True) as db:
        assert db.execute("SELECT status FROM sync.masterdata_uploads").fetchall() == [("Failed",)]
        # every record of the failed upload is marked for another attempt on the next push
        assert db.execute("SELECT DISTINCT status FROM sync.masterdata_records").fetchall() == [("failed",)]


def test_an_upload_routty_no_longer_knows_is_settled_as_unknown_not_a_crash(embedded_env, sandbox, instance):
    push_once(instance)
    sandbox.admin("POST", "reset").raise_for_status()  # Routty forgets every upload

    result = tick(instance, embedded_env)

    assert len(result.run_requests) == 1 and json.loads(result.cursor)["in_flight"] == {}
