"""Pages to spool files: every record on a line of its own, while the pages are fetched."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from assets.ingest.tables import StreamSpec
from resources.http.paginators import Page, records_of

CHUNK_RECORDS = 20_000  # records landed per DuckDB statement: bounds landing memory


def spool_records(pages: Iterable[Page], folder: Path, spec: StreamSpec, chunk_records: int = CHUNK_RECORDS,
                  tenant_id: str | None = None) -> tuple[int, list[Path]]:
    """Write every record on a line of its own, in chunk files of at most `chunk_records` records:
    DuckDB lands one chunk at a time, so memory stays flat however many records a stream has
    (benchmarks/). Returns the number of pages and the chunk files. A page without its records
    key raises MissingRecords (nothing is landed)."""
    count, chunks, in_chunk, out = 0, [], chunk_records, None
    system = f"{spec.system} (tenant {tenant_id})" if tenant_id else spec.system
    try:
        for page in pages:
            count += 1
            records = records_of(page.data, spec.records_key, system, f"{spec.name} page {count}", spec.single)
            for record in records:
                if record is None:
                    continue
                if in_chunk == chunk_records:
                    out and out.close()
                    chunks.append(folder / f"chunk-{len(chunks) + 1:05d}.ndjson")
                    out, in_chunk = open(chunks[-1], "w", encoding="utf-8"), 0
                out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
                out.write("\n")
                in_chunk += 1
    finally:
        if out:
            out.close()
    return count, chunks
