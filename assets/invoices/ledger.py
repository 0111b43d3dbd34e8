"""The document ledger (`sync.routty_documents`): every document sent into Routty's input API, the
step it reached, and what Routty made of it (`sync.routty_document_status_history`).

How a document is sent exactly once:
- it is queued here (step `built`) before anything is sent; a queued document whose content changes
  before it was uploaded is simply sent with the new content;
- each remote step is recorded as soon as it completes (`requested`: Routty's documentId and upload
  URL; the attachment; `uploaded`), so a run that dies resumes at the step it reached; an upload
  that had landed answers BlobAlreadyExists on the retry and is recorded, never repeated;
- `put_hash` says what may have reached the upload URL, so a BlobAlreadyExists is never taken for
  content that changed since. The rule: '' once a URL is requested (nothing PUT to it yet); set to
  the hash of the bytes about to be PUT, committed BEFORE the PUT (after a crash it names the only
  content that can have landed); changed again only after Routty's status says nothing arrived
  (ReadyForUpload). So whatever Routty holds for the current documentId hashes to put_hash, and an
  upload whose put_hash differs from content_hash is flagged `changed_after_upload`. NULL: not
  known (rows from before the column): Routty is asked before anything is PUT;
- a document whose upload did not land is never recorded as uploaded: the reason stays in
  `upload_error` (or `attachment_error`) and the next run tries again;
- a pre-signed URL is kept only while it can be used (until `url_expires_at`): dropped once used,
  refused, or lapsed (`drop_lapsed_urls`, at the start of every upload run), so a failed document
  keeps none; a resumed document whose URL is gone asks Routty whether anything arrived, then for
  a fresh URL;
- a run claims the rows it sends (claimed_by = its run id) in one UPDATE, so an overlapping run
  leaves them alone; a claim whose run is gone (or older than the lease) is taken over.
A document in Error or Rejected is sent again only as a new revision (correlation id
`<system>:<source id>#r<n>`, same lineage), after the old one is cancelled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import duckdb
import pandas as pd

from resources.settings import ROUTTY_UPLOAD_URL_LIFETIME_SECONDS
from resources.routty import InputDocumentStatus
from resources.warehouse import NOW_UTC

RESENDABLE = ("Error", "Rejected")
CLAIM_LEASE_MINUTES = 30
# Statuses in which Routty still works on a document (the status sensor follows these).
IN_FLIGHT = ("Processing", "Reprocessing", "ReadyForExport", "AwaitingFeedback")
NO_URLS = "upload_url = NULL, attachment_url = NULL, url_expires_at = NULL"
# Taken as lapsed this much before the expiry a URL states: our clock and the blob storage's differ.
CLOCK_SKEW = timedelta(seconds=30)


@dataclass(frozen=True)
class BuiltDocument:
    source_system: str
    source_id: str
    flow: str  # Outbound | Inbound
    document_number: str | None
    document_type: str  # Invoice | CreditNote
    xml: bytes

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.xml).hexdigest()


@dataclass(frozen=True)
class QueuedDocument:
    """A ledger row a run works on."""

    tenant_id: str
    source_system: str
    source_id: str
    revision: int
    flow: str
    correlation_id: str
    document_number: str | None
    step: str
    document_id: str | None
    upload_url: str | None
    attachment_id: str | None
    attachment_url: str | None
    attachment_done: bool
    status: str | None
    resend_requested: bool
    built_at: object
    xml: bytes
    content_hash: str  # of `xml`, as claimed: the bytes this run would PUT
    put_hash: str | None  # see the module docstring
    url_expires_at: datetime | None  # UTC; None: no URL, or one of unknown expiry (lapsed)

    @property
    def key(self) -> list:
        return [self.tenant_id, self.source_system, self.source_id, self.revision]

    @property
    def url_usable(self) -> bool:
        """Whether the upload URL recorded may still be used (else Routty is asked for a fresh one)."""
        return bool(self.upload_url) and self.url_expires_at is not None and _utc_now() < self.url_expires_at


def upload_url_lifetime() -> timedelta:
    """ROUTTY_UPLOAD_URL_LIFETIME_SECONDS: how long a pre-signed URL that states no expiry of its own
    is taken to be valid after it was issued (default 600, as Routty's simulator issues them)."""
    return timedelta(seconds=ROUTTY_UPLOAD_URL_LIFETIME_SECONDS.number())


def url_expiry(url: str) -> datetime:
    """(UTC) until when a pre-signed URL just issued may be used: the expiry it carries (`se=`, as an
    Azure SAS does) when it carries one, else now plus the configured lifetime."""
    stated = parse_qs(urlsplit(url).query).get("se")
    try:
        moment = datetime.fromisoformat(stated[0]) if stated else None
    except ValueError:
        moment = None
    if moment is None:
        return _utc_now() + upload_url_lifetime() - CLOCK_SKEW
    return (moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment) - CLOCK_SKEW


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class EnqueueCounts:
    new: int = 0
    changed: int = 0
    resent: int = 0
    changed_after_upload: int = 0

    def __add__(self, other: EnqueueCounts) -> EnqueueCounts:
        return EnqueueCounts(self.new + other.new, self.changed + other.changed, self.resent + other.resent,
                             self.changed_after_upload + other.changed_after_upload)


KEY_MATCH = "d.tenant_id = i.tenant_id AND d.source_system = i.source_system AND d.source_id = i.source_id"
LATEST = """(SELECT * FROM sync.routty_documents WHERE tenant_id = ? AND flow = ?
             QUALIFY row_number() OVER (PARTITION BY source_system, source_id ORDER BY revision DESC) = 1)"""
SENT_HASH = "COALESCE(d.put_hash, d.content_hash)"  # of an uploaded row: what Routty holds


def enqueue(conn: duckdb.DuckDBPyConnection, tenant_id: str, flow: str, documents: Iterable[BuiltDocument],
            resend: Callable[[str], bool] = lambda source_id: False) -> EnqueueCounts:
    """Queue what is new, refresh what waits, start a new revision of what failed in Routty and
    changed since (or is asked to be resent: `resend(source_id)`). All set-based, in one transaction."""
    documents = list(documents)
    if not documents:
        return EnqueueCounts()
    frame = pd.DataFrame(
        [(tenant_id, d.source_system, d.source_id, d.flow, d.document_number, d.document_type, d.content_hash, d.xml)
         for d in documents],
        columns=["tenant_id", "source_system", "source_id", "flow", "document_number", "document_type",
                 "content_hash", "xml"],
    )
    frame["resend"] = [resend(s) for s in frame["source_id"]]
    conn.register("incoming_frame", frame)
    conn.execute("CREATE OR REPLACE TEMP TABLE incoming AS SELECT * REPLACE (CAST(xml AS BLOB) AS xml) FROM incoming_frame")
    conn.unregister("incoming_frame")
    conn.execute(f"CREATE OR REPLACE TEMP TABLE latest AS SELECT * FROM {LATEST}", [tenant_id, flow])
    counts = EnqueueCounts()
    conn.execute("BEGIN TRANSACTION")
    counts.new = _insert_revision(conn, "LEFT JOIN latest d ON " + KEY_MATCH + " WHERE d.source_id IS NULL", first=True)
    counts.changed = conn.execute(
        f"""UPDATE sync.routty_documents d SET xml = i.xml, content_hash = i.content_hash,
                document_number = i.document_number, document_type = i.document_type, built_at = now()::TIMESTAMP
            FROM incoming i JOIN latest l ON l.tenant_id = i.tenant_id AND l.source_system = i.source_system
                                         AND l.source_id = i.source_id
            WHERE {KEY_MATCH} AND d.revision = l.revision AND d.step IN ('built', 'requested')
              AND d.content_hash <> i.content_hash"""
    ).fetchone()[0]
    resend_when = (f"d.step = 'uploaded' AND d.status IN {RESENDABLE} AND NOT d.resend_requested "
                   f"AND ({SENT_HASH} <> i.content_hash OR i.resend)")
    counts.resent = _insert_revision(conn, f"JOIN latest d ON {KEY_MATCH} WHERE {resend_when}", first=False)
    conn.execute(
        f"""UPDATE sync.routty_documents d SET resend_requested = TRUE FROM incoming i
            WHERE {KEY_MATCH} AND d.revision = (SELECT revision FROM latest l WHERE l.tenant_id = d.tenant_id
                AND l.source_system = d.source_system AND l.source_id = d.source_id) AND {resend_when}"""
    )
    counts.changed_after_upload = conn.execute(
        f"""UPDATE sync.routty_documents d SET changed_after_upload = TRUE FROM incoming i JOIN latest l
                ON l.tenant_id = i.tenant_id AND l.source_system = i.source_system AND l.source_id = i.source_id
            WHERE {KEY_MATCH} AND d.revision = l.revision AND d.step = 'uploaded'
              AND COALESCE(d.status, '') NOT IN {RESENDABLE} AND {SENT_HASH} <> i.content_hash
              AND NOT d.changed_after_upload"""
    ).fetchone()[0]
    conn.execute("COMMIT")
    return counts


def _insert_revision(conn: duckdb.DuckDBPyConnection, source: str, first: bool) -> int:
    revision = "1" if first else "d.revision + 1"
    suffix = "''" if first else "'#r' || (d.revision + 1)"
    return conn.execute(
        f"""INSERT INTO sync.routty_documents
                (tenant_id, source_system, source_id, revision, flow, correlation_id, document_number, document_type,
                 content_hash, xml, step, built_at)
            SELECT i.tenant_id, i.source_system, i.source_id, {revision}, i.flow,
                   i.source_system || ':' || i.source_id || {suffix}, i.document_number, i.document_type,
                   i.content_hash, i.xml, 'built', now()::TIMESTAMP
            FROM incoming i {source}"""
    ).fetchone()[0]


# ---------------------------------------------------------------- claims

def claim(conn: duckdb.DuckDBPyConnection, tenant_id: str, flow: str, claimant: str, is_live: Callable[[str], bool],
          limit: int, skip: list[str] = ()) -> list[QueuedDocument]:
    """Up to `limit` documents with work left, now claimed by `claimant`: unclaimed ones, its own,
    and those of claimants no longer live or past the lease; none in `skip` (correlation ids)."""
    pending = ("(step IN ('built', 'requested') OR (step = 'uploaded' AND resend_requested)) "
               "AND tenant_id = ? AND flow = ?")
    holders = [c for (c,) in conn.execute(
        f"SELECT DISTINCT claimed_by FROM sync.routty_documents WHERE {pending} AND claimed_by IS NOT NULL",
        [tenant_id, flow]).fetchall()]
    takeable = [claimant] + [c for c in holders if c != claimant and not is_live(c)]
    rows = conn.execute(
        f"""UPDATE sync.routty_documents SET claimed_by = ?, claimed_at = now()::TIMESTAMP
            WHERE rowid IN (
                SELECT rowid FROM sync.routty_documents d
                WHERE {pending} AND NOT EXISTS (  -- a resend waits until the revision it replaces is cancelled
                      SELECT 1 FROM sync.routty_documents o
                      WHERE o.tenant_id = d.tenant_id AND o.source_system = d.source_system
                        AND o.source_id = d.source_id AND o.revision < d.revision AND o.step = 'uploaded')
                  AND (claimed_by IS NULL OR claimed_by IN (SELECT unnest(?::VARCHAR[]))
                      OR claimed_at < now()::TIMESTAMP - INTERVAL {CLAIM_LEASE_MINUTES} MINUTE)
                  AND correlation_id NOT IN (SELECT unnest(?::VARCHAR[]))
                ORDER BY resend_requested DESC, built_at, source_id, revision LIMIT ?)
            RETURNING tenant_id, source_system, source_id, revision, flow, correlation_id, document_number, step,
                      document_id, upload_url, attachment_id, attachment_url, attachment_done, status,
                      resend_requested, built_at, xml, content_hash, put_hash, url_expires_at""",
        [claimant, tenant_id, flow, takeable, list(skip), limit],
    ).fetchall()
    # Old revisions (cancel) before new ones, then in the order they were queued.
    return sorted((QueuedDocument(*row) for row in rows), key=lambda d: (not d.resend_requested, d.built_at, d.source_id))


def drop_lapsed_urls(conn: duckdb.DuckDBPyConnection, tenant_id: str) -> int:
    """Pre-signed URLs past their expiry (or of none known) are of use to no one: dropped, however
    their document fared. A document that still needs one asks for a fresh one when it is sent."""
    return conn.execute(
        f"""UPDATE sync.routty_documents SET {NO_URLS}
            WHERE tenant_id = ? AND (upload_url IS NOT NULL OR attachment_url IS NOT NULL)
              AND COALESCE(url_expires_at <= {NOW_UTC}, TRUE)""", [tenant_id]).fetchone()[0]


def release(conn: duckdb.DuckDBPyConnection, tenant_id: str, claimant: str) -> None:
    conn.execute("UPDATE sync.routty_documents SET claimed_by = NULL, claimed_at = NULL "
                 "WHERE tenant_id = ? AND claimed_by = ?", [tenant_id, claimant])


# ---------------------------------------------------------------- steps

def _update(conn: duckdb.DuckDBPyConnection, doc: QueuedDocument, assignments: str, values: list) -> None:
    conn.execute(
        f"""UPDATE sync.routty_documents SET {assignments}
            WHERE tenant_id = ? AND source_system = ? AND source_id = ? AND revision = ?""",
        [*values, *doc.key],
    )


def record_requested(conn, doc: QueuedDocument, document_id: str, upload_url: str) -> QueuedDocument:
    expires = url_expiry(upload_url)
    _update(conn, doc, "step = 'requested', document_id = ?, upload_url = ?, url_expires_at = ?, "
                       "status = 'ReadyForUpload', requested_at = now()::TIMESTAMP, attachment_id = NULL, "
                       "attachment_url = NULL, attachment_done = FALSE, put_hash = ''", [document_id, upload_url, expires])
    return replace(doc, step="requested", document_id=document_id, upload_url=upload_url, attachment_id=None,
                   attachment_url=None, attachment_done=False, status="ReadyForUpload", put_hash="",
                   url_expires_at=expires)


def record_urls_dropped(conn, doc: QueuedDocument) -> QueuedDocument:
    """The URLs were refused or have lapsed: of no more use."""
    _update(conn, doc, NO_URLS, [])
    return replace(doc, upload_url=None, attachment_url=None, url_expires_at=None)


def record_unconfirmed(conn, doc: QueuedDocument) -> None:
    """An upload or attachment request whose answer was lost: Routty may hold an empty document
    (never processed: nothing is uploaded to it). Counted, and back to `built`: Routty offers no
    lookup by correlation id, so the next run asks for a fresh document and announces once."""
    _update(conn, doc, f"step = 'built', document_id = NULL, {NO_URLS}, status = NULL, put_hash = NULL, "
                       "attachment_id = NULL, attachment_done = FALSE, "
                       "unconfirmed_requests = COALESCE(unconfirmed_requests, 0) + 1", [])


def record_put_intent(conn, doc: QueuedDocument) -> QueuedDocument:
    """Before the main document is PUT: after a crash, these are the only bytes that can have landed."""
    _update(conn, doc, "put_hash = ?", [doc.content_hash])
    return replace(doc, put_hash=doc.content_hash)


def record_upload_error(conn, doc: QueuedDocument, reason: str) -> None:
    _update(conn, doc, "upload_error = ?", [reason])


def record_attachment_error(conn, doc: QueuedDocument, reason: str) -> None:
    _update(conn, doc, "attachment_error = ?", [reason])


def record_attachment_requested(conn, doc: QueuedDocument, name: str, attachment_id: str, url: str) -> QueuedDocument:
    """The row's URLs lapse together, when the first of them does."""
    expires = min(filter(None, (doc.url_expires_at, url_expiry(url))))
    _update(conn, doc, "attachment_name = ?, attachment_id = ?, attachment_url = ?, url_expires_at = ?",
            [name, attachment_id, url, expires])
    return replace(doc, attachment_id=attachment_id, attachment_url=url, url_expires_at=expires)


def record_attachment_done(conn, doc: QueuedDocument) -> None:
    _update(conn, doc, "attachment_done = TRUE, attachment_url = NULL, attachment_error = NULL", [])


def record_uploaded(conn, doc: QueuedDocument, status: str = "Processing") -> None:
    """The main document arrived (Routty's `status` now): what arrived hashes to doc.put_hash. The
    row's content may have changed since (a concurrent refresh, or a change after a PUT that landed
    before a crash): then it is flagged, never recorded as sent. The upload URLs are of no more use."""
    _update(conn, doc, "step = 'uploaded', status = ?, put_hash = ?, "
                       "changed_after_upload = changed_after_upload OR content_hash IS DISTINCT FROM ?, "
                       f"{NO_URLS}, upload_error = NULL, "
                       "uploaded_at = now()::TIMESTAMP, claimed_by = NULL, claimed_at = NULL",
            [status, doc.put_hash, doc.put_hash])
    record_history(conn, doc.tenant_id, [(doc.document_id, doc.correlation_id, status, None, None, None)], None)


def record_superseded(conn, doc: QueuedDocument, status: str) -> None:
    _update(conn, doc, "step = 'superseded', status = ?, claimed_by = NULL, claimed_at = NULL", [status])
    record_history(conn, doc.tenant_id, [(doc.document_id, doc.correlation_id, status, None, None, None)], None)


# ---------------------------------------------------------------- status

def record_history(conn, tenant_id: str, rows: list[tuple], run_id: str | None) -> None:
    """(document id, correlation id, status, changed on, error code, error message) transitions."""
    if rows:
        conn.executemany(
            "INSERT INTO sync.routty_document_status_history VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP, ?)",
            [(tenant_id, *row, run_id) for row in rows],
        )


def record_statuses(conn: duckdb.DuckDBPyConnection, tenant_id: str, observed: list[InputDocumentStatus],
                    run_id: str | None) -> list[tuple]:
    """Store what changed (a status seen again is no transition); returns the transitions."""
    if not observed:
        return []
    current = dict(conn.execute(
        """SELECT document_id, correlation_id || '|' || COALESCE(status, '') FROM sync.routty_documents
           WHERE tenant_id = ? AND document_id IN (SELECT unnest(?::VARCHAR[]))""",
        [tenant_id, [o.document_id for o in observed]]).fetchall())
    changes = []
    for o in observed:
        if o.document_id in current:
            correlation_id, status = current[o.document_id].split("|", 1)
            if status != o.status:
                changes.append((o.document_id, correlation_id, o.status, o.status_changed_on, o.error_code, o.error_message))
    if not changes:
        return []
    conn.executemany(
        """UPDATE sync.routty_documents SET status = ?, status_changed_on = ?, error_code = ?, error_message = ?,
               checked_at = now()::TIMESTAMP WHERE tenant_id = ? AND document_id = ?""",
        [(status, on, code, message, tenant_id, document_id) for document_id, _, status, on, code, message in changes],
    )
    record_history(conn, tenant_id, changes, run_id)
    return changes


def in_flight(conn: duckdb.DuckDBPyConnection, tenant_id: str) -> list[tuple[str, str, str, str]]:
    """(document id, correlation id, flow, status) of every uploaded document Routty still works on."""
    return conn.execute(
        f"""SELECT document_id, correlation_id, flow, status FROM sync.routty_documents
            WHERE tenant_id = ? AND step = 'uploaded' AND status IN {IN_FLIGHT} ORDER BY uploaded_at, document_id""",
        [tenant_id],
    ).fetchall()


def status_counts(conn: duckdb.DuckDBPyConnection, tenant_id: str) -> dict[str, int]:
    rows = conn.execute(
        """SELECT flow || ' ' || CASE WHEN step = 'uploaded' THEN status ELSE step END, count(*)
           FROM sync.routty_documents WHERE tenant_id = ? AND step <> 'superseded' GROUP BY ALL ORDER BY 1""",
        [tenant_id]).fetchall()
    return dict(rows)


def failed(conn: duckdb.DuckDBPyConnection, tenant_id: str) -> list[tuple]:
    """Current revisions Routty refused: (correlation id, number, status, error code, message)."""
    return conn.execute(
        f"""SELECT correlation_id, document_number, status, error_code, error_message FROM sync.routty_documents
            WHERE tenant_id = ? AND step = 'uploaded' AND status IN {RESENDABLE} AND NOT resend_requested
            ORDER BY correlation_id""", [tenant_id]).fetchall()
