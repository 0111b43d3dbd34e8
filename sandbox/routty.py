"""Routty connector API, masterdata part (mounted at /routty).

Uploads are processed asynchronously like the real service: Pending for `processing_delay`
seconds, then validated once against the field tables of the XML formats seed (sandbox/routty_rules.py,
every list type of the seed). What succeeds lands in a store per list type; deletes remove from it.
Routty keeps its tenants apart: every upload, deletion and record belongs to the Routty tenant of the
key that sent it (credentials.ROUTTY_KEYS), and only that tenant's keys see it.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lxml import etree
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from resources.contracts import routty as contract
from sandbox import credentials
from sandbox import routty_rules as rules
from sandbox.routty_rules import error as _error
from sandbox.routty_rules import text as _text

if TYPE_CHECKING:
    from sandbox.app import SandboxState

XML_TYPES = {"application/xml", "text/xml"}
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # default of the max_upload_bytes setting
# What /masterdata/delete takes as "type"; the numbers are the store keys (a PartyBankAccount is
# "<partyNumber>:<IBAN>", an AccountingMasterData "<type>:<Value>").
DELETE_TYPES = ("Party", "PartyBankAccount", "PurchaseOrder", "GoodsReceipt", "AccountingMasterData", "Article")


def _name(el) -> str:
    return el.tag  # a namespaced tag ("{ns}PartyList") is deliberately unknown: the seed uses none


# ---------------------------------------------------------------- the store

@dataclass
class Upload:
    status_id: str
    key: credentials.RouttyKey  # the key it came under: its tenant
    root: str
    body: bytes
    headers: dict
    correlation_id: str | None
    received_at: str
    ready_at: float  # monotonic time when processing ends
    simulated_failure: bool = False
    status: str = "Pending"
    errors: list[dict] = field(default_factory=list)
    party_count: int = 0  # records in the list, whatever their kind

    def public(self) -> dict:
        return {"statusId": self.status_id, "status": self.status, "errors": self.errors}

    def admin(self) -> dict:
        return {"statusId": self.status_id, **key_admin(self.key), "root": self.root,
                "correlation_id": self.correlation_id,
                "received_at": self.received_at, "status": self.status, "errors": self.errors,
                "party_count": self.party_count, "headers": self.headers,
                "body": self.body.decode("utf-8", "replace")}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def key_admin(key: credentials.RouttyKey) -> dict:
    """Which tenant and which key (by its env name, never its value) something came under."""
    return {"routty_tenant": key.tenant, "key_name": key.name}


class Masterdata:
    """One Routty tenant's masterdata: per list type the records of its uploads that succeeded."""

    def __init__(self) -> None:
        self.partners: dict[str, dict] = {}  # business partners by party Number (the summary GET lists)
        self.parties: dict[str, dict] = {}  # the PartyList records by party Number
        self.bank_accounts: dict[str, dict[str, dict]] = {}  # party Number -> IBAN -> bank account
        self.purchase_orders: dict[str, dict] = {}  # by DocumentReference
        self.goods_receipts: dict[str, dict] = {}  # by DocumentReference
        self.accounting: dict[str, dict] = {}  # by "<type>:<Value>"
        self.articles: dict[str, dict] = {}  # by Number
        self.deletions: dict[str, dict] = {}  # by statusId

    def by_root(self) -> dict[str, dict]:
        return {"PurchaseOrderMasterDataList": self.purchase_orders, "GoodsReceiptMasterDataList": self.goods_receipts,
                "AccountingMasterDataList": self.accounting, "ArticleList": self.articles}

    def snapshot(self) -> dict:
        return {"parties": self.parties, "bank_accounts": self.bank_accounts,
                "purchase_orders": self.purchase_orders, "goods_receipts": self.goods_receipts,
                "accounting": self.accounting, "articles": self.articles}

    def unknown_parties(self, root) -> list[dict]:
        """"The other fields are used to identify the party": its bank accounts need a known party."""
        return [_error(party, "UnknownParty", f"Party {number!r}: no such party in Routty, upload it in a "
                                              f"PartyList before its bank accounts")
                for party in root.iterchildren("Party")
                if (number := _text(party, "Metadata", "Number")) not in self.partners]

    def apply(self, root, upload: Upload) -> None:
        spec = rules.LISTS[upload.root]
        for record in root.iterchildren(spec.record):
            key = spec.key(record)
            if upload.root == "PartyList":
                self.parties[key] = rules.as_dict(record, spec.fields)
                self._upsert(record, upload)
            if spec.record == "Party":  # a PartyList may carry bank accounts too; a bank account is upserted by IBAN
                for account in record.iterfind("Metadata/PartyBankAccounts/PartyBankAccount"):
                    self.bank_accounts.setdefault(key, {})[_text(account, "IBAN")] = \
                        rules.as_dict(account, rules.BANK_ACCOUNT)
                self._sync_ibans(key)
            else:
                self.by_root()[upload.root][key] = rules.as_dict(record, spec.fields)

    def _upsert(self, party, upload: Upload) -> None:
        number = _text(party, "Metadata", "Number")
        self.partners[number] = {
            "number": number, "name": party.findtext("Metadata/Name1"), "type": party.findtext("Type/Name"),
            "active": (party.findtext("Active") or "true").strip() == "true",
            "corporateGroupId": party.findtext("Metadata/CorporateGroupID"),
            "siteCode": party.findtext("Metadata/SiteCode"), "countryCode": party.findtext("Metadata/CountryCode"),
            "registrationNumbers": [{"number": r.findtext("Number"), "scheme": r.findtext("Scheme")} for r in
                                    party.iterfind("Metadata/PartyRegistrationNumbers/PartyRegistrationNumber")],
            "ibans": [], "statusId": upload.status_id, "updatedAt": _now_iso(),
        }

    def _sync_ibans(self, number: str) -> None:
        if not self.bank_accounts.get(number):
            self.bank_accounts.pop(number, None)
        if number in self.partners:
            self.partners[number]["ibans"] = list(self.bank_accounts.get(number, {}))

    def delete(self, kind: str, number: str) -> bool:
        """Remove one entry; False when this tenant has no such entry."""
        if kind == "Party":
            found = self.partners.pop(number, None) is not None
            self.parties.pop(number, None)
            self.bank_accounts.pop(number, None)
            return found
        if kind == "PartyBankAccount":
            party, _, iban = number.rpartition(":")
            found = self.bank_accounts.get(party, {}).pop(iban, None) is not None
            self._sync_ibans(party)
            return found
        store = {"PurchaseOrder": self.purchase_orders, "GoodsReceipt": self.goods_receipts,
                 "AccountingMasterData": self.accounting, "Article": self.articles}[kind]
        return store.pop(number, None) is not None


