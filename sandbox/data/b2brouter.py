"""A company's B2Brouter account: contacts, received invoices, and the Jortt sales it sent by Peppol."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from sandbox import credentials
from sandbox.data.common import DAY_MS, EPOCH, EPOCH_MS, iso_ms, unix_ms
from sandbox.data.countries import EU, PEPPOL_SCHEMES, make_company, slugify
from sandbox.data.jortt import money_value
from sandbox.data.money import cents, vat_breakdown
from sandbox.data.rutter_books import PRODUCTS, QUANTITIES


def _b2b_party(co: dict, pid: int) -> dict:
    return {"id": pid, "name": co["name"], "tin_value": co["vat"], "country": co["country"].lower()}


def _b2b_contact(rng: random.Random, co: dict, cid: int, client: bool) -> dict:
    created = rng.randint(0, 300 * DAY_MS)
    contact = {**_b2b_party(co, cid), "tin_scheme": PEPPOL_SCHEMES.get(co["country"]),
               "email": co["email"], "address": co["street"], "city": co["city"],
               "postalcode": co["postal_code"], "province": co["region"], "currency": co["currencies"][0],
               "is_client": client, "is_provider": not client,
               "created_at": iso_ms(created), "updated_at": iso_ms(created + rng.randint(0, 30 * DAY_MS))}
    if co.get("iban") and rng.random() < 0.7:
        contact["iban"] = co["iban"]
    return contact


def _tax_category(pct: Decimal, country: str) -> str:
    return "S" if pct else ("AE" if country in EU - {"NL"} else "Z")  # reverse charge within the EU


def _b2b_lines(specs: list[tuple], iid: int, country: str) -> tuple[list[dict], dict]:
    """Lines from (description, quantity, price, percent) and the totals they add up to."""
    lines, nets = [], []
    for k, (description, qty, price, pct) in enumerate(specs, 1):
        net = cents(qty * price)
        nets.append((net, pct))
        lines.append({"id": iid * 10 + k, "description": description, "quantity": float(qty),
                      "price": float(price), "amount": float(net),
                      "taxes": [{"name": "VAT", "category": _tax_category(pct, country), "percent": float(pct)}]})
    sub = sum((n for n, _ in nets), Decimal(0))
    tax = sum((t for _, t in vat_breakdown(nets).values()), Decimal(0))
    return lines, {"subtotal": float(sub), "tax_amount": float(tax), "total": float(sub + tax)}


def _b2b_invoice(rng: random.Random, iid: int, kind: str, contact: dict, specs: list[tuple], date, due,
                 state: str, created_ms: int) -> dict:
    lines, totals = _b2b_lines(specs, iid, contact["country"].upper())
    return {"id": iid, "number": None, "date": date.isoformat(), "due_date": due.isoformat(), "state": state,
            "type": kind, "contact": {k: contact[k] for k in ("id", "name", "tin_value", "country")},
            "currency": contact["currency"] if kind == "ReceivedInvoice" else "EUR", **totals, "lines": lines,
            "created_at": iso_ms(created_ms), "updated_at": iso_ms(created_ms + rng.randint(0, 20 * DAY_MS))}


def _received(rng: random.Random, iid: int, contact: dict) -> dict:
    day = rng.randint(0, 330)
    country = contact["country"].upper()
    rates = [Decimal(21), Decimal(21), Decimal(9)] if country == "NL" else [Decimal(0)]
    specs = [(rng.choice([p[0] for p in PRODUCTS] + ["Vrachtkosten"]), rng.choice(QUANTITIES),
              cents(rng.uniform(2, 4000)), rng.choice(rates)) for _ in range(rng.randint(1, 4))]
    date = EPOCH.date() + timedelta(days=day)
    invoice = _b2b_invoice(rng, iid, "ReceivedInvoice", contact, specs, date,
                           date + timedelta(days=rng.choice([14, 30, 60])),
                           rng.choice(["new", "new", "accepted", "paid", "refused", "annotated"]),
                           day * DAY_MS + rng.randint(0, DAY_MS))
    invoice["number"] = rng.choice([f"INV-2024-{iid % 10000:04d}", f"{rng.randint(100000, 999999)}",
                                     f"F/{rng.randint(1, 999)}/2024"])
    return invoice


def _issued(rng: random.Random, iid: int, sale: dict, contact: dict) -> dict:
    """A Jortt sales invoice as sent over the network: same number, dates, lines and totals."""
    specs = [(ln["description"], Decimal(ln["number_of_units"]), money_value(ln["amount_per_unit"]),
              Decimal(ln["vat_percentage"])) for ln in sale["line_items"]]
    paid = sale["invoice_status"] == "paid"
    state = "paid" if paid else rng.choice(["new", "sending", "sent", "sent", "accepted", "registered", "refused",
                                            "closed", "error"])
    invoice = _b2b_invoice(rng, iid, "IssuedInvoice", contact, specs, date.fromisoformat(sale["invoice_date"]),
                           date.fromisoformat(sale["invoice_due_date"]), state,
                           unix_ms(sale["created_at"]) - EPOCH_MS + rng.randint(60_000, 3_600_000))
    invoice["number"] = sale["invoice_number"]
    return invoice


def b2brouter_books(rng: random.Random, creds: credentials.CompanyCredentials, vendor_cos: list[dict], own: dict,
                    size: int, jortt: dict[str, list], base: int) -> tuple[dict, dict[str, list]]:
    """One account's contacts and invoices; ids start at `base` so that they are unique across accounts."""
    account = {**_b2b_party(own, int(creds.b2brouter_account_id)),
               "identifier": slugify(own["name"]), "email": own["email"], "address": own["street"],
               "city": own["city"], "postalcode": own["postal_code"], "currency": "EUR",
               "created_at": iso_ms(0), "updated_at": iso_ms(DAY_MS)}
    n = max(3, size // 4)
    cos = rng.sample(vendor_cos, min(len(vendor_cos), n * 7 // 10))
    cos += [make_company(rng) for _ in range(n - len(cos))]
    contacts = [_b2b_contact(rng, co, base + 20000 + i, client=False) for i, co in enumerate(cos)]
    received = [_received(rng, base + 50000 + i, rng.choice(contacts)) for i in range(max(5, size // 5))]
    customers = {c["id"]: c for c in jortt["customers"]}
    clients: dict[str, dict] = {}
    issued: list[dict] = []
    for sale in jortt["invoices"]:  # about half of the numbered, non-credit sales also went out by Peppol
        if sale["invoice_number"] is None or sale["credited_invoice_id"] or rng.random() < 0.5:
            continue
        cust = customers[sale["customer_id"]]
        if cust["id"] not in clients:
            co = {"name": cust["customer_name"], "vat": cust["vat_number"], "country": cust["address_country_code"],
                  "email": cust["email"], "street": cust["address_street"], "city": cust["address_city"],
                  "postal_code": cust["address_postal_code"], "region": None, "currencies": ["EUR"]}
            clients[cust["id"]] = _b2b_contact(rng, co, base + 20000 + len(contacts) + len(clients), client=True)
        issued.append(_issued(rng, base + 50000 + len(received) + len(issued), sale, clients[cust["id"]]))
    return account, {"contacts": contacts + list(clients.values()), "received_invoices": received,
                     "issued_invoices": issued}
