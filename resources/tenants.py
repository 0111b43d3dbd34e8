"""Which company (tenant) this code location syncs. Tables carry the tenant id in every row so
that several companies can share one warehouse."""

import os

DEFAULT_TENANT_ID = "default"


def tenant_id() -> str:
    return os.getenv("TENANT_ID", DEFAULT_TENANT_ID)
