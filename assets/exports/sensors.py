"""The exports sensor and the exports job: a pickup-and-booking run per tenant for exports waiting in
Routty's output API."""

import json
import time

import dagster as dg

from resources.settings import ROUTTY_EXPORTS_RETRY_MINUTES
from assets.exports import GROUP
from assets.exports.pickup import PICKUP_KEY, PickupConfig
from resources.polling import Tick, tenant_run
from resources.routty import EXPORT_OUTPUT_KEY, RouttyResource
from resources.tenants import all_tenants

exports_job = dg.define_asset_job(
    "routty_exports",
    selection=dg.AssetSelection.groups(GROUP),
    description="Pick up Routty's exports, book them in the books through Rutter, send feedback, mark B2Brouter.",
)


def exports_retry_minutes() -> float:
    """How long an export may wait in Routty after its run was requested before it is requested again."""
    return ROUTTY_EXPORTS_RETRY_MINUTES.number()


def _due(requested: dict[str, float], waiting: list[str], now: float, retry_after: float) -> list[str]:
    """The waiting exports never requested, or requested longer ago than `retry_after` seconds (their
    run failed, or could not download, acknowledge or book them): nothing waits forever."""
    return sorted(d for d in waiting if now - requested.get(d, float("-inf")) >= retry_after)


@dg.sensor(
    name="routty_exports_sensor",
    job=exports_job,
    minimum_interval_seconds=60,  # Routty asks for at most one poll a minute
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts a pickup-and-booking run per tenant for exports waiting in Routty's output API: new "
                "ones, and again those still waiting ROUTTY_EXPORTS_RETRY_MINUTES after their run was requested.",
)
def exports_sensor(context: dg.SensorEvaluationContext, routty: RouttyResource) -> dg.SensorResult | dg.SkipReason:
    """One list request per tenant. The cursor keeps, per tenant, when each export still waiting was
    last requested; an export that leaves the list (acknowledged) leaves the cursor."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    now, retry_after = time.time(), exports_retry_minutes() * 60
    tick, requests = Tick(context.log), []
    tenants = {t.id: t for t in all_tenants()}
    for tenant_id in tick.each(tenants):
        with tick.contained(tenant_id):
            requested = _requested(cursor.get(tenant_id))
            with routty.client(tenants[tenant_id], EXPORT_OUTPUT_KEY, for_sensor=True) as client:
                waiting = [item["documentId"] for item in client.output_documents()]
            due = _due(requested, waiting, now, retry_after)
            cursor[tenant_id] = {d: (now if d in due else requested[d]) for d in waiting}
            if due:
                again = sum(d in requested for d in due)
                requests.append(tenant_run(  # `now` in the key: asking again is a new run
                    "exports", tenant_id, [now, due],
                    dg.RunConfig(ops={PICKUP_KEY.to_python_identifier(): PickupConfig(document_ids=due)}),
                    {"routty/exports": str(len(due)), "routty/exports_again": str(again)}))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor), skip_reason=None if requests
                           else tick.summary("no export newly waiting or waiting too long"))


def _requested(entry) -> dict[str, float]:
    """A tenant's cursor entry: when each export still waiting was last requested. An entry of the
    earlier shape (a list of ids) counts as requested long ago; one of no known shape as empty."""
    if isinstance(entry, dict):
        return entry
    return dict.fromkeys(entry if isinstance(entry, list) else [], 0.0)
