"""B2Brouter e-invoicing API (mounted at /b2brouter): accounts, contacts, received and issued invoices,
their UBL documents, state changes (mark_as). Each API key opens one account (tenant) and sees nothing of
the others."""

from __future__ import annotations

import inspect
import json
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from resources.contracts import b2brouter as contract
from sandbox.data import Dataset, SandboxCompany, unix_ms
from sandbox.documents import pdf, ubl_invoice
from sandbox.faults import Faults

if TYPE_CHECKING:
    from sandbox.app import SandboxState

DEFAULT_VERSION = contract.VERSION
DEFAULT_LIMIT, MAX_LIMIT = 25, 500
INVOICE_STREAMS = {"ReceivedInvoice": "received_invoices", "IssuedInvoice": "issued_invoices"}  # by `type`
# The states mark_as may set (api-contracts.md §3): a received invoice is accepted, refused or paid by us (new and
# annotated are B2Brouter's own); an issued one may be set to any issued state.
MARKABLE = {"ReceivedInvoice": ("accepted", "refused", "paid"),
            "IssuedInvoice": ("new", "sending", "sent", "accepted", "registered", "refused", "paid", "closed", "error")}
NOT_AFTER_REFUSAL = ("accepted", "paid")


class B2BError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise B2BError(400, f"{name} must be an integer between {low} and {high}")
    return int(raw)


