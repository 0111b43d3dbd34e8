"""Routty connector API, output-documents part (routes mounted under /routty by sandbox/routty.py).

Routty offers every purchase invoice it has processed (matched, coded, approved) for pickup as a
RouttyExportDocument (assets/routty/xsd/RouttyExportDocument.xsd). The output API lists what waits for
the key's tenant, hands out pre-signed, time-limited download URLs (a plain GET, signed like the input
API's upload URLs), takes a technical acknowledgement (the document leaves the list; until then it is
offered again: pickup is at least once) and RouttyFeedbackDocuments about it (validated against
RouttyFeedbackDocuments.xsd; every one kept, repeats of a Status + BookingNumber counted).

One queue per Routty tenant (each sandbox company is one, named like it), chosen by the tenant of the
Output key (credentials.ROUTTY_KEYS). How it fills, by default: on every read, each Inbound input
document that reached Success becomes one export in the queue of the tenant whose key sent it, as
Routty would after processing it, drawing only on that tenant's masterdata:
- supplier Number: the business partner Routty matched (party Number, else registration number, a
  Supplier and one of the tenant's Rutter vendors preferred), so the project's PartyList makes it the
  Rutter vendor id;
- matching: an invoice naming an order (UBL OrderReference) is matched against the purchase orders
  the tenant holds in Routty (uploaded masterdata, completed with the tenant's Rutter purchase orders as
  the project sends them), line by line on the article; an unmatched line, a line amount that differs from its
  order line, an order Routty does not hold: a MatchingException;
- coding: one coding line per invoice line, on the matched order line's GL account, else on one of the
  tenant's active cost accounts (those Routty offers as AccountingMasterData when it holds any),
  written as the accounting masterdata writes GLAccount values (nominal code, else Rutter account id);
  VatCode is the Rutter tax_rate_id of the line's VAT percent.
With a tenant's first export come three more, each once: an invoice of one of the tenant's purchase
orders with one price above the order (a PriceDifference exception), a malformed one (well-formed but
not XSD-valid: comma decimals, one of them a coding line's amount, so it cannot be booked, and a
day-first date; Guid and DocumentSetId intact, so feedback can name it) and an invoice from a supplier the books do not know (Routty knows it only by its VAT number).
Admin fallback, for a sandbox where nothing was uploaded yet (POST /_sandbox/routty/exports/generate):
the tenant's B2Brouter received invoices whose supplier is one of its Rutter vendors, read from the
same UBL B2Brouter serves, plus the three above. An invoice is exported once per tenant whichever way
it arrives (supplier VAT + invoice number). Ids: Guid and documentId are derived from that key,
DocumentSetId counts up from 1001 in the order exports are made. GET /_sandbox/routty/exports shows a
tenant's queue, what was acknowledged and the feedback; /_sandbox/routty/exports/settings switches
`from_documents` off and sets `download_url_ttl`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import b2brouter, routty_documents
from sandbox.dataset import EU, TAX_RATES, Tenant, cents, vat_breakdown
from sandbox.credentials import RouttyKey
from sandbox.routty import XML_TYPES, _now_iso, _parser, _problem, api_key, key_admin, paged
from sandbox.routty_documents import KINDS, NS, _blob_error, _norm, _text, refused_signature, signed_url

if TYPE_CHECKING:
    from sandbox.app import SandboxState

MOUNT = "/routty"
API = "/connector-api/output-api/output-documents"
DOWNLOAD_URL_TTL = 600.0  # seconds, default of the download_url_ttl setting
XSD_DIR = Path(__file__).resolve().parent.parent / "assets" / "routty" / "xsd"
FIRST_SET_ID = 1001
DOCUMENT_TYPES = {380: "PurchaseInvoice", 381: "PurchaseCreditNote"}  # UNCL1001 -> the list's documentType
VAT_CODES = {pct: code for code, pct in TAX_RATES.items()}  # percent -> Rutter tax_rate_id
IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
STRANGER = {"name": "Nieuwe Leverancier B.V.", "ids": [], "vat": "NL999999999B99", "country": "NL",
            "street": "Havenweg 1", "city": "Zaandam", "postal_code": "1506 AA"}
# (kind, the source key it is exported under once per tenant)
SPECIALS = (("order", "special:order"), ("malformed", "special:malformed"), ("unknown_supplier", "special:stranger"))


# ---------------------------------------------------------------- the invoice as Routty read it

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


def _dec(text: str | None, default: Decimal | None = None) -> Decimal | None:
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
    qty = _dec(None if quantity is None else quantity.text, Decimal(1))
    amount = _dec(_text(line, "cbc:LineExtensionAmount"), Decimal(0))
    return Line(_text(line, "cac:Item/cbc:Name") or _text(line, "cac:Item/cbc:Description"), qty,
                "C62" if quantity is None else quantity.get("unitCode", "C62"),
                _dec(_text(line, "cac:Price/cbc:PriceAmount"), amount), amount,
                _dec(_text(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent"), Decimal(0)),
                _text(line, "cac:Item/cac:SellersItemIdentification/cbc:ID") or None)


def _ubl_taxes(root, currency: str) -> dict[Decimal, tuple[Decimal, Decimal]] | None:
    out = {}
    for sub in root.iterfind("cac:TaxTotal/cac:TaxSubtotal", NS):
        tax = sub.find("cbc:TaxAmount", NS)
        if tax is not None and tax.get("currencyID") in (None, currency):
            pct = _dec(_text(sub, "cac:TaxCategory/cbc:Percent"), Decimal(0))
            out[pct] = (_dec(_text(sub, "cbc:TaxableAmount"), Decimal(0)), _dec(tax.text, Decimal(0)))
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


# ---------------------------------------------------------------- what Routty draws on for a tenant

@dataclass
class Books:
    tenant: Tenant
    partners: dict[str, dict]  # Routty's business partners by Number
    bank_accounts: dict[str, dict[str, dict]]  # Routty's: party Number -> IBAN -> bank account
    orders: list[dict]  # PurchaseOrderMasterData records
    gl: dict[str, str]  # Rutter account id -> GLAccount value
    costs: list[str]  # GLAccount values to code a line without an order on
    vendors: dict[str, dict]  # the tenant's Rutter vendors by id
    vendor_by_vat: dict[str, str]


def _books(state: SandboxState, tenant: Tenant) -> Books:
    rutter, routty = tenant.rutter.collections, state.routty.tenants[tenant.name]  # the Routty tenant's own
    gl = {a["id"]: (a.get("nominal_code") or "").strip() or a["id"] for a in rutter["accounts"]}
    offered = {r.get("Value") for r in routty.accounting.values() if (r.get("type") or "").lower() == "glaccount"}
    costs = [gl[a["id"]] for a in rutter["accounts"]
             if a["account_type"] in ("expense", "cost_of_goods_sold") and a.get("status") != "inactive"]
    held = list(routty.purchase_orders.values())
    known = {_order_key(o) for o in held}
    orders = held + [o for o in (_order_record(po, tenant) for po in rutter["purchase_orders"])
                     if _order_key(o) not in known]
    vendors = {v["id"]: v for v in rutter["vendors"]}
    by_vat = {}
    for v in sorted(vendors.values(), key=lambda v: v["id"]):
        by_vat.setdefault(_norm(v.get("tax_number") or ""), v["id"])
    by_vat.pop("", None)
    return Books(tenant, routty.partners, routty.bank_accounts, orders, gl,
                 [c for c in costs if c in offered] or costs, vendors, by_vat)


def _order_record(po: dict, tenant: Tenant) -> dict:
    """A Rutter purchase order as the project sends it in a PurchaseOrderMasterDataList."""
    total = f"{Decimal(str(po['total_amount'])):.2f}"
    header = {"DocumentReference": (po.get("document_number") or "").strip() or po["id"], "ExtraReference": po["id"],
              "DocumentDate": po["issue_date"], "DocumentType": "PurchaseOrder", "Currency": po.get("currency_code"),
              "TotalNetAmount": total, "TotalVatAmount": "0.00", "TotalGrossAmount": total,
              "TotalDiscountAmount": "0.00", "SupplierNumber": po["vendor_id"],
              "BuyerNumber": tenant.rutter.company_info["id"], "HeaderText1": po.get("memo"),
              "DocumentStatus": po.get("status")}
    lines = [_order_line(k, ln) for k, ln in enumerate(po["line_items"], 1)]
    return {"PurchaseOrderHeader": header, "PurchaseOrderLines": {"PurchaseOrderLine": lines}}


def _order_line(k: int, line: dict) -> dict:
    item = line.get("item") or {}
    return {"LineID": str(k), "ExtraReference": item.get("id") or str(k), "ArticleNumberBuyer": item.get("id"),
            "ArticleDescription": line.get("description"), "Quantity": str(item.get("quantity") or ""),
            "Price": str(item.get("unit_amount") or ""), "LineAmount": str(line["total_amount"]),
            "GLAccount": line.get("account_id"), "CostCenter": line.get("department_id"),
            "VatCode": line.get("tax_rate_id")}


def _order_key(order: dict) -> tuple[str, str]:
    """Order references repeat across companies: an order is its reference and its supplier."""
    header = order["PurchaseOrderHeader"]
    return header.get("DocumentReference"), header.get("SupplierNumber")


def _order_lines(order: dict) -> list[dict]:
    return (order.get("PurchaseOrderLines") or {}).get("PurchaseOrderLine", [])


def _supplier_number(invoice: Invoice, books: Books) -> str | None:
    """The Number of the business partner Routty matched, None when it matched none."""
    hit = next((i for i in invoice.supplier["ids"] if i in books.partners), None)
    vat = _norm(invoice.supplier.get("vat") or "")
    if hit is not None or not vat:
        return hit
    hits = [n for n, p in books.partners.items() if vat in {_norm(r["number"] or "") for r in p["registrationNumbers"]}]
    if hits:
        return min(hits, key=lambda n: (n not in books.vendors, books.partners[n]["type"] != "Supplier", n))
    return books.vendor_by_vat.get(vat)


# ---------------------------------------------------------------- matching and coding

@dataclass
class Draft:
    """One export before it is written."""

    invoice: Invoice
    supplier_number: str
    set_id: int
    guid: str
    received: str  # ReceptionDate
    reference: str  # ExternalReference1: the source document (correlation id)

    @property
    def raw_id(self) -> int:
        return 70000 + self.set_id

    def line_id(self, k: int) -> int:  # invoice lines: Routty's internal ids
        return self.set_id * 1000 + k

    def order_line_id(self, j: int) -> int:  # matched order lines
        return self.set_id * 1000 + 500 + j


def _same_article(line: Line, order_line: dict) -> bool:
    described = " ".join(line.description.split()).lower() == " ".join(
        (order_line.get("ArticleDescription") or "").split()).lower()
    numbers = {order_line.get(k) for k in ("ArticleNumberBuyer", "ArticleNumberSupplier", "ExtraReference")}
    return described or (line.article is not None and line.article in numbers)


def _match(draft: Draft, books: Books) -> tuple[list[tuple[dict, dict] | None], list[tuple[str, str, int | None]]]:
    """(the order line each invoice line matched, or None; the matching exceptions)."""
    inv, ref = draft.invoice, draft.invoice.order_reference
    if not ref:
        return [None] * len(inv.lines), []
    orders = [o for o in books.orders if o["PurchaseOrderHeader"].get("DocumentReference") == ref]
    orders = [o for o in orders if _order_key(o) == (ref, draft.supplier_number)] or orders[:1]
    if not orders:
        return [None] * len(inv.lines), [("OrderNotFound", f"Order {ref} is not in Routty", None)]
    free = [(o, ln) for o in orders for ln in _order_lines(o)]
    pairs, exceptions = [], []
    for k, line in enumerate(inv.lines, 1):
        hit = next((f for f in free if _same_article(line, f[1])), None)
        pairs.append(hit)
        if hit is None:
            why = f"Invoice line {k} ({line.description}, {line.amount:.2f}) matches no line of order {ref}"
            exceptions.append(("NoMatchingOrderLine", why, draft.line_id(k)))
            continue
        free.remove(hit)
        ordered = _dec(hit[1].get("LineAmount"), Decimal(0))
        if cents(ordered) != cents(line.amount):
            why = (f"Invoice line {k}: {line.amount:.2f} {inv.currency} against {ordered:.2f} on order {ref} "
                   f"line {hit[1].get('LineID')}")
            exceptions.append(("PriceDifference", why, draft.line_id(k)))
    return pairs, exceptions


def _line_taxes(invoice: Invoice) -> list[Decimal]:
    """Each line's share of its rate's VAT; the last line of a rate takes the rounding rest."""
    taxes = invoice.vat()
    last = {ln.vat_rate: k for k, ln in enumerate(invoice.lines)}
    out, given = [], {}
    for k, ln in enumerate(invoice.lines):
        share = cents(ln.amount * ln.vat_rate / 100)
        if last[ln.vat_rate] == k and ln.vat_rate in taxes:
            share = taxes[ln.vat_rate][1] - given.get(ln.vat_rate, Decimal(0))
        given[ln.vat_rate] = given.get(ln.vat_rate, Decimal(0)) + share
        out.append(share)
    return out


def _gl_account(line: Line, pair: tuple[dict, dict] | None, books: Books) -> str:
    if pair is not None and pair[1].get("GLAccount"):
        return books.gl.get(pair[1]["GLAccount"], pair[1]["GLAccount"])
    return books.costs[zlib.crc32(line.description.encode()) % len(books.costs)]


# ---------------------------------------------------------------- writing the RouttyExportDocument

def _add(parent, tag: str, value=None):
    el = etree.SubElement(parent, tag)
    if value is not None:
        el.text = str(value)
    return el


def _fields(parent, pairs) -> None:
    for tag, value in pairs:
        if value not in (None, ""):
            _add(parent, tag, value)


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")


def _bank(parent, iban: str) -> None:
    _fields(_add(parent, "BankAccount"), (("AccountNumber", iban[4:]), ("IBAN", iban)))


def _party(parent, tag: str, party: dict, ibans: list[str] = ()) -> None:
    el = _add(parent, tag)
    _fields(el, (("Name", party.get("name")), ("Number", party.get("number")), ("Address", party.get("street")),
                 ("PostalCode", party.get("postal_code")), ("City", party.get("city")),
                 ("CountryCode", party.get("country"))))
    numbers = [(n, s) for n, s in ((_norm(party.get("vat") or ""), "VAT"), (party.get("registration"), "CoC")) if n]
    if numbers:
        registrations = _add(el, "RegistrationNumbers")
        for number, scheme in numbers:
            _fields(_add(registrations, "RegistrationNumber"), (("Number", number), ("Scheme", scheme)))
    if ibans:
        accounts = _add(el, "BankAccounts")
        for iban in ibans:
            _bank(accounts, iban)


def _buyer(tenant: Tenant) -> dict:
    info = tenant.rutter.company_info
    address = (info.get("addresses") or [{}])[0]
    return {"name": info.get("legal_name") or info["name"], "number": info["id"], "vat": info.get("tax_number"),
            "registration": info.get("registration_number"), "street": address.get("address_line_1"),
            "postal_code": address.get("postal_code"), "city": address.get("city"), "country": address.get("country")}


def _ibans(draft: Draft, books: Books) -> list[str]:
    held = sorted(books.bank_accounts.get(draft.supplier_number, {}))
    return list(dict.fromkeys(([draft.invoice.iban] if draft.invoice.iban else []) + held))


def _header(pi, draft: Draft, books: Books) -> None:
    inv = draft.invoice
    header = _add(pi, "PurchaseInvoiceHeader")
    ibans = _ibans(draft, books)
    _party(header, "Buyer", _buyer(books.tenant))
    _party(header, "Supplier", {**inv.supplier, "number": draft.supplier_number}, ibans)
    taxes = sorted(inv.vat().items(), reverse=True)[:5]
    net = sum((ln.amount for ln in inv.lines), Decimal(0))
    tax = sum((t for _, (_, t) in inv.vat().items()), Decimal(0))
    _fields(header, (
        ("Id", draft.raw_id), ("DocumentReference", inv.number), ("DocumentDate", inv.date),
        ("OrderReference", inv.order_reference), ("DueDate", inv.due), ("PaymentReference", inv.number),
        ("Currency", inv.currency), ("TotalNetAmount", f"{net:.2f}"), ("TotalVatAmount", f"{tax:.2f}"),
        ("TotalGrossAmount", f"{net + tax:.2f}"), ("PaymentIBAN", next(iter(ibans), None)),
        ("ReceivedBuyerNumber", next(iter(inv.buyer["ids"]), None)), ("ReceivedBuyerName", inv.buyer.get("name")),
        ("ReceivedBuyerRegistrationNumber", inv.buyer.get("vat")),
        ("ReceivedSupplierNumber", next(iter(inv.supplier["ids"]), None)),
        ("ReceivedSupplierName", inv.supplier.get("name")),
        ("ReceivedSupplierRegistrationNumber", inv.supplier.get("vat")),
        *((f"NetAmount{k}", f"{base:.2f}") for k, (_, (base, _)) in enumerate(taxes, 1)),
        *((f"VatAmount{k}", f"{amount:.2f}") for k, (_, (_, amount)) in enumerate(taxes, 1)),
        *((f"VatRate{k}", _num(pct)) for k, (pct, _) in enumerate(taxes, 1)),
        ("ReceptionDate", draft.received), ("DocumentStatus", "Approved"), ("ExternalReference1", draft.reference)))


def _lines(pi, draft: Draft, books: Books, pairs: list) -> dict[int, int]:
    """Invoice lines and coding lines; the internal id given to each matched order line (by id())."""
    inv, order_ids = draft.invoice, {}
    lines, coding = _add(pi, "PurchaseInvoiceLines"), []
    for k, (line, pair, tax) in enumerate(zip(inv.lines, pairs, _line_taxes(inv)), 1):
        if pair is not None:
            order_ids[id(pair[1])] = draft.order_line_id(len(order_ids) + 1)
        _fields(_add(lines, "PurchaseInvoiceLine"), (
            ("Id", draft.line_id(k)), ("LineId", k), ("ArticleNumberSupplier", line.article),
            ("ArticleDescription", line.description), ("Quantity", _num(line.quantity)), ("UnitCode", line.unit),
            ("Price", _num(line.price)), ("LineAmount", f"{line.amount:.2f}"),
            ("Status", None if pair is None else "Matched"),
            ("OrderReference", None if pair is None else inv.order_reference),
            ("OrderLineId", None if pair is None else pair[1].get("LineID")), ("VatAmount", f"{tax:.2f}"),
            ("VatRate", _num(line.vat_rate)), ("GrossAmount", f"{line.amount + tax:.2f}"),
            ("PurchaseOrderLinesId", None if pair is None else order_ids[id(pair[1])])))
        side = "CreditAmount" if inv.type_code == 381 else "DebitAmount"
        coding.append((("LineId", k), ("GlAccount", _gl_account(line, pair, books)), (side, f"{line.amount:.2f}"),
                       ("VatAmount", f"{tax:.2f}"), ("VatRate", _num(line.vat_rate)),
                       ("VatCode", VAT_CODES.get(line.vat_rate)), ("Status", "Approved"),
                       ("PurchaseInvoiceLinesId", draft.line_id(k))))
    coding_lines = _add(pi, "PurchaseInvoiceCodingLines")
    for fields in coding:
        _fields(_add(coding_lines, "PurchaseInvoiceCodingLine"), fields)
    return order_ids


def _intrastat(pi, inv: Invoice, buyer_country: str | None) -> None:
    country = (inv.supplier.get("country") or "").upper()
    if country in EU and country != buyer_country:
        lines = _add(pi, "PurchaseInvoiceIntrastatLines")
        for k, line in enumerate(inv.lines, 1):
            _fields(_add(lines, "PurchaseInvoiceIntrastatLine"), (
                ("LineId", k), ("PartnerCountry", country), ("TransactionCode", 1), ("CommodityCode", 99450000),
                ("Value", f"{line.amount:.2f}"), ("PC", 3), ("DeliveryTerms", "DAP")))


def _payment(pi, draft: Draft, books: Books) -> None:
    inv, ibans = draft.invoice, _ibans(draft, books)
    gross = sum((ln.amount for ln in inv.lines), Decimal(0)) + sum((t for _, t in inv.vat().values()), Decimal(0))
    line = _add(_add(pi, "PurchaseInvoicePaymentScheduleLines"), "PurchaseInvoicePaymentScheduleLine")
    _fields(line, (("LineId", 1), ("LineAmount", f"{gross:.2f}"), ("DueDate", inv.due), ("HoldPayment", "false")))
    if ibans:
        _bank(line, ibans[0])


ORDER_HEADER = ("DocumentReference", "ExtraReference", "DocumentDate", "DocumentType", "DocumentSubType", "Currency",
                "TotalNetAmount", "TotalVatAmount", "TotalGrossAmount", "TotalDiscountAmount", "OrderReference",
                "HeaderText1", "HeaderText2", "StartDate", "EndDate", "DocumentStatus", "RequesterId")
ORDER_LINE = ("LineID", "ExtraReference", "ArticleNumberSupplier", "ArticleNumberBuyer", "ArticleDescription",
              "StandardArticleNumber", "Quantity", "UnitCode", "Price", "DiscountAmount", "DiscountRate", "LineAmount",
              "Status", "GLAccount", "CostCenter", "VatCode", *(f"Dimension{i}" for i in range(1, 9)),
              "GrossUnitPrice", "StartDate", "EndDate", "InvoicedQuantity", "InvoicedAmount")
EXPORT_SPELLING = {"LineID": "LineId", "GLAccount": "GlAccount"}  # the export chapter's names


def _matched_orders(pi, pairs: list, order_ids: dict[int, int]) -> None:
    matched: dict[int, tuple[dict, list[dict]]] = {}
    for order, line in filter(None, pairs):
        matched.setdefault(id(order), (order, []))[1].append(line)
    if not matched:
        return
    orders = _add(pi, "MatchedPurchaseOrders")
    for order, lines in matched.values():
        el = _add(orders, "PurchaseOrder")
        _fields(_add(el, "PurchaseOrderHeader"), ((k, order["PurchaseOrderHeader"].get(k)) for k in ORDER_HEADER))
        container = _add(el, "PurchaseOrderLines")
        for line in lines:
            _fields(_add(container, "PurchaseOrderLine"), (("Id", order_ids[id(line)]), *(
                (EXPORT_SPELLING.get(k, k), line.get(k)) for k in ORDER_LINE)))


def render(draft: Draft, books: Books) -> bytes:
    """The RouttyExportDocument of one draft, in the XSD's element order."""
    inv = draft.invoice
    root = etree.Element("RouttyExportDocument")
    _fields(_add(root, "MetaData"), (("DocumentSetId", draft.set_id), ("DocumentRawId", draft.raw_id),
                                     ("Guid", draft.guid), ("DocumentType", inv.type_code)))
    pi = _add(root, "PurchaseInvoice")
    _header(pi, draft, books)
    pairs, exceptions = _match(draft, books)
    order_ids = _lines(pi, draft, books, pairs)
    _intrastat(pi, inv, _buyer(books.tenant)["country"])
    _payment(pi, draft, books)
    if exceptions:
        container = _add(pi, "MatchingExceptions")
        for code, description, line_id in exceptions:
            _fields(_add(container, "MatchingException"), (("ExceptionCode", code),
                                                           ("ExceptionDescription", description), ("LineId", line_id)))
    _matched_orders(pi, pairs, order_ids)
    attachments = ([{"fileName": re.sub(r"[^\w.-]", "-", inv.number) + ".xml", "mimeType": "application/xml",
                     "type": "Original", "sha256": hashlib.sha256(inv.original).hexdigest()}] if inv.original else [])
    attachments += [{**a, "type": "Attachment"} for a in inv.attachments]
    if attachments:
        container = _add(root, "Attachments")
        for a in attachments:
            _fields(_add(container, "Attachment"), (("Filename", a["fileName"]), ("MimeType", a["mimeType"]),
                                                    ("Type", a["type"]), ("ArchiveLink", a["sha256"])))
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _malformed(xml: bytes) -> bytes:
    """Well-formed, not XSD-valid: comma decimals (one in a coding line's amount, so it cannot be
    booked) and a day-first date, as hand-edited exports have."""
    root = etree.fromstring(xml)
    for path in ("PurchaseInvoice/PurchaseInvoiceHeader/TotalGrossAmount",
                 "PurchaseInvoice/PurchaseInvoiceCodingLines/PurchaseInvoiceCodingLine/DebitAmount"):
        amount = root.find(path)
        amount.text = amount.text.replace(".", ",")
    day = root.find("PurchaseInvoice/PurchaseInvoiceHeader/DocumentDate")
    day.text = date.fromisoformat(day.text).strftime("%d-%m-%Y")
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


