"""Schedules, one run per tenant each, so one company's failure never holds up another's:
- the sync (ingest everything, then push), on ROUTTY_SYNC_CRON;
- the masterdata push alone, on ROUTTY_PUSH_CRON, for deployments that push more (or less) often
  than they ingest;
- the exports job, on ROUTTY_EXPORTS_CRON, so no export waits forever on a run that failed.
Each deployment sets its crons; the push sends only the delta, so overlapping schedules never send a
record twice, and overlapping export runs never book an export twice (claims).
Every tick reads the tenants file anew: a company added runs at the next tick, one removed no more."""

import os

import dagster as dg

from orchestration.jobs import exports_job, push_job, sync_job
from orchestration.tenants import add_missing_partitions
from resources.tenants import all_tenants


def per_tenant_schedule(name: str, job, cron_env: str, default_cron: str) -> dg.ScheduleDefinition:
    """`job` on the cron the deployment sets in `cron_env`: one run per tenant in the file."""

    @dg.schedule(name=name, job=job, cron_schedule=os.getenv(cron_env, default_cron),
                 execution_timezone=os.getenv("ROUTTY_SYNC_TIMEZONE", "UTC"),
                 default_status=dg.DefaultScheduleStatus.RUNNING)
    def schedule(context: dg.ScheduleEvaluationContext):
        # A schedule cannot return dynamic partition requests (a sensor can): it adds the partitions
        # itself, so a company just added to the file does not wait for the tenants sensor's tick.
        add_missing_partitions(context.instance)
        return [dg.RunRequest(run_key=tenant.id, partition_key=tenant.id, tags={"tenant": tenant.id})
                for tenant in all_tenants()]

    return schedule


sync_schedule = per_tenant_schedule("routty_sync_schedule", sync_job, "ROUTTY_SYNC_CRON", "0 * * * *")
push_schedule = per_tenant_schedule("routty_masterdata_push_schedule", push_job, "ROUTTY_PUSH_CRON", "30 * * * *")
# The safety net under the exports sensor: pickup of everything waiting and booking of everything not
# finished, per tenant, whatever became of the runs the sensor requested.
exports_schedule = per_tenant_schedule("routty_exports_schedule", exports_job, "ROUTTY_EXPORTS_CRON", "45 * * * *")
