"""A Rutter connection's books besides vendors (2024-08-31 shapes), referring to its own records."""

from __future__ import annotations

import copy
import random
from decimal import Decimal

from sandbox.data.common import DAY_MS, iso_day, iso_ms, mess, rand_uuid, stamps
from sandbox.data.countries import PEOPLE, make_companies
from sandbox.data.money import cents, vat_breakdown
from sandbox.data.rutter import rutter_address

CHART = [  # nominal code, name, account_type, category: a Dutch small-business chart of accounts
    ("0100", "Inventaris", "fixed_asset", "asset"), ("0200", "Vervoermiddelen", "fixed_asset", "asset"),
    ("0500", "Eigen vermogen", "equity", "equity"), ("1000", "Kas", "bank", "asset"),
    ("1100", "Bank ING zakelijk", "bank", "asset"), ("1300", "Debiteuren", "accounts_receivable", "asset"),
    ("1500", "Af te dragen btw", "other_current_liability", "liability"),
    ("1600", "Crediteuren", "accounts_payable", "liability"), ("3000", "Voorraad", "other_current_asset", "asset"),
    ("4000", "Lonen en salarissen", "expense", "expense"), ("4100", "Huisvestingskosten", "expense", "expense"),
    ("4200", "Autokosten", "expense", "expense"), ("4300", "Kantoorkosten", "expense", "expense"),
    ("4400", "Verkoopkosten", "expense", "expense"), ("4600", "Transport & logistiek", "expense", "expense"),
    ("7000", "Inkoopwaarde van de omzet", "cost_of_goods_sold", "expense"),
    ("8000", "Omzet hoog tarief", "income", "income"), ("8100", "Omzet laag tarief", "income", "income"),
    ("8200", "Omzet verlegd / ICP", "income", "income"), ("9000", "Rentebaten", "other_income", "income"),
]
SUB_ACCOUNTS = ["Amsterdam", "Rotterdam", "Projecten", "Onderhoud", "Software & licenties", "Reiskosten"]
PRODUCTS = [  # name, item type, lowest and highest purchase price
    ("Schroeven RVS 4×40 mm (doos à 200)", "inventory", 8, 40), ("Europallet 120×80", "inventory", 10, 25),
    ("Kabelgoot 2 m", "inventory", 5, 30), ("Veiligheidshelm EN 397", "inventory", 10, 35),
    ("Koffiebonen 1 kg", "non_inventory", 12, 30), ("Printpapier A4 80 g/m² (5×500)", "non_inventory", 18, 35),
    ("Consultancy per uur", "service", 75, 160), ("Installatie op locatie", "service", 60, 120),
    ("Transport per rit", "service", 45, 400), ("Onderhoudscontract (maand)", "service", 100, 900),
    ("Softwarelicentie – jaar", "non_inventory", 200, 2500), ("Büroklammern „Premium“", "inventory", 2, 8),
    ('Monitor 27" 4K', "inventory", 250, 600), ("Reparatie & <spoed>toeslag", "service", 50, 250),
]
TAX_RATES = {"1": Decimal(21), "2": Decimal(9), "3": Decimal(0)}  # Rutter tax_rate_id -> percent
# How the books state each rate (GET /accounting/tax_rates): (code, name, the figures given). Platforms
# fill different ones, so each shape is here once: the builder takes effective_tax_rate, else
# total_tax_rate, else the sum of the components.
TAX_RATE_SHAPES = {"1": ("BTW-H", "BTW hoog", ("effective_tax_rate", "total_tax_rate", "components")),
                   "2": ("BTW-L", "BTW laag", ("components",)),
                   "3": ("BTW-0", "BTW 0% / verlegd", ("total_tax_rate",))}
QUANTITIES = [Decimal(q) for q in ("1", "1", "2", "3", "5", "10", "12", "24", "0.5", "2.5")]
DOC_STATUSES = (["open", "partially_paid", "paid", "void", "draft", "submitted"], [5, 1, 8, 0.5, 1, 0.5])


