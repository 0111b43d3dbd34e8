"""Track input documents in Routty: record every status transition, show where each one stands.

The document-status sensor (orchestration/sensors.py) polls Routty and hands what changed to this
asset in its run config; a run without observations (the main job, a manual run) asks Routty about
the documents in flight itself. Either way a run, not the sensor, writes the warehouse:
`sync.routty_documents` (current status) and `sync.routty_document_status_history` (transitions).

`sync.sales_invoice_status` shows, per sales invoice, where it stands in the books, in Routty and in
B2Brouter (the issued invoice's state, kept in step by the incremental B2Brouter ingest).
"""


from contextlib import ExitStack

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.invoices import GROUP
from assets.ingest.endpoints.b2brouter import ISSUED_INVOICES
from assets.invoices import ledger
from assets.invoices.in_flight import write_in_flight
from assets.invoices.documents import FLOWS
from resources.http import poll
from resources.routty import InputDocumentStatus, RouttyResource
from resources.tenants import Tenant, tenant_of_run
from assets.ingest.tables import ensure_stream_tables
from resources.warehouse import table_exists

KEY = dg.AssetKey(["invoices", "status"])
KEY_OF_FLOW = {flow.flow: flow.key_name for flow in FLOWS}


class ObservedStatus(dg.Config):
    document_id: str
    status: str
    status_changed_on: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class StatusConfig(dg.Config):
    observed: list[ObservedStatus] = []  # from the sensor; empty: poll the documents in flight here
    max_polls: int = 5000
    # Without observations: wait up to this long for documents still processing (then the sensor follows).
    max_wait_seconds: float = 10.0


def poll_in_flight(routty: RouttyResource, tenant: Tenant, in_flight: list[tuple], max_polls: int,
                   max_wait_seconds: float) -> list[InputDocumentStatus]:
    seen, pending = {}, in_flight[:max_polls]
    with ExitStack() as stack:  # one client per flow's key for all the rounds
        clients = {f: stack.enter_context(routty.client(tenant, KEY_OF_FLOW[f])) for f in {d[2] for d in pending}}

        def round_() -> bool:
            nonlocal pending
            for document_id, correlation_id, flow, _ in pending:
                seen[document_id] = clients[flow].input_document_status(document_id, correlation_id)
            pending = [d for d in pending if not seen[d[0]].is_final]
            return not pending

        poll(round_, max_wait_seconds)
    return list(seen.values())


SALES_INVOICE_STATUS_VIEW = """
CREATE OR REPLACE VIEW sync.sales_invoice_status AS
SELECT s.tenant_id, s.source_system, s.source_id, s.number, s.status AS books_status,
       d.correlation_id, d.document_id, COALESCE(d.status, d.step, 'not sent') AS routty_status,
       d.error_code AS routty_error_code, d.error_message AS routty_error_message,
       b.id AS b2brouter_invoice_id, b.state AS b2brouter_state, b.updated_at AS b2brouter_updated_at
FROM model.routty_sales_invoices s
LEFT JOIN (SELECT * FROM sync.routty_documents WHERE flow = 'Outbound'
           QUALIFY row_number() OVER (PARTITION BY tenant_id, source_system, source_id ORDER BY revision DESC) = 1) d
       ON d.tenant_id = s.tenant_id AND d.source_system = s.source_system AND d.source_id = s.source_id
LEFT JOIN staging.b2brouter_issued_invoices b
       ON b.tenant_id = s.tenant_id AND b.number = s.number AND b.deleted_at IS NULL
"""


def _sales_invoice_states(conn, tenant_id: str) -> dict:
    ensure_stream_tables(conn, ISSUED_INVOICES)
    if not table_exists(conn, "model.routty_sales_invoices"):
        return {}
    conn.execute(SALES_INVOICE_STATUS_VIEW)
    rows = conn.execute("""SELECT routty_status || ' / ' || COALESCE(b2brouter_state, 'not in B2Brouter'), count(*)
                           FROM sync.sales_invoice_status WHERE tenant_id = ? AND routty_status <> 'not sent'
                           GROUP BY ALL ORDER BY 2 DESC""", [tenant_id]).fetchall()
    return dict(rows)


def _table(rows: list[tuple], columns: list[str], types: dict[str, str] | None = None) -> dg.TableMetadataValue:
    types = types or {}
    return dg.MetadataValue.table(
        records=[dg.TableRecord({c: (v if types.get(c) == "int" else "" if v is None else str(v))
                                 for c, v in zip(columns, row)}) for row in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(c, types.get(c, "string")) for c in columns]),
    )


