"""The output-documents endpoints: list, acknowledge, feedback, and the pre-signed download."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from lxml import etree
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from resources.contracts.schemas import schema
from resources.contracts import routty as contract
from sandbox.credentials import RouttyKey
from sandbox.routty import XML_TYPES, _now_iso, _parser, _problem, api_key, key_admin, paged
from sandbox.routty_documents import _blob_error, refused_signature, signed_url
from sandbox.routty_exports.fill import sync
from sandbox.routty_exports.store import Export, ExportStore

if TYPE_CHECKING:
    from sandbox.app import SandboxState

MOUNT = "/routty"
API = contract.OUTPUT_DOCUMENTS


def _download_url(request: Request, store: ExportStore, export: Export) -> str:
    return signed_url(request, f"{MOUNT}/export/{export.document_id}", store.download_url_ttl, "r")


def _guarded(state: SandboxState, handler):
    """Only an Output key opens the output API; the key's tenant decides the queue."""
    async def endpoint(request: Request) -> Response:
        key = api_key(request, "Output", "the output-documents API takes the Output Inbound key "
                                         "(ROUTTY_OUTPUT_INBOUND_API_KEY)")
        if isinstance(key, Response):
            return key
        sync(state)
        return await handler(request, key)
    return endpoint


def _feedback_record(fb, export: Export, key: RouttyKey) -> dict:
    status, booking = fb.findtext("Status").strip(), fb.findtext("FeedbackAccounting/BookingNumber") or None
    return {"receivedOn": _now_iso(), **key_admin(key), "status": status,
            "documentGuid": fb.findtext("DocumentGuid"),
            "documentSetId": int(fb.findtext("DocumentSetId")), "processDate": fb.findtext("ProcessDate"),
            "bookingNumber": booking, "bookingDate": fb.findtext("FeedbackAccounting/BookingDate"),
            "journal": fb.findtext("FeedbackAccounting/Journal"),
            "messages": [m.text or "" for m in fb.iterfind("Messages/Message")],
            "duplicate": any((f["status"], f["bookingNumber"]) == (status, booking) for f in export.feedback),
            "xml": etree.tostring(fb, encoding="unicode")}


def routes(state: SandboxState) -> list[Route]:
    def store() -> ExportStore:
        return state.routty_exports

    def find(request: Request, key: RouttyKey) -> Export | None:
        export = store().exports.get(request.path_params["document_id"])
        return export if export is not None and export.tenant == key.tenant else None

    def not_found(request: Request) -> JSONResponse:
        return _problem(404, "Not Found", f"No output document {request.path_params['document_id']} for this key.")

    async def listing(request: Request, key: RouttyKey) -> JSONResponse:
        return paged(request, store().queue(key.tenant), lambda e: e.item(_download_url(request, store(), e)))

    async def acknowledge(request: Request, key: RouttyKey) -> JSONResponse:
        export = find(request, key)
        if export is None:
            return not_found(request)
        export.acknowledgements += 1
        export.acknowledged_on = export.acknowledged_on or _now_iso()
        return JSONResponse({"documentId": export.document_id, "acknowledgedOn": export.acknowledged_on})

    async def feedback(request: Request, key: RouttyKey) -> JSONResponse:
        export = find(request, key)
        if export is None:
            return not_found(request)
        if request.headers.get("content-type", "").split(";")[0].strip().lower() not in XML_TYPES:
            return _problem(415, "Unsupported Media Type", "Feedback is RouttyFeedbackDocuments XML "
                                                           "(application/xml or text/xml).")
        body = await request.body()
        if len(body) > state.routty.max_upload_bytes:
            return _problem(413, "Payload Too Large", f"The feedback is {len(body)} bytes; the limit is "
                                                      f"{state.routty.max_upload_bytes} bytes.")
        try:
            root = etree.fromstring(body, _parser())
        except etree.XMLSyntaxError as e:
            return _problem(400, "Bad Request", f"The feedback is not well-formed XML: {e.msg}")
        xsd = schema("RouttyFeedbackDocuments")
        if not xsd.validate(root):
            problems = "; ".join(f"line {e.line}: {e.message}" for e in list(xsd.error_log)[:5])
            return _problem(400, "Bad Request", f"The feedback is not valid against RouttyFeedbackDocuments.xsd: "
                                                f"{problems}")
        documents = list(root.iterfind("RouttyFeedbackDocument"))
        for n, fb in enumerate(documents, 1):
            guid, set_id = fb.findtext("DocumentGuid").strip(), int(fb.findtext("DocumentSetId"))
            if guid.lower() != export.guid.lower() or set_id != export.set_id:
                return _problem(400, "Bad Request", f"RouttyFeedbackDocument {n} names DocumentGuid {guid} and "
                                                    f"DocumentSetId {set_id}; output document {export.document_id} "
                                                    f"is {export.guid} / {export.set_id}.")
        for fb in documents:
            export.feedback.append(_feedback_record(fb, export, key))
        return JSONResponse({"documentId": export.document_id, "received": len(documents),
                             "feedbackCount": len(export.feedback)})

    async def download(request: Request) -> Response:
        refused = refused_signature(request, "list the output documents again for a new download URL.")
        if refused is not None:
            return refused
        export = store().exports.get(request.path_params["document_id"])
        if export is None:
            return _blob_error(404, "BlobNotFound", "The specified blob does not exist.")
        export.downloads += 1
        md5 = base64.b64encode(hashlib.md5(export.xml, usedforsecurity=False).digest()).decode()
        return Response(export.xml, media_type="application/xml",
                        headers={"ETag": f'"0x{hashlib.sha256(export.xml).hexdigest()[:16].upper()}"',
                                 "Content-MD5": md5, "x-ms-blob-type": "BlockBlob"})

    return [
        Route(API, _guarded(state, listing), methods=["GET"]),
        Route(contract.OUTPUT_ACKNOWLEDGE, _guarded(state, acknowledge), methods=["POST"]),
        Route(contract.OUTPUT_FEEDBACK, _guarded(state, feedback), methods=["POST"]),
        Route("/export/{document_id}", download, methods=["GET"]),
    ]