def _moment_ms(raw: str, name: str) -> int:
    """An ISO 8601 date or date-time as Unix ms (naive = UTC)."""
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise B2BError(400, f"{name} must be an ISO 8601 date or date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _paged(request: Request, key: str, rows: list[dict], faults: Faults) -> dict:
    """One page, with the ingest faults of list pages (short pages, no records key, skewed times)."""
    offset = _int(request, "offset", 0, 0, 10**9)
    limit = _int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    served = faults.skew("b2brouter", rows[offset: offset + faults.page_limit("b2brouter", limit)])
    page = {key: served, "meta": {"total_count": len(rows), "offset": offset, "limit": limit}}
    return faults.drop_records_key("b2brouter", page, key)


def _sorted(invoices: list[dict]) -> list[dict]:
    """updated_at ascending, then id: stable under offset paging while nothing changes."""
    return sorted(invoices, key=lambda i: (unix_ms(i["updated_at"]), i["id"]))


def state_changes(dataset: Dataset) -> dict[str, list[dict]]:
    """The mark_as log by tenant name: {invoice_id, type, from, to, reason, at}. Kept on the dataset, so a
    /_sandbox/reset (a new dataset) empties it with the data it describes."""
    return dataset.b2brouter_state_changes


async def _json_body(request: Request) -> dict:
    body = await request.body()
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        raise B2BError(400, "Request body must be JSON") from None
    if not isinstance(data, dict):
        raise B2BError(400, "Request body must be a JSON object")
    return data


def present(tenant: SandboxCompany, stream: str, records: list[dict]) -> list[dict]:
    """Records in the order the list endpoint serves them (ground truth for the admin API)."""
    return _sorted(records) if stream in INVOICE_STREAMS.values() else records


def _party(record: dict) -> dict:
    """An account or contact as a UBL party."""
    return {"name": record["name"], "vat": record.get("tin_value"), "country": (record.get("country") or "").upper(),
            "street": record.get("address"), "city": record.get("city"), "postal_code": record.get("postalcode")}


def _ubl(tenant: SandboxCompany, invoice: dict) -> bytes:
    contact = next((c for c in tenant.b2b["contacts"] if c["id"] == invoice["contact"]["id"]), invoice["contact"])
    parties = [_party(contact), _party(tenant.b2b_account)]
    supplier, customer = parties if invoice["type"] == "ReceivedInvoice" else reversed(parties)
    return ubl_invoice(invoice, supplier, customer)


def routes(state: SandboxState) -> list[Route]:
    def endpoint(handler):
        """API key -> tenant, version echo and request id, around every endpoint."""
        async def wrapped(request: Request) -> Response:
            headers = {"X-B2B-API-Request-Id": str(uuid.uuid4()),
                       "X-B2B-API-Version": request.headers.get("x-b2b-api-version", DEFAULT_VERSION)}
            try:
                tenant = state.dataset.tenant_where("b2brouter_api_key", request.headers.get("x-b2b-api-key"))
                if tenant is None:
                    raise B2BError(401, "Invalid or missing API key (X-B2B-API-Key)")
                result = handler(request, tenant)
                if inspect.isawaitable(result):
                    result = await result
                if isinstance(result, Response):
                    result.headers.update(headers)
                    return result
                return JSONResponse(result, headers=headers)
            except B2BError as e:
                return JSONResponse({"error": str(e)}, status_code=e.status, headers=headers)
        return wrapped

    def check_account(request: Request, tenant: SandboxCompany) -> None:
        ref, acc = request.path_params["account"], tenant.b2b_account
        if ref not in (str(acc["id"]), acc["identifier"]):  # another key's account is not there at all
            raise B2BError(404, f"Account {ref} not found")

    def find_invoice(request: Request, tenant: SandboxCompany) -> dict:
        for stream in INVOICE_STREAMS.values():
            for inv in tenant.b2b[stream]:
                if str(inv["id"]) == request.path_params["invoice_id"]:
                    return inv
        raise B2BError(404, f"Invoice {request.path_params['invoice_id']} not found")

    @endpoint
    def accounts(request: Request, tenant: SandboxCompany) -> dict:
        return _paged(request, "accounts", [tenant.b2b_account], state.faults)

    @endpoint
    def contacts(request: Request, tenant: SandboxCompany) -> dict:
        check_account(request, tenant)
        page = _paged(request, "contacts", tenant.b2b["contacts"], state.faults)
        if "contacts" in page:
            page["contacts"] = state.faults.malform("b2brouter", page["contacts"])
        return page

    @endpoint
    def invoices(request: Request, tenant: SandboxCompany) -> dict:
        check_account(request, tenant)
        q = request.query_params
        kind = q.get("type")
        if kind is not None and kind not in INVOICE_STREAMS:
            raise B2BError(400, f"type must be one of {sorted(INVOICE_STREAMS)}")
        rows = [i for t, stream in INVOICE_STREAMS.items() if kind in (None, t) for i in tenant.b2b[stream]]
        if "updated_at" in q:  # strictly after: the project's incremental cursor
            after = _moment_ms(q["updated_at"], "updated_at")
            rows = [i for i in rows if unix_ms(i["updated_at"]) > after]
        if "date_from" in q:
            rows = [i for i in rows if i["date"] >= q["date_from"][:10]]
        if "date_to" in q:
            rows = [i for i in rows if i["date"] <= q["date_to"][:10]]
        page = _paged(request, "invoices", _sorted(rows), state.faults)
        if "invoices" in page:
            page["invoices"] = state.faults.malform("b2brouter", page["invoices"], "date")
        return page

    @endpoint
    def invoice(request: Request, tenant: SandboxCompany) -> dict:
        return {"invoice": find_invoice(request, tenant)}

    @endpoint
    def document(request: Request, tenant: SandboxCompany) -> Response:
        found, kind = find_invoice(request, tenant), request.path_params["document_type"]
        if kind == "xml.ubl.invoice.bis3":
            return Response(state.faults.latin1(str(found["id"]), _ubl(tenant, found)), media_type="application/xml")
        if kind == "pdf.invoice":
            return Response(pdf([f"Invoice {found['number']}", f"Date {found['date']}", found["contact"]["name"],
                                 f"Total {found['currency']} {found['total']:.2f}"]), media_type="application/pdf")
        raise B2BError(404, f"Document type {kind} is not available for invoice {found['id']}")

    @endpoint
    async def mark_as(request: Request, tenant: SandboxCompany) -> dict:
        """POST /invoices/{id}/mark_as, body {"state": "<state>", "reason": "<text>"} (reason optional).
        ASSUMED: the seed and contract name the endpoint only, not its body. Answers {"invoice": ...} as
        GET /invoices/{id}. The same state again changes nothing; a refused invoice is never accepted or paid."""
        found = find_invoice(request, tenant)
        data = await _json_body(request)
        new, reason, allowed = data.get("state"), data.get("reason"), MARKABLE[found["type"]]
        if new is None:
            raise B2BError(400, "state is required")
        if not isinstance(new, str) or new not in allowed:
            raise B2BError(400, f"state {new!r} is not valid for a {found['type']}: one of {', '.join(allowed)}")
        if reason is not None and not isinstance(reason, str):
            raise B2BError(400, "reason must be a string")
        old = found["state"]
        if new == old:  # idempotent: no new updated_at, nothing logged
            return {"invoice": found}
        if old == "refused" and new in NOT_AFTER_REFUSAL:
            raise B2BError(422, f"Invoice {found['id']} is refused and cannot be marked as {new}")
        state.dataset.touch(tenant.name, "b2brouter", INVOICE_STREAMS[found["type"]], str(found["id"]), {"state": new})
        state_changes(state.dataset).setdefault(tenant.name, []).append(
            {"invoice_id": found["id"], "type": found["type"], "from": old, "to": new, "reason": reason,
             "at": found["updated_at"]})
        return {"invoice": found}

    @endpoint
    def not_found(request: Request, tenant: SandboxCompany) -> dict:
        raise B2BError(404, f"Unknown endpoint: {request.method} {request.url.path}")

    return [
        Route(contract.ACCOUNTS, accounts),
        Route(contract.INVOICES, invoices),
        Route(contract.CONTACTS, contacts),
        Route(contract.INVOICE, invoice),
        Route(contract.DOCUMENT, document),
        Route(contract.MARK_AS, mark_as, methods=["POST"]),
        Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
