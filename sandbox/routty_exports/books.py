"""What Routty draws on for a tenant: that tenant's masterdata only.

Purchase orders are those the tenant uploaded, completed with its Rutter purchase orders as the project
sends them. The supplier Number is the business partner Routty matched (party Number, else registration
number, a Supplier and one of the tenant's Rutter vendors preferred), so the project's PartyList makes
it the Rutter vendor id.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sandbox.data import SandboxCompany
from sandbox.routty_documents import _norm
from sandbox.routty_exports.parse import Invoice

if TYPE_CHECKING:
    from sandbox.app import SandboxState


@dataclass
class Books:
    tenant: SandboxCompany
    partners: dict[str, dict]  # Routty's business partners by Number
    bank_accounts: dict[str, dict[str, dict]]  # Routty's: party Number -> IBAN -> bank account
    orders: list[dict]  # PurchaseOrderMasterData records
    gl: dict[str, str]  # Rutter account id -> GLAccount value
    costs: list[str]  # GLAccount values to code a line without an order on
    vendors: dict[str, dict]  # the tenant's Rutter vendors by id
    vendor_by_vat: dict[str, str]


def books_of(state: SandboxState, tenant: SandboxCompany) -> Books:
    rutter, routty = tenant.rutter.collections, state.routty.tenants[tenant.name]  # the Routty tenant's own
    gl = {a["id"]: (a.get("nominal_code") or "").strip() or a["id"] for a in rutter["accounts"]}
    offered = {r.get("Value") for r in routty.accounting.values() if (r.get("type") or "").lower() == "glaccount"}
    costs = [gl[a["id"]] for a in rutter["accounts"]
             if a["account_type"] in ("expense", "cost_of_goods_sold") and a.get("status") != "inactive"]
    held = list(routty.purchase_orders.values())
    known = {order_key(o) for o in held}
    orders = held + [o for o in (_order_record(po, tenant) for po in rutter["purchase_orders"])
                     if order_key(o) not in known]
    vendors = {v["id"]: v for v in rutter["vendors"]}
    by_vat = {}
    for v in sorted(vendors.values(), key=lambda v: v["id"]):
        by_vat.setdefault(_norm(v.get("tax_number") or ""), v["id"])
    by_vat.pop("", None)
    return Books(tenant, routty.partners, routty.bank_accounts, orders, gl,
                 [c for c in costs if c in offered] or costs, vendors, by_vat)


def _order_record(po: dict, tenant: SandboxCompany) -> dict:
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


def order_key(order: dict) -> tuple[str, str]:
    """Order references repeat across companies: an order is its reference and its supplier."""
    header = order["PurchaseOrderHeader"]
    return header.get("DocumentReference"), header.get("SupplierNumber")


def order_lines(order: dict) -> list[dict]:
    return (order.get("PurchaseOrderLines") or {}).get("PurchaseOrderLine", [])


def supplier_number(invoice: Invoice, books: Books) -> str | None:
    """The Number of the business partner Routty matched, None when it matched none."""
    hit = next((i for i in invoice.supplier["ids"] if i in books.partners), None)
    vat = _norm(invoice.supplier.get("vat") or "")
    if hit is not None or not vat:
        return hit
    hits = [n for n, p in books.partners.items() if vat in {_norm(r["number"] or "") for r in p["registrationNumbers"]}]
    if hits:
        return min(hits, key=lambda n: (n not in books.vendors, books.partners[n]["type"] != "Supplier", n))
    return books.vendor_by_vat.get(vat)
