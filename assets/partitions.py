"""The one partitions definition of every asset: one partition per company. Its keys live in the
instance, not in the code (orchestration/tenants.py keeps them in step with the tenants file)."""

import dagster as dg

TENANT_PARTITIONS = dg.DynamicPartitionsDefinition(name="tenants")
