"""The landing engine: a stream's spooled records into its tables in one write transaction.

Set-based: DuckDB's own JSON reader types, validates and upserts the records, with the cursor advanced in
that same transaction, so a cursor can never run ahead of the rows it covers. Bad records land in
`sync.rejects` with field and reason; optional fields that do not convert land NULL with a warning."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from assets.ingest.tables import ChildSpec, Column, StreamSpec, ensure_stream_tables
from resources.warehouse import NOW_UTC, ensure_schema


@dataclass(frozen=True)
class LandResult:
    received: int
    new: int
    updated: int
    unchanged: int
    rejected: int
    disappeared: int
    cursor_before: str | None
    cursor_after: str | None
    duplicate_keys: int
    unexpected_fields: list[str]
    missing_fields: list[str]
    future_dated: int = 0  # records whose cursor field is later than the landing's clock
    future_dated_keys: list[str] = field(default_factory=list)  # the first few of them
    deletions_held: int = 0  # rows a full read would have marked deleted, held by the mass-deletion guard
    live_rows: int = 0  # the tenant's rows not marked deleted, which deletions_held is a share of
    warned: int = 0  # records landed without an optional field whose value did not convert


def cursor_text(moment: datetime) -> str:
    """A moment as cursors are written (UTC, milliseconds), so cursors compare as text."""
    utc = moment.astimezone(timezone.utc)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def read_cursor(conn: duckdb.DuckDBPyConnection, tenant_id: str, stream: str) -> str | None:
    row = conn.execute(
        "SELECT cursor_value FROM sync.cursors WHERE tenant_id = ? AND stream = ?", [tenant_id, stream]
    ).fetchone()
    return row[0] if row else None


def land_spool(
    conn: duckdb.DuckDBPyConnection,
    spec: StreamSpec,
    tenant_id: str,
    chunks: list[Path],
    track_cursor: bool = True,
    complete: bool = False,
    read_started: datetime | None = None,
    max_delete_share: float = 1.0,
) -> LandResult:
    """Upsert every record of the spooled chunks, then move the cursor.

    Each chunk (a bounded number of records: memory stays flat however long the stream) lands in a
    short transaction of its own; the cursor moves in a last one, after every row is written, so a
    crash half-way only means the next run reads those records again. A record met again in a later
    chunk (it changed while pages were read) counts only if it is newer.
    `track_cursor=False` for a backfill of a past period: it must not move the cursor.
    `complete` = the chunks hold the whole stream (a full read): records missing from them are
    marked `deleted_at` in staging (and revived if they come back), unless the read rejected a record
    without its key (it may be one that seems gone) or they are more than `max_delete_share` of the
    live rows (a read cut short looks like that): then none is marked. A record rejected with its key
    is still at the source: its row stays.
    `read_started`: the cursor never passes it, so one record dated in the future cannot freeze it.
    """
    ensure_schema(conn)
    ensure_stream_tables(conn, spec)
    cursor_before = read_cursor(conn, tenant_id, spec.name)
    conn.execute("CREATE OR REPLACE TEMP TABLE seen (_pk VARCHAR, _cursor VARCHAR)")
    # A tenant with no rows yet (a first load): a record whose key no earlier chunk had is new, so
    # it is appended without looking it up in the tables (see _upsert_good_rows).
    first_load = _count(conn, f"{spec.raw_table} WHERE tenant_id = ?", [tenant_id]) == 0
    totals = _Totals()
    threshold = _defer_checkpoints(conn)
    try:
        for chunk in chunks:
            _stage_incoming(conn, spec, chunk)
            totals.add_drift(*_schema_drift(conn, spec))
            totals.duplicates += _drop_seen_before(conn, spec)
            with _transaction(conn):
                totals.rejected += _write_rejects(conn, spec, tenant_id)
                totals.warned += _write_warnings(conn, spec, tenant_id)
                totals.unidentified += _count(conn, "incoming WHERE _problem IS NOT NULL AND _pk IS NULL")
                totals.add_upsert(*_upsert_good_rows(conn, spec, tenant_id, first_load))
            _remember(conn, spec)
        future, future_keys = _future_dated(conn, spec)
        with _transaction(conn):
            # A record rejected without its key is still at the source, as one of the rows that seem
            # gone: the read cannot tell which, so deletions wait for a read where every record has one.
            judged = complete and totals.unidentified == 0
            disappeared, held, live = _mark_disappeared(conn, spec, tenant_id, max_delete_share) if judged else (0, 0, 0)
            # A rejected record must be read again once fixed at the source, so rejects hold the cursor;
            # so does a read the deletion guard doubts: it may have stopped short.
            hold = not track_cursor or totals.rejected > 0 or held > 0
            cap = cursor_text(read_started) if read_started else None
            cursor_after = cursor_before if hold else _advance_cursor(conn, spec, tenant_id, cursor_before, cap)
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.incoming; DROP TABLE IF EXISTS temp.changed; DROP TABLE IF EXISTS temp.seen")
        _checkpoint(conn, threshold)
    return LandResult(
        totals.good + totals.rejected + totals.duplicates, totals.new, totals.changed - totals.new,
        totals.good - totals.changed, totals.rejected, disappeared, cursor_before, cursor_after,
        totals.duplicates, sorted(totals.unexpected), sorted(totals.missing or ()), future, future_keys, held, live,
        totals.warned,
    )


@dataclass
class _Totals:
    good: int = 0
    changed: int = 0
    new: int = 0
    rejected: int = 0
    unidentified: int = 0  # rejected records without a key
    warned: int = 0  # records landed without an optional field that did not convert
    duplicates: int = 0
    unexpected: set = field(default_factory=set)
    missing: set | None = None  # expected fields no chunk carried

    def add_upsert(self, good: int, changed: int, new: int, duplicates: int) -> None:
        self.good, self.changed, self.new = self.good + good, self.changed + changed, self.new + new
        self.duplicates += duplicates

    def add_drift(self, unexpected: list[str], missing: list[str]) -> None:
        self.unexpected |= set(unexpected)
        self.missing = set(missing) if self.missing is None else self.missing & set(missing)


@contextmanager
def _transaction(conn: duckdb.DuckDBPyConnection):
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _cursor_text(spec: StreamSpec) -> str:
    return f"strftime({spec.cursor_column}, '%Y-%m-%dT%H:%M:%S.%gZ')" if spec.cursor_column else "NULL"


def _drop_seen_before(conn: duckdb.DuckDBPyConnection, spec: StreamSpec) -> int:
    """Drop records an earlier chunk of this run already had in a version as new or newer."""
    newer_or_same = f"s._cursor >= {_cursor_text(spec)}" if spec.cursor_column else "TRUE"
    return conn.execute(
        f"""DELETE FROM incoming WHERE _problem IS NULL AND EXISTS (
              SELECT 1 FROM seen s WHERE s._pk = incoming._pk AND s._cursor IS NOT NULL AND ({newer_or_same}))"""
    ).fetchone()[0]


def _remember(conn: duckdb.DuckDBPyConnection, spec: StreamSpec) -> None:
    """Keys met so far (rejected ones too: they exist at the source) and their newest cursor value."""
    conn.execute(
        f"""INSERT INTO seen SELECT _pk, max(CASE WHEN _problem IS NULL THEN {_cursor_text(spec)} END)
            FROM incoming WHERE _pk IS NOT NULL GROUP BY _pk"""
    )


def _parsed_once(spec: StreamSpec) -> tuple[str, Column, list[Column]]:
    """The record's JSON parsed once per record, not once per column reference: every plain path is
    read by one `json_extract_string(record, [paths])` (list `_s`, the same text as `record->>path`)
    and every structured (JSON, list) column by one `json_extract(record, [paths])` (list `_j`).
    Returns that select list and the key and columns re-pointed at them (Column.sql), so their own
    typed_sql/problem_sql (tables.py) build the same expressions over the lists. A column with SQL
    of its own, or a checked structured one (its problem text is `->>`'s), keeps reading `record`."""
    strings: dict[str, int] = {}
    structured: dict[str, int] = {}

    def at(paths: dict[str, int], path: str) -> int:
        return paths.setdefault(path, len(paths) + 1)

    def pointed(c: Column) -> Column:
        if c.sql:
            return c
        path = c.path or f"$.{c.name}"
        if c.sql_type == "JSON" or c.sql_type.endswith("[]"):
            return c if c.check else replace(c, sql=f"_j[{at(structured, path)}]")
        return replace(c, sql=f"_s[{at(strings, path)}]")

    key, columns = pointed(spec.key), [pointed(c) for c in spec.columns]
    lists = ""
    for name, function, paths in (("_s", "json_extract_string", strings), ("_j", "json_extract", structured)):
        if paths:
            literal = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
            lists += f", {function}(record, [{literal}]) AS {name}"
    return lists, key, columns


def _stage_incoming(conn: duckdb.DuckDBPyConnection, spec: StreamSpec, spool: Path) -> None:
    """One spooled chunk as a temp table of typed records, each with its first problem."""
    lists, key, columns = _parsed_once(spec)
    checks = [f"CASE WHEN NULLIF(TRIM({key.raw_sql()}), '') IS NULL THEN '{spec.key.name}|missing' END"]
    checks += [c.problem_sql(c.name) for c in columns if c.check and not c.optional]
    warnings = [c.problem_sql(c.name) for c in columns if c.check and c.optional]
    for child in spec.children:
        for c in (c for c in child.columns if c.check):
            # The lambda's parameter is named `record` so the column's SQL reads the child element.
            bad = f"list_filter(COALESCE(json_extract(record, '{child.array_path}[*]'), []), lambda record: {c.problem_sql(c.name)} IS NOT NULL)"
            checks.append(f"CASE WHEN len({bad}) > 0 THEN '{child.name}.{c.name}|not a valid {c.sql_type}: ' || ({bad})[1]::VARCHAR END")
    typed = "".join(f"{c.typed_sql()} AS {c.name}, " for c in columns)
    spool_literal = str(spool).replace("'", "''")
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE incoming AS
            SELECT NULLIF(TRIM({key.raw_sql()}), '') AS _pk, record, md5(record::VARCHAR) AS record_hash, {typed}
                   list_filter([{', '.join(checks)}], lambda x: x IS NOT NULL)[1] AS _problem,
                   list_filter([{', '.join(warnings)}]::VARCHAR[], lambda x: x IS NOT NULL) AS _warnings
            FROM (SELECT record{lists}
                  FROM (SELECT json AS record
                        FROM read_json_objects('{spool_literal}', format = 'newline_delimited',
                                               maximum_object_size = 16777216)))"""  # per record, and DuckDB's read buffer
    )


def _schema_drift(conn: duckdb.DuckDBPyConnection, spec: StreamSpec) -> tuple[list[str], list[str]]:
    """(fields the API sent that the spec does not know, known fields no record carried)."""
    seen = {k for (k,) in conn.execute(
        "SELECT DISTINCT unnest(json_keys(record)) FROM incoming WHERE json_type(record) = 'OBJECT'"
    ).fetchall()}
    if not seen:
        return [], []
    expected = spec.expected_fields()
    typed = {(c.path or f"$.{c.name}").removeprefix("$.").split(".")[0].split("[")[0] for c in spec.columns if not c.sql}
    return sorted(seen - expected), sorted(typed - seen)


def _count(conn: duckdb.DuckDBPyConnection, rows: str, parameters: list | None = None) -> int:
    return conn.execute(f"SELECT count(*) FROM {rows}", parameters).fetchone()[0]


def _defer_checkpoints(conn: duckdb.DuckDBPyConnection) -> str | None:
    """DuckDB checkpoints (rewrites the changed tables and their key indexes into the file) whenever
    its write-ahead log passes 16 MB: with chunks of that size, after every chunk, each time over a
    bigger index. The chunks' commits only append to the log (each as durable as before); one
    checkpoint follows the last (_checkpoint). Returns the setting to restore."""
    try:
        before = conn.execute("SELECT current_setting('checkpoint_threshold')").fetchone()[0]
        conn.execute("SET checkpoint_threshold = '1TB'")
        return before
    except duckdb.Error:  # an in-memory database or a read-only setting: nothing to defer
        return None


def _checkpoint(conn: duckdb.DuckDBPyConnection, threshold: str | None) -> None:
    if threshold is None:
        return
    conn.execute(f"SET checkpoint_threshold = '{threshold}'")
    try:
        conn.execute("CHECKPOINT")
    except duckdb.Error:  # another connection's transaction is open: DuckDB checkpoints later by itself
        pass


def _write_rejects(conn: duckdb.DuckDBPyConnection, spec: StreamSpec, tenant_id: str) -> int:
    conn.execute(
        f"""INSERT OR REPLACE INTO sync.rejects
           SELECT ?, 'ingest', ?, COALESCE(_pk, 'md5:' || record_hash),
                  split_part(_problem, '|', 1), split_part(_problem, '|', 2), record::VARCHAR, {NOW_UTC}
           FROM incoming WHERE _problem IS NOT NULL""",
        [tenant_id, spec.name],
    )
    return _count(conn, "incoming WHERE _problem IS NOT NULL")


def _write_warnings(conn: duckdb.DuckDBPyConnection, spec: StreamSpec, tenant_id: str) -> int:
    """Optional fields dropped from records that landed, one row each; a record that lands clean
    again clears its earlier ones."""
    conn.execute(
        """DELETE FROM sync.rejects WHERE tenant_id = ? AND stage = 'ingest-warning' AND source = ?
           AND record_key IN (SELECT _pk FROM incoming WHERE _problem IS NULL)""", [tenant_id, spec.name])
    conn.execute(
        f"""INSERT OR REPLACE INTO sync.rejects
            SELECT ?, 'ingest-warning', ?, _pk, split_part(w, '|', 1),
                   split_part(w, '|', 2) || ' (the record landed without it)', record::VARCHAR, {NOW_UTC}
            FROM (SELECT _pk, record, unnest(_warnings) AS w FROM incoming WHERE _problem IS NULL)""",
        [tenant_id, spec.name])
    return _count(conn, "incoming WHERE _problem IS NULL AND len(_warnings) > 0")


def _upsert_good_rows(conn: duckdb.DuckDBPyConnection, spec: StreamSpec, tenant_id: str,
                      first_load: bool = False) -> tuple[int, int, int, int]:
    """Returns (distinct good records, records new or changed, records new, repeated records).

    `first_load`: the tenant had no rows when the landing began. Then a key that no earlier chunk
    of this landing had cannot be in the tables: when every key of the chunk is such a one, the
    chunk is appended (no look-up of each key in the raw and staging tables, no replace)."""
    latest_first = f"{spec.cursor_column} DESC NULLS LAST" if spec.cursor_column else "record_hash"
    key = spec.key.name
    latest = f"""SELECT * FROM incoming WHERE _problem IS NULL
                 QUALIFY row_number() OVER (PARTITION BY _pk ORDER BY {latest_first}) = 1"""
    append = first_load and _count(conn, "incoming WHERE _pk IN (SELECT _pk FROM seen)") == 0
    if append:
        conn.execute(f"CREATE OR REPLACE TEMP TABLE changed AS SELECT *, TRUE AS _is_new FROM ({latest})")
    else:
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE changed AS
                SELECT i.*, r.record_hash IS NULL AS _is_new
                FROM ({latest}) i
                LEFT JOIN {spec.raw_table} r ON r.tenant_id = ? AND r.{key} = i._pk
                LEFT JOIN {spec.staging_table} s ON s.tenant_id = ? AND s.{key} = i._pk
                WHERE r.record_hash IS DISTINCT FROM i.record_hash OR s.deleted_at IS NOT NULL""",
            [tenant_id, tenant_id],
        )
    insert = "INSERT INTO" if append else "INSERT OR REPLACE INTO"
    columns = ", ".join(c.name for c in spec.columns)
    conn.execute(
        f"{insert} {spec.raw_table} SELECT ?, _pk, record, record_hash, {NOW_UTC} FROM changed",
        [tenant_id],
    )
    conn.execute(
        f"""{insert} {spec.staging_table} (tenant_id, {key}, {columns}, loaded_at, deleted_at)
            SELECT ?, _pk, {columns}, {NOW_UTC}, NULL FROM changed""",
        [tenant_id],
    )
    for child in spec.children:
        _replace_children(conn, spec, child, tenant_id)
    good, distinct = conn.execute("SELECT count(*), count(DISTINCT _pk) FROM incoming WHERE _problem IS NULL").fetchone()
    changed, new = conn.execute("SELECT count(*), count(*) FILTER (WHERE _is_new) FROM changed").fetchone()
    return distinct, changed, new, good - distinct


