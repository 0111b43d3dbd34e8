"""Seeded, deterministic sandbox data with the mess real books contain.

Everything depends only on (size, seed): no wall clock, times are offsets from EPOCH. The same
company can appear in several systems (a supplier in Rutter is a contact in B2Brouter and sometimes
a customer in Jortt), as it does in real bookkeeping.
"""

from __future__ import annotations

import copy
import random
import string
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sandbox import credentials

EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
EPOCH_MS = int(EPOCH.timestamp() * 1000)
DAY_MS = 86_400_000
LAST_SYNC_MS = 370 * DAY_MS  # Rutter's last completed sync: after every generated updated_at


# ---------------------------------------------------------------- small helpers

def iso_ms(offset_ms: int) -> str:
    """ISO 8601 UTC with milliseconds and Z, offset_ms after EPOCH."""
    t = EPOCH + timedelta(milliseconds=offset_ms)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def unix_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(rng.choice(string.digits) for _ in range(n - 1))


def _letters(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_uppercase) for _ in range(n))


def _as_digits(s: str) -> str:
    return "".join(str(int(c, 36)) for c in s)  # ISO 13616: A=10 ... Z=35


def make_iban(country: str, bban: str) -> str:
    check = 98 - int(_as_digits(bban + country + "00")) % 97
    return f"{country}{check:02d}{bban}"


def iban_is_valid(iban: str) -> bool:
    s = iban.replace(" ", "").upper()
    return len(s) > 4 and int(_as_digits(s[4:] + s[:4])) % 97 == 1


IBAN_LENGTHS = {"NL": 18, "BE": 16, "DE": 22, "FR": 27, "ES": 24, "IT": 27, "PL": 28, "DK": 18,
                "IE": 22, "GB": 22, "GR": 27, "BG": 22, "AE": 23}


# ---------------------------------------------------------------- per-country shapes

def _be_enterprise(rng):  # 0 + 7 digits + mod-97 check, as on the Belgian KBO
    base = "0" + _digits(rng, 7)
    return base + f"{97 - int(base) % 97:02d}"


def _fr_rib(rng):  # bank 5 + branch 5 + account 11 + RIB key
    b, g, a = _digits(rng, 5), _digits(rng, 5), _digits(rng, 11)
    return f"{b}{g}{a}{97 - (89 * int(b) + 15 * int(g) + 3 * int(a)) % 97:02d}"


def _fr_vat(siren: str) -> str:
    return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"


def _national(rng: random.Random, c: str) -> tuple[str | None, str | None, str | None]:
    """(bban, vat, registration number) in the country's own shape."""
    if c == "NL":
        return rng.choice(["ABNA", "INGB", "RABO", "TRIO", "BUNQ", "KNAB"]) + _digits(rng, 10), \
            f"NL{_digits(rng, 9)}B{rng.choice(['01', '01', '01', '02'])}", _digits(rng, 8)
    if c == "BE":
        acct = _digits(rng, 10)
        kbo = _be_enterprise(rng)
        return acct + f"{int(acct) % 97 or 97:02d}", f"BE{kbo}", f"{kbo[:4]}.{kbo[4:7]}.{kbo[7:]}"
    if c == "DE":
        return _digits(rng, 18), f"DE{_digits(rng, 9)}", f"HRB {_digits(rng, rng.choice([5, 6]))}"
    if c == "FR":
        siren = _digits(rng, 9)
        return _fr_rib(rng), _fr_vat(siren), siren
    if c == "ES":
        cif = rng.choice("ABB") + _digits(rng, 8)
        return _digits(rng, 20), f"ES{cif}", cif
    if c == "IT":
        return _letters(rng, 1) + _digits(rng, 22), f"IT{_digits(rng, 11)}", f"MI-{_digits(rng, 7)}"
    if c == "PL":
        return _digits(rng, 24), f"PL{_digits(rng, 10)}", "0000" + _digits(rng, 6)
    if c == "DK":
        cvr = _digits(rng, 8)
        return _digits(rng, 14), f"DK{cvr}", cvr
    if c == "IE":
        vat = f"IE{_digits(rng, 7)}{_letters(rng, 1)}{rng.choice(['', '', 'H', 'W'])}"
        return rng.choice(["AIBK", "BOFI"]) + _digits(rng, 14), vat, _digits(rng, 6)
    if c == "GB":
        return rng.choice(["BARC", "HBUK", "LOYD", "NWBK"]) + _digits(rng, 14), f"GB{_digits(rng, 9)}", \
            _digits(rng, 8)
    if c == "GR":  # Greek VAT numbers carry the prefix EL, not GR
        return _digits(rng, 23), f"EL{_digits(rng, 9)}", _digits(rng, 12)
    if c == "BG":
        eik = _digits(rng, 9)
        return rng.choice(["BNBG", "UNCR", "STSA"]) + _digits(rng, 14), f"BG{eik}", eik
    if c == "AE":
        return _digits(rng, 19), "100" + _digits(rng, 12), f"CN-{_digits(rng, 7)}"
    uscc = "91310000" + "".join(rng.choice(string.digits + "ABCDEFGHJKLMNPQRTUWXY") for _ in range(10))
    return None, uscc, uscc  # CN: no IBAN


