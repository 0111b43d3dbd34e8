"""Schedules: the sync runs on a cron that each deployment sets (ROUTTY_SYNC_CRON), one run per
tenant, so one company's failure never holds up another's."""

import os

import dagster as dg

from orchestration.jobs import sync_job
from resources.tenants import all_tenants, tenant_partitions


@dg.schedule(
    name="routty_sync_schedule",
    job=sync_job,
    cron_schedule=os.getenv("ROUTTY_SYNC_CRON", "0 * * * *"),
    execution_timezone=os.getenv("ROUTTY_SYNC_TIMEZONE", "UTC"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def sync_schedule(context: dg.ScheduleEvaluationContext):
    if tenant_partitions() is None:
        return dg.RunRequest()
    return [dg.RunRequest(partition_key=tenant.id, tags={"tenant": tenant.id}) for tenant in all_tenants()]
