"""Schedules, one run per tenant each, so one company's failure never holds up another's:
- the sync (ingest everything, then push), on ROUTTY_SYNC_CRON;
- the push alone (masterdata lists and invoices), on ROUTTY_PUSH_CRON, for deployments that push more (or less) often
  than they ingest;
- the exports job, on ROUTTY_EXPORTS_CRON, so no export waits forever on a run that failed.
Each deployment sets its crons; the push sends only the delta, so overlapping schedules never send a
record twice, and overlapping export runs never book an export twice (claims).
Every tick reads the tenants file anew: a company added runs at the next tick, one removed no more."""

import dagster as dg

from assets.exports.sensors import exports_job
from orchestration.jobs import push_job, sync_job
from resources.settings import (ROUTTY_EXPORTS_CRON, ROUTTY_PUSH_CRON, ROUTTY_SYNC_CRON, ROUTTY_SYNC_TIMEZONE,
                                    Setting)
from orchestration.tenants import add_missing_partitions
from resources.tenants import all_tenants


def per_tenant_schedule(name: str, job, cron: Setting) -> dg.ScheduleDefinition:
    """`job` on the cron the deployment sets: one run per tenant in the file."""

    @dg.schedule(name=name, job=job, cron_schedule=cron.text(), execution_timezone=ROUTTY_SYNC_TIMEZONE.text(),
                 default_status=dg.DefaultScheduleStatus.RUNNING)
    def schedule(context: dg.ScheduleEvaluationContext):
        # A schedule cannot return dynamic partition requests (a sensor can): it adds the partitions
        # itself, so a company just added to the file does not wait for the tenants sensor's tick.
        add_missing_partitions(context.instance)
        return [dg.RunRequest(run_key=tenant.id, partition_key=tenant.id, tags={"tenant": tenant.id})
                for tenant in all_tenants()]

    return schedule


sync_schedule = per_tenant_schedule("routty_sync_schedule", sync_job, ROUTTY_SYNC_CRON)
push_schedule = per_tenant_schedule("routty_push_schedule", push_job, ROUTTY_PUSH_CRON)
# The safety net under the exports sensor: pickup of everything waiting and booking of everything not
# finished, per tenant, whatever became of the runs the sensor requested.
exports_schedule = per_tenant_schedule("routty_exports_schedule", exports_job, ROUTTY_EXPORTS_CRON)
