"""Upload queued documents into Routty's input API, each exactly once (see document_ledger.py).

Per document: fetch the attachment (the invoice PDF from Jortt) first, request an upload
(documentId + URL), upload the attachment and then the main XML to the pre-signed URLs, recording
each step in the ledger as soon as it completes. Each ledger write opens the warehouse for itself
only: no connection is held while the network is waited on, so other processes are never locked out
for longer than a write. A document whose upload does not land stays at its step with the reason,
the others go on, and the step fails at the end naming it; the next run resumes it. 401/403 from
Routty stop the run with the key to check.
"""

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from resources.settings import ROUTTY_SEND_WITHOUT_ATTACHMENT
from assets.handoff import run_is_live
from assets.invoices import GROUP
from assets.invoices import ledger
from assets.invoices.ledger import QueuedDocument
from assets.invoices.in_flight import write_in_flight
from assets.invoices.documents import FLOWS, SALES, InvoiceFlow
from resources.http import CredentialsError, OutcomeUnknown, RemoteError
from resources.jortt import DownloadLinkRefused, JorttResource
from resources.routty import RouttyClient, RouttyResource, UploadUrlExpired, put_blob
from resources.tenants import Tenant, tenant_of_run

CLAIM_BATCH = 20
# Routty statuses of a document whose main document has not arrived.
NOT_ARRIVED = ("ReadyForUpload", "Unknown")
Attachment = Callable[[QueuedDocument], tuple[str, bytes] | None]
Write = Callable  # write(ledger_function, *args): the function run on a connection of its own


class UploadFailed(RemoteError):
    """The document's upload did not land in this run; the reason is in the ledger."""


class AttachmentBlocked(Exception):
    """The document's attachment cannot be had now, and it may not go without: it waits."""


# DuckDB fails ("Unique file handle conflict") when two threads of a process open and close the
# same file at the same moment; the writes are short, so uploaders in one process take turns.
_WRITES = threading.Lock()


def ledger_writes(warehouse: DuckDBResource) -> Write:
    """Each ledger write on a short connection of its own (committed when it returns)."""
    def write(record: Callable, *args, **kwargs):
        with _WRITES, warehouse.get_connection() as conn:
            return record(conn, *args, **kwargs)
    return write


def send_without_attachment() -> bool:
    """ROUTTY_SEND_WITHOUT_ATTACHMENT=true: an invoice whose PDF cannot be had goes without it (the
    reason stays in the ledger); false (default): it waits for the next run."""
    return ROUTTY_SEND_WITHOUT_ATTACHMENT.flag()


