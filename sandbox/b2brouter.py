"""B2Brouter e-invoicing API (mounted at /b2brouter): accounts, contacts, received invoices."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox import credentials
from sandbox.dataset import unix_ms

if TYPE_CHECKING:
    from sandbox.app import SandboxState

DEFAULT_VERSION = "2025-10-13"
DEFAULT_LIMIT, MAX_LIMIT = 25, 500
INVOICE_TYPES = {"ReceivedInvoice", "IssuedInvoice"}


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


def _paged(request: Request, key: str, rows: list[dict]) -> dict:
    offset = _int(request, "offset", 0, 0, 10**9)
    limit = _int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    return {key: rows[offset: offset + limit], "meta": {"total_count": len(rows), "offset": offset, "limit": limit}}


def _endpoint(handler):
    """API key check, version echo and request id, around every endpoint."""
    async def endpoint(request: Request) -> JSONResponse:
        headers = {"X-B2B-API-Request-Id": str(uuid.uuid4()),
                   "X-B2B-API-Version": request.headers.get("x-b2b-api-version", DEFAULT_VERSION)}
        try:
            if request.headers.get("x-b2b-api-key") != credentials.B2BROUTER_API_KEY:
                raise B2BError(401, "Invalid or missing API key (X-B2B-API-Key)")
            return JSONResponse(handler(request), headers=headers)
        except B2BError as e:
            return JSONResponse({"error": str(e)}, status_code=e.status, headers=headers)
    return endpoint


def routes(state: SandboxState) -> list[Route]:
    def account(request: Request) -> dict:
        ref = request.path_params["account"]
        for acc in state.dataset.b2b_accounts:
            if ref in (str(acc["id"]), acc["identifier"]):
                return acc
        raise B2BError(404, f"Account {ref} not found")

    def accounts(request: Request) -> dict:
        return _paged(request, "accounts", state.dataset.b2b_accounts)

    def contacts(request: Request) -> dict:
        account(request)
        return _paged(request, "contacts", state.dataset.b2b_contacts)

    def invoices(request: Request) -> dict:
        account(request)
        q = request.query_params
        kind = q.get("type")
        if kind is not None and kind not in INVOICE_TYPES:
            raise B2BError(400, f"type must be one of {sorted(INVOICE_TYPES)}")
        rows = [i for i in state.dataset.b2b_invoices if kind is None or i["type"] == kind]
        if "updated_at" in q:  # strictly after: the project's incremental cursor
            after = _moment_ms(q["updated_at"], "updated_at")
            rows = [i for i in rows if unix_ms(i["updated_at"]) > after]
        if "date_from" in q:
            rows = [i for i in rows if i["date"] >= q["date_from"][:10]]
        if "date_to" in q:
            rows = [i for i in rows if i["date"] <= q["date_to"][:10]]
        return _paged(request, "invoices", sorted(rows, key=lambda i: i["id"]))

    def invoice(request: Request) -> dict:
        for inv in state.dataset.b2b_invoices:
            if str(inv["id"]) == request.path_params["invoice_id"]:
                return {"invoice": inv}
        raise B2BError(404, f"Invoice {request.path_params['invoice_id']} not found")

    def not_found(request: Request) -> dict:
        raise B2BError(404, f"Unknown endpoint: {request.method} {request.url.path}")

    return [
        Route("/accounts", _endpoint(accounts)),
        Route("/accounts/{account}/invoices", _endpoint(invoices)),
        Route("/accounts/{account}/contacts", _endpoint(contacts)),
        Route("/invoices/{invoice_id}", _endpoint(invoice)),
        Route("/{path:path}", _endpoint(not_found), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
