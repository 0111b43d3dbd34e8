"""Jortt clients: the current OAuth2 API (default) and the legacy Basic-auth API (selectable per tenant).

Contract (shared/api-contracts.md §2): client-credentials tokens, cached and renewed before expiry,
asked for again once on `access_token.expired`; `{"data": [...], "_links": {"next": ...}}` paging.
The legacy API pages customers with page/per_page (max 50) and returns invoices in one response.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from resources.contracts import fill
from resources.contracts import jortt as contract
from resources.http import ApiClient, ClientCredentialsAuth, RemoteError, RetryPolicy, presigned_request, shared_limiter
from resources.http.paginators import Lists, Page
from resources.http.recorded import ApiResource
from resources.tenants import Tenant

PRODUCTION_URL = "https://api.jortt.nl"
PRODUCTION_TOKEN_URL = "https://app.jortt.nl" + contract.TOKEN_PATH
PRODUCTION_LEGACY_URL = "https://app.jortt.nl/api"
SCOPES = contract.SCOPES
RATE_LIMIT = contract.RATE_LIMIT


def describe_jortt_error(response: httpx.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):  # current API: {"error": {"code", "key", "message"}}
        return error.get("key"), error.get("message") or error.get("key") or ""
    if isinstance(error, str):  # OAuth: {"error": "invalid_client"}
        return error, body.get("error_description") or error
    return None, json.dumps(body.get("errors", body))[:300]  # legacy: {"errors": {...}}


def token_expired(response: httpx.Response) -> bool:
    return describe_jortt_error(response)[0] == contract.EXPIRED_TOKEN


LINK_REFUSED = (401, 403, 404)


class DownloadLinkRefused(RemoteError):
    """Jortt's pre-signed PDF link was refused, a fresh one too: the PDF cannot be had now."""


class JorttClient(Lists):
    """The current API."""

    paging = contract.PAGING

    def __init__(self, http: ApiClient, max_pages: int):
        self.http, self.max_pages = http, max_pages

    def pages(self, path: str, params: dict | None = None) -> Iterator[Page]:
        """Every page of a list, following `_links.next` until it is null. The bearer token goes with
        every request, so a link is followed only on the configured origin (that of the first page,
        which is at the base URL); a link elsewhere is a RemoteError, never requested."""
        return self.walk(path, "link", params)

    def get(self, path: str) -> dict:
        return self.http.get_json(path)

    def invoice_pdf(self, invoice_id: str) -> bytes:
        """The invoice as Jortt renders it: the download endpoint answers a pre-signed link. A link
        refused or gone (401/403/404) is no credential of ours: a fresh one is asked for once, then
        DownloadLinkRefused."""
        for _ in range(2):
            link = self.http.get_json(fill(contract.INVOICE_DOWNLOAD, invoice_id=invoice_id))[contract.DATA]["download_location"]
            try:
                return presigned_request(f"{self.http.system} download", "GET", link).content
            except RemoteError as error:
                if error.status not in LINK_REFUSED:
                    raise
                refused = error
        raise DownloadLinkRefused(self.http.system, refused.status,
                                  f"invoice {invoice_id}: PDF download link refused twice: {refused}", refused.code)


class JorttLegacyClient(Lists):
    """The legacy API: customers paged by page/per_page, invoices in one response per status."""

    PER_PAGE = contract.LEGACY_PER_PAGE
    paging = contract.PAGING

    def __init__(self, http: ApiClient, max_pages: int):
        self.http, self.max_pages = http, max_pages

    def customer_pages(self) -> Iterator[Page]:
        return self.walk(contract.LEGACY_CUSTOMERS, "page_number", records_key="customers")

    def invoice_pages(self, status: str = "all") -> Iterator[Page]:
        return self.walk(fill(contract.LEGACY_INVOICES, status=status), "single_page")


class JorttResource(ApiResource):
    """Jortt for every tenant; each tenant's client credentials (or legacy key) come from the
    environment under its prefix: JORTT_CLIENT_ID/SECRET, or JORTT_LEGACY_APP_NAME/API_KEY."""

    base_url: str = PRODUCTION_URL
    token_url: str = PRODUCTION_TOKEN_URL
    legacy_base_url: str = PRODUCTION_LEGACY_URL
    scopes: str = SCOPES
    max_pages: int = 100_000
    max_attempts: int = 5

    def _http(self, tenant: Tenant, base_url: str, hint: str, **kwargs) -> ApiClient:
        return ApiClient(
            f"jortt (tenant {tenant.id})", base_url, credentials_hint=hint,
            policy=RetryPolicy(max_attempts=self.max_attempts), describe_error=describe_jortt_error,
            limiter=shared_limiter(f"jortt:{tenant.id}", *RATE_LIMIT), transport=self.transport(), **kwargs,
        )

    @contextmanager
    def client(self, tenant: Tenant) -> Iterator[JorttClient]:
        hint = f"{tenant.env_prefix}JORTT_CLIENT_ID and {tenant.env_prefix}JORTT_CLIENT_SECRET"
        token_url = httpx.URL(self.token_url)
        with self._http(tenant, str(token_url.copy_with(path="/")), hint) as token_http:
            auth = ClientCredentialsAuth(
                token_http, token_url.path, tenant.secret("JORTT_CLIENT_ID"), tenant.secret("JORTT_CLIENT_SECRET"),
                self.scopes, expired=token_expired,
            )
            with self._http(tenant, self.base_url, hint, auth=auth, headers={"accept": "application/json"}) as http:
                yield JorttClient(http, self.max_pages)

    @contextmanager
    def legacy_client(self, tenant: Tenant) -> Iterator[JorttLegacyClient]:
        hint = f"{tenant.env_prefix}JORTT_LEGACY_APP_NAME and {tenant.env_prefix}JORTT_LEGACY_API_KEY"
        auth = (tenant.secret("JORTT_LEGACY_APP_NAME"), tenant.secret("JORTT_LEGACY_API_KEY"))
        with self._http(tenant, self.legacy_base_url, hint, auth=auth) as http:
            yield JorttLegacyClient(http, self.max_pages)

