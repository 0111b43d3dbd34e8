"""Sensors that track Routty.

The document-status sensor (below) follows documents sent into Routty's input API the same way,
except that it learns which documents are in flight from the small file the runs keep per tenant
(assets/routty/documents_in_flight.py): thousands of ids do not fit a cursor stored with every tick.

The masterdata status sensor learns of new uploads from the push assets' materializations (the
event log, not the warehouse: a sensor must never wait on DuckDB's write lock), keeps the uploads in
flight in its cursor, asks Routty about a bounded number of them per tick, and requests a run of
`masterdata_upload_status` (which records outcomes in the warehouse) when any has settled.
"""


import hashlib
import json
import os
import time
from contextlib import ExitStack

import dagster as dg

from assets.routty.catalog import DOCUMENTS
from assets.routty.document_status import KEY_OF_FLOW
from assets.routty.documents_in_flight import read_in_flight
from orchestration.jobs import document_status_job, exports_job, masterdata_status_job
from resources.http import RemoteError
from resources.routty import EXPORT_OUTPUT_KEY, RouttyResource
from resources.tenants import all_tenants, tenant_partitions

PUSH_ASSET_KEYS = [doc.push_key for doc in DOCUMENTS]
MAX_POLLS_PER_TICK = 50
POLL_BUDGET_SECONDS = 30.0  # well inside Dagster's 60 s sensor limit


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

    settled, started = {}, time.monotonic()
    with routty.client() as client:
        for status_id in list(in_flight)[:MAX_POLLS_PER_TICK]:
            if time.monotonic() - started > POLL_BUDGET_SECONDS:
                break
            label = in_flight.pop(status_id)
            try:
                result = client.masterdata_status(status_id)
            except RemoteError as error:  # one upload's trouble must not stop the others' tracking
                context.log.warning(f"masterdata upload {label} ({status_id}): status not read, next tick again: {error}")
                in_flight[status_id] = label
                continue
            if result.is_terminal:
                settled[status_id] = (label, result.status)
                context.log.info(f"masterdata upload {label} ({status_id}): {result.status} {result.errors or ''}")
            else:
                in_flight[status_id] = label  # back of the queue: every upload gets its turn
    state["in_flight"] = in_flight

    return dg.SensorResult(run_requests=_status_runs(settled), cursor=json.dumps(state))


def _status_runs(settled: dict[str, tuple[str, str]]) -> list[dg.RunRequest]:
    """One status run per tenant with settled uploads (per partition when tenants are partitions)."""
    by_tenant: dict[str, list[str]] = {}
    for status_id, (label, status) in settled.items():
        by_tenant.setdefault(label.split("/")[0], []).append(f"{status_id}:{status}")
    partitioned = tenant_partitions() is not None
    return [
        dg.RunRequest(
            run_key=f"masterdata-status-{tenant}-{hashlib.sha256(json.dumps(sorted(ids)).encode()).hexdigest()[:16]}",
            partition_key=tenant if partitioned else None,
            tags={"routty/settled_uploads": str(len(ids))},
        )
        for tenant, ids in sorted(by_tenant.items())
    ]


# ---------------------------------------------------------------- input documents

MAX_DOCUMENT_POLLS_PER_TICK = 200
DOCUMENT_STATUS_OP = "routty__document_status"


def _rotated(documents: list[dict], after: str) -> list[dict]:
    """The tenant's documents in flight, starting after the last one polled: every document gets its
    turn, however many there are."""
    ordered = sorted(documents, key=lambda d: d["document_id"])
    return [d for d in ordered if d["document_id"] > after] + [d for d in ordered if d["document_id"] <= after]


