"""Ingest from B2Brouter: received invoices with their UBL document, issued invoices' states,
contacts and accounts. Invoices are incremental through `updated_at`; a period backfill uses the
invoice date (`date_from`/`date_to`)."""

from collections.abc import Callable, Iterator
from datetime import timedelta

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.ingest.landing import IngestConfig, Window, ingest, ingest_asset, skip
from resources.b2brouter import B2BrouterClient, B2BrouterResource
from resources.http import CredentialsError, RemoteError
from resources.pages import Page
from resources.tenants import tenant_of_run
from resources.warehouse import NOW_UTC, ChildSpec, Column, StreamSpec, ensure_schema, write_rejects

MONEY = "DECIMAL(18,2)"
UBL_DOCUMENT = "xml.ubl.invoice.bis3"


def _record_times() -> tuple[Column, ...]:
    """When a record was made and changed, of a list read whole (no cursor): the record is usable without."""
    return tuple(Column(name, "TIMESTAMP", check=True, optional=True) for name in ("created_at", "updated_at"))


def _invoices(stream: str) -> StreamSpec:
    return StreamSpec("b2brouter", stream, "invoices", (
        Column("number"), Column("date", "DATE", check=True), Column("due_date", "DATE", check=True, optional=True),
        Column("state"), Column("type"), Column("currency"),
        Column("subtotal", MONEY, check=True), Column("tax_amount", MONEY, check=True), Column("total", MONEY, check=True),
        Column("contact_id", path="$.contact.id"), Column("contact_name", path="$.contact.name"),
        Column("contact_tin", path="$.contact.tin_value"),
        Column("created_at", "TIMESTAMP", check=True, optional=True), Column("updated_at", "TIMESTAMP", check=True),
    ), children=(ChildSpec("lines", "$.lines", "invoice_id", (
        Column("description"), Column("quantity", MONEY, check=True), Column("price", MONEY, check=True),
        Column("amount", MONEY, check=True),
        Column("tax_percent", "DECIMAL(5,2)", path="$.taxes[0].percent", check=True),
        Column("tax_category", path="$.taxes[0].category"),
    )),), known_fields=frozenset({"contact", "lines"}))


RECEIVED_INVOICES = _invoices("received_invoices")
ISSUED_INVOICES = _invoices("issued_invoices")
CONTACTS = StreamSpec("b2brouter", "contacts", "contacts", (
    Column("name"), Column("tin_value"), Column("tin_scheme"), Column("country"), Column("email"),
    Column("iban"), Column("address"), Column("city"), Column("postalcode"), Column("province"), Column("currency"),
    Column("is_client", "BOOLEAN", check=True, optional=True), Column("is_provider", "BOOLEAN", check=True, optional=True),
    *_record_times(),
), cursor_column=None)
ACCOUNTS = StreamSpec("b2brouter", "accounts", "accounts", (
    Column("name"), Column("identifier"), Column("tin_value"), Column("country"), Column("email"),
    Column("address"), Column("city"), Column("postalcode"), Column("currency"),
    *_record_times(),
), cursor_column=None)


def _invoice_pages(invoice_type: str) -> Callable[[B2BrouterClient, Window], Iterator[Page]]:
    def pages(client: B2BrouterClient, window: Window) -> Iterator[Page]:
        if window.is_period:
            last_day = window.end - timedelta(days=1) if window.end else None
            return client.invoice_pages(invoice_type, date_from=window.start and window.start.isoformat(),
                                        date_to=last_day and last_day.isoformat())
        return client.invoice_pages(invoice_type, updated_at=window.since and window.since.isoformat())
    return pages


STREAMS: dict[str, tuple[StreamSpec, Callable[[B2BrouterClient, Window], Iterator[Page]]]] = {
    "received_invoices": (RECEIVED_INVOICES, _invoice_pages("ReceivedInvoice")),
    "issued_invoices": (ISSUED_INVOICES, _invoice_pages("IssuedInvoice")),
    "contacts": (CONTACTS, lambda client, _: client.contact_pages()),
    "accounts": (ACCOUNTS, lambda client, _: client.account_pages()),
}


