"""UBL 2.1 sales documents: values, credit notes, refusals, the XSD subset, and Routty's verdict on them."""

import dataclasses
import random
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from assets.routty.fields import RecordError
from assets.routty.ubl_invoice import CREDIT_NOTE, INVOICE, NS, SalesInvoice, UblLine, UblParty, build_ubl, validate_ubl
from sandbox.dataset import cents, vat_breakdown
from sandbox.routty_documents import InputDocument, _verdict

D = Decimal
SUPPLIER = UblParty("OWN-1", "Acme Consultancy BV", "Damrak 1", "1012 LG", "Amsterdam", "NL", "NL123456789B01",
                    "12345678", "facturen@acme.example")
CUSTOMER = UblParty("C-0042", "Kaasmakerij De Rijp", "Kerkstraat 2", "3511 AB", "Utrecht", "NL", "NL987654321B01", None)
LINES = (UblLine("Consultancy", D("3"), D("100.00"), D("300.00"), D("21.0")),
         UblLine("Handboek", D("2"), D("12.50"), D("25.00"), D("9.0")),
         UblLine("Installatie", D("1"), D("19.99"), D("19.99"), D("21.0")))
# 21%: 319.99 -> 67.1979 -> 67.20; 9%: 25.00 -> 2.25; VAT 69.45
PARTNERS = {"C-0042": {"registrationNumbers": []}}  # Routty's business partners by Number, as the sandbox keeps them
BASE = SalesInvoice("jortt-1", "2024-0007", date(2024, 3, 5), date(2024, 4, 4), "EUR", SUPPLIER, CUSTOMER, LINES,
                    iban="NL91 ABNA 0417 1643 00", total_net=D("344.99"), total_incl_vat=D("414.44"),
                    buyer_reference="PO 4711")


def invoice(**overrides) -> SalesInvoice:
    return dataclasses.replace(BASE, **overrides)


def credit_of(original: SalesInvoice, **overrides) -> SalesInvoice:
    """Credited in full the way Jortt does it: the same units at negative prices."""
    return dataclasses.replace(original, **{
        "number": "2024-0031", "issue_date": date(2024, 3, 20), "lines": negated(original.lines),
        "total_net": -original.total_net, "total_incl_vat": -original.total_incl_vat,
        "credited_number": original.number, "credited_issue_date": original.issue_date, **overrides})


def negated(lines) -> tuple[UblLine, ...]:
    return tuple(dataclasses.replace(ln, unit_price=-ln.unit_price, net_amount=-ln.net_amount) for ln in lines)


def parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml)


def text(root: etree._Element, path: str) -> str | None:
    return root.findtext(path, namespaces=NS)


def texts(root: etree._Element, path: str) -> list[str]:
    return [e.text for e in root.iterfind(path, NS)]


def verdict(xml: bytes, partners=PARTNERS) -> tuple[str, str | None, str | None]:
    doc = InputDocument("doc-1", "jortt-1", "Outbound", "2024-03-05T10:00:00Z", None, "2024-03-05T10:00:00Z", xml=xml)
    return _verdict(doc, partners)


