"""Push masterdata to Routty: the delta parts the XML assets left in the outbox, then deletions.

The only code that writes masterdata to Routty. One push asset per list type. Delivery is over
the connector API, or for tenants that choose it (`routty_delivery: sftp`) into an SFTP drop folder
Routty picks up; a drop folder carries lists only, so deletions there wait (with a warning) until
the tenant is delivered over the API. The warehouse is opened only around ledger reads and
writes, never across a network call. A part whose exact bytes were already delivered is not sent
again (a rerun after a crash between upload and ledger update completes the ledger instead).
"""

import hashlib
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.masterdata import GROUP, outbox
from assets.masterdata import delta as ledger
from assets.masterdata.build import MasterdataList, read_manifest, read_part
from resources.routty import RouttyClient, RouttyResource
from resources.sftp import SftpResource
from resources.tenants import Tenant, tenant_of_run

DELETE_BATCH = 1_000
# (xml, correlation id, content hash) → the upload's id; and the ledger status once it arrived
Sender = tuple[Callable[[bytes, str, str], str], str]


def upload_part(warehouse: DuckDBResource, sender: Sender, tenant_id: str, list_type: str, xml: bytes, records: int) -> tuple[str, bool]:
    send, arrived_status = sender
    content_hash = hashlib.sha256(xml).hexdigest()
    return send_once(warehouse, tenant_id, list_type, content_hash, records,
                     lambda correlation_id: send(xml, correlation_id, content_hash), arrived_status)


def delete_keys(warehouse: DuckDBResource, client: RouttyClient, tenant_id: str, doc: MasterdataList, keys: list[str]) -> tuple[str, bool]:
    content_hash = hashlib.sha256("\n".join(keys).encode()).hexdigest()
    return send_once(warehouse, tenant_id, f"{doc.list_type}:delete", content_hash, len(keys),
                     lambda correlation_id: client.delete_masterdata(doc.delete_type, keys, correlation_id))


def send_once(warehouse: DuckDBResource, tenant_id: str, list_type: str, content_hash: str, records: int,
              send: Callable[[str], str], arrived_status: str = "Pending") -> tuple[str | None, bool]:
    """(upload id, sent now?) for content with this hash: sent at most once (unless it failed),
    recorded in the ledger before and after. No upload id when another push is sending the same
    bytes right now: that push records them.

    Bytes whose arrival was never confirmed (a push died between upload and ledger) are sent again:
    Routty offers no lookup by correlation id, and a masterdata list is applied by record key, so the
    same bytes twice leave Routty as once; the earlier attempt is then marked 'Resent'."""
    with warehouse.get_connection() as conn:
        done = ledger.confirmed_upload(conn, tenant_id, list_type, content_hash)
        if done:
            return done.status_id, False
        if ledger.sending_now(conn, tenant_id, list_type, content_hash):
            return None, False
        # Stable per content: Routty's logs tie every attempt at this upload to one id.
        correlation_id = f"{tenant_id}:{list_type}:{content_hash[:16]}"
        sent_at = ledger.record_attempt(conn, tenant_id, list_type, content_hash, correlation_id, records)
    try:
        status_id = send(correlation_id)
    except BaseException:
        with warehouse.get_connection() as conn:  # no longer in flight: the next push may send it again
            ledger.record_unconfirmed(conn, tenant_id, list_type, content_hash, sent_at)
        raise
    with warehouse.get_connection() as conn:
        ledger.record_sent(conn, tenant_id, list_type, content_hash, sent_at, status_id, arrived_status)
        ledger.settle_unconfirmed(conn, tenant_id, list_type, content_hash)
    return status_id, True


def open_sender(stack: ExitStack, tenant: Tenant, doc: MasterdataList, routty: RouttyResource, sftp: SftpResource) -> tuple[Sender, RouttyClient | None]:
    """How this tenant's uploads travel; the Routty client too when deletions can go with them."""
    if tenant.routty_delivery == "sftp":
        drop = stack.enter_context(sftp.drop_folder(tenant))
        # Named by content: a repeated drop overwrites the same file instead of adding a copy.
        return (lambda xml, _, sha: "sftp:" + drop.upload(f"{doc.list_type}-{sha[:16]}.xml", xml), "Delivered"), None
    client = stack.enter_context(routty.client(tenant))
    return (lambda xml, correlation_id, _: client.upload_masterdata(xml, correlation_id), "Pending"), client


def _records_csv(stack: ExitStack, doc: MasterdataList, tenant_id: str, manifest: dict) -> Path | None:
    """The build's records.csv on this run's disk, where the ledger's SQL reads it."""
    if not manifest["parts"]:
        return None
    local = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="push-"))) / "records.csv"
    return outbox.download(doc.build_folder(tenant_id, manifest["build"]) / "records.csv", local)


def list_push_asset(doc: MasterdataList, partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=doc.push_key,
        group_name=GROUP,
        deps=[doc.xml_key],
        partitions_def=partitions_def,
        kinds={"routty"},
        description=f"Sends the tenant's {doc.list_type} delta to Routty (`POST /connector-api/masterdata`) "
                    f"and deletes what left the books (`/masterdata/delete`).",
    )
    def push(
        context: dg.AssetExecutionContext, routty: RouttyResource, sftp: SftpResource, warehouse: DuckDBResource
    ) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        manifest = read_manifest(doc, tenant.id) or {"parts": [], "deletes": []}
        status_ids, uploads, records, deleted = [], 0, 0, 0
        sender, client = None, None
        with ExitStack() as stack:
            if manifest["parts"] or manifest["deletes"]:
                sender, client = open_sender(stack, tenant, doc, routty, sftp)
            records_csv = str(_records_csv(stack, doc, tenant.id, manifest))
            for number, part in enumerate(manifest["parts"], start=1):
                xml = read_part(doc, tenant.id, manifest, part)
                status_id, sent = upload_part(warehouse, sender, tenant.id, doc.list_type, xml, part["records"])
                if status_id is None:
                    context.log.info(f"{doc.list_type} {tenant.id}: part {number} is being sent by another run")
                    continue
                with warehouse.get_connection() as conn:
                    records += ledger.record_part_sent(conn, tenant.id, doc.list_type, records_csv, number, status_id)
                if sent and client:  # the status sensor follows what Routty's API received now
                    status_ids.append(status_id)
                uploads += sent
            deletes = manifest["deletes"] if client or not manifest["deletes"] else []
            if manifest["deletes"] and not deletes:
                context.log.warning(f"{doc.list_type} {tenant.id}: {len(manifest['deletes'])} deletion(s) wait: "
                                    "an SFTP drop folder carries no deletions")
            for start in range(0, len(deletes), DELETE_BATCH):
                keys = deletes[start:start + DELETE_BATCH]
                status_id, sent = delete_keys(warehouse, client, tenant.id, doc, keys)
                if status_id is None:
                    continue
                with warehouse.get_connection() as conn:
                    ledger.record_deleted(conn, tenant.id, doc.list_type, keys, status_id)
                status_ids += [status_id] if sent else []
                deleted += len(keys)
        with warehouse.get_connection() as conn:
            ledger.settle_unconfirmed(conn, tenant.id, doc.list_type)
        context.log.info(f"{doc.list_type} {tenant.id}: {uploads} upload(s), {records} record(s), {deleted} deletion(s)")
        return dg.MaterializeResult(
            metadata={
                "tenant": tenant.id,
                "documents_pushed": uploads,
                "records_sent": records,
                "records_deleted": deleted,
                "delivery": tenant.routty_delivery,
                "status_ids": dg.MetadataValue.json({tenant.id: status_ids} if status_ids else {}),
            }
        )

    return push
