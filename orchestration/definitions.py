"""The routty-sync code location: every stage's assets, the jobs, schedules, sensors and resources."""

import dagster as dg

from assets.ingest.rutter import rutter_vendors
from assets.model.parties import routty_parties
from assets.routty.masterdata_push import masterdata_push_asset
from assets.routty.masterdata_status import masterdata_upload_status, masterdata_uploads_accepted
from assets.routty.party_list import party_list_xml, party_list_xml_valid
from orchestration.jobs import masterdata_status_job, sync_job
from orchestration.resources import build_resources
from orchestration.schedules import sync_schedule
from orchestration.sensors import masterdata_status_sensor

party_list_push = masterdata_push_asset("PartyList", "Party", party_list_xml)



def build_definitions() -> dg.Definitions:
    """Definitions with resources read from the environment as it is now (tests call it again)."""
    return dg.Definitions(
        assets=[rutter_vendors, routty_parties, party_list_xml, party_list_push, masterdata_upload_status],
        asset_checks=[party_list_xml_valid, masterdata_uploads_accepted],
        jobs=[sync_job, masterdata_status_job],
        schedules=[sync_schedule],
        sensors=[masterdata_status_sensor],
        resources=build_resources(),
    )


defs = build_definitions()