@functools.cache
def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / f"{name}.xsd")))


# ---------------------------------------------------------------- the store

@dataclass
class Export:
    document_id: str
    tenant: str
    kind: str  # document | dataset | order | malformed | unknown_supplier
    correlation_id: str
    guid: str
    set_id: int
    document_type: str
    supplier_number: str
    xml: bytes
    created_on: str
    acknowledged_on: str | None = None
    acknowledgements: int = 0
    downloads: int = 0
    feedback: list[dict] = field(default_factory=list)

    def item(self, download_url: str) -> dict:
        return {"documentId": self.document_id, "correlationId": self.correlation_id,
                "documentType": self.document_type, "createdOn": self.created_on, "downloadUrl": download_url}

    def admin(self) -> dict:
        return {"documentId": self.document_id, "correlationId": self.correlation_id, "kind": self.kind,
                "guid": self.guid, "documentSetId": self.set_id, "documentType": self.document_type,
                "supplierNumber": self.supplier_number, "createdOn": self.created_on,
                "acknowledgedOn": self.acknowledged_on, "acknowledgements": self.acknowledgements,
                "downloads": self.downloads, "feedbackCount": len(self.feedback), "xml": self.xml.decode()}


class ExportStore:
    """Every export Routty made, per tenant, and what came back about each."""

    def __init__(self) -> None:
        self.from_documents = True  # the default way the queue fills (the module docstring)
        self.download_url_ttl = DOWNLOAD_URL_TTL
        self.exports: dict[str, Export] = {}  # by documentId
        self.keys: set[tuple[str, str]] = set()  # (tenant, source key) already exported
        self.seen: set[str] = set()  # input documents already looked at
        self.next_set_id = FIRST_SET_ID

    def settings(self) -> dict:
        return {"from_documents": self.from_documents, "download_url_ttl": self.download_url_ttl}

    def queue(self, tenant: str) -> list[Export]:
        return [e for e in self.exports.values() if e.tenant == tenant and e.acknowledged_on is None]

    def snapshot(self, tenant: str) -> dict:
        mine = [e for e in self.exports.values() if e.tenant == tenant]
        answered = [e for e in mine if e.feedback]
        return {"tenant": tenant, "queue": [e.admin() for e in mine if e.acknowledged_on is None],
                "acknowledged": [e.admin() for e in mine if e.acknowledged_on is not None],
                "feedback": {e.document_id: e.feedback for e in answered},
                "feedback_counts": {e.document_id: len(e.feedback) for e in answered},
                "duplicate_feedback": {e.document_id: n for e in answered
                                       if (n := sum(f["duplicate"] for f in e.feedback))},
                "settings": self.settings()}


