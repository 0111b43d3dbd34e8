"""The invoices domain: per flow (sales, received) the UBL documents and their uploads; the status
asset, its job and its sensor."""

import dagster as dg

from assets.invoices.documents import FLOWS, invoice_documents_asset
from assets.invoices.sensors import invoices_status_job, invoices_status_sensor
from assets.invoices.status import invoice_status_assets
from assets.invoices.upload import invoice_upload_assets
from assets.partitions import TENANT_PARTITIONS


def defs() -> dg.Definitions:
    status, accepted = invoice_status_assets(TENANT_PARTITIONS)
    return dg.Definitions(
        assets=[*(invoice_documents_asset(flow, TENANT_PARTITIONS) for flow in FLOWS),
                *invoice_upload_assets(TENANT_PARTITIONS), status],
        asset_checks=[accepted],
        jobs=[invoices_status_job],
        sensors=[invoices_status_sensor],
    )
