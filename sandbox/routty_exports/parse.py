"""The UBL invoice or credit note as Routty reads it."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from lxml import etree

from sandbox.data import vat_breakdown
from sandbox.routty import _parser
from sandbox.routty_documents import KINDS, NS, _norm, _text

IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")


@dataclass
class Line:
    description: str
    quantity: Decimal
    unit: str
    price: Decimal
    amount: Decimal
    vat_rate: Decimal
    article: str | None = None


@dataclass
class Invoice:
    number: str
    date: str
    due: str | None
    currency: str
    type_code: int  # UNCL1001: 380 invoice, 381 credit note
    supplier: dict  # name, ids, vat, country, street, city, postal_code (the same keys for the buyer)
    buyer: dict
    lines: list[Line]
    order_reference: str | None = None
    iban: str | None = None
    taxes: dict[Decimal, tuple[Decimal, Decimal]] | None = None  # percent -> (taxable, tax); None: from lines
    original: bytes | None = None  # the e-invoice as received
    attachments: list[dict] = field(default_factory=list)  # fileName, mimeType, sha256

    def key(self) -> str:
        who = _norm(self.supplier.get("vat") or "") or next(iter(self.supplier["ids"]), self.supplier.get("name"))
        return f"invoice:{who}|{self.number}"

    def vat(self) -> dict[Decimal, tuple[Decimal, Decimal]]:
        return self.taxes or vat_breakdown([(ln.amount, ln.vat_rate) for ln in self.lines])


def as_decimal(text: str | None, default: Decimal | None = None) -> Decimal | None:
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        return default
    return value if value.is_finite() else default


def _ubl_party(root, role: str) -> dict:
    party = root.find(f"cac:Accounting{role}Party/cac:Party", NS)
    if party is None:
        return {"ids": []}
    ids = [t for p in ("cac:PartyIdentification/cbc:ID", "cbc:EndpointID") for t in
           (_text(e, ".") for e in party.iterfind(p, NS)) if t]
    get = functools.partial(_text, party)
    return {"name": get("cac:PartyName/cbc:Name") or get("cac:PartyLegalEntity/cbc:RegistrationName"),
            "ids": list(dict.fromkeys(ids)), "vat": get("cac:PartyTaxScheme/cbc:CompanyID"),
            "country": get("cac:PostalAddress/cac:Country/cbc:IdentificationCode"),
            "street": get("cac:PostalAddress/cbc:StreetName"), "city": get("cac:PostalAddress/cbc:CityName"),
            "postal_code": get("cac:PostalAddress/cbc:PostalZone")}


def _ubl_line(line) -> Line:
    quantity = line.find("cbc:InvoicedQuantity", NS)
    if quantity is None:
        quantity = line.find("cbc:CreditedQuantity", NS)
    qty = as_decimal(None if quantity is None else quantity.text, Decimal(1))
    amount = as_decimal(_text(line, "cbc:LineExtensionAmount"), Decimal(0))
    return Line(_text(line, "cac:Item/cbc:Name") or _text(line, "cac:Item/cbc:Description"), qty,
                "C62" if quantity is None else quantity.get("unitCode", "C62"),
                as_decimal(_text(line, "cac:Price/cbc:PriceAmount"), amount), amount,
                as_decimal(_text(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent"), Decimal(0)),
                _text(line, "cac:Item/cac:SellersItemIdentification/cbc:ID") or None)


def _ubl_taxes(root, currency: str) -> dict[Decimal, tuple[Decimal, Decimal]] | None:
    out = {}
    for sub in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", NS):
        tax = sub.find("cbc:TaxAmount", NS)
        if tax is not None and tax.get("currencyID") in (None, currency):
            pct = as_decimal(_text(sub, "cac:TaxCategory/cbc:Percent"), Decimal(0))
            out[pct] = (as_decimal(_text(sub, "cbc:TaxableAmount"), Decimal(0)), as_decimal(tax.text, Decimal(0)))
    return out or None


def from_ubl(xml: bytes) -> Invoice:
    """A UBL 2.1 Invoice or CreditNote (one the input API accepted) as Routty reads it."""
    root = etree.fromstring(xml, _parser())
    kind = KINDS[root.tag]
    currency = _text(root, "cbc:DocumentCurrencyCode")
    iban = re.sub(r"\s", "", _text(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID")).upper()
    return Invoice(_text(root, "cbc:ID"), _text(root, "cbc:IssueDate"),
                   _text(root, "cbc:DueDate") or _text(root, "cac:PaymentMeans/cbc:PaymentDueDate") or None,
                   currency, 381 if kind == "CreditNote" else int(_text(root, "cbc:InvoiceTypeCode") or 380),
                   _ubl_party(root, "Supplier"), _ubl_party(root, "Customer"),
                   [_ubl_line(line) for line in root.iterfind(f"cac:{kind}Line", NS)],
                   _text(root, "cac:OrderReference/cbc:ID") or None, iban if IBAN.fullmatch(iban) else None,
                   _ubl_taxes(root, currency), xml)
