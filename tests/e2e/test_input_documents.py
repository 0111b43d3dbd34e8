"""Documents into Routty's input API, against the sandbox over loopback: every sendable invoice
uploaded once, never twice (rerun, a process killed at each step, overlapping runs), a document
Routty fails and its resend, rejects, and the status sensor's bounded tick."""

import multiprocessing
import os
import shutil
import threading
import time
import uuid

import dagster as dg
import duckdb
import pytest

from assets.invoices import ledger as document_ledger
from assets.handoff import run_is_live
from assets.invoices.upload import DocumentSender, jortt_pdf, upload_queued
from assets.invoices.in_flight import read_in_flight, write_in_flight
from assets.exports import GROUP as EXPORTS_GROUP
from assets.invoices.documents import RECEIVED, SALES, DocumentConfig, build_sales_documents, queue_documents
from assets.xml.fields import Reject
from assets.invoices import sensors
from orchestration.definitions import build_definitions
from resources.jortt import JorttResource
from resources.routty import SALES_INPUT_KEY, RouttyResource
from resources.tenants import tenant_by_id
from resources.warehouse import warehouse_resource
from tests.conftest import execute, reset_sandbox

SALES_UPSTREAM = dg.AssetSelection.assets(SALES.documents_key).upstream()
DOCUMENTS_UPSTREAM = dg.AssetSelection.assets(SALES.documents_key, RECEIVED.documents_key).upstream()
UPLOADS = dg.AssetSelection.assets(SALES.upload_key, RECEIVED.upload_key)
MAIN_JOB = dg.AssetSelection.all() - dg.AssetSelection.groups(EXPORTS_GROUP)


@pytest.fixture
def sandbox(sandbox_process):
    """A smaller company than the session default: 40 sendable invoices show every case, and the
    client keeps to Jortt's 10 requests a second for each invoice's PDF."""
    return reset_sandbox(sandbox_process, size=20)


@pytest.fixture(scope="module")
def queued_warehouse(sandbox_process, tmp_path_factory):
    """A warehouse with the sales invoices queued, built once: the sandbox's data is the same after
    every reset (same size and seed), so each upload test starts from a copy."""
    path = tmp_path_factory.mktemp("queued") / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in sandbox_process.env().items():
            patch.setenv(name, value)
        patch.setenv("WAREHOUSE_PATH", str(path))
        patch.setenv("ROUTTY_OUTBOX_DIR", str(path.parent / "outbox"))
        patch.delenv("TENANTS_FILE", raising=False)
        sandbox_process.admin("POST", "reset", json={"size": 20, "seed": 7}).raise_for_status()
        with dg.instance_for_test() as instance:
            run(instance, SALES_UPSTREAM)
    return path


@pytest.fixture
def queued(queued_warehouse, embedded_env):
    shutil.copy(queued_warehouse, embedded_env["WAREHOUSE_PATH"])


