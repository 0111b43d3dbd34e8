"""Push masterdata documents to Routty: only a document that changed since the last upload is sent.

The only code that writes masterdata to Routty. One push asset per list type, made by
`masterdata_push_asset`, reading the tenant's document from the outbox. The warehouse is
opened only around ledger reads and writes, never across an HTTP call.
"""


import hashlib

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.routty import ledger
from assets.routty.outbox import document_path
from resources.routty import RouttyClient, RouttyResource
from resources.tenants import tenant_of_run
from resources.warehouse import ensure_schema


def push_document(warehouse: DuckDBResource, client: RouttyClient, tenant_id: str, list_type: str, xml: bytes, records: int) -> dict:
    content_hash = hashlib.sha256(xml).hexdigest()
    with warehouse.get_connection() as conn:
        ensure_schema(conn)
        last = ledger.last_upload(conn, tenant_id, list_type)
        if last and last.content_hash == content_hash and last.status != "Sending":
            return {"pushed": False, "reason": f"unchanged since upload {last.status_id} ({last.status})"}
        # Stable per content: Routty's logs tie every attempt at this document to one id.
        correlation_id = f"{tenant_id}:{list_type}:{content_hash[:16]}"
        sent_at = ledger.record_attempt(conn, tenant_id, list_type, content_hash, correlation_id, records)
    status_id = client.upload_masterdata(xml, correlation_id)
    with warehouse.get_connection() as conn:
        ledger.record_sent(conn, tenant_id, list_type, content_hash, sent_at, status_id)
    return {"pushed": True, "status_id": status_id, "records": records, "sha256": content_hash}


def masterdata_push_asset(
    list_type: str, record_tag: str, xml_key: dg.AssetKey, partitions_def: dg.PartitionsDefinition | None
) -> dg.AssetsDefinition:
    @dg.asset(
        key=push_key(xml_key),
        group_name="routty",
        deps=[xml_key],
        partitions_def=partitions_def,
        kinds={"routty"},
        description=f"Sends the tenant's {list_type} to Routty `POST /connector-api/masterdata` when its content changed.",
    )
    def push(context: dg.AssetExecutionContext, routty: RouttyResource, warehouse: DuckDBResource) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        path = document_path(tenant.id, list_type)
        if not path.exists():
            outcome = {"pushed": False, "reason": "no document (no valid record)"}
        else:
            xml = path.read_bytes()
            # Markup cannot occur inside text (it is escaped), so this counts records exactly.
            records = xml.count(f"<{record_tag}>".encode())
            with routty.client() as client:
                outcome = push_document(warehouse, client, tenant.id, list_type, xml, records)
        context.log.info(f"{list_type} {tenant.id}: {outcome}")
        return dg.MaterializeResult(
            metadata={
                "tenant": tenant.id,
                "documents_pushed": int(outcome["pushed"]),
                "documents_unchanged": int(not outcome["pushed"]),
                "status_ids": dg.MetadataValue.json({tenant.id: outcome["status_id"]} if outcome["pushed"] else {}),
                "outcome": dg.MetadataValue.json(outcome),
            }
        )

    return push


def push_key(xml_key: dg.AssetKey) -> dg.AssetKey:
    return dg.AssetKey([*xml_key.path[:-1], xml_key.path[-1].removesuffix("_xml") + "_push"])