def _replace_children(conn: duckdb.DuckDBPyConnection, spec: StreamSpec, child: ChildSpec, tenant_id: str) -> None:
    parent = child.parent_key
    table = spec.child_table(child)
    conn.execute(f"DELETE FROM {table} WHERE tenant_id = ? AND {parent} IN (SELECT _pk FROM changed)", [tenant_id])
    typed = ", ".join(f"{c.typed_sql()} AS {c.name}" for c in child.columns)
    conn.execute(
        f"""INSERT INTO {table} (tenant_id, {parent}, line_number, {', '.join(c.name for c in child.columns)})
            SELECT ?, _pk, line_number, {typed}
            FROM (SELECT _pk, unnest(json_extract(record, '{child.array_path}[*]')) AS record,
                         generate_subscripts(json_extract(record, '{child.array_path}[*]'), 1) AS line_number
                  FROM changed)""",
        [tenant_id],
    )


def _mark_disappeared(conn: duckdb.DuckDBPyConnection, spec: StreamSpec, tenant_id: str,
                      max_share: float) -> tuple[int, int, int]:
    """(rows marked deleted, rows held back by the guard, live rows)."""
    gone = f"tenant_id = ? AND deleted_at IS NULL AND {spec.key.name} NOT IN (SELECT _pk FROM seen)"
    live, missing = conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {gone}) FROM {spec.staging_table} WHERE tenant_id = ? AND deleted_at IS NULL",
        [tenant_id, tenant_id],
    ).fetchone()
    if missing > max_share * live:
        return 0, missing, live
    conn.execute(f"UPDATE {spec.staging_table} SET deleted_at = {NOW_UTC} WHERE {gone}", [tenant_id])
    return missing, 0, live