def test_an_invoice_with_two_vat_rates_carries_its_breakdown_totals_and_parties():
    xml = build_ubl(invoice())
    root = parse(xml)
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>") and root.tag == f"{{{INVOICE}}}Invoice"
    assert [etree.QName(e).localname for e in root] == [
        "CustomizationID", "ProfileID", "ID", "IssueDate", "DueDate", "InvoiceTypeCode", "DocumentCurrencyCode",
        "BuyerReference", "AccountingSupplierParty", "AccountingCustomerParty", "PaymentMeans", "TaxTotal",
        "LegalMonetaryTotal", "InvoiceLine", "InvoiceLine", "InvoiceLine"]
    header = ("ID", "IssueDate", "DueDate", "InvoiceTypeCode", "DocumentCurrencyCode", "BuyerReference")
    assert [text(root, f"cbc:{n}") for n in header] == [
        "2024-0007", "2024-03-05", "2024-04-04", "380", "EUR", "PO 4711"]
    supplier = root.find("cac:AccountingSupplierParty/cac:Party", NS)
    customer = root.find("cac:AccountingCustomerParty/cac:Party", NS)
    assert text(supplier, "cac:PartyIdentification/cbc:ID") == "OWN-1"
    assert text(supplier, "cac:PartyTaxScheme/cbc:CompanyID") == "NL123456789B01"
    assert text(supplier, "cac:PartyLegalEntity/cbc:CompanyID") == "12345678"
    assert text(supplier, "cac:Contact/cbc:ElectronicMail") == "facturen@acme.example"
    assert text(customer, "cac:PartyIdentification/cbc:ID") == "C-0042"
    assert text(customer, "cac:PostalAddress/cac:Country/cbc:IdentificationCode") == "NL"
    assert customer.find("cac:PartyLegalEntity/cbc:CompanyID", NS) is None  # no CoC number: no empty element
    means = root.find("cac:PaymentMeans", NS)
    assert [text(means, p) for p in ("cbc:PaymentMeansCode", "cbc:PaymentID", "cac:PayeeFinancialAccount/cbc:ID")] == [
        "58", "2024-0007", "NL91ABNA0417164300"]
    subtotals = [tuple(text(s, p) for p in ("cac:TaxCategory/cbc:Percent", "cac:TaxCategory/cbc:ID",
                                            "cbc:TaxableAmount", "cbc:TaxAmount"))
                 for s in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", NS)]
    assert subtotals == [("9.00", "S", "25.00", "2.25"), ("21.00", "S", "319.99", "67.20")]
    expected = vat_breakdown([(ln.net_amount, ln.vat_percent) for ln in LINES])  # the sandbox dataset's rule
    assert {D(p): (D(b), D(t)) for p, _, b, t in subtotals} == expected
    assert text(root, "cac:TaxTotal/cbc:TaxAmount") == "69.45"
    assert [text(root, f"cac:LegalMonetaryTotal/cbc:{n}") for n in (
        "LineExtensionAmount", "TaxExclusiveAmount", "TaxInclusiveAmount", "PayableAmount")] == [
        "344.99", "344.99", "414.44", "414.44"]
    assert {e.get("currencyID") for e in root.iter() if "Amount" in etree.QName(e).localname} == {"EUR"}
    assert texts(root, "cac:InvoiceLine/cbc:ID") == ["1", "2", "3"]
    assert [(q.text, q.get("unitCode")) for q in root.iterfind("cac:InvoiceLine/cbc:InvoicedQuantity", NS)] == [
        ("3", "C62"), ("2", "C62"), ("1", "C62")]
    assert texts(root, "cac:InvoiceLine/cbc:LineExtensionAmount") == ["300.00", "25.00", "19.99"]
    assert texts(root, "cac:InvoiceLine/cac:Price/cbc:PriceAmount") == ["100.00", "12.50", "19.99"]
    assert texts(root, "cac:InvoiceLine/cac:Item/cbc:Name") == ["Consultancy", "Handboek", "Installatie"]
    assert texts(root, "cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory/cbc:Percent") == ["21.00", "9.00", "21.00"]
    assert verdict(xml) == ("Success", None, None)


def test_a_credit_note_references_the_credited_invoice_with_positive_amounts():
    xml = build_ubl(credit_of(invoice(), note="Retour: verkeerde levering"))
    root = parse(xml)
    assert root.tag == f"{{{CREDIT_NOTE}}}CreditNote"
    assert [etree.QName(e).localname for e in root] == [
        "CustomizationID", "ProfileID", "ID", "IssueDate", "CreditNoteTypeCode", "Note", "DocumentCurrencyCode",
        "BuyerReference", "BillingReference", "AccountingSupplierParty", "AccountingCustomerParty", "PaymentMeans",
        "TaxTotal", "LegalMonetaryTotal", "CreditNoteLine", "CreditNoteLine", "CreditNoteLine"]
    assert text(root, "cbc:Note") == "Retour: verkeerde levering"
    assert text(root, "cbc:CreditNoteTypeCode") == "381" and text(root, "cbc:DueDate") is None
    assert text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == "2024-0007"
    assert text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate") == "2024-03-05"
    assert text(root, "cac:PaymentMeans/cbc:PaymentDueDate") == "2024-04-04"
    assert not [e for e in root.iter() if e.get("currencyID") and e.text.startswith("-")]
    assert texts(root, "cac:CreditNoteLine/cbc:CreditedQuantity") == ["3", "2", "1"]
    assert root.find("cac:CreditNoteLine/cbc:InvoicedQuantity", NS) is None
    assert texts(root, "cac:CreditNoteLine/cac:Price/cbc:PriceAmount") == ["100.00", "12.50", "19.99"]
    assert text(root, "cac:TaxTotal/cbc:TaxAmount") == "69.45"
    assert text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "414.44"
    assert verdict(xml) == ("Success", None, None)


def test_what_makes_a_credit_note_a_negative_total_or_a_credited_invoice():
    negative = parse(build_ubl(credit_of(invoice(), credited_number=None, credited_issue_date=None)))
    assert etree.QName(negative).localname == "CreditNote" and negative.find("cac:BillingReference", NS) is None
    assert text(negative, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "414.44"
    positive = parse(build_ubl(invoice(credited_number="2024-0001")))  # a source that books credits positive
    assert etree.QName(positive).localname == "CreditNote"
    assert text(positive, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == "2024-0001"
    assert text(positive, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "414.44"


def test_the_net_amount_rules_prices_stay_positive_and_vat_rounds_half_up_per_rate():
    lines = (UblLine("Uren", D("3"), D("3.33"), D("10.00"), D("21")),  # 3 × 3.33 = 9.99: the source rounded the net
             UblLine("Schroeven", D("1000"), D("0.01234"), D("12.34"), D("21")),  # a sub-cent price that explains it
             UblLine("Korting", D("1"), D("-5.00"), D("-5.00"), D("21")),  # a discount line: negative quantity
             UblLine("Reiskosten", None, None, D("0.50"), D("9")),  # no quantity: one unit at the net
             UblLine("Kop", D("0"), None, D("0"), D("0")))  # a text line
    # 21%: 17.34 -> 3.6414 -> 3.64; 9%: 0.50 -> 0.045 -> 0.05 (half-up, not half-even); 0%: 0
    root = parse(xml := build_ubl(invoice(lines=lines, total_net=D("17.84"), total_incl_vat=D("21.53"))))
    assert texts(root, "cac:InvoiceLine/cbc:LineExtensionAmount") == ["10.00", "12.34", "-5.00", "0.50", "0.00"]
    assert texts(root, "cac:InvoiceLine/cac:Price/cbc:PriceAmount") == ["3.3333", "0.0123", "5.00", "0.50", "0.00"]
    assert texts(root, "cac:InvoiceLine/cbc:InvoicedQuantity") == ["3", "1000", "-1", "1", "0"]
    assert texts(root, "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount") == ["0.00", "0.05", "3.64"]
    assert texts(root, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID") == ["Z", "S", "S"]
    assert verdict(xml) == ("Success", None, None)


def test_vat_is_rounded_once_per_rate_not_per_line():
    lines = (UblLine("A", D(1), D("0.50"), D("0.50"), D(21)), UblLine("B", D(1), D("0.50"), D("0.50"), D(21)))
    root = parse(build_ubl(invoice(lines=lines, total_net=D("1.00"), total_incl_vat=D("1.21"))))  # per line: 1.22
    assert text(root, "cac:TaxTotal/cbc:TaxAmount") == "0.21"


def test_a_tenant_may_map_its_own_vat_rates():
    lines = (UblLine("Export", D(1), D(100), D(100), D(0)),)
    root = parse(build_ubl(invoice(lines=lines, total_net=D(100), total_incl_vat=D(100)), {D(0): "K", D(21): "S"}))
    assert text(root, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID") == "K"


def _line(n: int, **changes) -> tuple[UblLine, ...]:
    return tuple(dataclasses.replace(ln, **changes) if i == n else ln for i, ln in enumerate(LINES, 1))


@pytest.mark.parametrize("overrides, field, words", [
    ({"customer": None}, "customer", ["no known customer"]),
    ({"customer": dataclasses.replace(CUSTOMER, number=None)}, "customer.number", ["Kaasmakerij De Rijp", "PartyList"]),
    ({"customer": dataclasses.replace(CUSTOMER, number="")}, "customer.number", ["party Number"]),
    ({"lines": ()}, "lines", ["no lines"]),
    ({"lines": _line(2, net_amount=None)}, "lines[2].net_amount", ["line 2", "Handboek"]),
    ({"lines": _line(3, vat_percent=None)}, "lines[3].vat_percent", ["no VAT rate"]),
    ({"lines": _line(1, vat_percent=D("19"))}, "lines[1].vat_percent", ["19%", "0%, 9%, 21%"]),
    ({"lines": _line(1, quantity=D(0))}, "lines[1].quantity", ["quantity 0", "300.00"]),
    ({"total_net": D("345.00")}, "total_net", ["344.99", "345.00"]),
    ({"total_incl_vat": D("414.43")}, "total_incl_vat", ["414.44", "414.43", "69.45"]),
    ({"number": None}, "number", ["no number"]),
    ({"issue_date": None}, "issue_date", ["no invoice date"]),
    ({"currency": None}, "currency", ["no currency"]),
    ({"iban": "NL91ABNA0417164301"}, "iban", ["checksum"]),
    ({"customer": dataclasses.replace(CUSTOMER, country_code="Nederland")}, "customer.country_code", ["ISO 3166"]),
    ({"currency": "euro"}, "DocumentCurrencyCode", ["euro", "[A-Z]{3}"]),  # caught by the XSD on the way out
    ({"lines": _line(1, description="Bell \x07")}, "Name", ["not valid in XML"]),
])
def test_a_document_that_cannot_be_built_names_the_field(overrides, field, words):
    with pytest.raises(RecordError) as caught:
        build_ubl(invoice(**overrides))
    assert caught.value.field == field
    assert all(w in caught.value.reason for w in words), caught.value.reason


def test_the_xsd_subset_keeps_ubl_order_and_types():
    root = parse(build_ubl(invoice()))
    validate_ubl(etree.tostring(root))
    due = root.find("cbc:DueDate", NS)
    root.find("cbc:InvoiceTypeCode", NS).addnext(due)  # DueDate after InvoiceTypeCode: out of UBL's order
    with pytest.raises(RecordError) as caught:
        validate_ubl(etree.tostring(root))
    assert caught.value.field == "DueDate" and "not expected" in caught.value.reason
    root = parse(build_ubl(invoice()))
    del root.find("cac:LegalMonetaryTotal/cbc:PayableAmount", NS).attrib["currencyID"]
    with pytest.raises(RecordError, match="currencyID"):
        validate_ubl(etree.tostring(root))
    root = parse(build_ubl(invoice()))
    root.find("cbc:IssueDate", NS).text = "05-03-2024"
    with pytest.raises(RecordError) as caught:
        validate_ubl(etree.tostring(root))
    assert caught.value.field == "IssueDate"
    with pytest.raises(RecordError, match="neither a UBL 2.1 Invoice nor a CreditNote"):
        validate_ubl(b"<Invoice/>")


def test_routty_knows_only_customers_sent_as_parties():
    status, code, _ = verdict(build_ubl(invoice()), partners={"C-0001": {"registrationNumbers": []}})
    assert (status, code) == ("Error", "BusinessPartnerNotFound")


def test_every_document_built_passes_routtys_totals_check():
    """Refusing mismatched totals makes Rejected/TotalsMismatch impossible: any invoice that builds passes."""
    rng = random.Random(5)
    for i in range(150):
        lines = []
        for _ in range(rng.randint(1, 6)):
            units = D(rng.choice(["1", "2", "3", "0.5", "7", "12.25"]))
            price = cents(D(rng.randint(-2000, 90000)) / 100)
            net = cents(units * price) + rng.choice([D(0), D(0), D("0.01"), D("-0.01")])  # sometimes not units × price
            lines.append(UblLine(f"Regel {i}", units, price, net, D(rng.choice([21, 9, 0]))))
        if rng.random() < 0.3:  # a credit: Jortt's negative prices
            lines = negated(lines)
        nets = [(ln.net_amount, ln.vat_percent) for ln in lines]
        net = sum((n for n, _ in nets), D(0))
        incl = net + sum((t for _, t in vat_breakdown(nets).values()), D(0))
        xml = build_ubl(invoice(lines=tuple(lines), total_net=net, total_incl_vat=incl))
        assert verdict(xml) == ("Success", None, None), xml.decode()
        assert (etree.QName(parse(xml)).localname == "CreditNote") == (incl < 0)
