"""Ingest from Rutter: vendors (the suppliers Routty must know), incrementally by `updated_at`."""


from datetime import datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.ingest.landing import IngestConfig, ingest_stream
from resources.rutter import RutterResource
from resources.tenants import tenant_id
from resources.warehouse import Column, StreamSpec

VENDORS = StreamSpec(
    system="rutter",
    stream="vendors",
    records_key="vendors",
    columns=(
        Column("platform_id", "VARCHAR"),
        Column("vendor_name", "VARCHAR"),
        Column("display_name", "VARCHAR"),
        Column("contact_name", "VARCHAR"),
        Column("email", "VARCHAR"),
        Column("phone", "VARCHAR"),
        Column("website", "VARCHAR"),
        Column("registration_number", "VARCHAR"),
        Column("tax_number", "VARCHAR"),
        Column("status", "VARCHAR"),
        Column("currency_codes", "VARCHAR[]"),
        Column("payment_terms_id", "VARCHAR"),
        Column("addresses", "JSON"),
        Column("created_at", "TIMESTAMP", check=True),
        Column("updated_at", "TIMESTAMP", check=True),
        Column("last_synced_at", "TIMESTAMP", check=True),
        Column("platform_url", "VARCHAR"),
    ),
)


@dg.asset(
    key=["rutter", "vendors"],
    group_name="ingest",
    kinds={"rutter", "duckdb"},
    description="Rutter vendors → raw.rutter_vendors (JSON) and staging.rutter_vendors (typed), upserted by id.",
)
def rutter_vendors(
    context: dg.AssetExecutionContext, config: IngestConfig, rutter: RutterResource, warehouse: DuckDBResource
) -> dg.MaterializeResult:
    with rutter.client() as client:

        def fetch(since: datetime | None):
            since_ms = int(since.timestamp() * 1000) if since else None
            return client.pages("vendors", updated_at_min_ms=since_ms)

        return ingest_stream(context, VENDORS, tenant_id(), warehouse, config, fetch, client.http.stats)
