"""A Rutter connection: the company's own info and its vendors."""

from __future__ import annotations

import random
from dataclasses import dataclass

from sandbox.data.common import DAY_MS, iso_ms, mess, pick, rand_uuid
from sandbox.data.countries import PEOPLE, make_companies, make_company

LAST_SYNC_MS = 370 * DAY_MS  # Rutter's last completed sync: after every generated updated_at


def rutter_address(rng: random.Random, co: dict, kind: str) -> dict:
    addr = {"type": kind, "address_line_1": co["street"],
            "address_line_2": rng.choice([None, None, "2e verdieping", "Unit 4", "c/o Finance"]),
            "city": co["city"], "region": co["region"] if rng.random() < 0.5 else None,
            "postal_code": co["postal_code"], "country": co["country"]}
    if rng.random() < 0.1:
        del addr["address_line_2"]
    return addr


def _vendor(rng: random.Random, co: dict, platform_id: int, flags: set[str]) -> dict:
    created = rng.randint(0, 300 * DAY_MS)
    updated = created + rng.randint(0, 60 * DAY_MS)
    vat = co["vat"]
    if rng.random() < 0.05:  # as typed by a human: spaces and lower case
        vat = f"{vat[:2].lower()} {vat[2:]}"
    addresses = [] if "no_address" in flags else [rutter_address(rng, co, "billing")]
    if addresses and rng.random() < 0.3:
        addresses.append(rutter_address(rng, co, "shipping"))
    vendor = {
        "id": rand_uuid(rng), "platform_id": str(platform_id), "vendor_name": co["name"],
        "display_name": co["name"].strip() if rng.random() < 0.8 else co["name"].split()[0],
        "contact_name": rng.choice(PEOPLE), "email": co["email"], "phone": co["phone"],
        "website": co["website"], "registration_number": co["registration"], "tax_number": vat,
        "status": "archived" if "archived" in flags else "active",
        "currency_codes": [] if rng.random() < 0.05 else list(co["currencies"]),
        "payment_terms_id": rng.choice(["1", "2", "2", "3", "4"]), "addresses": addresses,
        "subsidiaries": rng.choice([[{"id": "1"}]] * 8 + [[], [{"id": "1"}, {"id": "2"}]]),
        "created_at": iso_ms(created), "updated_at": None if "no_updated_at" in flags else iso_ms(updated),
        "last_synced_at": iso_ms(LAST_SYNC_MS - rng.randint(0, DAY_MS)),
        "platform_url": f"https://1234567.app.netsuite.com/app/common/entity/vendor.nl?id={platform_id}",
    }
    return mess(rng, vendor, ["display_name", "contact_name", "email", "phone", "website",
                               "registration_number", "tax_number", "payment_terms_id", "platform_url"])


def _vendors(rng: random.Random, companies: list[dict]) -> list[dict]:
    n = len(companies)
    archived = pick(rng, n, max(1, round(n * 0.05)))
    no_updated = pick(rng, n, max(1, round(n * 0.01)))
    no_address = pick(rng, n, max(1, round(n * 0.02)))
    vendors = []
    for i, co in enumerate(companies):
        flags = {f for f, s in (("archived", archived), ("no_updated_at", no_updated),
                                ("no_address", no_address)) if i in s}
        vendors.append(_vendor(rng, co, 1200 + i, flags))
    return vendors


def _company_info(rng: random.Random, name: str) -> tuple[dict, dict]:
    co = make_company(rng, f"{name} B.V.", "NL")
    info = {
        "id": rand_uuid(rng), "platform_id": "1", "name": name, "legal_name": co["name"],
        "currency_code": "EUR",
        "addresses": [{"type": "billing", "address_line_1": co["street"], "address_line_2": None,
                       "city": co["city"], "region": co["region"], "postal_code": co["postal_code"],
                       "country": "NL"}],
        "registration_number": co["registration"], "tax_number": co["vat"], "phone": co["phone"],
        "email": co["email"], "website": co["website"],
        "created_at": iso_ms(0), "updated_at": iso_ms(rng.randint(0, 300 * DAY_MS)),
    }
    return info, co


@dataclass
class RutterConnection:
    """One company's books behind one access token."""

    access_token: str
    id: str
    org_id: str
    company_info: dict
    collections: dict[str, list[dict]]  # stream name ("vendors", later "bills", ...) -> records
    last_sync_completed_at: str
    platform: str = "NETSUITE"
    is_ready: bool = True

    def info(self) -> dict:
        return {"id": self.id, "orgId": self.org_id, "platform": self.platform}


def rutter_connection(rng: random.Random, token: str, org_id: str,
                      n_vendors: int) -> tuple[RutterConnection, dict, list]:
    name = rng.choice(["Kaasmakerij De Gouden Koe", "Fietsenfabriek Hollandia", "Molenaar & Zn. Bouwmaterialen",
                       "Tulpen Export Nederland", "Zeeuwse Mosselhandel"])
    info, own = _company_info(rng, name)
    companies = make_companies(rng, n_vendors)
    conn = RutterConnection(token, rand_uuid(rng), org_id, info, {"vendors": _vendors(rng, companies)},
                            iso_ms(LAST_SYNC_MS))
    return conn, own, companies
