"""Model: the parties Routty should know, in Routty's terms, from every source that has them."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.ingest.rutter import rutter_vendors

PARTIES_SQL = Path(__file__).with_name("parties.sql")


@dg.asset(
    key=["model", "routty_parties"],
    group_name="model",
    deps=[rutter_vendors],
    kinds={"duckdb", "sql"},
    description="One row per party (supplier) per tenant, mapped to Routty's PartyList fields.",
)
def routty_parties(warehouse: DuckDBResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as conn:
        conn.execute(PARTIES_SQL.read_text())
        rows = conn.execute(
            "SELECT party_type, active, count(*) FROM model.routty_parties GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(n for *_, n in rows),
            "by_type": dg.MetadataValue.json({f"{t} ({'active' if a else 'inactive'})": n for t, a, n in rows}),
        }
    )
