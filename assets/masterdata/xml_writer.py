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
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from assets.xml.fields import Reject
from resources.contracts.schemas import schema as load_schema

# "Expected is one of ( SiteCode, CorporateGroupID, Name1 )": the optional elements come first, so
# the last one named is the required element that is missing.
_EXPECTED = re.compile(r"Expected is (?:one of )?\(([^)]*)\)")


@dataclass(frozen=True)
class Part:
    path: Path
    records: int
    content_hash: str
    size_bytes: int


@dataclass
class XmlBuild:
    list_type: str
    parts: list[Part] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(p.records for p in self.parts)

    @property
    def size_bytes(self) -> int:
        return sum(p.size_bytes for p in self.parts)


class _HashingFile:
    """File wrapper that hashes what lxml writes, so the content hash costs no second read."""

    def __init__(self, raw):
        self.raw, self.sha = raw, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return self.raw.write(data)


class _PartWriter:
    """Streams records into `<name>-0001.xml`, `-0002.xml`, ... starting a new part once one
    reaches `max_bytes`, so that no upload exceeds what Routty accepts. Each part is written under
    a temporary name and renamed when complete: a reader never sees half a document."""

    CHECK_EVERY = 64

    def __init__(self, folder: Path, name: str, list_type: str, max_bytes: int):
        self.folder, self.name, self.list_type, self.max_bytes = folder, name, list_type, max_bytes
        self.parts: list[Part] = []
        self._stack: ExitStack | None = None

    def write(self, element: etree._Element) -> int:
        """Write one record; returns the number of the part it went into (1-based)."""
        if self._stack is None:
            self._open()
        self._xf.write(element)
        self._records += 1
        part = len(self.parts) + 1
        # lxml buffers its output: look at the size every so often, not on every record.
        if self._records % self.CHECK_EVERY == 0:
            self._xf.flush()
            if self._raw.tell() >= self.max_bytes:
                self.close()
        return part

    def close(self) -> None:
        if self._stack is None:
            return
        self._stack.close()
        self._stack = None
        path = self.folder / f"{self.name}-{len(self.parts) + 1:04d}.xml"
        os.replace(self._tmp, path)
        self.parts.append(Part(path, self._records, self._out.sha.hexdigest(), path.stat().st_size))

    def _open(self) -> None:
        self._stack = ExitStack()
        self._tmp = self.folder / f".{self.name}-{len(self.parts) + 1:04d}.xml.tmp"
        self._raw = self._stack.enter_context(open(self._tmp, "wb"))
        self._out = _HashingFile(self._raw)
        self._xf = self._stack.enter_context(etree.xmlfile(self._out, encoding="utf-8"))
        self._xf.write_declaration()
        self._stack.enter_context(self._xf.element(self.list_type))
        self._records = 0


def describe_invalid(schema: etree.XMLSchema) -> tuple[str, str]:
    """(field, reason) of the first schema error: the element at fault and lxml's message."""
    error = schema.error_log[0]
    expected = _EXPECTED.search(error.message)
    if expected:
        return expected.group(1).split(",")[-1].strip(), error.message
    return (error.path or "").rsplit("/", 1)[-1] or "document", error.message


def write_parts(
    folder: Path,
    list_type: str,
    records: Iterable[tuple[str, etree._Element | Reject]],
    max_bytes: int = 10 * 1024 * 1024,
    on_written: Callable[[str, int], None] | None = None,
) -> XmlBuild:
    """Write every valid record of a list into parts of at most about `max_bytes` each.

    `records` yields (record_key, element) — or a Reject from a builder that could not even make
    the element — ordered by record key, the list's uniqueness rule (XSD 1.0 cannot check keys
    with optional parts, nor can a record validated alone): a record with the same key as the one
    before it is rejected, never merged (the order makes duplicates neighbours: memory stays flat).
    `on_written(record_key, part_number)` hears of every record written. A list with no valid
    record has no part: Routty requires at least one record in a document.
    """
    schema = load_schema(list_type)
    build, previous_key = XmlBuild(list_type), None
    folder.mkdir(parents=True, exist_ok=True)
    writer = _PartWriter(folder, list_type, list_type, max_bytes)
    for key, element in records:
        reject = element if isinstance(element, Reject) else _check(schema, key, element, previous_key)
        if reject:
            build.rejects.append(reject)
            continue
        previous_key = key
        part = writer.write(element)
        if on_written:
            on_written(key, part)
    writer.close()
    build.parts = writer.parts
    return build


def _check(schema, key, element, previous_key) -> Reject | None:
    if key == previous_key:
        return Reject(key, "key", f"duplicate key {key!r}: another record in this list has it")
    if not schema.validate(element):
        return Reject(key, *describe_invalid(schema))
    return None


def validate_document(path: Path, list_type: str) -> tuple[int, list[str]]:
    """Validate one written part against its XSD: (records, errors). A part is parsed whole,
    the fastest way lxml validates (benchmarks/); memory stays bounded because parts are."""
    try:
        document = etree.parse(str(path), etree.XMLParser(huge_tree=True))
    except etree.XMLSyntaxError as error:
        return 0, [str(error)]
    schema = load_schema(list_type)
    if schema.validate(document):
        return len(document.getroot()), []
    return len(document.getroot()), [f"line {e.line}: {e.message}" for e in schema.error_log]
