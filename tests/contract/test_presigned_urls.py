"""Pre-signed URLs (time-limited, and anyone holding one may use it) are kept in the warehouse only while
they can be used: dropped once used, refused or lapsed; a document resumed after a crash PUTs to its URL
only while it is valid, else asks for a fresh one; an export's download URL is never stored."""

import time
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

import assets.invoices.upload as upload
from assets.invoices import ledger as document_ledger
from assets.exports.pickup import PICKUP_KEY
from orchestration.definitions import build_definitions
from tests.conftest import execute
from tests.e2e.test_input_documents import upload_sales
from tests.e2e.test_upload_faults import faults, ledger, queued, requested  # noqa: F401 - queued is a fixture



def urls_kept(path: str, table: str = "routty_documents") -> list[tuple]:
    """Every text value of the table that holds a URL or a signature."""
    with duckdb.connect(path, read_only=True) as db:
        columns = [c for (c,) in db.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = 'sync' AND table_name = ? "
            "AND data_type = 'VARCHAR'", [table]).fetchall()]
        found = db.execute(f"SELECT {', '.join(columns)} FROM sync.{table}").fetchall()
    return [(c, v) for row in found for c, v in zip(columns, row) if v and ("http" in v or "sig=" in v)]


def puts_to(sandbox, document_id: str) -> int:
    return sum(1 for r in sandbox.admin("GET", "stats").json()["requests"]
               if r["method"] == "PUT" and r["path"].startswith(f"/routty/upload/{document_id}"))


def crash_at_the_first_put(monkeypatch) -> None:
    """The run dies once Routty issued the first document's URLs, before anything was PUT."""
    def die(url, body, content_type):
        raise KeyboardInterrupt
    with monkeypatch.context() as patch:
        patch.setattr(upload, "put_blob", die)
        with pytest.raises(KeyboardInterrupt):
            upload_sales("a-run-that-dies", lambda claimant: True)


def hold(path: str, correlation_id: str, claimant: str | None) -> None:
    """Another run, still live, holds the document (claimant None: it let go)."""
    with duckdb.connect(path) as db:
        db.execute("UPDATE sync.routty_documents SET claimed_by = ?, claimed_at = now()::TIMESTAMP "
                   "WHERE correlation_id = ?", [claimant, correlation_id])


def test_a_document_whose_upload_was_refused_keeps_no_url(embedded_env, sandbox, queued):  # noqa: F811
    refused = f"jortt:{queued[0]}"
    faults(sandbox, refuse_uploads=[refused])
    assert upload_sales("run-1", lambda claimant: True).get("failed") == 1
    row = ledger(embedded_env)[refused]
    assert row["step"] == "requested" and "403" in row["upload_error"]
    assert urls_kept(embedded_env["WAREHOUSE_PATH"]) == []

    assert upload_sales("run-2", lambda claimant: True).get("failed") == 1  # one fresh request, refused again
    assert len(requested(sandbox, refused)) == 2
    assert urls_kept(embedded_env["WAREHOUSE_PATH"]) == []


def test_a_lapsed_url_is_dropped_never_put_to_and_replaced_by_a_fresh_one(embedded_env, sandbox, queued, monkeypatch):  # noqa: F811
    path, first = embedded_env["WAREHOUSE_PATH"], f"jortt:{queued[0]}"
    sandbox.admin("POST", "routty/settings", json={"upload_url_ttl": 1.0}).raise_for_status()
    crash_at_the_first_put(monkeypatch)
    (lapsed,) = requested(sandbox, first)
    assert ledger(embedded_env)[first]["upload_url"]  # the only way to resume, while it lasts
    time.sleep(1.1)
    sandbox.admin("POST", "routty/settings", json={"upload_url_ttl": 600}).raise_for_status()

    hold(path, first, "a-live-run")
    assert upload_sales("run-2", lambda claimant: True).get("uploaded") == 2  # the others
    assert urls_kept(path) == []  # dropped, although no run took its document

    hold(path, first, None)
    assert upload_sales("run-3", lambda claimant: True).get("uploaded") == 1
    assert puts_to(sandbox, lapsed["documentId"]) == 0  # never PUT to a URL known to have lapsed
    assert [d["xml"] is not None for d in requested(sandbox, first)] == [False, True]  # one fresh request
    assert urls_kept(path) == []


def test_a_document_resumed_while_its_url_is_valid_uses_it(embedded_env, sandbox, queued, monkeypatch):  # noqa: F811
    first = f"jortt:{queued[0]}"
    crash_at_the_first_put(monkeypatch)
    assert upload_sales("run-2", lambda claimant: True).get("uploaded") == 3
    (doc,) = requested(sandbox, first)  # no second request
    assert doc["xml"] is not None and urls_kept(embedded_env["WAREHOUSE_PATH"]) == []


def test_a_url_lapses_when_it_says_else_after_the_configured_lifetime(monkeypatch):
    stated = document_ledger.url_expiry("https://blob/x?sv=1&se=2030-01-02T03%3A04%3A05.000Z&sig=abc")
    assert stated == datetime(2030, 1, 2, 3, 4, 5) - document_ledger.CLOCK_SKEW
    monkeypatch.setenv("ROUTTY_UPLOAD_URL_LIFETIME_SECONDS", "120")
    unstated = document_ledger.url_expiry("https://blob/x?sig=abc")
    expected = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=120) - document_ledger.CLOCK_SKEW
    assert abs(unstated - expected) < timedelta(seconds=5)


def test_an_exports_download_url_is_never_stored(embedded_env, sandbox, instance):
    sandbox.admin("POST", "routty/exports/generate", params={"tenant": "acme", "limit": "1"}).raise_for_status()
    result = execute(build_definitions().resolve_job_def("routty_exports"), instance,
        asset_selection=[PICKUP_KEY], raise_on_error=False)
    assert result.success
    with duckdb.connect(embedded_env["WAREHOUSE_PATH"], read_only=True) as db:
        assert db.execute("SELECT count(*) FROM sync.routty_exports").fetchone()[0] == 4
    assert urls_kept(embedded_env["WAREHOUSE_PATH"], "routty_exports") == []
