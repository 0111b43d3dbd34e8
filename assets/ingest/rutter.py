"""Ingest from Rutter: every accounting stream Routty needs, incrementally by `updated_at`.

One asset per stream, all made by `rutter_stream_asset`; a stream is its StreamSpec below. Amounts
land as DECIMAL (Rutter sends numbers, some copies of its docs show strings: both parse), dates
as DATE, times as UTC TIMESTAMP, line items in their own `*_lines` table.
"""

from collections.abc import Iterator
from datetime import datetime, timezone

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.ingest.landing import IngestConfig, Window, ingest, ingest_asset, skip
from resources.pages import Page
from resources.rutter import POOL, RutterNotReady, RutterResource
from resources.tenants import tenant_of_run
from resources.warehouse import ChildSpec, Column, StreamSpec

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

LIST_STREAMS = (VENDORS, CUSTOMERS, PURCHASE_ORDERS, BILLS, INVOICES, ACCOUNTS, ITEMS, TAX_RATES)
SINGLE_RESOURCES = {COMPANY_INFO: "/accounting/company_info", CONNECTION_STATUS: "/connections/status"}


def _ms(moment) -> int | None:
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def rutter_stream_asset(spec: StreamSpec, partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    # In the pool: Rutter steps of parallel runs take turns at the organization's rate limit.
    @ingest_asset("rutter", spec.stream, f"Rutter {spec.stream} → {spec.raw_table} (JSON) and {spec.staging_table} (typed), upserted by id.",
                  partitions_def, pool=POOL)
    def rutter_stream(
        context: dg.AssetExecutionContext, config: IngestConfig, rutter: RutterResource, warehouse: DuckDBResource
    ) -> Iterator[dg.MaterializeResult]:
        tenant = tenant_of_run(context)
        if not tenant.rutter:
            yield skip(context, tenant, "no Rutter connection configured")
            return
        with rutter.client(tenant) as client:

            def fetch(window: Window):
                if spec in SINGLE_RESOURCES:
                    return [Page(client.get(SINGLE_RESOURCES[spec]))]
                until = _ms(window.end) - 1 if window.end else None
                return client.pages(spec.stream, updated_at_min_ms=_ms(window.since or window.start), updated_at_max_ms=until)

            try:
                result = ingest(context, tenant, spec, warehouse, config, fetch, client.http.stats,
                                incremental=spec.cursor_column is not None)
            except RutterNotReady as not_ready:
                yield skip(context, tenant, str(not_ready))
                return
        yield result

    return rutter_stream


def rutter_assets(partitions_def: dg.PartitionsDefinition | None) -> list[dg.AssetsDefinition]:
    return [rutter_stream_asset(spec, partitions_def) for spec in (*LIST_STREAMS, COMPANY_INFO, CONNECTION_STATUS)]