def _export(state: SandboxState, tenant: Tenant, invoice: Invoice, kind: str, key: str, correlation_id: str,
            received: str, created_on: str | None = None) -> Export | None:
    """Make and queue one export, unless this tenant's queue had `key` already."""
    store = state.routty_exports
    if (tenant.name, key) in store.keys:
        return None
    books = _books(state, tenant)
    number = _supplier_number(invoice, books) or _norm(invoice.supplier.get("vat") or "") or invoice.supplier["name"]
    draft = Draft(invoice, number, store.next_set_id, str(uuid.uuid5(uuid.NAMESPACE_URL, f"guid:{tenant.name}:{key}")),
                  received, correlation_id)
    xml = render(draft, books)
    export = Export(str(uuid.uuid5(uuid.NAMESPACE_URL, f"output:{tenant.name}:{key}")), tenant.name, kind,
                    correlation_id, draft.guid, draft.set_id, DOCUMENT_TYPES.get(invoice.type_code, "PurchaseInvoice"),
                    number, _malformed(xml) if kind == "malformed" else xml, created_on or _now_iso())
    store.next_set_id += 1
    store.keys.add((tenant.name, key))
    store.exports[export.document_id] = export
    return export


def _order_invoice(books: Books, suffix: str, deviate: bool) -> Invoice | None:
    """An invoice billing the tenant's first purchase order (of a vendor with a VAT number), its first price
    10 % above the order's when `deviate`."""
    order = next((o for o in sorted(books.orders, key=_order_key)
                  if books.vendors.get(o["PurchaseOrderHeader"].get("SupplierNumber"), {}).get("tax_number")
                  and any(_dec(ln.get("LineAmount"), Decimal(0)) > 0 for ln in _order_lines(o))), None)
    if order is None:
        return None
    header, vendor = order["PurchaseOrderHeader"], books.vendors[order["PurchaseOrderHeader"]["SupplierNumber"]]
    lines = []
    for k, ol in enumerate(_order_lines(order)):
        qty, amount = _dec(ol.get("Quantity"), Decimal(1)) or Decimal(1), _dec(ol.get("LineAmount"), Decimal(0))
        price = _dec(ol.get("Price"), amount / qty)
        if deviate and k == 0:
            price = cents(price * Decimal("1.10"))
            amount = cents(qty * price)
        lines.append(Line(ol.get("ArticleDescription") or "", qty, ol.get("UnitCode") or "C62", price, cents(amount),
                          TAX_RATES.get(ol.get("VatCode"), Decimal(21))))
    address = (vendor.get("addresses") or [{}])[0]
    day = date.fromisoformat(header["DocumentDate"]) + timedelta(days=14)
    return Invoice(f"{header['DocumentReference']}-{suffix}", day.isoformat(), (day + timedelta(days=30)).isoformat(),
                   header.get("Currency") or "EUR", 380,
                   {"name": vendor["vendor_name"], "ids": [vendor["id"]], "vat": vendor["tax_number"],
                    "country": address.get("country"), "street": address.get("address_line_1"),
                    "city": address.get("city"), "postal_code": address.get("postal_code")},
                   {"name": books.tenant.rutter.company_info["name"], "ids": [books.tenant.rutter.company_info["id"]],
                    "vat": books.tenant.rutter.company_info.get("tax_number")},
                   lines, header["DocumentReference"])


