"""Schedules: the sync runs on a cron that each deployment sets (ROUTTY_SYNC_CRON)."""

import os

import dagster as dg

from orchestration.jobs import sync_job

sync_schedule = dg.ScheduleDefinition(
    name="routty_sync_schedule",
    job=sync_job,
    cron_schedule=os.getenv("ROUTTY_SYNC_CRON", "0 * * * *"),
    execution_timezone=os.getenv("ROUTTY_SYNC_TIMEZONE", "UTC"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
