"""Routty connector API, masterdata part (mounted at /routty).

Uploads are processed asynchronously like the real service: Pending for `processing_delay`
seconds, then validated once against the field tables of the XML formats seed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

from lxml import etree
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox import credentials

if TYPE_CHECKING:
    from sandbox.app import SandboxState

XML_TYPES = {"application/xml", "text/xml"}
# Other masterdata lists of the seed: accepted as they are until their structure is simulated.
OTHER_ROOTS = {"PartyBankAccountList", "PurchaseOrderMasterDataList", "GoodsReceiptMasterDataList",
               "ArticleList", "AccountingMasterDataList"}
MAX_ERRORS = 100


# ---------------------------------------------------------------- PartyList field table

class Field(NamedTuple):
    max_len: int | None = None
    required: bool = False
    children: dict | None = None  # set for a group element
    repeated: bool = False


def _dims(n: int) -> dict:
    return {f"Dimension{i}": Field(400) for i in range(1, n + 1)}


REGISTRATION = {"Number": Field(100, True), "Scheme": Field(50, True)}
BANK_ACCOUNT = {"BankNumber": Field(50), "AccountNumber": Field(50, True), "IBAN": Field(34, True),
                "BIC": Field(11), "Currency": Field(3), **_dims(4)}
METADATA = {
    "Number": Field(100, True), "SiteCode": Field(100), "CorporateGroupID": Field(100),
    "Name1": Field(400, True), "Name2": Field(400), "Address1": Field(400), "Address2": Field(400),
    "POBox": Field(50), "PoBox": Field(50),  # the table says POBox, the seed's own example PoBox
    "PostalCode": Field(12), "City": Field(100), "State": Field(100), "Location": Field(100),
    "CountryCode": Field(3), "Telephone": Field(31), "EmailAddress": Field(100),
    "PaymentTerms": Field(100), "PaymentMethod": Field(100), **_dims(8),
    "PartyRegistrationNumbers": Field(children={"PartyRegistrationNumber": Field(children=REGISTRATION,
                                                                                 repeated=True)}),
    "PartyBankAccounts": Field(children={"PartyBankAccount": Field(children=BANK_ACCOUNT, repeated=True)}),
}
PARTY = {"Metadata": Field(required=True, children=METADATA),
         "Type": Field(required=True, children={"Name": Field(None, True)}),
         "Active": Field()}


def _name(el) -> str:
    return el.tag  # a namespaced tag ("{ns}PartyList") is deliberately unknown: the seed uses none


def _error(el, code: str, message: str) -> dict:
    return {"line": el.sourceline if el is not None else None, "code": code, "message": message}


def _walk(el, spec: dict, path: str, who: str, errors: list[dict]) -> None:
    seen: Counter[str] = Counter()
    for child in el.iterchildren(etree.Element):  # skips comments and processing instructions
        name = _name(child)
        where = f"{path}/{name}" if path else name
        rule = spec.get(name)
        seen[name] += 1
        if rule is None:
            errors.append(_error(child, "UnknownElement", f"{who}: unknown element {where}"))
        elif seen[name] > 1 and not rule.repeated:
            errors.append(_error(child, "DuplicateElement", f"{who}: {where} appears more than once"))
        elif rule.children is not None:
            _walk(child, rule.children, where, who, errors)
        else:
            _check_leaf(child, rule, where, who, errors)
    for name, rule in spec.items():
        if rule.required and not seen[name]:
            where = f"{path}/{name}" if path else name
            errors.append(_error(el, "RequiredFieldMissing", f"{who}: {where} is required"))


def _check_leaf(el, rule: Field, where: str, who: str, errors: list[dict]) -> None:
    text = el.text or ""
    if len(el):
        errors.append(_error(el, "UnexpectedChildElement", f"{who}: {where} must hold text, not elements"))
    elif rule.required and not text.strip():
        errors.append(_error(el, "RequiredFieldMissing", f"{who}: {where} is required but empty"))
    elif rule.max_len is not None and len(text) > rule.max_len:
        errors.append(_error(el, "MaxLengthExceeded",
                             f"{who}: {where} is {len(text)} characters long, the maximum is {rule.max_len}"))


def _text(el, path: str) -> str | None:
    found = el.find(path)
    return found.text if found is not None else None


def _party_key(party) -> tuple:
    return tuple((_text(party, f"Metadata/{f}") or "").strip() for f in ("Number", "CorporateGroupID", "SiteCode"))


def validate_party_list(root) -> list[dict]:
    """The PartyList rules of the formats seed; an empty list means valid."""
    errors: list[dict] = []
    parties = []
    for child in root.iterchildren(etree.Element):
        if _name(child) == "Party":
            parties.append(child)
        else:
            errors.append(_error(child, "UnknownElement", f"PartyList: unknown element {_name(child)}"))
    if not parties:
        errors.append(_error(root, "EmptyList", "PartyList: at least one Party is required"))
    first_seen: dict[tuple, int] = {}
    for i, party in enumerate(parties, 1):
        number = (_text(party, "Metadata/Number") or "").strip()
        who = f"Party {number!r}" if number else f"Party #{i} (no Number)"
        _walk(party, PARTY, "", who, errors)
        active = party.find("Active")
        if active is not None and (active.text or "").strip() not in ("true", "false"):
            errors.append(_error(active, "InvalidBoolean", f"{who}: Active must be true or false, "
                                                           f"got {active.text!r}"))
        schemes = Counter((s.text or "").strip() for s in party.iterfind(
            "Metadata/PartyRegistrationNumbers/PartyRegistrationNumber/Scheme"))
        for scheme, count in schemes.items():
            if scheme and count > 1:
                errors.append(_error(party, "DuplicateRegistrationScheme",
                                     f"{who}: PartyRegistrationNumber with Scheme {scheme!r} appears {count} "
                                     f"times, only one per Scheme is allowed"))
        key = _party_key(party)
        if number and key in first_seen:
            errors.append(_error(party, "DuplicateParty",
                                 f"{who}: Number/CorporateGroupID/SiteCode {key} repeats Party #{first_seen[key]}"))
        first_seen.setdefault(key, i)
    return errors[:MAX_ERRORS]


# ---------------------------------------------------------------- the store

@dataclass
class Upload:
    status_id: str
    root: str
    body: bytes
    headers: dict
    correlation_id: str | None
    received_at: str
    ready_at: float  # monotonic time when processing ends
    simulated_failure: bool = False
    status: str = "Pending"
    errors: list[dict] = field(default_factory=list)
    party_count: int = 0

    def public(self) -> dict:
        return {"statusId": self.status_id, "status": self.status, "errors": self.errors}

    def admin(self) -> dict:
        return {"statusId": self.status_id, "root": self.root, "correlation_id": self.correlation_id,
                "received_at": self.received_at, "status": self.status, "errors": self.errors,
                "party_count": self.party_count, "headers": self.headers,
                "body": self.body.decode("utf-8", "replace")}


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RouttyStore:
    def __init__(self, processing_delay: float) -> None:
        self.processing_delay = processing_delay
        self.fail_next = 0
        self.uploads: dict[str, Upload] = {}
        self.partners: dict[str, dict] = {}  # business partners by party Number
        self.deletions: dict[str, dict] = {}  # by statusId

    def add(self, root, body: bytes, headers: dict) -> Upload:
        upload = Upload(str(uuid.uuid4()), _name(root), body, headers, headers.get("x-correlation-id"),
                        _now_iso(), time.monotonic() + self.processing_delay,
                        party_count=sum(1 for c in root.iterchildren(etree.Element)))
        if self.fail_next > 0:  # decided at receipt, so the order of uploads decides which fail
            self.fail_next -= 1
            upload.simulated_failure = True
        self.uploads[upload.status_id] = upload
        return upload

    def settle(self) -> None:
        """Finish the processing of every upload whose delay has passed, exactly once each."""
        now = time.monotonic()
        for upload in self.uploads.values():
            if upload.status == "Pending" and now >= upload.ready_at:
                self._process(upload)

    def _process(self, upload: Upload) -> None:
        root = etree.fromstring(upload.body, _parser())
        if upload.simulated_failure:
            upload.errors = [_error(None, "SimulatedFailure", "Failed on request of the sandbox (fail_next)")]
        elif upload.root == "PartyList":
            upload.errors = validate_party_list(root)
        elif upload.root not in OTHER_ROOTS:
            upload.errors = [_error(root, "UnknownRootElement", f"Unknown masterdata list {upload.root!r}")]
        upload.status = "Failed" if upload.errors else "Success"
        if upload.status == "Success" and upload.root == "PartyList":
            for party in root.iterchildren("Party"):
                self._upsert(party, upload)

    def _upsert(self, party, upload: Upload) -> None:
        number = _text(party, "Metadata/Number").strip()
        self.partners[number] = {
            "number": number, "name": _text(party, "Metadata/Name1"), "type": _text(party, "Type/Name"),
            "active": (_text(party, "Active") or "true").strip() == "true",
            "corporateGroupId": _text(party, "Metadata/CorporateGroupID"),
            "siteCode": _text(party, "Metadata/SiteCode"), "countryCode": _text(party, "Metadata/CountryCode"),
            "registrationNumbers": [{"number": _text(r, "Number"), "scheme": _text(r, "Scheme")} for r in
                                    party.iterfind("Metadata/PartyRegistrationNumbers/PartyRegistrationNumber")],
            "ibans": [_text(b, "IBAN") for b in party.iterfind("Metadata/PartyBankAccounts/PartyBankAccount")],
            "statusId": upload.status_id, "updatedAt": _now_iso(),
        }


def _parser() -> etree.XMLParser:
    # No entity expansion and no network: the body comes from outside.
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


# ---------------------------------------------------------------- endpoints

def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"title": title, "status": status, "detail": detail}, status_code=status)


def _authorized(request: Request) -> bool:
    return credentials.scheme_value(request.headers.get("authorization"), "ApiKey") == credentials.ROUTTY_API_KEY


def _guarded(handler):
    async def endpoint(request: Request) -> JSONResponse:
        if not _authorized(request):
            return _problem(401, "Unauthorized", "Missing or invalid API key: send 'Authorization: ApiKey <key>'.")
        return await handler(request)
    return endpoint


def routes(state: SandboxState) -> list[Route]:
    async def upload(request: Request) -> JSONResponse:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in XML_TYPES:
            return _problem(415, "Unsupported Media Type", "The sandbox accepts masterdata as XML "
                                                           "(application/xml or text/xml).")
        body = await request.body()
        try:
            root = etree.fromstring(body, _parser())
        except etree.XMLSyntaxError as e:
            line = e.lineno if e.lineno else None
            return JSONResponse({"errors": [{"line": line, "code": "MalformedXml", "message": e.msg}]}, 400)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        return JSONResponse({"statusId": state.routty.add(root, body, headers).status_id})

    async def status(request: Request) -> JSONResponse:
        state.routty.settle()
        status_id = request.path_params["status_id"]
        found = state.routty.uploads.get(status_id)
        if found is not None:
            return JSONResponse(found.public())
        if status_id in state.routty.deletions:
            return JSONResponse({"statusId": status_id, "status": "Success", "errors": []})
        return _problem(404, "Not Found", f"No masterdata upload with statusId {status_id}.")

    async def list_masterdata(request: Request) -> JSONResponse:
        state.routty.settle()
        try:
            page = int(request.query_params.get("pageNumber", "1"))
            size = int(request.query_params.get("pageSize", "50"))
            assert page >= 1 and 1 <= size <= 500
        except (ValueError, AssertionError):
            return _problem(400, "Bad Request", "pageNumber must be >= 1 and pageSize between 1 and 500.")
        items = [{k: p[k] for k in ("number", "name", "type", "active")}
                 for _, p in sorted(state.routty.partners.items())]
        return JSONResponse({"items": items[(page - 1) * size: page * size], "pageNumber": page,
                             "pageSize": size, "totalCount": len(items)})

    async def delete(request: Request) -> JSONResponse:
        try:
            data = json.loads(await request.body())
            kind, numbers = data["type"], data["numbers"]
            assert isinstance(kind, str) and isinstance(numbers, list) and all(isinstance(n, str) for n in numbers)
        except (ValueError, KeyError, TypeError, AssertionError):
            return JSONResponse({"errors": [{"line": None, "code": "InvalidRequest",
                                             "message": 'Expected JSON {"type": "Party", "numbers": ["..."]}'}]}, 400)
        state.routty.settle()
        partners = state.routty.partners if kind == "Party" else {}
        deleted = [n for n in numbers if partners.pop(n, None) is not None]
        status_id = str(uuid.uuid4())
        state.routty.deletions[status_id] = {
            "statusId": status_id, "type": kind, "numbers": numbers, "deleted": deleted,
            "notFound": [n for n in numbers if n not in deleted],
            "correlation_id": request.headers.get("x-correlation-id"), "received_at": _now_iso()}
        return JSONResponse({"statusId": status_id, "deleted": deleted,
                             "notFound": state.routty.deletions[status_id]["notFound"]})

    async def not_found(request: Request) -> JSONResponse:
        return _problem(404, "Not Found", f"Unknown endpoint: {request.method} {request.url.path}")

    return [
        Route("/connector-api/masterdata", _guarded(upload), methods=["POST"]),
        Route("/connector-api/masterdata", _guarded(list_masterdata), methods=["GET"]),
        Route("/connector-api/masterdata/delete", _guarded(delete), methods=["POST"]),
        Route("/connector-api/masterdata/status/{status_id}", _guarded(status), methods=["GET"]),
        Route("/{path:path}", _guarded(not_found), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