def _future_dated(conn: duckdb.DuckDBPyConnection, spec: StreamSpec, sample: int = 5) -> tuple[int, list[str]]:
    """(records dated later than now, the first few keys): a source clock or a typo, to report."""
    if not spec.cursor_column:
        return 0, []
    count, keys = conn.execute(
        f"SELECT count(DISTINCT _pk), list_sort(list(DISTINCT _pk))[1:{sample}] FROM seen WHERE _cursor > ?",
        [cursor_text(datetime.now(timezone.utc))],
    ).fetchone()
    return count, keys or []


def _advance_cursor(conn: duckdb.DuckDBPyConnection, spec: StreamSpec, tenant_id: str, cursor_before: str | None,
                    cap: str | None) -> str | None:
    """The newest change read that is not later than `cap` (when the read started): a record dated in
    the future would otherwise put the cursor past every change still to come. Such a record is read
    again by every incremental read (and reported each time) until its date has passed."""
    if not spec.cursor_column:
        return cursor_before
    newest = conn.execute("SELECT max(_cursor) FROM seen WHERE _cursor <= ?", [cap or "9999"]).fetchone()[0]
    # A cursor already past the cap (a future-dated record set it before the cap existed) is no position.
    before = cursor_before if cursor_before and (cap is None or cursor_before <= cap) else None
    cursor_after = max(filter(None, [before, newest]), default=None) or (cursor_before and cap)
    if cursor_after != cursor_before:
        conn.execute(
            f"INSERT OR REPLACE INTO sync.cursors VALUES (?, ?, ?, {NOW_UTC})",
            [tenant_id, spec.name, cursor_after],
        )
    return cursor_after
