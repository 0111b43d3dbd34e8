"""The routty-sync code location: every stage's assets, the jobs, schedules, sensors and resources.

Built by a function because the tenants (and so the partitions) come from the environment.
"""

import dagster as dg

from assets.ingest.b2brouter import b2brouter_assets
from assets.ingest.jortt import jortt_assets
from assets.ingest.rutter import rutter_assets
from assets.model.parties import routty_parties_asset
from assets.routty.masterdata_push import masterdata_push_asset
from assets.routty.masterdata_status import masterdata_status_assets
from assets.routty.party_list import KEY as PARTY_LIST_XML, party_list_assets
from orchestration.jobs import masterdata_status_job, sync_job
from orchestration.resources import build_resources
from orchestration.schedules import sync_schedule
from orchestration.sensors import masterdata_status_sensor
from resources.tenants import tenant_partitions


def build_definitions() -> dg.Definitions:
    """Definitions for the tenants and resources the environment names now (tests call it again)."""
    partitions = tenant_partitions()
    party_list_xml, party_list_valid = party_list_assets(partitions)
    party_list_push = masterdata_push_asset("PartyList", "Party", PARTY_LIST_XML, partitions)
    status, status_accepted = masterdata_status_assets([party_list_push.key], partitions)
    return dg.Definitions(
        assets=[
            *rutter_assets(partitions), *jortt_assets(partitions), *b2brouter_assets(partitions),
            routty_parties_asset(partitions), party_list_xml, party_list_push, status,
        ],
        asset_checks=[party_list_valid, status_accepted],
        jobs=[sync_job, masterdata_status_job],
        schedules=[sync_schedule],
        sensors=[masterdata_status_sensor],
        resources=build_resources(),
        # One process per run: the client-side rate limits (token buckets) then hold across all of a
        # run's streams, and DuckDB (one writer per file) gains nothing from parallel steps.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
