"""Documents into Routty under failure, against the sandbox over loopback: a blob PUT refused for good,
a change after the PUT landed, an answer lost after Routty processed the request, a PDF link Jortt
refuses, and no warehouse connection held while the network is waited on. A few documents each."""

import hashlib
import subprocess
import sys
import threading

import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from assets.invoices import ledger as document_ledger
from assets.invoices.ledger import BuiltDocument
from assets.invoices.upload import DocumentSender, upload_queued
from assets.invoices.documents import SALES
from orchestration.definitions import build_definitions
from resources.routty import InputDocumentStatus, UploadUrlExpired
from resources.warehouse import ensure_schema
from tests.conftest import execute
from tests.e2e.test_input_documents import routty_documents, upload_sales


def xml(source_id: str, version: int = 1) -> bytes:
    """Not a valid invoice (Routty's verdict does not matter here), but a distinct document per version."""
    return f"<Invoice><ID>{source_id}</ID><Note>v{version}</Note></Invoice>".encode()


def enqueue(path: str, source_ids: list[str], version: int = 1) -> document_ledger.EnqueueCounts:
    with duckdb.connect(path) as conn:
        ensure_schema(conn)
        return document_ledger.enqueue(conn, "default", "Outbound", [
            BuiltDocument("jortt", s, "Outbound", f"N-{s}", "Invoice", xml(s, version)) for s in source_ids])


@pytest.fixture
def queued(embedded_env, sandbox) -> list[str]:
    """Three sendable Jortt invoices queued (their PDFs are real), so each test uploads only a few."""
    invoices = sandbox.admin("GET", "truth/jortt/invoices").json()["records"]
    ids = sorted(i["id"] for i in invoices if i["invoice_status"] != "draft")[:3]
    enqueue(embedded_env["WAREHOUSE_PATH"], ids)
    return ids


def ledger(env) -> dict[str, dict]:
    with duckdb.connect(env["WAREHOUSE_PATH"], read_only=True) as db:
        cursor = db.execute("SELECT * FROM sync.routty_documents")
        names = [d[0] for d in cursor.description]
        return {row[names.index("correlation_id")]: dict(zip(names, row)) for row in cursor.fetchall()}


def requested(sandbox, correlation_id: str) -> list[dict]:
    return [d for d in routty_documents(sandbox)["documents"] if d["correlationId"] == correlation_id]


class _Log:
    def warning(self, message):
        pass


def faults(sandbox, **settings) -> None:
    sandbox.admin("POST", "faults", json=settings).raise_for_status()


def upload_asset(instance):
    """The sales upload asset alone, as a Dagster run (it may fail: the caller looks)."""
    return execute(build_definitions().resolve_job_def("routty_sync"), instance,
        asset_selection=[SALES.upload_key], raise_on_error=False)


def metadata(result) -> dict:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


# ---------------------------------------------------------------- 1. a blob PUT refused for good

def test_a_permanent_403_asks_once_for_a_new_url_per_run_and_is_never_recorded_uploaded(embedded_env, sandbox, queued):
    refused = f"jortt:{queued[0]}"
    faults(sandbox, refuse_uploads=[refused])
    first = upload_sales("run-1", lambda claimant: True)
    assert (first.get("uploaded"), first.get("failed")) == (2, 1)  # the others went on
    row = ledger(embedded_env)[refused]
    assert row["step"] == "requested" and "403" in row["upload_error"]
    assert len(requested(sandbox, refused)) == 1  # a URL issued in this run refused: not asked again

    second = upload_sales("run-2", lambda claimant: True)
    assert second.get("failed") == 1 and ledger(embedded_env)[refused]["step"] == "requested"
    assert len(requested(sandbox, refused)) == 2  # the URL of run 1 refused: one new one, no more

    sandbox.admin("DELETE", "faults").raise_for_status()
    third = upload_sales("run-3", lambda claimant: True)
    assert third.get("uploaded") == 1
    row = ledger(embedded_env)[refused]
    assert (row["step"], row["upload_error"]) == ("uploaded", None)
    # A refused URL is dropped (it is of no more use): run 3 asks once for a fresh one.
    assert [d["xml"] is not None for d in requested(sandbox, refused)] == [False, False, True]


