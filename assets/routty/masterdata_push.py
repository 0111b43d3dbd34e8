"""Push masterdata documents to Routty: only a document that changed since the last upload is sent.

The only code that writes masterdata to Routty. One push asset per list type, made by
`masterdata_push_asset`, each reading its tenants' documents from the outbox. The warehouse is
opened only around ledger reads and writes, never across an HTTP call.
"""


import hashlib

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.routty import ledger
from assets.routty.outbox import built_documents
from resources.routty import RouttyClient, RouttyResource
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


def masterdata_push_asset(list_type: str, record_tag: str, xml_asset: dg.AssetsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"{xml_asset.key.path[-1].removesuffix('_xml')}_push",
        key_prefix=["routty"],
        group_name="routty",
        deps=[xml_asset],
        kinds={"routty"},
        description=f"Sends each tenant's {list_type} to Routty `POST /connector-api/masterdata` when its content changed.",
    )
    def push(context: dg.AssetExecutionContext, routty: RouttyResource, warehouse: DuckDBResource) -> dg.MaterializeResult:
        outcomes = {}
        with routty.client() as client:
            for tenant_id, path in built_documents(list_type).items():
                xml = path.read_bytes()
                # Markup cannot occur inside text (it is escaped), so this counts records exactly.
                records = xml.count(f"<{record_tag}>".encode())
                outcomes[tenant_id] = push_document(warehouse, client, tenant_id, list_type, xml, records)
                context.log.info(f"{list_type} {tenant_id}: {outcomes[tenant_id]}")
        pushed = {t: o["status_id"] for t, o in outcomes.items() if o["pushed"]}
        return dg.MaterializeResult(
            metadata={
                "documents_pushed": len(pushed),
                "documents_unchanged": len(outcomes) - len(pushed),
                "status_ids": dg.MetadataValue.json(pushed),
                "outcomes": dg.MetadataValue.json(outcomes),
            }
        )

    return push
