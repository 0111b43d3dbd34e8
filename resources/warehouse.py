"""The DuckDB warehouse: the resource, its schemas (warehouse.sql) and the rejects table every stage writes.

Concurrency: DuckDB allows one writing process per file. With `{tenant}` in WAREHOUSE_PATH every
company has a file of its own, so companies run in parallel and never wait on each other's lock;
one company's runs still take turns (the run queue's per-company limit, deploy/dagster.yaml).
Connections are short (never held across an HTTP call), and opening a locked file is retried with
backoff, so runs of one company that overlap wait for each other's writes instead of failing.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import PrivateAttr

from resources.settings import WAREHOUSE_MEMORY_LIMIT, WAREHOUSE_PATH

SCHEMA_SQL = Path(__file__).with_name("warehouse.sql").read_text()  # read once: applied on many connections
# The time now as a UTC TIMESTAMP. `now()::TIMESTAMP` would be the wall clock of the connection's
# TimeZone setting (the process's TZ by default), so two machines would disagree.
NOW_UTC = "(now() AT TIME ZONE 'UTC')"
PER_TENANT = "{tenant}"


class Warehouse(DuckDBResource):
    """DuckDBResource whose file may be one per company (`{tenant}` in `database`: the run's
    partition), and whose every connection finds the schemas in place."""

    _tenant: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.dagster_run
        self._tenant = run.tags.get("dagster/partition") if run else None

    def for_tenant(self, tenant_id: str) -> Warehouse:
        """The warehouse of one company (a test, a benchmark, an operator's script)."""
        warehouse = self.model_copy()
        warehouse._tenant = tenant_id
        return warehouse

    def path(self) -> str:
        if PER_TENANT not in self.database:
            return self.database
        if not self._tenant:
            raise dg.Failure(f"WAREHOUSE_PATH {self.database} has one file per company: only a run of one "
                             "company (a partition) can open it")
        return self.database.replace(PER_TENANT, self._tenant)

    @contextmanager
    def get_connection(self):
        path = self.path()
        fresh = path == ":memory:" or not Path(path).exists()
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        with DuckDBResource(database=path, connection_config=self.connection_config).get_connection() as conn:
            _ensure_schema_once(conn, path, fresh)  # here, so no caller can forget it
            yield conn


_SCHEMA_READY: set[tuple[str, int, int]] = set()


def _ensure_schema_once(conn: duckdb.DuckDBPyConnection, path: str, fresh: bool) -> None:
    """The schemas, once per file and process: applying them costs ~10 ms a connection, and a run
    opens hundreds. A file this process has seen made (`fresh`: it was not there before connecting)
    gets them again, whatever its inode."""
    stat = None if path == ":memory:" else Path(path).stat()
    identity = (path, stat.st_dev, stat.st_ino) if stat else None
    if fresh or identity not in _SCHEMA_READY:
        ensure_schema(conn)
        if identity:
            _SCHEMA_READY.add(identity)


def connection_config() -> dict:
    """DuckDB settings for every warehouse connection. The memory limit makes DuckDB spill to disk
    rather than grow: with it, landing peaks at the same memory for 50,000 or 200,000 records."""
    return {"memory_limit": WAREHOUSE_MEMORY_LIMIT.text()}


def warehouse_resource() -> Warehouse:
    """The warehouse the settings name (WAREHOUSE_PATH: not a secret, so a plain setting)."""
    return Warehouse(database=WAREHOUSE_PATH.text(), connection_config=connection_config())


def ensure_schema(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(SCHEMA_SQL)


def table_exists(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether `schema.table` exists (a model, say, that no run has built yet)."""
    return conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name || '.' || table_name = ?",
                        [name]).fetchone()[0] > 0


def write_rejects(conn: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str, str, str, str, str]]) -> None:
    """Rejects found outside ingest: (tenant_id, stage, source, record_key, field, reason, raw)."""
    if rows:
        conn.executemany(f"INSERT OR REPLACE INTO sync.rejects VALUES (?, ?, ?, ?, ?, ?, ?, {NOW_UTC})", rows)