def test_a_document_that_did_not_land_fails_the_step_after_the_others_went(embedded_env, sandbox, queued, instance):
    refused = f"jortt:{queued[0]}"
    faults(sandbox, refuse_uploads=[refused])
    result = upload_asset(instance)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert refused in failure.step_failure_data.error.message and "403" in failure.step_failure_data.error.message
    found = metadata(result)
    assert (found["uploaded"], found["failed"]) == (2, 1)
    assert {c: r["step"] for c, r in ledger(embedded_env).items()} == {
        refused: "requested", f"jortt:{queued[1]}": "uploaded", f"jortt:{queued[2]}": "uploaded"}


class _RefusingRoutty:
    """Every upload URL refused; Routty reports `status` for the document."""

    def __init__(self, status: str):
        self.status, self.requests = status, 0

    def request_input_document(self, correlation_id, received_on):
        self.requests += 1
        return f"doc-{self.requests}", f"http://127.0.0.1:9/upload/doc-{self.requests}?sig=x"

    def input_document_status(self, document_id, correlation_id):
        return InputDocumentStatus(document_id, self.status)


def one_queued(tmp_path) -> str:
    path = str(tmp_path / "warehouse.duckdb")
    with duckdb.connect(path) as conn:
        ensure_schema(conn)
        document_ledger.enqueue(conn, "t", "Outbound", [BuiltDocument("jortt", "a", "Outbound", "1", "Invoice", b"<a/>")])
    return path


@pytest.mark.parametrize("status", ["Unknown", "Error", "Cancelled"])
def test_after_a_refused_put_no_status_makes_a_document_uploaded_that_was_never_put(tmp_path, monkeypatch, status):
    import assets.invoices.upload as upload

    def refused(url, body, content_type):
        raise UploadUrlExpired("routty upload", 403, "refused")

    path = one_queued(tmp_path)
    monkeypatch.setattr(upload, "put_blob", refused)
    routty = _RefusingRoutty(status)
    report = upload_queued(DuckDBResource(database=path), DocumentSender(routty, None), "t", "Outbound", "run-1",
                           lambda claimant: True, _Log())
    assert (report.counts["failed"], report.counts["uploaded"], routty.requests) == (1, 0, 1)
    with duckdb.connect(path, read_only=True) as conn:
        assert conn.execute("SELECT step, upload_error IS NOT NULL FROM sync.routty_documents").fetchall() == [
            ("requested", True)]


# ---------------------------------------------------------------- 2. a change after the PUT landed

def test_a_change_after_the_put_landed_is_flagged_never_recorded_as_the_new_content(
        embedded_env, sandbox, queued, monkeypatch):
    import assets.invoices.upload as upload

    def die(*args):
        raise KeyboardInterrupt  # the run dies after Routty stored the document, before the ledger knew

    with monkeypatch.context() as patch:
        patch.setattr(upload.ledger, "record_uploaded", die)
        with pytest.raises(KeyboardInterrupt):
            upload_sales("dies-after-the-put", lambda claimant: True)
    first = f"jortt:{queued[0]}"
    assert [d["xml"] for d in requested(sandbox, first)] == [xml(queued[0]).decode()]
    assert enqueue(embedded_env["WAREHOUSE_PATH"], queued[:1], version=2).changed == 1  # the invoice changed

    upload_sales("the-next-run", lambda claimant: True)
    row = ledger(embedded_env)[first]
    assert (row["step"], row["changed_after_upload"]) == ("uploaded", True)
    assert row["put_hash"] == hashlib.sha256(xml(queued[0])).hexdigest()  # what Routty holds: v1
    assert row["content_hash"] == hashlib.sha256(xml(queued[0], 2)).hexdigest()
    assert [d["xml"] for d in requested(sandbox, first)] == [xml(queued[0]).decode()]  # v1, once
    assert not ledger(embedded_env)[f"jortt:{queued[1]}"]["changed_after_upload"]


# ---------------------------------------------------------------- 3. an answer lost after Routty processed it

def test_a_document_request_answered_502_after_processing_is_not_repeated_in_the_run(embedded_env, sandbox, queued):
    first = f"jortt:{queued[0]}"
    faults(sandbox, lost_response_burst=1, systems=["routty"])
    outcome = upload_sales("run-1", lambda claimant: True)
    assert (outcome.get("uploaded"), outcome.get("failed")) == (2, 1)
    assert len(requested(sandbox, first)) == 1  # Routty made it; we were not told; not asked again
    row = ledger(embedded_env)[first]
    assert (row["step"], row["unconfirmed_requests"]) == ("built", 1) and "502" in row["upload_error"]

    assert upload_sales("run-2", lambda claimant: True).get("uploaded") == 1
    assert [d["xml"] is not None for d in requested(sandbox, first)] == [False, True]  # the orphan stays empty


