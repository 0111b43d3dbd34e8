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
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TypeVar

import dagster as dg

from assets.routty.catalog import DOCUMENTS
from assets.routty.document_status import KEY_OF_FLOW
from assets.routty.documents_in_flight import read_in_flight
from orchestration.jobs import document_status_job, exports_job, masterdata_status_job
from resources.http import CredentialsError
from resources.routty import EXPORT_OUTPUT_KEY, RouttyResource
from resources.tenants import all_tenants, tenant_by_id

PUSH_ASSET_KEYS = [doc.push_key for doc in DOCUMENTS]
MAX_POLLS_PER_TICK = 50
POLL_BUDGET_SECONDS = 30.0  # well inside Dagster's 60 s sensor limit
T = TypeVar("T")


class Tick:
    """One evaluation's budget, and what it left undone. No call starts once the budget is spent
    (with the clients' SENSOR_POLICY a call started in time ends long before 60 s); the rest waits
    for the next tick. An error of any kind costs only its item, or its tenant: a sensor that raises
    would stop the tracking of every tenant."""

    def __init__(self, log):
        self.log, self.deadline, self.left = log, time.monotonic() + POLL_BUDGET_SECONDS, {}

    def spent(self) -> bool:
        return time.monotonic() > self.deadline

    def each(self, tenant_ids: Iterable[str]) -> Iterator[str]:
        """The tenants this tick still has time for; the others are noted as left."""
        for tenant_id in tenant_ids:
            if self.spent():
                self.leave(tenant_id, "out of time")
            else:
                yield tenant_id

    def leave(self, tenant_id: str, why: str) -> None:
        self.left[tenant_id] = why

    @contextmanager
    def contained(self, tenant_id: str) -> Iterator[None]:
        """The tenant's part of the tick; an error ends that part only (what it had not yet
        recorded, in the cursor too, stays as it was) and is logged naming the tenant."""
        try:
            yield
        except CredentialsError as error:
            self.leave(tenant_id, "key refused")
            self.log.warning(f"tenant {tenant_id}: skipped until its key is fixed: {error}")
        except Exception as error:  # noqa: BLE001 - one tenant's trouble must not stop the others
            self.leave(tenant_id, type(error).__name__)
            self.log.warning(f"tenant {tenant_id}: skipped this tick, next tick again: {type(error).__name__}: {error}")

    def read(self, what: str, call: Callable[[], T]) -> T | None:
        """call(), or None when it failed: that item waits for the next tick, the others go on. A
        refused key is the tenant's trouble (every call would fail alike): it ends the tenant's part."""
        try:
            return call()
        except CredentialsError:
            raise
        except Exception as error:  # noqa: BLE001 - one item's trouble must not stop the others' tracking
            self.log.warning(f"{what}: not read, next tick again: {type(error).__name__}: {error}")
            return None

    def summary(self, nothing: str) -> str:
        """The skip reason of a tick without run requests: what it left, if anything."""
        return nothing + "".join(f"; {t}: {why}" for t, why in sorted(self.left.items()))


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
    return [
        dg.RunRequest(
            run_key=f"masterdata-status-{tenant}-{hashlib.sha256(json.dumps(sorted(ids)).encode()).hexdigest()[:16]}",
            partition_key=tenant,
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


def _poll_tenant(routty: RouttyResource, tenant, documents: list[dict], budget: int,
                 tick: Tick) -> tuple[list[dict], str | None]:
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
    tick, budget = Tick(context.log), max(10, MAX_DOCUMENT_POLLS_PER_TICK // len(tenants))
    requests, documents_of = [], {t.id: (t, d) for t, d in tenants}
    for tenant_id in tick.each(documents_of):
        tenant, documents = documents_of[tenant_id]
        with tick.contained(tenant_id):
            changed, last = _poll_tenant(routty, tenant, _rotated(documents, cursor.get(tenant_id, "")), budget, tick)
            cursor[tenant_id] = last or cursor.get(tenant_id, "")
            if changed:
                digest = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:16]
                requests.append(dg.RunRequest(
                    run_key=f"document-status-{tenant_id}-{digest}",
                    partition_key=tenant_id,
                    run_config={"ops": {DOCUMENT_STATUS_OP: {"config": {"observed": changed}}}},
                    tags={"routty/document_changes": str(len(changed))},
                ))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor),
                           skip_reason=None if requests else tick.summary("no document changed"))


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
                digest = hashlib.sha256(f"{now} {' '.join(due)}".encode()).hexdigest()[:16]  # again: a new run
                requests.append(dg.RunRequest(
                    run_key=f"exports-{tenant_id}-{digest}",
                    partition_key=tenant_id,
                    run_config={"ops": {EXPORT_PICKUP_OP: {"config": {"document_ids": due}}}},
                    tags={"routty/exports": str(len(due)), "routty/exports_again": str(again)},
                ))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor), skip_reason=None if requests
                           else tick.summary("no export newly waiting or waiting too long"))


def _requested(entry) -> dict[str, float]:
    """A tenant's cursor entry: when each export still waiting was last requested. An entry of the
    earlier shape (a list of ids) counts as requested long ago; one of no known shape as empty."""
    if isinstance(entry, dict):
        return entry
    return dict.fromkeys(entry if isinstance(entry, list) else [], 0.0)
