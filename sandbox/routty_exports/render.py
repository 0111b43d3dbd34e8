"""Writing the RouttyExportDocument of a draft, in the XSD's element order."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import Decimal

from lxml import etree

from sandbox.data import EU, SandboxCompany
from sandbox.routty_documents import _norm
from sandbox.routty_exports.books import Books
from sandbox.routty_exports.match import VAT_CODES, Draft, gl_account, line_taxes, match_orders
from sandbox.routty_exports.parse import Invoice

# A matched order's fields, in the export XSD's element order.
ORDER_HEADER = ("DocumentReference", "ExtraReference", "DocumentDate", "DocumentType", "DocumentSubType", "Currency",
                "TotalNetAmount", "TotalVatAmount", "TotalGrossAmount", "TotalDiscountAmount", "OrderReference",
                "HeaderText1", "HeaderText2", "StartDate", "EndDate", "DocumentStatus", "RequesterId")
ORDER_LINE = ("LineID", "ExtraReference", "ArticleNumberSupplier", "ArticleNumberBuyer", "ArticleDescription",
              "StandardArticleNumber", "Quantity", "UnitCode", "Price", "DiscountAmount", "DiscountRate", "LineAmount",
              "Status", "GLAccount", "CostCenter", "VatCode", *(f"Dimension{i}" for i in range(1, 9)),
              "GrossUnitPrice", "StartDate", "EndDate", "InvoicedQuantity", "InvoicedAmount")
EXPORT_SPELLING = {"LineID": "LineId", "GLAccount": "GlAccount"}  # the export chapter's names


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


def _buyer(tenant: SandboxCompany) -> dict:
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
    for k, (line, pair, tax) in enumerate(zip(inv.lines, pairs, line_taxes(inv)), 1):
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
        coding.append((("LineId", k), ("GlAccount", gl_account(line, pair, books)), (side, f"{line.amount:.2f}"),
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
    pairs, exceptions = match_orders(draft, books)
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


def malformed(xml: bytes) -> bytes:
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