# ---------------------------------------------------------------- 4. a PDF link Jortt refuses

def download_requests(sandbox, invoice_id: str) -> int:
    return sum(1 for r in sandbox.admin("GET", "stats").json()["requests"]
               if r["path"] == f"/jortt/invoices/{invoice_id}/download")


def test_a_refused_pdf_link_blocks_only_its_invoice_which_waits_for_the_next_run(embedded_env, sandbox, queued, instance):
    blocked = f"jortt:{queued[0]}"
    faults(sandbox, refuse_downloads=[queued[0]])
    result = upload_asset(instance)
    assert result.success
    found = metadata(result)
    assert (found["uploaded"], found["blocked_by_attachment"]) == (2, 1)
    assert download_requests(sandbox, queued[0]) == 2  # a fresh link asked for once
    row = ledger(embedded_env)[blocked]
    assert row["step"] == "built" and "403" in row["attachment_error"]
    assert requested(sandbox, blocked) == []  # nothing asked of Routty for it

    sandbox.admin("DELETE", "faults").raise_for_status()
    assert upload_sales("the-next-run", lambda claimant: True).get("uploaded") == 1
    row = ledger(embedded_env)[blocked]
    assert (row["step"], row["attachment_error"], row["attachment_done"]) == ("uploaded", None, True)
    (doc,) = requested(sandbox, blocked)
    assert [a["mimeType"] for a in doc["attachments"]] == ["application/pdf"]


def test_a_refused_pdf_link_with_send_without_attachment_sends_the_invoice_alone(
        embedded_env, sandbox, queued, instance, monkeypatch):
    monkeypatch.setenv("ROUTTY_SEND_WITHOUT_ATTACHMENT", "true")
    blocked = f"jortt:{queued[0]}"
    faults(sandbox, refuse_downloads=[queued[0]])
    result = upload_asset(instance)
    assert result.success
    found = metadata(result)
    assert (found["uploaded"], found["blocked_by_attachment"], found["sent_without_attachment"]) == (3, 0, 1)
    row = ledger(embedded_env)[blocked]
    assert row["step"] == "uploaded" and not row["attachment_done"] and "403" in row["attachment_error"]
    (doc,) = requested(sandbox, blocked)
    assert doc["xml"] is not None and doc["attachments"] == []
    assert all(len(d["attachments"]) == 1 for d in routty_documents(sandbox)["documents"] if d is not doc
               and d["correlationId"] != blocked)


# ---------------------------------------------------------------- 5. no connection held across the network

class _BlockedRoutty:
    """A Routty whose document request waits until the test lets it answer."""

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()

    def request_input_document(self, correlation_id, received_on):
        self.entered.set()
        assert self.release.wait(30)
        return "doc-1", "http://127.0.0.1:9/upload/doc-1?sig=x"


def test_no_warehouse_connection_is_held_while_routty_is_waited_on(tmp_path, monkeypatch):
    import assets.invoices.upload as upload

    path = one_queued(tmp_path)
    monkeypatch.setattr(upload, "put_blob", lambda url, body, content_type: True)
    routty = _BlockedRoutty()
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(upload_queued(
        DuckDBResource(database=path), DocumentSender(routty, None), "t", "Outbound", "run-1",
        lambda claimant: True, _Log())))
    worker.start()
    try:
        assert routty.entered.wait(30)
        # Another process (the only kind DuckDB's file lock keeps out) opens the warehouse meanwhile.
        other = subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).execute("
                                "\"UPDATE sync.routty_documents SET checked_at = now()\")", path],
                               capture_output=True, text=True, timeout=60)
        assert other.returncode == 0, other.stderr
        with duckdb.connect(path) as conn:  # the claim still holds while its run is live
            assert document_ledger.claim(conn, "t", "Outbound", "run-2", lambda claimant: True, 10) == []
    finally:
        routty.release.set()
        worker.join(60)
    with duckdb.connect(path, read_only=True) as conn:
        assert conn.execute("SELECT step, claimed_by FROM sync.routty_documents").fetchall() == [("uploaded", None)]
