"""Seeded, deterministic sandbox data with the mess real books contain.

Everything depends only on (size, seed): no wall clock, times are offsets from EPOCH. The same
company can appear in several systems (a supplier in Rutter is a contact in B2Brouter and sometimes
a customer in Jortt), as it does in real bookkeeping.
"""

from __future__ import annotations

import copy
import functools
import random
import string
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

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


@functools.lru_cache(maxsize=1 << 20)  # list endpoints sort every record on every page: parse each time once
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


# ---------------------------------------------------------------- money

CENT = Decimal("0.01")
EU = {"NL", "BE", "DE", "FR", "ES", "IT", "PL", "DK", "IE", "GR", "BG"}
TODAY = (EPOCH + timedelta(days=370)).date()  # the sandbox's "now" for due/late: after every invoice date


def cents(value) -> Decimal:
    return Decimal(value).quantize(CENT, ROUND_HALF_UP)


def vat_breakdown(lines, discount: Decimal = Decimal(0)) -> dict[Decimal, tuple[Decimal, Decimal]]:
    """(net, percent) per line -> {percent: (taxable, tax)}. VAT is rounded to cents once per rate, as
    EN 16931 totals an invoice; every generated total and the UBL documents use this one rule. A header
    discount lowers each rate's taxable amount by its share: pro rata by the rates' nets, rounded to
    cents, the cents left over on the rate with the largest net (the higher rate on a tie)."""
    bases: dict[Decimal, Decimal] = {}
    for net, pct in lines:
        bases[pct] = bases.get(pct, Decimal(0)) + net
    net, shares = sum(bases.values()), {pct: Decimal(0) for pct in bases}
    if discount:
        shares = {pct: cents(discount * base / net) for pct, base in bases.items()}
        shares[max(bases, key=lambda pct: (abs(bases[pct]), pct))] += discount - sum(shares.values())
    return {pct: (base - shares[pct], cents((base - shares[pct]) * pct / 100)) for pct, base in bases.items()}


def _day(day: int) -> str:
    return (EPOCH + timedelta(days=day)).date().isoformat()


def _stamps(rng: random.Random, null_updated: float = 0.0) -> tuple[int, str, str | None]:
    """(day, created_at, updated_at) spread over 2024; updated_at null with the given probability."""
    created = rng.randint(0, 300 * DAY_MS)
    updated = None if rng.random() < null_updated else iso_ms(created + rng.randint(0, 60 * DAY_MS))
    return created // DAY_MS, iso_ms(created), updated


