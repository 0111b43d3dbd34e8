"""Every plain setting of routty-sync: its environment variable, default and meaning, in one table.

This is the only module that reads the environment for settings. Secrets are not settings: they go
through `dg.EnvVar` (orchestration/resources.py, and per company resources/tenants.py). A setting is
read when it is used, not at import, so a run sees the environment it was started with.

    python -m resources.settings      # the table, with the values this environment gives
"""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None  # None: unset means "the resource's own default" (production endpoints)
    meaning: str

    def text(self) -> str | None:
        return os.environ.get(self.name, self.default)

    def integer(self) -> int:
        return int(self.text())

    def number(self) -> float:
        return float(self.text())

    def flag(self) -> bool:
        return (self.text() or "").strip().lower() in {"1", "true", "yes"}

    def is_set(self) -> bool:
        return self.name in os.environ


# ---------------------------------------------------------------- companies and storage
TENANTS_FILE = Setting("TENANTS_FILE", None, "YAML file of the companies; unset: the one company `default`")
JORTT_API = Setting("JORTT_API", "current", "Jortt API of the `default` company: current | legacy | none")
ROUTTY_DELIVERY = Setting("ROUTTY_DELIVERY", "api", "masterdata delivery of the `default` company: api | sftp")
WAREHOUSE_PATH = Setting("WAREHOUSE_PATH", "data/warehouse.duckdb",
                         "DuckDB file; with `{tenant}` in it, one file per company (companies in parallel)")
WAREHOUSE_MEMORY_LIMIT = Setting("WAREHOUSE_MEMORY_LIMIT", "1GB", "DuckDB memory limit per connection (spills beyond)")
ROUTTY_OUTBOX_URL = Setting("ROUTTY_OUTBOX_URL", "data/outbox",
                            "where built masterdata lists wait: a path or a URL (s3://, gs://, az://, memory://)")
ROUTTY_OUTBOX_DIR = Setting("ROUTTY_OUTBOX_DIR", "data/outbox", "the earlier name of ROUTTY_OUTBOX_URL, still read")

# ---------------------------------------------------------------- schedules
ROUTTY_SYNC_CRON = Setting("ROUTTY_SYNC_CRON", "0 * * * *", "cron of routty_sync_schedule")
ROUTTY_PUSH_CRON = Setting("ROUTTY_PUSH_CRON", "30 * * * *", "cron of routty_push_schedule")
ROUTTY_EXPORTS_CRON = Setting("ROUTTY_EXPORTS_CRON", "45 * * * *", "cron of routty_exports_schedule")
ROUTTY_SYNC_TIMEZONE = Setting("ROUTTY_SYNC_TIMEZONE", "UTC", "time zone of every cron")
ROUTTY_FRESHNESS_MINUTES = Setting("ROUTTY_FRESHNESS_MINUTES", None,
                                   "an ingest stream fails freshness this long after its last sync; "
                                   "unset: the sync interval + 15 minutes")

# ---------------------------------------------------------------- the UI
ROUTTY_SYNC_GIT_URL = Setting("ROUTTY_SYNC_GIT_URL", None, "the repository's web URL: code links open there")
ROUTTY_SYNC_GIT_BRANCH = Setting("ROUTTY_SYNC_GIT_BRANCH", "main", "the branch the code links point at")

# ---------------------------------------------------------------- behaviour
INGEST_MAX_DELETE_SHARE = Setting("INGEST_MAX_DELETE_SHARE", "0.2",
                                  "a full read marking more of a stream's live rows deleted marks none")
ROUTTY_MAX_UPLOAD_BYTES = Setting("ROUTTY_MAX_UPLOAD_BYTES", str(10 * 1024 * 1024), "size of a masterdata part")
ROUTTY_ACCOUNTING_TYPES = Setting("ROUTTY_ACCOUNTING_TYPES", "",
                                  "renamed accounting masterdata types, e.g. `GlAccount=GLAccount,VatCode=VATCode`")
ROUTTY_SENDABLE_INVOICE_STATUSES = Setting("ROUTTY_SENDABLE_INVOICE_STATUSES", "sent,late,due,paid,open,partially_paid",
                                           "sales invoice statuses sent to Routty (comma-separated)")
ROUTTY_UPLOAD_URL_LIFETIME_SECONDS = Setting("ROUTTY_UPLOAD_URL_LIFETIME_SECONDS", "600",
                                             "how long Routty's pre-signed upload URL is trusted")
ROUTTY_SEND_WITHOUT_ATTACHMENT = Setting("ROUTTY_SEND_WITHOUT_ATTACHMENT", "false",
                                         "send an invoice whose PDF cannot be fetched without it")
ROUTTY_EXPORTS_RETRY_MINUTES = Setting("ROUTTY_EXPORTS_RETRY_MINUTES", "30",
                                       "an export still waiting this long after its run was requested is requested again")

# ---------------------------------------------------------------- endpoints (unset: production)
RUTTER_BASE_URL = Setting("RUTTER_BASE_URL", None, "Rutter API")
RUTTER_VERSION = Setting("RUTTER_VERSION", None, "Rutter API version header")
RUTTER_PAGE_SIZE = Setting("RUTTER_PAGE_SIZE", None, "records per Rutter page")
JORTT_BASE_URL = Setting("JORTT_BASE_URL", None, "Jortt API (current)")
JORTT_TOKEN_URL = Setting("JORTT_TOKEN_URL", None, "Jortt OAuth2 token endpoint")
JORTT_LEGACY_BASE_URL = Setting("JORTT_LEGACY_BASE_URL", None, "Jortt legacy API")
B2BROUTER_BASE_URL = Setting("B2BROUTER_BASE_URL", None, "B2Brouter API")
ROUTTY_BASE_URL = Setting("ROUTTY_BASE_URL", None, "Routty connector API")

ALL = tuple(value for value in dict(globals()).values() if isinstance(value, Setting))


def given(**fields: Setting) -> dict[str, str]:
    """{field: value} of the settings this environment sets: a resource keeps its own default for the rest."""
    return {field: setting.text() for field, setting in fields.items() if setting.is_set()}


if __name__ == "__main__":
    for setting in ALL:
        print(f"{setting.name:<36} {setting.text() or '':<28} {setting.meaning}")
