"""Jortt: the current API (OAuth2 client credentials, mounted at /jortt) and the legacy API
(HTTP Basic, mounted at /jortt-legacy/api). Every credential opens one tenant's administration."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from typing import TYPE_CHECKING, Callable, NamedTuple
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from resources.contracts import jortt as contract
from sandbox import credentials
from sandbox.data import EU, SandboxCompany, money_value
from sandbox.documents import pdf

if TYPE_CHECKING:
    from sandbox.app import SandboxState

TOKEN_TTL = 7200
PAGE_SIZE = 100
LEGACY_MAX_PER_PAGE = 50
COUNTRY_NAMES_NL = {"NL": "Nederland", "BE": "België", "DE": "Duitsland", "FR": "Frankrijk", "ES": "Spanje",
                    "IT": "Italië", "PL": "Polen", "DK": "Denemarken", "IE": "Ierland", "GB": "Verenigd Koninkrijk",
                    "GR": "Griekenland", "BG": "Bulgarije", "AE": "Verenigde Arabische Emiraten", "CN": "China"}
# invoice_status filter -> stored statuses; "late" = sent, unpaid and past its due date.
STATUS_FILTERS = {"draft": {"draft"}, "sent": {"sent", "late", "paid"}, "unpaid": {"sent", "late"},
                  "late": {"late"}, "paid": {"paid"}}
LEGACY_FILTERS = {"all": {"draft", "sent", "late", "paid"}, "due": {"sent"}, "draft": {"draft"},
                  "late": {"late"}, "due_and_late": {"sent", "late"}, "paid": {"paid"}}
LEGACY_STATUS = {"draft": "draft", "sent": "due", "late": "late", "paid": "paid"}  # in the legacy vocabulary
LEDGER_CATEGORIES = contract.LEDGER_CATEGORIES
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Grant(NamedTuple):
    expiry: float  # monotonic
    scopes: set[str]
    tenant: str


class JorttTokens:
    """Issued access tokens, each for one tenant."""

    def __init__(self) -> None:
        self.tokens: dict[str, Grant] = {}

    def issue(self, scopes: set[str], tenant: str) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = Grant(time.monotonic() + TOKEN_TTL, scopes, tenant)
        return token

    def expire_all(self) -> int:
        self.tokens = {t: g._replace(expiry=0.0) for t, g in self.tokens.items()}
        return len(self.tokens)


class JorttError(Exception):
    def __init__(self, status: int, key: str, message: str) -> None:
        super().__init__(message)
        self.status, self.key = status, key


def _error(status: int, key: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": status, "key": key, "message": message}}, status_code=status)


def _grant(request: Request, tokens: JorttTokens, scope: str) -> Grant:
    token = credentials.scheme_value(request.headers.get("authorization"), "Bearer")
    grant = tokens.tokens.get(token or "")
    if grant is None:
        raise JorttError(401, "access_token.invalid", "The access token is invalid.")
    if time.monotonic() >= grant.expiry:
        raise JorttError(401, "access_token.expired", "The access token has expired.")
    if scope not in grant.scopes:
        raise JorttError(403, "scopes.insufficient", f"The access token lacks the scope {scope}.")
    return grant


def _invalid(message: str) -> JorttError:
    return JorttError(422, "params.invalid", message)


def _page(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise _invalid("page must be a positive integer")
    return int(raw)


def _link(request: Request, page: int) -> dict:
    return {"href": str(request.url.include_query_params(page=page))}


def _find(rows: list[dict], rid: str) -> dict:
    for row in rows:
        if row.get("id") == rid:
            return row
    raise JorttError(404, "resource.not_found", f"No resource with id {rid}.")


def pdf_signature(seed: int, invoice_id: str) -> str:
    """Stands in for a pre-signed URL's signature: only the API hands out valid links."""
    return hashlib.sha256(f"{seed}:{invoice_id}".encode()).hexdigest()[:32]


