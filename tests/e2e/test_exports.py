"""Routty exports closed in the loop, against the sandbox over loopback: parsed completely, booked as
one Rutter bill each (under retry, after a crash between booking and feedback), feedback for every
export, an unknown supplier ending in error feedback, a malformed export quarantined."""

import os
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from assets.exports import booking as export_booking
from assets.exports.parser import TABLES, land_export, parse_export
from assets.invoices.documents import RECEIVED
from assets.exports import sensors
from orchestration.definitions import build_definitions
from orchestration.embedded import export_steps
from resources.http import RemoteError
from resources.routty import RouttyResource
from resources.warehouse import ensure_schema, warehouse_resource
from tests.conftest import execute, reset_sandbox

FIXTURE = Path(__file__).parents[1] / "fixtures" / "routty_export_full.xml"


@pytest.fixture
def sandbox(sandbox_process):
    """A small company: a handful of received invoices, so a handful of exports plus the three extras."""
    return reset_sandbox(sandbox_process, size=20)


def run(instance, job: str, run_config: dict | None = None, selection=None) -> dict:
    defs = build_definitions()
    result = execute(defs.resolve_job_def(job), instance, run_config=run_config or {},
                                                          asset_selection=selection, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return {"/".join(e.asset_key.path): {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


def tick(instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={
        "routty": RouttyResource(base_url=os.environ["ROUTTY_BASE_URL"])})
    return sensors.exports_sensor(context)


def exports_admin(sandbox) -> dict:
    return sandbox.admin("GET", "routty/exports").json()


def ledger(env) -> dict[str, tuple]:
    # Through the resource: an interrupted run in this process may still hold the file open.
    with warehouse_resource().get_connection() as db:
        rows = db.execute("SELECT document_id, step, bill_id, feedback_status, reason FROM sync.routty_exports").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_a_full_export_is_parsed_into_every_section():
    parsed = parse_export(FIXTURE.read_bytes())
    conn = duckdb.connect()
    ensure_schema(conn)
    counts = land_export(conn, "t", "doc-1", parsed)
    assert counts == {"metadata": 1, "headers": 1, "parties": 2, "registration_numbers": 3, "bank_accounts": 1,
                      "lines": 2, "coding_lines": 2, "intrastat_lines": 1, "payment_schedule": 2,
                      "matching_exceptions": 1, "attachments": 2, "matched_orders": 1, "matched_order_lines": 1,
                      "matched_receipts": 1, "matched_receipt_lines": 1}
    assert set(counts) == set(TABLES)
    assert (parsed.guid, parsed.document_set_id) == ("EEBF3406-095B-4717-B659-BD2601542135", "1042")

    def one(sql):
        return conn.execute(sql).fetchall()

    assert one('SELECT "Role", "Name" FROM staging.routty_export_parties ORDER BY 1') == [
        ("Buyer", "Molenaar & Zn. Bouwmaterialen B.V."), ("Supplier", "Café Müller & Söhne GmbH")]
    assert one('SELECT "DocumentReference", "TotalGrossAmount", "ExternalReference1" FROM staging.routty_export_headers') == [
        ("INV-2024-0042", "1250.00", "b2brouter:50017")]
    assert one('SELECT "GlAccount", "DebitAmount", "PurchaseInvoiceLinesId" FROM staging.routty_export_coding_lines '
               'ORDER BY position') == [("7000", "1000.00", "730421"), ("4600", "250.00", "730422")]
    assert one('SELECT "DueDate", "HoldPayment", "BankAccount_IBAN" FROM staging.routty_export_payment_schedule '
               'ORDER BY position')[1] == ("2024-06-01", "true", "DE89370400440532013000")
    assert one('SELECT "ExceptionCode", "LineId" FROM staging.routty_export_matching_exceptions') == [
        ("NoMatchingOrderLine", "730422")]
    assert one('SELECT "DocumentReference_", "GlAccount", "InvoicedAmount" FROM staging.routty_export_matched_order_lines') == [
        ("PO-2024-00017", "7000", "1000.000000")]
    assert one('SELECT "Filename", "Type" FROM staging.routty_export_attachments ORDER BY position') == [
        ("INV-2024-0042.xml", "Original"), ("INV-2024-0042.pdf", "Visualisation")]
    assert one('SELECT "CommodityCode", "NetMass" FROM staging.routty_export_intrastat_lines') == [("85389099", "42.5000")]
    land_export(conn, "t", "doc-1", parsed)  # picked up again: replaced, not doubled
    assert one("SELECT count(*) FROM staging.routty_export_lines") == [(2,)]


def test_the_main_job_and_one_tick_book_every_export_once_and_tell_routty(embedded_env, sandbox, instance):
    run(instance, "routty_sync")
    first = tick(instance)
    (request,) = first.run_requests
    waiting = request.run_config["ops"]["exports__pickup"]["config"]["document_ids"]
    assert len(waiting) >= 4  # Success received invoices plus the three deliberate cases
    metadata = run(instance, "routty_exports", request.run_config)
    assert metadata["exports/pickup"]["quarantined"] == 1
    steps = export_steps(metadata)  # what the embedded runner prints
    assert steps["quarantined"] == 1 and steps["booked"] >= 1

    admin = exports_admin(sandbox)
    assert admin["queue"] == []  # all acknowledged
    rows = ledger(embedded_env)
    assert set(rows) == set(waiting)
    steps = sorted(step for step, *_ in rows.values())
    assert steps.count("quarantined") == 1 and "booked" in steps
    bills = sandbox.admin("GET", "rutter/bills").json()
    booked = {doc: bill for doc, (step, bill, *_) in rows.items() if step == "booked"}
    assert len(bills["created"]) == len(booked) == len(set(booked.values()))  # one bill per booked export
    assert all(entry["bills"] == 1 for entry in bills["by_key"].values())

    feedback = admin["feedback"]
    for document_id, (step, bill_id, status, reason) in rows.items():
        statuses = [f["status"] for f in feedback[document_id]]
        expected = {"booked": ["Received", "Booked"], "rejected": ["Received", "Error"], "quarantined": ["Error"]}[step]
        assert statuses == expected, (document_id, step, reason)
        if step == "booked":
            assert [f.get("bookingNumber") for f in feedback[document_id]][-1] == bill_id
    unknown = [r for r in rows.values() if r[0] == "rejected" and "not a vendor in the books" in (r[3] or "")]
    assert len(unknown) == 1  # the supplier the books do not know: error feedback a person can act on
    assert not admin["duplicate_feedback"]

    marks = sandbox.admin("GET", "b2brouter/state_changes").json()["state_changes"]
    assert {m["to"] for m in marks} >= {"accepted"}

    second = tick(instance, first.cursor)
    assert not second.run_requests and second.skip_reason  # nothing waiting: no run
    run(instance, "routty_exports")  # the job again, unasked: nothing new to book, nothing sent twice
    assert len(sandbox.admin("GET", "rutter/bills").json()["created"]) == len(booked)


def _picked_up(instance, env) -> dict:
    """Received invoices into Routty (it makes exports of those it accepts) and the books' accounts,
    then the pickup alone."""
    received = (dg.AssetSelection.assets(RECEIVED.upload_key).upstream() | dg.AssetSelection.assets(["rutter", "accounts"]))
    received = received.resolve(build_definitions().resolve_asset_graph())
    run(instance, "routty_sync", selection=list(received))
    run(instance, "routty_exports", selection=[dg.AssetKey(["exports", "pickup"])])
    return ledger(env)


def test_a_lost_answer_and_a_crash_before_feedback_still_make_one_bill(embedded_env, sandbox, instance, monkeypatch):
    _picked_up(instance, embedded_env)
    from resources.rutter import RutterClient

    real = RutterClient.create_bill
    calls = {"n": 0}

    def answer_lost(self, bill, idempotency_key):
        real(self, bill, idempotency_key)  # the bill is created in the books...
        calls["n"] += 1
        raise RemoteError("rutter", None, "POST /accounting/bills failed: ReadTimeout")  # ...but the answer is lost

    monkeypatch.setattr(RutterClient, "create_bill", answer_lost)
    first = run(instance, "routty_exports", selection=[dg.AssetKey(["exports", "bookings"])])
    assert first["exports/bookings"]["failed_now"] == calls["n"] > 0
    monkeypatch.setattr(RutterClient, "create_bill", real)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process stops between booking and feedback

    real_feedback = export_booking.send_feedback
    monkeypatch.setattr(export_booking, "send_feedback", crash)
    with pytest.raises(KeyboardInterrupt):
        execute(build_definitions().resolve_job_def("routty_exports"), instance,
            asset_selection=[dg.AssetKey(["exports", "bookings"])])
    monkeypatch.setattr(export_booking, "send_feedback", real_feedback)
    run(instance, "routty_exports", selection=[dg.AssetKey(["exports", "bookings"])])

    bills = sandbox.admin("GET", "rutter/bills").json()
    booked = [r for r in ledger(embedded_env).values() if r[0] == "booked"]
    assert len(bills["created"]) == len(booked) > 0
    assert all(entry["bills"] == 1 for entry in bills["by_key"].values())
    rows = ledger(embedded_env)  # the retries found the bills the lost answers had made: none made twice
    assert {bill for step, bill, *_ in rows.values() if step == "booked"} == {c["bill_id"] for c in bills["created"]}
    assert all(r[2] == "Booked" for r in booked)
    feedback = exports_admin(sandbox)["feedback"]
    assert all(sum(f["status"] == "Booked" for f in entries) <= 1 for entries in feedback.values())
