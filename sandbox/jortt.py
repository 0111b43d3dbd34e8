"""Jortt: the current API (OAuth2 client credentials, mounted at /jortt) and the legacy API
(HTTP Basic, mounted at /jortt-legacy/api)."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox import credentials

if TYPE_CHECKING:
    from sandbox.app import SandboxState

TOKEN_TTL = 7200
PAGE_SIZE = 100
LEGACY_MAX_PER_PAGE = 50
COUNTRY_NAMES_NL = {"NL": "Nederland", "BE": "België", "DE": "Duitsland", "FR": "Frankrijk", "ES": "Spanje",
                    "IT": "Italië", "PL": "Polen", "DK": "Denemarken", "IE": "Ierland", "GB": "Verenigd Koninkrijk",
                    "GR": "Griekenland", "BG": "Bulgarije", "AE": "Verenigde Arabische Emiraten", "CN": "China"}


class JorttTokens:
    """Issued access tokens: token -> (monotonic expiry, scopes)."""

    def __init__(self) -> None:
        self.tokens: dict[str, tuple[float, set[str]]] = {}

    def issue(self, scopes: set[str]) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = (time.monotonic() + TOKEN_TTL, scopes)
        return token

    def expire_all(self) -> int:
        self.tokens = {t: (0.0, s) for t, (_, s) in self.tokens.items()}
        return len(self.tokens)


def _error(status: int, key: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "key": key, "message": message}}, status_code=status)


def _check_token(request: Request, tokens: JorttTokens, scope: str) -> JSONResponse | None:
    """None if the bearer token is valid and carries `scope`, else the error response."""
    token = credentials.scheme_value(request.headers.get("authorization"), "Bearer")
    expiry, scopes = tokens.tokens.get(token or "", (None, set()))
    if expiry is None:
        return _error(401, "access_token.invalid", "The access token is invalid.")
    if time.monotonic() >= expiry:
        return _error(401, "access_token.expired", "The access token has expired.")
    if scope not in scopes:
        return _error(403, "scopes.insufficient", f"The access token lacks the scope {scope}.")
    return None


def _page(request: Request) -> int | None:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and int(raw) >= 1 else None


def _link(request: Request, page: int) -> dict:
    return {"href": str(request.url.include_query_params(page=page))}


def routes(state: SandboxState) -> list[Route]:
    tokens = state.jortt_tokens

    async def token(request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        client = credentials.basic_auth(request.headers.get("authorization")) or \
            (form.get("client_id"), form.get("client_secret"))
        if client != (credentials.JORTT_CLIENT_ID, credentials.JORTT_CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        scopes = set(form.get("scope", "").split()) or set(credentials.JORTT_SCOPES)
        if scopes - set(credentials.JORTT_SCOPES):
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        return JSONResponse({"access_token": tokens.issue(scopes), "token_type": "Bearer",
                             "expires_in": TOKEN_TTL, "scope": " ".join(sorted(scopes))})

    async def customers(request: Request) -> JSONResponse:
        if (denied := _check_token(request, tokens, "customers:read")) is not None:
            return denied
        page, query = _page(request), request.query_params.get("query")
        if page is None or (query is not None and len(query) < 3):
            return _error(422, "params.invalid", "page must be a positive integer; query at least 3 characters.")
        rows = [c for c in state.dataset.jortt_customers
                if query is None or query.lower() in c["customer_name"].lower()]
        last = max(1, -(-len(rows) // PAGE_SIZE))
        return JSONResponse({"data": rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE],
                             "_links": {"previous": _link(request, page - 1) if page > 1 else None,
                                        "next": _link(request, page + 1) if page < last else None}})

    async def organization(request: Request) -> JSONResponse:
        if (denied := _check_token(request, tokens, "organizations:read")) is not None:
            return denied
        return JSONResponse({"data": state.dataset.jortt_organization})

    async def not_found(request: Request) -> JSONResponse:
        return _error(404, "resource.not_found", f"Unknown endpoint: {request.method} {request.url.path}")

    return [
        Route("/oauth-provider/oauth/token", token, methods=["POST"]),
        Route("/customers", customers),
        Route("/organizations/me", organization),
        Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]


def legacy_customer(c: dict) -> dict:
    """A current-API customer in the legacy API's field names."""
    return {"customer_id": c["id"], "finance_company_name": c["customer_name"],
            "finance_address_street": c["address_street"], "finance_address_city": c["address_city"],
            "finance_address_postal_code": c["address_postal_code"],
            "finance_address_country_code": c["address_country_code"],
            "finance_address_country_name": COUNTRY_NAMES_NL.get(c["address_country_code"]),
            "finance_attn": None, "finance_email": c["email"], "finance_extra_information": None,
            "vat_number": c["vat_number"], "payment_term": c["payment_term"], "deleted": c["archived"],
            "invoice_language": "nl" if c["address_country_code"] in ("NL", "BE") else "en"}


def legacy_routes(state: SandboxState) -> list[Route]:
    async def all_customers(request: Request) -> JSONResponse:
        if credentials.basic_auth(request.headers.get("authorization")) != (
                credentials.JORTT_LEGACY_APP_NAME, credentials.JORTT_LEGACY_API_KEY):
            return JSONResponse({"errors": {"authentication": {"code": "invalid"}}}, status_code=401)
        page, per_page = request.query_params.get("page", "1"), request.query_params.get("per_page", "50")
        if not page.isdigit() or int(page) < 1:
            return JSONResponse({"errors": {"page": {"code": "invalid"}}}, status_code=400)
        if not per_page.isdigit() or not 1 <= int(per_page) <= LEGACY_MAX_PER_PAGE:
            return JSONResponse({"errors": {"per_page": {"code": "invalid"}}}, status_code=400)
        page_no, size = int(page), int(per_page)
        rows = state.dataset.jortt_customers[(page_no - 1) * size: page_no * size]
        return JSONResponse({"customers": [legacy_customer(c) for c in rows], "page": page_no, "per_page": size})

    async def not_found(request: Request) -> JSONResponse:
        return JSONResponse({"errors": {"path": {"code": "not_found"}}}, status_code=404)

    return [Route("/customers/all", all_customers),
            Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]
