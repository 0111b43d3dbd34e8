"""Where built masterdata documents wait to be delivered: one file per tenant and list type."""

import os
from pathlib import Path

DEFAULT_OUTBOX_DIR = "data/outbox"


def outbox_dir() -> Path:
    return Path(os.getenv("ROUTTY_OUTBOX_DIR", DEFAULT_OUTBOX_DIR))


def document_path(tenant_id: str, list_type: str) -> Path:
    return outbox_dir() / tenant_id / f"{list_type}.xml"


def built_documents(list_type: str) -> dict[str, Path]:
    """tenant id → its current document of this list type (only tenants that have one)."""
    return {path.parent.name: path for path in sorted(outbox_dir().glob(f"*/{list_type}.xml"))}
