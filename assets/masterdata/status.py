"""Track masterdata uploads: ask Routty what became of each upload still in flight, record it.

A run (not the sensor) writes the outcome, because only runs may hold the warehouse. The sensor in
orchestration/sensors.py watches Routty cheaply and requests this asset when an outcome is known.
"""


import json

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.masterdata import GROUP
from assets.masterdata import delta as ledger
from resources.http import poll
from resources.routty import RouttyResource
from resources.tenants import Tenant, tenant_of_run


class StatusConfig(dg.Config):
    # Wait this long for Routty to finish uploads still in flight; what is still pending after
    # that is left to the sensor (Routty's processing is asynchronous and may take minutes).
    max_wait_seconds: float = 10.0


def poll_until_settled(routty: RouttyResource, tenant: Tenant, uploads: list[ledger.Upload],
                       max_wait_seconds: float) -> list:
    """Asked with the tenant's masterdata key, the key its uploads were made with."""
    settled = {}
    with routty.client(tenant) as client:

        def round_() -> bool:
            for upload in uploads:
                if upload.status_id not in settled or not settled[upload.status_id].is_terminal:
                    settled[upload.status_id] = client.masterdata_status(upload.status_id)
            return all(s.is_terminal for s in settled.values())

        poll(round_, max_wait_seconds)
    return list(settled.values())


UPLOAD_COLUMNS = ["list_type", "status", "records", "status_id", "errors", "first_error"]


def _status_metadata(latest: list[tuple]) -> dict:
    """Each list's latest upload as a table row (the detail), and a count per status, each its own
    integer entry (`lists_success`, `lists_failed`, ...) so the UI plots them per run."""
    rows, counts = [], {}
    for _tenant, list_type, status, status_id, records, errors in latest:
        found = json.loads(errors) if errors else []
        first = found[0].get("message", "") if found and isinstance(found[0], dict) else (str(found[0]) if found else "")
        rows.append(dg.TableRecord({"list_type": list_type, "status": status, "records": int(records),
                                    "status_id": status_id or "", "errors": len(found), "first_error": first}))
        counts[status] = counts.get(status, 0) + 1
    table = dg.MetadataValue.table(records=rows, schema=dg.TableSchema(columns=[
        dg.TableColumn(c, "int" if c in ("records", "errors") else "string") for c in UPLOAD_COLUMNS]))
    return {"latest_uploads": table, "records_in_latest_uploads": sum(r.data["records"] for r in rows),
            **{f"lists_{s.lower()}": n for s, n in counts.items()}}


KEY = dg.AssetKey(["masterdata", "upload_status"])


def masterdata_status_assets(
    push_keys: list[dg.AssetKey], partitions_def: dg.PartitionsDefinition | None
) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    @dg.asset(
        key=KEY,
        group_name=GROUP,
        deps=push_keys,
        partitions_def=partitions_def,
        kinds={"routty"},
        description="Outcome of the tenant's masterdata uploads still in flight, from Routty's status endpoint.",
    )
    def masterdata_upload_status(
        context: dg.AssetExecutionContext, config: StatusConfig, routty: RouttyResource, warehouse: DuckDBResource
    ) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        with warehouse.get_connection() as conn:
            uploads = ledger.in_flight(conn, tenant.id)
        results = poll_until_settled(routty, tenant, uploads, config.max_wait_seconds) if uploads else []
        with warehouse.get_connection() as conn:
            for result in results:
                ledger.record_status(conn, result)
            latest = ledger.latest_by_list(conn, tenant.id)
        return dg.MaterializeResult(metadata={"tenant": tenant.id, "uploads_checked": len(results), **_status_metadata(latest)})

    @dg.asset_check(asset=masterdata_upload_status, description="The latest upload of every masterdata list was accepted by Routty.")
    def masterdata_uploads_accepted(context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource) -> dg.AssetCheckResult:
        with warehouse.get_connection() as conn:
            latest = ledger.latest_by_list(conn, tenant_of_run(context).id)
        failed = {f"{t}/{lt}": json.loads(errors) if errors else [] for t, lt, status, _, _, errors in latest if status == "Failed"}
        return dg.AssetCheckResult(
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(f"{k}: {e[0].get('message') if e else 'Failed'}" for k, e in failed.items()) or None,
            metadata={"failed_lists": dg.MetadataValue.json(failed)},
        )

    return masterdata_upload_status, masterdata_uploads_accepted
