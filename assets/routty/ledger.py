"""The masterdata ledger (sync.masterdata_uploads): what was sent to Routty, and what became of it.

It is what makes pushing idempotent: a document whose hash matches the last one sent for its tenant
and list type is not sent again. A row is written *before* the upload ('Sending') and completed
after it, so a crash in between leaves a visible trace instead of a silent gap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from resources.routty import MasterdataStatus

IN_FLIGHT = ("Pending", "Processing")


@dataclass(frozen=True)
class Upload:
    tenant_id: str
    list_type: str
    content_hash: str
    status_id: str | None
    status: str


def last_upload(conn: duckdb.DuckDBPyConnection, tenant_id: str, list_type: str) -> Upload | None:
    row = conn.execute(
        """SELECT tenant_id, list_type, content_hash, status_id, status FROM sync.masterdata_uploads
           WHERE tenant_id = ? AND list_type = ? ORDER BY sent_at DESC LIMIT 1""",
        [tenant_id, list_type],
    ).fetchone()
    return Upload(*row) if row else None


def record_attempt(conn, tenant_id: str, list_type: str, content_hash: str, correlation_id: str, records: int) -> object:
    sent_at = conn.execute(
        """INSERT INTO sync.masterdata_uploads
           (tenant_id, list_type, content_hash, correlation_id, record_count, status, sent_at)
           VALUES (?, ?, ?, ?, ?, 'Sending', now()::TIMESTAMP) RETURNING sent_at""",
        [tenant_id, list_type, content_hash, correlation_id, records],
    ).fetchone()[0]
    return sent_at


def record_sent(conn, tenant_id: str, list_type: str, content_hash: str, sent_at, status_id: str) -> None:
    conn.execute(
        """UPDATE sync.masterdata_uploads SET status_id = ?, status = 'Pending'
           WHERE tenant_id = ? AND list_type = ? AND content_hash = ? AND sent_at = ?""",
        [status_id, tenant_id, list_type, content_hash, sent_at],
    )


def in_flight(conn: duckdb.DuckDBPyConnection, tenant_id: str) -> list[Upload]:
    rows = conn.execute(
        f"""SELECT tenant_id, list_type, content_hash, status_id, status FROM sync.masterdata_uploads
            WHERE tenant_id = ? AND status IN {IN_FLIGHT} AND status_id IS NOT NULL ORDER BY sent_at""",
        [tenant_id],
    ).fetchall()
    return [Upload(*row) for row in rows]


def record_status(conn: duckdb.DuckDBPyConnection, result: MasterdataStatus) -> None:
    conn.execute(
        """UPDATE sync.masterdata_uploads SET status = ?, errors = ?, checked_at = now()::TIMESTAMP
           WHERE status_id = ?""",
        [result.status, json.dumps(result.errors) if result.errors else None, result.status_id],
    )


def latest_by_list(conn: duckdb.DuckDBPyConnection, tenant_id: str) -> list[tuple]:
    """(tenant, list type, status, status id, records, errors) of each list's most recent upload."""
    return conn.execute(
        """SELECT tenant_id, list_type, status, status_id, record_count, errors FROM sync.masterdata_uploads
           WHERE tenant_id = ?
           QUALIFY row_number() OVER (PARTITION BY tenant_id, list_type ORDER BY sent_at DESC) = 1
           ORDER BY tenant_id, list_type""",
        [tenant_id],
    ).fetchall()