def status_counts_metadata(counts: dict[str, int]) -> dict[str, int]:
    """{"Inbound Error": 17, ...} as one integer entry each, `documents_inbound_error`: a number the
    UI plots per run (a JSON of counts it cannot)."""
    return {f"documents_{status.replace(' ', '_').lower()}": n for status, n in counts.items()}


SHOWN_FAILED = 200
FAILED_COLUMNS = ["status_changed_on", "number", "status", "error_code", "error_message", "correlation_id", "flow"]


def failed_documents(conn, tenant_id: str) -> list[tuple]:
    """The company's documents Routty refused (Error, Rejected) and not yet resent, newest first, with
    Routty's code and message: the per-company view of what a person has to fix."""
    return conn.execute(
        f"""SELECT COALESCE(status_changed_on, strftime(COALESCE(checked_at, uploaded_at), '%Y-%m-%dT%H:%M:%SZ')),
                   document_number, status, error_code, error_message, correlation_id, flow
            FROM sync.routty_documents
            WHERE tenant_id = ? AND step = 'uploaded' AND status IN {ledger.RESENDABLE} AND NOT resend_requested
            ORDER BY status_changed_on DESC NULLS LAST, checked_at DESC NULLS LAST, correlation_id
            LIMIT {SHOWN_FAILED}""", [tenant_id]).fetchall()


def invoice_status_assets(partitions_def: dg.PartitionsDefinition | None) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    @dg.asset(
        key=KEY,
        group_name=GROUP,
        deps=[*(flow.upload_key for flow in FLOWS), dg.AssetKey(['b2brouter', 'issued_invoices'])],
        partitions_def=partitions_def,
        kinds={"routty", "duckdb"},
        description="Where each document sent into Routty stands: status transitions recorded in "
                    "sync.routty_document_status_history, counts per status, Error/Rejected with Routty's reason.",
    )
    def document_status(context: dg.AssetExecutionContext, config: StatusConfig, routty: RouttyResource,
                        warehouse: DuckDBResource) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        with warehouse.get_connection() as conn:
            in_flight = ledger.in_flight(conn, tenant.id)
        observed = [InputDocumentStatus(**o.model_dump()) for o in config.observed] or \
            poll_in_flight(routty, tenant, in_flight, config.max_polls, config.max_wait_seconds)
        with warehouse.get_connection() as conn:
            transitions = ledger.record_statuses(conn, tenant.id, observed, context.run_id)
            write_in_flight(context.instance, tenant.id, ledger.in_flight(conn, tenant.id))
            counts, failed = ledger.status_counts(conn, tenant.id), ledger.failed(conn, tenant.id)
            both_systems = _sales_invoice_states(conn, tenant.id)
            failed_newest = failed_documents(conn, tenant.id)
        for correlation_id, number, status, code, message in failed[:20]:
            context.log.warning(f"{correlation_id} ({number}): {status} {code}: {message}")
        # Numbers as numbers, each its own entry, so the UI plots them run by run; tables for the detail.
        return dg.MaterializeResult(metadata={
            "tenant": tenant.id,
            "checked": len(observed),
            "transitions": len(transitions),
            **status_counts_metadata(counts),
            "documents_failed": len(failed),
            "errors": _table(failed_newest, FAILED_COLUMNS),
            "changes": _table([(c, s, code, message) for _, c, s, _, code, message in transitions[:200]],
                              ["correlation_id", "status", "error_code", "error_message"]),
            "sales_invoices_routty_and_b2brouter": _table(
                [(*state.split(" / ", 1), n) for state, n in both_systems.items()],
                ["routty_status", "b2brouter_state", "invoices"], {"invoices": "int"}),
        })

    @dg.asset_check(asset=document_status, description="No document sent into Routty is in Error or Rejected.")
    def documents_accepted(context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource) -> dg.AssetCheckResult:
        with warehouse.get_connection() as conn:
            failed = ledger.failed(conn, tenant_of_run(context).id)
        return dg.AssetCheckResult(
            passed=not failed,
            severity=dg.AssetCheckSeverity.WARN,  # the other documents went through: a person fixes these
            description="; ".join(f"{c} {s} {code}" for c, _, s, code, _ in failed[:10]) or None,
            metadata={"failed": len(failed),
                      "resend": "fix the cause (e.g. the customer in masterdata), then materialize the documents asset "
                                "with config resend: [<source id>] or resend_errors: true, and upload again"},
        )

    return document_status, documents_accepted
