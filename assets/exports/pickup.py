"""Pick up Routty's exports (RouttyExportDocument): download, check, land every section, tell Routty
they arrived.

Per export waiting in the output API (the tenant's Output × Inbound key): download it from its
time-limited URL, parse it (export_parser.py), land it in `staging.routty_export_*`, record it in
`sync.routty_exports` (with its warnings: schema findings, missing optional fields), send the technical
feedback (`Received`; `Error` with the reason for an export that cannot be booked, which is
quarantined: kept verbatim in the ledger, never booked) and acknowledge it, which takes it off the
pickup list. Feedback that cannot be made valid is recorded as blocked, and the export is still
acknowledged. Pickup is at least once: an export already in the ledger is only acknowledged again,
never landed twice. Any error of one export leaves it waiting in Routty (offered again) and the others
go on; a CredentialsError stops the run. No warehouse connection is open while Routty is called.
"""

import hashlib
import json

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.exports import GROUP
from assets.exports.parser import ExportInvalid, ParsedExport, land_export, parse_export
from assets.exports.feedback import FeedbackInvalid, feedback_xml
from resources.http import CredentialsError
from resources.routty import EXPORT_OUTPUT_KEY, RouttyClient, RouttyResource, download_export
from resources.tenants import tenant_of_run

PICKUP_KEY = dg.AssetKey(["exports", "pickup"])
SHOWN_WARNINGS = 50  # exports whose warnings the metadata lists


class PickupConfig(dg.Config):
    # From the sensor: the documents it saw waiting; empty: everything waiting now.
    document_ids: list[str] = []


def _record(conn, tenant_id: str, item: dict, xml: bytes, step: str, outcome: ParsedExport | ExportInvalid) -> None:
    parsed = outcome if isinstance(outcome, ParsedExport) else None
    conn.execute(
        """INSERT INTO sync.routty_exports (tenant_id, document_id, correlation_id, document_type, guid,
               document_set_id, content_hash, xml, step, reason, warnings, downloaded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP) ON CONFLICT DO NOTHING""",
        [tenant_id, item["documentId"], item.get("correlationId"), parsed and parsed.document_type, outcome.guid,
         outcome.document_set_id, hashlib.sha256(xml).hexdigest(), xml, step,
         None if parsed else outcome.reason, json.dumps(parsed.warnings) if parsed and parsed.warnings else None])


def take_in(conn, tenant_id: str, item: dict, xml: bytes) -> ParsedExport | ExportInvalid:
    """Land one downloaded export, or quarantine it; either way it is in the ledger afterwards."""
    try:
        parsed = parse_export(xml)
    except ExportInvalid as invalid:
        _record(conn, tenant_id, item, xml, "quarantined", invalid)
        return invalid
    land_export(conn, tenant_id, item["documentId"], parsed)
    _record(conn, tenant_id, item, xml, "downloaded", parsed)
    return parsed


def _set_once(warehouse: DuckDBResource, tenant_id: str, document_id: str, column: str, value_sql: str,
              values: list) -> None:
    """Record a pickup step; guarded by the column still being empty (an overlapping run may have done it)."""
    with warehouse.get_connection() as conn:
        conn.execute(f"UPDATE sync.routty_exports SET {column} = {value_sql} WHERE tenant_id = ? AND document_id = ? "
                     f"AND {column} IS NULL", [*values, tenant_id, document_id])


def _technical_feedback(outcome: ParsedExport | ExportInvalid) -> bytes:
    if not (outcome.guid and outcome.document_set_id):
        raise FeedbackInvalid("the export has no Guid or DocumentSetId: Routty cannot be told about it")
    if isinstance(outcome, ExportInvalid):
        return feedback_xml("Error", outcome.guid, outcome.document_set_id, [
            f"Export quarantined, not booked: {outcome.reason}"[:1000],
            "Correct the document in Routty and export it again."])
    return feedback_xml("Received", outcome.guid, outcome.document_set_id, ["Downloaded and read"])


