"""Streaming writer for Routty masterdata lists, with per-record XSD validation.

Each record arrives as a small lxml element, is validated alone against the list's XSD (the record
element is global in every schema), and is either written through lxml's incremental writer or
rejected with the field and the reason. Memory holds one record at a time, whatever the list's size.
The file is written under a temporary name and renamed, so a reader never sees half a document.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from lxml import etree

XSD_DIR = Path(__file__).with_name("xsd")
# "Expected is one of ( SiteCode, CorporateGroupID, Name1 )": the optional elements come first, so
# the last one named is the required element that is missing.
_EXPECTED = re.compile(r"Expected is (?:one of )?\(([^)]*)\)")


@cache
def schema_for(list_type: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / f"{list_type}.xsd")))


@dataclass(frozen=True)
class Reject:
    record_key: str
    field: str
    reason: str


@dataclass
class XmlBuild:
    path: Path
    list_type: str
    records: int = 0
    content_hash: str = ""
    size_bytes: int = 0
    rejects: list[Reject] = field(default_factory=list)


class _HashingFile:
    """File wrapper that hashes what lxml writes, so the content hash costs no second read."""

    def __init__(self, raw):
        self.raw, self.sha = raw, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.raw.write(data)


def describe_invalid(schema: etree.XMLSchema) -> tuple[str, str]:
    """(field, reason) of the first schema error: the element at fault and lxml's message."""
    error = schema.error_log[0]
    expected = _EXPECTED.search(error.message)
    if expected:
        return expected.group(1).split(",")[-1].strip(), error.message
    return (error.path or "").rsplit("/", 1)[-1] or "document", error.message


def write_list(
    path: Path,
    list_type: str,
    records: Iterable[tuple[str, etree._Element | Reject]],
    unique_key=None,
) -> XmlBuild:
    """Write `<list_type>` with every valid record; returns counts, hash and the rejects.

    `records` yields (record_key, element) — or a Reject from a builder that could not even make
    the element. `unique_key(element)` names the list's uniqueness rule (XSD 1.0 cannot check keys
    with optional parts); a second record with the same key is rejected, never merged.
    """
    schema = schema_for(list_type)
    build = XmlBuild(path, list_type)
    seen: set = set()
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as raw:
        out = _HashingFile(raw)
        with etree.xmlfile(out, encoding="utf-8") as xf:
            xf.write_declaration()
            with xf.element(list_type):
                for key, element in records:
                    reject = element if isinstance(element, Reject) else _check(schema, key, element, unique_key, seen)
                    if reject:
                        build.rejects.append(reject)
                        continue
                    xf.write(element)
                    build.records += 1
        build.content_hash = out.sha.hexdigest()
    build.size_bytes = tmp.stat().st_size
    if build.records:
        os.replace(tmp, path)
    else:  # Routty requires at least one record: an empty list is not a document
        tmp.unlink()
        path.unlink(missing_ok=True)
    return build


def _check(schema, key, element, unique_key, seen) -> Reject | None:
    if not schema.validate(element):
        return Reject(key, *describe_invalid(schema))
    if unique_key:
        identity = unique_key(element)
        if identity in seen:
            return Reject(key, "Number", f"duplicate key {identity!r}: another record in this list has it")
        seen.add(identity)
    return None


def validate_document(path: Path, list_type: str) -> tuple[int, list[str]]:
    """Validate a whole written list against its XSD in bounded memory: (records, errors)."""
    schema = schema_for(list_type)
    records, errors = 0, []
    try:
        for _, element in etree.iterparse(str(path), events=("end",), schema=schema, huge_tree=True):
            if element.getparent() is not None and element.getparent().getparent() is None:
                records += 1
                element.clear(keep_tail=True)
                while element.getprevious() is not None:
                    del element.getparent()[0]
    except etree.XMLSyntaxError as error:
        errors.append(str(error))
    return records, errors
