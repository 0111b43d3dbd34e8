"""The model domain: SQL models over the source tables, one per Routty format."""

import dagster as dg

from assets.model.sql_models import model_assets
from assets.partitions import TENANT_PARTITIONS


def defs() -> dg.Definitions:
    return dg.Definitions(assets=model_assets(TENANT_PARTITIONS))