def _postal(rng: random.Random, c: str) -> str | None:
    if c == "NL":  # both spellings occur in real books
        letters = "".join(rng.choice("ABCDEGHJKLMNPRTVWXZ") for _ in range(2))  # letters Dutch codes use
        return f"{_digits(rng, 4)}{rng.choice(['', ' '])}{letters}"
    if c == "PL":
        return f"{_digits(rng, 2)}-{rng.randint(0, 999):03d}"
    if c == "IE":
        return f"D{rng.randint(1, 24):02d} {_letters(rng, 1)}{_digits(rng, 3)}"
    if c == "GB":
        return f"{rng.choice(['EC1A', 'SW1A', 'M1', 'EH1', 'BS1'])} {rng.randint(1, 9)}{_letters(rng, 2)}"
    if c == "GR":
        return f"{_digits(rng, 3)} {rng.randint(0, 99):02d}"
    if c == "AE":
        return None  # the Emirates use no postal codes
    return _digits(rng, {"BE": 4, "DK": 4, "BG": 4, "CN": 6}.get(c, 5))


COUNTRIES = {  # code: (weight, dial code, currencies, [(city, region)], [street], [tld])
    "NL": (34, "+31", ["EUR"], [("Amsterdam", "Noord-Holland"), ("Rotterdam", "Zuid-Holland"),
                               ("Utrecht", "Utrecht"), ("'s-Hertogenbosch", "Noord-Brabant"),
                               ("Den Haag", "Zuid-Holland"), ("Groningen", "Groningen")],
           ["Keizersgracht {n}", "Coolsingel {n}", "Oudegracht {n}-bis", "Stationsplein {n}", "Markt {n}A"]),
    "BE": (10, "+32", ["EUR"], [("Brussel", "Brussels Hoofdstedelijk Gewest"), ("Antwerpen", "Antwerpen"),
                               ("Gent", "Oost-Vlaanderen"), ("Liège", "Wallonie")],
           ["Rue de la Loi {n}", "Meir {n}", "Korenmarkt {n}", "Place Saint-Lambert {n}"]),
    "DE": (12, "+49", ["EUR"], [("München", "Bayern"), ("Köln", "Nordrhein-Westfalen"), ("Berlin", "Berlin"),
                               ("Düsseldorf", "Nordrhein-Westfalen"), ("Hamburg", "Hamburg")],
           ["Königstraße {n}", "Schloßallee {n}a", "Hauptstraße {n}", "Müllerstraße {n}"]),
    "FR": (7, "+33", ["EUR"], [("Paris", "Île-de-France"), ("Lyon", "Auvergne-Rhône-Alpes"),
                              ("Besançon", "Bourgogne-Franche-Comté"), ("Lille", "Hauts-de-France")],
           ["{n} rue de Rivoli", "{n} avenue des Champs-Élysées", "{n} boulevard Haussmann"]),
    "ES": (5, "+34", ["EUR"], [("Madrid", "Madrid"), ("Barcelona", "Cataluña"), ("A Coruña", "Galicia")],
           ["Calle de Alcalá, {n}", "Passeig de Gràcia {n}", "Avenida de la Constitución {n}"]),
    "IT": (5, "+39", ["EUR"], [("Milano", "Lombardia"), ("Roma", "Lazio"), ("Forlì", "Emilia-Romagna")],
           ["Via Roma {n}", "Corso Vittorio Emanuele II {n}", "Piazza del Duomo {n}"]),
    "PL": (4, "+48", ["PLN", "EUR"], [("Warszawa", "mazowieckie"), ("Łódź", "łódzkie"), ("Kraków", "małopolskie")],
           ["ul. Marszałkowska {n}/12", "ul. Piotrkowska {n}", "al. Jerozolimskie {n}"]),
    "DK": (3, "+45", ["DKK", "EUR"], [("København", "Hovedstaden"), ("Aarhus", "Midtjylland")],
           ["Strøget {n}", "Nørregade {n}", "Åboulevard {n}"]),
    "IE": (3, "+353", ["EUR"], [("Dublin", "Leinster"), ("Cork", "Munster")],
           ["{n} O'Connell Street", "{n} Grafton Street"]),
    "GB": (4, "+44", ["GBP"], [("London", "Greater London"), ("Manchester", "Greater Manchester")],
           ["{n}B Baker Street", "{n} King's Road"]),
    "GR": (2, "+30", ["EUR"], [("Αθήνα", "Αττική"), ("Θεσσαλονίκη", "Κεντρική Μακεδονία")],
           ["Οδός Ερμού {n}", "Λεωφόρος Κηφισίας {n}"]),
    "BG": (2, "+359", ["BGN", "EUR"], [("София", "София-град"), ("Пловдив", "Пловдив")],
           ["бул. Витоша {n}", "ул. Граф Игнатиев {n}"]),
    "AE": (2, "+971", ["AED", "USD"], [("Dubai", "Dubai"), ("Abu Dhabi", "Abu Dhabi")],
           ["Sheikh Zayed Road, Tower {n}", "Office {n}, Al Maktoum Street"]),
    "CN": (2, "+86", ["CNY", "USD"], [("上海", "上海市"), ("深圳", "广东省")],
           ["南京路{n}号", "深南大道{n}号"]),
}

