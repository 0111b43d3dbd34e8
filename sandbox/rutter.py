"""Rutter unified accounting API, version 2024-08-31 (mounted at /rutter/versioned).

Strict like the real one: Basic auth, the version header, and a 400 for any query parameter the
endpoint does not document. A new stream is one entry in STREAMS plus its data in the dataset. The one
write, creating a bill, is sandbox/rutter_bills.py.
"""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from resources.contracts import fill
from resources.contracts import rutter as contract
from sandbox import credentials
from sandbox.data import RutterConnection, SandboxCompany, unix_ms

if TYPE_CHECKING:
    from sandbox.app import SandboxState

STREAMS = {"vendors": "vendor", "purchase_orders": "purchase_order", "bills": "bill", "invoices": "invoice",
           "customers": "customer", "accounts": "account", "items": "item",
           "tax_rates": "tax_rate"}  # list key -> single-object key
# The contract shows these lists without the "connection" object.
NO_CONNECTION_KEY = {"items", "tax_rates"}
LIST_PARAMS = set(contract.LIST_PARAMS)
DEFAULT_LIMIT, MAX_LIMIT = 50, 500


class RutterError(Exception):
    def __init__(self, status: int, error_type: str, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.body = status, {"error_type": error_type, "error_code": error_code,
                                          "error_message": message}


def _bad_request(code: str, message: str) -> RutterError:
    return RutterError(400, "INVALID_REQUEST", code, message)


def _authorize(request: Request, state: SandboxState, allowed: set[str]) -> RutterConnection:
    """The checks every call goes through, in the order Rutter applies them."""
    if credentials.basic_auth(request.headers.get("authorization")) != (
            credentials.RUTTER_CLIENT_ID, credentials.RUTTER_CLIENT_SECRET):
        raise RutterError(401, "AUTHENTICATION_ERROR", "INVALID_CREDENTIALS",
                          "Invalid client credentials: use HTTP Basic auth with your client_id and secret.")
    version = request.headers.get("x-rutter-version")
    if version != credentials.RUTTER_VERSION:
        raise _bad_request("UNSUPPORTED_VERSION", f"Unsupported or missing X-Rutter-Version: {version!r}; "
                                                  f"this endpoint serves {credentials.RUTTER_VERSION}.")
    for name in request.query_params:
        if name not in allowed:
            raise _bad_request("UNKNOWN_PARAMETER", f"Unknown query parameter: {name}")
    token = request.query_params.get("access_token")
    if not token:
        raise _bad_request("MISSING_PARAMETER", "The access_token query parameter is required.")
    conn = state.dataset.connections.get(token)
    if conn is None:
        raise RutterError(401, "AUTHENTICATION_ERROR", "INVALID_CREDENTIALS",
                          "Invalid access_token: no connection found for this access token.")
    return conn


def _endpoint(state: SandboxState, allowed: set[str], handler: Callable, needs_ready: bool = True):
    async def endpoint(request: Request) -> JSONResponse:
        try:
            conn = _authorize(request, state, allowed)
            if needs_ready and not conn.is_ready:
                raise RutterError(409, "CONNECTION_ERROR", "PRODUCT_NOT_READY",
                                  "The initial sync of this connection has not completed yet.")
            return JSONResponse(handler(request, conn))
        except RutterError as e:
            return JSONResponse(e.body, status_code=e.status)
    return endpoint


def _int_param(request: Request, name: str, default: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?\d{1,16}", raw):
        raise _bad_request("INVALID_PARAMETER", f"{name} must be an integer, got {raw!r}")
    return int(raw)


def _encode_cursor(offset: int, filters: dict) -> str:
    raw = json.dumps({"offset": offset, "filters": filters}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, filters: dict) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset = int(data["offset"])
    except (ValueError, KeyError, TypeError):
        raise _bad_request("INVALID_CURSOR", "The cursor is not one this API returned.") from None
    if data.get("filters") != filters:
        raise _bad_request("INVALID_CURSOR", "The cursor belongs to a request with other filters "
                                             "(access_token, updated_at_min/max must stay the same).")
    return offset


def _updated_ms(record: dict) -> int | None:
    return unix_ms(record["updated_at"]) if record.get("updated_at") else None


def _ordered(records: list[dict], lo: int | None, hi: int | None) -> list[dict]:
    """updated_at DESC, nulls last; a time filter excludes records without updated_at."""
    keyed = [(_updated_ms(r), r) for r in records]
    if lo is not None or hi is not None:
        keyed = [(ms, r) for ms, r in keyed if ms is not None and (lo is None or ms >= lo) and (hi is None or ms <= hi)]
    keyed.sort(key=lambda pair: (pair[0] is None, -(pair[0] or 0), pair[1].get("id", "")))
    return [r for _, r in keyed]


def _list_handler(state: SandboxState, stream: str) -> Callable:
    def handler(request: Request, conn: RutterConnection) -> dict:
        limit = _int_param(request, "limit", DEFAULT_LIMIT)
        if not 1 <= limit <= MAX_LIMIT:
            raise _bad_request("INVALID_PARAMETER", f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        lo, hi = _int_param(request, "updated_at_min"), _int_param(request, "updated_at_max")
        filters = {"connection": conn.id, "stream": stream, "updated_at_min": lo, "updated_at_max": hi}
        cursor = request.query_params.get("cursor")
        offset = 0 if cursor is None else _decode_cursor(cursor, filters)
        records = _ordered(conn.collections.get(stream, []), lo, hi)
        end = offset + state.faults.page_limit("rutter", limit)
        page = {"connection": conn.info(),
                stream: state.faults.skew("rutter", state.faults.malform("rutter", records[offset:end])),
                "next_cursor": _encode_cursor(end, filters) if end < len(records) else None}
        if stream in NO_CONNECTION_KEY:
            del page["connection"]
        return state.faults.drop_records_key("rutter", page, stream)
    return handler


def present(tenant: SandboxCompany, stream: str, records: list[dict]) -> list[dict]:
    """Records as the list endpoint serves them (ground truth for the admin API)."""
    return _ordered(records, None, None)


def _get_handler(stream: str, key: str) -> Callable:
    def handler(request: Request, conn: RutterConnection) -> dict:
        record_id = request.path_params["id"]
        for record in conn.collections.get(stream, []):
            if record.get("id") == record_id:
                return {key: record}
        raise RutterError(404, "INVALID_REQUEST", "NOT_FOUND", f"No {key} with id {record_id}.")
    return handler


def _company_info(request: Request, conn: RutterConnection) -> dict:
    return {"connection": conn.info(), "company_info": conn.company_info}


def _status(request: Request, conn: RutterConnection) -> dict:
    return {"connection": conn.info(),
            "status": {"is_ready": conn.is_ready, "last_sync_completed_at": conn.last_sync_completed_at}}


async def _not_found(request: Request) -> JSONResponse:
    return JSONResponse({"error_type": "INVALID_REQUEST", "error_code": "NOT_FOUND",
                         "error_message": f"Unknown endpoint: {request.method} {request.url.path}"}, 404)


def routes(state: SandboxState) -> list[Route]:
    from sandbox import rutter_bills  # imports this module: here, not at the top

    out = rutter_bills.routes(state)
    for stream, key in STREAMS.items():
        out += [Route(fill(contract.LIST, stream=stream), _endpoint(state, LIST_PARAMS, _list_handler(state, stream))),
                Route(fill(contract.RECORD, stream=stream), _endpoint(state, {"access_token"}, _get_handler(stream, key)))]
    return out + [
        Route(contract.COMPANY_INFO, _endpoint(state, {"access_token"}, _company_info)),
        Route(contract.CONNECTION_STATUS, _endpoint(state, {"access_token"}, _status, needs_ready=False)),
        Route("/{path:path}", _not_found, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
    ]