def invoice_pdf(invoice: dict) -> bytes:
    total = invoice["invoice_total_incl_vat"]
    return pdf([f"Factuur {invoice['invoice_number'] or 'concept'}", f"Datum {invoice['invoice_date']}",
                f"Aan {invoice['customer_company_name']}",
                *(f"{ln['number_of_units']} x {ln['description']}" for ln in invoice["line_items"]),
                f"Totaal incl. btw {total['currency']} {money_value(total)}"])


def routes(state: SandboxState) -> list[Route]:
    tokens = state.jortt_tokens

    def api(scope: str, params: set[str]) -> Callable:
        """Bearer token with `scope`, only documented query parameters, the token's tenant to the handler."""
        def wrap(handler: Callable) -> Callable:
            async def endpoint(request: Request) -> Response:
                try:
                    grant = _grant(request, tokens, scope)
                    unknown = sorted(set(request.query_params) - params)
                    if unknown:
                        raise _invalid(f"unknown parameter(s): {', '.join(unknown)}")
                    result = handler(request, state.dataset.tenants[grant.tenant])
                    return result if isinstance(result, Response) else JSONResponse(result)
                except JorttError as e:
                    return _error(e.status, e.key, str(e))
            return endpoint
        return wrap

    def paged(request: Request, rows: list[dict], date_field: str | None, id_field: str = "id") -> dict:
        page = _page(request)
        last = max(1, -(-len(rows) // PAGE_SIZE))
        return {"data": state.faults.malform("jortt", rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], date_field,
                                             id_field),
                "_links": {"previous": _link(request, page - 1) if page > 1 else None,
                           "next": _link(request, page + 1) if page < last else None,
                           "self": _link(request, page)}}

    async def token(request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        client = credentials.basic_auth(request.headers.get("authorization")) or \
            (form.get("client_id"), form.get("client_secret"))
        tenant = state.dataset.tenant_where("jortt_client", tuple(client))
        if tenant is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        scopes = set(form.get("scope", "").split()) or set(credentials.JORTT_SCOPES)
        if scopes - set(credentials.JORTT_SCOPES):
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        return JSONResponse({"access_token": tokens.issue(scopes, tenant.name), "token_type": "Bearer",
                             "expires_in": TOKEN_TTL, "scope": " ".join(sorted(scopes))})

    @api("customers:read", {"page", "query"})
    def customers(request: Request, tenant: SandboxCompany) -> dict:
        query = request.query_params.get("query")
        if query is not None and len(query) < 3:
            raise _invalid("query must be at least 3 characters")
        rows = [c for c in tenant.jortt["customers"] if query is None or query.lower() in c["customer_name"].lower()]
        return paged(request, rows, None)

    @api("invoices:read", {"page", "invoice_status"})
    def invoices(request: Request, tenant: SandboxCompany) -> dict:
        status = request.query_params.get("invoice_status")
        if status is not None and status not in STATUS_FILTERS:
            raise _invalid(f"invoice_status must be one of {', '.join(STATUS_FILTERS)}")
        rows = [i for i in tenant.jortt["invoices"] if status is None or i["invoice_status"] in STATUS_FILTERS[status]]
        return paged(request, rows, "invoice_date")

    @api("invoices:read", set())
    def invoice(request: Request, tenant: SandboxCompany) -> dict:
        return {"data": _find(tenant.jortt["invoices"], request.path_params["invoice_id"])}

    @api("invoices:read", set())
    def download(request: Request, tenant: SandboxCompany) -> dict:
        found = _find(tenant.jortt["invoices"], request.path_params["invoice_id"])
        return {"data": {"download_location": pdf_url(request, state, found["id"])}}

    @api("expenses:read", {"page", "vat_date_from", "vat_date_till"})
    def expenses(request: Request, tenant: SandboxCompany) -> dict:
        q = request.query_params
        for name in ("vat_date_from", "vat_date_till"):
            if name in q and not DATE.fullmatch(q[name]):
                raise _invalid(f"{name} must be a date, YYYY-MM-DD")
        rows = [e for e in tenant.jortt["expenses"] if q.get("vat_date_from", "") <= e["vat_date"]
                and ("vat_date_till" not in q or e["vat_date"] <= q["vat_date_till"])]
        return paged(request, rows, "vat_date")

    @api("expenses:read", {"page"})
    def ledger_accounts(request: Request, tenant: SandboxCompany) -> dict:
        category = request.path_params["category"]
        if category not in LEDGER_CATEGORIES:
            raise JorttError(404, "resource.not_found", f"No ledger account category {category}.")
        return paged(request, tenant.jortt[f"ledger_accounts_{category}"], None, "ledger_account_id")

    @api("organizations:read", set())
    def organization(request: Request, tenant: SandboxCompany) -> dict:
        return {"data": tenant.jortt_organization}

    async def invoice_file(request: Request) -> Response:
        invoice_id = request.path_params["invoice_id"]
        if (request.query_params.get("signature") != pdf_signature(state.dataset.seed, invoice_id)
                or state.faults.settings.refuses_download(invoice_id)):  # fault switch: refused however fresh
            return JSONResponse({"error": "AccessDenied"}, status_code=403)
        for tenant in state.dataset.tenants.values():
            for found in tenant.jortt["invoices"]:
                if found["id"] == invoice_id:
                    return Response(invoice_pdf(found), media_type="application/pdf")
        return JSONResponse({"error": "NoSuchKey"}, status_code=404)

    async def not_found(request: Request) -> JSONResponse:
        return _error(404, "resource.not_found", f"Unknown endpoint: {request.method} {request.url.path}")

    return [
        Route(contract.TOKEN_PATH, token, methods=["POST"]),
        Route(contract.CUSTOMERS, customers),
        Route(contract.INVOICES, invoices),
        Route(contract.INVOICE, invoice),
        Route(contract.INVOICE_DOWNLOAD, download),
        Route(contract.EXPENSES, expenses),
        Route(contract.LEDGER_ACCOUNTS, ledger_accounts),
        Route(contract.ORGANIZATION, organization),
        Route("/downloads/invoices/{invoice_id}.pdf", invoice_file, name="jortt_invoice_pdf"),
        Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]


def pdf_url(request: Request, state: SandboxState, invoice_id: str) -> str:
    """Absolute link to the invoice's PDF: no auth needed, like a pre-signed URL."""
    url = request.url_for("jortt_invoice_pdf", invoice_id=invoice_id)
    return str(url.include_query_params(signature=pdf_signature(state.dataset.seed, invoice_id)))


# ---------------------------------------------------------------- legacy API

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


def _legacy_address(street, city, postal_code, country: str) -> dict:
    return {"street": street, "city": city, "postal_code": postal_code,
            "country": {"code": country, "name": COUNTRY_NAMES_NL.get(country)}}


def legacy_invoice(inv: dict, tenant: SandboxCompany) -> dict:
    """A current-API invoice in the legacy seed's shape: amounts as decimal strings, vat as an integer
    percentage, quantity as a number, the customer under `recipient`, the organization under `creditor`."""
    customer = next((c for c in tenant.jortt["customers"] if c["id"] == inv["customer_id"]), {})
    org, country = tenant.jortt_organization, inv["customer_address_country_code"]
    currency = inv["invoice_total"]["currency"]
    return {
        "invoice_id": inv["id"],
        "recipient": {"company_name": inv["customer_company_name"], "attn": None,
                      "address": _legacy_address(inv["customer_address_street"], inv["customer_address_city"],
                                                 inv["customer_address_postal_code"], country),
                      "email": customer.get("email"), "customer_id": inv["customer_id"], "extra_information": None,
                      "shift_vat": any(ln["vat_percentage"] == "0.0" for ln in inv["line_items"]),
                      "vat_number": inv["customer_vat_number"], "payment_term": customer.get("payment_term")},
        "recipient_in_eu": country in EU,
        "creditor": {"company_name": org["company_name"], "company_name_line_2": None,
                     "address": _legacy_address(org["address_street"], org["address_city"],
                                                org["address_postal_code"], org["address_country_code"]),
                     "phonenumber": None,
                     "bank_information": {"bic": None, "iban": org["bank_account_iban"],
                                          "in_the_name_of": org["company_name"], "description": None},
                     "vat_number": org["tax_registration_number"], "coc_number": org["chamber_of_commerce_number"],
                     "profession": None, "healthcare_data": None, "free_of_vat": False, "finance_email": None},
        "line_items": [{"description": ln["description"], "vat": int(float(ln["vat_percentage"])),
                        "amount": f"{money_value(ln['amount_per_unit']):.2f}",
                        "total_amount_ex_vat": f"{money_value(ln['total_amount_excl_vat']):.2f}",
                        "quantity": float(ln["number_of_units"]), "currency": currency}
                       for ln in inv["line_items"]],
        "invoice_currency": currency,
        "invoice_total": f"{money_value(inv['invoice_total']):.2f}",
        "invoice_total_incl_vat": f"{money_value(inv['invoice_total_incl_vat']):.2f}",
        "invoice_number": inv["invoice_number"], "invoice_status": LEGACY_STATUS[inv["invoice_status"]],
        "invoice_due_date": inv["invoice_due_date"], "invoice_date": inv["invoice_date"],
        "invoice_delivery_period": None, "invoice_remarks": None, "invoice_language": inv["language"],
        "invoice_reference": inv["reference"], "credited_invoice_id": inv["credited_invoice_id"],
    }


def present(tenant: SandboxCompany, stream: str, records: list[dict], api: str | None = None) -> list[dict]:
    """Records as the tenant's API serves them (ground truth for the admin API); the legacy API has
    only customers and invoices, other streams stay in the current API's shape."""
    if (api or tenant.creds.jortt_api) == "legacy" and stream in ("customers", "invoices"):
        return [legacy_customer(r) if stream == "customers" else legacy_invoice(r, tenant) for r in records]
    return records


def _legacy_errors(status: int, field: str, code: str) -> JSONResponse:
    return JSONResponse({"errors": {field: {"code": code}}}, status_code=status)


def legacy_routes(state: SandboxState) -> list[Route]:
    def basic(handler: Callable) -> Callable:
        async def endpoint(request: Request) -> Response:
            creds = credentials.basic_auth(request.headers.get("authorization"))
            tenant = state.dataset.tenant_where("jortt_legacy", creds) if creds else None
            if tenant is None:
                return _legacy_errors(401, "authentication", "invalid")
            return handler(request, tenant)
        return endpoint

    @basic
    def all_customers(request: Request, tenant: SandboxCompany) -> Response:
        page, per_page = request.query_params.get("page", "1"), request.query_params.get("per_page", "50")
        if not page.isdigit() or int(page) < 1:
            return _legacy_errors(400, "page", "invalid")
        if not per_page.isdigit() or not 1 <= int(per_page) <= LEGACY_MAX_PER_PAGE:
            return _legacy_errors(400, "per_page", "invalid")
        page_no, size = int(page), int(per_page)
        rows = tenant.jortt["customers"][(page_no - 1) * size: page_no * size]
        return JSONResponse({"customers": [legacy_customer(c) for c in rows], "page": page_no, "per_page": size})

    @basic
    def invoices_by_status(request: Request, tenant: SandboxCompany) -> Response:
        wanted = LEGACY_FILTERS.get(request.path_params["status"])
        if wanted is None:
            return _legacy_errors(400, "status", "invalid")
        # The seed documents no paging for this list: all of them at once.
        return JSONResponse({"invoices": [legacy_invoice(i, tenant) for i in tenant.jortt["invoices"]
                                          if i["invoice_status"] in wanted]})

    @basic
    def invoice(request: Request, tenant: SandboxCompany) -> Response:
        found = next((i for i in tenant.jortt["invoices"] if i["id"] == request.path_params["invoice_id"]), None)
        if found is None:
            return _legacy_errors(404, "invoice_id", "not_found")
        if request.query_params.get("format") == "pdf":  # the seed: a 302 to a short-lived link
            return RedirectResponse(pdf_url(request, state, found["id"]), status_code=302)
        return JSONResponse(legacy_invoice(found, tenant))

    async def not_found(request: Request) -> JSONResponse:
        return _legacy_errors(404, "path", "not_found")

    return [Route(contract.LEGACY_CUSTOMERS, all_customers),
            Route(contract.LEGACY_INVOICES, invoices_by_status),
            Route(contract.LEGACY_INVOICE, invoice),
            Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]
