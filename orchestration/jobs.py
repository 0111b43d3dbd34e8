"""Jobs: the whole sync; the masterdata push alone (rebuild from the warehouse, deliver the delta);
and the status refreshes the sensors start (masterdata uploads, documents). Each is partitioned by
tenant: one run per company."""

import dagster as dg

from assets.routty.document_status import KEY as DOCUMENT_STATUS
from assets.routty.export_pickup import GROUP as EXPORTS_GROUP
from assets.routty.masterdata_status import KEY as MASTERDATA_STATUS

sync_job = dg.define_asset_job(
    "routty_sync",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(EXPORTS_GROUP),
    description="Ingest every stream, rebuild the models, masterdata XML and documents, push what changed, "
                "record their status. (Exports out of Routty have their own job, started by their sensor.)",
)

push_job = dg.define_asset_job(
    "routty_masterdata_push",
    selection=dg.AssetSelection.groups("model", "routty", "track"),
    description="Rebuild the models, masterdata XML and input documents from the warehouse and deliver what changed.",
)

masterdata_status_job = dg.define_asset_job(
    "routty_masterdata_status",
    selection=dg.AssetSelection.assets(MASTERDATA_STATUS),
    description="Record the outcome of masterdata uploads still in flight.",
)

document_status_job = dg.define_asset_job(
    "routty_document_status",
    selection=dg.AssetSelection.assets(DOCUMENT_STATUS),
    description="Record the status transitions of documents sent into Routty (the sensor passes what it saw).",
)

exports_job = dg.define_asset_job(
    "routty_exports",
    selection=dg.AssetSelection.groups(EXPORTS_GROUP),
    description="Pick up Routty's exports, book them in the books through Rutter, send feedback, mark B2Brouter.",
)