class DocumentSender:
    """Takes one claimed document from the step it reached to `uploaded` (or, for an old revision
    being replaced, to `superseded`). At most one new upload request per document per call."""

    def __init__(self, client: RouttyClient, attachment: Attachment | None, without_attachment: bool = False):
        self.client, self.attachment, self.without_attachment = client, attachment, without_attachment

    def send(self, write: Write, doc: QueuedDocument) -> str:
        """'uploaded', 'sent_without_attachment', 'cancelled' or 'superseded'; raises UploadFailed
        (or another RemoteError) when the upload did not land, AttachmentBlocked when it waits."""
        if doc.resend_requested:
            return self._supersede(write, doc)
        while True:  # at most twice: the second pass has a URL of this run
            fresh = doc.step == "built"
            pdf, without = self._attachment_of(write, doc)  # before anything is asked of Routty
            if fresh:
                doc = self._request(write, doc)
            try:
                if not (fresh or doc.url_usable):  # lapsed, or dropped after a refusal: not PUT again
                    raise UploadUrlExpired("routty upload", None, "the upload URL recorded has lapsed")
                self._upload(write, doc, pdf)
                return "sent_without_attachment" if without else "uploaded"
            except UploadUrlExpired as refused:
                doc = write(ledger.record_urls_dropped, doc)  # refused or lapsed: of no more use
                status = self.client.input_document_status(doc.document_id, doc.correlation_id).status
                if status not in NOT_ARRIVED:
                    self._arrived(write, doc, status)
                    return "uploaded"
                if fresh:  # a URL issued in this run refused: a new one would not help
                    raise UploadFailed(refused.system, 403, f"{refused.detail}; Routty says {status}",
                                       refused.code) from None
            # The URL an earlier run recorded lapsed: ask once for a new document (attachment included).
            doc = replace(doc, step="built", attachment_done=False, put_hash=None)

    def _request(self, write: Write, doc: QueuedDocument) -> QueuedDocument:
        try:
            document_id, url = self.client.request_input_document(doc.correlation_id, datetime.now(UTC))
        except OutcomeUnknown:
            write(ledger.record_unconfirmed, doc)
            raise
        return write(ledger.record_requested, doc, document_id, url)

    def _upload(self, write: Write, doc: QueuedDocument, pdf: tuple[str, bytes] | None) -> None:
        if doc.put_hash not in ("", doc.content_hash):
            # Other (or unknown) content may have landed at this URL: only Routty can say.
            status = self.client.input_document_status(doc.document_id, doc.correlation_id).status
            if status not in NOT_ARRIVED:
                self._arrived(write, doc, status)
                return
            if status != "ReadyForUpload":
                raise UploadUrlExpired("routty", 404, f"document {doc.document_id}: Routty says {status}")
            doc = replace(doc, put_hash="")  # nothing arrived: the URL is as good as new
        if doc.put_hash == "":  # attachments only before the main document's first PUT
            doc = write(ledger.record_put_intent, self._attach(write, doc, pdf))
        put_blob(doc.upload_url, doc.xml, "application/xml")  # BlobAlreadyExists: put_hash had landed
        write(ledger.record_uploaded, doc)

    def _arrived(self, write: Write, doc: QueuedDocument, status: str) -> None:
        """Routty has the main document although this PUT was refused: an earlier PUT landed."""
        if doc.put_hash == "":
            raise UploadFailed("routty", None, f"Routty says {status} for document {doc.document_id}, "
                                               f"to which nothing was ever uploaded")
        write(ledger.record_uploaded, doc, status=status)

    def _attachment_of(self, write: Write, doc: QueuedDocument) -> tuple[tuple[str, bytes] | None, bool]:
        """(the attachment still to send or None, whether the document goes without its PDF). None
        as well once a PUT of the main document may have happened: attachments must precede it."""
        if self.attachment is None or doc.attachment_done or doc.put_hash not in ("", None):
            return None, False
        try:
            return self.attachment(doc), False
        except DownloadLinkRefused as refused:
            write(ledger.record_attachment_error, doc, str(refused))
            if not self.without_attachment:
                raise AttachmentBlocked(str(refused)) from None
            return None, True

    def _attach(self, write: Write, doc: QueuedDocument, pdf: tuple[str, bytes] | None) -> QueuedDocument:
        if pdf is None or doc.attachment_done:
            return doc
        name, content = pdf
        if doc.attachment_id is None:
            try:
                attachment_id, url = self.client.request_attachment(doc.document_id, doc.correlation_id, name,
                                                                    "application/pdf")
            except OutcomeUnknown:  # announcing again could make a second attachment: start afresh
                write(ledger.record_unconfirmed, doc)
                raise
            doc = write(ledger.record_attachment_requested, doc, name, attachment_id, url)
        put_blob(doc.attachment_url, content, "application/pdf")
        write(ledger.record_attachment_done, doc)
        return replace(doc, attachment_done=True)

    def _supersede(self, write: Write, doc: QueuedDocument) -> str:
        """An Error document is cancelled before its corrected revision goes (Rejected is final already)."""
        status = doc.status
        if status == "Error":
            try:
                self.client.cancel_input_document(doc.document_id, doc.correlation_id)
                status = "Cancelled"
            except RemoteError as error:
                if error.status != 409:
                    raise
                status = self.client.input_document_status(doc.document_id, doc.correlation_id).status
        write(ledger.record_superseded, doc, status)
        return "cancelled" if status == "Cancelled" else "superseded"


@dataclass
class UploadReport:
    counts: Counter = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # correlation id -> why it did not land

    @property
    def went_through(self) -> int:
        return self.counts["uploaded"] + self.counts["cancelled"] + self.counts["superseded"]


def upload_queued(warehouse: DuckDBResource, sender: DocumentSender, tenant_id: str, flow: str, claimant: str,
                  is_live: Callable[[str], bool], log) -> UploadReport:
    """Send every queued document of the tenant's flow that no live run holds, a batch at a time.
    A document that fails is left at its step (with the reason) for the next run; this one goes on
    with the others."""
    write, report, skip = ledger_writes(warehouse), UploadReport(), []
    write(ledger.drop_lapsed_urls, tenant_id)
    try:
        while True:
            batch = write(_claim, tenant_id, flow, claimant, is_live, skip)
            skip += [doc.correlation_id for doc in batch if not _send_one(sender, write, doc, report, log)]
            if not batch or (len(report.failures) >= CLAIM_BATCH and not report.went_through):
                break  # done, or nothing has got through: Routty is not taking documents now
    finally:
        write(ledger.release, tenant_id, claimant)
    return report