def _poll_tenant(routty: RouttyResource, tenant, documents: list[dict], budget: int, deadline: float,
                 log) -> tuple[list[dict], str | None]:
    """(what changed, the last document polled) for at most `budget` documents, before `deadline`."""
    changed, last = [], None
    clients: dict[str, object] = {}
    with ExitStack() as stack:
        for doc in documents[:budget]:
            if time.monotonic() > deadline:
                break
            if doc["flow"] not in clients:
                clients[doc["flow"]] = stack.enter_context(routty.client(tenant, KEY_OF_FLOW[doc["flow"]]))
            try:
                seen = clients[doc["flow"]].input_document_status(doc["document_id"], doc["correlation_id"])
            except RemoteError as error:  # one document's trouble must not stop the others' tracking
                log.warning(f"document {doc['correlation_id']} ({doc['document_id']}): status not read: {error}")
                continue
            finally:
                last = doc["document_id"]
            if seen.status != doc["status"]:
                changed.append({"document_id": seen.document_id, "status": seen.status,
                                "status_changed_on": seen.status_changed_on, "error_code": seen.error_code,
                                "error_message": seen.error_message})
    return changed, last


@dg.sensor(
    name="routty_document_status_sensor",
    job=document_status_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Follows documents sent into Routty until they are final; a run records every transition.",
)
def document_status_sensor(context: dg.SensorEvaluationContext, routty: RouttyResource) -> dg.SensorResult | dg.SkipReason:
    """Reads the in-flight lists the runs leave beside the outbox (never the warehouse), polls a
    bounded slice per tenant (the cursor says where each tenant's next slice starts), and requests
    a status run per tenant with what changed."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    tenants = [(t, docs) for t in all_tenants() if (docs := read_in_flight(t.id))]
    if not tenants:
        return dg.SkipReason("no document in flight")
    deadline, budget = time.monotonic() + POLL_BUDGET_SECONDS, max(10, MAX_DOCUMENT_POLLS_PER_TICK // len(tenants))
    requests, partitioned = [], tenant_partitions() is not None
    for tenant, documents in tenants:
        changed, last = _poll_tenant(routty, tenant, _rotated(documents, cursor.get(tenant.id, "")), budget,
                                     deadline, context.log)
        cursor[tenant.id] = last or cursor.get(tenant.id, "")
        if changed:
            digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:16]
            requests.append(dg.RunRequest(
                run_key=f"document-status-{tenant.id}-{digest}",
                partition_key=tenant.id if partitioned else None,
                run_config={"ops": {DOCUMENT_STATUS_OP: {"config": {"observed": changed}}}},
                tags={"routty/document_changes": str(len(changed))},
            ))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor))


# ---------------------------------------------------------------- exports waiting for pickup

EXPORT_PICKUP_OP = "routty__export_pickup"


def exports_retry_minutes() -> float:
    """How long an export may wait in Routty after its run was requested before it is requested again."""
    return float(os.getenv("ROUTTY_EXPORTS_RETRY_MINUTES", "30"))


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
    requests, partitioned = [], tenant_partitions() is not None
    for tenant in all_tenants():
        # A cursor of the earlier shape (a list of ids) counts as requested long ago.
        requested = cursor.get(tenant.id) or {}
        requested = requested if isinstance(requested, dict) else dict.fromkeys(requested, 0.0)
        try:
            with routty.client(tenant, EXPORT_OUTPUT_KEY) as client:
                waiting = [item["documentId"] for item in client.output_documents()]
        except RemoteError as error:  # one tenant's trouble must not stop the others' pickup
            context.log.warning(f"exports of tenant {tenant.id} not listed: {error}")
            continue
        due = _due(requested, waiting, now, retry_after)
        cursor[tenant.id] = {d: (now if d in due else requested[d]) for d in waiting}
        if not due:
            continue
        again = sum(d in requested for d in due)
        digest = hashlib.sha256(f"{now} {' '.join(due)}".encode()).hexdigest()[:16]  # a request again is a new run
        requests.append(dg.RunRequest(
            run_key=f"exports-{tenant.id}-{digest}",
            partition_key=tenant.id if partitioned else None,
            run_config={"ops": {EXPORT_PICKUP_OP: {"config": {"document_ids": due}}}},
            tags={"routty/exports": str(len(due)), "routty/exports_again": str(again)},
        ))
    if not requests:
        return dg.SensorResult(skip_reason="no export newly waiting or waiting too long", cursor=json.dumps(cursor))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor))
