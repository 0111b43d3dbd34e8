"""Model: the SQL that turns staged rows into the shapes of Routty's masterdata lists and documents.

One asset per model, each a query in this folder (`<name>.sql`) rebuilt per tenant: the tenant's
rows are replaced in one transaction. Staging tables a query reads are created empty if their
stream has not landed yet for any tenant, so a model never fails on a system a tenant lacks.
"""

import warnings
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.ingest.endpoints import b2brouter, jortt, rutter
from resources.tenants import tenant_of_run
from assets.ingest.tables import StreamSpec, ensure_stream_tables
from resources.warehouse import table_exists

HERE = Path(__file__).parent


@dataclass(frozen=True)
class SqlModel:
    name: str  # the table model.<name>, and the asset model/<name>
    query_file: str
    reads: tuple[StreamSpec, ...]
    upstream_models: tuple[str, ...] = ()
    description: str = ""

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey(["model", self.name])

    @property
    def deps(self) -> list[dg.AssetKey]:
        return [dg.AssetKey([s.system, s.stream]) for s in self.reads] + [dg.AssetKey(["model", m]) for m in self.upstream_models]


MODELS = (
    SqlModel("routty_parties", "parties.sql",
             (rutter.VENDORS, rutter.CUSTOMERS, rutter.COMPANY_INFO, jortt.CUSTOMERS, jortt.ORGANIZATION),
             description="Suppliers, customers and the tenant's own companies as Routty parties."),
    SqlModel("routty_bank_accounts", "bank_accounts.sql", (b2brouter.CONTACTS, jortt.ORGANIZATION), ("routty_parties",),
             description="Bank accounts (IBAN) of the parties, matched by VAT number."),
    SqlModel("routty_purchase_orders", "purchase_orders.sql", (rutter.PURCHASE_ORDERS, rutter.VENDORS, rutter.COMPANY_INFO),
             description="Purchase orders with their lines, as Routty matches invoices against them."),
    SqlModel("routty_accounting_masterdata", "accounting_masterdata.sql",
             (rutter.ACCOUNTS, rutter.PURCHASE_ORDERS, rutter.BILLS, rutter.VENDORS, jortt.LEDGER_ACCOUNTS,
              jortt.INVOICES, jortt.CUSTOMERS),
             description="GL accounts, VAT codes, currencies and payment terms, one row per (type, value)."),
    SqlModel("routty_articles", "articles.sql", (rutter.ITEMS,), description="Items as Routty articles."),
    SqlModel("routty_sales_invoices", "sales_invoices.sql",
             (jortt.INVOICES, rutter.INVOICES, rutter.TAX_RATES), ("routty_parties", "routty_bank_accounts"),
             description="Sales invoices (Jortt, Rutter AR) with customer, own company and lines, as UBL needs them."),
)


def replace_tenant_rows(conn, table: str, query: str, tenant_id: str) -> int:
    """The tenant's rows of `table` become the query's, in one transaction; returns their count."""
    conn.execute(f"CREATE OR REPLACE TEMP TABLE fresh AS SELECT * FROM ({query}) WHERE tenant_id = ?", [tenant_id])
    fresh = conn.execute("DESCRIBE fresh").fetchall()
    if not table_exists(conn, table) or conn.execute(f"DESCRIBE {table}").fetchall() != fresh:
        # A new or changed query: other tenants' rows come back on their next run.
        conn.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM fresh LIMIT 0")
    conn.execute("BEGIN TRANSACTION")
    conn.execute(f"DELETE FROM {table} WHERE tenant_id = ?", [tenant_id])
    conn.execute(f"INSERT INTO {table} SELECT * FROM fresh")
    conn.execute("COMMIT")
    return conn.execute("SELECT count(*) FROM fresh").fetchone()[0]


def table_schema(conn, table: str) -> dg.TableSchema:
    """The columns of `table` as DuckDB has them now (the query decides them: read, not declared)."""
    return dg.TableSchema(columns=[
        dg.TableColumn(name, str(sql_type), constraints=dg.TableColumnConstraints(nullable=null == "YES"))
        for name, sql_type, null, *_ in conn.execute(f"DESCRIBE {table}").fetchall()
    ])


def sql_model_asset(model: SqlModel, partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=model.key,
        group_name="model",
        deps=model.deps,
        partitions_def=partitions_def,
        kinds={"duckdb", "sql"},
        description=f"{model.description} ({model.query_file})",
        # The query beside the Python: the UI links both (orchestration/definitions.py adds the Python).
        metadata={"dagster/table_name": f"model.{model.name}", "dagster/code_references": dg.CodeReferencesMetadataValue(
            code_references=[dg.LocalFileCodeReference(file_path=str(HERE / model.query_file), line_number=1,
                                                       label=model.query_file)])},
    )
    def sql_model(context: dg.AssetExecutionContext, warehouse: DuckDBResource) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        with warehouse.get_connection() as conn:
            for spec in model.reads:
                ensure_stream_tables(conn, spec)
            rows = replace_tenant_rows(conn, f"model.{model.name}", (HERE / model.query_file).read_text(), tenant.id)
            schema = table_schema(conn, f"model.{model.name}")
        return dg.MaterializeResult(metadata={"tenant": tenant.id, "dagster/row_count": rows,
                                              "dagster/column_schema": schema})

    return sql_model


def model_assets(partitions_def: dg.PartitionsDefinition | None) -> list[dg.AssetsDefinition]:
    with warnings.catch_warnings():  # code references are marked beta: known, wanted
        warnings.simplefilter("ignore", dg.BetaWarning)
        return [sql_model_asset(model, partitions_def) for model in MODELS]
