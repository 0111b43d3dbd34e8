"""Routty PartyList: suppliers, customers and the tenant's own companies as Routty parties."""


import dagster as dg
from lxml import etree

from assets.masterdata.build import MasterdataList
from assets.xml.fields import add_text, country, free_text, record_builder

LIST_TYPE = "PartyList"
PARTIES_MODEL = dg.AssetKey(["model", "routty_parties"])
# Element order is the XSD's sequence: (element, model column, maximum length if free text).
METADATA_FIELDS = (
    ("Number", "number", None),
    ("Name1", "name1", 400),
    ("Name2", "name2", 400),
    ("Address1", "address1", 400),
    ("Address2", "address2", 400),
    ("PostalCode", "postal_code", None),
    ("City", "city", 100),
    ("State", "state", 100),
    ("CountryCode", "country_code", None),
    ("Telephone", "telephone", None),
    ("EmailAddress", "email_address", None),
    ("PaymentTerms", "payment_terms", None),
)
# ASSUMED scheme names: the seed leaves Scheme's allowed values out. One place to change them.
REGISTRATION_SCHEMES = (("vat_number", "VAT"), ("coc_number", "CoC"))


@record_builder(key=lambda row: row.get("number"))
def party_element(row: dict) -> etree._Element:
    """One `<Party>` from a model row."""
    party = etree.Element("Party")
    metadata = party_metadata(party, row)
    schemes = [(row.get(column), scheme) for column, scheme in REGISTRATION_SCHEMES if row.get(column)]
    if schemes:
        numbers = etree.SubElement(metadata, "PartyRegistrationNumbers")
        for number, scheme in schemes:
            registration = etree.SubElement(numbers, "PartyRegistrationNumber")
            add_text(registration, "Number", number)
            add_text(registration, "Scheme", scheme)
    party_type(party, row)
    if row.get("active") is not None:
        add_text(party, "Active", "true" if row["active"] else "false")
    return party


def party_metadata(party: etree._Element, row: dict) -> etree._Element:
    """`<Metadata>` with the party's identity and address, as PartyList and PartyBankAccountList share it."""
    metadata = etree.SubElement(party, "Metadata")
    for tag, column, limit in METADATA_FIELDS:
        value = row.get(column)
        value = country(value) if tag == "CountryCode" else free_text(row, tag, value, limit) if limit else value
        add_text(metadata, tag, value)
    return metadata


def party_type(party: etree._Element, row: dict) -> None:
    add_text(etree.SubElement(party, "Type"), "Name", row.get("party_type"))


PARTY_LIST = MasterdataList(
    list_type=LIST_TYPE,
    record_tag="Party",
    name="party_list",
    model=PARTIES_MODEL,
    key_sql="x.number",
    build=party_element,
    delete_type="Party",
)