# ---------------------------------------------------------------- Rutter books (2024-08-31 shapes)

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
        _, created, updated = _stamps(rng, null_updated=0.06)  # nullable since 2024-08-31
        out.append(_mess(rng, {
            "id": _uuid(rng), "platform_id": str(100 + i), "account_type": kind, "category": category,
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
        _, created, updated = _stamps(rng)
        buy = {"unit_price": float(cost), "description": name, "account_id": rng.choice(costs), "tax_rate_id": rate}
        sell = {"unit_price": float(cents(cost * Decimal(rng.choice(["1.25", "1.4", "1.8"])))),
                "description": name, "account_id": rng.choice(income), "tax_rate_id": rate}
        out.append(_mess(rng, {
            "id": _uuid(rng), "platform_id": str(5000 + i), "code": f"ART-{1000 + i}", "name": name,
            "status": "archived" if rng.random() < 0.05 else "active", "type": kind,
            "bill_item": None if kind == "service" and rng.random() < 0.3 else buy,  # sold only
            "invoice_item": None if kind == "non_inventory" else sell,  # bought for own use
            "created_at": created, "updated_at": updated}, ["code"], 0.04))
    return out


def _customers(rng: random.Random, n: int) -> list[dict]:
    out = []
    for i, co in enumerate(_companies(rng, n)):
        _, created, updated = _stamps(rng, null_updated=0.03)
        addresses = [_rutter_address(rng, co, "billing")] if rng.random() < 0.95 else []
        out.append(_mess(rng, {
            "id": _uuid(rng), "platform_id": str(3000 + i), "customer_name": co["name"],
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
    day, created, updated = _stamps(rng)
    lines, qty = [], Decimal(0)
    for it in rng.sample(items, min(len(items), rng.randint(1, 4))):
        line, q = _line(rng, it, "bill_item", costs)
        lines.append(_mess(rng, {**line, "class_id": rng.choice([None, "1", "2", "3"]),
                                 "department_id": rng.choice([None, "10", "20"])}, ["class_id", "department_id"]))
        qty += q
    return _mess(rng, {
        "id": _uuid(rng), "platform_id": f"PO{7000 + i}", "vendor_id": vendor["id"],
        "subsidiary_id": rng.choice(["1", "1", "2"]), "issue_date": _day(day),
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
    return {"issue_date": _day(day), "due_date": None if rng.random() < 0.04 else _day(day + rng.choice([14, 30, 60])),
            "status": status, "currency_code": currency, "sub_total": float(sub), "tax_amount": float(tax),
            "total_amount": float(total), "amount_due": float(due), "total_discount": float(discount),
            "line_items": lines, "created_at": created, "updated_at": updated}


def _bill(rng: random.Random, i: int, vendor: dict, po: dict | None, items: list[dict], costs: list[str],
          payables: list[str]) -> dict:
    day, created, updated = _stamps(rng)
    if po is not None:  # billed as ordered: the PO's lines
        lines = [{k: copy.deepcopy(ln[k]) for k in ("description", "total_amount", "account_id", "tax_rate_id", "item")}
                 for ln in po["line_items"]]
    else:
        lines = [_line(rng, it, "bill_item", costs)[0] for it in rng.sample(items, min(len(items), rng.randint(1, 3)))]
        if rng.random() < 0.3:  # a free-text line without an item
            lines.append({"description": rng.choice(["Vrachtkosten", "Toeslag klein order", "Kilometervergoeding"]),
                          "total_amount": float(cents(rng.uniform(5, 150))), "account_id": rng.choice(costs),
                          "tax_rate_id": "1"})
    bill = {"id": _uuid(rng), "platform_id": f"VB{9000 + i}", "vendor_id": vendor["id"],
            "account_id": rng.choice(payables), "payment_terms_id": vendor.get("payment_terms_id"),
            "document_number": rng.choice([f"INV-{rng.randint(1000, 99999)}", f"{rng.randint(2024000, 2024999)}",
                                           f"F/{rng.randint(1, 999)}/2024"]),
            "memo": rng.choice(["", "Factuur per e-mail ontvangen", "Peppol"]),
            "linked_purchase_orders": [{"id": po["id"]}] if po is not None else [],
            **_document(rng, lines, (vendor.get("currency_codes") or ["EUR"])[0], day, created, updated)}
    return _mess(rng, bill, ["memo", "account_id", "payment_terms_id"], 0.04)


def _ar_invoice(rng: random.Random, i: int, customer: dict, items: list[dict], income: list[str],
                receivables: list[str]) -> dict:
    day, created, updated = _stamps(rng)
    lines = [_line(rng, it, "invoice_item", income)[0] for it in rng.sample(items, min(len(items), rng.randint(1, 4)))]
    for line in lines:
        if rng.random() < 0.1:
            del line["item"]  # a free-text line
    invoice = {"id": _uuid(rng), "platform_id": f"INV{4000 + i}", "customer_id": customer["id"],
               "account_id": rng.choice(receivables), "payment_terms_id": rng.choice(["1", "2", "3"]),
               "document_number": f"2024-{i + 1:05d}", "memo": rng.choice(["", "Bedankt voor uw bestelling!"]),
               **_document(rng, lines, customer["currency_code"], day, created, updated)}
    if rng.random() < 0.03:
        invoice["issue_date"] = None  # nullable since 2024-08-31
    return _mess(rng, invoice, ["memo", "account_id"], 0.04)


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


def _rutter_books(rng: random.Random, vendors: list[dict]) -> dict[str, list[dict]]:
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


# ---------------------------------------------------------------- Jortt

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


def _ledger_accounts(rng: random.Random) -> dict[str, list[dict]]:
    out = {}
    for category, groups in LEDGERS.items():
        rows = out[f"ledger_accounts_{category}"] = []
        for group, leaves in groups:
            parent = {"ledger_account_id": _uuid(rng), "parent_ledger_account_id": None, "name": group,
                      "selectable": False}
            rows += [parent] + [{"ledger_account_id": _uuid(rng), "name": leaf, "selectable": True,
                                 "parent_ledger_account_id": parent["ledger_account_id"]} for leaf in leaves]
    out["ledger_accounts_cost"] += _detailed_cost_accounts(rng.getstate())
    return out


def _detailed_cost_accounts(seed_state) -> list[dict]:
    """A chart as detailed as the Dutch reference scheme (RGS): more cost accounts than one page of
    Jortt's lists holds. Ids come from a random generator of their own, so adding them leaves every
    other record of the dataset as it was."""
    rng = random.Random(str(seed_state))
    parent = {"ledger_account_id": _uuid(rng), "parent_ledger_account_id": None, "name": "Overige bedrijfskosten",
              "selectable": False}
    return [parent] + [{"ledger_account_id": _uuid(rng), "name": f"Overige bedrijfskosten {4400 + n}",
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
        "id": _uuid(rng), "invoice_status": status, "invoice_number": None, "invoice_date": date.isoformat(),
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
    tradename = _uuid(rng)
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
        day, created, _ = _stamps(rng)
        pct = rng.choice([Decimal(21), Decimal(21), Decimal(9), Decimal(0)])
        net = cents(rng.uniform(3, 2500))
        vat = cents(net * pct / 100)
        out.append({"id": _uuid(rng), "expense_type": rng.choice(["receipt", "receipt", "invoice", "cash"]),
                    "description": rng.choice(EXPENSES), "vat_date": _day(day),
                    "total_amount": {"value": f"{net + vat:.2f}", "currency": "EUR"},
                    "vat_amount": {"value": f"{vat:.2f}", "currency": "EUR"}, "vat_percentage": str(float(pct)),
                    "ledger_account_id": rng.choice(cost_ledgers), "created_at": created})
    return sorted(out, key=lambda e: (e["vat_date"], e["id"]))


def _jortt(rng: random.Random, vendor_cos: list[dict], own: dict, size: int) -> tuple[dict[str, list], dict]:
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
    ledgers = _ledger_accounts(rng)
    by_name = {a["name"]: a["ledger_account_id"] for a in ledgers["ledger_accounts_income"]}
    costs = [a["ledger_account_id"] for a in ledgers["ledger_accounts_cost"] if a["selectable"]]
    return {"customers": customers, "invoices": _jortt_invoices(rng, customers, by_name, 2 * size),
            "expenses": _expenses(rng, costs, 2 * size), **ledgers}, org


# ---------------------------------------------------------------- B2Brouter

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


def _b2b(rng: random.Random, creds: credentials.TenantCredentials, vendor_cos: list[dict], own: dict, size: int,
         jortt: dict[str, list], base: int) -> tuple[dict, dict[str, list]]:
    """One account's contacts and invoices; ids start at `base` so that they are unique across accounts."""
    account = {**_b2b_party(own, int(creds.b2brouter_account_id)),
               "identifier": _slug(own["name"]), "email": own["email"], "address": own["street"],
               "city": own["city"], "postalcode": own["postal_code"], "currency": "EUR",
               "created_at": iso_ms(0), "updated_at": iso_ms(DAY_MS)}
    n = max(3, size // 4)
    cos = rng.sample(vendor_cos, min(len(vendor_cos), n * 7 // 10))
    cos += [_company(rng) for _ in range(n - len(cos))]
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


# ---------------------------------------------------------------- the dataset

ID_KEYS = ("id", "ledger_account_id")  # the key a record is addressed by (ledger accounts have no `id`)


def record_id(record: dict) -> str | None:
    key = next((k for k in ID_KEYS if k in record), None)
    return None if key is None or record[key] is None else str(record[key])


@dataclass
class Tenant:
    """One company: its books in Rutter, its sales in Jortt, its account in B2Brouter."""

    name: str
    creds: credentials.TenantCredentials
    rutter: RutterConnection
    jortt: dict[str, list[dict]]  # customers, invoices, expenses, ledger_accounts_{cost,income,balance}
    jortt_organization: dict
    b2b_account: dict
    b2b: dict[str, list[dict]]  # contacts, received_invoices, issued_invoices

    def collection(self, system: str, stream: str) -> list[dict]:
        """The stored records of a stream; KeyError for an unknown system or stream."""
        return {"rutter": self.rutter.collections, "jortt": self.jortt, "b2brouter": self.b2b}[system][stream]


@dataclass
class Dataset:
    size: int
    seed: int
    tenants: dict[str, Tenant]
    # B2Brouter mark_as log by tenant name (sandbox/b2brouter.py): a reset (a new dataset) empties it.
    b2brouter_state_changes: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def connections(self) -> dict[str, RutterConnection]:  # by access token
        return {t.rutter.access_token: t.rutter for t in self.tenants.values()}

    def tenant_where(self, credential: str, value) -> Tenant | None:
        """The tenant whose credential (a TenantCredentials field) equals value."""
        return next((t for t in self.tenants.values() if getattr(t.creds, credential) == value), None)

    def vendors(self, access_token: str = credentials.RUTTER_ACCESS_TOKEN) -> list[dict]:
        return self.connections[access_token].collections["vendors"]

    def find(self, tenant: str, system: str, stream: str, rid: str) -> dict:
        for record in self.tenants[tenant].collection(system, stream):
            if record_id(record) == rid:
                return record
        raise KeyError(rid)

    def delete(self, tenant: str, system: str, stream: str, rid: str) -> None:
        self.tenants[tenant].collection(system, stream).remove(self.find(tenant, system, stream, rid))

    def touch(self, tenant: str, system: str, stream: str, rid: str, changes: dict) -> dict:
        """Change a record as the books would. Where it has an updated_at (Rutter, B2Brouter), that moves
        past every existing one of the system, so an incremental read sees exactly this change."""
        record = self.find(tenant, system, stream, rid)
        record.update(copy.deepcopy({k: v for k, v in changes.items() if k not in ID_KEYS}))
        if "updated_at" in record:
            stamp = iso_ms(self._latest(system) - EPOCH_MS + 1000)
            record["updated_at"] = stamp
            if "last_synced_at" in record:
                record["last_synced_at"] = stamp
            if system == "rutter":  # the change reached Rutter with a sync
                conn = self.tenants[tenant].rutter
                conn.last_sync_completed_at = max(conn.last_sync_completed_at, stamp)
        return record

    def _latest(self, system: str) -> int:
        stores = [t.rutter.collections if system == "rutter" else t.b2b for t in self.tenants.values()]
        return max((unix_ms(r["updated_at"]) for store in stores for records in store.values()
                    for r in records if r.get("updated_at")), default=EPOCH_MS)

    def touch_vendor(self, vendor_id: str, **changes) -> dict:
        """touch() of a vendor found by id alone, whichever connection holds it."""
        for name, tenant in self.tenants.items():
            if any(v.get("id") == vendor_id for v in tenant.rutter.collections["vendors"]):
                return self.touch(name, "rutter", "vendors", vendor_id, changes)
        raise KeyError(vendor_id)


def build_dataset(size: int = 200, seed: int = 42) -> Dataset:
    """acme (the first Rutter connection) at full size, globex at a quarter, from one seed."""
    rng = random.Random(seed)
    org_id = _uuid(rng)
    rngs = {"acme": rng, "globex": random.Random(seed + 1)}  # as the vendors were always drawn
    sizes = {"acme": size, "globex": max(8, size // 4)}
    tenants = {}
    for k, (name, creds) in enumerate(credentials.TENANTS.items()):
        conn, own, vendor_cos = _connection(rngs[name], creds.rutter_access_token, org_id, sizes[name])
        conn.collections.update(_rutter_books(random.Random(f"rutter:{name}:{seed}"), conn.collections["vendors"]))
        jortt, org = _jortt(random.Random(f"jortt:{name}:{seed}"), vendor_cos, own, sizes[name])
        account, b2b = _b2b(random.Random(f"b2brouter:{name}:{seed}"), creds, vendor_cos, own, sizes[name], jortt,
                            base=k * 100_000)
        tenants[name] = Tenant(name, creds, conn, jortt, org, account, b2b)
    return Dataset(size, seed, tenants)
