"""A page of a list endpoint (or one resource), as every client hands it to the ingest stage:
the parsed response, which the client had to read anyway to page on."""

from dataclasses import dataclass
from typing import Any

from resources.http import RemoteError


@dataclass(frozen=True)
class Page:
    data: Any


class MissingRecords(RemoteError):
    """A page without the list (or object) it should carry. Read as empty it would look like "nothing
    there", and a full read would then mark every row deleted: the stream fails instead."""


def records_of(data: Any, key: str, system: str, where: str, single: bool = False) -> list:
    """The records a page carries under `key` (the page itself when `key` is empty); `single`: one
    object. Raises MissingRecords naming `system` and `where` (stream and page) when they are not there."""
    found = data.get(key) if key and isinstance(data, dict) else None if key else data
    if isinstance(found, dict if single else list):
        return [found] if single else found
    keys = ", ".join(sorted(data)) if isinstance(data, dict) else type(data).__name__
    raise MissingRecords(system, None, f"{where} has no {key or 'record'!r} {'object' if single else 'list'} "
                                       f"(the page has: {keys or 'nothing'}); nothing of it was landed")
