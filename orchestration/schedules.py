"""Schedules, one run per tenant each, so one company's failure never holds up another's:
- the sync (ingest everything, then push), on ROUTTY_SYNC_CRON;
- the masterdata push alone, on ROUTTY_PUSH_CRON, for deployments that push more (or less) often
  than they ingest. Each deployment sets its crons; the push sends only the delta, so overlapping
  schedules never send a record twice."""

import os

import dagster as dg

from orchestration.jobs import push_job, sync_job
from resources.tenants import all_tenants, tenant_partitions


def _one_run_per_tenant(context: dg.ScheduleEvaluationContext):
    if tenant_partitions() is None:
        return dg.RunRequest()
    return [dg.RunRequest(partition_key=tenant.id, tags={"tenant": tenant.id}) for tenant in all_tenants()]


sync_schedule = dg.schedule(
    name="routty_sync_schedule",
    job=sync_job,
    cron_schedule=os.getenv("ROUTTY_SYNC_CRON", "0 * * * *"),
    execution_timezone=os.getenv("ROUTTY_SYNC_TIMEZONE", "UTC"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)(_one_run_per_tenant)

push_schedule = dg.schedule(
    name="routty_masterdata_push_schedule",
    job=push_job,
    cron_schedule=os.getenv("ROUTTY_PUSH_CRON", "30 * * * *"),
    execution_timezone=os.getenv("ROUTTY_SYNC_TIMEZONE", "UTC"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)(_one_run_per_tenant)
