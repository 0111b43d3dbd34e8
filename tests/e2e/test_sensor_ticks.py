"""Sensor ticks with two tenants, one of them in trouble: whatever goes wrong with one tenant (a malformed
answer, a bad cursor entry, bad in-flight data, a refused key) leaves the other tenant's runs and cursor
alone, and a tick against a Routty that answers only 429 / 503 ends well inside Dagster's 60 s and says
what it left for the next tick."""

import json
import os
import threading
import time

import dagster as dg
import pytest

from assets.invoices.in_flight import write_in_flight
from assets.exports.sensors import exports_sensor
from assets.invoices.sensors import invoices_status_sensor
from assets.masterdata.sensors import masterdata_status_sensor
from resources import polling
from resources.routty import RouttyClient, RouttyResource



@pytest.fixture
def tenants(tenants_env, sandbox):
    """acme and globex, each with its own Routty output queue (its own Output key)."""
    return sandbox


def tick(sensor, instance, cursor=None, log_handler=None):
    routty = RouttyResource(base_url=os.environ["ROUTTY_BASE_URL"])
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"routty": routty})
    if log_handler:
        context.log.addHandler(log_handler)  # the tick's logger does not propagate to the root
    return sensor(context)


def partitions(result) -> list[str]:
    return sorted(r.partition_key for r in result.run_requests)


def waiting_export_for_globex(sandbox) -> None:
    sandbox.admin("POST", "routty/exports/generate", params={"tenant": "globex", "limit": "1"}).raise_for_status()


def malformed_for_acme(monkeypatch, method: str, malformed) -> None:
    """Routty's answer to `method` is malformed for acme only (a KeyError deep in the client)."""
    real = getattr(RouttyClient, method)

    def answer(self, *args, **kwargs):
        return malformed(*args) if "acme" in self.http.system else real(self, *args, **kwargs)
    monkeypatch.setattr(RouttyClient, method, answer)


# ---------------------------------------------------------------- (a) one tenant's bad data

def test_a_malformed_export_list_of_one_tenant_leaves_the_others_pickup(tenants, instance, monkeypatch):
    waiting_export_for_globex(tenants)
    malformed_for_acme(monkeypatch, "output_documents", lambda: [{"id": "no documentId here"}])
    earlier = {"acme": {"export-1": 1.0}}

    result = tick(exports_sensor, instance, json.dumps(earlier))

    assert partitions(result) == ["globex"]
    cursor = json.loads(result.cursor)
    assert cursor["acme"] == earlier["acme"]  # as it was: the next tick tries acme again
    assert len(cursor["globex"]) == 4


def test_a_bad_cursor_entry_of_one_tenant_stops_no_tick(tenants, instance):
    waiting_export_for_globex(tenants)
    result = tick(exports_sensor, instance, json.dumps({"acme": 42, "globex": "garbled"}))
    assert partitions(result) == ["globex"]  # acme has nothing waiting; its entry is simply renewed
    assert json.loads(result.cursor)["acme"] == {}


def test_a_refused_key_skips_only_its_tenant_and_says_which_variable(tenants, instance, monkeypatch, caplog):
    waiting_export_for_globex(tenants)
    monkeypatch.setenv("ACME_ROUTTY_OUTPUT_INBOUND_API_KEY", "not-the-key-4711")
    result = tick(exports_sensor, instance, log_handler=caplog.handler)
    assert partitions(result) == ["globex"]
    said = caplog.text
    assert "ACME_ROUTTY_OUTPUT_INBOUND_API_KEY" in said and "not-the-key-4711" not in said


def test_a_malformed_status_answer_for_one_upload_leaves_the_other_tenants_status_run(tenants, instance, monkeypatch):
    real = RouttyClient.masterdata_status

    def status(self, status_id):
        if status_id == "acme-upload":
            raise KeyError("status")  # Routty's answer without a status
        return real(self, status_id)
    monkeypatch.setattr(RouttyClient, "masterdata_status", status)
    in_flight = {"acme-upload": "acme/PartyList", "globex-upload": "globex/PartyList"}

    result = tick(masterdata_status_sensor, instance, json.dumps({"after": 0, "in_flight": in_flight}))

    assert partitions(result) == ["globex"]  # Routty no longer knows it: settled as Unknown
    assert json.loads(result.cursor)["in_flight"] == {"acme-upload": "acme/PartyList"}


def test_bad_in_flight_data_of_one_tenant_leaves_the_others_document_status_run(tenants, instance):
    write_in_flight(instance, "acme", [("acme-doc", "jortt:1", "NoSuchFlow", "Processing")])
    write_in_flight(instance, "globex", [("globex-doc", "jortt:2", "Outbound", "Processing")])

    result = tick(invoices_status_sensor, instance)

    assert partitions(result) == ["globex"]
    assert json.loads(result.cursor)["globex"] == "globex-doc"


# ---------------------------------------------------------------- (b) a tick stays inside its budget

def timed(call, limit: float):
    """(result, seconds) of call(), or a failure once `limit` passed (the tick would have been killed)."""
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(call()), daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(limit)
    assert outcome, f"the tick was still running after {limit:.0f} s"
    return outcome[0], time.monotonic() - started


def test_a_tick_against_a_routty_asking_to_wait_a_minute_ends_well_inside_its_limit(tenants, instance):
    tenants.admin("POST", "faults", json={"rate_limit_every": 1, "retry_after": 60,
                                          "systems": ["routty"]}).raise_for_status()
    result, seconds = timed(lambda: tick(exports_sensor, instance), limit=40)
    assert seconds < 20
    assert result.run_requests == [] and "acme" in result.skip_reason.skip_message
    assert "globex" in result.skip_reason.skip_message


def test_a_tick_stops_starting_calls_when_its_budget_is_spent_and_says_what_it_left(tenants, instance, monkeypatch):
    monkeypatch.setattr(polling, "POLL_BUDGET_SECONDS", 1.0)
    tenants.admin("POST", "faults", json={"unavailable_every": 1, "systems": ["routty"]}).raise_for_status()
    documents = [(f"doc-{n:03d}", f"jortt:{n}", "Outbound", "Processing") for n in range(40)]
    write_in_flight(instance, "acme", documents)
    write_in_flight(instance, "globex", documents)

    result, seconds = timed(lambda: tick(invoices_status_sensor, instance), limit=40)

    assert seconds < 10
    assert result.run_requests == [] and "not polled" in result.skip_reason.skip_message
    assert json.loads(result.cursor)["acme"] < "doc-039"  # the next tick goes on from there