def _send_one(sender: DocumentSender, write: Write, doc: QueuedDocument, report: UploadReport, log) -> bool:
    """Whether the document went; one that did not is counted with its reason and left for the next run."""
    try:
        outcome = sender.send(write, doc)
    except CredentialsError:
        raise
    except AttachmentBlocked as blocked:
        report.counts["blocked_by_attachment"] += 1
        log.warning(f"{doc.correlation_id}: waits for its attachment, the next run tries again: {blocked}")
        return False
    except RemoteError as error:
        report.counts["failed"] += 1
        report.failures[doc.correlation_id] = str(error)
        write(ledger.record_upload_error, doc, str(error))
        log.warning(f"{doc.correlation_id}: not uploaded now (step {doc.step}), the next run resumes: {error}")
        return False
    report.counts["uploaded" if outcome == "sent_without_attachment" else outcome] += 1
    if outcome == "sent_without_attachment":
        report.counts[outcome] += 1
    return True


def _claim(conn: duckdb.DuckDBPyConnection, tenant_id: str, flow: str, claimant: str, is_live,
           skip: list[str]) -> list[QueuedDocument]:
    for attempt in range(5):
        try:
            return ledger.claim(conn, tenant_id, flow, claimant, is_live, CLAIM_BATCH, skip)
        except duckdb.TransactionException:  # an overlapping run claimed some of the same rows first
            if attempt == 4:
                raise
    return []


def jortt_pdf(client) -> Attachment:
    """The invoice as the customer received it, from Jortt's download endpoint."""
    def attachment(doc: QueuedDocument) -> tuple[str, bytes] | None:
        if doc.source_system != "jortt":
            return None
        return f"{doc.document_number or doc.source_id}.pdf", client.invoice_pdf(doc.source_id)
    return attachment


def document_upload_asset(flow: InvoiceFlow, partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=flow.upload_key,
        group_name=GROUP,
        deps=[flow.documents_key, *flow.masterdata],
        partitions_def=partitions_def,
        kinds={"routty"},
        description=f"Uploads the queued {flow.name.replace('_', ' ')} into Routty's input API "
                    f"({flow.flow} key {flow.key_name}), each exactly once, attachments first.",
    )
    def document_upload(context: dg.AssetExecutionContext, routty: RouttyResource, jortt: JorttResource,
                        warehouse: DuckDBResource) -> Iterator[dg.MaterializeResult]:
        tenant = tenant_of_run(context)
        with routty.client(tenant, flow.key_name) as client, _attachments(flow, tenant, jortt) as attachment:
            sender = DocumentSender(client, attachment, send_without_attachment())
            report = upload_queued(warehouse, sender, tenant.id, flow.flow, context.run_id,
                                   run_is_live(context.instance), context.log)
        with warehouse.get_connection() as conn:
            write_in_flight(context.instance, tenant.id, ledger.in_flight(conn, tenant.id))
            counts = ledger.status_counts(conn, tenant.id)
        outcomes = report.counts
        context.log.info(f"{flow.name} {tenant.id}: {dict(outcomes) or 'nothing to upload'}")
        yield dg.MaterializeResult(metadata={
            "tenant": tenant.id, "uploaded": outcomes["uploaded"], "failed": outcomes["failed"],
            "cancelled": outcomes["cancelled"] + outcomes["superseded"],
            "blocked_by_attachment": outcomes["blocked_by_attachment"],
            "sent_without_attachment": outcomes["sent_without_attachment"],
            **{f"documents_{status.replace(' ', '_').lower()}": n for status, n in counts.items()},
        })
        if report.failures:  # after the others went: a failed step names what did not land
            raise dg.Failure(
                description=f"{len(report.failures)} {flow.name.replace('_', ' ')} not uploaded (the next run "
                            "retries them): " + "; ".join(f"{c}: {r}" for c, r in list(report.failures.items())[:10]),
                metadata={"failed": dg.MetadataValue.json(report.failures)},
            )

    return document_upload


@contextmanager
def _attachments(flow: InvoiceFlow, tenant: Tenant, jortt: JorttResource) -> Iterator[Attachment | None]:
    if flow is not SALES or tenant.jortt_api != "current":  # the legacy API offers no PDF download
        yield None
        return
    with jortt.client(tenant) as client:
        yield jortt_pdf(client)


def invoice_upload_assets(partitions_def: dg.PartitionsDefinition | None) -> list[dg.AssetsDefinition]:
    return [document_upload_asset(flow, partitions_def) for flow in FLOWS]
