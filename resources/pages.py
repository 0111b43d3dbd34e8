"""A page of a list endpoint, as every client hands it to the warehouse: the raw response bytes
(landed in bulk by DuckDB, never re-serialized) and what paging needs to know."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Page:
    body: bytes
    record_count: int
