"""Ingest from B2Brouter: received invoices with their UBL document, issued invoices' states,
contacts and accounts. Invoices are incremental through `updated_at`; a period backfill uses the
invoice date (`date_from`/`date_to`).

Data only: a stream is its StreamSpec and one entry in ENDPOINTS, the received invoices' documents
one Documents entry; assets/ingest/factory.py makes the assets.
"""

from assets.ingest.factory import Documents, Endpoint, Incremental, Source
from assets.ingest.tables import ChildSpec, Column, StreamSpec
from resources.contracts import b2brouter as api

MONEY = "DECIMAL(18,2)"
UBL_DOCUMENT = api.UBL_DOCUMENT


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


SOURCE = Source("b2brouter", selector="b2brouter", skip="no B2Brouter account configured",
                description="B2Brouter {stream} → {raw_table} (JSON) and {staging_table} (typed).")
# Invoices changed after a moment (`updated_at`), or dated in a period (`date_from`..`date_to`, inclusive).
INVOICE_WINDOW = Incremental(since="updated_at", start="date_from", end="date_to")
ENDPOINTS = (
    Endpoint(RECEIVED_INVOICES, api.INVOICES, "offset", {"type": "ReceivedInvoice"}, INVOICE_WINDOW),
    Endpoint(ISSUED_INVOICES, api.INVOICES, "offset", {"type": "IssuedInvoice"}, INVOICE_WINDOW),
    Endpoint(CONTACTS, api.CONTACTS, "offset"),
    Endpoint(ACCOUNTS, api.ACCOUNTS, "offset"),
)
RECEIVED_INVOICE_DOCUMENTS = Documents(
    SOURCE, "received_invoice_documents", RECEIVED_INVOICES, UBL_DOCUMENT, "raw.b2brouter_invoice_documents",
    description="The UBL (Peppol BIS 3) document of every received invoice that is new or changed, "
                "in raw.b2brouter_invoice_documents. One that cannot be had (gone, not UTF-8) goes to "
                "sync.rejects and is asked for again next run; the others land.")
