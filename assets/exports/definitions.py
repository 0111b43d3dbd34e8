"""The exports domain: pickup and booking, their job and the sensor that starts it."""

import dagster as dg

from assets.exports.booking import export_booking_asset
from assets.exports.pickup import export_pickup_asset
from assets.exports.sensors import exports_job, exports_sensor
from assets.partitions import TENANT_PARTITIONS


def defs() -> dg.Definitions:
    return dg.Definitions(assets=[export_pickup_asset(TENANT_PARTITIONS), export_booking_asset(TENANT_PARTITIONS)],
                          jobs=[exports_job], sensors=[exports_sensor])
