"""Landing in chunks: what crosses a chunk boundary (a record seen twice, a rejected one, one gone)."""

import json

import duckdb

from assets.ingest.engine.spool import spool_records
from assets.ingest.endpoints.rutter import VENDORS
from resources.http.paginators import Page
from assets.ingest.engine.land import land_spool


def vendor(vid: str, updated: str, name: str) -> dict:
    return {"id": vid, "vendor_name": name, "updated_at": f"2024-03-{updated}T00:00:00.000Z", "status": "active"}


def test_chunks_keep_the_newest_version_reject_without_loss_and_mark_what_is_gone(tmp_path):
    # Newest first, as Rutter pages: V-1 changed while paging and shows up again, older, two chunks later.
    pages = [Page({"vendors": [vendor("V-1", "20", "new name"), vendor("V-2", "19", "b")]}),
             Page({"vendors": [{"id": "V-3", "updated_at": "not-a-date"}, vendor("V-4", "17", "d")]}),
             Page({"vendors": [vendor("V-1", "10", "old name"), vendor("V-5", "09", "e")]})]
    pages_read, chunks = spool_records(pages, tmp_path, VENDORS, chunk_records=2)
    assert pages_read == 3 and len(chunks) == 3
    assert [json.loads(line)["id"] for line in chunks[0].read_text().splitlines()] == ["V-1", "V-2"]

    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
        first = land_spool(conn, VENDORS, "t", chunks)
        names = dict(conn.execute("SELECT id, vendor_name FROM staging.rutter_vendors").fetchall())
        assert names["V-1"] == "new name"  # the older copy met later did not win
        assert (first.new, first.rejected, first.duplicate_keys, first.received) == (4, 1, 1, 6)
        assert first.cursor_after is None  # a reject holds the cursor (first read: it stays unset)

        # A full read where V-2 is gone and V-3 is still malformed: V-2 disappears, V-3 does not.
        (tmp_path / "again").mkdir()
        full_read = [Page({"vendors": [vendor("V-1", "20", "new name"), {"id": "V-3", "updated_at": "x"}]})]
        _, again = spool_records(full_read, tmp_path / "again", VENDORS)
        second = land_spool(conn, VENDORS, "t", again, complete=True)
        gone = {i for (i,) in conn.execute("SELECT id FROM staging.rutter_vendors WHERE deleted_at IS NOT NULL").fetchall()}
    assert second.disappeared == 3 and gone == {"V-2", "V-4", "V-5"}


def test_an_optional_field_that_does_not_convert_is_dropped_with_a_warning_and_the_record_lands(tmp_path):
    """Tolerant in: a vendor whose last_synced_at is garbage still lands (without it), a warning says
    so; a vendor whose cursor field is garbage is still rejected (the cursor cannot do without it)."""
    from resources.warehouse import ensure_schema

    good = {"id": "V-1", "vendor_name": "Acme", "updated_at": "2024-03-01T10:00:00Z", "last_synced_at": "soon"}
    broken_cursor = {"id": "V-2", "vendor_name": "Bolt", "updated_at": "yesterday"}
    _, chunks = spool_records([Page({"vendors": [good, broken_cursor]})], tmp_path, VENDORS)
    conn = duckdb.connect()
    ensure_schema(conn)
    result = land_spool(conn, VENDORS, "t", chunks)
    assert (result.new, result.rejected, result.warned) == (1, 1, 1)
    assert conn.execute("SELECT id, vendor_name, last_synced_at FROM staging.rutter_vendors").fetchall() == [
        ("V-1", "Acme", None)]
    assert conn.execute("SELECT stage, record_key, field FROM sync.rejects ORDER BY stage").fetchall() == [
        ("ingest", "V-2", "updated_at"), ("ingest-warning", "V-1", "last_synced_at")]

    fixed = {**good, "last_synced_at": "2024-03-01T10:00:00Z", "updated_at": "2024-03-02T10:00:00Z"}
    (tmp_path / "again").mkdir()
    _, again = spool_records([Page({"vendors": [fixed]})], tmp_path / "again", VENDORS)
    land_spool(conn, VENDORS, "t", again)
    assert conn.execute("SELECT count(*) FROM sync.rejects WHERE stage = 'ingest-warning'").fetchone() == (0,)
