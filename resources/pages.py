"""A page of a list endpoint (or one resource), as every client hands it to the ingest stage:
the parsed response, which the client had to read anyway to page on."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Page:
    data: Any
