"""UBL 2.1 sales documents: values, credit notes, refusals, the XSD subset, and Routty's verdict on them."""

import dataclasses
import random
from datetime import date
from decimal import Decimal

import pytest
from lxml import etree

from assets.xml.fields import RecordError
from assets.invoices.ubl import (CREDIT_NOTE, INVOICE, NS, SalesInvoice, UblLine, UblParty, build_ubl,
                                       split_discount, validate_ubl)
from sandbox.data import cents, vat_breakdown
from sandbox.credentials import ROUTTY_INPUT_OUTBOUND_API_KEY, ROUTTY_KEYS
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
    doc = InputDocument("doc-1", "jortt-1", ROUTTY_KEYS[ROUTTY_INPUT_OUTBOUND_API_KEY], "2024-03-05T10:00:00Z", None,
                        "2024-03-05T10:00:00Z", xml=xml)
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
    # A Rutter line names a tax rate: one the books' tax rates lack, one without a percentage, none at all.
    ({"lines": _line(2, vat_percent=None, tax_rate_id="tr-7", tax_rate_listed=False)}, "lines[2].tax_rate_id",
     ["line 2", "Handboek", "'tr-7'", "not among the books' tax rates"]),
    ({"lines": _line(2, vat_percent=None, tax_rate_id="tr-7", tax_rate_listed=True)}, "lines[2].tax_rate_id",
     ["'tr-7'", "no percentage", "effective_tax_rate"]),
    ({"lines": _line(3, vat_percent=None, tax_rate_id=None, tax_rate_listed=False)}, "lines[3].tax_rate_id",
     ["line 3", "tax_rate_id is empty"]),
    ({"lines": _line(1, vat_percent=D("6"), tax_rate_id="tr-6", tax_rate_listed=True)}, "lines[1].tax_rate_id",
     ["6%", "0%, 9%, 21%"]),
    ({"total_discount": D("345.00"), "total_incl_vat": None}, "total_discount", ["345.00", "344.99"]),
    ({"total_discount": D("-1.00"), "total_incl_vat": None}, "total_discount", ["-1.00", "reduces the net"]),
    ({"total_discount": D("6.90")}, "total_incl_vat", ["discount 6.90", "406.15", "414.44"]),
    ({"lines": _line(1, quantity=D(0))}, "lines[1].quantity", ["quantity 0", "300.00"]),
    ({"total_net": D("345.00")}, "total_net", ["344.99", "345.00"]),
    ({"total_incl_vat": D("414.43")}, "total_incl_vat", ["414.44", "414.43", "69.45"]),
    ({"number": None}, "number", ["no number"]),
    ({"issue_date": None}, "issue_date", ["no issue date", "VAT period", "created", "none is assumed"]),
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


# ---------------------------------------------------------------- header discounts (document-level allowances)

def amounts(root: etree._Element, path: str) -> list[D]:
    return [D(t) for t in texts(root, path)]


