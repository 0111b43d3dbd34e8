"""The one factory of ingest assets: an endpoint entry (assets/ingest/endpoints/) in, an asset out.

An entry is data, in the shape of dlt's rest_api: the stream's spec (columns, key, records key), the
path, the paginator by kind (`cursor`, `link`, `page_number`, `offset`, `single_page`: the client's
API contract says with which parameters), fixed query parameters, and which parameters carry a read
window (`Incremental`). Entries of one stream for other APIs of the same system (Jortt's legacy API)
are its variants: the tenant's setting picks one. A `Source` says what a system shares: its resource,
the tenant setting that selects (or skips) it, its Dagster pool, and the errors that mean "not yet".

What every ingest asset does: read the cursor, spool the pages, land them, report and check. The fetch
holds no warehouse connection; the landing is one short write transaction. Each stream reports rows
new/updated/unchanged/rejected/disappeared, pages, requests, retries, 429s and its cursor before and
after, and checks its keys, its schema, its reject ratio and (full reads) that it did not mark too
many rows deleted.
"""

import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.ingest.checks import check_results, check_specs
from assets.ingest.engine.land import LandResult, cursor_text, land_spool, read_cursor
from assets.ingest.engine.spool import spool_records
from assets.ingest.tables import StreamSpec
from resources.settings import INGEST_MAX_DELETE_SHARE
from resources.contracts import fill
from resources.http import CredentialsError, HttpStats, RemoteError
from resources.http.paginators import Page
from resources.tenants import Tenant, tenant_of_run
from resources.warehouse import NOW_UTC, write_rejects


class IngestConfig(dg.Config):
    full_refresh: bool = False  # read the whole stream; records no longer there are marked deleted
    lookback_minutes: int = 60  # re-read this much before the cursor, for late or clock-skewed updates
    # A period to (re)load, e.g. a backfill of one quarter: ISO dates, start inclusive, end exclusive.
    # Rutter filters by when a record last changed, B2Brouter by invoice date. Leaves the cursor alone.
    period_start: str | None = None
    period_end: str | None = None
    max_reject_ratio: float = 0.05  # the reject-ratio check fails above this share of a run's records
    # A full read that would mark more than this share of the stream's live rows deleted marks none
    # and fails the mass_deletion_guard check (a read cut short looks like a mass deletion).
    # Unset: INGEST_MAX_DELETE_SHARE, else 0.2. Set 1.0 for a run meant to delete that much.
    max_delete_share: float | None = None

    def delete_share(self) -> float:
        share = self.max_delete_share if self.max_delete_share is not None else INGEST_MAX_DELETE_SHARE.number()
        if not 0 <= share <= 1:
            raise ValueError(f"max_delete_share (or INGEST_MAX_DELETE_SHARE) must be between 0 and 1, got {share}")
        return share


@dataclass(frozen=True)
class Window:
    """What to read: everything (a full read), changes since a moment, or one period."""

    since: datetime | None = None
    start: date | None = None
    end: date | None = None

    @property
    def is_full(self) -> bool:
        return self.since is None and self.start is None and self.end is None

    @property
    def is_period(self) -> bool:
        return self.start is not None or self.end is not None


def window_for(cursor: str | None, config: IngestConfig, incremental: bool) -> Window:
    if config.period_start or config.period_end:
        return Window(
            start=date.fromisoformat(config.period_start) if config.period_start else None,
            end=date.fromisoformat(config.period_end) if config.period_end else None,
        )
    if not incremental or cursor is None or config.full_refresh:
        return Window()
    since = datetime.fromisoformat(cursor.replace("Z", "+00:00")) - timedelta(minutes=config.lookback_minutes)
    return Window(since=since)


def ingest_asset(system: str, stream: str, description: str, partitions_def: dg.PartitionsDefinition | None,
                 pool: str | None = None):
    """The decorator every ingest asset shares; `pool`: the Dagster pool of a system whose limit
    is shared by every run (Rutter's). The asset uses the system's resource (named as the system)
    and the warehouse."""
    key = dg.AssetKey([system, stream])
    return dg.asset(key=key, group_name="ingest", kinds={system, "duckdb"}, partitions_def=partitions_def,
                    check_specs=check_specs(key), description=description, pool=pool,
                    required_resource_keys={system, "warehouse"})


# ---------------------------------------------------------------- endpoints as data


