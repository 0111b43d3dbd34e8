"""Exports against the sandbox over loopback, where things go wrong: a minimal export booked end to end,
exact amounts reaching Rutter, exports offered again until they are done, feedback that cannot be made
valid blocking only its own export, any error of one export contained, one bill per export whatever
Rutter answers (a replayed 5xx, a 409) and however runs overlap, and no warehouse connection open while
a remote system is waited on."""

import json
import os
import threading
from contextlib import contextmanager

import dagster as dg
import httpx
import pytest
from dagster_duckdb import DuckDBResource

from assets.exports import booking as export_booking
from assets.exports import sensors
from orchestration import schedules
from orchestration.definitions import build_definitions
from resources.http import ApiClient, CredentialsError, RetryPolicy
from resources.rutter import RutterResource
from resources.tenants import all_tenants
from resources.warehouse import warehouse_resource
from sandbox import credentials as cred
from tests.conftest import execute, reset_sandbox
from tests.unit.exports.test_export_parsing import minimal_export
from tests.e2e.test_exports import exports_admin, run, tick

BOOKINGS = [dg.AssetKey(["exports", "bookings"])]
BOOKS = [dg.AssetKey(["rutter", s]) for s in ("vendors", "accounts", "purchase_orders")]


@pytest.fixture
def sandbox(sandbox_process):
    return reset_sandbox(sandbox_process, size=20)


@pytest.fixture
def books(embedded_env, sandbox, instance) -> dict:
    """The books' vendors, accounts and orders landed; a vendor and an expense account to book on."""
    run(instance, "routty_sync", selection=BOOKS)
    truth = {s: sandbox.admin("GET", f"truth/rutter/{s}").json()["records"] for s in ("vendors", "accounts")}
    return {"vendor": truth["vendors"][0]["id"],
            "account": next(a["id"] for a in truth["accounts"] if a["account_type"] == "expense")}


def add(sandbox, books: dict, n: int, **fields) -> dict:
    """Export number n, as given, queued in Routty's output API."""
    guid = f"3F2504E0-4F89-41D3-9A0C-{n:012d}"
    header = fields.pop("header", f"<DocumentReference>INV-{n}</DocumentReference><DocumentDate>2024-05-01</DocumentDate>")
    xml = minimal_export(books["vendor"], books["account"], guid=guid, set_id=fields.pop("set_id", str(5000 + n)),
                         header=header, **fields)
    added = sandbox.admin("POST", "routty/exports/add", json={"xml": xml.decode(), "correlation_id": f"test:{n}"})
    assert added.status_code == 200, added.text
    return added.json()


def ledger() -> dict[str, dict]:
    with warehouse_resource().get_connection() as db:
        cursor = db.execute("SELECT * FROM sync.routty_exports")
        names = [d[0] for d in cursor.description]
        return {row[1]: dict(zip(names, row)) for row in cursor.fetchall()}


def bills(sandbox) -> dict:
    return sandbox.admin("GET", "rutter/bills").json()


def test_a_minimal_export_is_booked_end_to_end_and_one_without_a_date_is_refused(books, sandbox, instance):
    minimal = add(sandbox, books, 1, header="<ReceptionDate>2024-05-03</ReceptionDate>")
    dateless = add(sandbox, books, 2, header="")
    metadata = run(instance, "routty_exports")
    assert metadata["exports/pickup"]["landed"] == 2
    assert "no DocumentDate (invoice date) in the header" in metadata["exports/pickup"]["warnings"][minimal["documentId"]]
    rows = ledger()
    assert rows[minimal["documentId"]]["step"] == "booked"
    assert "no DueDate (due date) in the header" in json.loads(rows[minimal["documentId"]]["warnings"])
    assert rows[dateless["documentId"]]["step"] == "rejected"
    assert "no invoice date" in rows[dateless["documentId"]]["reason"]
    [created] = bills(sandbox)["created"]
    bill = sandbox.admin("GET", "truth/rutter/bills").json()["records"]
    assert next(b for b in bill if b["id"] == created["bill_id"])["issue_date"] == "2024-05-03"
    feedback = exports_admin(sandbox)["feedback"]
    assert [f["status"] for f in feedback[minimal["documentId"]]] == ["Received", "Booked"]
    assert [f["status"] for f in feedback[dateless["documentId"]]] == ["Received", "Error"]


def test_amounts_reach_rutter_exactly_and_are_resent_byte_for_byte(books, sandbox, instance):
    amounts = ["2.675", "1.005", "10000000000000000.01"]
    added = add(sandbox, books, 3, amounts=amounts)
    run(instance, "routty_exports")
    assert bills(sandbox)["created"][0]["line_amounts"] == amounts
    stored = ledger()[added["documentId"]]["bill_request"]
    assert all(f'"total_amount":{a},' in stored for a in amounts)


