"""Documents for Routty's input API, queued in the document ledger: the tenant's sales invoices as
UBL (outbound flow) and the invoices it received through B2Brouter (inbound flow).

One builder asset per flow. A builder only queues (assets/invoices/ledger.py decides what is
new, changed or to be resent); the upload assets in document_upload.py send what is queued.
An invoice that cannot become a document lands in `sync.rejects` (stage `document`) with the field
and the reason, and the others go on.
"""


from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
from dagster_duckdb import DuckDBResource
from lxml import etree

from resources.settings import ROUTTY_SENDABLE_INVOICE_STATUSES
from assets.handoff import masterdata_push_key
from assets.invoices import GROUP
from assets.ingest.endpoints.b2brouter import RECEIVED_INVOICES
from assets.invoices import ledger as document_ledger
from assets.invoices.ledger import BuiltDocument
from assets.xml.fields import RecordError
from assets.xml.fields import Reject
from assets.invoices.ubl import KINDS, NS, SalesInvoice, UblLine, UblParty, build_ubl
from resources.routty import RECEIVED_INPUT_KEY, SALES_INPUT_KEY
from resources.tenants import Tenant, tenant_of_run
from assets.ingest.tables import ensure_stream_tables
from resources.warehouse import table_exists, write_rejects

# Not drafts, nor void: the invoice states (Jortt current and legacy, Rutter) that may go to Routty.


class DocumentConfig(dg.Config):
    sendable_statuses: str | None = None  # unset: ROUTTY_SENDABLE_INVOICE_STATUSES
    # Send these again as a new revision (source ids, e.g. after fixing the customer in masterdata)
    # when Routty has them in Error or Rejected; resend_errors: every such document of the tenant.
    resend: list[str] = []
    resend_errors: bool = False


@dataclass(frozen=True)
class InvoiceFlow:
    """One kind of document going into Routty: how it is built and which key carries it."""

    name: str  # sales_invoice | received_invoice
    flow: str  # Outbound | Inbound (Routty's names)
    key_name: str  # the environment name of the Routty key
    upstream: dg.AssetKey
    # Masterdata Routty resolves these documents against: pushed before the documents go.
    masterdata: tuple[dg.AssetKey, ...] = ()

    @property
    def documents_key(self) -> dg.AssetKey:
        return dg.AssetKey(["invoices", f"{self.name}_documents"])

    @property
    def upload_key(self) -> dg.AssetKey:
        return dg.AssetKey(["invoices", f"{self.name}_uploads"])


# ---------------------------------------------------------------- sales invoices → UBL

def sales_source(tenant: Tenant) -> str:
    """The books the tenant invoices from: Jortt when it has Jortt, else its Rutter-connected ledger."""
    return "jortt" if tenant.jortt_api != "none" else "rutter"


def _party(row: dict, prefix: str, number: str) -> UblParty:
    return UblParty(number=row[number], name=row[f"{prefix}_name"], street=row[f"{prefix}_street"],
                    postal_code=row[f"{prefix}_postal_code"], city=row[f"{prefix}_city"],
                    country_code=row[f"{prefix}_country"], vat_number=row[f"{prefix}_vat"],
                    coc_number=row[f"{prefix}_coc"], email=row.get(f"{prefix}_email"))


def sales_invoice(row: dict) -> SalesInvoice:
    return SalesInvoice(
        source_id=row["source_id"], number=row["number"], issue_date=row["issue_date"], due_date=row["due_date"],
        currency=row["currency"], supplier=_party(row, "supplier", "supplier_number"),
        customer=_party(row, "customer", "customer_number") if row["customer_number"] else None,
        lines=tuple(UblLine(ln["description"], ln["quantity"], ln["unit_price"], ln["net_amount"], ln["vat_percent"],
                            ln.get("tax_rate_id"), ln.get("tax_rate_listed")) for ln in row["lines"]),
        iban=row["iban"], total_net=row["total_net"], total_incl_vat=row["total_incl_vat"],
        credited_number=row["credited_number"], credited_issue_date=row["credited_issue_date"],
        buyer_reference=row["buyer_reference"], note=row["note"], total_discount=row.get("total_discount"),
    )


def build_sales_documents(rows: Iterator[dict]) -> Iterator[BuiltDocument | Reject]:
    for row in rows:
        try:
            xml = build_ubl(sales_invoice(row))
        except RecordError as error:
            yield Reject(row["source_id"], error.field, f"invoice {row['number']}: {error.reason}")
            continue
        kind = KINDS[etree.fromstring(xml).tag]
        yield BuiltDocument(row["source_system"], row["source_id"], "Outbound", row["number"], kind, xml)


def _sales_rows(conn, tenant: Tenant, statuses: list[str]) -> Iterator[dict]:
    # A cursor of its own: the ledger writes on `conn` between batches, which would end this result.
    cursor = conn.cursor().execute(
        """SELECT * FROM model.routty_sales_invoices
           WHERE tenant_id = ? AND source_system = ? AND status IN (SELECT unnest(?::VARCHAR[]))
           ORDER BY issue_date, source_id""",
        [tenant.id, sales_source(tenant), statuses])
    names = [d[0] for d in cursor.description]
    while batch := cursor.fetchmany(1000):
        yield from (dict(zip(names, values)) for values in batch)


# ---------------------------------------------------------------- received invoices: B2Brouter's UBL as is