def _received_invoices(tenant: Tenant) -> list[tuple[dict, Invoice]]:
    """The tenant's B2Brouter received invoices, read from the UBL B2Brouter serves."""
    return [(r, from_ubl(b2brouter._ubl(tenant, r))) for r in sorted(tenant.b2b["received_invoices"],
                                                                      key=lambda r: r["id"])]


def _specials(state: SandboxState, tenant: Tenant) -> list[Export]:
    """The order invoice with a price difference, the malformed export and the unknown supplier, once each."""
    if all((tenant.name, key) in state.routty_exports.keys for _, key in SPECIALS):
        return []
    books = _books(state, tenant)
    first = min(tenant.b2b["received_invoices"], key=lambda r: r["id"], default=None)
    stranger = None if first is None else from_ubl(b2brouter._ubl(tenant, first))
    if stranger is not None:  # its lines, from a supplier no party and no vendor has
        stranger.supplier, stranger.original = dict(STRANGER), None
    sources = {"order": _order_invoice(books, "F1", deviate=True),
               "malformed": _order_invoice(books, "F2", deviate=False), "unknown_supplier": stranger}
    made = [_export(state, tenant, sources[kind], kind, key, f"capture:{kind}", sources[kind].date)
            for kind, key in SPECIALS if sources[kind] is not None]
    return [e for e in made if e is not None]


