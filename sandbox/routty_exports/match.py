"""Matching and coding an invoice, as Routty does before it exports it.

Matching: an invoice naming an order (UBL OrderReference) is matched against the tenant's purchase
orders line by line on the article; an unmatched line, a line amount that differs from its order line,
an order Routty does not hold: a MatchingException. Coding: one coding line per invoice line, on the
matched order line's GL account, else on one of the tenant's active cost accounts (those Routty offers
as AccountingMasterData when it holds any), written as the accounting masterdata writes GLAccount values
(nominal code, else Rutter account id); VatCode is the Rutter tax_rate_id of the line's VAT percent.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from decimal import Decimal

from sandbox.data import TAX_RATES, cents
from sandbox.routty_exports.books import Books, order_key, order_lines
from sandbox.routty_exports.parse import Invoice, Line, as_decimal

VAT_CODES = {pct: code for code, pct in TAX_RATES.items()}  # percent -> Rutter tax_rate_id


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


def match_orders(draft: Draft,
                 books: Books) -> tuple[list[tuple[dict, dict] | None], list[tuple[str, str, int | None]]]:
    """(the order line each invoice line matched, or None; the matching exceptions)."""
    inv, ref = draft.invoice, draft.invoice.order_reference
    if not ref:
        return [None] * len(inv.lines), []
    orders = [o for o in books.orders if o["PurchaseOrderHeader"].get("DocumentReference") == ref]
    orders = [o for o in orders if order_key(o) == (ref, draft.supplier_number)] or orders[:1]
    if not orders:
        return [None] * len(inv.lines), [("OrderNotFound", f"Order {ref} is not in Routty", None)]
    free = [(o, ln) for o in orders for ln in order_lines(o)]
    pairs, exceptions = [], []
    for k, line in enumerate(inv.lines, 1):
        hit = next((f for f in free if _same_article(line, f[1])), None)
        pairs.append(hit)
        if hit is None:
            why = f"Invoice line {k} ({line.description}, {line.amount:.2f}) matches no line of order {ref}"
            exceptions.append(("NoMatchingOrderLine", why, draft.line_id(k)))
            continue
        free.remove(hit)
        ordered = as_decimal(hit[1].get("LineAmount"), Decimal(0))
        if cents(ordered) != cents(line.amount):
            why = (f"Invoice line {k}: {line.amount:.2f} {inv.currency} against {ordered:.2f} on order {ref} "
                   f"line {hit[1].get('LineID')}")
            exceptions.append(("PriceDifference", why, draft.line_id(k)))
    return pairs, exceptions


def line_taxes(invoice: Invoice) -> list[Decimal]:
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


def gl_account(line: Line, pair: tuple[dict, dict] | None, books: Books) -> str:
    if pair is not None and pair[1].get("GLAccount"):
        return books.gl.get(pair[1]["GLAccount"], pair[1]["GLAccount"])
    return books.costs[zlib.crc32(line.description.encode()) % len(books.costs)]
