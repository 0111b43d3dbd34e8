"""The DuckDB warehouse: schemas, bulk landing of API pages, cursors and rejects.

Landing is set-based: a stream's pages are spooled to a file while they are fetched (memory stays
flat however many rows), then DuckDB's own JSON reader unnests, types, validates and upserts them
in one short write transaction, with the cursor advanced in that same transaction, so a cursor can
never run ahead of the rows it covers. Bad records land in `sync.rejects` with field and reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
from dagster_duckdb import DuckDBResource

DEFAULT_WAREHOUSE_PATH = "data/warehouse.duckdb"
SCHEMA_SQL = Path(__file__).with_name("warehouse.sql")


def warehouse_resource() -> DuckDBResource:
    """The warehouse at WAREHOUSE_PATH (not a secret, so read directly rather than via EnvVar)."""
    path = Path(os.getenv("WAREHOUSE_PATH", DEFAULT_WAREHOUSE_PATH))
    path.parent.mkdir(parents=True, exist_ok=True)
    return DuckDBResource(database=str(path))


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(SCHEMA_SQL.read_text())


@dataclass(frozen=True)
class Column:
    """A typed column extracted from a record's JSON. `check` = reject the record when the raw value
    is present but does not convert (an amount that is not a number, a date that is not a date)."""

    name: str
    sql_type: str
    path: str | None = None  # JSON path; defaults to `$.<name>`
    check: bool = False

    def raw_sql(self) -> str:
        return f"(record->>'{self.path or '$.' + self.name}')"

    def typed_sql(self) -> str:
        if self.sql_type == "TIMESTAMP":  # honour offsets, store UTC
            return f"(TRY_CAST({self.raw_sql()} AS TIMESTAMPTZ) AT TIME ZONE 'UTC')"
        if self.sql_type == "JSON" or self.sql_type.endswith("[]"):  # structured: keep it, don't stringify
            return f"TRY_CAST(json_extract(record, '{self.path or '$.' + self.name}') AS {self.sql_type})"
        return f"TRY_CAST({self.raw_sql()} AS {self.sql_type})"


@dataclass(frozen=True)
class StreamSpec:
    """How one API stream lands: where its records sit in a page, its key, cursor and columns."""

    system: str
    stream: str
    records_key: str
    columns: tuple[Column, ...]
    primary_key: str = "id"
    cursor_column: str | None = "updated_at"

    @property
    def name(self) -> str:
        return f"{self.system}.{self.stream}"

    @property
    def raw_table(self) -> str:
        return f"raw.{self.system}_{self.stream}"

    @property
    def staging_table(self) -> str:
        return f"staging.{self.system}_{self.stream}"


@dataclass(frozen=True)
class LandResult:
    received: int
    new: int
    updated: int
    unchanged: int
    rejected: int
    cursor_before: str | None
    cursor_after: str | None


def read_cursor(conn: duckdb.DuckDBPyConnection, tenant_id: str, stream: str) -> str | None:
    row = conn.execute(
        "SELECT cursor_value FROM sync.cursors WHERE tenant_id = ? AND stream = ?", [tenant_id, stream]
    ).fetchone()
    return row[0] if row else None


def ensure_stream_tables(conn: duckdb.DuckDBPyConnection, spec: StreamSpec) -> None:
    columns = ", ".join(f"{c.name} {c.sql_type}" for c in spec.columns if c.name != spec.primary_key)
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {spec.raw_table} (
              tenant_id VARCHAR NOT NULL, {spec.primary_key} VARCHAR NOT NULL, record JSON NOT NULL,
              record_hash VARCHAR NOT NULL, loaded_at TIMESTAMP NOT NULL,
              PRIMARY KEY (tenant_id, {spec.primary_key}));
            CREATE TABLE IF NOT EXISTS {spec.staging_table} (
              tenant_id VARCHAR NOT NULL, {spec.primary_key} VARCHAR NOT NULL, {columns},
              loaded_at TIMESTAMP NOT NULL, PRIMARY KEY (tenant_id, {spec.primary_key}));"""
    )


def land_spool(conn: duckdb.DuckDBPyConnection, spec: StreamSpec, tenant_id: str, spool: Path) -> LandResult:
    """Upsert every record in the spooled pages; one transaction for rows, rejects and cursor."""
    ensure_schema(conn)
    ensure_stream_tables(conn, spec)
    cursor_before = read_cursor(conn, tenant_id, spec.name)
    _stage_incoming(conn, spec, spool)
    conn.execute("BEGIN TRANSACTION")
    try:
        rejected = _write_rejects(conn, spec, tenant_id)
        counts = _upsert_good_rows(conn, spec, tenant_id)
        cursor_after = _advance_cursor(conn, spec, tenant_id, cursor_before)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.incoming; DROP TABLE IF EXISTS temp.changed")
    received, changed, new = counts
    return LandResult(received + rejected, new, changed - new, received - changed, rejected, cursor_before, cursor_after)


