"""Model: the parties Routty should know, in Routty's terms, from every source that has them."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from resources.tenants import tenant_of_run

PARTIES_QUERY = Path(__file__).with_name("parties.sql").read_text()
KEY = dg.AssetKey(["model", "routty_parties"])


def routty_parties_asset(partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=KEY,
        group_name="model",
        deps=[dg.AssetKey(["rutter", "vendors"])],
        partitions_def=partitions_def,
        kinds={"duckdb", "sql"},
        description="One row per party (supplier) per tenant, mapped to Routty's PartyList fields (parties.sql).",
    )
    def routty_parties(context: dg.AssetExecutionContext, warehouse: DuckDBResource) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        with warehouse.get_connection() as conn:
            conn.execute(f"CREATE TABLE IF NOT EXISTS model.routty_parties AS SELECT * FROM ({PARTIES_QUERY}) LIMIT 0")
            conn.execute("BEGIN TRANSACTION")
            conn.execute("DELETE FROM model.routty_parties WHERE tenant_id = ?", [tenant.id])
            conn.execute(f"INSERT INTO model.routty_parties SELECT * FROM ({PARTIES_QUERY}) WHERE tenant_id = ?", [tenant.id])
            conn.execute("COMMIT")
            rows = conn.execute(
                "SELECT party_type, active, count(*) FROM model.routty_parties WHERE tenant_id = ? GROUP BY ALL ORDER BY ALL",
                [tenant.id],
            ).fetchall()
        return dg.MaterializeResult(
            metadata={
                "tenant": tenant.id,
                "dagster/row_count": sum(n for *_, n in rows),
                "by_type": dg.MetadataValue.json({f"{t} ({'active' if a else 'inactive'})": n for t, a, n in rows}),
            }
        )

    return routty_parties