NAME_PARTS = {  # code: (stems, trades, legal forms)
    "NL": (["Van der Berg", "De Vries", "Jansen", "Bakker", "Visser", "Smit", "De Groot", "Mulder"],
           ["Installatietechniek", "Transport", "Bouw", "Groothandel", "Drukkerij", "Schoonmaak"],
           ["B.V.", "BV", "V.O.F.", "Holding B.V."]),
    "BE": (["Peeters", "Janssens", "Dubois", "Lambert"], ["Logistics", "Bouwwerken", "Imprimerie"],
           ["NV", "BV", "SRL", "SA"]),
    "DE": (["Schmidt", "Schneider", "Fischer", "Weiß", "Groß"], ["Maschinenbau", "Logistik", "Bürobedarf"],
           ["GmbH", "AG", "GmbH & Co. KG"]),
    "FR": (["Martin", "Lefèvre", "Girard", "Roux"], ["Transports", "Bâtiment", "Conseil"], ["SARL", "SAS", "SA"]),
    "ES": (["García", "Martínez", "López"], ["Construcciones", "Distribuciones"], ["S.L.", "S.A."]),
    "IT": (["Rossi", "Bianchi", "Ricci"], ["Costruzioni", "Trasporti", "Forniture"], ["S.r.l.", "S.p.A."]),
    "PL": (["Kowalski", "Wiśniewski", "Wójcik"], ["Budownictwo", "Transport"], ["sp. z o.o.", "S.A."]),
    "DK": (["Jensen", "Nielsen", "Sørensen"], ["Byg", "Transport"], ["A/S", "ApS"]),
    "IE": (["Murphy", "Kelly", "O'Sullivan"], ["Engineering", "Freight"], ["Ltd", "DAC"]),
    "GB": (["Smith", "Jones", "Taylor"], ["Supplies", "Consulting"], ["Ltd", "PLC", "LLP"]),
    "GR": (["Παπαδόπουλος", "Ιωάννου"], ["Εμπορική", "Τεχνική"], ["Α.Ε.", "Ε.Π.Ε."]),
    "BG": (["Иванов", "Петров"], ["Трейд", "Логистик"], ["ЕООД", "ООД"]),
    "AE": (["Al Noor", "Al Futtaim"], ["General Trading", "Logistics"], ["LLC", "FZE"]),
    "CN": (["华强", "海天"], ["电子", "贸易"], ["有限公司"]),
}

