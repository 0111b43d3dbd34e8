"""A Routty masterdata document, from its SQL model to delta XML parts in the outbox.

Every list (PartyList, PurchaseOrderMasterDataList, ...) is a `MasterdataList`: a model table,
the SQL of a record's key, and a pure function from a model row to the record's element. The XML
asset of a document writes only what Routty does not have yet — records that are new, changed, or
whose last upload failed (up to MAX_ATTEMPTS) — compared by a hash of the model row against the
ledger `sync.masterdata_records`; records the ledger has but the model lost are listed for deletion.
So materializing the XML alone previews exactly what a push would do.

Outbox layout per tenant and list (outbox.py: a local folder or an object store): every build has
a folder of its own, `builds/<build id>/`, with `<ListType>-0001.xml`, ... (parts of at most
ROUTTY_MAX_UPLOAD_BYTES), `records.csv` (record key, hash, part) and `manifest.json`. It is written on
the run's disk, uploaded, and then published by replacing `manifest.json` beside `builds/` whole. A
build never changes once published, so a push that read a manifest uploads exactly the parts and
marks exactly the records of that build, whatever builds overlap it. Builds older than KEEP_BUILDS
are removed by later builds.
"""

import csv
import hashlib
import json
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from lxml import etree
from upath import UPath

from resources.settings import ROUTTY_MAX_UPLOAD_BYTES
from assets.handoff import masterdata_push_key
from assets.masterdata import GROUP
from assets.masterdata import outbox
from assets.masterdata.xml_writer import XmlBuild, validate_document, write_parts
from assets.xml.fields import Reject
from resources.tenants import tenant_of_run
from resources.warehouse import write_rejects

MAX_ATTEMPTS = 3  # a record Routty failed is sent again on the next pushes, this many times in all
SAMPLE = 5
KEEP_BUILDS = timedelta(hours=24)  # far longer than a push reading an older build can take
BUILD_ID_TIME = "%Y%m%dT%H%M%S%f"  # a build id starts with its UTC time: old builds are found by name


@dataclass(frozen=True)
class MasterdataList:
    list_type: str  # the root element, e.g. PartyList
    record_tag: str  # the record element, e.g. Party
    name: str  # asset name stem, e.g. party_list
    model: dg.AssetKey  # the SQL model it is built from (table model.<last key part>)
    key_sql: str  # SQL over a model row: the record's key in Routty and in the ledger
    build: Callable[[dict], etree._Element | Reject]
    delete_type: str  # what /masterdata/delete calls this record type
    # Brings the ledger's keys up to date with the key SQL before the delta is compared (renames).
    before_delta: Callable[[duckdb.DuckDBPyConnection, str], None] | None = None

    @property
    def table(self) -> str:
        return f"model.{self.model.path[-1]}"

    @property
    def xml_key(self) -> dg.AssetKey:
        return dg.AssetKey(["masterdata", f"{self.name}_xml"])

    @property
    def push_key(self) -> dg.AssetKey:
        return masterdata_push_key(self.name)

    def folder(self, tenant_id: str) -> UPath:
        return outbox.outbox_root() / tenant_id / self.list_type

    def build_folder(self, tenant_id: str, build_id: str) -> UPath:
        return self.folder(tenant_id) / "builds" / build_id


def max_upload_bytes() -> int:
    return ROUTTY_MAX_UPLOAD_BYTES.integer()