@dataclass(frozen=True)
class Incremental:
    """Which query parameters carry a read window: `since` the changes since a moment (incremental
    reads), `start` and `end` a period's first and last day (a backfill). A period's end is exclusive
    in the Window, inclusive at the APIs: the last millisecond, or the day before. `format`: `iso`
    (ISO 8601) or `unix_ms` (Unix milliseconds; a day is its midnight UTC)."""

    since: str | None = None
    start: str | None = None
    end: str | None = None
    format: str = "iso"

    def params(self, window: Window) -> dict[str, Any]:
        moments = (((self.start, window.start, False), (self.end, window.end, True)) if window.is_period
                   else ((self.since, window.since, False),))
        return {name: self._value(moment, last) for name, moment, last in moments if name and moment is not None}

    def _value(self, moment: date, last: bool) -> Any:
        if self.format == "unix_ms":
            if not isinstance(moment, datetime):
                moment = datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)
            return int(moment.timestamp() * 1000) - (1 if last else 0)
        return (moment - timedelta(days=1) if last else moment).isoformat()


@dataclass(frozen=True, eq=False)
class Endpoint:
    """One stream as one API serves it: its spec, its path (several: walked one after the other, into
    one stream), the paginator's kind, fixed query parameters and the window's parameters (none: the
    stream is read whole every run). A path's names (`{account}`) are filled from the client's
    `path_values`. `api`: the value of the source's tenant setting this endpoint serves; `client`:
    the resource's method that opens the client for it."""

    spec: StreamSpec
    path: str | tuple[str, ...]
    paginator: str
    params: Mapping[str, Any] = field(default_factory=dict)
    incremental: Incremental | None = None
    api: str | bool = True
    client: str = "client"

    def serves(self, selected: Any) -> bool:
        """Whether a tenant whose setting is `selected` reads this endpoint (a flag: when it is set)."""
        return bool(selected) == self.api if isinstance(self.api, bool) else selected == self.api

    def pages(self, client, window: Window) -> Iterator[Page]:
        params = {**self.params, **(self.incremental.params(window) if self.incremental else {})}
        for path in self.path if isinstance(self.path, tuple) else (self.path,):
            yield from client.walk(fill(path, **client.path_values), self.paginator, params, self.spec.records_key)


@dataclass(frozen=True)
class Source:
    """What a system's streams share. `system`: the asset key's first part, and the resource's key;
    `selector`: the tenant's setting that picks the endpoint (its `api`), none matching: the stream is
    skipped, saying `skip` (with {api} and {stream}); `description` of each asset (with {stream},
    {raw_table}, {staging_table}); `pool`: the Dagster pool its steps take turns in; `not_ready`: errors
    that mean "not yet" (a connection still syncing): the stream is skipped this run, not failed."""

    system: str
    selector: str
    skip: str
    description: str
    pool: str | None = None
    not_ready: tuple[type[Exception], ...] = ()


