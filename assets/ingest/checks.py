"""The checks every ingest asset carries: unique keys, schema drift, reject ratio, mass-deletion guard."""

from __future__ import annotations

import dagster as dg

from assets.ingest.engine.land import LandResult
from assets.ingest.tables import StreamSpec


def check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec("unique_keys", asset=key, description="No two rows of a tenant share a primary key."),
        dg.AssetCheckSpec("schema_drift", asset=key, description="The API sent only the fields the stream expects."),
        dg.AssetCheckSpec("reject_ratio", asset=key, description="Rejected records stay under max_reject_ratio."),
        dg.AssetCheckSpec("mass_deletion_guard", asset=key,
                          description="A full read marks at most max_delete_share of the live rows deleted; "
                                      "above it, it marks none."),
    ]


def check_results(context, spec: StreamSpec, result: LandResult, duplicates: int, max_reject_ratio: float,
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
        dg.AssetCheckResult(asset_key=key, check_name="reject_ratio", passed=ratio <= max_reject_ratio,
                            metadata={"rejected": result.rejected, "ratio": round(ratio, 4),
                                      "max_reject_ratio": max_reject_ratio}),
        dg.AssetCheckResult(asset_key=key, check_name="mass_deletion_guard", passed=held == 0,
                            description=(
                                f"{spec.name}: the full read would mark {held} of {result.live_rows} live rows deleted "
                                f"(more than {max_delete_share:.0%}); none was marked and the cursor held. Check the "
                                f"source; if the deletions are real, rerun with max_delete_share: 1.0") if held else None,
                            metadata={"stream": spec.name, "would_mark_deleted": held, "live_rows": result.live_rows,
                                      "marked_deleted": result.disappeared, "max_delete_share": max_delete_share}),
    ]
