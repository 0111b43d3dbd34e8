"""A company's Jortt administration: customers, sales invoices, expenses, ledger accounts, organization."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from sandbox.data.common import DAY_MS, EPOCH, TODAY, iso_day, iso_ms, rand_uuid, stamps
from sandbox.data.countries import EU, PEOPLE, PEPPOL_SCHEMES, make_company
from sandbox.data.money import cents, vat_breakdown

DETAILED_COST_ACCOUNTS = 120  # beyond one page of 100
LEDGERS = {  # category: [(group, [selectable accounts])]
    "cost": [("Huisvestingskosten", ["Huur", "Gas, water & licht"]), ("Autokosten", ["Brandstof", "Lease"]),
             ("Kantoorkosten", ["Software", "Telefoon & internet", "Kantoorbenodigdheden"]),
             ("Verkoopkosten", ["Reclame", "Representatie"]), ("Inkoop", ["Materialen", "Uitbesteed werk"])],
    "income": [("Omzet", ["Omzet 21%", "Omzet 9%", "Omzet verlegd", "Omzet buiten de EU"]),
               ("Overige opbrengsten", ["Rentebaten", "Diverse baten"])],
    "balance": [("Activa", ["Bank", "Kas", "Debiteuren", "Inventaris"]),
                ("Passiva", ["Crediteuren", "Af te dragen btw", "Eigen vermogen"])],
}
SERVICES = ["Advieswerkzaamheden", "Installatie zonnepanelen", "Onderhoud Q1", "Levering kantoormeubilair",
            "Training & workshop", "Ontwerp logo <concept>", "Vertaling NL→DE", "Reiskosten (km × € 0,23)",
            "Licentie ‘Pro’ – jaar", "Catering „Hollandse pot“"]
EXPENSES = ["Tankbon Shell", "Lunch met klant", "Adobe Creative Cloud", "Kantoorhuur januari", "KPN zakelijk",
            "Parkeren Q-Park", "Bol.com – kantoorartikelen", "NS Business Card", "Google Workspace"]
UNITS = [Decimal(u) for u in ("1", "1", "2", "3", "0.5", "1.5", "8", "10", "12.25")]


def _jortt_customer(rng: random.Random, co: dict | None) -> dict:
    private = co is None
    co = co or make_company(rng, rng.choice(PEOPLE), "NL")
    peppol = None if private or rng.random() < 0.4 else PEPPOL_SCHEMES.get(co["country"])
    return {
        "id": rand_uuid(rng), "is_private": private, "customer_name": co["name"],
        "address_street": co["street"], "address_postal_code": co["postal_code"], "address_city": co["city"],
        "address_country_code": co["country"],
        "vat_number": None if private else rng.choice([co["vat"]] * 6 + ["", None]),
        "coc_number": None if private else co["registration"], "email": co["email"],
        "payment_term": rng.choice([14, 14, 30, 30, 60, 8]),
        "reference": rng.choice([None, f"DEB-{rng.randint(1000, 9999)}", ""]),
        "archived": rng.random() < 0.05,
        "peppol_scheme_code": peppol,
        "peppol_identifier": None if peppol is None else (co["registration"] if peppol in ("0106", "0208")
                                                           else co["vat"]),
    }


def _ledger_accounts(rng: random.Random) -> dict[str, list[dict]]:
    out = {}
    for category, groups in LEDGERS.items():
        rows = out[f"ledger_accounts_{category}"] = []
        for group, leaves in groups:
            parent = {"ledger_account_id": rand_uuid(rng), "parent_ledger_account_id": None, "name": group,
                      "selectable": False}
            rows += [parent] + [{"ledger_account_id": rand_uuid(rng), "name": leaf, "selectable": True,
                                 "parent_ledger_account_id": parent["ledger_account_id"]} for leaf in leaves]
    out["ledger_accounts_cost"] += _detailed_cost_accounts(rng.getstate())
    return out


def _detailed_cost_accounts(seed_state) -> list[dict]:
    """A chart as detailed as the Dutch reference scheme (RGS): more cost accounts than one page of
    Jortt's lists holds. Ids come from a random generator of their own, so adding them leaves every
    other record of the dataset as it was."""
    rng = random.Random(str(seed_state))
    parent = {"ledger_account_id": rand_uuid(rng), "parent_ledger_account_id": None, "name": "Overige bedrijfskosten",
              "selectable": False}
    return [parent] + [{"ledger_account_id": rand_uuid(rng), "name": f"Overige bedrijfskosten {4400 + n}",
                        "selectable": True, "parent_ledger_account_id": parent["ledger_account_id"]}
                       for n in range(DETAILED_COST_ACCOUNTS)]


def money_value(money: dict) -> Decimal:
    """A Jortt money object, v1 ("value") or v2 ("amount") spelling."""
    return Decimal(money["value"] if "value" in money else money["amount"])


def _money(rng: random.Random, amount: Decimal, currency: str = "EUR") -> dict:
    return {"amount" if rng.random() < 0.03 else "value": f"{amount:.2f}", "currency": currency}


def _sale_specs(rng: random.Random, customer: dict, income: dict[str, str]) -> list[tuple]:
    """(description, units, price, vat percent, ledger account) per line, VAT as Dutch rules say."""
    country, business = customer["address_country_code"], not customer["is_private"]
    specs = []
    for _ in range(rng.randint(1, 4)):
        if country == "NL" or not business:
            pct, ledger = (Decimal(9), "Omzet 9%") if rng.random() < 0.2 else (Decimal(21), "Omzet 21%")
        else:  # a business abroad: reverse-charged within the EU, export outside it
            pct, ledger = Decimal(0), "Omzet verlegd" if country in EU else "Omzet buiten de EU"
        specs.append((rng.choice(SERVICES), rng.choice(UNITS), cents(Decimal(rng.randint(500, 150000)) / 100),
                      pct, income[ledger]))
    return specs


def _jortt_invoice(rng: random.Random, customer: dict, specs: list[tuple], day: int, status: str) -> dict:
    """A v1 invoice. Invariant: line total = units × price (cents); invoice_total = sum of lines;
    incl. VAT = total + VAT per rate (vat_breakdown)."""
    lines, nets = [], []
    for description, units, price, pct, ledger in specs:
        net = cents(units * price)
        nets.append((net, pct))
        lines.append({"description": description, "number_of_units": str(float(units)),
                      "amount_per_unit": _money(rng, price), "total_amount_excl_vat": _money(rng, net),
                      "vat_percentage": str(float(pct)), "ledger_account_id": ledger})
    total = sum((n for n, _ in nets), Decimal(0))
    incl = total + sum((t for _, t in vat_breakdown(nets).values()), Decimal(0))
    date = EPOCH.date() + timedelta(days=day)
    due = date + timedelta(days=customer["payment_term"])
    if status == "open":
        status = "late" if due < TODAY else "sent"
    return {
        "id": rand_uuid(rng), "invoice_status": status, "invoice_number": None, "invoice_date": date.isoformat(),
        "invoice_due_date": due.isoformat(), "customer_id": customer["id"], "tradename_id": None,
        "invoice_total": _money(rng, total), "invoice_total_incl_vat": _money(rng, incl),
        "invoice_due_amount": _money(rng, Decimal(0) if status == "paid" else incl), "credited_invoice_id": None,
        "customer_company_name": customer["customer_name"], "customer_address_street": customer["address_street"],
        "customer_address_postal_code": customer["address_postal_code"],
        "customer_address_city": customer["address_city"],
        "customer_address_country_code": customer["address_country_code"],
        "customer_vat_number": customer["vat_number"], "customer_reference": customer["reference"],
        "language": "nl" if customer["address_country_code"] in ("NL", "BE") else "en",
        "reference": rng.choice([None, "", f"PO {rng.randint(1000, 9999)}", "Project Kaasmarkt"]),
        "created_at": iso_ms(day * DAY_MS + rng.randint(0, DAY_MS)), "line_items": lines,
    }


def _jortt_invoices(rng: random.Random, customers: list[dict], income: dict[str, str], n: int) -> list[dict]:
    active = [c for c in customers if not c["archived"]] or customers
    tradename = rand_uuid(rng)
    invoices, specs_of = [], {}
    for _ in range(n):
        customer, day = rng.choice(active), rng.randint(0, 355)
        status = rng.choices(["draft", "paid", "open"], [1, 10 if day < 250 else 3, 3])[0]
        specs = _sale_specs(rng, customer, income)
        invoices.append(_jortt_invoice(rng, customer, specs, day, status))
        specs_of[invoices[-1]["id"]] = (customer, specs, day)
        if rng.random() < 0.2:
            invoices[-1]["tradename_id"] = tradename
    paid = [i for i in invoices if i["invoice_status"] == "paid"]
    for original in rng.sample(paid, min(len(paid), max(1, n // 30))):
        customer, specs, day = specs_of[original["id"]]  # credited in full: the same lines, negative prices
        credit = _jortt_invoice(rng, customer, [(f"Credit: {d}", u, -p, v, led) for d, u, p, v, led in specs],
                                min(day + rng.randint(1, 20), 364), "paid")
        credit["credited_invoice_id"] = original["id"]
        invoices.append(credit)
    invoices.sort(key=lambda i: (i["invoice_date"], i["created_at"]))
    numbered = [i for i in invoices if i["invoice_status"] != "draft"]  # drafts have no number yet
    for seq, invoice in enumerate(numbered, 1):
        invoice["invoice_number"] = f"2024-{seq:04d}"
    return invoices


def _expenses(rng: random.Random, cost_ledgers: list[str], n: int) -> list[dict]:
    out = []
    for _ in range(n):
        day, created, _ = stamps(rng)
        pct = rng.choice([Decimal(21), Decimal(21), Decimal(9), Decimal(0)])
        net = cents(rng.uniform(3, 2500))
        vat = cents(net * pct / 100)
        out.append({"id": rand_uuid(rng), "expense_type": rng.choice(["receipt", "receipt", "invoice", "cash"]),
                    "description": rng.choice(EXPENSES), "vat_date": iso_day(day),
                    "total_amount": {"value": f"{net + vat:.2f}", "currency": "EUR"},
                    "vat_amount": {"value": f"{vat:.2f}", "currency": "EUR"}, "vat_percentage": str(float(pct)),
                    "ledger_account_id": rng.choice(cost_ledgers), "created_at": created})
    return sorted(out, key=lambda e: (e["vat_date"], e["id"]))


def jortt_books(rng: random.Random, vendor_cos: list[dict], own: dict, size: int) -> tuple[dict[str, list], dict]:
    n = max(5, size // 2)
    shared = rng.sample(vendor_cos, min(len(vendor_cos), n // 5))  # suppliers that are also customers
    cos = shared + [None if rng.random() < 0.1 else make_company(rng) for _ in range(n - len(shared))]
    customers = [_jortt_customer(rng, co) for co in cos]
    org = {
        "id": rand_uuid(rng), "company_name": own["name"], "address_street": own["street"],
        "address_postal_code": own["postal_code"], "address_city": own["city"], "address_country_code": "NL",
        "tax_registration_number": own["vat"], "chamber_of_commerce_number": own["registration"],
        "bank_account_iban": own["iban"], "vat_type": "normal",
    }
    ledgers = _ledger_accounts(rng)
    by_name = {a["name"]: a["ledger_account_id"] for a in ledgers["ledger_accounts_income"]}
    costs = [a["ledger_account_id"] for a in ledgers["ledger_accounts_cost"] if a["selectable"]]
    return {"customers": customers, "invoices": _jortt_invoices(rng, customers, by_name, 2 * size),
            "expenses": _expenses(rng, costs, 2 * size), **ledgers}, org