def add(state: SandboxState, tenant: Tenant, xml: bytes, correlation_id: str) -> Export:
    """Queue an export exactly as given (admin: POST /_sandbox/routty/exports/add), for what the
    generator never writes: minimal exports, odd values. Ids as the generator derives them."""
    try:
        root = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError:  # queued all the same: what it is for is exports that are not fine
        root = etree.Element("RouttyExportDocument")
    guid = root.findtext("MetaData/Guid") or ""
    set_id = root.findtext("MetaData/DocumentSetId") or ""
    key = f"added:{hashlib.sha256(xml).hexdigest()}"
    export = Export(str(uuid.uuid5(uuid.NAMESPACE_URL, f"output:{tenant.name}:{key}")), tenant.name, "added",
                    correlation_id, guid.strip(), int(set_id) if set_id.strip().isdigit() else -1,
                    "PurchaseInvoice", root.findtext("PurchaseInvoice/PurchaseInvoiceHeader/Supplier/Number") or "",
                    xml, _now_iso())
    state.routty_exports.exports[export.document_id] = export
    return export


def sync(state: SandboxState) -> None:
    """Settle Routty's processing, then export each Inbound document that reached Success since."""
    routty_documents.settle(state)
    store = state.routty_exports
    if not store.from_documents:
        return
    done = sorted((d for d in state.routty_documents.documents.values()
                   if d.flow == "Inbound" and d.status == "Success" and d.document_id not in store.seen),
                  key=lambda d: d.status_changed_on)
    for doc in done:
        store.seen.add(doc.document_id)
        invoice = from_ubl(doc.xml)
        invoice.attachments = [{"fileName": a.file_name, "mimeType": a.mime_type,
                                "sha256": hashlib.sha256(a.body or b"").hexdigest()} for a in doc.attachments.values()]
        tenant = state.dataset.tenants[doc.tenant]  # exported to the tenant whose key sent it
        if _export(state, tenant, invoice, "document", invoice.key(), doc.correlation_id, doc.received_on[:10],
                   doc.status_changed_on):
            _specials(state, tenant)