def test_an_export_whose_run_failed_is_offered_again_and_the_schedule_runs_the_job(books, sandbox, instance,
                                                                                      monkeypatch):
    added = add(sandbox, books, 4)
    now = [1_000_000.0]
    monkeypatch.setattr(sensors.time, "time", lambda: now[0])
    monkeypatch.setenv("ROUTTY_EXPORTS_RETRY_MINUTES", "30")
    first = tick(instance)
    assert first.run_requests[0].run_config["ops"]["exports__pickup"]["config"]["document_ids"] == \
        [added["documentId"]]
    # Its run never happened (or failed): not asked again at once, but once it has waited long enough.
    now[0] += 60
    assert not tick(instance, first.cursor).run_requests
    now[0] += 30 * 60
    again = tick(instance, first.cursor)
    [request] = again.run_requests
    assert request.run_config["ops"]["exports__pickup"]["config"]["document_ids"] == [added["documentId"]]
    assert request.run_key != first.run_requests[0].run_key and request.tags["routty/exports_again"] == "1"
    run(instance, "routty_exports", request.run_config)
    now[0] += 60 * 60
    done = tick(instance, again.cursor)
    assert not done.run_requests and json.loads(done.cursor)["default"] == {}  # acknowledged: forgotten
    context = dg.build_schedule_context(instance=instance, repository_def=build_definitions().get_repository_def())
    assert isinstance(schedules.exports_schedule.evaluate_tick(context).run_requests[0], dg.RunRequest)


def test_feedback_that_cannot_be_valid_blocks_only_its_export_and_any_error_stays_with_its_export(
        books, sandbox, instance, monkeypatch):
    bad_set = add(sandbox, books, 5, set_id="SET-5005")
    long_journal = add(sandbox, books, 6, header=f"<DocumentReference>INV-6</DocumentReference>"
                                                 f"<DocumentDate>2024-05-01</DocumentDate><Journal>{'J' * 60}</Journal>")
    broken, fine = add(sandbox, books, 7), add(sandbox, books, 8)
    real = export_booking.bill_request

    def bill_request(conn, tenant_id, document_id):
        if document_id == broken["documentId"]:
            raise RuntimeError("a bug of ours, for this export only")
        return real(conn, tenant_id, document_id)

    monkeypatch.setattr(export_booking, "bill_request", bill_request)
    metadata = run(instance, "routty_exports")
    assert metadata["exports/bookings"]["failed_now"] == 1
    rows = ledger()
    assert rows[bad_set["documentId"]]["step"] == "booked" and rows[bad_set["documentId"]]["acknowledged_at"]
    assert "DocumentSetId" in rows[bad_set["documentId"]]["blocked_reason"]
    assert rows[broken["documentId"]]["step"] == "downloaded"
    assert "a bug of ours" in rows[broken["documentId"]]["last_error"]
    feedback = exports_admin(sandbox)["feedback"]
    assert bad_set["documentId"] not in feedback
    [received, booked] = feedback[long_journal["documentId"]]
    assert booked["journal"] == "J" * 50 and "Journal truncated" in booked["messages"][-1]
    assert [f["status"] for f in feedback[fine["documentId"]]] == ["Received", "Booked"]
    monkeypatch.setattr(export_booking, "bill_request", real)
    run(instance, "routty_exports")  # fixed: the next run books it
    assert ledger()[broken["documentId"]]["step"] == "booked"


def test_a_credentials_error_stops_the_run_with_what_to_check(books, sandbox, instance, monkeypatch):
    add(sandbox, books, 9)

    def refused(self, *args, **kwargs):
        raise CredentialsError("rutter (tenant default)", 401, "access refused; check RUTTER_ACCESS_TOKEN")

    monkeypatch.setattr(export_booking.RutterClient, "create_bill", refused)
    outcome = execute(build_definitions().resolve_job_def("routty_exports"), instance, raise_on_error=False)
    assert not outcome.success
    assert "check RUTTER_ACCESS_TOKEN" in outcome.failure_data_for_node("exports__bookings").error.to_string()


def test_a_replayed_5xx_is_looked_up_then_booked_under_a_new_key_once(books, sandbox, instance, monkeypatch):
    monkeypatch.setattr(RetryPolicy, "wait", lambda self, state: 0)
    added = add(sandbox, books, 10)
    sandbox.admin("POST", "rutter/bills", json={"fail_accepted": 1}).raise_for_status()
    run(instance, "routty_exports")
    row = ledger()[added["documentId"]]
    state = bills(sandbox)
    assert row["step"] == "booked" and len(state["created"]) == 1
    guid = "3F2504E0-4F89-41D3-9A0C-000000000010"
    assert state["by_key"][guid]["failed"] == 500 and state["by_key"][guid]["replays"] >= 1
    assert state["by_key"][f"{guid}#2"]["bills"] == 1 and row["bill_id"] == state["created"][0]["bill_id"]


