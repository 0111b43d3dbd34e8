"""Where built masterdata lists wait to be delivered: a storage location given as a path or a URL
(ROUTTY_OUTBOX_URL; a local folder by default, or s3://, gs://, az://, memory:// through fsspec and
universal-pathlib), so the runs that build and the runs that push share no disk.

A build is written on the run's own disk, then published: its files first, `manifest.json` last. On a
local folder the manifest replaces the old one by a rename; on an object store one PUT replaces it
whole. Either way a reader sees the old build or the new one, never half of one.
"""

import os
import tempfile
from pathlib import Path

from upath import UPath

from resources.settings import ROUTTY_OUTBOX_DIR, ROUTTY_OUTBOX_URL


def outbox_root() -> UPath:
    # ROUTTY_OUTBOX_DIR: the earlier name, still honoured so a running deployment keeps its outbox.
    setting = ROUTTY_OUTBOX_URL if ROUTTY_OUTBOX_URL.is_set() or not ROUTTY_OUTBOX_DIR.is_set() else ROUTTY_OUTBOX_DIR
    return UPath(setting.text())


def is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


def upload(local: Path, remote: UPath) -> None:
    remote.parent.mkdir(parents=True, exist_ok=True)
    remote.fs.put_file(str(local), remote.path)


def download(remote: UPath, local: Path) -> Path:
    remote.fs.get_file(remote.path, str(local))
    return local


def replace_text(target: UPath, text: str) -> None:
    """`target` holds `text`, replaced whole: a reader never sees half of it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not is_local(target):
        target.write_text(text)  # one PUT: object stores replace an object atomically
        return
    with tempfile.NamedTemporaryFile("w", dir=target.parent.path, prefix=f".{target.name}.", delete=False) as out:
        out.write(text)
    os.replace(out.name, target.path)


def remove_tree(path: UPath) -> None:
    if path.exists():
        path.fs.rm(path.path, recursive=True)
