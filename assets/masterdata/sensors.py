"""The masterdata status sensor and its job.

It learns of new uploads from the push assets' materializations (the event log, not the warehouse:
a sensor must never wait on DuckDB's write lock), keeps the uploads in flight in its cursor, asks
Routty about a bounded number of them per tick, and requests a run of `masterdata/upload_status`
(which records outcomes in the warehouse) when any has settled.
"""

import json

import dagster as dg

from assets.masterdata.lists import LISTS
from assets.masterdata.status import KEY as UPLOAD_STATUS
from resources.polling import Tick, tenant_run
from resources.routty import RouttyResource
from resources.tenants import tenant_by_id

PUSH_ASSET_KEYS = [masterdata_list.push_key for masterdata_list in LISTS]
MAX_POLLS_PER_TICK = 50

masterdata_status_job = dg.define_asset_job(
    "routty_masterdata_status",
    selection=dg.AssetSelection.assets(UPLOAD_STATUS),
    description="Record the outcome of masterdata uploads still in flight.",
)


def _new_uploads(instance: dg.DagsterInstance, after_storage_id: int) -> tuple[dict[str, str], int]:
    """status id → "tenant/list" of every push materialized since the cursor; and the new cursor."""
    found, last_seen = {}, after_storage_id
    for key in PUSH_ASSET_KEYS:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after_storage_id), limit=1000, ascending=True
        ).records
        for record in records:
            last_seen = max(last_seen, record.storage_id)
            status_ids = record.asset_materialization.metadata.get("status_ids")
            for tenant, ids in (status_ids.value if status_ids else {}).items():
                found.update({status_id: f"{tenant}/{key.path[-1]}" for status_id in ids})
    return found, last_seen


@dg.sensor(
    name="routty_masterdata_status_sensor",
    job=masterdata_status_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Follows masterdata uploads until Routty reports Success or Failed, then records the outcome.",
)
def masterdata_status_sensor(context: dg.SensorEvaluationContext, routty: RouttyResource) -> dg.SensorResult:
    state = json.loads(context.cursor) if context.cursor else {"after": 0, "in_flight": {}}
    new, state["after"] = _new_uploads(context.instance, state["after"])
    in_flight: dict[str, str] = {**state["in_flight"], **new}

    tick, polled, settled = Tick(context.log), [], {}
    by_tenant: dict[str, list[str]] = {}
    for status_id in list(in_flight)[:MAX_POLLS_PER_TICK]:
        by_tenant.setdefault(str(in_flight[status_id]).split("/")[0], []).append(status_id)
    for tenant_id in tick.each(by_tenant):
        # Routty knows an upload only under the tenant's key that made it: the tenant's masterdata key.
        with tick.contained(tenant_id), routty.client(tenant_by_id(tenant_id), for_sensor=True) as client:
            for status_id in by_tenant[tenant_id]:
                if tick.spent():
                    tick.leave(tenant_id, "out of time")
                    break
                label = in_flight[status_id]
                polled.append(status_id)
                result = tick.read(f"masterdata upload {label} ({status_id})",
                                   lambda: client.masterdata_status(status_id))
                if result is not None and result.is_terminal:
                    settled[status_id] = (label, result.status)
                    context.log.info(f"masterdata upload {label} ({status_id}): {result.status} {result.errors or ''}")
    # Those polled go to the back of the queue (every upload gets its turn), those settled leave it.
    state["in_flight"] = {**{s: l for s, l in in_flight.items() if s not in polled},
                          **{s: in_flight[s] for s in polled if s not in settled}}

    requests = _status_runs(settled)
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(state),
                           skip_reason=None if requests else tick.summary("no upload settled"))


def _status_runs(settled: dict[str, tuple[str, str]]) -> list[dg.RunRequest]:
    """One status run per tenant with settled uploads, in its partition."""
    by_tenant: dict[str, list[str]] = {}
    for status_id, (label, status) in settled.items():
        by_tenant.setdefault(label.split("/")[0], []).append(f"{status_id}:{status}")
    return [tenant_run("masterdata-status", tenant, sorted(ids), tags={"routty/settled_uploads": str(len(ids))})
            for tenant, ids in sorted(by_tenant.items())]
