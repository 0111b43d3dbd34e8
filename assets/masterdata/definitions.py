"""The masterdata domain: per list an XML build (with its blocking check) and a push; the upload
status asset, its job and its sensor."""

import dagster as dg

from assets.masterdata.build import list_build_assets
from assets.masterdata.lists import LISTS
from assets.masterdata.push import list_push_asset
from assets.masterdata.sensors import masterdata_status_job, masterdata_status_sensor
from assets.masterdata.status import masterdata_status_assets
from assets.partitions import TENANT_PARTITIONS


def defs() -> dg.Definitions:
    builds = [list_build_assets(masterdata_list, TENANT_PARTITIONS) for masterdata_list in LISTS]
    status, accepted = masterdata_status_assets([masterdata_list.push_key for masterdata_list in LISTS],
                                                TENANT_PARTITIONS)
    return dg.Definitions(
        assets=[*(xml for xml, _ in builds), *(list_push_asset(m, TENANT_PARTITIONS) for m in LISTS), status],
        asset_checks=[*(check for _, check in builds), accepted],
        jobs=[masterdata_status_job],
        sensors=[masterdata_status_sensor],
    )
