"""Field rules shared by the masterdata builders, beyond what an XSD can say.

- Decimals are written with `.` at the scale the format documents (half-up), never in exponent form.
- Free text that is too long (names, addresses, descriptions) is truncated to the format's maximum
  and the truncation is noted (sync.rejects, stage `xml-truncated`; the record still goes out).
  Identifiers and codes (numbers, references, postal codes, e-mail, IBAN, ...) are never truncated:
  a value that is too long rejects the record (the XSD says so, naming the field).
- IBANs must pass the ISO 13616 mod-97 check and country codes must be ISO 3166-1 alpha-2.
"""

import functools
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal

from dataclasses import dataclass

from lxml import etree

# ISO 3166-1 alpha-2, as data (a list, not machinery; pycountry would bring 30 MB for this set).
COUNTRIES = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO
JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR
MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO
RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV
TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split())


@dataclass(frozen=True)
class Reject:
    """A record that does not go out, naming the field at fault and why (sync.rejects)."""

    record_key: str
    field: str
    reason: str


class RecordError(ValueError):
    """A record breaks a field rule: the builder turns it into a reject naming the field."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def record_builder(key: Callable[[dict], str]):
    """Turns a builder's RecordError into a Reject naming the record (by `key`) and the field."""

    def decorate(build: Callable[[dict], etree._Element]) -> Callable[[dict], etree._Element | Reject]:
        @functools.wraps(build)
        def safe(row: dict) -> etree._Element | Reject:
            try:
                return build(row)
            except RecordError as error:
                return Reject(str(key(row)), error.field, error.reason)

        return safe

    return decorate


def iban_is_valid(iban: str) -> bool:
    s = iban.replace(" ", "").upper()
    if not (15 <= len(s) <= 34 and s[:2].isalpha() and s[2:4].isdigit() and s.isalnum()):
        return False
    return int("".join(str(int(c, 36)) for c in s[4:] + s[:4])) % 97 == 1


def decimal_text(value, scale: int) -> str | None:
    if value is None:
        return None
    return format(Decimal(str(value)).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP), "f")


def add_text(parent: etree._Element, tag: str, value) -> None:
    """A child element with the value's text; absent values are omitted, never written empty."""
    if value is None or str(value) == "":
        return
    try:
        etree.SubElement(parent, tag).text = str(value)
    except ValueError as error:  # lxml refuses control characters that XML 1.0 cannot carry
        raise RecordError(tag, f"not valid in XML: {error}") from None


def free_text(row: Mapping, tag: str, value, limit: int) -> str | None:
    """The value cut to `limit` characters, the cut noted on the row for the rejects table."""
    if value is None or len(str(value)) <= limit:
        return value
    row.setdefault("_truncated", []).append((tag, f"truncated from {len(str(value))} to {limit} characters"))
    return str(value)[:limit]


def country(value) -> str | None:
    if value is not None and value not in COUNTRIES:
        raise RecordError("CountryCode", f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return value


def iban(value) -> str:
    if not value or not iban_is_valid(value):
        raise RecordError("IBAN", f"{value!r} fails the IBAN checksum (ISO 13616 mod 97)")
    return value