def b2brouter_stream_asset(stream: str, partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    spec, pages = STREAMS[stream]

    @ingest_asset("b2brouter", stream, f"B2Brouter {stream} → {spec.raw_table} (JSON) and {spec.staging_table} (typed).", partitions_def)
    def b2brouter_stream(
        context: dg.AssetExecutionContext, config: IngestConfig, b2brouter: B2BrouterResource, warehouse: DuckDBResource
    ) -> Iterator[dg.MaterializeResult]:
        tenant = tenant_of_run(context)
        if not tenant.b2brouter:
            yield skip(context, tenant, "no B2Brouter account configured")
            return
        with b2brouter.client(tenant) as client:
            yield ingest(context, tenant, spec, warehouse, config, lambda window: pages(client, window),
                         client.http.stats, incremental=spec.cursor_column is not None)

    return b2brouter_stream


DOCUMENTS_SOURCE = "b2brouter.received_invoice_documents"
DOCUMENT_BATCH = 50  # documents fetched, then landed in one short transaction: bounds memory and lost work


def received_invoice_documents_asset(partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=["b2brouter", "received_invoice_documents"],
        group_name="ingest",
        deps=[dg.AssetKey(["b2brouter", "received_invoices"])],
        kinds={"b2brouter", "duckdb", "xml"},
        partitions_def=partitions_def,
        description="The UBL (Peppol BIS 3) document of every received invoice that is new or changed, "
                    "in raw.b2brouter_invoice_documents. One that cannot be had (gone, not UTF-8) goes to "
                    "sync.rejects and is asked for again next run; the others land.",
    )
    def received_invoice_documents(
        context: dg.AssetExecutionContext, b2brouter: B2BrouterResource, warehouse: DuckDBResource
    ) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        wanted = _documents_wanted(warehouse, tenant.id)
        fetched, rejected = 0, []
        if wanted:
            with b2brouter.client(tenant) as client:
                for start in range(0, len(wanted), DOCUMENT_BATCH):
                    good, bad = _fetch_documents(client, wanted[start: start + DOCUMENT_BATCH])
                    _land_documents(warehouse, tenant.id, good, bad)
                    fetched, rejected = fetched + len(good), rejected + bad
        if rejected:
            context.log.warning(f"{DOCUMENTS_SOURCE}: {len(rejected)} document(s) of tenant {tenant.id} not landed, e.g. "
                                + "; ".join(f"{i}: {why}" for i, why in rejected[:3]) + "; see sync.rejects (retried next run)")
        with warehouse.get_connection() as conn:
            total = conn.execute("SELECT count(*) FROM raw.b2brouter_invoice_documents WHERE tenant_id = ?", [tenant.id]).fetchone()[0]
        return dg.MaterializeResult(metadata={"tenant": tenant.id, "documents_fetched": fetched,
                                              "documents_rejected": len(rejected), "dagster/row_count": total})

    return received_invoice_documents


def _documents_wanted(warehouse: DuckDBResource, tenant_id: str) -> list[str]:
    """Received invoices whose document is missing or older than the invoice (rejected ones included)."""
    with warehouse.get_connection() as conn:
        ensure_schema(conn)
        return [i for (i,) in conn.execute(
            """SELECT i.id FROM staging.b2brouter_received_invoices i
               LEFT JOIN raw.b2brouter_invoice_documents d
                 ON d.tenant_id = i.tenant_id AND d.invoice_id = i.id AND d.document_type = ?
               WHERE i.tenant_id = ? AND i.deleted_at IS NULL AND (d.fetched_at IS NULL OR d.fetched_at < i.loaded_at)
               ORDER BY i.id""", [UBL_DOCUMENT, tenant_id]).fetchall()]


def _fetch_documents(client: B2BrouterClient, invoice_ids: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(invoice id, document text) of those fetched, (invoice id, reason) of those refused one by one
    (4xx, not UTF-8). B2Brouter unreachable or refusing our key fails the run: no document would come."""
    good, bad = [], []
    for invoice_id in invoice_ids:
        try:
            good.append((invoice_id, client.document(invoice_id, UBL_DOCUMENT).decode("utf-8")))
        except UnicodeDecodeError as error:
            bad.append((invoice_id, f"not UTF-8: byte 0x{error.object[error.start]:02x} at offset {error.start}"))
        except RemoteError as error:
            if isinstance(error, CredentialsError) or error.status is None or error.status >= 500 or error.status == 429:
                raise
            bad.append((invoice_id, str(error)))
    return good, bad


def _land_documents(warehouse: DuckDBResource, tenant_id: str, good: list[tuple[str, str]], bad: list[tuple[str, str]]) -> None:
    """Documents landed and their old rejects cleared; failures recorded as rejects (field `document`)."""
    with warehouse.get_connection() as conn:
        if good:
            conn.executemany(
                f"INSERT OR REPLACE INTO raw.b2brouter_invoice_documents VALUES (?, ?, ?, ?, sha256(?4), {NOW_UTC})",
                [(tenant_id, i, UBL_DOCUMENT, text) for i, text in good],
            )
            conn.executemany("DELETE FROM sync.rejects WHERE tenant_id = ? AND stage = 'ingest' AND source = ? AND record_key = ?",
                             [(tenant_id, DOCUMENTS_SOURCE, i) for i, _ in good])
        write_rejects(conn, [(tenant_id, "ingest", DOCUMENTS_SOURCE, i, "document", f"{UBL_DOCUMENT}: {why}", None)
                             for i, why in bad])


def b2brouter_assets(partitions_def: dg.PartitionsDefinition | None) -> list[dg.AssetsDefinition]:
    return [*(b2brouter_stream_asset(s, partitions_def) for s in STREAMS), received_invoice_documents_asset(partitions_def)]