def _accounts(rng: random.Random, n_vendors: int) -> list[dict]:
    chart = list(CHART)
    for k in range(n_vendors // 10):  # bigger books: more cost centres under the expense accounts
        code, name, kind, category = rng.choice([c for c in CHART if c[2] == "expense"])
        chart.append((f"{code}.{k + 1:02d}", f"{name} – {rng.choice(SUB_ACCOUNTS)}", kind, category))
    out = []
    for i, (code, name, kind, category) in enumerate(chart):
        _, created, updated = stamps(rng, null_updated=0.06)  # nullable since 2024-08-31
        out.append(mess(rng, {
            "id": rand_uuid(rng), "platform_id": str(100 + i), "account_type": kind, "category": category,
            "status": "inactive" if rng.random() < 0.05 else "active",
            "balance": float(cents(rng.uniform(-5000, 250000))), "currency_code": "EUR", "name": name,
            "nominal_code": code, "created_at": created, "updated_at": updated}, ["nominal_code"], 0.03))
    return out


def _of_type(accounts: list[dict], *kinds: str) -> list[str]:
    return [a["id"] for a in accounts if a["account_type"] in kinds]


def _items(rng: random.Random, n: int, accounts: list[dict]) -> list[dict]:
    costs, income = _of_type(accounts, "expense", "cost_of_goods_sold"), _of_type(accounts, "income")
    out = []
    for i in range(n):
        name, kind, low, high = PRODUCTS[i % len(PRODUCTS)]
        name += f" – variant {i // len(PRODUCTS) + 1}" if i >= len(PRODUCTS) else ""
        cost, rate = cents(rng.uniform(low, high)), rng.choice(["1", "1", "1", "2"])
        _, created, updated = stamps(rng)
        buy = {"unit_price": float(cost), "description": name, "account_id": rng.choice(costs), "tax_rate_id": rate}
        sell = {"unit_price": float(cents(cost * Decimal(rng.choice(["1.25", "1.4", "1.8"])))),
                "description": name, "account_id": rng.choice(income), "tax_rate_id": rate}
        out.append(mess(rng, {
            "id": rand_uuid(rng), "platform_id": str(5000 + i), "code": f"ART-{1000 + i}", "name": name,
            "status": "archived" if rng.random() < 0.05 else "active", "type": kind,
            "bill_item": None if kind == "service" and rng.random() < 0.3 else buy,  # sold only
            "invoice_item": None if kind == "non_inventory" else sell,  # bought for own use
            "created_at": created, "updated_at": updated}, ["code"], 0.04))
    return out


def _customers(rng: random.Random, n: int) -> list[dict]:
    out = []
    for i, co in enumerate(make_companies(rng, n)):
        _, created, updated = stamps(rng, null_updated=0.03)
        addresses = [rutter_address(rng, co, "billing")] if rng.random() < 0.95 else []
        out.append(mess(rng, {
            "id": rand_uuid(rng), "platform_id": str(3000 + i), "customer_name": co["name"],
            "contact_name": rng.choice(PEOPLE), "email": co["email"], "phone": co["phone"],
            "registration_number": co["registration"], "tax_number": co["vat"],
            "status": "archived" if rng.random() < 0.06 else "active", "currency_code": co["currencies"][0],
            "addresses": addresses, "created_at": created, "updated_at": updated},
            ["contact_name", "email", "phone", "registration_number", "tax_number"]))
    return out


def _line(rng: random.Random, item: dict, side: str, fallback_accounts: list[str]) -> tuple[dict, Decimal]:
    """One line of `item` bought ("bill_item") or sold ("invoice_item"): quantity × price, in cents."""
    terms = item[side]
    qty = rng.choice(QUANTITIES)
    unit = cents(Decimal(str(terms["unit_price"])) * Decimal(rng.choice(["1", "1", "0.95", "1.05"])))
    line = {"description": terms["description"], "total_amount": float(cents(qty * unit)),
            "account_id": terms["account_id"] or rng.choice(fallback_accounts), "tax_rate_id": terms["tax_rate_id"],
            "item": {"id": item["id"], "quantity": float(qty), "unit_amount": float(unit)}}
    return line, qty


def _purchase_order(rng: random.Random, i: int, vendor: dict, items: list[dict], costs: list[str]) -> dict:
    day, created, updated = stamps(rng)
    lines, qty = [], Decimal(0)
    for it in rng.sample(items, min(len(items), rng.randint(1, 4))):
        line, q = _line(rng, it, "bill_item", costs)
        lines.append(mess(rng, {**line, "class_id": rng.choice([None, "1", "2", "3"]),
                                 "department_id": rng.choice([None, "10", "20"])}, ["class_id", "department_id"]))
        qty += q
    return mess(rng, {
        "id": rand_uuid(rng), "platform_id": f"PO{7000 + i}", "vendor_id": vendor["id"],
        "subsidiary_id": rng.choice(["1", "1", "2"]), "issue_date": iso_day(day),
        "status": rng.choices(["open", "closed", "pending_bill", "unknown"], [4, 4, 2, 0.3])[0],
        "currency_code": (vendor.get("currency_codes") or ["EUR"])[0], "document_number": f"PO-2024-{i + 1:05d}",
        "memo": rng.choice(["", "Levering week 12", 'Spoed — "graag vóór vrijdag"', "Zie offerte & voorwaarden"]),
        "total_amount": float(sum(Decimal(str(ln["total_amount"])) for ln in lines)), "total_quantity": float(qty),
        "line_items": lines, "created_at": created, "updated_at": updated}, ["memo", "subsidiary_id"], 0.05)


def _as_strings(po: dict) -> dict:
    """The other copy of the 2024-08-31 docs: amounts as decimal strings."""
    po["total_amount"], po["total_quantity"] = f"{po['total_amount']:.2f}", str(po["total_quantity"])
    for line in po["line_items"]:
        line["total_amount"] = f"{line['total_amount']:.2f}"
        line["item"] = {**line["item"], "unit_amount": f"{line['item']['unit_amount']:.2f}"}
    return po


def _document(rng: random.Random, lines: list[dict], currency: str, day: int, created: str, updated) -> dict:
    """The money and status fields bills and AR invoices share. Invariant: total_amount = sub_total
    - total_discount + tax_amount, sub_total = sum of line totals, tax per rate on the rate's net less
    its share of the discount, as vat_breakdown."""
    nets = [(Decimal(str(ln["total_amount"])), TAX_RATES[ln["tax_rate_id"]]) for ln in lines]
    sub = sum((n for n, _ in nets), Decimal(0))
    discount = cents(sub * Decimal("0.02")) if rng.random() < 0.1 else Decimal(0)  # a header discount
    tax = sum((t for _, t in vat_breakdown(nets, discount).values()), Decimal(0))
    total = sub - discount + tax
    status = rng.choices(*DOC_STATUSES)[0]
    due = {"paid": Decimal(0), "void": Decimal(0),
           "partially_paid": cents(total * Decimal(rng.choice(["0.25", "0.5", "0.75"])))}.get(status, total)
    due_date = None if rng.random() < 0.04 else iso_day(day + rng.choice([14, 30, 60]))
    return {"issue_date": iso_day(day), "due_date": due_date, "status": status, "currency_code": currency,
            "sub_total": float(sub), "tax_amount": float(tax), "total_amount": float(total),
            "amount_due": float(due), "total_discount": float(discount), "line_items": lines,
            "created_at": created, "updated_at": updated}


def _bill(rng: random.Random, i: int, vendor: dict, po: dict | None, items: list[dict], costs: list[str],
          payables: list[str]) -> dict:
    day, created, updated = stamps(rng)
    if po is not None:  # billed as ordered: the PO's lines
        lines = [{k: copy.deepcopy(ln[k]) for k in ("description", "total_amount", "account_id", "tax_rate_id", "item")}
                 for ln in po["line_items"]]
    else:
        lines = [_line(rng, it, "bill_item", costs)[0] for it in rng.sample(items, min(len(items), rng.randint(1, 3)))]
        if rng.random() < 0.3:  # a free-text line without an item
            lines.append({"description": rng.choice(["Vrachtkosten", "Toeslag klein order", "Kilometervergoeding"]),
                          "total_amount": float(cents(rng.uniform(5, 150))), "account_id": rng.choice(costs),
                          "tax_rate_id": "1"})
    bill = {"id": rand_uuid(rng), "platform_id": f"VB{9000 + i}", "vendor_id": vendor["id"],
            "account_id": rng.choice(payables), "payment_terms_id": vendor.get("payment_terms_id"),
            "document_number": rng.choice([f"INV-{rng.randint(1000, 99999)}", f"{rng.randint(2024000, 2024999)}",
                                           f"F/{rng.randint(1, 999)}/2024"]),
            "memo": rng.choice(["", "Factuur per e-mail ontvangen", "Peppol"]),
            "linked_purchase_orders": [{"id": po["id"]}] if po is not None else [],
            **_document(rng, lines, (vendor.get("currency_codes") or ["EUR"])[0], day, created, updated)}
    return mess(rng, bill, ["memo", "account_id", "payment_terms_id"], 0.04)


def _ar_invoice(rng: random.Random, i: int, customer: dict, items: list[dict], income: list[str],
                receivables: list[str]) -> dict:
    day, created, updated = stamps(rng)
    lines = [_line(rng, it, "invoice_item", income)[0] for it in rng.sample(items, min(len(items), rng.randint(1, 4)))]
    for line in lines:
        if rng.random() < 0.1:
            del line["item"]  # a free-text line
    invoice = {"id": rand_uuid(rng), "platform_id": f"INV{4000 + i}", "customer_id": customer["id"],
               "account_id": rng.choice(receivables), "payment_terms_id": rng.choice(["1", "2", "3"]),
               "document_number": f"2024-{i + 1:05d}", "memo": rng.choice(["", "Bedankt voor uw bestelling!"]),
               **_document(rng, lines, customer["currency_code"], day, created, updated)}
    if rng.random() < 0.03:
        invoice["issue_date"] = None  # nullable since 2024-08-31
    return mess(rng, invoice, ["memo", "account_id"], 0.04)


def _tax_rates() -> list[dict]:
    """A record for every tax rate the lines name, none unusable (a test that wants an unknown rate makes
    one). No random draws, so every other record stays as it was."""
    out = []
    for k, (rid, pct) in enumerate(TAX_RATES.items()):
        code, name, given = TAX_RATE_SHAPES[rid]
        rate = float(pct)
        out.append({"id": rid, "platform_id": rid, "status": "active", "code": code, "name": name,
                    "effective_tax_rate": rate if "effective_tax_rate" in given else None,
                    "total_tax_rate": rate if "total_tax_rate" in given else None,
                    "components": [{"name": name, "rate": rate, "is_compound": False}] if "components" in given else [],
                    "subsidiaries": [], "created_at": iso_ms(0), "updated_at": iso_ms((k + 1) * DAY_MS)})
    return out


def rutter_books(rng: random.Random, vendors: list[dict]) -> dict[str, list[dict]]:
    """Every Rutter stream besides vendors, referring to the connection's own records."""
    v = len(vendors)
    accounts = _accounts(rng, v)
    items = _items(rng, max(10, v // 2), accounts)
    customers = _customers(rng, max(8, v // 2))
    costs, income = _of_type(accounts, "expense", "cost_of_goods_sold"), _of_type(accounts, "income")
    buyable = [it for it in items if it["bill_item"]]
    sellable = [it for it in items if it["invoice_item"]]
    payables, receivables = _of_type(accounts, "accounts_payable"), _of_type(accounts, "accounts_receivable")
    pos = [_purchase_order(rng, i, rng.choice(vendors), buyable, costs) for i in range(max(10, v))]
    vendor_by_id = {x["id"]: x for x in vendors}
    bills = []
    for i in range(max(12, v * 3 // 2)):
        po = rng.choice(pos) if rng.random() < 0.3 else None  # billed against a PO of the same vendor
        vendor = vendor_by_id[po["vendor_id"]] if po else rng.choice(vendors)
        bills.append(_bill(rng, i, vendor, po, buyable, costs, payables))
    invoices = [_ar_invoice(rng, i, rng.choice(customers), sellable, income, receivables) for i in range(max(10, v))]
    pos = [_as_strings(po) if rng.random() < 0.03 else po for po in pos]  # after the bills copied numbers
    return {"purchase_orders": pos, "bills": bills, "invoices": invoices, "customers": customers,
            "accounts": accounts, "items": items, "tax_rates": _tax_rates()}