def _stage_incoming(conn: duckdb.DuckDBPyConnection, spec: StreamSpec, spool: Path) -> None:
    """Unnest the spooled pages into a temp table of typed records, each with its first problem."""
    pk = Column(spec.primary_key, "VARCHAR")
    checks = [f"CASE WHEN NULLIF(TRIM({pk.raw_sql()}), '') IS NULL THEN '{spec.primary_key}|missing' END"] + [
        f"CASE WHEN {c.raw_sql()} IS NOT NULL AND {c.typed_sql()} IS NULL "
        f"THEN '{c.name}|not a valid {c.sql_type}: ' || {c.raw_sql()} END"
        for c in spec.columns
        if c.check
    ]
    typed = ", ".join(f"{c.typed_sql()} AS {c.name}" for c in spec.columns if c.name != spec.primary_key)
    spool_literal = str(spool).replace("'", "''")
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE incoming AS
            SELECT {pk.raw_sql()} AS _pk, record, md5(record::VARCHAR) AS record_hash, {typed},
                   list_filter([{', '.join(checks)}], lambda x: x IS NOT NULL)[1] AS _problem
            FROM (SELECT unnest(json_extract(json, '$.{spec.records_key}[*]')) AS record
                  FROM read_json_objects('{spool_literal}', format = 'unstructured',
                                         maximum_object_size = 268435456))"""
    )


def _write_rejects(conn: duckdb.DuckDBPyConnection, spec: StreamSpec, tenant_id: str) -> int:
    conn.execute(
        """INSERT OR REPLACE INTO sync.rejects
           SELECT ?, 'ingest', ?, COALESCE(NULLIF(TRIM(_pk), ''), 'md5:' || record_hash),
                  split_part(_problem, '|', 1), split_part(_problem, '|', 2), record::VARCHAR, now()::TIMESTAMP
           FROM incoming WHERE _problem IS NOT NULL""",
        [tenant_id, spec.name],
    )
    return conn.execute("SELECT count(*) FROM incoming WHERE _problem IS NOT NULL").fetchone()[0]


def _upsert_good_rows(conn: duckdb.DuckDBPyConnection, spec: StreamSpec, tenant_id: str) -> tuple[int, int, int]:
    """Returns (good records received, records new or changed, records new)."""
    latest_first = f"{spec.cursor_column} DESC NULLS LAST" if spec.cursor_column else "record_hash"
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE changed AS
            SELECT i.*, r.record_hash IS NULL AS _is_new
            FROM (SELECT * FROM incoming WHERE _problem IS NULL
                  QUALIFY row_number() OVER (PARTITION BY _pk ORDER BY {latest_first}) = 1) i
            LEFT JOIN {spec.raw_table} r ON r.tenant_id = ? AND r.{spec.primary_key} = i._pk
            WHERE r.record_hash IS DISTINCT FROM i.record_hash""",
        [tenant_id],
    )
    columns = [c.name for c in spec.columns if c.name != spec.primary_key]
    conn.execute(
        f"INSERT OR REPLACE INTO {spec.raw_table} SELECT ?, _pk, record, record_hash, now()::TIMESTAMP FROM changed",
        [tenant_id],
    )
    conn.execute(
        f"""INSERT OR REPLACE INTO {spec.staging_table} (tenant_id, {spec.primary_key}, {', '.join(columns)}, loaded_at)
            SELECT ?, _pk, {', '.join(columns)}, now()::TIMESTAMP FROM changed""",
        [tenant_id],
    )
    good = conn.execute("SELECT count(DISTINCT _pk) FROM incoming WHERE _problem IS NULL").fetchone()[0]
    changed, new = conn.execute("SELECT count(*), count(*) FILTER (WHERE _is_new) FROM changed").fetchone()
    return good, changed, new


def _advance_cursor(
    conn: duckdb.DuckDBPyConnection, spec: StreamSpec, tenant_id: str, cursor_before: str | None
) -> str | None:
    if not spec.cursor_column:
        return cursor_before
    newest = conn.execute(
        f"SELECT strftime(max({spec.cursor_column}), '%Y-%m-%dT%H:%M:%S.%gZ') FROM incoming WHERE _problem IS NULL"
    ).fetchone()[0]
    cursor_after = max(filter(None, [cursor_before, newest]), default=None)
    if cursor_after != cursor_before:
        conn.execute(
            "INSERT OR REPLACE INTO sync.cursors VALUES (?, ?, ?, now()::TIMESTAMP)",
            [tenant_id, spec.name, cursor_after],
        )
    return cursor_after


def write_rejects(conn: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str, str, str, str, str]]) -> None:
    """Rejects found outside ingest: (tenant_id, stage, source, record_key, field, reason, raw)."""
    if rows:
        conn.executemany("INSERT OR REPLACE INTO sync.rejects VALUES (?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP)", rows)
