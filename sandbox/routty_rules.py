"""Field-rule tables of the Routty masterdata lists, as the simulated Routty checks them.

Written from the field tables of the XML formats seed and independent of the project's XSDs: the
simulator plays Routty, so it must not share the writer's mistakes. Each list has a table of its
record (max length, required, type, repetition), the record's key, and the list-wide rules
(uniqueness, one registration per scheme, line ids). Like the real service it accepts the spellings
of the seed's own examples (PoBox, LineId, GlAccount, the PO header's OrderReference and
DocumentRawId) besides the tables' ones; element order is not checked.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

from lxml import etree

MAX_ERRORS = 100


class Field(NamedTuple):
    max_len: int | None = None
    required: bool = False
    children: dict | None = None  # set for a group element
    repeated: bool = False
    kind: str = "text"  # text | decimal | date | integer | boolean | iban | bic | currency | accounting-type
    digits: tuple[int, int] | None = None  # (precision, scale) of a decimal


def S(n: int | None, required: bool = False) -> Field:
    return Field(n, required)


def Dec(p: int, s: int, required: bool = False) -> Field:
    return Field(None, required, kind="decimal", digits=(p, s))


DATE, INT, BOOL = Field(kind="date"), Field(kind="integer"), Field(kind="boolean")
REQUIRED_DATE = Field(required=True, kind="date")
# The examples' spellings, accepted as the tables' names.
ALIASES = {"PoBox": "POBox", "LineId": "LineID", "GlAccount": "GLAccount"}


def _dims(n: int, size: int) -> dict:
    return {f"Dimension{i}": S(size) for i in range(1, n + 1)}


def _group(children: dict, required: bool = False) -> Field:
    return Field(required=required, children=children)


def _many(children: dict, required: bool = False) -> Field:
    return Field(required=required, children=children, repeated=True)


# ---------------------------------------------------------------- the tables

REGISTRATION = {"Number": S(100, True), "Scheme": S(50, True)}
BANK_ACCOUNT = {"BankNumber": S(50), "AccountNumber": S(50, True), "IBAN": Field(34, True, kind="iban"),
                "BIC": Field(11, kind="bic"), "Currency": Field(3, kind="currency"), **_dims(4, 400)}


def _metadata(bank_accounts_required: bool) -> dict:
    return {
        "Number": S(100, True), "SiteCode": S(100), "CorporateGroupID": S(100),
        "Name1": S(400, True), "Name2": S(400), "Address1": S(400), "Address2": S(400), "POBox": S(50),
        "PostalCode": S(12), "City": S(100), "State": S(100), "Location": S(100), "CountryCode": S(3),
        "Telephone": S(31), "EmailAddress": S(100), "PaymentTerms": S(100), "PaymentMethod": S(100),
        **_dims(8, 400),
        "PartyRegistrationNumbers": _group({"PartyRegistrationNumber": _many(REGISTRATION)}),
        "PartyBankAccounts": _group({"PartyBankAccount": _many(BANK_ACCOUNT, bank_accounts_required)},
                                    bank_accounts_required),
    }


def _party(bank_accounts_required: bool) -> dict:
    return {"Metadata": _group(_metadata(bank_accounts_required), True),
            "Type": _group({"Name": S(None, True)}, True), "Active": BOOL}


PARTY = _party(False)
# "The PartyBankAccounts use the same format ... Only the bank accounts are updated": a record without
# a bank account updates nothing, so here they are required.
PARTY_BANK_ACCOUNTS = _party(True)

_PARTIES = {"SupplierNumber": S(50, True), "SupplierName": S(255), "SupplierRegistrationNumber": S(50),
            "SupplierIban": S(50), "SupplierSiteCode": S(50), "BuyerNumber": S(50, True), "BuyerName": S(255),
            "BuyerSiteCode": S(50), "HeaderText1": S(255), "HeaderText2": S(255)}
_LINE_ITEM = {"ArticleNumberBuyer": S(128), "ArticleNumberSupplier": S(128), "ArticleDescription": S(512),
              "StandardArticleNumber": S(128), "Quantity": Dec(18, 6), "UnitCode": S(64),
              "GrossUnitPrice": Dec(18, 6), "Price": Dec(18, 6), "DiscountAmount": Dec(18, 6),
              "DiscountRate": Dec(6, 4), "LineAmount": Dec(18, 6), "Status": S(64),
              "InvoicedAmount": Dec(18, 6), "InvoicedQuantity": Dec(18, 6), "MatchType": INT, "MatchQuantity": INT}

PO_HEADER = {"DocumentReference": S(50, True), "ExtraReference": S(50), "DocumentDate": REQUIRED_DATE,
             "DocumentType": S(64, True), "DocumentSubType": S(64), "Currency": S(64),
             "TotalNetAmount": Dec(18, 2, True), "TotalVatAmount": Dec(18, 2, True),
             "TotalGrossAmount": Dec(18, 2, True), "TotalDiscountAmount": Dec(18, 2, True), **_PARTIES,
             "StartDate": DATE, "EndDate": DATE, "DocumentStatus": S(64), "RequesterId": S(255),
             "OrderReference": S(128), "DocumentRawId": INT}  # the last two: only in the seed's example
PO_LINE = {"LineID": S(64, True), "ExtraReference": S(128, True), **_LINE_ITEM, "GLAccount": S(50),
           "CostCenter": S(50), "VatCode": S(50), **_dims(8, 255), "StartDate": DATE, "EndDate": DATE}
PURCHASE_ORDER = {"PurchaseOrderHeader": _group(PO_HEADER, True),
                  "PurchaseOrderLines": _group({"PurchaseOrderLine": _many(PO_LINE)})}

GR_HEADER = {"DocumentReference": S(50, True), "ExtraReference": S(50), "DocumentDate": REQUIRED_DATE,
             "DocumentType": S(64), "DocumentSubType": S(64), "Currency": S(64), "OrderReference": S(128),
             **_PARTIES, "DocumentStatus": S(64)}
GR_LINE = {"LineID": S(64, True), "OrderReference": S(50), "OrderLineId": S(64), "ExtraReference": S(128),
           **_LINE_ITEM, "AcceptedAmount": Dec(18, 6), "AcceptedQuantity": Dec(18, 6)}
GOODS_RECEIPT = {"GoodsReceiptHeader": _group(GR_HEADER, True),
                 "GoodsReceiptLines": _group({"GoodsReceiptLine": _many(GR_LINE)})}

ACCOUNTING = {"Value": S(50), "Description": S(255), "CorporateGroupID": S(100),
              **{f"Field{i}": S(50) for i in range(1, 11)}}
# The tenant's coding setup: the `type` names it knows, matched case-insensitively (api-contracts §4).
ACCOUNTING_TYPES = frozenset(name.lower() for name in (
    "GlAccount", "CostCenter", "VatCode", *(f"Dimension{i}" for i in range(1, 9)), "Currency", "PaymentTerms",
    "Country", "CommodityCode", "Requester", "Queue", "MatchingExceptionType", "WdWorkflow"))
ACCOUNTING_ATTRIBUTES = {"type": Field(required=True, kind="accounting-type")}

ARTICLE = {"CorporateGroupID": S(100), "Number": S(32, True), "Description": S(255), "Type": S(255),
           "GTIN": S(14), "UnitOfMeasurement": S(50), "UnitPrice": Dec(18, 4)}


# ---------------------------------------------------------------- reading records

def canonical(tag) -> str:
    return ALIASES.get(tag, tag) if isinstance(tag, str) else tag


def child(el, *names: str):
    """The first element at the path of canonical names, or None."""
    for name in names:
        el = next((c for c in el.iterchildren(etree.Element) if canonical(c.tag) == name), None)
        if el is None:
            return None
    return el


def text(el, *names: str) -> str:
    found = child(el, *names)
    return (found.text or "").strip() if found is not None else ""


def as_dict(el, spec: dict) -> dict:
    """The record as field -> text; groups nest, repeated elements become lists; attributes included."""
    out: dict = dict(el.attrib)
    for c in el.iterchildren(etree.Element):
        name = canonical(c.tag)
        rule = spec.get(name)
        value = as_dict(c, rule.children) if rule is not None and rule.children is not None else (c.text or "")
        if rule is not None and rule.repeated:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return out


# ---------------------------------------------------------------- checking records

def error(el, code: str, message: str) -> dict:
    return {"line": el.sourceline if el is not None else None, "code": code, "message": message}


_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INTEGER = re.compile(r"[+-]?\d+")
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_BIC = re.compile(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?")
_CURRENCY = re.compile(r"[A-Z]{3}")


def iban_checksum_ok(iban: str) -> bool:
    """ISO 13616 mod-97: the first four characters moved to the end, letters as 10..35, remainder 1."""
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _typed_problem(value: str, rule: Field) -> tuple[str, str] | None:
    """(code, reason) when a value breaks its type (an empty typed value does: omit it instead), else None."""
    v = value.strip()
    if rule.kind == "decimal":
        if not _DECIMAL.fullmatch(v):
            return "InvalidDecimal", f"is not a decimal number with '.' as separator: {value!r}"
        p, s = rule.digits
        whole, _, fraction = v.lstrip("+-").partition(".")
        if len(fraction.rstrip("0")) > s:
            return "DecimalScaleExceeded", f"has more than {s} decimals: {value!r}"
        if len(whole.lstrip("0")) > p - s:
            return "DecimalPrecisionExceeded", f"has more than {p - s} digits before the point: {value!r}"
    elif rule.kind == "date":
        try:
            assert _DATE.fullmatch(v)
            date.fromisoformat(v)
        except (AssertionError, ValueError):
            return "InvalidDate", f"is not a date YYYY-MM-DD: {value!r}"
    elif rule.kind == "integer" and not _INTEGER.fullmatch(v):
        return "InvalidInteger", f"is not an integer: {value!r}"
    elif rule.kind == "boolean" and v not in ("true", "false"):
        return "InvalidBoolean", f"must be true or false, got {value!r}"
    elif rule.kind == "iban":
        if not _IBAN.fullmatch(v):
            return "InvalidIban", (f"is not an IBAN (two letters, two check digits, 11-30 letters or digits, "
                                   f"no spaces): {value!r}")
        if not iban_checksum_ok(v):
            return "InvalidIban", f"fails the IBAN mod-97 checksum: {value!r}"
    elif rule.kind == "bic" and not _BIC.fullmatch(v):
        return "InvalidBic", f"is not a BIC of 8 or 11 characters: {value!r}"
    elif rule.kind == "currency" and not _CURRENCY.fullmatch(v):
        return "InvalidCurrency", f"is not an ISO 4217 currency code: {value!r}"
    elif rule.kind == "accounting-type" and v.lower() not in ACCOUNTING_TYPES:
        return "UnknownAccountingType", f"is not a coding field of this tenant: {value!r}"
    return None


def check_value(el, value: str, rule: Field, where: str, who: str, errors: list[dict]) -> None:
    if rule.required and not value.strip():
        errors.append(error(el, "RequiredFieldMissing", f"{who}: {where} is required but empty"))
    elif rule.max_len is not None and len(value) > rule.max_len:
        errors.append(error(el, "MaxLengthExceeded",
                            f"{who}: {where} is {len(value)} characters long, the maximum is {rule.max_len}"))
    elif rule.kind != "text" and (problem := _typed_problem(value, rule)):
        errors.append(error(el, problem[0], f"{who}: {where} {problem[1]}"))


def walk(el, spec: dict, path: str, who: str, errors: list[dict]) -> None:
    seen: Counter[str] = Counter()
    for c in el.iterchildren(etree.Element):  # skips comments and processing instructions
        name = canonical(c.tag)  # a namespaced tag ("{ns}Party") is deliberately unknown: the seed uses none
        rule = spec.get(name)
        seen[name] += 1
        where = f"{path}/{c.tag}" if path else str(c.tag)
        if rule is not None and rule.repeated:
            where += f"[{seen[name]}]"
        if rule is None:
            errors.append(error(c, "UnknownElement", f"{who}: unknown element {where}"))
        elif seen[name] > 1 and not rule.repeated:
            errors.append(error(c, "DuplicateElement", f"{who}: {where} appears more than once"))
        elif rule.children is not None:
            walk(c, rule.children, where, who, errors)
        elif len(c):
            errors.append(error(c, "UnexpectedChildElement", f"{who}: {where} must hold text, not elements"))
        else:
            check_value(c, c.text or "", rule, where, who, errors)
    for name, rule in spec.items():
        if rule.required and not seen[name]:
            where = f"{path}/{name}" if path else name
            errors.append(error(el, "RequiredFieldMissing", f"{who}: {where} is required"))


# ---------------------------------------------------------------- the lists

@dataclass(frozen=True)
class ListSpec:
    root: str
    record: str
    fields: dict
    key_name: str  # what the key is called in messages
    key: Callable  # record -> store key ("" when the record has none)
    identity: Callable | None  # record -> the tuple that must be unique in the list
    duplicate_code: str
    attributes: dict = field(default_factory=dict)
    lines: tuple[str, ...] = ()  # path of the line elements whose LineID is unique in the record


def _party_identity(party) -> tuple:
    return tuple(text(party, "Metadata", f) for f in ("Number", "CorporateGroupID", "SiteCode"))


def _accounting_key(record) -> str:
    kind = (record.get("type") or "").strip()
    return f"{kind}:{text(record, 'Value')}" if kind else ""


LISTS = {spec.root: spec for spec in [
    ListSpec("PartyList", "Party", PARTY, "Number", lambda r: text(r, "Metadata", "Number"),
             _party_identity, "DuplicateParty"),
    # A party may come once per bank account here: the party fields only identify it; IBANs are the key.
    ListSpec("PartyBankAccountList", "Party", PARTY_BANK_ACCOUNTS, "Number",
             lambda r: text(r, "Metadata", "Number"), None, ""),
    ListSpec("PurchaseOrderMasterDataList", "PurchaseOrderMasterData", PURCHASE_ORDER, "DocumentReference",
             lambda r: text(r, "PurchaseOrderHeader", "DocumentReference"),
             lambda r: (text(r, "PurchaseOrderHeader", "DocumentReference"),), "DuplicateDocumentReference",
             lines=("PurchaseOrderLines", "PurchaseOrderLine")),
    ListSpec("GoodsReceiptMasterDataList", "GoodsReceiptMasterData", GOODS_RECEIPT, "DocumentReference",
             lambda r: text(r, "GoodsReceiptHeader", "DocumentReference"),
             lambda r: (text(r, "GoodsReceiptHeader", "DocumentReference"),), "DuplicateDocumentReference",
             lines=("GoodsReceiptLines", "GoodsReceiptLine")),
    ListSpec("AccountingMasterDataList", "AccountingMasterData", ACCOUNTING, "type:Value", _accounting_key,
             lambda r: ((r.get("type") or "").strip(), text(r, "Value"), text(r, "CorporateGroupID")),
             "DuplicateAccountingMasterData", attributes=ACCOUNTING_ATTRIBUTES),
    ListSpec("ArticleList", "Article", ARTICLE, "Number", lambda r: text(r, "Number"),
             lambda r: (text(r, "Number"),), "DuplicateArticle"),
]}


def _children(el, *path: str):
    """Every element at the path of canonical names (the last step may repeat)."""
    *parents, last = path
    parent = child(el, *parents) if parents else el
    return [] if parent is None else [c for c in parent.iterchildren(etree.Element) if canonical(c.tag) == last]


def validate_list(root) -> list[dict]:
    """Every rule break of a masterdata list (at most MAX_ERRORS); an empty list means valid."""
    spec = LISTS.get(root.tag) if isinstance(root.tag, str) else None
    if spec is None:
        return [error(root, "UnknownRootElement", f"Unknown masterdata list {root.tag!r}")]
    errors: list[dict] = []
    records = []
    for c in root.iterchildren(etree.Element):
        if c.tag == spec.record:
            records.append(c)
        else:
            errors.append(error(c, "UnknownElement", f"{spec.root}: unknown element {c.tag}"))
    if not records:
        errors.append(error(root, "EmptyList", f"{spec.root}: at least one {spec.record} is required"))
    first_seen: dict[tuple, int] = {}
    ibans: dict[str, str] = {}
    for i, record in enumerate(records, 1):
        key = spec.key(record)
        who = f"{spec.record} {key!r}" if key else f"{spec.record} #{i} (no {spec.key_name})"
        for name, rule in spec.attributes.items():
            if name in record.attrib:
                check_value(record, record.get(name), rule, f"attribute {name}", who, errors)
            elif rule.required:
                errors.append(error(record, "RequiredFieldMissing", f"{who}: attribute {name} is required"))
        walk(record, spec.fields, "", who, errors)
        if spec.record == "Party":
            _party_rules(record, who, ibans, errors)
        if spec.lines:
            line_ids = Counter(text(line, "LineID") for line in _children(record, *spec.lines))
            for line_id, count in line_ids.items():
                if line_id and count > 1:
                    errors.append(error(record, "DuplicateLineId",
                                        f"{who}: LineID {line_id!r} appears {count} times, it must be unique "
                                        f"within the {spec.record}"))
        if spec.identity is None:
            continue
        identity = spec.identity(record)
        if key and identity in first_seen:
            errors.append(error(record, spec.duplicate_code,
                                f"{who}: key {identity} repeats {spec.record} #{first_seen[identity]}"))
        first_seen.setdefault(identity, i)
    return errors[:MAX_ERRORS]


def _party_rules(party, who: str, ibans: dict[str, str], errors: list[dict]) -> None:
    """One registration number per Scheme; an IBAN once in the whole list."""
    schemes = Counter(text(r, "Scheme") for r in _children(party, "Metadata", "PartyRegistrationNumbers",
                                                          "PartyRegistrationNumber"))
    for scheme, count in schemes.items():
        if scheme and count > 1:
            errors.append(error(party, "DuplicateRegistrationScheme",
                                f"{who}: PartyRegistrationNumber with Scheme {scheme!r} appears {count} "
                                f"times, only one per Scheme is allowed"))
    for account in _children(party, "Metadata", "PartyBankAccounts", "PartyBankAccount"):
        iban = text(account, "IBAN")
        if iban and iban in ibans:
            errors.append(error(account, "DuplicateIban",
                                f"{who}: PartyBankAccount IBAN {iban!r} is also given for {ibans[iban]}"))
        elif iban:
            ibans[iban] = who
