"""The documents Routty still works on, per tenant, kept in the Dagster instance's key-value storage.

Written by the runs that change it (uploads, status), read by the invoices status sensor. The
instance's storage (PostgreSQL in production) is what every run and the daemon share: no disk is
shared between them. A sensor must not wait on DuckDB's write lock, and thousands of document ids
belong neither in a sensor cursor (stored with every tick) nor in run metadata.
"""

import json

import dagster as dg

KEY_PREFIX = "routty-sync/invoices-in-flight/"


def write_in_flight(instance: dg.DagsterInstance, tenant_id: str, rows: list[tuple[str, str, str, str]]) -> None:
    """(document id, correlation id, flow, status) of each document in flight; replaces the tenant's list."""
    value = json.dumps([{"document_id": d, "correlation_id": c, "flow": f, "status": s} for d, c, f, s in rows])
    instance.run_storage.set_cursor_values({KEY_PREFIX + tenant_id: value})


def read_in_flight(instance: dg.DagsterInstance, tenant_id: str) -> list[dict]:
    value = instance.run_storage.get_cursor_values({KEY_PREFIX + tenant_id}).get(KEY_PREFIX + tenant_id)
    return json.loads(value) if value else []