class RouttyStore:
    """What Routty holds: every upload (by statusId, each of one tenant) and each tenant's masterdata. The
    processing knobs are the service's, shared by all tenants."""

    def __init__(self, processing_delay: float) -> None:
        self.processing_delay = processing_delay
        self.fail_next = 0
        self.max_upload_bytes = MAX_UPLOAD_BYTES
        self.uploads: dict[str, Upload] = {}
        self.tenants = {name: Masterdata() for name in credentials.TENANTS}

    def snapshot(self, tenant: str | None = None) -> dict:
        """One tenant's records per list type; without a tenant, every tenant's together (bank accounts
        merged per party; where two tenants hold the same key, the later tenant's record shows)."""
        if tenant is not None:
            return self.tenants[tenant].snapshot()
        merged: dict[str, dict] = {}
        for held in self.tenants.values():
            for name, records in held.snapshot().items():
                into = merged.setdefault(name, {})
                for key, record in records.items():
                    if name == "bank_accounts":  # party -> IBAN -> account: a party's accounts of every tenant
                        into.setdefault(key, {}).update(record)
                    else:
                        into[key] = record
        return merged

    def add(self, root, body: bytes, headers: dict, key: credentials.RouttyKey) -> Upload:
        upload = Upload(str(uuid.uuid4()), key, _name(root), body, headers, headers.get("x-correlation-id"),
                        _now_iso(), time.monotonic() + self.processing_delay,
                        party_count=sum(1 for c in root.iterchildren(etree.Element)))
        if self.fail_next > 0:  # decided at receipt, so the order of uploads decides which fail
            self.fail_next -= 1
            upload.simulated_failure = True
        self.uploads[upload.status_id] = upload
        return upload

    def settle(self) -> None:
        """Finish the processing of every upload whose delay has passed, exactly once each, in order."""
        now = time.monotonic()
        for upload in self.uploads.values():
            if upload.status == "Pending" and now >= upload.ready_at:
                self._process(upload)

    def _process(self, upload: Upload) -> None:
        root = etree.fromstring(upload.body, _parser())
        held = self.tenants[upload.key.tenant]
        if upload.simulated_failure:
            upload.errors = [_error(None, "SimulatedFailure", "Failed on request of the sandbox (fail_next)")]
        else:
            upload.errors = rules.validate_list(root)
            if not upload.errors and upload.root == "PartyBankAccountList":
                upload.errors = held.unknown_parties(root)
        upload.status = "Failed" if upload.errors else "Success"
        if upload.status == "Success":
            held.apply(root, upload)


