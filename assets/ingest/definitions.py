"""The ingest domain: one asset per source stream (Rutter, Jortt, B2Brouter), each with its checks.

Each stream asset carries, from its StreamSpec, the typed table's columns as `dagster/column_schema`
(the UI's Columns tab): what lands in `staging.<system>_<stream>` for every company, whichever API
fed it (Jortt's legacy specs map onto the same columns).
"""

import dagster as dg

from assets.ingest import factory
from assets.ingest.endpoints import b2brouter, jortt, rutter
from assets.ingest.tables import StreamSpec
from assets.partitions import TENANT_PARTITIONS

# What every staging table has beside its spec's columns (assets/ingest/tables.py ensure_stream_tables).
_KEY_DESCRIPTION = "the record's id at the source; with tenant_id the primary key"


def column_schema(spec: StreamSpec) -> dg.TableSchema:
    """The staging table of `spec` as Dagster shows it: the company, the key, every typed column,
    and the landing bookkeeping (nested rows, e.g. invoice lines, are named in the description)."""
    children = ", ".join(spec.child_table(child) for child in spec.children)
    columns = [
        dg.TableColumn("tenant_id", "VARCHAR", description="the company (partition)",
                       constraints=dg.TableColumnConstraints(nullable=False)),
        dg.TableColumn(spec.key.name, "VARCHAR", description=_KEY_DESCRIPTION,
                       constraints=dg.TableColumnConstraints(nullable=False)),
        *(dg.TableColumn(c.name, c.sql_type, description=_column_description(spec, c))
          for c in spec.columns if c.name != spec.key.name),
        dg.TableColumn("loaded_at", "TIMESTAMP", description="when the row last changed here (UTC)",
                       constraints=dg.TableColumnConstraints(nullable=False)),
        dg.TableColumn("deleted_at", "TIMESTAMP", description="when a full read no longer found the record"),
    ]
    return dg.TableSchema(
        columns=columns,
        constraints=dg.TableConstraints(other=[f"primary key (tenant_id, {spec.key.name})"]
                                        + ([f"nested rows in {children}"] if children else [])),
    )


def _column_description(spec: StreamSpec, column) -> str:
    source = f"SQL: {column.sql}" if column.sql else (column.path or f"$.{column.name}")
    notes = [source]
    if column.name == spec.cursor_column:
        notes.append("incremental cursor")
    if column.check:
        notes.append("optional: NULL with a warning when unusable" if column.optional
                     else "a record whose value does not convert is rejected")
    return "; ".join(notes)


DOCUMENTS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("tenant_id", "VARCHAR", description="the company (partition)"),
        dg.TableColumn("invoice_id", "VARCHAR", description="the received invoice (staging.b2brouter_received_invoices.id)"),
        dg.TableColumn("document_type", "VARCHAR", description=f"e.g. {b2brouter.UBL_DOCUMENT}"),
        dg.TableColumn("content", "VARCHAR", description="the document verbatim (UTF-8 XML)"),
        dg.TableColumn("content_hash", "VARCHAR", description="sha256 of content"),
        dg.TableColumn("fetched_at", "TIMESTAMP", description="when it was fetched (UTC)"),
    ],
    constraints=dg.TableConstraints(other=["primary key (tenant_id, invoice_id, document_type)"]),
)


def stream_specs() -> dict[dg.AssetKey, StreamSpec]:
    """The spec of every stream asset, by asset key (Jortt: the current API's; the legacy one lands
    the same columns)."""
    return factory.stream_specs(rutter.ENDPOINTS, jortt.ENDPOINTS, b2brouter.ENDPOINTS)


def _with_schema(spec: dg.AssetSpec) -> dg.AssetSpec:
    stream = stream_specs().get(spec.key)
    schema = column_schema(stream) if stream else DOCUMENTS_SCHEMA if spec.key == dg.AssetKey(
        ["b2brouter", "received_invoice_documents"]) else None
    table = stream.staging_table if stream else b2brouter.RECEIVED_INVOICE_DOCUMENTS.table
    if schema is None:
        return spec
    return spec.merge_attributes(metadata={"dagster/column_schema": schema, "dagster/table_name": table})


def defs() -> dg.Definitions:
    assets = [*(asset for endpoints in (rutter, jortt, b2brouter)
                for asset in factory.stream_assets(endpoints.SOURCE, endpoints.ENDPOINTS, TENANT_PARTITIONS)),
              factory.documents_asset(b2brouter.RECEIVED_INVOICE_DOCUMENTS, TENANT_PARTITIONS)]
    return dg.Definitions(assets=[a.map_asset_specs(_with_schema) for a in assets])
