"""Routty PartyList: the parties of every tenant as Routty's masterdata XML, validated per record
(rejects named by field) and as a whole document (a blocking check before anything is pushed)."""


from collections.abc import Iterator, Mapping

import dagster as dg
from dagster_duckdb import DuckDBResource
from lxml import etree

from assets.model.parties import KEY as routty_parties_key
from assets.routty.outbox import document_path
from assets.routty.xml_writer import Reject, XmlBuild, validate_document, write_list
from resources.tenants import tenant_of_run
from resources.warehouse import write_rejects

LIST_TYPE = "PartyList"
KEY = dg.AssetKey(["routty", "party_list_xml"])
# Element order is the XSD's sequence; values come from model.routty_parties columns.
METADATA_FIELDS = (
    ("Number", "number"),
    ("Name1", "name1"),
    ("Name2", "name2"),
    ("Address1", "address1"),
    ("Address2", "address2"),
    ("PostalCode", "postal_code"),
    ("City", "city"),
    ("State", "state"),
    ("CountryCode", "country_code"),
    ("Telephone", "telephone"),
    ("EmailAddress", "email_address"),
    ("PaymentTerms", "payment_terms"),
)
# ASSUMED scheme names: the seed leaves Scheme's allowed values out. One place to change them.
REGISTRATION_SCHEMES = (("vat_number", "VAT"), ("coc_number", "CoC"))


def party_element(row: Mapping) -> etree._Element | Reject:
    """One `<Party>` from a model row; absent values are omitted, never written empty."""
    party = etree.Element("Party")
    metadata = etree.SubElement(party, "Metadata")
    tag = "Metadata"
    try:
        for tag, column in METADATA_FIELDS:
            _add_text(metadata, tag, row.get(column))
        schemes = [(row.get(column), scheme) for column, scheme in REGISTRATION_SCHEMES if row.get(column)]
        if schemes:
            numbers = etree.SubElement(metadata, "PartyRegistrationNumbers")
            for number, scheme in schemes:
                tag = f"PartyRegistrationNumber[{scheme}]"
                registration = etree.SubElement(numbers, "PartyRegistrationNumber")
                _add_text(registration, "Number", number)
                _add_text(registration, "Scheme", scheme)
    except ValueError as error:  # lxml refuses control characters that XML 1.0 cannot carry
        return Reject(str(row.get("number")), tag, f"not valid in XML: {error}")
    _add_text(etree.SubElement(party, "Type"), "Name", row.get("party_type"))
    if row.get("active") is not None:
        _add_text(party, "Active", "true" if row["active"] else "false")
    return party


def party_key(element: etree._Element) -> tuple:
    metadata = element.find("Metadata")
    return tuple(metadata.findtext(tag) for tag in ("Number", "CorporateGroupID", "SiteCode"))


def _add_text(parent: etree._Element, tag: str, value) -> None:
    if value is not None and str(value) != "":
        etree.SubElement(parent, tag).text = str(value)


def _model_rows(conn, tenant_id: str, batch_size: int = 10_000) -> Iterator[dict]:
    cursor = conn.execute("SELECT * FROM model.routty_parties WHERE tenant_id = ? ORDER BY number", [tenant_id])
    names = [d[0] for d in cursor.description]
    while batch := cursor.fetchmany(batch_size):
        yield from (dict(zip(names, values)) for values in batch)


def _record_rejects(conn, tenant_id: str, build: XmlBuild) -> None:
    # xml-stage rejects describe the current document: replace, don't accumulate.
    conn.execute("DELETE FROM sync.rejects WHERE tenant_id = ? AND stage = 'xml' AND source = ?", [tenant_id, LIST_TYPE])
    write_rejects(conn, [(tenant_id, "xml", LIST_TYPE, r.record_key, r.field, r.reason, None) for r in build.rejects])


def party_list_assets(partitions_def: dg.PartitionsDefinition | None) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    @dg.asset(
        key=KEY,
        group_name="routty",
        deps=[routty_parties_key],
        partitions_def=partitions_def,
        kinds={"xml"},
        description="Routty PartyList XML of a tenant, in the outbox; records breaking a field rule go to sync.rejects.",
    )
    def party_list_xml(context: dg.AssetExecutionContext, warehouse: DuckDBResource) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        with warehouse.get_connection() as conn:
            records = ((row["number"], party_element(row)) for row in _model_rows(conn, tenant.id))
            build = write_list(document_path(tenant.id, LIST_TYPE), LIST_TYPE, records, unique_key=party_key)
            _record_rejects(conn, tenant.id, build)
        for reject in build.rejects[:20]:
            context.log.warning(f"PartyList {tenant.id}: party {reject.record_key} rejected, {reject.field}: {reject.reason}")
        return dg.MaterializeResult(
            metadata={
                "tenant": tenant.id,
                "dagster/row_count": build.records,
                "rejected": len(build.rejects),
                "sha256": build.content_hash if build.records else "",
                "bytes": build.size_bytes,
                "path": str(build.path),
            }
        )

    @dg.asset_check(asset=party_list_xml, blocking=True, description="The tenant's PartyList validates against PartyList.xsd.")
    def party_list_xml_valid(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        tenant = tenant_of_run(context)
        path = document_path(tenant.id, LIST_TYPE)
        if not path.exists():
            return dg.AssetCheckResult(passed=True, description="no document: the tenant has no valid party")
        records, errors = validate_document(path, LIST_TYPE)
        return dg.AssetCheckResult(passed=not errors, metadata={"parties_validated": records, "errors": errors[:5]})

    return party_list_xml, party_list_xml_valid
