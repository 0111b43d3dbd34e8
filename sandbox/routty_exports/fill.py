"""How a tenant's export queue fills.

By default, on every read, each Inbound input document that reached Success becomes one export in the
queue of the tenant whose key sent it, as Routty would after processing it. With a tenant's first export
come three more, each once: an invoice of one of the tenant's purchase orders with one price above the
order (a PriceDifference exception), a malformed one (well-formed but not XSD-valid: comma decimals, one
of them a coding line's amount, so it cannot be booked, and a day-first date; Guid and DocumentSetId
intact, so feedback can name it) and an invoice from a supplier the books do not know (Routty knows it
only by its VAT number). Admin fallback, for a sandbox where nothing was uploaded yet (POST
/_sandbox/routty/exports/generate): the tenant's B2Brouter received invoices whose supplier is one of its
Rutter vendors, read from the same UBL B2Brouter serves, plus the three above. An invoice is exported
once per tenant whichever way it arrives (supplier VAT + invoice number). Ids: Guid and documentId are
derived from that key, DocumentSetId counts up from 1001 in the order exports are made.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from lxml import etree

from sandbox import b2brouter, routty_documents
from sandbox.data import TAX_RATES, SandboxCompany, cents
from sandbox.routty import _now_iso, _parser
from sandbox.routty_documents import _norm
from sandbox.routty_exports.books import Books, books_of, order_key, order_lines, supplier_number
from sandbox.routty_exports.match import Draft
from sandbox.routty_exports.parse import Invoice, Line, as_decimal, from_ubl
from sandbox.routty_exports.render import malformed, render
from sandbox.routty_exports.store import Export

if TYPE_CHECKING:
    from sandbox.app import SandboxState

DOCUMENT_TYPES = {380: "PurchaseInvoice", 381: "PurchaseCreditNote"}  # UNCL1001 -> the list's documentType
STRANGER = {"name": "Nieuwe Leverancier B.V.", "ids": [], "vat": "NL999999999B99", "country": "NL",
            "street": "Havenweg 1", "city": "Zaandam", "postal_code": "1506 AA"}
# (kind, the source key it is exported under once per tenant)
SPECIALS = (("order", "special:order"), ("malformed", "special:malformed"), ("unknown_supplier", "special:stranger"))


def _export(state: SandboxState, tenant: SandboxCompany, invoice: Invoice, kind: str, key: str, correlation_id: str,
            received: str, created_on: str | None = None) -> Export | None:
    """Make and queue one export, unless this tenant's queue had `key` already."""
    store = state.routty_exports
    if (tenant.name, key) in store.keys:
        return None
    books = books_of(state, tenant)
    number = supplier_number(invoice, books) or _norm(invoice.supplier.get("vat") or "") or invoice.supplier["name"]
    draft = Draft(invoice, number, store.next_set_id, str(uuid.uuid5(uuid.NAMESPACE_URL, f"guid:{tenant.name}:{key}")),
                  received, correlation_id)
    xml = render(draft, books)
    export = Export(str(uuid.uuid5(uuid.NAMESPACE_URL, f"output:{tenant.name}:{key}")), tenant.name, kind,
                    correlation_id, draft.guid, draft.set_id, DOCUMENT_TYPES.get(invoice.type_code, "PurchaseInvoice"),
                    number, malformed(xml) if kind == "malformed" else xml, created_on or _now_iso())
    store.next_set_id += 1
    store.keys.add((tenant.name, key))
    store.exports[export.document_id] = export
    return export


def _order_invoice(books: Books, suffix: str, deviate: bool) -> Invoice | None:
    """An invoice billing the tenant's first purchase order (of a vendor with a VAT number), its first price
    10 % above the order's when `deviate`."""
    order = next((o for o in sorted(books.orders, key=order_key)
                  if books.vendors.get(o["PurchaseOrderHeader"].get("SupplierNumber"), {}).get("tax_number")
                  and any(as_decimal(ln.get("LineAmount"), Decimal(0)) > 0 for ln in order_lines(o))), None)
    if order is None:
        return None
    header, vendor = order["PurchaseOrderHeader"], books.vendors[order["PurchaseOrderHeader"]["SupplierNumber"]]
    lines = []
    for k, ol in enumerate(order_lines(order)):
        qty = as_decimal(ol.get("Quantity"), Decimal(1)) or Decimal(1)
        amount = as_decimal(ol.get("LineAmount"), Decimal(0))
        price = as_decimal(ol.get("Price"), amount / qty)
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


def _received_invoices(tenant: SandboxCompany) -> list[tuple[dict, Invoice]]:
    """The tenant's B2Brouter received invoices, read from the UBL B2Brouter serves."""
    return [(r, from_ubl(b2brouter._ubl(tenant, r))) for r in sorted(tenant.b2b["received_invoices"],
                                                                      key=lambda r: r["id"])]


def _specials(state: SandboxState, tenant: SandboxCompany) -> list[Export]:
    """The order invoice with a price difference, the malformed export and the unknown supplier, once each."""
    if all((tenant.name, key) in state.routty_exports.keys for _, key in SPECIALS):
        return []
    books = books_of(state, tenant)
    first = min(tenant.b2b["received_invoices"], key=lambda r: r["id"], default=None)
    stranger = None if first is None else from_ubl(b2brouter._ubl(tenant, first))
    if stranger is not None:  # its lines, from a supplier no party and no vendor has
        stranger.supplier, stranger.original = dict(STRANGER), None
    sources = {"order": _order_invoice(books, "F1", deviate=True),
               "malformed": _order_invoice(books, "F2", deviate=False), "unknown_supplier": stranger}
    made = [_export(state, tenant, sources[kind], kind, key, f"capture:{kind}", sources[kind].date)
            for kind, key in SPECIALS if sources[kind] is not None]
    return [e for e in made if e is not None]


def add(state: SandboxState, tenant: SandboxCompany, xml: bytes, correlation_id: str) -> Export:
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


def generate(state: SandboxState, tenant: SandboxCompany, limit: int | None = None) -> list[Export]:
    """The admin fallback: exports from the tenant's dataset (see the module docstring), at most `limit`
    of its received invoices, then the three specials."""
    sync(state)
    books, made = books_of(state, tenant), []
    for record, invoice in _received_invoices(tenant):
        if limit is not None and len(made) >= limit:
            break
        if supplier_number(invoice, books) in books.vendors and (export := _export(
                state, tenant, invoice, "dataset", invoice.key(), f"b2brouter:{record['id']}", invoice.date)):
            made.append(export)
    return made + _specials(state, tenant)
