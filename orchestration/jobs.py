"""The jobs that span domains: the whole sync, and the push alone. Each domain's own jobs (status
refreshes, exports) live with its sensors. Each is partitioned by tenant: one run per company."""

import dagster as dg

from assets.exports import GROUP as EXPORTS
from assets.invoices import GROUP as INVOICES
from assets.masterdata import GROUP as MASTERDATA

sync_job = dg.define_asset_job(
    "routty_sync",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(EXPORTS),
    description="Ingest every stream, rebuild the models, masterdata lists and invoices, push what changed, "
                "record their status. (Exports out of Routty have their own job, started by their sensor.)",
)

push_job = dg.define_asset_job(
    "routty_push",
    selection=dg.AssetSelection.groups("model", MASTERDATA, INVOICES),
    description="Rebuild the models, masterdata lists and invoices from the warehouse (no source is read) "
                "and deliver what changed.",
)