def test_a_409_finds_the_bill_that_exists_instead_of_rejecting(books, sandbox, instance):
    added = add(sandbox, books, 11)
    guid = "3F2504E0-4F89-41D3-9A0C-000000000011"
    # The key was used before with another body (another run's, another version's), and made the bill.
    body = {"bill": {"vendor_id": books["vendor"], "issue_date": "2024-05-03", "currency_code": "EUR",
                     "document_number": "INV-11", "memo": "booked earlier",
                     "line_items": [{"account_id": books["account"], "total_amount": 100.0}]}}
    earlier = sandbox_post_bill(sandbox, body, guid)
    run(instance, "routty_exports")
    row = ledger()[added["documentId"]]
    assert (row["step"], row["bill_id"]) == ("booked", earlier["bill"]["id"])
    assert bills(sandbox)["by_key"][guid]["conflicts"] == 1 and len(bills(sandbox)["created"]) == 1


def sandbox_post_bill(sandbox, body: dict, key: str) -> dict:
    response = httpx.post(f"{sandbox.base_url}/rutter/versioned/accounting/bills", json=body, trust_env=False,
                          params={"access_token": cred.RUTTER_ACCESS_TOKEN},
                          auth=(cred.RUTTER_CLIENT_ID, cred.RUTTER_CLIENT_SECRET),
                          headers={"X-Rutter-Version": cred.RUTTER_VERSION, "Idempotency-Key": key})
    assert response.status_code == 200, response.text
    return response.json()


def test_an_overlapping_run_never_books_again_nor_overturns_a_booking(books, sandbox, instance, monkeypatch):
    added = [add(sandbox, books, n) for n in (12, 13)]
    run(instance, "routty_exports", selection=[dg.AssetKey(["exports", "pickup"])])
    with warehouse_resource().get_connection() as db:
        snapshot = export_booking._exports(db, "default", "e.step IN ('downloaded', 'booking')")
    assert len(snapshot) == 2
    run(instance, "routty_exports", selection=BOOKINGS)  # run A books both
    real_exports, real_request = export_booking._exports, export_booking.bill_request

    def stale(conn, tenant_id, condition, *params):  # run B read the list before run A finished
        return snapshot if "'downloaded'" in condition else real_exports(conn, tenant_id, condition, *params)

    def other_body(conn, tenant_id, document_id):  # and the books changed meanwhile: another body
        return {**real_request(conn, tenant_id, document_id), "memo": "changed"}

    monkeypatch.setattr(export_booking, "_exports", stale)
    monkeypatch.setattr(export_booking, "bill_request", other_body)
    run(instance, "routty_exports", selection=BOOKINGS)
    rows = ledger()
    assert [rows[a["documentId"]]["step"] for a in added] == ["booked", "booked"]
    assert len(bills(sandbox)["created"]) == 2


def test_two_bookers_at_once_make_one_bill(books, sandbox, instance):
    added = add(sandbox, books, 14)
    run(instance, "routty_exports", selection=[dg.AssetKey(["exports", "pickup"])])
    rutter = RutterResource(base_url=os.environ["RUTTER_BASE_URL"], client_id=os.environ["RUTTER_CLIENT_ID"],
                            client_secret=os.environ["RUTTER_CLIENT_SECRET"])
    warehouse = warehouse_resource()
    with warehouse.get_connection() as db:
        [export] = export_booking._exports(db, "default", "e.step = 'downloaded'")
    outcomes, start = [], threading.Barrier(2)

    def booker(name: str) -> None:
        with rutter.client(all_tenants()[0]) as client:
            start.wait()
            outcomes.append(export_booking.Booker(warehouse, client, "default", name, lambda run_id: True,
                                                  _Log()).book(export))

    threads = [threading.Thread(target=booker, args=(name,)) for name in ("run-a", "run-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["booked", "skipped"]
    assert ledger()[added["documentId"]]["step"] == "booked" and len(bills(sandbox)["created"]) == 1


class _Log:
    def warning(self, message: str) -> None:
        pass


def test_no_warehouse_connection_is_open_while_a_remote_system_is_called(books, sandbox, instance, monkeypatch):
    for n in (15, 16):
        add(sandbox, books, n)
    open_now, held = [0], []
    real_connection, real_send = DuckDBResource.get_connection, ApiClient._send_once

    @contextmanager
    def counted(self):
        with real_connection(self) as conn:
            open_now[0] += 1
            try:
                yield conn
            finally:
                open_now[0] -= 1

    def send(self, method, path, **kwargs):
        if open_now[0]:
            held.append(f"{self.system} {method} {path}")
        return real_send(self, method, path, **kwargs)

    monkeypatch.setattr(DuckDBResource, "get_connection", counted)
    monkeypatch.setattr(ApiClient, "_send_once", send)
    run(instance, "routty_exports")
    assert [r["step"] for r in ledger().values()] == ["booked", "booked"]
    assert held == []
