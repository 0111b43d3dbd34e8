"""The documents Routty still works on, per tenant, as a small JSON file beside the outbox.

Written by the runs that change it (uploads, status), read by the document-status sensor: a sensor
must not wait on DuckDB's write lock, and thousands of document ids do not belong in a sensor
cursor (stored with every tick) or in run metadata. Replaced atomically, so a reader never sees
half a file.
"""

import json
import os
from pathlib import Path

from assets.routty.outbox import outbox_dir


def in_flight_file(tenant_id: str) -> Path:
    return outbox_dir() / tenant_id / "documents_in_flight.json"


def write_in_flight(tenant_id: str, rows: list[tuple[str, str, str, str]]) -> None:
    """(document id, correlation id, flow, status) of each document in flight."""
    path = in_flight_file(tenant_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps([{"document_id": d, "correlation_id": c, "flow": f, "status": s}
                                     for d, c, f, s in rows]))
    os.replace(temporary, path)


def read_in_flight(tenant_id: str) -> list[dict]:
    path = in_flight_file(tenant_id)
    return json.loads(path.read_text()) if path.exists() else []
