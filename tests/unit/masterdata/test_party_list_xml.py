"""PartyList building: special characters, per-record rejects named by field, whole-document checks."""

from lxml import etree

from assets.masterdata.lists.party_list import party_element
from assets.masterdata.xml_writer import validate_document, write_parts
from assets.xml.fields import Reject


def row(**overrides):
    base = {
        "number": "V-1", "name1": "Acme B.V.", "name2": None, "address1": "Keizersgracht 1", "address2": None,
        "postal_code": "1015 CJ", "city": "Amsterdam", "state": None, "country_code": "NL",
        "telephone": "+31 20 123 4567", "email_address": "ap@acme.nl", "payment_terms": "30",
        "vat_number": "NL123456789B01", "coc_number": "12345678", "party_type": "Supplier", "active": True,
    }
    return {**base, **overrides}


def build(tmp_path, rows, max_bytes=10_000_000):
    """As the XML assets do: records ordered by key."""
    records = ((r["number"], party_element(r)) for r in sorted(rows, key=lambda r: r["number"]))
    return write_parts(tmp_path, "PartyList", records, max_bytes=max_bytes)


def test_special_characters_round_trip_exactly(tmp_path):
    names = ['Café Müller & Söhne <GmbH>', 'Ελληνική "Εταιρεία"', "北京贸易有限公司", "O'Brien & Co"]
    result = build(tmp_path, [row(number=f"V-{i}", name1=name) for i, name in enumerate(names)])

    assert result.records == 4 and not result.rejects
    path = result.parts[0].path
    raw = path.read_bytes()
    assert raw.startswith(b"<?xml version='1.0' encoding='utf-8'?>") or raw.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert b"&amp; S\xc3\xb6hne &lt;GmbH&gt;" in raw  # escaped, UTF-8 encoded
    parsed = [p.findtext("Metadata/Name1") for p in etree.parse(str(path)).getroot()]
    assert parsed == names
    assert validate_document(path, "PartyList") == (4, [])


def test_absent_values_are_omitted_not_written_empty(tmp_path):
    element = party_element(row(email_address=None, telephone="", vat_number=None, coc_number=None, active=False))
    metadata = element.find("Metadata")
    assert metadata.find("EmailAddress") is None and metadata.find("Telephone") is None
    assert metadata.find("PartyRegistrationNumbers") is None
    assert element.findtext("Active") == "false" and element.findtext("Type/Name") == "Supplier"


def test_registration_numbers_one_per_scheme(tmp_path):
    element = party_element(row())
    schemes = [(r.findtext("Number"), r.findtext("Scheme")) for r in element.iter("PartyRegistrationNumber")]
    assert schemes == [("NL123456789B01", "VAT"), ("12345678", "CoC")]


def test_bad_records_are_rejected_by_field_and_the_rest_still_goes_out(tmp_path):
    rows = [
        row(number="OK-1"),
        row(number="X" * 101),                         # identifier too long: rejected, never truncated
        row(number="NO-NAME", name1=None),             # required Name1 missing
        row(number="BLANK", name1="   "),              # required Name1 blank
        row(number="LONG-PC", postal_code="1" * 13),   # PostalCode max 12
        row(number="CTRL", name1="Bad\x01Name"),       # not representable in XML 1.0
        row(number="OK-1", name1="Duplicate"),         # Number+CGID+SiteCode must be unique
        row(number="OK-2", country_code="Netherlands"),
    ]
    result = build(tmp_path, rows)

    assert result.records == 1
    fields = {(r.record_key, r.field) for r in result.rejects}
    assert fields == {
        ("X" * 101, "Number"), ("NO-NAME", "Name1"), ("BLANK", "Name1"), ("LONG-PC", "PostalCode"),
        ("CTRL", "Name1"), ("OK-1", "key"), ("OK-2", "CountryCode"),
    }
    assert all(r.reason for r in result.rejects)
    assert validate_document(result.parts[0].path, "PartyList") == (1, [])


def test_no_valid_party_means_no_document(tmp_path):
    result = build(tmp_path, [row(name1=None)])
    assert result.records == 0 and result.parts == [] and not list(tmp_path.glob("*.xml"))


def test_builder_rejects_pass_through(tmp_path):
    result = write_parts(tmp_path, "PartyList", [("k", Reject("k", "Name1", "boom")), ("V-1", party_element(row()))])
    assert result.records == 1 and result.rejects == [Reject("k", "Name1", "boom")]


def test_large_lists_are_split_into_valid_parts_of_bounded_size(tmp_path):
    result = build(tmp_path, [row(number=f"V-{i:05d}") for i in range(3000)], max_bytes=100_000)
    assert len(result.parts) > 5 and result.records == 3000
    assert all(p.size_bytes < 100_000 + 64 * 1_000 for p in result.parts)  # checked every 64 records
    assert sum(validate_document(p.path, "PartyList")[0] for p in result.parts) == 3000
    assert not list(tmp_path.glob(".*.tmp"))


def test_long_free_text_is_truncated_and_noted_identifiers_are_rejected(tmp_path):
    long_name = row(number="LONG", name1="N" * 450)
    element = party_element(long_name)
    assert element.findtext("Metadata/Name1") == "N" * 400
    assert long_name["_truncated"] == [("Name1", "truncated from 450 to 400 characters")]
    assert party_element(row(number="BADCC", country_code="XX")).field == "CountryCode"


def test_document_check_catches_a_broken_file(tmp_path):
    path = tmp_path / "PartyList.xml"
    path.write_text("<PartyList><Party><Metadata><Number>1</Number></Metadata></Party></PartyList>")
    records, errors = validate_document(path, "PartyList")
    assert errors and "Name1" in errors[0]
    path.write_text("<PartyList><Party>")
    assert validate_document(path, "PartyList")[1]