def generate(state: SandboxState, tenant: Tenant, limit: int | None = None) -> list[Export]:
    """The admin fallback: exports from the tenant's dataset (see the module docstring), at most `limit`
    of its received invoices, then the three specials."""
    sync(state)
    books, made = _books(state, tenant), []
    for record, invoice in _received_invoices(tenant):
        if limit is not None and len(made) >= limit:
            break
        if _supplier_number(invoice, books) in books.vendors and (export := _export(
                state, tenant, invoice, "dataset", invoice.key(), f"b2brouter:{record['id']}", invoice.date)):
            made.append(export)
    return made + _specials(state, tenant)


# ---------------------------------------------------------------- pre-signed download URLs

def _download_url(request: Request, store: ExportStore, export: Export) -> str:
    return signed_url(request, f"{MOUNT}/export/{export.document_id}", store.download_url_ttl, "r")


# ---------------------------------------------------------------- endpoints

def _guarded(state: SandboxState, handler):
    """Only an Output key opens the output API; the key's tenant decides the queue."""
    async def endpoint(request: Request) -> Response:
        key = api_key(request, "Output", "the output-documents API takes the Output Inbound key "
                                         "(ROUTTY_OUTPUT_INBOUND_API_KEY)")
        if isinstance(key, Response):
            return key
        sync(state)
        return await handler(request, key)
    return endpoint


