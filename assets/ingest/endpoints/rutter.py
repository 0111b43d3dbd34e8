"""Ingest from Rutter: every accounting stream Routty needs, incrementally by `updated_at`.

Data only: a stream is its StreamSpec and one entry in ENDPOINTS; assets/ingest/factory.py makes the
assets. Amounts land as DECIMAL (Rutter sends numbers, some copies of its docs show strings: both
parse), dates as DATE, times as UTC TIMESTAMP, line items in their own `*_lines` table.
"""

from assets.ingest.factory import Endpoint, Incremental, Source
from assets.ingest.tables import ChildSpec, Column, StreamSpec
from resources.contracts import fill
from resources.contracts import rutter as api
from resources.rutter import POOL, RutterNotReady

MONEY = "DECIMAL(18,4)"
RATE = "DECIMAL(9,4)"  # a percentage, e.g. 21 or 8.875


def _times() -> tuple[Column, ...]:
    # updated_at is the cursor; a record without a readable created_at is still the record.
    return (Column("created_at", "TIMESTAMP", check=True, optional=True), Column("updated_at", "TIMESTAMP", check=True))


def _lines(parent_key: str) -> ChildSpec:
    return ChildSpec("lines", "$.line_items", parent_key, (
        Column("description"),
        Column("total_amount", MONEY, check=True),
        Column("account_id"),
        Column("class_id"),
        Column("department_id"),
        Column("tax_rate_id"),
        Column("item_id", path="$.item.id"),
        Column("quantity", MONEY, path="$.item.quantity", check=True),
        Column("unit_amount", MONEY, path="$.item.unit_amount", check=True),
    ))


def _payable(kind: str, *extra: Column) -> StreamSpec:
    """Bills and AR invoices share their shape."""
    return StreamSpec("rutter", f"{kind}s", f"{kind}s", (
        Column("platform_id"), *extra, Column("account_id"), Column("payment_terms_id"),
        Column("issue_date", "DATE", check=True), Column("due_date", "DATE", check=True, optional=True),
        Column("status"), Column("currency_code"), Column("document_number"), Column("memo"),
        *(Column(name, MONEY, check=True) for name in ("sub_total", "tax_amount", "total_amount", "total_discount")),
        Column("amount_due", MONEY, check=True, optional=True),
        Column("linked_purchase_order_ids", "VARCHAR[]", sql="json_extract_string(record, '$.linked_purchase_orders[*].id')"),
        *_times(),
    ), children=(_lines(f"{kind}_id"),), known_fields=frozenset({"linked_purchase_orders", "line_items", "subsidiary_id", "discount_amount", "linked_payments"}))


VENDORS = StreamSpec("rutter", "vendors", "vendors", (
    Column("platform_id"), Column("vendor_name"), Column("display_name"), Column("contact_name"),
    Column("email"), Column("phone"), Column("website"), Column("registration_number"), Column("tax_number"),
    Column("status"), Column("currency_codes", "VARCHAR[]"), Column("payment_terms_id"), Column("addresses", "JSON"),
    *_times(), Column("last_synced_at", "TIMESTAMP", check=True, optional=True), Column("platform_url"),
), known_fields=frozenset({"subsidiaries"}))

CUSTOMERS = StreamSpec("rutter", "customers", "customers", (
    Column("platform_id"), Column("customer_name"), Column("contact_name"), Column("email"), Column("phone"),
    Column("registration_number"), Column("tax_number"), Column("status"), Column("currency_code"),
    Column("addresses", "JSON"), *_times(),
), known_fields=frozenset({"subsidiaries", "last_synced_at", "platform_url", "display_name", "website"}))

PURCHASE_ORDERS = StreamSpec("rutter", "purchase_orders", "purchase_orders", (
    Column("platform_id"), Column("vendor_id"), Column("subsidiary_id"), Column("issue_date", "DATE", check=True),
    Column("status"), Column("currency_code"), Column("document_number"), Column("memo"),
    Column("total_amount", MONEY, check=True), Column("total_quantity", MONEY, check=True, optional=True), *_times(),
), children=(_lines("purchase_order_id"),), known_fields=frozenset({"line_items", "posted_date", "vendor_name"}))

BILLS = _payable("bill", Column("vendor_id"))
INVOICES = _payable("invoice", Column("customer_id"))

ACCOUNTS = StreamSpec("rutter", "accounts", "accounts", (
    Column("platform_id"), Column("account_type"), Column("category"), Column("status"),
    Column("balance", MONEY, check=True, optional=True), Column("currency_code"), Column("name"), Column("nominal_code"), *_times(),
), known_fields=frozenset({"subsidiaries", "parent_id"}))

ITEMS = StreamSpec("rutter", "items", "items", (
    Column("platform_id"), Column("code"), Column("name"), Column("status"), Column("type"),
    Column("bill_item", "JSON"), Column("invoice_item", "JSON"), *_times(),
))

COMPANY_INFO = StreamSpec("rutter", "company_info", "company_info", (
    Column("name"), Column("legal_name"), Column("currency_code"), Column("registration_number"),
    Column("tax_number"), Column("addresses", "JSON"), Column("email"), Column("phone"), Column("website"),
    Column("platform_id"), *_times(),
), cursor_column=None, single=True)

CONNECTION_STATUS = StreamSpec("rutter", "connection_status", "", (
    Column("platform", path="$.connection.platform"),
    Column("is_ready", "BOOLEAN", path="$.status.is_ready"),
    Column("last_sync_completed_at", "TIMESTAMP", path="$.status.last_sync_completed_at"),
), key=Column("id", path="$.connection.id"), cursor_column=None, single=True,
   known_fields=frozenset({"connection", "status"}))

# The books' tax rates, which lines name by tax_rate_id: the source of a line's VAT percentage.
TAX_RATES = StreamSpec("rutter", "tax_rates", "tax_rates", (
    Column("platform_id"), Column("status"), Column("code"), Column("name"),
    Column("effective_tax_rate", RATE, check=True), Column("total_tax_rate", RATE, check=True), *_times(),
), children=(ChildSpec("components", "$.components", "tax_rate_id", (
    Column("name"), Column("rate", RATE, check=True), Column("is_compound", "BOOLEAN", check=True),
)),), known_fields=frozenset({"subsidiaries"}))

# In the pool: Rutter steps of parallel runs take turns at the organization's rate limit. A connection
# still syncing (PRODUCT_NOT_READY) is skipped this run.
SOURCE = Source("rutter", selector="rutter", skip="no Rutter connection configured", pool=POOL,
                description="Rutter {stream} → {raw_table} (JSON) and {staging_table} (typed), upserted by id.",
                not_ready=(RutterNotReady,))
# Changed since, or in a period: `updated_at` in Unix milliseconds, both ends inclusive.
UPDATED_AT = Incremental(since=api.UPDATED_AT_MIN, start=api.UPDATED_AT_MIN, end=api.UPDATED_AT_MAX, format="unix_ms")


def _list(spec: StreamSpec) -> Endpoint:
    return Endpoint(spec, fill(api.LIST, stream=spec.stream), "cursor", incremental=UPDATED_AT)


ENDPOINTS = (
    _list(VENDORS), _list(CUSTOMERS), _list(PURCHASE_ORDERS), _list(BILLS), _list(INVOICES), _list(ACCOUNTS),
    _list(ITEMS), _list(TAX_RATES),
    Endpoint(COMPANY_INFO, api.COMPANY_INFO, "single_page"),
    Endpoint(CONNECTION_STATUS, api.CONNECTION_STATUS, "single_page"),
)
