"""Routty connector API, input-documents part (routes mounted under /routty by sandbox/routty.py).

The flow of the real service: request a document (one per x-correlation-id, which the simulator
allows twice like the real one but counts), optionally announce attachments, PUT the bytes to
pre-signed, time-limited, Azure-blob style URLs (no API key), then poll the status. The main
document's upload starts processing: `Processing` for `processing_delay` seconds, then one
deterministic verdict, computed lazily when anything reads a status (masterdata uploads that were
due before the document are settled first, in time order):

    ReadyForUpload --PUT main--> Processing --> Success | Error | Rejected;  Error --cancel--> Cancelled

Error codes: SimulatedFailure (fail_next), MalformedDocument (not well-formed XML),
DocumentMetadataNotFound (not a UBL 2.1 Invoice/CreditNote, or no ID/IssueDate/DocumentCurrencyCode),
BusinessPartnerNotFound (Outbound: customer not a party Number),
BusinessPartnerNotFoundForEnrichment (Inbound: supplier neither a party Number nor a registered VAT
number), TotalsMismatch (status Rejected: the document's own totals do not add up to the cent).
A document belongs to the Routty tenant of the key that requested it: only that tenant's Input key of
the same flow sees it, and its business partners are that tenant's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from lxml import etree
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from resources.contracts import routty as contract
from sandbox import credentials
from sandbox.routty import _now_iso, _parser, _problem, api_key, key_admin

if TYPE_CHECKING:
    from sandbox.app import SandboxState

MOUNT = "/routty"
API = contract.INPUT_DOCUMENTS
UPLOAD_URL_TTL = 600.0  # seconds, default of the upload_url_ttl setting
INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
KINDS = {f"{{{INVOICE}}}Invoice": "Invoice", f"{{{CREDIT_NOTE}}}CreditNote": "CreditNote"}
CENT = Decimal("0.01")


# ---------------------------------------------------------------- the store

@dataclass
class Attachment:
    attachment_id: str
    file_name: str
    mime_type: str
    body: bytes | None = None
    uploaded_at: str | None = None

    def admin(self) -> dict:
        return {"attachmentId": self.attachment_id, "fileName": self.file_name, "mimeType": self.mime_type,
                "size": None if self.body is None else len(self.body),
                "sha256": None if self.body is None else hashlib.sha256(self.body).hexdigest(),
                "uploaded_at": self.uploaded_at}


@dataclass
class InputDocument:
    document_id: str
    correlation_id: str
    key: credentials.RouttyKey  # the Input key that requested it: its tenant and flow
    received_on: str
    routing_identifier: str | None
    requested_at: str
    status: str = "ReadyForUpload"
    status_changed_on: str = ""
    error_code: str | None = None
    error_message: str | None = None
    xml: bytes | None = None
    uploaded_at: str | None = None
    ready_at: float = 0.0  # monotonic time when processing ends
    ready_on: str = ""  # the same moment as a UTC timestamp (statusChangedOn of the verdict)
    simulated_failure: bool = False
    attachments: dict[str, Attachment] = field(default_factory=dict)

    @property
    def flow(self) -> str:  # Outbound (sales) | Inbound (purchase)
        return self.key.flow

    @property
    def tenant(self) -> str:
        return self.key.tenant

    def public(self) -> dict:
        out = {"documentId": self.document_id, "correlationId": self.correlation_id, "status": self.status,
               "statusChangedOn": self.status_changed_on}
        if self.error_code is not None:
            out.update(errorCode=self.error_code, errorMessage=self.error_message)
        return out

    def admin(self) -> dict:
        return {"documentId": self.document_id, "correlationId": self.correlation_id, **key_admin(self.key),
                "flow": self.flow, "status": self.status, "errorCode": self.error_code,
                "errorMessage": self.error_message,
                "receivedOn": self.received_on, "routingIdentifier": self.routing_identifier,
                "xml": None if self.xml is None else self.xml.decode("utf-8", "replace"),
                "attachments": [a.admin() for a in self.attachments.values()],
                "requested_at": self.requested_at, "uploaded_at": self.uploaded_at}


class DocumentStore:
    """Every input document Routty was asked for, and how often each correlation id asked."""

    def __init__(self, processing_delay: float) -> None:
        self.processing_delay = processing_delay
        self.fail_next = 0
        self.upload_url_ttl = UPLOAD_URL_TTL
        self.documents: dict[str, InputDocument] = {}
        self.requested: Counter[tuple[str, str]] = Counter()  # (tenant, correlation id) -> documents requested

    def snapshot(self, tenant: str | None = None) -> dict:
        """One tenant's documents, or every tenant's (None); duplicates are per tenant either way."""
        mine = [d for d in self.documents.values() if tenant in (None, d.tenant)]
        return {"documents": [d.admin() for d in mine],
                "duplicates": {c: n for (t, c), n in self.requested.items() if n > 1 and tenant in (None, t)},
                "counts": dict(Counter(d.status for d in mine))}


def settle(state: SandboxState) -> None:
    """Give every document whose delay has passed its verdict, exactly once, in time order with the
    masterdata uploads that were due (a party uploaded before the document's verdict counts)."""
    now = time.monotonic()
    due = [(u.ready_at, 0, u) for u in state.routty.uploads.values() if u.status == "Pending" and now >= u.ready_at]
    due += [(d.ready_at, 1, d) for d in state.routty_documents.documents.values()
            if d.status == "Processing" and now >= d.ready_at]
    for _, kind, item in sorted(due, key=lambda e: e[:2]):
        if kind == 0:
            state.routty._process(item)
        else:
            partners = state.routty.tenants[item.tenant].partners  # enrichment: the document's own tenant
            item.status, item.error_code, item.error_message = _verdict(item, partners)
            item.status_changed_on = item.ready_on


# ---------------------------------------------------------------- the verdict

class _Verdict(Exception):
    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(message)
        self.result = (status, code, message)


def _verdict(doc: InputDocument, partners: dict[str, dict]) -> tuple[str, str | None, str | None]:
    try:
        if doc.simulated_failure:
            raise _Verdict("Error", "SimulatedFailure", "Failed on request of the sandbox (fail_next_documents)")
        try:
            root = etree.fromstring(doc.xml, _parser())
        except etree.XMLSyntaxError as e:
            raise _Verdict("Error", "MalformedDocument", f"The document is not well-formed XML: {e.msg}") from None
        kind = KINDS.get(root.tag)
        if kind is None:
            raise _Verdict("Error", "DocumentMetadataNotFound", f"Expected a UBL 2.1 Invoice ({INVOICE}) or "
                                                                f"CreditNote ({CREDIT_NOTE}), got root {root.tag}")
        missing = [n for n in ("ID", "IssueDate", "DocumentCurrencyCode") if not _text(root, f"cbc:{n}")]
        if missing:
            raise _Verdict("Error", "DocumentMetadataNotFound", f"The {kind} has no {', '.join(missing)}")
        _check_partner(root, doc.flow, partners)
        _check_totals(root, kind)
    except _Verdict as v:
        return v.result
    return "Success", None, None


def _text(el, path: str) -> str:
    return (el.findtext(path, namespaces=NS) or "").strip()


def _norm(value: str) -> str:
    return "".join(ch for ch in value.upper() if ch.isalnum())


def _check_partner(root, flow: str, partners: dict[str, dict]) -> None:
    role = "Customer" if flow == "Outbound" else "Supplier"
    party = root.find(f"cac:Accounting{role}Party/cac:Party", NS)
    ids = [] if party is None else list(dict.fromkeys(t for p in ("cac:PartyIdentification/cbc:ID", "cbc:EndpointID")
                                                      for t in (_text(e, ".") for e in party.iterfind(p, NS)) if t))
    if any(i in partners for i in ids):
        return
    if flow == "Outbound":
        raise _Verdict("Error", "BusinessPartnerNotFound",
                       f"Customer {ids or '(no PartyIdentification/ID or EndpointID)'} is no business partner "
                       f"Number in Routty: upload it in a PartyList first")
    vats = [] if party is None else [_norm(t) for t in (_text(e, ".") for e in party.iterfind(
        "cac:PartyTaxScheme/cbc:CompanyID", NS)) if t]
    known = {_norm(r["number"] or "") for p in partners.values() for r in p["registrationNumbers"]}
    if not set(vats) & known:
        raise _Verdict("Error", "BusinessPartnerNotFoundForEnrichment",
                       f"Supplier with Number {ids} / VAT {vats} matches no business partner in Routty "
                       f"(party Number or registration number)")


def _amount(el, path: str, required: bool = True) -> Decimal:
    text = None if el is None else el.findtext(path, namespaces=NS)
    if text is None and not required:
        return Decimal(0)
    try:
        return Decimal(text.strip())
    except (AttributeError, InvalidOperation):
        raise _Verdict("Rejected", "TotalsMismatch", f"Missing or unreadable amount {path}: {text!r}") from None


def _check_totals(root, kind: str) -> None:
    currency = _text(root, "cbc:DocumentCurrencyCode")
    lines = sum((_amount(line, "cbc:LineExtensionAmount") for line in root.iterfind(f"cac:{kind}Line", NS)),
                Decimal(0))
    total = root.find("cac:LegalMonetaryTotal", NS)
    net, excl, incl = (_amount(total, f"cbc:{n}") for n in
                       ("LineExtensionAmount", "TaxExclusiveAmount", "TaxInclusiveAmount"))
    allowances, charges = (_amount(total, f"cbc:{n}", required=False) for n in
                           ("AllowanceTotalAmount", "ChargeTotalAmount"))
    taxes = [t for t in root.iterfind("cac:TaxTotal/cbc:TaxAmount", NS) if t.get("currencyID") in (None, currency)]
    tax = _amount(taxes[0] if taxes else None, ".")
    for left, right, what in ((lines, net, f"the sum of the {kind}Line LineExtensionAmounts"),
                              (net - allowances + charges, excl,
                               "LineExtensionAmount - AllowanceTotalAmount + ChargeTotalAmount vs TaxExclusiveAmount"),
                              (excl + tax, incl, "TaxExclusiveAmount + TaxTotal/TaxAmount vs TaxInclusiveAmount")):
        if left.quantize(CENT, ROUND_HALF_UP) != right.quantize(CENT, ROUND_HALF_UP):
            raise _Verdict("Rejected", "TotalsMismatch", f"Totals do not add up: {what}: {left} != {right}")


# ---------------------------------------------------------------- pre-signed upload URLs

def _signature(path: str, expiry: str) -> str:
    mac = hmac.new(credentials.ROUTTY_UPLOAD_SIGNING_KEY, f"{path}\n{expiry}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def signed_url(request: Request, path: str, ttl: float, permissions: str) -> str:
    """An Azure-blob style pre-signed URL for `path`, valid `ttl` seconds (shared with the output API)."""
    expiry = (datetime.now(UTC) + timedelta(seconds=ttl)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    query = urlencode({"sv": "2023-11-03", "sr": "b", "sp": permissions, "se": expiry, "sig": _signature(path, expiry)})
    return f"{request.url.scheme}://{request.url.netloc}{path}?{query}"


def _upload_url(request: Request, store: DocumentStore, path: str) -> str:
    return signed_url(request, path, store.upload_url_ttl, "cw")


def _blob_error(status: int, code: str, message: str) -> Response:
    """Azure blob storage style: an XML error body and the code in x-ms-error-code."""
    body = etree.Element("Error")
    etree.SubElement(body, "Code").text = code
    etree.SubElement(body, "Message").text = message
    return Response(etree.tostring(body, xml_declaration=True, encoding="utf-8"), status,
                    media_type="application/xml", headers={"x-ms-error-code": code})


def refused_signature(request: Request, when_expired: str) -> Response | None:
    """None when the URL's signature is right and not expired, else the 403 (`when_expired`: what to do)."""
    expiry, sig = request.query_params.get("se", ""), request.query_params.get("sig", "")
    if not sig or not hmac.compare_digest(sig, _signature(request.url.path, expiry)):
        return _blob_error(403, "AuthenticationFailed", "Server failed to authenticate the request: the sig "
                                                        "query parameter is missing or does not match.")
    if datetime.now(UTC) >= datetime.fromisoformat(expiry):
        return _blob_error(403, "AuthenticationFailed", f"Signed expiry time [{expiry}] has expired: {when_expired}")
    return None


# ---------------------------------------------------------------- endpoints

def _guarded(handler):
    """Only an Input key opens the input API; the document belongs to its key (tenant and flow)."""
    async def endpoint(request: Request) -> Response:
        key = api_key(request, "Input", "the input-documents API takes an Input key (Input Outbound for "
                                        "sales documents, Input Inbound for received)")
        return key if isinstance(key, Response) else await handler(request, key)
    return endpoint


def routes(state: SandboxState) -> list[Route]:
    def store() -> DocumentStore:
        return state.routty_documents

    def find(request: Request, key: credentials.RouttyKey) -> InputDocument | None:
        settle(state)
        doc = store().documents.get(request.path_params["document_id"])
        return doc if doc is not None and (doc.tenant, doc.flow) == (key.tenant, key.flow) else None

    def not_found(request: Request, key: credentials.RouttyKey) -> JSONResponse:
        return _problem(404, "Not Found", f"No input document {request.path_params['document_id']} "
                                          f"for this key (Input {key.flow}).")

    async def json_body(request: Request) -> dict | None:
        try:
            data = json.loads(await request.body())
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    async def create(request: Request, key: credentials.RouttyKey) -> JSONResponse:
        correlation_id = (request.headers.get("x-correlation-id") or "").strip()
        if not correlation_id:
            return _problem(400, "Bad Request", "The x-correlation-id header is required: the source system's "
                                                "document id, it follows the document through Routty.")
        data = await json_body(request)
        routing = None if data is None else data.get("routingIdentifier")
        try:
            received = datetime.fromisoformat(data["receivedOn"].strip())
            received = received if received.tzinfo else received.replace(tzinfo=UTC)
            assert routing is None or isinstance(routing, str)
        except (TypeError, KeyError, AttributeError, ValueError, AssertionError):
            return _problem(400, "Bad Request", 'Expected JSON {"receivedOn": "<UTC ISO timestamp>", '
                                                '"routingIdentifier"?: "<text>"}.')
        if received > datetime.now(UTC):
            return _problem(400, "Bad Request", f"receivedOn {data['receivedOn']} is in the future.")
        now = _now_iso()
        doc = InputDocument(str(uuid.uuid4()), correlation_id, key, data["receivedOn"], routing, now,
                            status_changed_on=now)
        store().documents[doc.document_id] = doc
        store().requested[key.tenant, correlation_id] += 1
        return JSONResponse({"documentId": doc.document_id,
                             "uploadUrl": _upload_url(request, store(), f"{MOUNT}/upload/{doc.document_id}")})

    async def attach(request: Request, key: credentials.RouttyKey) -> JSONResponse:
        doc = find(request, key)
        if doc is None:
            return not_found(request, key)
        if doc.status != "ReadyForUpload":
            return _problem(409, "Conflict", f"Document {doc.document_id} is in status {doc.status}: attachments "
                                             f"must be added before the main document is uploaded.")
        data = await json_body(request) or {}
        name, mime = data.get("fileName"), data.get("mimeType")
        if not (isinstance(name, str) and name.strip() and isinstance(mime, str) and mime.strip()):
            return _problem(400, "Bad Request", 'Expected JSON {"fileName": "<name>", "mimeType": "<type>"}.')
        attachment = Attachment(str(uuid.uuid4()), name, mime)
        doc.attachments[attachment.attachment_id] = attachment
        path = f"{MOUNT}/upload/{doc.document_id}/{attachment.attachment_id}"
        return JSONResponse({"attachmentId": attachment.attachment_id,
                             "uploadUrl": _upload_url(request, store(), path)})

    async def status(request: Request, key: credentials.RouttyKey) -> JSONResponse:
        doc = find(request, key)
        return not_found(request, key) if doc is None else JSONResponse(doc.public())

    async def cancel(request: Request, key: credentials.RouttyKey) -> JSONResponse:
        doc = find(request, key)
        if doc is None:
            return not_found(request, key)
        if doc.status != "Error":
            return _problem(409, "Conflict", f"Document {doc.document_id} is in status {doc.status}: only a "
                                             f"document in status Error can be cancelled.")
        doc.status, doc.status_changed_on = "Cancelled", _now_iso()
        return JSONResponse({"documentId": doc.document_id, "status": doc.status})

    async def upload(request: Request) -> Response:
        refused = refused_signature(request, "the upload URL is no longer valid, request a new document.")
        if refused is not None:
            return refused
        blob_type = request.headers.get("x-ms-blob-type")
        if blob_type != "BlockBlob":
            code = "MissingRequiredHeader" if blob_type is None else "InvalidHeaderValue"
            return _blob_error(400, code, f"The x-ms-blob-type header must be BlockBlob, got {blob_type!r}.")
        settle(state)
        doc = store().documents.get(request.path_params["document_id"])
        attachment_id = request.path_params.get("attachment_id")
        attachment = None if doc is None or attachment_id is None else doc.attachments.get(attachment_id)
        if doc is None or (attachment_id is not None and attachment is None):
            return _blob_error(404, "ContainerNotFound", "No such document (or attachment) any more.")
        if state.faults.settings.refuses_upload(doc.correlation_id):  # fault switch: refused for good
            return _blob_error(403, "AuthorizationFailure", "This request is not authorized to perform this operation.")
        if (attachment.body if attachment else doc.xml) is not None:
            return _blob_error(409, "BlobAlreadyExists", "The specified blob already exists.")
        if attachment is not None and doc.xml is not None:
            return _blob_error(409, "DocumentAlreadyUploaded", "The main document was uploaded already: "
                                                               "attachments must arrive before it.")
        body = await request.body()
        if len(body) > state.routty.max_upload_bytes:
            return _blob_error(413, "RequestBodyTooLarge", f"The upload is {len(body)} bytes; the limit is "
                                                           f"{state.routty.max_upload_bytes} bytes.")
        now = _now_iso()
        if attachment is not None:
            attachment.body, attachment.uploaded_at = body, now
        else:
            doc.xml, doc.uploaded_at, doc.status, doc.status_changed_on = body, now, "Processing", now
            doc.ready_at = time.monotonic() + store().processing_delay
            doc.ready_on = (datetime.now(UTC) + timedelta(seconds=store().processing_delay)).isoformat(
                timespec="milliseconds").replace("+00:00", "Z")
            if store().fail_next > 0:  # decided at receipt, so the order of uploads decides which fail
                store().fail_next -= 1
                doc.simulated_failure = True
        md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        return Response(status_code=201, headers={"ETag": f'"0x{hashlib.sha256(body).hexdigest()[:16].upper()}"',
                                                  "Content-MD5": md5, "x-ms-request-server-encrypted": "true"})

    return [
        Route(API, _guarded(create), methods=["POST"]),
        Route(contract.INPUT_DOCUMENT, _guarded(status), methods=["GET"]),
        Route(contract.INPUT_ATTACHMENTS, _guarded(attach), methods=["POST"]),
        Route(contract.INPUT_CANCEL, _guarded(cancel), methods=["POST"]),
        Route("/upload/{document_id}", upload, methods=["PUT"]),
        Route("/upload/{document_id}/{attachment_id}", upload, methods=["PUT"]),
    ]