SPECIAL_NAMES = [  # the names that break naive code: accents, scripts, XML/CSV specials, whitespace
    ("Café Müller & Söhne GmbH", "DE"), ("Ørsted Energi A/S", "DK"), ("Żabka Polska sp. z o.o.", "PL"),
    ("Crème Brûlée Pâtisserie SARL", "FR"), ("Peña & Núñez Asociados S.L.", "ES"),
    ("D'Angelo & Figli S.r.l.", "IT"), ('O\'Brien "The Plumbers" Ltd', "IE"),
    ("Smith & Sons <Holdings> Ltd", "GB"), ("Bakkerij 't Stoepje", "NL"),
    ("Brouwerij 's-Hertogenbosch B.V.", "NL"), ("Électricité Générale Liège SRL", "BE"),
    ("深圳市华强电子有限公司", "CN"), ("上海海天贸易有限公司", "CN"), ("Ελληνικά Τρόφιμα Α.Ε.", "GR"),
    ("„Балкан Логистик“ ООД", "BG"), ("شركة النور للتجارة العامة ذ.م.م", "AE"),
    ('A&B <Tech> "Solutions" B.V.', "NL"), ("  Van den Heuvel Transport B.V.  ", "NL"),
    ("JANSEN INSTALLATIETECHNIEK BV", "NL"), ("Łódzkie Zakłady Włókiennicze S.A.", "PL"),
    ("Ærø Færgefart ApS", "DK"), ("Señor Jamón S.A.", "ES"), ("Zürcher Präzisions-Werkzeuge GmbH", "DE"),
]

PEOPLE = ["Jan de Vries", "José García", "Zoë Dubois", "Søren Østergaard", "Małgorzata Kowalska",
          "Seán Ó Súilleabháin", "Jürgen Groß", "Anouk van 't Hof", "李伟", "Γιώργος Παπαδόπουλος",
          "Иван Петров", "محمد العلي", "Émilie Lefèvre", "Björn Ängström", "Ana O'Neil-Nuñez"]

# Peppol EAS scheme of the party identifier a Jortt/B2Brouter record carries, per country.
PEPPOL_SCHEMES = {"NL": "0106", "BE": "0208", "DE": "9930", "FR": "0009", "ES": "9920", "IT": "0211",
                  "DK": "0184", "PL": "9945", "IE": "9935", "GB": "9932", "GR": "9933", "BG": "9926"}


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in ascii_name if ch.isalnum())[:20]


def _company(rng: random.Random, name: str | None = None, country: str | None = None) -> dict:
    """One company, independent of any system's field names."""
    if country is None:
        codes = list(COUNTRIES)
        country = rng.choices(codes, weights=[COUNTRIES[c][0] for c in codes])[0]
    _, dial, currencies, cities, streets = COUNTRIES[country]
    if name is None:
        stems, trades, forms = NAME_PARTS[country]
        sep = "" if country == "CN" else " "
        name = sep.join([rng.choice(stems), rng.choice(trades), rng.choice(forms)])
    bban, vat, reg = _national(rng, country)
    city, region = rng.choice(cities)
    slug = _slug(" ".join(name.split()[:2])) or f"co{rng.randint(100, 999)}"  # non-Latin: no slug
    tld = {"GB": "co.uk", "GR": "gr", "AE": "ae", "CN": "cn"}.get(country, country.lower())
    return {
        "name": name, "country": country, "city": city, "region": region,
        "street": rng.choice(streets).format(n=rng.randint(1, 250)), "postal_code": _postal(rng, country),
        "vat": vat, "registration": reg, "iban": make_iban(country, bban) if bban else None,
        "phone": f"{dial} {_digits(rng, 2)} {_digits(rng, 3)} {_digits(rng, 4)}",
        "email": f"{rng.choice(['info', 'finance', 'ap', 'Administratie', 'INFO'])}@{slug}.{tld}",
        "website": f"{rng.choice(['https://www.', 'http://', 'www.'])}{slug}.{tld}",
        "currencies": currencies,
    }


