-- Operational tables shared by every stage. Stream tables (raw.*, staging.*) are created from
-- their StreamSpec; model tables by their model's SQL.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS model;
CREATE SCHEMA IF NOT EXISTS sync;

-- Incremental position per (tenant, stream); written in the same transaction as the rows.
CREATE TABLE IF NOT EXISTS sync.cursors (
    tenant_id    VARCHAR NOT NULL,
    stream       VARCHAR NOT NULL,
    cursor_value VARCHAR NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, stream)
);

-- Records that could not be used, with the field and the reason; the rest of their batch goes on.
CREATE TABLE IF NOT EXISTS sync.rejects (
    tenant_id   VARCHAR NOT NULL,
    stage       VARCHAR NOT NULL,  -- ingest | model | xml
    source      VARCHAR NOT NULL,  -- stream or document, e.g. rutter.vendors, PartyList
    record_key  VARCHAR NOT NULL,
    field       VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    raw         VARCHAR,
    rejected_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, stage, source, record_key, field)
);

-- Every masterdata document sent to Routty: what (hash), when, and what Routty made of it.
CREATE TABLE IF NOT EXISTS sync.masterdata_uploads (
    tenant_id      VARCHAR NOT NULL,
    list_type      VARCHAR NOT NULL,  -- PartyList, ...
    content_hash   VARCHAR NOT NULL,
    correlation_id VARCHAR NOT NULL,
    status_id      VARCHAR,           -- NULL: the upload was attempted but not confirmed
    record_count   INTEGER NOT NULL,
    status         VARCHAR NOT NULL,  -- Sending | Unconfirmed | Pending | Processing | Success | Failed | Delivered | Resent | Abandoned
    errors         JSON,
    sent_at        TIMESTAMP NOT NULL,
    checked_at     TIMESTAMP,
    PRIMARY KEY (tenant_id, list_type, content_hash, sent_at)
);

-- Documents fetched beside a record (B2Brouter's UBL of a received invoice), kept verbatim.
CREATE TABLE IF NOT EXISTS raw.b2brouter_invoice_documents (
    tenant_id     VARCHAR NOT NULL,
    invoice_id    VARCHAR NOT NULL,
    document_type VARCHAR NOT NULL,
    content       VARCHAR NOT NULL,
    content_hash  VARCHAR NOT NULL,
    fetched_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, document_type)
);

-- Every masterdata record Routty has been sent, by key: what it was (hash), in which upload, and
-- what became of it. The XML assets compare the model against it to send only the delta.
CREATE TABLE IF NOT EXISTS sync.masterdata_records (
    tenant_id    VARCHAR NOT NULL,
    list_type    VARCHAR NOT NULL,
    record_key   VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,  -- sent | accepted | failed | deleted
    status_id    VARCHAR,
    attempts     INTEGER NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, list_type, record_key)
);

