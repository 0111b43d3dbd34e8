"""Generated documents: a one-page PDF (Jortt downloads) and UBL 2.1 Peppol BIS 3 invoices (B2Brouter).

Both are derived from the JSON record alone, so the same record always gives the same bytes.
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from sandbox.data import vat_breakdown

UBL = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
BIS3 = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
# Peppol EAS schemes whose identifier is the VAT number itself, for the parties' EndpointID.
VAT_SCHEMES = {"NL": "9944", "BE": "9925", "DE": "9930", "FR": "9957", "ES": "9920", "IT": "0211",
               "DK": "0184", "PL": "9945", "IE": "9935", "GB": "9932", "GR": "9933", "BG": "9926"}


# ---------------------------------------------------------------- PDF

def _pdf_text(text: str) -> bytes:
    raw = text.encode("cp1252", "replace")  # Helvetica with WinAnsiEncoding: other scripts become '?'
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def pdf(lines: list[str]) -> bytes:
    """A minimal, valid one-page PDF 1.4 showing `lines`, with a correct cross-reference table."""
    content = b"BT /F1 11 Tf 50 790 Td 14 TL " + b" ".join(_pdf_text(t) + b" '" for t in lines) + b" ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"]
    out, offsets = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# ---------------------------------------------------------------- UBL

def _el(parent, ns: str, name: str, text=None, **attrs):
    el = etree.SubElement(parent, f"{{{ns}}}{name}", {k: str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = str(text)
    return el


def _amount(parent, name: str, value: Decimal, currency: str) -> None:
    _el(parent, CBC, name, f"{value:.2f}", currencyID=currency)


def _party(parent, role: str, party: dict) -> None:
    """party: name, vat, country (ISO 2), street, city, postal_code: the same keys for both sides."""
    p = _el(_el(parent, CAC, role), CAC, "Party")
    scheme = VAT_SCHEMES.get(party["country"])
    if scheme and party.get("vat"):
        _el(p, CBC, "EndpointID", party["vat"], schemeID=scheme)
    _el(_el(p, CAC, "PartyName"), CBC, "Name", party["name"])
    address = _el(p, CAC, "PostalAddress")
    for name, key in (("StreetName", "street"), ("CityName", "city"), ("PostalZone", "postal_code")):
        if party.get(key):
            _el(address, CBC, name, party[key])
    _el(_el(address, CAC, "Country"), CBC, "IdentificationCode", party["country"])
    if party.get("vat"):
        tax = _el(p, CAC, "PartyTaxScheme")
        _el(tax, CBC, "CompanyID", party["vat"])
        _el(_el(tax, CAC, "TaxScheme"), CBC, "ID", "VAT")
    _el(_el(p, CAC, "PartyLegalEntity"), CBC, "RegistrationName", party["name"])


def _category(parent, name: str, category: str, percent: Decimal) -> None:
    cat = _el(parent, CAC, name)
    _el(cat, CBC, "ID", category)
    _el(cat, CBC, "Percent", f"{percent:.2f}")
    _el(_el(cat, CAC, "TaxScheme"), CBC, "ID", "VAT")


def ubl_invoice(invoice: dict, supplier: dict, customer: dict) -> bytes:
    """A B2Brouter invoice as UBL 2.1 / Peppol BIS Billing 3.0, totals recomputed from its lines the
    way the JSON's were (so they agree)."""
    cur = invoice["currency"]
    root = etree.Element(f"{{{UBL}}}Invoice", nsmap={None: UBL, "cac": CAC, "cbc": CBC})
    for name, text in (("CustomizationID", BIS3), ("ProfileID", PEPPOL_PROFILE), ("ID", invoice["number"]),
                       ("IssueDate", invoice["date"]), ("DueDate", invoice["due_date"]),
                       ("InvoiceTypeCode", "380"), ("DocumentCurrencyCode", cur),
                       ("BuyerReference", invoice["number"])):
        _el(root, CBC, name, text)
    _party(root, "AccountingSupplierParty", supplier)
    _party(root, "AccountingCustomerParty", customer)
    lines = [(Decimal(str(ln["amount"])), Decimal(str(ln["taxes"][0]["percent"])), ln) for ln in invoice["lines"]]
    categories = {pct: ln["taxes"][0]["category"] for _, pct, ln in lines}
    breakdown = vat_breakdown([(net, pct) for net, pct, _ in lines])
    net_total = sum((net for net, _, _ in lines), Decimal(0))
    tax_total = sum((tax for _, tax in breakdown.values()), Decimal(0))
    tax = _el(root, CAC, "TaxTotal")
    _amount(tax, "TaxAmount", tax_total, cur)
    for pct, (base, amount) in sorted(breakdown.items()):
        sub = _el(tax, CAC, "TaxSubtotal")
        _amount(sub, "TaxableAmount", base, cur)
        _amount(sub, "TaxAmount", amount, cur)
        _category(sub, "TaxCategory", categories[pct], pct)
    totals = _el(root, CAC, "LegalMonetaryTotal")
    for name, value in (("LineExtensionAmount", net_total), ("TaxExclusiveAmount", net_total),
                        ("TaxInclusiveAmount", net_total + tax_total), ("PayableAmount", net_total + tax_total)):
        _amount(totals, name, value, cur)
    for n, (net, pct, ln) in enumerate(lines, 1):
        line = _el(root, CAC, "InvoiceLine")
        _el(line, CBC, "ID", n)
        _el(line, CBC, "InvoicedQuantity", ln["quantity"], unitCode="C62")
        _amount(line, "LineExtensionAmount", net, cur)
        item = _el(line, CAC, "Item")
        _el(item, CBC, "Name", ln["description"])
        _category(item, "ClassifiedTaxCategory", categories[pct], pct)
        _el(_el(line, CAC, "Price"), CBC, "PriceAmount", ln["price"], currencyID=cur)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