def _companies(rng: random.Random, n: int) -> list[dict]:
    specials = SPECIAL_NAMES[: max(0, n // 3)]
    out = [_company(rng, name, country) for name, country in specials]
    out += [_company(rng) for _ in range(n - len(out))]
    rng.shuffle(out)
    return out


def _mess(rng: random.Random, record: dict, keys: list[str], p: float = 0.08) -> dict:
    """Drop some optional keys and null others: both happen in real payloads."""
    for key in keys:
        r = rng.random()
        if r < p:
            record.pop(key, None)
        elif r < 2 * p:
            record[key] = None
    return record


def _pick(rng: random.Random, n: int, k: int) -> set[int]:
    return set(rng.sample(range(n), min(n, k)))


# ---------------------------------------------------------------- Rutter

def _rutter_address(rng: random.Random, co: dict, kind: str) -> dict:
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
    addresses = [] if "no_address" in flags else [_rutter_address(rng, co, "billing")]
    if addresses and rng.random() < 0.3:
        addresses.append(_rutter_address(rng, co, "shipping"))
    vendor = {
        "id": _uuid(rng), "platform_id": str(platform_id), "vendor_name": co["name"],
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
    return _mess(rng, vendor, ["display_name", "contact_name", "email", "phone", "website",
                               "registration_number", "tax_number", "payment_terms_id", "platform_url"])


def _vendors(rng: random.Random, companies: list[dict]) -> list[dict]:
    n = len(companies)
    archived = _pick(rng, n, max(1, round(n * 0.05)))
    no_updated = _pick(rng, n, max(1, round(n * 0.01)))
    no_address = _pick(rng, n, max(1, round(n * 0.02)))
    vendors = []
    for i, co in enumerate(companies):
        flags = {f for f, s in (("archived", archived), ("no_updated_at", no_updated),
                                ("no_address", no_address)) if i in s}
        vendors.append(_vendor(rng, co, 1200 + i, flags))
    return vendors


def _company_info(rng: random.Random, name: str) -> tuple[dict, dict]:
    co = _company(rng, f"{name} B.V.", "NL")
    info = {
        "id": _uuid(rng), "platform_id": "1", "name": name, "legal_name": co["name"],
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


def _connection(rng: random.Random, token: str, org_id: str, n_vendors: int) -> tuple[RutterConnection, dict, list]:
    name = rng.choice(["Kaasmakerij De Gouden Koe", "Fietsenfabriek Hollandia", "Molenaar & Zn. Bouwmaterialen",
                       "Tulpen Export Nederland", "Zeeuwse Mosselhandel"])
    info, own = _company_info(rng, name)
    companies = _companies(rng, n_vendors)
    conn = RutterConnection(token, _uuid(rng), org_id, info, {"vendors": _vendors(rng, companies)},
                            iso_ms(LAST_SYNC_MS))
    return conn, own, companies


# ---------------------------------------------------------------- Jortt

def _jortt_customer(rng: random.Random, co: dict | None) -> dict:
    private = co is None
    co = co or _company(rng, rng.choice(PEOPLE), "NL")
    peppol = None if private or rng.random() < 0.4 else PEPPOL_SCHEMES.get(co["country"])
    return {
        "id": _uuid(rng), "is_private": private, "customer_name": co["name"],
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


def _jortt(rng: random.Random, vendor_cos: list[dict], own: dict, size: int) -> tuple[list[dict], dict]:
    n = max(5, size // 2)
    shared = rng.sample(vendor_cos, min(len(vendor_cos), n // 5))  # suppliers that are also customers
    cos = shared + [None if rng.random() < 0.1 else _company(rng) for _ in range(n - len(shared))]
    customers = [_jortt_customer(rng, co) for co in cos]
    org = {
        "id": _uuid(rng), "company_name": own["name"], "address_street": own["street"],
        "address_postal_code": own["postal_code"], "address_city": own["city"], "address_country_code": "NL",
        "tax_registration_number": own["vat"], "chamber_of_commerce_number": own["registration"],
        "bank_account_iban": own["iban"], "vat_type": "normal",
    }
    return customers, org


# ---------------------------------------------------------------- B2Brouter

def _b2b_party(co: dict, pid: int) -> dict:
    return {"id": pid, "name": co["name"], "tin_value": co["vat"], "country": co["country"].lower()}


def _b2b(rng: random.Random, vendor_cos: list[dict], own: dict, size: int) -> tuple[list, list, list]:
    account = {**_b2b_party(own, int(credentials.B2BROUTER_ACCOUNT_ID)),
               "identifier": _slug(own["name"]), "email": own["email"], "address": own["street"],
               "city": own["city"], "postalcode": own["postal_code"], "currency": "EUR",
               "created_at": iso_ms(0), "updated_at": iso_ms(DAY_MS)}
    n = max(3, size // 4)
    cos = rng.sample(vendor_cos, min(len(vendor_cos), n * 7 // 10))
    cos += [_company(rng) for _ in range(n - len(cos))]
    contacts = []
    for i, co in enumerate(cos):
        created = rng.randint(0, 300 * DAY_MS)
        contact = {**_b2b_party(co, 20000 + i), "tin_scheme": PEPPOL_SCHEMES.get(co["country"]),
                   "email": co["email"], "address": co["street"], "city": co["city"],
                   "postalcode": co["postal_code"], "province": co["region"], "currency": co["currencies"][0],
                   "is_client": False, "is_provider": True,
                   "created_at": iso_ms(created), "updated_at": iso_ms(created + rng.randint(0, 30 * DAY_MS))}
        if co["iban"] and rng.random() < 0.7:
            contact["iban"] = co["iban"]
        contacts.append(contact)
    invoices = [_b2b_invoice(rng, 50000 + i, rng.choice(contacts)) for i in range(max(5, size // 10))]
    return [account], contacts, invoices


def _b2b_invoice(rng: random.Random, iid: int, contact: dict) -> dict:
    day = rng.randint(0, 330)
    subtotal = round(rng.uniform(20, 25000), 2)
    tax = round(subtotal * rng.choice([0.21, 0.21, 0.09, 0.0]), 2)
    created = day * DAY_MS + rng.randint(0, DAY_MS)
    date = (EPOCH + timedelta(days=day)).date()
    return {
        "id": iid, "number": rng.choice([f"INV-2024-{iid % 10000:04d}", f"{rng.randint(100000, 999999)}",
                                         f"F/{rng.randint(1, 999)}/2024"]),
        "date": date.isoformat(), "due_date": (date + timedelta(days=rng.choice([14, 30, 60]))).isoformat(),
        "state": rng.choice(["new", "new", "accepted", "paid", "refused", "annotated"]),
        "type": "ReceivedInvoice",
        "contact": {k: contact[k] for k in ("id", "name", "tin_value", "country")},
        "currency": contact["currency"], "subtotal": subtotal, "tax_amount": tax,
        "total": round(subtotal + tax, 2),
        "created_at": iso_ms(created), "updated_at": iso_ms(created + rng.randint(0, 20 * DAY_MS)),
    }


# ---------------------------------------------------------------- the dataset

@dataclass
class Dataset:
    size: int
    seed: int
    connections: dict[str, RutterConnection]  # by access token
    jortt_customers: list[dict]
    jortt_organization: dict
    b2b_accounts: list[dict]
    b2b_contacts: list[dict]
    b2b_invoices: list[dict]

    def vendors(self, access_token: str = credentials.RUTTER_ACCESS_TOKEN) -> list[dict]:
        return self.connections[access_token].collections["vendors"]

    def find_vendor(self, vendor_id: str) -> tuple[RutterConnection, dict]:
        for conn in self.connections.values():
            for vendor in conn.collections["vendors"]:
                if vendor.get("id") == vendor_id:
                    return conn, vendor
        raise KeyError(vendor_id)

    def touch_vendor(self, vendor_id: str, **changes) -> dict:
        """Change a vendor as the books would: updated_at moves past every existing one."""
        conn, vendor = self.find_vendor(vendor_id)
        latest = max((unix_ms(r["updated_at"]) for c in self.connections.values()
                      for records in c.collections.values() for r in records if r.get("updated_at")),
                     default=EPOCH_MS)
        stamp = iso_ms(latest - EPOCH_MS + 1000)
        vendor.update(copy.deepcopy({k: v for k, v in changes.items() if k != "id"}))
        vendor["updated_at"] = vendor["last_synced_at"] = stamp
        conn.last_sync_completed_at = max(conn.last_sync_completed_at, stamp)
        return vendor


def build_dataset(size: int = 200, seed: int = 42) -> Dataset:
    rng = random.Random(seed)
    org_id = _uuid(rng)
    first, own, vendor_cos = _connection(rng, credentials.RUTTER_ACCESS_TOKEN, org_id, size)
    second, _, _ = _connection(random.Random(seed + 1), credentials.RUTTER_ACCESS_TOKEN_2, org_id,
                               max(8, size // 4))
    customers, org = _jortt(random.Random(f"jortt:{seed}"), vendor_cos, own, size)
    accounts, contacts, invoices = _b2b(random.Random(f"b2brouter:{seed}"), vendor_cos, own, size)
    return Dataset(size, seed, {c.access_token: c for c in (first, second)}, customers, org,
                   accounts, contacts, invoices)