-- Every document sent into Routty's input API (sales invoices, received invoices), one row per
-- upload of a source document; a resend after Error/Rejected is a new revision of the same lineage.
-- The row exists before anything is sent and records each step as it completes, so a run that dies
-- half-way is resumed from the step it reached and a document is never uploaded twice. A run claims
-- the rows it works on (claimed_by = its run id), so overlapping runs never take the same document.
CREATE TABLE IF NOT EXISTS sync.routty_documents (
    tenant_id         VARCHAR NOT NULL,
    source_system     VARCHAR NOT NULL,  -- jortt | rutter | b2brouter
    source_id         VARCHAR NOT NULL,
    revision          INTEGER NOT NULL,  -- 1, then one more per resend
    flow              VARCHAR NOT NULL,  -- Outbound (sales) | Inbound (received)
    correlation_id    VARCHAR NOT NULL,  -- x-correlation-id: <system>:<source id>[#r<revision>]
    document_number   VARCHAR,
    document_type     VARCHAR NOT NULL,  -- Invoice | CreditNote
    content_hash      VARCHAR NOT NULL,  -- of `xml`, the latest content built
    xml               BLOB NOT NULL,
    step              VARCHAR NOT NULL,  -- built | requested | uploaded | superseded
    document_id       VARCHAR,           -- Routty's documentId, once requested
    upload_url        VARCHAR,           -- pre-signed, time-limited: dropped once used, refused or lapsed
    attachment_name   VARCHAR,           -- the PDF sent with it, if any
    attachment_id     VARCHAR,
    attachment_url    VARCHAR,
    attachment_done   BOOLEAN NOT NULL DEFAULT FALSE,
    status            VARCHAR,           -- Routty's status, as last recorded
    status_changed_on VARCHAR,
    error_code        VARCHAR,
    error_message     VARCHAR,
    resend_requested  BOOLEAN NOT NULL DEFAULT FALSE,
    changed_after_upload BOOLEAN NOT NULL DEFAULT FALSE,
    claimed_by        VARCHAR,
    claimed_at        TIMESTAMP,
    built_at          TIMESTAMP NOT NULL,
    requested_at      TIMESTAMP,
    uploaded_at       TIMESTAMP,
    checked_at        TIMESTAMP,
    put_hash          VARCHAR,           -- content that may have reached upload_url (see document_ledger.py)
    upload_error      VARCHAR,           -- why the last attempt did not land; cleared once uploaded
    unconfirmed_requests INTEGER DEFAULT 0, -- upload requests whose answer was lost: empty documents may exist
    attachment_error  VARCHAR,           -- why the PDF could not be had (it went without, or waits)
    url_expires_at    TIMESTAMP,         -- (UTC) when the earliest URL held lapses; URLs are dropped then
    PRIMARY KEY (tenant_id, source_system, source_id, revision)
);

-- Columns added since the table was first shipped (last, in this order): an existing warehouse
-- gains them here; in its old rows put_hash is NULL, "not known" (see document_ledger.py).
ALTER TABLE sync.routty_documents ADD COLUMN IF NOT EXISTS put_hash VARCHAR;
ALTER TABLE sync.routty_documents ADD COLUMN IF NOT EXISTS upload_error VARCHAR;
ALTER TABLE sync.routty_documents ADD COLUMN IF NOT EXISTS unconfirmed_requests INTEGER DEFAULT 0;
ALTER TABLE sync.routty_documents ADD COLUMN IF NOT EXISTS attachment_error VARCHAR;
-- A URL kept before url_expires_at existed has no known expiry: it counts as lapsed.
ALTER TABLE sync.routty_documents ADD COLUMN IF NOT EXISTS url_expires_at TIMESTAMP;

-- Every status a document was seen in, in order: one row per transition.
CREATE TABLE IF NOT EXISTS sync.routty_document_status_history (
    tenant_id         VARCHAR NOT NULL,
    document_id       VARCHAR NOT NULL,
    correlation_id    VARCHAR NOT NULL,
    status            VARCHAR NOT NULL,
    status_changed_on VARCHAR,
    error_code        VARCHAR,
    error_message     VARCHAR,
    recorded_at       TIMESTAMP NOT NULL,
    run_id            VARCHAR
);

-- Every export Routty offered for pickup (RouttyExportDocument), and each step taken with it: the
-- download (or quarantine), the technical acknowledgement, the booking in the books (the bill), the
-- business feedback and the B2Brouter state. A rerun resumes at the step recorded; the bill is
-- created with the export's Guid as idempotency key, so a retry can never book twice.
CREATE TABLE IF NOT EXISTS sync.routty_exports (
    tenant_id        VARCHAR NOT NULL,
    document_id      VARCHAR NOT NULL,  -- Routty's output documentId
    correlation_id   VARCHAR,
    document_type    VARCHAR,
    guid             VARCHAR,
    document_set_id  VARCHAR,
    content_hash     VARCHAR,
    xml              BLOB,
    step             VARCHAR NOT NULL,  -- downloaded | quarantined | booking (claimed) | booked | rejected
    reason           VARCHAR,           -- why quarantined, or why booking failed (a business error)
    acknowledged_at  TIMESTAMP,
    received_feedback_at TIMESTAMP,     -- the technical feedback ("Received", or "Error" when quarantined)
    bill_id          VARCHAR,
    bill_request     JSON,              -- the body sent, kept so a retry sends the very same bytes
    booking_started_at TIMESTAMP,
    booked_at        TIMESTAMP,
    feedback_status  VARCHAR,           -- Booked | Error
    feedback_sent_at TIMESTAMP,
    downloaded_at    TIMESTAMP NOT NULL,
    warnings         JSON,              -- landed all the same: schema findings, missing optional fields
    blocked_reason   VARCHAR,           -- feedback that cannot be made valid: not sent, with why
    claimed_by       VARCHAR,           -- the run booking it now (step booking)
    claimed_at       TIMESTAMP,
    booking_attempt  INTEGER,           -- Idempotency-Key generation: the Guid, then Guid#2, ...
    last_error       VARCHAR,           -- the last failure that left it for a later run
    lookup_since_ms  BIGINT,            -- Rutter's newest bill before the first attempt: where a lookup starts
    PRIMARY KEY (tenant_id, document_id)
);
-- Columns added since the table was first shipped (last, in this order): an existing warehouse
-- gains them here, NULL in its rows (an export booked before them is simply not looked up).
ALTER TABLE sync.routty_exports ADD COLUMN IF NOT EXISTS warnings JSON;
ALTER TABLE sync.routty_exports ADD COLUMN IF NOT EXISTS blocked_reason VARCHAR;
ALTER TABLE sync.routty_exports ADD COLUMN IF NOT EXISTS claimed_by VARCHAR;
ALTER TABLE sync.routty_exports ADD COLUMN IF NOT EXISTS claimed_at TIMESTAMP;
ALTER TABLE sync.routty_exports ADD COLUMN IF NOT EXISTS booking_attempt INTEGER;
ALTER TABLE sync.routty_exports ADD COLUMN IF NOT EXISTS last_error VARCHAR;
ALTER TABLE sync.routty_exports ADD COLUMN IF NOT EXISTS lookup_since_ms BIGINT;

-- States set on B2Brouter invoices (accepted once booked, refused when Routty rejected it): each
-- tried once; `result` is 'ok', or B2Brouter's refusal (an invoice the buyer refused already, ...).
CREATE TABLE IF NOT EXISTS sync.b2brouter_marks (
    tenant_id  VARCHAR NOT NULL,
    invoice_id VARCHAR NOT NULL,
    state      VARCHAR NOT NULL,
    result     VARCHAR NOT NULL,
    marked_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id, state)
);