def _parser() -> etree.XMLParser:
    # No entity expansion and no network: the body comes from outside.
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


# ---------------------------------------------------------------- endpoints

def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"title": title, "status": status, "detail": detail}, status_code=status)


def _too_large(size: int | None, limit: int) -> JSONResponse:
    told = f"{size} bytes" if size is not None else "more than that"
    return JSONResponse({"errors": [{"line": None, "code": "PayloadTooLarge",
                                     "message": f"The upload is {told}; the limit is {limit} bytes"}]}, 413)


def paged(request: Request, items: list, render=lambda item: item) -> JSONResponse:
    """Routty's page envelope ({items, pageNumber, pageSize, totalCount}) over `items`, or the 400."""
    try:
        page = int(request.query_params.get("pageNumber", "1"))
        size = int(request.query_params.get("pageSize", "50"))
        assert page >= 1 and 1 <= size <= 500
    except (ValueError, AssertionError):
        return _problem(400, "Bad Request", "pageNumber must be >= 1 and pageSize between 1 and 500.")
    return JSONResponse({"items": [render(i) for i in items[(page - 1) * size: page * size]], "pageNumber": page,
                         "pageSize": size, "totalCount": len(items)})


def api_key(request: Request, direction: str, takes: str) -> credentials.RouttyKey | JSONResponse:
    """The one ApiKey check of the sandbox's Routty APIs: the key of a request of `direction`, else the 401
    (a key Routty does not know) or the 403 (another configuration's key; `takes`: the key wanted)."""
    key = credentials.ROUTTY_KEYS.get(credentials.scheme_value(request.headers.get("authorization"), "ApiKey"))
    if key is None:
        return _problem(401, "Unauthorized", "Missing or invalid API key: send 'Authorization: ApiKey <key>'.")
    if key.direction != direction:
        what = "the masterdata key" if key.direction == "Masterdata" else f"an {key.direction} {key.flow} key"
        return _problem(403, "Forbidden", f"This is {what}; {takes}.")
    return key


def _guarded(handler):
    """Only a masterdata key opens the masterdata API; the handler gets the key (its tenant)."""
    async def endpoint(request: Request) -> JSONResponse:
        key = api_key(request, "Masterdata", "masterdata takes the masterdata key (ROUTTY_API_KEY)")
        return key if isinstance(key, JSONResponse) else await handler(request, key)
    return endpoint


