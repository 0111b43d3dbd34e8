"""Upload queued documents into Routty's input API, each exactly once (see document_ledger.py).

Per document: request an upload (documentId + URL), upload the attachment (the invoice PDF from
Jortt) and then the main XML to the pre-signed URLs, recording each step in the ledger as soon as
it completes (each record commits on its own). A claimed batch of documents shares one warehouse
connection: opening DuckDB per step would cost more than the uploads, and a small batch holds the
file only for seconds. A document whose upload fails half-way stays at its step and is completed by
the next run; 401/403 stop the run with the key to check.
"""


from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from assets.routty import document_ledger as ledger
from assets.routty.document_ledger import QueuedDocument
from assets.routty.documents_in_flight import write_in_flight
from assets.routty.input_documents import FLOWS, SALES, InputFlow
from resources.http import CredentialsError, RemoteError
from resources.jortt import JorttResource
from resources.routty import RouttyClient, RouttyResource, UploadUrlExpired, put_blob
from resources.tenants import Tenant, tenant_of_run
from resources.warehouse import ensure_schema

CLAIM_BATCH = 20
Attachment = Callable[[QueuedDocument], tuple[str, bytes] | None]


class DocumentSender:
    """Takes one claimed document from the step it reached to `uploaded` (or, for an old revision
    being replaced, to `superseded`)."""

    def __init__(self, client: RouttyClient, attachment: Attachment | None):
        self.client, self.attachment = client, attachment

    def send(self, conn: duckdb.DuckDBPyConnection, doc: QueuedDocument) -> str:
        if doc.resend_requested:
            return self._supersede(conn, doc)
        if doc.step == "built":
            document_id, url = self.client.request_input_document(doc.correlation_id, datetime.now(UTC))
            doc = ledger.record_requested(conn, doc, document_id, url)
        try:
            self._attach(conn, doc)
            put_blob(doc.upload_url, doc.xml, "application/xml")
        except UploadUrlExpired:
            if self.client.input_document_status(doc.document_id, doc.correlation_id).status == "ReadyForUpload":
                # The URL lapsed before the document arrived: ask again (the empty request stays unused).
                return self.send(conn, replace(doc, step="built"))
        ledger.record_uploaded(conn, doc)
        return "uploaded"

    def _attach(self, conn: duckdb.DuckDBPyConnection, doc: QueuedDocument) -> None:
        if self.attachment is None or doc.attachment_done:
            return
        found = self.attachment(doc)
        if found is None:
            return
        name, content = found
        if doc.attachment_id is None:
            attachment_id, url = self.client.request_attachment(doc.document_id, doc.correlation_id, name, "application/pdf")
            doc = ledger.record_attachment_requested(conn, doc, name, attachment_id, url)
        put_blob(doc.attachment_url, content, "application/pdf")
        ledger.record_attachment_done(conn, doc)

    def _supersede(self, conn: duckdb.DuckDBPyConnection, doc: QueuedDocument) -> str:
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
        ledger.record_superseded(conn, doc, status)
        return "cancelled" if status == "Cancelled" else "superseded"


def upload_queued(warehouse: DuckDBResource, sender: DocumentSender, tenant_id: str, flow: str, claimant: str,
                  is_live: Callable[[str], bool], log) -> Counter:
    """Send every queued document of the tenant's flow that no live run holds, a batch at a time.
    A document that fails is left at its step for the next run; this one goes on with the others."""
    outcomes: Counter = Counter()
    failed: list[str] = []
    try:
        while True:
            with warehouse.get_connection() as conn:
                batch = _claim(conn, tenant_id, flow, claimant, is_live, failed)
                for doc in batch:
                    try:
                        outcomes[sender.send(conn, doc)] += 1
                    except CredentialsError:
                        raise
                    except RemoteError as error:
                        outcomes["failed"] += 1
                        failed.append(doc.correlation_id)
                        log.warning(f"{doc.correlation_id}: not uploaded now (step {doc.step}), the next run resumes: {error}")
            if not batch or (len(failed) >= CLAIM_BATCH and len(failed) == sum(outcomes.values())):
                break  # done, or nothing has got through: Routty is not taking documents now
    finally:
        with warehouse.get_connection() as conn:
            ledger.release(conn, tenant_id, claimant)
    return outcomes


def _claim(conn: duckdb.DuckDBPyConnection, tenant_id: str, flow: str, claimant: str, is_live,
           skip: list[str]) -> list[QueuedDocument]:
    for attempt in range(5):
        try:
            return ledger.claim(conn, tenant_id, flow, claimant, is_live, CLAIM_BATCH, skip)
        except duckdb.TransactionException:  # an overlapping run claimed some of the same rows first
            if attempt == 4:
                raise
    return []


def run_is_live(instance: dg.DagsterInstance) -> Callable[[str], bool]:
    """A claim holds while the run that made it has not finished."""
    def is_live(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id)
        return run is not None and not run.is_finished
    return is_live


def jortt_pdf(client) -> Attachment:
    """The invoice as the customer received it, from Jortt's download endpoint."""
    def attachment(doc: QueuedDocument) -> tuple[str, bytes] | None:
        if doc.source_system != "jortt":
            return None
        return f"{doc.document_number or doc.source_id}.pdf", client.invoice_pdf(doc.source_id)
    return attachment


def document_upload_asset(flow: InputFlow, partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=flow.upload_key,
        group_name="routty",
        deps=[flow.documents_key, *flow.masterdata],
        partitions_def=partitions_def,
        kinds={"routty"},
        description=f"Uploads the queued {flow.name.replace('_', ' ')} into Routty's input API "
                    f"({flow.flow} key {flow.key_name}), each exactly once, attachments first.",
    )
    def document_upload(context: dg.AssetExecutionContext, routty: RouttyResource, jortt: JorttResource,
                        warehouse: DuckDBResource) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        with warehouse.get_connection() as conn:
            ensure_schema(conn)
        with routty.client(tenant, flow.key_name) as client, _attachments(flow, tenant, jortt) as attachment:
            outcomes = upload_queued(warehouse, DocumentSender(client, attachment), tenant.id, flow.flow,
                                     context.run_id, run_is_live(context.instance), context.log)
        with warehouse.get_connection() as conn:
            write_in_flight(tenant.id, ledger.in_flight(conn, tenant.id))
            counts = ledger.status_counts(conn, tenant.id)
        context.log.info(f"{flow.name} {tenant.id}: {dict(outcomes) or 'nothing to upload'}")
        return dg.MaterializeResult(metadata={
            "tenant": tenant.id, "uploaded": outcomes["uploaded"], "failed": outcomes["failed"],
            "cancelled": outcomes["cancelled"] + outcomes["superseded"],
            "documents_by_status": dg.MetadataValue.json(counts),
        })

    return document_upload


@contextmanager
def _attachments(flow: InputFlow, tenant: Tenant, jortt: JorttResource) -> Iterator[Attachment | None]:
    if flow is not SALES or tenant.jortt_api != "current":  # the legacy API offers no PDF download
        yield None
        return
    with jortt.client(tenant) as client:
        yield jortt_pdf(client)


def document_upload_assets(partitions_def: dg.PartitionsDefinition | None) -> list[dg.AssetsDefinition]:
    return [document_upload_asset(flow, partitions_def) for flow in FLOWS]
