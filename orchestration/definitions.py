"""The routty-sync code location: every stage's assets, the jobs, schedules, sensors and resources.

Built by a function because the resources come from the environment. The tenants do not shape the
graph: every asset is partitioned by the one dynamic partitions definition (resources/tenants.py),
whose keys the instance keeps (orchestration/tenants.py).
"""

import dagster as dg

from assets.ingest.b2brouter import b2brouter_assets
from assets.ingest.jortt import jortt_assets
from assets.ingest.rutter import rutter_assets
from assets.model.sql_models import model_assets
from assets.routty.catalog import DOCUMENTS
from assets.routty.document_status import document_status_assets
from assets.routty.document_upload import document_upload_assets
from assets.routty.documents import document_assets
from assets.routty.export_booking import export_booking_asset
from assets.routty.export_pickup import export_pickup_asset
from assets.routty.input_documents import FLOWS, input_documents_asset
from assets.routty.masterdata_push import masterdata_push_asset
from assets.routty.masterdata_status import masterdata_status_assets
from orchestration.jobs import document_status_job, exports_job, masterdata_status_job, push_job, sync_job
from orchestration.resources import build_resources
from orchestration.schedules import exports_schedule, push_schedule, sync_schedule
from orchestration.sensors import document_status_sensor, exports_sensor, masterdata_status_sensor
from orchestration.tenants import tenants_sensor
from resources.tenants import TENANT_PARTITIONS


def build_definitions() -> dg.Definitions:
    """Definitions for the resources the environment names now (tests call it again)."""
    partitions = TENANT_PARTITIONS
    documents = [document_assets(doc, partitions) for doc in DOCUMENTS]
    pushes = [masterdata_push_asset(doc, partitions) for doc in DOCUMENTS]
    status, status_accepted = masterdata_status_assets([doc.push_key for doc in DOCUMENTS], partitions)
    document_status, documents_accepted = document_status_assets(partitions)
    return dg.Definitions(
        assets=[
            *rutter_assets(partitions), *jortt_assets(partitions), *b2brouter_assets(partitions),
            *model_assets(partitions), *(xml for xml, _ in documents), *pushes, status,
            *(input_documents_asset(flow, partitions) for flow in FLOWS), *document_upload_assets(partitions),
            document_status, export_pickup_asset(partitions), export_booking_asset(partitions),
        ],
        asset_checks=[*(check for _, check in documents), status_accepted, documents_accepted],
        jobs=[sync_job, push_job, masterdata_status_job, document_status_job, exports_job],
        schedules=[sync_schedule, push_schedule, exports_schedule],
        sensors=[masterdata_status_sensor, document_status_sensor, exports_sensor, tenants_sensor],
        resources=build_resources(),
        # One process per run: the client-side rate limits (token buckets) then hold across all of a
        # run's streams, and DuckDB (one writer per file) gains nothing from parallel steps.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