def _feedback_record(fb, export: Export, key: RouttyKey) -> dict:
    status, booking = fb.findtext("Status").strip(), fb.findtext("FeedbackAccounting/BookingNumber") or None
    return {"receivedOn": _now_iso(), **key_admin(key), "status": status,
            "documentGuid": fb.findtext("DocumentGuid"),
            "documentSetId": int(fb.findtext("DocumentSetId")), "processDate": fb.findtext("ProcessDate"),
            "bookingNumber": booking, "bookingDate": fb.findtext("FeedbackAccounting/BookingDate"),
            "journal": fb.findtext("FeedbackAccounting/Journal"),
            "messages": [m.text or "" for m in fb.iterfind("Messages/Message")],
            "duplicate": any((f["status"], f["bookingNumber"]) == (status, booking) for f in export.feedback),
            "xml": etree.tostring(fb, encoding="unicode")}


def routes(state: SandboxState) -> list[Route]:
    def store() -> ExportStore:
        return state.routty_exports

    def find(request: Request, key: RouttyKey) -> Export | None:
        export = store().exports.get(request.path_params["document_id"])
        return export if export is not None and export.tenant == key.tenant else None

    def not_found(request: Request) -> JSONResponse:
        return _problem(404, "Not Found", f"No output document {request.path_params['document_id']} for this key.")

    async def listing(request: Request, key: RouttyKey) -> JSONResponse:
        return paged(request, store().queue(key.tenant), lambda e: e.item(_download_url(request, store(), e)))

    async def acknowledge(request: Request, key: RouttyKey) -> JSONResponse:
        export = find(request, key)
        if export is None:
            return not_found(request)
        export.acknowledgements += 1
        export.acknowledged_on = export.acknowledged_on or _now_iso()
        return JSONResponse({"documentId": export.document_id, "acknowledgedOn": export.acknowledged_on})

    async def feedback(request: Request, key: RouttyKey) -> JSONResponse:
        export = find(request, key)
        if export is None:
            return not_found(request)
        if request.headers.get("content-type", "").split(";")[0].strip().lower() not in XML_TYPES:
            return _problem(415, "Unsupported Media Type", "Feedback is RouttyFeedbackDocuments XML "
                                                           "(application/xml or text/xml).")
        body = await request.body()
        if len(body) > state.routty.max_upload_bytes:
            return _problem(413, "Payload Too Large", f"The feedback is {len(body)} bytes; the limit is "
                                                      f"{state.routty.max_upload_bytes} bytes.")
        try:
            root = etree.fromstring(body, _parser())
        except etree.XMLSyntaxError as e:
            return _problem(400, "Bad Request", f"The feedback is not well-formed XML: {e.msg}")
        xsd = schema("RouttyFeedbackDocuments")
        if not xsd.validate(root):
            problems = "; ".join(f"line {e.line}: {e.message}" for e in list(xsd.error_log)[:5])
            return _problem(400, "Bad Request", f"The feedback is not valid against RouttyFeedbackDocuments.xsd: "
                                                f"{problems}")
        documents = list(root.iterfind("RouttyFeedbackDocument"))
        for n, fb in enumerate(documents, 1):
            guid, set_id = fb.findtext("DocumentGuid").strip(), int(fb.findtext("DocumentSetId"))
            if guid.lower() != export.guid.lower() or set_id != export.set_id:
                return _problem(400, "Bad Request", f"RouttyFeedbackDocument {n} names DocumentGuid {guid} and "
                                                    f"DocumentSetId {set_id}; output document {export.document_id} "
                                                    f"is {export.guid} / {export.set_id}.")
        for fb in documents:
            export.feedback.append(_feedback_record(fb, export, key))
        return JSONResponse({"documentId": export.document_id, "received": len(documents),
                             "feedbackCount": len(export.feedback)})

    async def download(request: Request) -> Response:
        refused = refused_signature(request, "list the output documents again for a new download URL.")
        if refused is not None:
            return refused
        export = store().exports.get(request.path_params["document_id"])
        if export is None:
            return _blob_error(404, "BlobNotFound", "The specified blob does not exist.")
        export.downloads += 1
        md5 = base64.b64encode(hashlib.md5(export.xml, usedforsecurity=False).digest()).decode()
        return Response(export.xml, media_type="application/xml",
                        headers={"ETag": f'"0x{hashlib.sha256(export.xml).hexdigest()[:16].upper()}"',
                                 "Content-MD5": md5, "x-ms-blob-type": "BlockBlob"})

    return [
        Route(API, _guarded(state, listing), methods=["GET"]),
        Route(API + "/{document_id}/acknowledge", _guarded(state, acknowledge), methods=["POST"]),
        Route(API + "/{document_id}/feedback", _guarded(state, feedback), methods=["POST"]),
        Route("/export/{document_id}", download, methods=["GET"]),
    ]