def build_received_documents(rows: Iterator[tuple[str, str]]) -> Iterator[BuiltDocument | Reject]:
    """B2Brouter's UBL BIS 3 goes to Routty unchanged; only what is not a UBL invoice is held back."""
    for invoice_id, content in rows:
        xml = content.encode()
        try:
            root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as error:
            yield Reject(invoice_id, "document", f"not well-formed XML: {error.msg}")
            continue
        kind = KINDS.get(root.tag)
        if kind is None:
            yield Reject(invoice_id, "document", f"not a UBL 2.1 Invoice or CreditNote (root {root.tag})")
            continue
        yield BuiltDocument("b2brouter", invoice_id, "Inbound", root.findtext("cbc:ID", namespaces=NS), kind, xml)


def _received_rows(conn, tenant: Tenant) -> Iterator[tuple[str, str]]:
    ensure_stream_tables(conn, RECEIVED_INVOICES)
    cursor = conn.cursor().execute(
        """SELECT d.invoice_id, d.content FROM raw.b2brouter_invoice_documents d
           JOIN staging.b2brouter_received_invoices r ON r.tenant_id = d.tenant_id AND r.id = d.invoice_id
           WHERE d.tenant_id = ? AND d.document_type = 'xml.ubl.invoice.bis3' AND r.deleted_at IS NULL
           ORDER BY d.invoice_id""", [tenant.id])
    while batch := cursor.fetchmany(1000):
        yield from batch


# ---------------------------------------------------------------- the builder assets

SALES = InvoiceFlow("sales_invoice", "Outbound", SALES_INPUT_KEY, dg.AssetKey(["model", "routty_sales_invoices"]),
                  (masterdata_push_key("party_list"),))
RECEIVED = InvoiceFlow("received_invoice", "Inbound", RECEIVED_INPUT_KEY,
                     dg.AssetKey(["b2brouter", "received_invoice_documents"]),
                     (masterdata_push_key("party_list"), masterdata_push_key("purchase_order_list")))
FLOWS = (SALES, RECEIVED)


def _built(conn, flow: InvoiceFlow, tenant: Tenant, config: DocumentConfig) -> Iterator[BuiltDocument | Reject]:
    if flow is SALES:
        statuses = [s.strip() for s in (config.sendable_statuses or ROUTTY_SENDABLE_INVOICE_STATUSES.text()).split(",") if s.strip()]
        return build_sales_documents(_sales_rows(conn, tenant, statuses))
    return build_received_documents(_received_rows(conn, tenant))


def queue_documents(conn, flow: InvoiceFlow, tenant: Tenant,
                    config: DocumentConfig) -> tuple[int, list[Reject], document_ledger.EnqueueCounts]:
    """Build the flow's documents and queue them a thousand at a time; the rejects replace the last ones."""
    resend = set(config.resend)
    conn.execute("DELETE FROM sync.rejects WHERE tenant_id = ? AND stage = 'document' AND source = ?",
                 [tenant.id, flow.name])
    built, rejects, counts = 0, [], document_ledger.EnqueueCounts()
    for chunk in _chunks(_built(conn, flow, tenant, config)):
        documents = [item for item in chunk if isinstance(item, BuiltDocument)]
        rejects += [item for item in chunk if isinstance(item, Reject)]
        built += len(documents)
        counts += document_ledger.enqueue(conn, tenant.id, flow.flow, documents,
                                          resend=lambda source_id: config.resend_errors or source_id in resend)
    write_rejects(conn, [(tenant.id, "document", flow.name, r.record_key, r.field, r.reason, None) for r in rejects])
    return built, rejects, counts


def invoice_documents_asset(flow: InvoiceFlow, partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=flow.documents_key,
        group_name=GROUP,
        deps=[flow.upstream],
        partitions_def=partitions_def,
        kinds={"duckdb", "xml"},
        description=f"The tenant's {flow.name.replace('_', ' ')} as Routty input documents (UBL 2.1), queued "
                    f"in the document ledger: new, changed and to-be-resent ones ({flow.flow} flow).",
    )
    def input_documents(context: dg.AssetExecutionContext, config: DocumentConfig,
                        warehouse: DuckDBResource) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        with warehouse.get_connection() as conn:
            if flow is SALES and not table_exists(conn, "model.routty_sales_invoices"):
                raise dg.Failure("model.routty_sales_invoices is missing: materialize model/routty_sales_invoices first")
            built, rejects, counts = queue_documents(conn, flow, tenant, config)
        for reject in rejects[:20]:
            context.log.warning(f"{flow.name} {tenant.id}: {reject.record_key} not sent, {reject.field}: {reject.reason}")
        if counts.changed_after_upload:
            context.log.warning(f"{flow.name} {tenant.id}: {counts.changed_after_upload} document(s) changed at the "
                                "source after Routty received them; Routty keeps what it received")
        return dg.MaterializeResult(metadata={
            "tenant": tenant.id, "documents": built, "rejected": len(rejects), "queued_new": counts.new,
            "queued_changed": counts.changed, "queued_resend": counts.resent,
            "changed_after_upload": counts.changed_after_upload,
            "rejects": dg.MetadataValue.md("\n".join(f"- `{r.record_key}` {r.field}: {r.reason}" for r in rejects[:50]) or "none"),
        })

    return input_documents


def _chunks(items: Iterator, size: int = 1000) -> Iterator[list]:
    """Bounded memory: the ledger takes the documents a thousand at a time."""
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
