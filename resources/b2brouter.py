"""B2Brouter client: the Peppol access point where received invoices arrive and issued ones travel.

Contract (shared/api-contracts.md §3): `X-B2B-API-Key` and a pinned `X-B2B-API-Version`, offset
paging (`offset`, `limit` ≤ 500) with the total under `meta.total_count` or `meta.total` (docs and
SDK disagree: accept both; paging ends at the total, never at a short page), `updated_at` = invoices updated after it. Every error names the
`X-B2B-API-Request-Id` B2Brouter's support asks for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from resources.contracts import b2brouter as contract
from resources.contracts import fill
from resources.http import ApiClient, RetryPolicy, describe_generic_error
from resources.http.paginators import Lists, Page
from resources.http.recorded import ApiResource
from resources.tenants import Tenant

PRODUCTION_URL = "https://api.b2brouter.net"
API_VERSION = contract.VERSION


def describe_b2brouter_error(response: httpx.Response) -> tuple[str | None, str]:
    code, message = describe_generic_error(response)
    request_id = response.headers.get(contract.REQUEST_ID_HEADER)
    return code, f"{message} [request id {request_id}]" if request_id else message


class B2BrouterClient(Lists):
    paging = contract.PAGING

    def __init__(self, http: ApiClient, account_id: str, page_size: int, max_pages: int):
        self.http, self.account_id, self.page_size, self.max_pages = http, account_id, page_size, max_pages
        self.path_values = {"account": account_id}

    def pages(self, path: str, records_key: str, params: dict | None = None) -> Iterator[Page]:
        """Offset paging until the API says it was the last page: the total is reached, or, without a
        total, an empty page (resources/http/paginators.py, OffsetPaginator)."""
        return self.walk(path, "offset", params, records_key)

    def invoice_pages(self, invoice_type: str, **filters) -> Iterator[Page]:
        params = {"type": invoice_type, **{k: v for k, v in filters.items() if v is not None}}
        return self.pages(fill(contract.INVOICES, account=self.account_id), "invoices", params)

    def contact_pages(self) -> Iterator[Page]:
        return self.pages(fill(contract.CONTACTS, account=self.account_id), "contacts")

    def account_pages(self) -> Iterator[Page]:
        return self.pages(contract.ACCOUNTS, "accounts")

    def document(self, invoice_id: str, document_type: str = contract.UBL_DOCUMENT) -> bytes:
        path = fill(contract.DOCUMENT, invoice_id=invoice_id, document_type=document_type)
        return self.http.request("GET", path, headers={"accept": "*/*"}).content

    def mark_as(self, invoice_id: str, state: str, reason: str | None = None) -> dict:
        """`POST /invoices/{id}/mark_as` with `{"state": ..., "reason": ...}` (reason only when given) and the
        updated invoice back (`{"invoice": {...}}`). ASSUMED body shape: the seed and contract name the endpoint
        only. Marking the same state again is harmless, so it is retried as idempotent."""
        body = {"state": state, **({"reason": reason} if reason is not None else {})}
        parsed = self.http.request("POST", fill(contract.MARK_AS, invoice_id=invoice_id), json=body, idempotent=True).json()
        return parsed.get("invoice", parsed)


class B2BrouterResource(ApiResource):
    """B2Brouter for every tenant; each tenant's key and account come from the environment under
    its prefix: B2BROUTER_API_KEY, B2BROUTER_ACCOUNT_ID."""

    base_url: str = PRODUCTION_URL
    api_version: str = API_VERSION
    page_size: int = contract.MAX_LIMIT  # the API's maximum
    max_pages: int = 100_000
    max_attempts: int = 5

    @contextmanager
    def client(self, tenant: Tenant) -> Iterator[B2BrouterClient]:
        http = ApiClient(
            f"b2brouter (tenant {tenant.id})",
            self.base_url,
            credentials_hint=f"{tenant.env_prefix}B2BROUTER_API_KEY",
            headers={
                contract.KEY_HEADER: tenant.secret("B2BROUTER_API_KEY"),
                contract.VERSION_HEADER: self.api_version,
                "accept": "application/json",
            },
            policy=RetryPolicy(max_attempts=self.max_attempts),
            describe_error=describe_b2brouter_error,
            transport=self.transport(),
        )
        with http:
            yield B2BrouterClient(http, tenant.secret("B2BROUTER_ACCOUNT_ID"), self.page_size, self.max_pages)
