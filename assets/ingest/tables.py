"""The source tables: how each API stream lands (its columns, key, cursor and nested rows) and
their DDL. Data only: the endpoints declare specs, the landing engine fills the tables, and every later
stage (models, invoices, exports) reads them by these names."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

# An offset or zone after the time of day ("...10:00:00Z", "+02:00", "-0500", " Europe/Amsterdam").
# Without one a time is UTC: DuckDB's TIMESTAMPTZ cast would read it in the connection's TimeZone.
HAS_OFFSET = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)? *([zZ]|[+-][0-9]{2}(:?[0-9]{2})?|[A-Za-z][A-Za-z_/+-]*) *$"


@dataclass(frozen=True)
class Column:
    """A typed column extracted from a record's JSON.

    `path` is a JSON path (default `$.<name>`); `sql` an expression over `record` instead, for
    values that come in more than one shape. `check` rejects the record when the raw value is
    present but does not convert (an amount that is not a number, a date that is not a date);
    with `optional` too, the record is usable without the value (tolerant in: never lose a record
    over an optional field), so it lands with the value NULL and a warning in sync.rejects (stage
    `ingest-warning`) instead.
    """

    name: str
    sql_type: str = "VARCHAR"
    path: str | None = None
    check: bool = False
    sql: str | None = None
    optional: bool = False

    def raw_sql(self) -> str:
        return f"({self.sql})" if self.sql else f"(record->>'{self.path or '$.' + self.name}')"

    def typed_sql(self) -> str:
        if self.sql_type == "TIMESTAMP":  # honour offsets, store UTC; no offset = UTC, whatever the session's TimeZone
            raw = self.raw_sql()
            return (f"(CASE WHEN regexp_matches({raw}, '{HAS_OFFSET}') "
                    f"THEN TRY_CAST({raw} AS TIMESTAMPTZ) AT TIME ZONE 'UTC' ELSE TRY_CAST({raw} AS TIMESTAMP) END)")
        if self.sql_type == "JSON" or self.sql_type.endswith("[]"):  # structured: keep it, don't stringify
            source = self.sql or f"json_extract(record, '{self.path or '$.' + self.name}')"
            return f"TRY_CAST({source} AS {self.sql_type})"
        return f"TRY_CAST({self.raw_sql()} AS {self.sql_type})"

    def problem_sql(self, label: str) -> str:
        """SQL giving 'field|reason' when this column's value is present but unusable, else NULL."""
        return (
            f"CASE WHEN {self.raw_sql()} IS NOT NULL AND {self.typed_sql()} IS NULL "
            f"THEN '{label}|not a valid {self.sql_type}: ' || {self.raw_sql()} END"
        )


@dataclass(frozen=True)
class ChildSpec:
    """Rows nested in each record (invoice lines), landed in their own table keyed by parent and
    position. A record with an unusable child value is rejected whole: half an invoice is worse
    than none."""

    name: str
    array_path: str
    parent_key: str  # column naming the parent record, e.g. invoice_id
    columns: tuple[Column, ...]


@dataclass(frozen=True)
class StreamSpec:
    """How one API stream lands: where its records sit in a page, its key, cursor and columns.

    Two specs with the same system and stream (Jortt's current and legacy APIs) land in the same
    tables: the columns' paths map each API's field names onto one shape.
    """

    system: str
    stream: str
    records_key: str
    columns: tuple[Column, ...]
    key: Column = Column("id")
    cursor_column: str | None = "updated_at"
    children: tuple[ChildSpec, ...] = ()
    single: bool = False  # the response holds one object (company info), not a list
    known_fields: frozenset[str] = field(default_factory=frozenset)  # present in the API, not typed

    @property
    def name(self) -> str:
        return f"{self.system}.{self.stream}"

    @property
    def raw_table(self) -> str:
        return f"raw.{self.system}_{self.stream}"

    @property
    def staging_table(self) -> str:
        return f"staging.{self.system}_{self.stream}"

    def child_table(self, child: ChildSpec) -> str:
        return f"staging.{self.system}_{self.stream}_{child.name}"

    def expected_fields(self) -> set[str]:
        """Top-level JSON keys the spec knows, to tell schema drift from expected shape."""
        # A column computed by SQL reads the field it is named after (and maybe others, in known_fields).
        tops = {(c.path or f"$.{c.name}").removeprefix("$.").split(".")[0].split("[")[0] for c in self.columns}
        tops |= {c.array_path.removeprefix("$.").split("[")[0] for c in self.children}
        tops.add((self.key.path or f"$.{self.key.name}").removeprefix("$."))
        return tops | set(self.known_fields)


def ensure_stream_tables(conn: duckdb.DuckDBPyConnection, spec: StreamSpec) -> None:
    key = spec.key.name
    columns = "".join(f"{c.name} {c.sql_type}, " for c in spec.columns)
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {spec.raw_table} (
              tenant_id VARCHAR NOT NULL, {key} VARCHAR NOT NULL, record JSON NOT NULL,
              record_hash VARCHAR NOT NULL, loaded_at TIMESTAMP NOT NULL, PRIMARY KEY (tenant_id, {key}));
            CREATE TABLE IF NOT EXISTS {spec.staging_table} (
              tenant_id VARCHAR NOT NULL, {key} VARCHAR NOT NULL, {columns}
              loaded_at TIMESTAMP NOT NULL, deleted_at TIMESTAMP, PRIMARY KEY (tenant_id, {key}));"""
    )
    for child in spec.children:
        child_columns = "".join(f"{c.name} {c.sql_type}, " for c in child.columns)
        conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {spec.child_table(child)} (
                  tenant_id VARCHAR NOT NULL, {child.parent_key} VARCHAR NOT NULL, line_number INTEGER NOT NULL,
                  {child_columns} PRIMARY KEY (tenant_id, {child.parent_key}, line_number))"""
        )