def routes(state: SandboxState) -> list[Route]:
    # They import this module: here, not at the top.
    from sandbox import routty_documents, routty_exports

    async def upload(request: Request, key: credentials.RouttyKey) -> JSONResponse:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in XML_TYPES:
            return _problem(415, "Unsupported Media Type", "The sandbox accepts masterdata as XML "
                                                           "(application/xml or text/xml).")
        limit = state.routty.max_upload_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _too_large(int(declared), limit)
        body = bytearray()
        async for chunk in request.stream():  # stop reading as soon as the limit is passed
            body += chunk
            if len(body) > limit:
                return _too_large(None, limit)
        body = bytes(body)
        try:
            root = etree.fromstring(body, _parser())
        except etree.XMLSyntaxError as e:
            line = e.lineno if e.lineno else None
            return JSONResponse({"errors": [{"line": line, "code": "MalformedXml", "message": e.msg}]}, 400)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        return JSONResponse({"statusId": state.routty.add(root, body, headers, key).status_id})

    async def status(request: Request, key: credentials.RouttyKey) -> JSONResponse:
        state.routty.settle()
        status_id = request.path_params["status_id"]
        found = state.routty.uploads.get(status_id)
        if found is not None and found.key.tenant == key.tenant:  # another tenant's upload: unknown here
            return JSONResponse(found.public())
        if status_id in state.routty.tenants[key.tenant].deletions:
            return JSONResponse({"statusId": status_id, "status": "Success", "errors": []})
        return _problem(404, "Not Found", f"No masterdata upload with statusId {status_id}.")

    async def list_masterdata(request: Request, key: credentials.RouttyKey) -> JSONResponse:
        state.routty.settle()
        items = [{k: p[k] for k in ("number", "name", "type", "active")}
                 for _, p in sorted(state.routty.tenants[key.tenant].partners.items())]
        return paged(request, items)

    async def delete(request: Request, key: credentials.RouttyKey) -> JSONResponse:
        try:
            data = json.loads(await request.body())
            kind, numbers = data["type"], data["numbers"]
            assert kind in DELETE_TYPES and isinstance(numbers, list) and all(isinstance(n, str) for n in numbers)
        except (ValueError, KeyError, TypeError, AssertionError):
            return JSONResponse({"errors": [{"line": None, "code": "InvalidRequest", "message":
                                             f'Expected JSON {{"type": one of {", ".join(DELETE_TYPES)}, '
                                             f'"numbers": ["..."]}}'}]}, 400)
        state.routty.settle()
        held = state.routty.tenants[key.tenant]
        deleted = [n for n in numbers if held.delete(kind, n)]
        status_id = str(uuid.uuid4())
        held.deletions[status_id] = {
            "statusId": status_id, **key_admin(key), "type": kind, "numbers": numbers, "deleted": deleted,
            "notFound": [n for n in numbers if n not in deleted],
            "correlation_id": request.headers.get("x-correlation-id"), "received_at": _now_iso()}
        return JSONResponse({"statusId": status_id, "deleted": deleted,
                             "notFound": held.deletions[status_id]["notFound"]})

    async def not_found(request: Request, key: credentials.RouttyKey) -> JSONResponse:
        return _problem(404, "Not Found", f"Unknown endpoint: {request.method} {request.url.path}")

    return [
        Route(contract.MASTERDATA, _guarded(upload), methods=["POST"]),
        Route(contract.MASTERDATA, _guarded(list_masterdata), methods=["GET"]),
        Route(contract.MASTERDATA_DELETE, _guarded(delete), methods=["POST"]),
        Route(contract.MASTERDATA_STATUS, _guarded(status), methods=["GET"]),
        *routty_documents.routes(state),
        *routty_exports.routes(state),
        Route("/{path:path}", _guarded(not_found), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