def _delta_rows(conn, doc: MasterdataList, tenant_id: str, batch_size: int = 5_000) -> Iterator[dict]:
    """Model rows Routty must receive, each with `_key`, `_hash` and `_change` (new|changed|retry)."""
    cursor = conn.execute(
        f"""WITH m AS (SELECT x.*, {doc.key_sql} AS _key, md5(to_json(x)::VARCHAR) AS _hash
                       FROM {doc.table} x WHERE x.tenant_id = ?)
            SELECT m.*, CASE WHEN r.record_key IS NULL OR r.status = 'deleted' THEN 'new'
                             WHEN r.content_hash <> m._hash THEN 'changed' ELSE 'retry' END AS _change
            FROM m LEFT JOIN sync.masterdata_records r
              ON r.tenant_id = m.tenant_id AND r.list_type = ? AND r.record_key = m._key
            WHERE r.record_key IS NULL OR r.status = 'deleted' OR r.content_hash <> m._hash
               OR (r.status = 'failed' AND r.attempts < ?)
            ORDER BY m._key""",
        [tenant_id, doc.list_type, MAX_ATTEMPTS],
    )
    names = [d[0] for d in cursor.description]
    while batch := cursor.fetchmany(batch_size):
        yield from (dict(zip(names, values)) for values in batch)


def _deletions(conn, doc: MasterdataList, tenant_id: str) -> list[str]:
    return [k for (k,) in conn.execute(
        f"""SELECT r.record_key FROM sync.masterdata_records r
            WHERE r.tenant_id = ? AND r.list_type = ? AND r.status <> 'deleted'
              AND r.record_key NOT IN (SELECT {doc.key_sql} FROM {doc.table} x WHERE x.tenant_id = ?)
            ORDER BY 1""",
        [tenant_id, doc.list_type, tenant_id],
    ).fetchall()]


def build_delta(conn, doc: MasterdataList, tenant_id: str) -> tuple[XmlBuild, dict]:
    """Write the tenant's delta parts, records.csv and manifest.json into a new build folder and
    publish it; returns the build and the preview."""
    if doc.before_delta is not None:
        doc.before_delta(conn, tenant_id)
    build_id = f"{datetime.now(UTC):{BUILD_ID_TIME}}-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix=f"build-{doc.list_type}-") as local:
        build, manifest, preview = _write_build(conn, doc, tenant_id, build_id, Path(local))
        _publish(doc, tenant_id, Path(local), manifest)
    _remove_old_builds(doc.folder(tenant_id) / "builds", keep=build_id)
    return build, preview


