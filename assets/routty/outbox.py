"""Where built masterdata documents wait to be delivered: a folder per tenant and list type."""

import os
from pathlib import Path

DEFAULT_OUTBOX_DIR = "data/outbox"


def outbox_dir() -> Path:
    return Path(os.getenv("ROUTTY_OUTBOX_DIR", DEFAULT_OUTBOX_DIR))

