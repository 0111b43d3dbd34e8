"""The masterdata ledger: what was sent to Routty, and what became of it.

- `sync.masterdata_uploads`, one row per upload (a part of a list, or a batch of deletes): written
  *before* the upload ('Sending') and completed after it, so a crash in between leaves a visible
  trace; an upload whose bytes were already sent and confirmed is never sent again.
- `sync.masterdata_records`, one row per record key: its content hash, the upload that carried it
  and Routty's verdict. The XML assets compare against it to build only the delta.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from resources.routty import MasterdataStatus

IN_FLIGHT = ("Pending", "Processing")
# A 'Sending' row younger than this may belong to a push still waiting on its answer: longer than
# one upload with its bounded retries can take. An older one was left by a push that died.
SENDING_LEASE_SECONDS = 600


@dataclass(frozen=True)
class Upload:
    tenant_id: str
    list_type: str
    content_hash: str
    status_id: str | None
    status: str


def confirmed_upload(conn: duckdb.DuckDBPyConnection, tenant_id: str, list_type: str, content_hash: str) -> Upload | None:
    """The upload that already carried exactly these bytes, if it arrived and did not fail (the
    records of a failed upload are sent again, up to documents.MAX_ATTEMPTS times)."""
    row = conn.execute(
        """SELECT tenant_id, list_type, content_hash, status_id, status FROM sync.masterdata_uploads
           WHERE tenant_id = ? AND list_type = ? AND content_hash = ? AND status_id IS NOT NULL AND status <> 'Failed'
           ORDER BY sent_at DESC LIMIT 1""",
        [tenant_id, list_type, content_hash],
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


def record_sent(conn, tenant_id: str, list_type: str, content_hash: str, sent_at, status_id: str, status: str = "Pending") -> None:
    """The upload arrived: 'Pending' until Routty's status says more, or 'Delivered' for a drop
    folder, which reports nothing back."""
    conn.execute(
        """UPDATE sync.masterdata_uploads SET status_id = ?, status = ?
           WHERE tenant_id = ? AND list_type = ? AND content_hash = ? AND sent_at = ?""",
        [status_id, status, tenant_id, list_type, content_hash, sent_at],
    )


def record_unconfirmed(conn, tenant_id: str, list_type: str, content_hash: str, sent_at) -> None:
    """The attempt ended without an answer (an error, an interrupted run): it may have arrived."""
    conn.execute(
        """UPDATE sync.masterdata_uploads SET status = 'Unconfirmed'
           WHERE tenant_id = ? AND list_type = ? AND content_hash = ? AND sent_at = ? AND status = 'Sending'""",
        [tenant_id, list_type, content_hash, sent_at],
    )


def sending_now(conn, tenant_id: str, list_type: str, content_hash: str) -> bool:
    """Another push is sending these very bytes now: sending them too would only duplicate them."""
    return conn.execute(
        f"""SELECT count(*) FROM sync.masterdata_uploads WHERE tenant_id = ? AND list_type = ? AND content_hash = ?
            AND status = 'Sending' AND sent_at > now()::TIMESTAMP - INTERVAL {SENDING_LEASE_SECONDS} SECOND""",
        [tenant_id, list_type, content_hash]).fetchone()[0] > 0


def settle_unconfirmed(conn, tenant_id: str, list_type: str, content_hash: str | None = None) -> None:
    """Attempts no push will complete ('Unconfirmed', or 'Sending' past the lease): of these bytes
    once they arrived after all ('Resent'), else ('Abandoned') of bytes no current build carries:
    their records were never marked sent, so the delta still holds them."""
    if content_hash is not None:
        conn.execute("""UPDATE sync.masterdata_uploads SET status = 'Resent' WHERE tenant_id = ? AND list_type = ?
                        AND content_hash = ? AND status IN ('Sending', 'Unconfirmed') AND status_id IS NULL""",
                     [tenant_id, list_type, content_hash])
        return
    conn.execute(
        f"""UPDATE sync.masterdata_uploads SET status = 'Abandoned' WHERE tenant_id = ? AND list_type IN (?, ?)
            AND (status = 'Unconfirmed' OR status = 'Sending'
                 AND sent_at <= now()::TIMESTAMP - INTERVAL {SENDING_LEASE_SECONDS} SECOND)""",
        [tenant_id, list_type, f"{list_type}:delete"])


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
    if result.is_terminal:
        conn.execute(
            """UPDATE sync.masterdata_records SET status = ?, updated_at = now()::TIMESTAMP
               WHERE status_id = ? AND status = 'sent'""",
            ["accepted" if result.status == "Success" else "failed", result.status_id],
        )


def record_part_sent(conn, tenant_id: str, list_type: str, records_csv: str, part: int, status_id: str) -> int:
    """Every record of one uploaded part is now 'sent' with that upload's statusId."""
    conn.execute(
        """INSERT OR REPLACE INTO sync.masterdata_records
           SELECT ?, ?, c.record_key, c.content_hash, 'sent', ?,
                  CASE WHEN r.content_hash = c.content_hash THEN r.attempts + 1 ELSE 1 END, now()::TIMESTAMP
           FROM read_csv(?, header = false, columns = {'record_key': 'VARCHAR', 'content_hash': 'VARCHAR', 'part': 'INTEGER'}) c
           LEFT JOIN sync.masterdata_records r ON r.tenant_id = ? AND r.list_type = ? AND r.record_key = c.record_key
           WHERE c.part = ?""",
        [tenant_id, list_type, status_id, records_csv, tenant_id, list_type, part],
    )
    return conn.execute("SELECT count(*) FROM sync.masterdata_records WHERE status_id = ?", [status_id]).fetchone()[0]


def record_deleted(conn, tenant_id: str, list_type: str, keys: list[str], status_id: str) -> None:
    conn.execute(
        """UPDATE sync.masterdata_records SET status = 'deleted', status_id = ?, updated_at = now()::TIMESTAMP
           WHERE tenant_id = ? AND list_type = ? AND record_key IN (SELECT unnest(?::VARCHAR[]))""",
        [status_id, tenant_id, list_type, keys],
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