def run(instance, selection: dg.AssetSelection, run_config: dict | None = None) -> dict:
    defs = build_definitions()
    keys = list(selection.resolve(defs.resolve_asset_graph()))
    result = execute(defs.resolve_job_def("routty_sync"), instance,
        asset_selection=keys, run_config=run_config or {}, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return {"/".join(e.asset_key.path): {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


def routty_documents(sandbox) -> dict:
    return sandbox.admin("GET", "routty/documents").json()


def ledger_rows(env) -> list[tuple]:
    with duckdb.connect(env["WAREHOUSE_PATH"], read_only=True) as db:
        return db.execute("SELECT correlation_id, step, status, error_code FROM sync.routty_documents "
                          "ORDER BY correlation_id").fetchall()


def sendable_jortt_invoices(sandbox) -> set[str]:
    invoices = sandbox.admin("GET", "truth/jortt/invoices").json()["records"]
    return {f"jortt:{i['id']}" for i in invoices if i["invoice_status"] != "draft"}


def upload_sales(claimant: str, is_live) -> dict:
    """The sales upload as the asset does it, outside Dagster (so a test can kill it at any step)."""
    tenant = tenant_by_id("default")
    routty = RouttyResource(base_url=os.environ["ROUTTY_BASE_URL"])
    jortt = JorttResource(base_url=os.environ["JORTT_BASE_URL"], token_url=os.environ["JORTT_TOKEN_URL"])
    with routty.client(tenant, SALES_INPUT_KEY) as client, jortt.client(tenant) as jortt_client:
        sender = DocumentSender(client, jortt_pdf(jortt_client))
        return dict(upload_queued(warehouse_resource(), sender, tenant.id, "Outbound", claimant, is_live,
                                  _PrintLog()).counts)


class _PrintLog:
    def warning(self, message: str) -> None:
        print(message)


def assert_each_uploaded_once(sandbox, correlation_ids: set[str]) -> None:
    docs = routty_documents(sandbox)
    assert docs["duplicates"] == {}
    uploaded = {d["correlationId"] for d in docs["documents"] if d["xml"] is not None}
    assert correlation_ids <= uploaded
    for doc in docs["documents"]:
        if doc["correlationId"].startswith("jortt:"):
            assert [(a["mimeType"], a["size"] > 0) for a in doc["attachments"]] == [("application/pdf", True)]


def test_main_job_uploads_every_sendable_invoice_once_and_a_rerun_nothing(embedded_env, sandbox, instance):
    first = run(instance, MAIN_JOB)
    sales = sendable_jortt_invoices(sandbox)
    received = {f"b2brouter:{r['id']}" for r in
                sandbox.admin("GET", "truth/b2brouter/received_invoices").json()["records"]}
    assert first["invoices/sales_invoice_uploads"]["uploaded"] == len(sales) > 0
    assert first["invoices/received_invoice_uploads"]["uploaded"] == len(received) > 0
    assert_each_uploaded_once(sandbox, sales | received)
    docs = routty_documents(sandbox)["documents"]
    assert {d["correlationId"] for d in docs} == sales | received  # no draft, nothing else
    # Customers went out in the PartyList first, so Routty accepts every sales invoice.
    assert {d["status"] for d in docs if d["flow"] == "Outbound"} == {"Success"}
    rows = ledger_rows(embedded_env)
    assert {(c, s) for c, _, s, _ in rows} == {(d["correlationId"], d["status"]) for d in docs}
    status = first["invoices/status"]
    assert status["documents_outbound_success"] == len(sales)
    issued = {r["number"]: r["state"] for r in sandbox.admin("GET", "truth/b2brouter/issued_invoices").json()["records"]}
    with duckdb.connect(embedded_env["WAREHOUSE_PATH"], read_only=True) as db:
        both = db.execute("SELECT number, routty_status, b2brouter_state FROM sync.sales_invoice_status "
                          "WHERE source_system = 'jortt' AND books_status <> 'draft'").fetchall()
    assert {r for _, r, _ in both} == {"Success"}  # where each sales invoice stands, in Routty and B2Brouter
    assert {n: b for n, _, b in both if b is not None} == {n: s for n, s in issued.items() if n in {x for x, *_ in both}}
    assert any(b is not None for *_, b in both)

    second = run(instance, MAIN_JOB)
    assert second["invoices/sales_invoice_uploads"]["uploaded"] == 0
    assert second["invoices/received_invoice_uploads"]["uploaded"] == 0
    assert len(routty_documents(sandbox)["documents"]) == len(docs)


def _die_at(point: str) -> None:
    """Runs in a child process: upload until `point`, then die there as a killed process would."""
    import assets.invoices.upload as upload

    calls = {"put": 0}
    real_put, real_record = upload.put_blob, upload.ledger.record_uploaded

    def put_blob(url, body, content_type):
        calls["put"] += 1
        if (point, calls["put"]) in (("attachment", 1), ("main", 2)):
            os._exit(9)
        return real_put(url, body, content_type)

    def record_uploaded(conn, doc):
        if point == "recorded":
            os._exit(9)
        real_record(conn, doc)

    upload.put_blob, upload.ledger.record_uploaded = put_blob, record_uploaded
    upload_sales("a-process-that-dies", lambda claimant: True)


@pytest.mark.parametrize("point", ["attachment", "main", "recorded"])
def test_a_process_killed_mid_upload_is_resumed_without_a_second_upload(embedded_env, sandbox, queued, instance, point):
    child = multiprocessing.get_context("spawn").Process(target=_die_at, args=(point,))
    child.start()
    child.join(120)
    assert child.exitcode == 9
    steps = {s for _, s, _, _ in ledger_rows(embedded_env)}
    assert "requested" in steps  # it died between asking for the upload and recording it

    outcome = upload_sales("the-next-run", run_is_live(instance))  # the dead claimant is no live run
    sales = sendable_jortt_invoices(sandbox)
    assert outcome["uploaded"] == len(sales)
    assert {s for _, s, _, _ in ledger_rows(embedded_env)} == {"uploaded"}
    assert_each_uploaded_once(sandbox, sales)
    assert len(routty_documents(sandbox)["documents"]) == len(sales)


def test_an_interrupted_upload_is_completed_by_the_next_run(embedded_env, sandbox, queued, instance, monkeypatch):
    import assets.invoices.upload as upload

    real_put = upload.put_blob
    monkeypatch.setattr(upload, "put_blob", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        upload_sales("interrupted", lambda claimant: True)
    monkeypatch.setattr(upload, "put_blob", real_put)
    assert ledger_rows(embedded_env)[0][1] in ("built", "requested")

    upload_sales("interrupted", lambda claimant: True)  # the same claimant (a retried run) picks up its own
    sales = sendable_jortt_invoices(sandbox)
    assert_each_uploaded_once(sandbox, sales)
    assert {s for _, s, _, _ in ledger_rows(embedded_env)} == {"uploaded"}


def test_overlapping_runs_never_upload_a_document_twice(embedded_env, sandbox, queued, instance):
    sandbox.admin("POST", "faults", json={"latency_ms": 5}).raise_for_status()
    outcomes, errors = [], []

    def worker(name: str) -> None:
        try:
            outcomes.append(upload_sales(name, lambda claimant: True))  # both alive: neither takes the other's
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(f"run-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    sandbox.admin("DELETE", "faults").raise_for_status()
    assert errors == []
    sales = sendable_jortt_invoices(sandbox)
    assert sum(o.get("uploaded", 0) for o in outcomes) == len(sales)
    assert all(o.get("uploaded", 0) > 0 for o in outcomes)  # they really overlapped
    assert_each_uploaded_once(sandbox, sales)


def test_a_document_routty_fails_is_surfaced_and_resent_after_cancel(embedded_env, sandbox, instance):
    sandbox.admin("POST", "routty/settings", json={"fail_next_documents": 1}).raise_for_status()
    run(instance, dg.AssetSelection.assets(SALES.upload_key).upstream() | dg.AssetSelection.assets(["invoices", "status"]))
    failed = [r for r in ledger_rows(embedded_env) if r[2] == "Error"]
    assert [(s, code) for _, _, s, code in failed] == [("Error", "SimulatedFailure")]
    correlation_id = failed[0][0]
    check = [e for e in instance.get_event_records(dg.EventRecordsFilter(dg.DagsterEventType.ASSET_CHECK_EVALUATION))
             if e.event_log_entry.dagster_event.event_specific_data.check_name == "documents_accepted"]
    assert check and not check[-1].event_log_entry.dagster_event.event_specific_data.passed

    source_id = correlation_id.split(":", 1)[1]
    config = {"ops": {"invoices__sales_invoice_documents": {"config": {"resend": [source_id]}}}}
    run(instance, dg.AssetSelection.assets(SALES.documents_key, SALES.upload_key, ["invoices", "status"]), config)
    docs = {d["correlationId"]: d for d in routty_documents(sandbox)["documents"]}
    assert docs[correlation_id]["status"] == "Cancelled"
    assert docs[f"{correlation_id}#r2"]["status"] == "Success"
    rows = {c: (step, s) for c, step, s, _ in ledger_rows(embedded_env)}
    assert rows[correlation_id] == ("superseded", "Cancelled")
    assert rows[f"{correlation_id}#r2"] == ("uploaded", "Success")
    with duckdb.connect(embedded_env["WAREHOUSE_PATH"], read_only=True) as db:
        history = db.execute("SELECT status FROM sync.routty_document_status_history WHERE correlation_id = ? "
                             "ORDER BY recorded_at", [correlation_id]).fetchall()
    assert [s for (s,) in history] == ["Processing", "Error", "Cancelled"]


def test_an_invoice_that_cannot_be_built_is_rejected_and_the_others_go_on(embedded_env, sandbox, instance):
    run(instance, dg.AssetSelection.assets(["model", "routty_sales_invoices"]).upstream())
    with duckdb.connect(embedded_env["WAREHOUSE_PATH"], read_only=True) as db:
        cursor = db.execute("SELECT * FROM model.routty_sales_invoices WHERE source_system = 'jortt' AND status <> 'draft' ORDER BY source_id")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r)) for r in cursor.fetchall()]
    rows[0]["customer_number"] = None
    rows[1]["total_incl_vat"] += 1
    rows[2]["lines"] = [{**rows[2]["lines"][0], "vat_percent": 7}] + rows[2]["lines"][1:]
    built = list(build_sales_documents(iter(rows)))
    rejects = [b for b in built if isinstance(b, Reject)]
    assert [(r.record_key, r.field) for r in rejects] == [
        (rows[0]["source_id"], "customer"), (rows[1]["source_id"], "total_incl_vat"),
        (rows[2]["source_id"], "lines[1].vat_percent")]
    assert len(built) - len(rejects) == len(rows) - 3


def _tick(instance, cursor: str | None = None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={
        "routty": RouttyResource(base_url=os.environ["ROUTTY_BASE_URL"])})
    return sensors.invoices_status_sensor(context)


def _polls(sandbox) -> list[str]:
    return [r["path"].rsplit("/", 1)[1] for r in sandbox.admin("GET", "stats").json()["requests"]
            if r["method"] == "GET" and "/input-api/input-documents/" in r["path"]]


def test_status_sensor_polls_a_bounded_slice_of_thousands_in_flight(embedded_env, sandbox, instance):
    in_flight = [(str(uuid.uuid4()), f"jortt:{n}", "Outbound", "Processing") for n in range(3000)]
    write_in_flight(instance, "default", in_flight)
    sandbox.admin("DELETE", "stats").raise_for_status()
    first = _tick(instance)
    polled = _polls(sandbox)
    assert len(polled) == sensors.MAX_DOCUMENT_POLLS_PER_TICK
    assert polled == sorted(d for d, *_ in in_flight)[:len(polled)]  # in order, from the start
    (request,) = first.run_requests
    observed = request.run_config["ops"]["invoices__status"]["config"]["observed"]
    assert len(observed) == len(polled) and {o["status"] for o in observed} == {"Unknown"}  # Routty never saw them

    sandbox.admin("DELETE", "stats").raise_for_status()
    _tick(instance, first.cursor)
    assert set(_polls(sandbox)).isdisjoint(polled)  # the next slice, not the same one again


def test_status_sensor_follows_documents_to_their_final_status(embedded_env, sandbox, instance):
    sandbox.admin("POST", "routty/settings", json={"document_processing_delay": 1.0}).raise_for_status()
    run(instance, DOCUMENTS_UPSTREAM | UPLOADS)
    in_flight = read_in_flight(instance, "default")
    assert in_flight and {d["status"] for d in in_flight} == {"Processing"}
    time.sleep(1.2)

    cursor, changes = None, 0
    for _ in range(len(in_flight) // sensors.MAX_DOCUMENT_POLLS_PER_TICK + 1):  # a bounded slice per tick
        tick = _tick(instance, cursor)
        cursor = tick.cursor
        for request in tick.run_requests:
            observed = request.run_config["ops"]["invoices__status"]["config"]["observed"]
            assert len(observed) <= sensors.MAX_DOCUMENT_POLLS_PER_TICK
            changes += len(observed)
            run(instance, dg.AssetSelection.assets(["invoices", "status"]), request.run_config)
    assert changes == len(in_flight)
    assert read_in_flight(instance, "default") == []
    assert {s for _, _, s, _ in ledger_rows(embedded_env)} <= {"Success", "Error"}
    with duckdb.connect(embedded_env["WAREHOUSE_PATH"], read_only=True) as db:
        transitions = db.execute("SELECT count(*) FROM sync.routty_document_status_history").fetchone()[0]
    assert transitions == 2 * len(in_flight)  # Processing, then the verdict
    assert isinstance(_tick(instance, cursor), dg.SkipReason)


def test_ledger_refreshes_a_queued_document_and_flags_one_changed_after_upload():
    conn = duckdb.connect()
    from resources.warehouse import ensure_schema
    ensure_schema(conn)
    doc = document_ledger.BuiltDocument("jortt", "a", "Outbound", "1", "Invoice", b"<v1/>")
    document_ledger.enqueue(conn, "t", "Outbound", [doc])
    changed = document_ledger.BuiltDocument("jortt", "a", "Outbound", "1", "Invoice", b"<v2/>")
    assert document_ledger.enqueue(conn, "t", "Outbound", [changed]).changed == 1
    (queued,) = document_ledger.claim(conn, "t", "Outbound", "r", lambda c: True, 10)
    assert queued.xml == b"<v2/>"
    requested = document_ledger.record_requested(conn, queued, "d1", "https://u")
    document_ledger.record_uploaded(conn, document_ledger.record_put_intent(conn, requested))
    counts = document_ledger.enqueue(conn, "t", "Outbound", [doc])
    assert (counts.changed, counts.changed_after_upload, counts.resent) == (0, 1, 0)
    assert conn.execute("SELECT count(*), any_value(upload_url) FROM sync.routty_documents").fetchone() == (1, None)


def test_an_upload_url_that_lapsed_while_the_process_was_down_is_asked_for_again(embedded_env, sandbox, queued, instance):
    sandbox.admin("POST", "routty/settings", json={"upload_url_ttl": 1.0}).raise_for_status()
    child = multiprocessing.get_context("spawn").Process(target=_die_at, args=("attachment",))
    child.start()
    child.join(120)
    assert child.exitcode == 9
    time.sleep(1.2)  # the recorded URL is no longer valid
    sandbox.admin("POST", "routty/settings", json={"upload_url_ttl": 600}).raise_for_status()

    upload_sales("the-next-run", run_is_live(instance))
    docs = routty_documents(sandbox)["documents"]
    sales = sendable_jortt_invoices(sandbox)
    uploaded = [d["correlationId"] for d in docs if d["xml"] is not None]
    assert sorted(uploaded) == sorted(sales)  # each exactly once
    (stale,) = [d for d in docs if d["xml"] is None]  # the lapsed request stays empty, never processed
    assert stale["status"] == "ReadyForUpload"


def test_thousands_of_invoices_are_queued_in_bounded_batches_none_lost():
    """More invoices than one batch: the builder reads on while the ledger writes between batches."""
    conn = duckdb.connect()
    from resources.warehouse import ensure_schema
    ensure_schema(conn)
    conn.execute("""
        CREATE TABLE model.routty_sales_invoices AS
        SELECT 'default' AS tenant_id, 'jortt' AS source_system, 'inv-' || i AS source_id, 'N' || i AS number,
               'sent' AS status, DATE '2024-01-01' AS issue_date, DATE '2024-02-01' AS due_date, 'EUR' AS currency,
               NULL::VARCHAR AS credited_number, NULL::DATE AS credited_issue_date, NULL::VARCHAR AS buyer_reference,
               NULL::VARCHAR AS note, 100.00::DECIMAL(18, 2) AS total_net, 121.00::DECIMAL(18, 2) AS total_incl_vat,
               'c1' AS customer_number, 'Klant BV' AS customer_name, 'Dam 1' AS customer_street,
               '1012 JS' AS customer_postal_code, 'Amsterdam' AS customer_city, 'NL' AS customer_country,
               NULL::VARCHAR AS customer_vat, NULL::VARCHAR AS customer_coc, NULL::VARCHAR AS customer_email,
               's1' AS supplier_number, 'Eigen BV' AS supplier_name, 'Markt 2' AS supplier_street,
               '3511 AA' AS supplier_postal_code, 'Utrecht' AS supplier_city, 'NL' AS supplier_country,
               'NL123456789B01' AS supplier_vat, '12345678' AS supplier_coc, 'NL91ABNA0417164300' AS iban,
               [{'description': 'Advies', 'quantity': 1::DECIMAL(20, 4), 'unit_price': 100::DECIMAL(20, 4),
                 'net_amount': 100::DECIMAL(20, 4), 'vat_percent': 21::DECIMAL(5, 2)}] AS lines
        FROM range(2500) r(i)""")
    built, rejects, counts = queue_documents(conn, SALES, tenant_by_id("default"), DocumentConfig())
    assert (built, rejects, counts.new) == (2500, [], 2500)
    assert conn.execute("SELECT count(DISTINCT source_id) FROM sync.routty_documents").fetchone() == (2500,)
    assert queue_documents(conn, SALES, tenant_by_id("default"), DocumentConfig())[2].new == 0  # a rerun queues nothing