def assert_en16931_totals(root: etree._Element) -> None:
    """The business rules on totals, to the cent (EN 16931 / Peppol BIS 3), whatever the document."""
    kind = etree.QName(root).localname
    total = root.find("cac:LegalMonetaryTotal", NS)
    net, excl, incl, payable = (D(text(total, f"cbc:{n}")) for n in (
        "LineExtensionAmount", "TaxExclusiveAmount", "TaxInclusiveAmount", "PayableAmount"))
    allowances = amounts(root, "cac:AllowanceCharge/cbc:Amount")
    allowance_total = D(text(total, "cbc:AllowanceTotalAmount") or 0)
    assert net == sum(amounts(root, f"cac:{kind}Line/cbc:LineExtensionAmount"), D(0))  # BR-CO-10
    assert allowance_total == sum(allowances, D(0))  # BR-CO-11
    assert excl == net - allowance_total  # BR-CO-13
    tax = D(text(root, "cac:TaxTotal/cbc:TaxAmount"))
    assert incl == excl + tax and payable == incl  # BR-CO-15, BR-CO-16
    subtotals = {D(text(s, "cac:TaxCategory/cbc:Percent")): (D(text(s, "cbc:TaxableAmount")), D(text(s, "cbc:TaxAmount")))
                 for s in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", NS)}
    assert tax == sum((t for _, t in subtotals.values()), D(0))  # BR-CO-14
    line_nets: dict[D, D] = {}
    for line in root.iterfind(f"cac:{kind}Line", NS):
        pct = D(text(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent"))
        line_nets[pct] = line_nets.get(pct, D(0)) + D(text(line, "cbc:LineExtensionAmount"))
    shares = {D(text(a, "cac:TaxCategory/cbc:Percent")): D(text(a, "cbc:Amount"))
              for a in root.iterfind("cac:AllowanceCharge", NS)}
    assert len(shares) == len(allowances)  # one allowance per rate
    for pct, (taxable, rate_tax) in subtotals.items():
        assert taxable == line_nets[pct] - shares.get(pct, D(0))  # BR-S-08 and its kin per category
        assert rate_tax == cents(taxable * pct / 100)  # BR-CO-17
    assert texts(root, "cac:AllowanceCharge/cbc:ChargeIndicator") == ["false"] * len(allowances)


def test_a_header_discount_is_an_allowance_per_rate_and_the_totals_add_up_to_the_cent():
    # 2% of 344.99 = 6.90: 21% gets 6.90 × 319.99 / 344.99 = 6.39999 -> 6.40, 9% 6.90 × 25 / 344.99 = 0.50001 -> 0.50
    # VAT: 21% of 313.59 = 65.8539 -> 65.85; 9% of 24.50 = 2.205 -> 2.21 (half-up); total 68.06
    xml = build_ubl(invoice(total_discount=D("6.90"), total_incl_vat=D("406.15")))
    root = parse(xml)
    assert [etree.QName(e).localname for e in root][9:15] == [
        "AccountingCustomerParty", "PaymentMeans", "AllowanceCharge", "AllowanceCharge", "TaxTotal", "LegalMonetaryTotal"]
    allowance = root.find("cac:AllowanceCharge", NS)
    assert [etree.QName(e).localname for e in allowance] == [
        "ChargeIndicator", "AllowanceChargeReasonCode", "AllowanceChargeReason", "Amount", "TaxCategory"]
    assert [(text(a, "cac:TaxCategory/cbc:Percent"), text(a, "cac:TaxCategory/cbc:ID"), text(a, "cbc:Amount"),
             text(a, "cbc:AllowanceChargeReasonCode"), text(a, "cbc:AllowanceChargeReason"))
            for a in root.iterfind("cac:AllowanceCharge", NS)] == [
        ("9.00", "S", "0.50", "95", "Discount"), ("21.00", "S", "6.40", "95", "Discount")]
    assert [tuple(text(s, p) for p in ("cac:TaxCategory/cbc:Percent", "cbc:TaxableAmount", "cbc:TaxAmount"))
            for s in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", NS)] == [
        ("9.00", "24.50", "2.21"), ("21.00", "313.59", "65.85")]
    assert [text(root, f"cac:LegalMonetaryTotal/cbc:{n}") for n in (
        "LineExtensionAmount", "TaxExclusiveAmount", "TaxInclusiveAmount", "AllowanceTotalAmount", "PayableAmount")] == [
        "344.99", "338.09", "406.15", "6.90", "406.15"]
    assert texts(root, "cac:InvoiceLine/cbc:LineExtensionAmount") == ["300.00", "25.00", "19.99"]  # lines untouched
    assert_en16931_totals(root)
    validate_ubl(xml)
    assert verdict(xml) == ("Success", None, None)
    expected = vat_breakdown([(ln.net_amount, ln.vat_percent) for ln in LINES], D("6.90"))  # the sandbox's books
    assert {p: (b, t) for p, b, t in ((D(text(s, "cac:TaxCategory/cbc:Percent")), D(text(s, "cbc:TaxableAmount")),
                                       D(text(s, "cbc:TaxAmount"))) for s in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", NS))
            } == expected


def test_a_discount_on_one_rate_is_one_allowance_and_none_means_no_allowance():
    lines = (UblLine("Advies", D(2), D("50.00"), D("100.00"), D(21)),)
    root = parse(build_ubl(invoice(lines=lines, total_net=D(100), total_discount=D("2.00"), total_incl_vat=D("118.58"))))
    assert amounts(root, "cac:AllowanceCharge/cbc:Amount") == [D("2.00")]
    assert text(root, "cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount") == "98.00"
    assert_en16931_totals(root)
    for none in (None, D(0)):
        root = parse(build_ubl(invoice(total_discount=none)))
        assert root.find("cac:AllowanceCharge", NS) is None
        assert root.find("cac:LegalMonetaryTotal/cbc:AllowanceTotalAmount", NS) is None


@pytest.mark.parametrize("discount, bases, shares", [
    ("6.90", {21: "319.99", 9: "25.00"}, {9: "0.50", 21: "6.40"}),
    ("0.01", {0: "1.00", 9: "1.00", 21: "1.00"}, {21: "0.01"}),  # a cent over equal nets: to the higher rate
    ("0.05", {9: "1.00", 21: "1.00"}, {9: "0.03", 21: "0.02"}),  # 0.025 each rounds up twice: one cent back
    ("0.02", {0: "1.00", 9: "1.00", 21: "1.00"}, {0: "0.01", 9: "0.01"}),  # 0.0067 -> 0.01 thrice: 21% gives one back
    ("1.00", {0: "0.01", 21: "99.99"}, {21: "1.00"}),  # a share that rounds to nothing is no allowance
    ("10.00", {9: "33.33", 21: "66.67"}, {9: "3.33", 21: "6.67"}),
    ("3.00", {0: "10.00", 9: "10.00", 21: "10.00"}, {0: "1.00", 9: "1.00", 21: "1.00"}),
    ("-2.00", {21: "-100.00"}, {21: "-2.00"}),  # a credit's discount, in the credit's sign
    ("344.99", {21: "319.99", 9: "25.00"}, {9: "25.00", 21: "319.99"}),  # the whole net
])
def test_a_discount_splits_pro_rata_with_the_cents_left_over_on_the_largest_net(discount, bases, shares):
    got = split_discount(D(discount), {D(p): D(b) for p, b in bases.items()})
    assert got == {D(p): D(v) for p, v in shares.items()}
    assert sum(got.values(), D(0)) == D(discount)


def test_a_discount_over_nets_of_opposite_signs_is_refused_not_guessed():
    with pytest.raises(RecordError) as caught:
        split_discount(D("1.00"), {D(9): D("-50.00"), D(21): D("100.00")})
    assert caught.value.field == "total_discount" and "opposite signs" in caught.value.reason


def test_a_discounted_credit_note_carries_its_allowances_positive():
    original = invoice(total_discount=D("6.90"), total_incl_vat=D("406.15"))
    xml = build_ubl(credit_of(original, total_discount=D("-6.90"), total_incl_vat=D("-406.15")))
    root = parse(xml)
    assert etree.QName(root).localname == "CreditNote"
    assert [etree.QName(e).localname for e in root][10:14] == [
        "PaymentMeans", "AllowanceCharge", "AllowanceCharge", "TaxTotal"]
    assert amounts(root, "cac:AllowanceCharge/cbc:Amount") == [D("0.50"), D("6.40")]
    assert text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "406.15"
    assert_en16931_totals(root)
    assert verdict(xml) == ("Success", None, None)


def test_the_xsd_keeps_the_allowance_in_its_ubl_place():
    root = parse(build_ubl(invoice(total_discount=D("6.90"), total_incl_vat=D("406.15"))))
    root.find("cac:TaxTotal", NS).addnext(root.find("cac:AllowanceCharge", NS))  # after TaxTotal: out of order
    with pytest.raises(RecordError) as caught:
        validate_ubl(etree.tostring(root))
    assert caught.value.field == "AllowanceCharge" and "not expected" in caught.value.reason
    root = parse(build_ubl(invoice(total_discount=D("6.90"), total_incl_vat=D("406.15"))))
    root.find("cac:AllowanceCharge/cbc:ChargeIndicator", NS).text = "no"
    with pytest.raises(RecordError, match="ChargeIndicator"):
        validate_ubl(etree.tostring(root))


def test_every_discounted_document_built_adds_up_and_passes_routtys_totals_check():
    rng = random.Random(11)
    for i in range(200):
        lines = tuple(UblLine(f"Regel {i}", D(1), price, price, D(rng.choice([21, 9, 0])))
                      for price in (cents(D(rng.randint(1, 500000)) / 100) for _ in range(rng.randint(1, 5))))
        nets = [(ln.net_amount, ln.vat_percent) for ln in lines]
        net = sum((n for n, _ in nets), D(0))
        discount = cents(net * D(rng.choice(["0.01", "0.02", "0.025", "0.1", "0.333"])))
        if rng.random() < 0.3:  # a credit: everything negative
            lines, net, discount = negated(lines), -net, -discount
            nets = [(-n, p) for n, p in nets]
        incl = net - discount + sum((t for _, t in vat_breakdown(nets, discount).values()), D(0))
        xml = build_ubl(invoice(lines=lines, total_net=net, total_discount=discount, total_incl_vat=incl))
        root = parse(xml)
        assert_en16931_totals(root)
        assert D(text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount")) == abs(incl)
        assert verdict(xml) == ("Success", None, None), xml.decode()
