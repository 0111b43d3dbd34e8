"""Pick up Routty's exports (RouttyExportDocument): download, validate, land every section, tell
Routty they arrived.

Per export waiting in the output API (the tenant's Output × Inbound key): download it from its
time-limited URL, validate and parse it (export_parser.py), land it in `staging.routty_export_*`,
record it in `sync.routty_exports`, send the technical feedback (`Received`; `Error` with the reason
for a malformed export, which is quarantined: kept verbatim in the ledger, never booked) and
acknowledge it, which takes it off the pickup list. Pickup is at least once: an export already in the
ledger is only acknowledged again, never landed twice.
"""

import hashlib

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.routty.export_parser import ExportInvalid, ParsedExport, land_export, parse_export
from assets.routty.feedback import feedback_xml
from resources.http import RemoteError
from resources.routty import EXPORT_OUTPUT_KEY, RouttyClient, RouttyResource, download_export
from resources.tenants import tenant_of_run
from resources.warehouse import ensure_schema

PICKUP_KEY = dg.AssetKey(["routty", "export_pickup"])
GROUP = "routty_exports"


class PickupConfig(dg.Config):
    # From the sensor: the documents it saw waiting; empty: everything waiting now.
    document_ids: list[str] = []


def _record(conn, tenant_id: str, item: dict, xml: bytes, step: str, guid: str | None, set_id: str | None,
            document_type: str | None, reason: str | None) -> None:
    conn.execute(
        """INSERT INTO sync.routty_exports (tenant_id, document_id, correlation_id, document_type, guid,
               document_set_id, content_hash, xml, step, reason, downloaded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP) ON CONFLICT DO NOTHING""",
        [tenant_id, item["documentId"], item.get("correlationId"), document_type, guid, set_id,
         hashlib.sha256(xml).hexdigest(), xml, step, reason])


def take_in(conn, tenant_id: str, item: dict, xml: bytes) -> ParsedExport | ExportInvalid:
    """Land one downloaded export, or quarantine it; either way it is in the ledger afterwards."""
    try:
        parsed = parse_export(xml)
    except ExportInvalid as invalid:
        _record(conn, tenant_id, item, xml, "quarantined", invalid.guid, invalid.document_set_id, None, invalid.reason)
        return invalid
    land_export(conn, tenant_id, item["documentId"], parsed)
    _record(conn, tenant_id, item, xml, "downloaded", parsed.guid, parsed.document_set_id, parsed.document_type, None)
    return parsed


def acknowledge(conn, client: RouttyClient, tenant_id: str, item: dict, outcome) -> None:
    """The technical feedback, then the acknowledgement (after which Routty stops offering it)."""
    document_id, correlation_id = item["documentId"], item.get("correlationId") or item["documentId"]
    sent = conn.execute("SELECT received_feedback_at IS NOT NULL FROM sync.routty_exports WHERE tenant_id = ? "
                        "AND document_id = ?", [tenant_id, document_id]).fetchone()[0]
    if not sent and outcome.guid and outcome.document_set_id:
        if isinstance(outcome, ExportInvalid):
            xml = feedback_xml("Error", outcome.guid, outcome.document_set_id, [
                f"Export quarantined, not booked: {outcome.reason}"[:1000],
                "Correct the document in Routty and export it again."])
        else:
            xml = feedback_xml("Received", outcome.guid, outcome.document_set_id, ["Downloaded and read"])
        client.send_feedback(document_id, correlation_id, xml)
        conn.execute("UPDATE sync.routty_exports SET received_feedback_at = now()::TIMESTAMP "
                     "WHERE tenant_id = ? AND document_id = ?", [tenant_id, document_id])
    client.acknowledge(document_id, correlation_id)
    conn.execute("UPDATE sync.routty_exports SET acknowledged_at = now()::TIMESTAMP "
                 "WHERE tenant_id = ? AND document_id = ?", [tenant_id, document_id])


def _known(conn, tenant_id: str, document_id: str) -> ParsedExport | ExportInvalid | None:
    row = conn.execute("SELECT step, xml, guid, document_set_id, reason FROM sync.routty_exports "
                       "WHERE tenant_id = ? AND document_id = ?", [tenant_id, document_id]).fetchone()
    if row is None:
        return None
    step, _, guid, set_id, reason = row
    return ExportInvalid(reason, guid, set_id) if step == "quarantined" else ParsedExport(guid, set_id, "")


def export_pickup_asset(partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=PICKUP_KEY,
        group_name=GROUP,
        partitions_def=partitions_def,
        kinds={"routty", "duckdb", "xml"},
        description="Exports waiting in Routty's output API, downloaded, validated and landed section by "
                    "section (staging.routty_export_*); malformed ones quarantined; all acknowledged.",
    )
    def export_pickup(context: dg.AssetExecutionContext, config: PickupConfig, routty: RouttyResource,
                      warehouse: DuckDBResource) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        wanted = set(config.document_ids)
        counts = {"landed": 0, "quarantined": 0, "again": 0, "failed": 0}
        with warehouse.get_connection() as conn:
            ensure_schema(conn)
        with routty.client(tenant, EXPORT_OUTPUT_KEY) as client:
            waiting = [i for i in client.output_documents() if not wanted or i["documentId"] in wanted]
            for item in waiting:
                try:
                    with warehouse.get_connection() as conn:
                        outcome = _known(conn, tenant.id, item["documentId"])
                    counts["again"] += outcome is not None
                    if outcome is None:
                        xml = download_export(item["downloadUrl"])
                        with warehouse.get_connection() as conn:
                            outcome = take_in(conn, tenant.id, item, xml)
                        counts["quarantined" if isinstance(outcome, ExportInvalid) else "landed"] += 1
                        if isinstance(outcome, ExportInvalid):
                            context.log.warning(f"export {item['documentId']} quarantined: {outcome.reason}")
                    with warehouse.get_connection() as conn:
                        acknowledge(conn, client, tenant.id, item, outcome)
                except RemoteError as error:  # one export's trouble must not hold up the others
                    counts["failed"] += 1
                    context.log.warning(f"export {item['documentId']}: not picked up now, offered again later: {error}")
        return dg.MaterializeResult(metadata={"tenant": tenant.id, "waiting": len(waiting), **counts})

    return export_pickup
