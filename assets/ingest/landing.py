"""What every ingest asset does: read the cursor, spool the pages, land them, report and check.

The fetch holds no warehouse connection; the landing is one short write transaction. Each stream
reports rows new/updated/unchanged/rejected/disappeared, pages, requests, retries, 429s and its
cursor before and after, and checks its keys, its schema, its reject ratio and (full reads) that it
did not mark too many rows deleted.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from resources.http import HttpStats
from resources.pages import Page, records_of
from resources.tenants import Tenant
from resources.warehouse import LandResult, StreamSpec, cursor_text, ensure_schema, land_spool, read_cursor


CHUNK_RECORDS = 20_000  # records landed per DuckDB statement: bounds landing memory


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
        share = self.max_delete_share if self.max_delete_share is not None else float(
            os.getenv("INGEST_MAX_DELETE_SHARE", "0.2"))
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
    is shared by every run (Rutter's)."""
    key = dg.AssetKey([system, stream])
    return dg.asset(key=key, group_name="ingest", kinds={system, "duckdb"}, partitions_def=partitions_def,
                    check_specs=check_specs(key), description=description, pool=pool)


def check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec("unique_keys", asset=key, description="No two rows of a tenant share a primary key."),
        dg.AssetCheckSpec("schema_drift", asset=key, description="The API sent only the fields the stream expects."),
        dg.AssetCheckSpec("reject_ratio", asset=key, description="Rejected records stay under max_reject_ratio."),
        dg.AssetCheckSpec("mass_deletion_guard", asset=key,
                          description="A full read marks at most max_delete_share of the live rows deleted; "
                                      "above it, it marks none."),
    ]


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
        ensure_schema(conn)
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
        check_results=_check_results(context, spec, result, duplicates, config, max_delete_share),
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


def _check_results(context, spec: StreamSpec, result: LandResult, duplicates: int, config: IngestConfig,
                   max_delete_share: float) -> list[dg.AssetCheckResult]:
    key = context.assets_def.key
    ratio = result.rejected / result.received if result.received else 0.0
    held = result.deletions_held
    return [
        dg.AssetCheckResult(asset_key=key, check_name="unique_keys", passed=duplicates == 0,
                            metadata={"duplicate_keys": duplicates, "repeated_in_this_read": result.duplicate_keys}),
        dg.AssetCheckResult(asset_key=key, check_name="schema_drift", passed=not result.unexpected_fields,
                            severity=dg.AssetCheckSeverity.WARN,
                            metadata={"unexpected_fields": result.unexpected_fields,
                                      "expected_fields_absent": result.missing_fields}),
        dg.AssetCheckResult(asset_key=key, check_name="reject_ratio", passed=ratio <= config.max_reject_ratio,
                            metadata={"rejected": result.rejected, "ratio": round(ratio, 4),
                                      "max_reject_ratio": config.max_reject_ratio}),
        dg.AssetCheckResult(asset_key=key, check_name="mass_deletion_guard", passed=held == 0,
                            description=(
                                f"{spec.name}: the full read would mark {held} of {result.live_rows} live rows deleted "
                                f"(more than {max_delete_share:.0%}); none was marked and the cursor held. Check the "
                                f"source; if the deletions are real, rerun with max_delete_share: 1.0") if held else None,
                            metadata={"stream": spec.name, "would_mark_deleted": held, "live_rows": result.live_rows,
                                      "marked_deleted": result.disappeared, "max_delete_share": max_delete_share}),
    ]


def _table_rows(conn, spec: StreamSpec, tenant_id: str) -> tuple[int, int]:
    """(the tenant's rows in the staging table, rows sharing a key with another)."""
    return conn.execute(
        f"SELECT count(*), count(*) - count(DISTINCT {spec.key.name}) FROM {spec.staging_table} WHERE tenant_id = ?",
        [tenant_id],
    ).fetchone()


def spool_records(pages: Iterable[Page], folder: Path, spec: StreamSpec, chunk_records: int = CHUNK_RECORDS,
                  tenant_id: str | None = None) -> tuple[int, list[Path]]:
    """Write every record on a line of its own, in chunk files of at most `chunk_records` records:
    DuckDB lands one chunk at a time, so memory stays flat however many records a stream has
    (benchmarks/). Returns the number of pages and the chunk files. A page without its records
    key raises MissingRecords (nothing is landed)."""
    count, chunks, in_chunk, out = 0, [], chunk_records, None
    system = f"{spec.system} (tenant {tenant_id})" if tenant_id else spec.system
    try:
        for page in pages:
            count += 1
            records = records_of(page.data, spec.records_key, system, f"{spec.name} page {count}", spec.single)
            for record in records:
                if record is None:
                    continue
                if in_chunk == chunk_records:
                    out and out.close()
                    chunks.append(folder / f"chunk-{len(chunks) + 1:05d}.ndjson")
                    out, in_chunk = open(chunks[-1], "w", encoding="utf-8"), 0
                out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
                out.write("\n")
                in_chunk += 1
    finally:
        if out:
            out.close()
    return count, chunks


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
