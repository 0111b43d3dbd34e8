"""Landing in chunks: what crosses a chunk boundary (a record seen twice, a rejected one, one gone)."""

import json

import duckdb

from assets.ingest.landing import spool_records
from assets.ingest.rutter import VENDORS
from resources.pages import Page
from resources.warehouse import land_spool


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
