"""Where built masterdata documents wait to be delivered: one file per tenant and list type."""

import os
from pathlib import Path

DEFAULT_OUTBOX_DIR = "data/outbox"


def outbox_dir() -> Path:
    return Path(os.getenv("ROUTTY_OUTBOX_DIR", DEFAULT_OUTBOX_DIR))


def document_path(tenant_id: str, list_type: str) -> Path:
    return outbox_dir() / tenant_id / f"{list_type}.xml"