def _write_build(conn, doc: MasterdataList, tenant_id: str, build_id: str, folder: Path) -> tuple[XmlBuild, dict, dict]:
    changes: dict[str, list[str]] = {"new": [], "changed": [], "retry": []}
    counts = dict.fromkeys(changes, 0)
    current: dict = {}  # the row being written: the writer calls back right after each record
    truncated: list[tuple[str, str, str]] = []
    with open(folder / "records.csv", "w", newline="") as out:
        ledger_rows = csv.writer(out)

        def elements():
            for row in _delta_rows(conn, doc, tenant_id):
                current.clear()
                current.update(row)
                yield row["_key"], doc.build(current)

        def written(key: str, part: int) -> None:
            ledger_rows.writerow([key, current["_hash"], part])
            counts[current["_change"]] += 1
            if len(changes[current["_change"]]) < SAMPLE:
                changes[current["_change"]].append(key)
            truncated.extend((key, tag, reason) for tag, reason in current.get("_truncated", []))

        build = write_parts(folder, doc.list_type, elements(), max_upload_bytes(), written)
    _record_rejects(conn, doc, tenant_id, build, truncated)
    deletes = _deletions(conn, doc, tenant_id)
    manifest = {
        "list_type": doc.list_type,
        "build": build_id,
        "parts": [{"file": p.path.name, "records": p.records, "sha256": p.content_hash} for p in build.parts],
        "deletes": deletes,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    preview = {**{f"records_{k}": v for k, v in counts.items()}, "records_to_delete": len(deletes),
               "sample": {**{k: v for k, v in changes.items() if v}, **({"delete": deletes[:SAMPLE]} if deletes else {})}}
    return build, manifest, preview


def _publish(doc: MasterdataList, tenant_id: str, local: Path, manifest: dict) -> None:
    """The build's files into the outbox, then its manifest replaces the current one whole."""
    remote = doc.build_folder(tenant_id, manifest["build"])
    for file in sorted(local.iterdir()):
        outbox.upload(file, remote / file.name)
    outbox.replace_text(doc.folder(tenant_id) / "manifest.json", json.dumps(manifest, indent=1))


def _remove_old_builds(builds: UPath, keep: str) -> None:
    cutoff = f"{datetime.now(UTC) - KEEP_BUILDS:{BUILD_ID_TIME}}"
    for old in builds.iterdir():
        if old.name != keep and old.name < cutoff:
            outbox.remove_tree(old)


def read_manifest(doc: MasterdataList, tenant_id: str) -> dict | None:
    """The published build's manifest; its files are in `doc.build_folder(tenant, manifest["build"])`."""
    path = doc.folder(tenant_id) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def read_part(doc: MasterdataList, tenant_id: str, manifest: dict, part: dict) -> bytes:
    """A part's bytes, checked against the manifest: only what the build wrote is ever sent."""
    xml = (doc.build_folder(tenant_id, manifest["build"]) / part["file"]).read_bytes()
    if hashlib.sha256(xml).hexdigest() != part["sha256"]:
        raise ValueError(f"{doc.list_type} build {manifest['build']}: {part['file']} is not the part the build wrote")
    return xml


def _record_rejects(conn, doc: MasterdataList, tenant_id: str, build: XmlBuild, truncated: list) -> None:
    """Rejected records (stage xml) and truncated free text (stage xml-truncated, record still sent).
    These describe the latest build: replaced, not accumulated."""
    conn.execute("DELETE FROM sync.rejects WHERE tenant_id = ? AND stage LIKE 'xml%' AND source = ?", [tenant_id, doc.list_type])
    write_rejects(conn, [(tenant_id, "xml", doc.list_type, r.record_key, r.field, r.reason, None) for r in build.rejects]
                  + [(tenant_id, "xml-truncated", doc.list_type, key, tag, reason, None) for key, tag, reason in truncated])


def list_build_assets(
    doc: MasterdataList, partitions_def: dg.PartitionsDefinition | None
) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    @dg.asset(
        key=doc.xml_key,
        group_name=GROUP,
        deps=[doc.model],
        partitions_def=partitions_def,
        kinds={"xml"},
        description=f"Routty {doc.list_type}: the tenant's new, changed and to-be-deleted records, validated, "
                    f"in the outbox. Materialize it alone to preview what a push would send.",
    )
    def xml_asset(context: dg.AssetExecutionContext, warehouse: DuckDBResource) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        with warehouse.get_connection() as conn:
            build, preview = build_delta(conn, doc, tenant.id)
        for reject in build.rejects[:20]:
            context.log.warning(f"{doc.list_type} {tenant.id}: record {reject.record_key} rejected, {reject.field}: {reject.reason}")
        return dg.MaterializeResult(metadata={
            "tenant": tenant.id,
            "dagster/row_count": build.records,
            **{k: v for k, v in preview.items() if k != "sample"},
            "sample": dg.MetadataValue.json(preview["sample"]),
            "rejected": len(build.rejects),
            "parts": len(build.parts),
            "bytes": build.size_bytes,
        })

    @dg.asset_check(asset=xml_asset, blocking=True, description=f"Every part of the tenant's {doc.list_type} validates against {doc.list_type}.xsd.")
    def xml_valid(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        tenant_id = tenant_of_run(context).id
        manifest = read_manifest(doc, tenant_id) or {"parts": []}
        errors, records = [], 0
        with tempfile.TemporaryDirectory(prefix="check-") as local:
            for part in manifest["parts"]:
                path = outbox.download(doc.build_folder(tenant_id, manifest["build"]) / part["file"], Path(local) / part["file"])
                count, part_errors = validate_document(path, doc.list_type)
                records += count
                errors += [f"{part['file']}: {e}" for e in part_errors]
        return dg.AssetCheckResult(passed=not errors, metadata={"records_validated": records, "errors": errors[:5]})

    return xml_asset, xml_valid