def acknowledge(warehouse: DuckDBResource, client: RouttyClient, tenant_id: str, item: dict, outcome) -> None:
    """The technical feedback, then the acknowledgement (after which Routty stops offering it). No
    warehouse connection is open while Routty is called."""
    document_id, correlation_id = item["documentId"], item.get("correlationId") or item["documentId"]
    with warehouse.get_connection() as conn:
        done = conn.execute("SELECT received_feedback_at IS NOT NULL OR blocked_reason IS NOT NULL "
                            "FROM sync.routty_exports WHERE tenant_id = ? AND document_id = ?",
                            [tenant_id, document_id]).fetchone()[0]
    if not done:
        try:
            xml = _technical_feedback(outcome)
        except FeedbackInvalid as invalid:  # this export's feedback only: it is still acknowledged
            _set_once(warehouse, tenant_id, document_id, "blocked_reason", "?", [str(invalid)])
        else:
            client.send_feedback(document_id, correlation_id, xml)
            _set_once(warehouse, tenant_id, document_id, "received_feedback_at", "now()::TIMESTAMP", [])
    client.acknowledge(document_id, correlation_id)
    _set_once(warehouse, tenant_id, document_id, "acknowledged_at", "now()::TIMESTAMP", [])


def _known(conn, tenant_id: str, document_id: str) -> ParsedExport | ExportInvalid | None:
    row = conn.execute("SELECT step, guid, document_set_id, reason FROM sync.routty_exports "
                       "WHERE tenant_id = ? AND document_id = ?", [tenant_id, document_id]).fetchone()
    if row is None:
        return None
    step, guid, set_id, reason = row
    return ExportInvalid(reason, guid, set_id) if step == "quarantined" else ParsedExport(guid, set_id, "")


def pick_up(warehouse: DuckDBResource, client: RouttyClient, tenant_id: str, item: dict) -> ParsedExport | ExportInvalid | None:
    """One waiting export: downloaded and taken in unless the ledger has it; then feedback and
    acknowledgement. The outcome when new, None when it was known already."""
    with warehouse.get_connection() as conn:
        known = _known(conn, tenant_id, item["documentId"])
    outcome = known
    if known is None:
        xml = download_export(item["downloadUrl"])
        with warehouse.get_connection() as conn:
            outcome = take_in(conn, tenant_id, item, xml)
    acknowledge(warehouse, client, tenant_id, item, outcome)
    return None if known is not None else outcome


def export_pickup_asset(partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=PICKUP_KEY,
        group_name=GROUP,
        partitions_def=partitions_def,
        kinds={"routty", "duckdb", "xml"},
        description="Exports waiting in Routty's output API, downloaded, checked and landed section by "
                    "section (staging.routty_export_*); unbookable ones quarantined; all acknowledged.",
    )
    def export_pickup(context: dg.AssetExecutionContext, config: PickupConfig, routty: RouttyResource,
                      warehouse: DuckDBResource) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        wanted = set(config.document_ids)
        counts = {"landed": 0, "landed_with_warnings": 0, "quarantined": 0, "again": 0, "failed": 0}
        warnings: dict[str, list[str]] = {}
        with routty.client(tenant, EXPORT_OUTPUT_KEY) as client:
            waiting = [i for i in client.output_documents() if not wanted or i["documentId"] in wanted]
            for item in waiting:
                try:
                    outcome = pick_up(warehouse, client, tenant.id, item)
                except CredentialsError:
                    raise  # every export would fail alike: the run stops and says which key to check
                except Exception as error:  # noqa: BLE001 - one export's trouble must not hold up the others
                    counts["failed"] += 1
                    context.log.warning(f"export {item['documentId']}: not picked up now, offered again later: "
                                        f"{type(error).__name__}: {error}")
                    continue
                if outcome is None:
                    counts["again"] += 1
                elif isinstance(outcome, ExportInvalid):
                    counts["quarantined"] += 1
                    context.log.warning(f"export {item['documentId']} quarantined: {outcome.reason}")
                else:
                    counts["landed"] += 1
                    counts["landed_with_warnings"] += bool(outcome.warnings)
                    if outcome.warnings and len(warnings) < SHOWN_WARNINGS:
                        warnings[item["documentId"]] = outcome.warnings
        return dg.MaterializeResult(metadata={"tenant": tenant.id, "waiting": len(waiting), **counts,
                                              "warnings": dg.MetadataValue.json(warnings)})

    return export_pickup
