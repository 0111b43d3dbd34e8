"""Companies as each country writes them: names, addresses, IBANs, VAT and registration numbers."""

from __future__ import annotations

import random
import string
import unicodedata

from sandbox.data.common import rand_digits, rand_letters


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


def _be_enterprise(rng):  # 0 + 7 digits + mod-97 check, as on the Belgian KBO
    base = "0" + rand_digits(rng, 7)
    return base + f"{97 - int(base) % 97:02d}"


def _fr_rib(rng):  # bank 5 + branch 5 + account 11 + RIB key
    b, g, a = rand_digits(rng, 5), rand_digits(rng, 5), rand_digits(rng, 11)
    return f"{b}{g}{a}{97 - (89 * int(b) + 15 * int(g) + 3 * int(a)) % 97:02d}"


def _fr_vat(siren: str) -> str:
    return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"


def _national(rng: random.Random, c: str) -> tuple[str | None, str | None, str | None]:
    """(bban, vat, registration number) in the country's own shape."""
    if c == "NL":
        return rng.choice(["ABNA", "INGB", "RABO", "TRIO", "BUNQ", "KNAB"]) + rand_digits(rng, 10), \
            f"NL{rand_digits(rng, 9)}B{rng.choice(['01', '01', '01', '02'])}", rand_digits(rng, 8)
    if c == "BE":
        acct = rand_digits(rng, 10)
        kbo = _be_enterprise(rng)
        return acct + f"{int(acct) % 97 or 97:02d}", f"BE{kbo}", f"{kbo[:4]}.{kbo[4:7]}.{kbo[7:]}"
    if c == "DE":
        return rand_digits(rng, 18), f"DE{rand_digits(rng, 9)}", f"HRB {rand_digits(rng, rng.choice([5, 6]))}"
    if c == "FR":
        siren = rand_digits(rng, 9)
        return _fr_rib(rng), _fr_vat(siren), siren
    if c == "ES":
        cif = rng.choice("ABB") + rand_digits(rng, 8)
        return rand_digits(rng, 20), f"ES{cif}", cif
    if c == "IT":
        return rand_letters(rng, 1) + rand_digits(rng, 22), f"IT{rand_digits(rng, 11)}", f"MI-{rand_digits(rng, 7)}"
    if c == "PL":
        return rand_digits(rng, 24), f"PL{rand_digits(rng, 10)}", "0000" + rand_digits(rng, 6)
    if c == "DK":
        cvr = rand_digits(rng, 8)
        return rand_digits(rng, 14), f"DK{cvr}", cvr
    if c == "IE":
        vat = f"IE{rand_digits(rng, 7)}{rand_letters(rng, 1)}{rng.choice(['', '', 'H', 'W'])}"
        return rng.choice(["AIBK", "BOFI"]) + rand_digits(rng, 14), vat, rand_digits(rng, 6)
    if c == "GB":
        return rng.choice(["BARC", "HBUK", "LOYD", "NWBK"]) + rand_digits(rng, 14), f"GB{rand_digits(rng, 9)}", \
            rand_digits(rng, 8)
    if c == "GR":  # Greek VAT numbers carry the prefix EL, not GR
        return rand_digits(rng, 23), f"EL{rand_digits(rng, 9)}", rand_digits(rng, 12)
    if c == "BG":
        eik = rand_digits(rng, 9)
        return rng.choice(["BNBG", "UNCR", "STSA"]) + rand_digits(rng, 14), f"BG{eik}", eik
    if c == "AE":
        return rand_digits(rng, 19), "100" + rand_digits(rng, 12), f"CN-{rand_digits(rng, 7)}"
    uscc = "91310000" + "".join(rng.choice(string.digits + "ABCDEFGHJKLMNPQRTUWXY") for _ in range(10))
    return None, uscc, uscc  # CN: no IBAN


def _postal(rng: random.Random, c: str) -> str | None:
    if c == "NL":  # both spellings occur in real books
        letters = "".join(rng.choice("ABCDEGHJKLMNPRTVWXZ") for _ in range(2))  # letters Dutch codes use
        return f"{rand_digits(rng, 4)}{rng.choice(['', ' '])}{letters}"
    if c == "PL":
        return f"{rand_digits(rng, 2)}-{rng.randint(0, 999):03d}"
    if c == "IE":
        return f"D{rng.randint(1, 24):02d} {rand_letters(rng, 1)}{rand_digits(rng, 3)}"
    if c == "GB":
        return f"{rng.choice(['EC1A', 'SW1A', 'M1', 'EH1', 'BS1'])} {rng.randint(1, 9)}{rand_letters(rng, 2)}"
    if c == "GR":
        return f"{rand_digits(rng, 3)} {rng.randint(0, 99):02d}"
    if c == "AE":
        return None  # the Emirates use no postal codes
    return rand_digits(rng, {"BE": 4, "DK": 4, "BG": 4, "CN": 6}.get(c, 5))


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
EU = {"NL", "BE", "DE", "FR", "ES", "IT", "PL", "DK", "IE", "GR", "BG"}


def slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return "".join(ch for ch in ascii_name if ch.isalnum())[:20]


def make_company(rng: random.Random, name: str | None = None, country: str | None = None) -> dict:
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
    slug = slugify(" ".join(name.split()[:2])) or f"co{rng.randint(100, 999)}"  # non-Latin: no slug
    tld = {"GB": "co.uk", "GR": "gr", "AE": "ae", "CN": "cn"}.get(country, country.lower())
    return {
        "name": name, "country": country, "city": city, "region": region,
        "street": rng.choice(streets).format(n=rng.randint(1, 250)), "postal_code": _postal(rng, country),
        "vat": vat, "registration": reg, "iban": make_iban(country, bban) if bban else None,
        "phone": f"{dial} {rand_digits(rng, 2)} {rand_digits(rng, 3)} {rand_digits(rng, 4)}",
        "email": f"{rng.choice(['info', 'finance', 'ap', 'Administratie', 'INFO'])}@{slug}.{tld}",
        "website": f"{rng.choice(['https://www.', 'http://', 'www.'])}{slug}.{tld}",
        "currencies": currencies,
    }


def make_companies(rng: random.Random, n: int) -> list[dict]:
    specials = SPECIAL_NAMES[: max(0, n // 3)]
    out = [make_company(rng, name, country) for name, country in specials]
    out += [make_company(rng) for _ in range(n - len(out))]
    rng.shuffle(out)
    return out
