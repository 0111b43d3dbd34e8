"""The invoices status sensor and its job: follows documents sent into Routty's input API until they
are final. It learns which documents are in flight from the instance's key-value storage
(in_flight.py), where the runs keep them: thousands of ids do not fit a cursor stored with every tick.
"""

import json
from contextlib import ExitStack

import dagster as dg

from assets.invoices.in_flight import read_in_flight
from assets.invoices.status import KEY as STATUS_KEY, KEY_OF_FLOW, ObservedStatus, StatusConfig
from resources.polling import Tick, tenant_run
from resources.routty import RouttyResource
from resources.tenants import all_tenants

invoices_status_job = dg.define_asset_job(
    "routty_invoices_status",
    selection=dg.AssetSelection.assets(STATUS_KEY),
    description="Record the status transitions of invoices sent into Routty (the sensor passes what it saw).",
)


MAX_DOCUMENT_POLLS_PER_TICK = 200


def _rotated(documents: list[dict], after: str) -> list[dict]:
    """The tenant's documents in flight, starting after the last one polled: every document gets its
    turn, however many there are."""
    ordered = sorted(documents, key=lambda d: d["document_id"])
    return [d for d in ordered if d["document_id"] > after] + [d for d in ordered if d["document_id"] <= after]


def _poll_tenant(routty: RouttyResource, tenant, documents: list[dict], budget: int,
                 tick: Tick) -> tuple[list[ObservedStatus], str | None]:
    """(what changed, the last document polled) for at most `budget` documents, while the tick lasts."""
    changed, last = [], None
    with ExitStack() as stack:
        clients: dict[str, object] = {}

        def client(flow: str):
            if flow not in clients:
                clients[flow] = stack.enter_context(routty.client(tenant, KEY_OF_FLOW[flow], for_sensor=True))
            return clients[flow]

        batch = documents[:budget]
        for n, doc in enumerate(batch):
            if tick.spent():
                tick.leave(tenant.id, f"{len(batch) - n} document(s) not polled")
                break
            last = doc["document_id"]
            seen = tick.read(f"document {doc['correlation_id']} ({doc['document_id']})",
                             lambda: client(doc["flow"]).input_document_status(doc["document_id"], doc["correlation_id"]))
            if seen is not None and seen.status != doc["status"]:
                changed.append(ObservedStatus(document_id=seen.document_id, status=seen.status,
                                              status_changed_on=seen.status_changed_on, error_code=seen.error_code,
                                              error_message=seen.error_message))
    return changed, last


@dg.sensor(
    name="routty_invoices_status_sensor",
    job=invoices_status_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Follows documents sent into Routty until they are final; a run records every transition.",
)
def invoices_status_sensor(context: dg.SensorEvaluationContext, routty: RouttyResource) -> dg.SensorResult | dg.SkipReason:
    """Reads the in-flight lists the runs keep in the instance (never the warehouse), polls a
    bounded slice per tenant (the cursor says where each tenant's next slice starts), and requests
    a status run per tenant with what changed."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    tenants = [(t, docs) for t in all_tenants() if (docs := read_in_flight(context.instance, t.id))]
    if not tenants:
        return dg.SkipReason("no document in flight")
    tick, budget = Tick(context.log), max(10, MAX_DOCUMENT_POLLS_PER_TICK // len(tenants))
    requests, documents_of = [], {t.id: (t, d) for t, d in tenants}
    for tenant_id in tick.each(documents_of):
        tenant, documents = documents_of[tenant_id]
        with tick.contained(tenant_id):
            changed, last = _poll_tenant(routty, tenant, _rotated(documents, cursor.get(tenant_id, "")), budget, tick)
            cursor[tenant_id] = last or cursor.get(tenant_id, "")
            if changed:
                requests.append(tenant_run(
                    "invoices-status", tenant_id, [o.model_dump() for o in changed],
                    dg.RunConfig(ops={STATUS_KEY.to_python_identifier(): StatusConfig(observed=changed)}),
                    {"routty/document_changes": str(len(changed))}))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor),
                           skip_reason=None if requests else tick.summary("no document changed"))