def stream_asset(source: Source, endpoints: Sequence[Endpoint],
                 partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    """The asset of one stream, read through whichever of `endpoints` the tenant selects."""
    spec = endpoints[0].spec
    description = source.description.format(stream=spec.stream, raw_table=spec.raw_table, staging_table=spec.staging_table)

    @ingest_asset(source.system, spec.stream, description, partitions_def, pool=source.pool)
    def stream(context: dg.AssetExecutionContext, config: IngestConfig) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        api = getattr(tenant, source.selector)
        endpoint = next((e for e in endpoints if e.serves(api)), None)
        if endpoint is None:
            return skip(context, tenant, source.skip.format(api=api, stream=spec.stream))
        resource, warehouse = getattr(context.resources, source.system), context.resources.warehouse
        with getattr(resource, endpoint.client)(tenant) as client:
            try:
                return ingest(context, tenant, endpoint.spec, warehouse, config,
                              lambda window: endpoint.pages(client, window), client.http.stats,
                              incremental=endpoint.spec.cursor_column is not None)
            except source.not_ready as not_ready:
                return skip(context, tenant, str(not_ready))

    return stream


def stream_assets(source: Source, endpoints: Sequence[Endpoint],
                  partitions_def: dg.PartitionsDefinition | None) -> list[dg.AssetsDefinition]:
    """One asset per stream of `endpoints`, in their order (a stream's variants side by side)."""
    streams: dict[str, list[Endpoint]] = {}
    for endpoint in endpoints:
        streams.setdefault(endpoint.spec.stream, []).append(endpoint)
    return [stream_asset(source, variants, partitions_def) for variants in streams.values()]


def stream_specs(*endpoint_lists: Sequence[Endpoint]) -> dict[dg.AssetKey, StreamSpec]:
    """The spec of every stream asset, by asset key: its first endpoint's (Jortt: the current API's;
    the legacy one lands the same columns)."""
    specs: dict[dg.AssetKey, StreamSpec] = {}
    for endpoint in (e for endpoints in endpoint_lists for e in endpoints):
        specs.setdefault(dg.AssetKey([endpoint.spec.system, endpoint.spec.stream]), endpoint.spec)
    return specs


def ingest(
    context: dg.AssetExecutionContext,
    tenant: Tenant,
    spec: StreamSpec,
    warehouse: DuckDBResource,
    config: IngestConfig,
    fetch: Callable[[Window], Iterable[Page]],
    stats: HttpStats,
    incremental: bool = True,
) -> dg.MaterializeResult:
    """Fetch (no warehouse lock held), then land every page in one short write transaction."""
    max_delete_share = config.delete_share()
    started = datetime.now(timezone.utc)  # the cursor never passes it
    with warehouse.get_connection() as conn:
        cursor = read_cursor(conn, tenant.id, spec.name)
    if cursor and cursor > cursor_text(started):
        # Set by a future-dated record before the cursor was capped: reading after it would find
        # nothing, ever. A full read catches up whatever it skipped.
        context.log.warning(f"{spec.name}: cursor {cursor} of tenant {tenant.id} is in the future; reading the stream whole")
        cursor = None
    window = window_for(cursor, config, incremental)
    with tempfile.TemporaryDirectory(prefix=f"spool-{spec.system}-{spec.stream}-") as tmp:
        pages, chunks = spool_records(fetch(window), Path(tmp), spec, tenant_id=tenant.id)
        with warehouse.get_connection() as conn:
            result = land_spool(conn, spec, tenant.id, chunks, track_cursor=not window.is_period, complete=window.is_full,
                                read_started=started, max_delete_share=max_delete_share)
            rows, duplicates = _table_rows(conn, spec, tenant.id)
    _warn(context, spec, tenant, result)
    return dg.MaterializeResult(
        metadata={**_metadata(tenant, result, window, pages, stats), "dagster/row_count": rows},
        check_results=check_results(context, spec, result, duplicates, config.max_reject_ratio, max_delete_share),
    )


def _warn(context: dg.AssetExecutionContext, spec: StreamSpec, tenant: Tenant, result: LandResult) -> None:
    if result.rejected:
        context.log.warning(f"{spec.name}: {result.rejected} record(s) rejected for tenant {tenant.id}; see sync.rejects")
    if result.warned:
        context.log.warning(f"{spec.name}: {result.warned} record(s) of tenant {tenant.id} landed without an optional "
                            "field that did not convert; see sync.rejects (stage ingest-warning)")
    if result.future_dated:
        context.log.warning(f"{spec.name}: {result.future_dated} record(s) of tenant {tenant.id} dated in the future "
                            f"({spec.cursor_column}), e.g. {', '.join(result.future_dated_keys)}; "
                            f"landed; the cursor stays at the newest change not in the future")
    if result.deletions_held:
        context.log.error(f"{spec.name}: a full read of tenant {tenant.id} would mark {result.deletions_held} of "
                          f"{result.live_rows} live rows deleted; none was marked (mass_deletion_guard)")


def _metadata(tenant: Tenant, result: LandResult, window: Window, pages: int, stats: HttpStats) -> dict:
    read = (
        "full read" if window.is_full
        else f"since {window.since.astimezone(timezone.utc).isoformat()}" if window.since
        else f"period {window.start or '…'} to {window.end or '…'}"
    )
    return {
        "tenant": tenant.id,
        "rows_received": result.received,
        "rows_new": result.new,
        "rows_updated": result.updated,
        "rows_unchanged": result.unchanged,
        "rows_rejected": result.rejected,
        "rows_with_warnings": result.warned,
        "rows_disappeared": result.disappeared,
        "rows_deletions_held": result.deletions_held,
        "rows_future_dated": result.future_dated,
        "future_dated_sample": ", ".join(result.future_dated_keys),
        "pages": pages,
        "requests": stats.requests,
        "retries": stats.retries,
        "rate_limited_429": stats.rate_limited,
        "read": read,
        "cursor_before": result.cursor_before or "",
        "cursor_after": result.cursor_after or "",
    }


def _table_rows(conn, spec: StreamSpec, tenant_id: str) -> tuple[int, int]:
    """(the tenant's rows in the staging table, rows sharing a key with another)."""
    return conn.execute(
        f"SELECT count(*), count(*) - count(DISTINCT {spec.key.name}) FROM {spec.staging_table} WHERE tenant_id = ?",
        [tenant_id],
    ).fetchone()


def skip(context: dg.AssetExecutionContext, tenant: Tenant, why: str) -> dg.MaterializeResult:
    """Nothing to read for this tenant (the system is not configured for it, or not ready): the
    stream's tables stay as they were, and the models downstream still build from what is there,
    so one missing source never holds back the others."""
    context.log.warning(f"{context.assets_def.key.to_user_string()}: skipped for tenant {tenant.id}: {why}")
    return dg.MaterializeResult(
        metadata={"tenant": tenant.id, "skipped": why},
        check_results=[
            dg.AssetCheckResult(asset_key=spec.asset_key, check_name=spec.name, passed=True,
                                description=f"not read for tenant {tenant.id}: {why}")
            for spec in context.assets_def.check_specs
        ],
    )


# ---------------------------------------------------------------- a document per record


@dataclass(frozen=True)
class Documents:
    """A document per record of a stream, one request each (B2Brouter's UBL of every received
    invoice), for the records that are new or changed since their document was fetched. `fetch`: the
    client's method (record id, document type) → bytes; `table`: where documents land, keyed by
    tenant, `record_key` and document type. One that cannot be had (gone, not UTF-8) goes to
    sync.rejects and is asked for again next run; the others land."""

    source: Source
    stream: str
    parent: StreamSpec
    document_type: str
    table: str
    description: str
    fetch: str = "document"
    record_key: str = "invoice_id"
    kind: str = "xml"
    batch: int = 50  # documents fetched, then landed in one short transaction: bounds memory and lost work

    @property
    def name(self) -> str:
        return f"{self.source.system}.{self.stream}"


def documents_asset(entry: Documents, partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    system = entry.source.system

    @dg.asset(key=[system, entry.stream], group_name="ingest", deps=[dg.AssetKey([system, entry.parent.stream])],
              kinds={system, "duckdb", entry.kind}, partitions_def=partitions_def, description=entry.description,
              required_resource_keys={system, "warehouse"})
    def documents(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        tenant, warehouse = tenant_of_run(context), context.resources.warehouse
        wanted = _documents_wanted(entry, warehouse, tenant.id)
        fetched, rejected = 0, []
        if wanted:
            with getattr(context.resources, system).client(tenant) as client:
                for start in range(0, len(wanted), entry.batch):
                    good, bad = _fetch_documents(entry, client, wanted[start: start + entry.batch])
                    _land_documents(entry, warehouse, tenant.id, good, bad)
                    fetched, rejected = fetched + len(good), rejected + bad
        if rejected:
            context.log.warning(f"{entry.name}: {len(rejected)} document(s) of tenant {tenant.id} not landed, e.g. "
                                + "; ".join(f"{i}: {why}" for i, why in rejected[:3]) + "; see sync.rejects (retried next run)")
        with warehouse.get_connection() as conn:
            total = conn.execute(f"SELECT count(*) FROM {entry.table} WHERE tenant_id = ?", [tenant.id]).fetchone()[0]
        return dg.MaterializeResult(metadata={"tenant": tenant.id, "documents_fetched": fetched,
                                              "documents_rejected": len(rejected), "dagster/row_count": total})

    return documents


def _documents_wanted(entry: Documents, warehouse: DuckDBResource, tenant_id: str) -> list[str]:
    """Records whose document is missing or older than the record (rejected ones included)."""
    with warehouse.get_connection() as conn:
        return [i for (i,) in conn.execute(
            f"""SELECT i.id FROM {entry.parent.staging_table} i
               LEFT JOIN {entry.table} d
                 ON d.tenant_id = i.tenant_id AND d.{entry.record_key} = i.id AND d.document_type = ?
               WHERE i.tenant_id = ? AND i.deleted_at IS NULL AND (d.fetched_at IS NULL OR d.fetched_at < i.loaded_at)
               ORDER BY i.id""", [entry.document_type, tenant_id]).fetchall()]


def _fetch_documents(entry: Documents, client, record_ids: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(record id, document text) of those fetched, (record id, reason) of those refused one by one
    (4xx, not UTF-8). The system unreachable or refusing our key fails the run: no document would come."""
    good, bad = [], []
    for record_id in record_ids:
        try:
            good.append((record_id, getattr(client, entry.fetch)(record_id, entry.document_type).decode("utf-8")))
        except UnicodeDecodeError as error:
            bad.append((record_id, f"not UTF-8: byte 0x{error.object[error.start]:02x} at offset {error.start}"))
        except RemoteError as error:
            if isinstance(error, CredentialsError) or error.status is None or error.status >= 500 or error.status == 429:
                raise
            bad.append((record_id, str(error)))
    return good, bad


def _land_documents(entry: Documents, warehouse: DuckDBResource, tenant_id: str, good: list[tuple[str, str]],
                    bad: list[tuple[str, str]]) -> None:
    """Documents landed and their old rejects cleared; failures recorded as rejects (field `document`)."""
    with warehouse.get_connection() as conn:
        if good:
            conn.executemany(
                f"INSERT OR REPLACE INTO {entry.table} VALUES (?, ?, ?, ?, sha256(?4), {NOW_UTC})",
                [(tenant_id, i, entry.document_type, text) for i, text in good],
            )
            conn.executemany("DELETE FROM sync.rejects WHERE tenant_id = ? AND stage = 'ingest' AND source = ? AND record_key = ?",
                             [(tenant_id, entry.name, i) for i, _ in good])
        write_rejects(conn, [(tenant_id, "ingest", entry.name, i, "document", f"{entry.document_type}: {why}", None)
                             for i, why in bad])
