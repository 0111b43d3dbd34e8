"""Exports are refused only when booking them is impossible; everything else lands with warnings and is
booked with what it has (dates fall back, amounts stay exact); feedback is made to fit its schema or
refused with the reason. Unit level: no sandbox."""

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from lxml import etree

from assets.ingest.endpoints import rutter as rutter_streams
from assets.exports import booking as export_booking
from assets.exports.parser import ExportInvalid, land_export, parse_export
from assets.exports.feedback import Booking, FeedbackInvalid, feedback_xml
from assets.ingest.tables import ensure_stream_tables
from resources.warehouse import ensure_schema

FIXTURE = Path(__file__).parents[2] / "fixtures" / "routty_export_full.xml"
GUID = "3F2504E0-4F89-41D3-9A0C-0305E82C3301"


def minimal_export(vendor: str = "vendor-1", account: str = "7000", amounts=("100.00",), set_id: str = "5001",
                   guid: str = GUID, header: str = "<ReceptionDate>2024-05-03</ReceptionDate>", supplier: str = "",
                   coding_extra: str = "") -> bytes:
    """The least an export can carry and still be booked: identity, supplier, coded amounts (and a date)."""
    coding = "".join(f"<PurchaseInvoiceCodingLine><GlAccount>{account}</GlAccount><DebitAmount>{amount}</DebitAmount>"
                     f"{coding_extra}</PurchaseInvoiceCodingLine>" for amount in amounts)
    supplier = supplier or f"<Supplier><Number>{vendor}</Number></Supplier>"
    return f"""<?xml version="1.0" encoding="utf-8"?>
<RouttyExportDocument>
  <MetaData><DocumentSetId>{set_id}</DocumentSetId><Guid>{guid}</Guid><DocumentType>380</DocumentType></MetaData>
  <PurchaseInvoice>
    <PurchaseInvoiceHeader>{supplier}{header}</PurchaseInvoiceHeader>
    <PurchaseInvoiceCodingLines>{coding}</PurchaseInvoiceCodingLines>
  </PurchaseInvoice>
</RouttyExportDocument>""".encode()


@pytest.fixture
def books():
    """A warehouse with the books' vendors and accounts the exports below name."""
    conn = duckdb.connect()
    ensure_schema(conn)
    for spec in (rutter_streams.VENDORS, rutter_streams.ACCOUNTS, rutter_streams.PURCHASE_ORDERS):
        ensure_stream_tables(conn, spec)
    for vendor in ("vendor-1", "9b2e4c6d-1a3f-4e5b-8c7d-0f1e2d3c4b5a"):
        conn.execute("INSERT INTO staging.rutter_vendors (tenant_id, id, loaded_at) VALUES ('t', ?, now())", [vendor])
    for account, code in (("acc-7000", "7000"), ("acc-4600", "4600")):
        conn.execute("INSERT INTO staging.rutter_accounts (tenant_id, id, nominal_code, loaded_at) "
                     "VALUES ('t', ?, ?, now())", [account, code])
    return conn


def landed_bill(conn, xml: bytes) -> dict:
    land_export(conn, "t", "doc-1", parse_export(xml))
    return export_booking.bill_request(conn, "t", "doc-1")


def test_a_valid_export_missing_what_the_xsd_demands_lands_with_warnings():
    root = etree.fromstring(FIXTURE.read_bytes())
    order_header = root.find("PurchaseInvoice/MatchedPurchaseOrders/PurchaseOrder/PurchaseOrderHeader")
    order_header.remove(order_header.find("DocumentDate"))  # the seed's tables require nothing
    parsed = parse_export(etree.tostring(root))
    assert any("DocumentDate" in w for w in parsed.warnings)
    assert parsed.tables["matched_orders"][0]["DocumentReference"] == "PO-2024-00017"


def test_the_minimal_export_is_parsed_and_billed_on_its_reception_date(books):
    parsed = parse_export(minimal_export())
    assert {"no DocumentDate (invoice date) in the header", "no Currency (currency) in the header"} <= set(parsed.warnings)
    bill = landed_bill(books, minimal_export())
    assert bill["issue_date"] == "2024-05-03" and "ReceptionDate" in bill["memo"]
    assert bill["vendor_id"] == "vendor-1" and "due_date" not in bill and "document_number" not in bill
    [line] = bill["line_items"]
    assert (line["account_id"], line["total_amount"], line["tax_amount"]) == ("acc-7000", Decimal("100.00"), 0)


def test_without_any_usable_date_the_booking_is_a_business_error(books):
    xml = minimal_export(header="<DocumentDate>31-01-2024</DocumentDate>")
    with pytest.raises(export_booking.BusinessError, match="no invoice date .* set the invoice date in Routty"):
        landed_bill(books, xml)


@pytest.mark.parametrize("xml, reason", [
    (b"<RouttyExportDocument><MetaData>", "not well-formed"),
    (minimal_export(guid=""), "no Guid"),
    (minimal_export(supplier="<Supplier><Name>Somebody</Name></Supplier>"), "no supplier identification"),
    (minimal_export(amounts=()), "no amounts"),
    (minimal_export(amounts=("1.234,50",)), "not a decimal number"),
    (minimal_export(coding_extra="<PurchaseInvoiceLinesId>42</PurchaseInvoiceLinesId>"), "names invoice line 42"),
])
def test_only_what_makes_booking_impossible_is_quarantined(xml, reason):
    with pytest.raises(ExportInvalid, match=reason):
        parse_export(xml)


def test_a_supplier_known_only_by_its_vat_number_is_enough():
    supplier = ("<Supplier><Name>X</Name><RegistrationNumbers><RegistrationNumber><Number>NL1</Number>"
                "<Scheme>VAT</Scheme></RegistrationNumber></RegistrationNumbers></Supplier>")
    assert parse_export(minimal_export(supplier=supplier)).guid == GUID


def test_the_seeds_full_example_lands_and_makes_a_bill(books):
    parsed = parse_export(FIXTURE.read_bytes())
    assert parsed.warnings == []
    bill = landed_bill(books, FIXTURE.read_bytes())
    assert (bill["issue_date"], bill["document_number"]) == ("2024-05-02", "INV-2024-0042")
    assert [(ln["account_id"], ln["total_amount"]) for ln in bill["line_items"]] == [
        ("acc-7000", Decimal("1000.00")), ("acc-4600", Decimal("250.00"))]


def test_amounts_go_from_the_xml_to_the_json_exactly(books):
    amounts = ("2.675", "1.005", "10000000000000000.01")
    body = export_booking.dumps_exact(landed_bill(books, minimal_export(amounts=amounts)))
    for amount in amounts:
        assert f'"total_amount":{amount},' in body
    assert [ln["total_amount"] for ln in json.loads(body, parse_float=Decimal)["line_items"]] == \
        [Decimal(a) for a in amounts]


def test_feedback_is_made_to_fit_its_schema_or_refused_with_the_reason():
    journal = "J" * 60
    xml = feedback_xml("Booked", GUID, "1042", ["bell\x07 and\x0b tab\tkept"], Booking("bill-1", date(2024, 5, 2), journal))
    root = etree.fromstring(xml)
    assert root.findtext("RouttyFeedbackDocument/FeedbackAccounting/Journal") == "J" * 50
    messages = [m.text for m in root.iterfind("RouttyFeedbackDocument/Messages/Message")]
    assert messages[0] == "bell and tab\tkept" and "Journal truncated to 50 characters" in messages[1]
    with pytest.raises(FeedbackInvalid, match="DocumentSetId"):
        feedback_xml("Received", GUID, "SET-1042", ["Downloaded and read"])
