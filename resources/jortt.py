"""Jortt clients: the current OAuth2 API (default) and the legacy Basic-auth API (selectable per tenant).

Contract (shared/api-contracts.md §2): client-credentials tokens, cached and renewed before expiry,
asked for again once on `access_token.expired`; `{"data": [...], "_links": {"next": ...}}` paging.
The legacy API pages customers with page/per_page (max 50) and returns invoices in one response.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import httpx

from resources.http import ApiClient, RemoteError, RetryPolicy, presigned_request, shared_limiter
from resources.pages import Page
from resources.tenants import Tenant

PRODUCTION_URL = "https://api.jortt.nl"
PRODUCTION_TOKEN_URL = "https://app.jortt.nl/oauth-provider/oauth/token"
PRODUCTION_LEGACY_URL = "https://app.jortt.nl/api"
SCOPES = "customers:read invoices:read invoices:write expenses:read organizations:read"
RATE_LIMIT = (10, 1.0)  # 10 requests per second
RENEW_BEFORE_EXPIRY = 300.0


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


class ClientCredentialsAuth(httpx.Auth):
    """Bearer token from the client-credentials grant: cached, renewed five minutes before it
    expires, and asked for again once when the API says `access_token.expired`."""

    requires_response_body = True

    def __init__(self, token_client: ApiClient, token_path: str, client_id: str, client_secret: str, scopes: str):
        self._token_client, self._token_path = token_client, token_path
        self._credentials, self._scopes = (client_id, client_secret), scopes
        self._token, self._expires_at, self._lock = "", 0.0, threading.Lock()

    def auth_flow(self, request: httpx.Request):
        request.headers["Authorization"] = f"Bearer {self._current_token()}"
        response = yield request
        if response.status_code == 401 and describe_jortt_error(response)[0] == "access_token.expired":
            request.headers["Authorization"] = f"Bearer {self._current_token(renew=True)}"
            yield request

    def _current_token(self, renew: bool = False) -> str:
        with self._lock:
            if renew or time.monotonic() > self._expires_at - RENEW_BEFORE_EXPIRY:
                body = self._token_client.request(
                    "POST", self._token_path, auth=self._credentials, idempotent=True,
                    data={"grant_type": "client_credentials", "scope": self._scopes},
                ).json()
                self._token = body["access_token"]
                self._expires_at = time.monotonic() + float(body.get("expires_in", 7200))
            return self._token


LINK_REFUSED = (401, 403, 404)


class DownloadLinkRefused(RemoteError):
    """Jortt's pre-signed PDF link was refused, a fresh one too: the PDF cannot be had now."""


class JorttClient:
    """The current API."""

    def __init__(self, http: ApiClient, max_pages: int):
        self.http, self.max_pages = http, max_pages

    def pages(self, path: str, params: dict | None = None) -> Iterator[Page]:
        """Every page of a list, following `_links.next` until it is null. The bearer token goes with
        every request, so a link is followed only on the configured origin (that of the first page,
        which is at the base URL); a link elsewhere is a RemoteError, never requested."""
        url, params, origin = path, dict(params or {}), None
        for _ in range(self.max_pages):
            response = self.http.request("GET", url, params=params)
            origin = origin or (response.url.scheme, response.url.host, response.url.port)
            parsed = response.json()
            yield Page(parsed)
            next_link = (parsed.get("_links") or {}).get("next")
            if not next_link or not next_link.get("href"):
                return
            url, params = next_link["href"], None  # the link carries its own query
            link = httpx.URL(url)  # a link without a host stays under the base URL
            if link.host and (link.scheme, link.host, link.port) != origin:
                elsewhere = f"{link.scheme}://{link.host}" + (f":{link.port}" if link.port else "")
                raise RemoteError(self.http.system, None, f"{path}: next link leads to another origin "
                                  f"({elsewhere}); not followed, as it would receive our token")
        raise RemoteError(self.http.system, None, f"{path} still had pages after max_pages={self.max_pages}")

    def get(self, path: str) -> dict:
        return self.http.get_json(path)

    def invoice_pdf(self, invoice_id: str) -> bytes:
        """The invoice as Jortt renders it: the download endpoint answers a pre-signed link. A link
        refused or gone (401/403/404) is no credential of ours: a fresh one is asked for once, then
        DownloadLinkRefused."""
        for _ in range(2):
            link = self.http.get_json(f"/invoices/{invoice_id}/download")["data"]["download_location"]
            try:
                return presigned_request(f"{self.http.system} download", "GET", link).content
            except RemoteError as error:
                if error.status not in LINK_REFUSED:
                    raise
                refused = error
        raise DownloadLinkRefused(self.http.system, refused.status,
                                  f"invoice {invoice_id}: PDF download link refused twice: {refused}", refused.code)


class JorttLegacyClient:
    """The legacy API: customers paged by page/per_page, invoices in one response per status."""

    PER_PAGE = 50

    def __init__(self, http: ApiClient, max_pages: int):
        self.http, self.max_pages = http, max_pages

    def customer_pages(self) -> Iterator[Page]:
        for page in range(1, self.max_pages + 1):
            parsed = self.http.get_json("/customers/all", params={"page": page, "per_page": self.PER_PAGE})
            yield Page(parsed)
            if len(parsed.get("customers") or []) < self.PER_PAGE:
                return
        raise RemoteError(self.http.system, None, f"/customers/all still had pages after max_pages={self.max_pages}")

    def invoice_pages(self, status: str = "all") -> Iterator[Page]:
        yield Page(self.http.get_json(f"/invoices/status/{status}"))


class JorttResource(dg.ConfigurableResource):
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
            limiter=shared_limiter(f"jortt:{tenant.id}", *RATE_LIMIT), **kwargs,
        )

    @contextmanager
    def client(self, tenant: Tenant) -> Iterator[JorttClient]:
        hint = f"{tenant.env_prefix}JORTT_CLIENT_ID and {tenant.env_prefix}JORTT_CLIENT_SECRET"
        token_url = httpx.URL(self.token_url)
        with self._http(tenant, str(token_url.copy_with(path="/")), hint) as token_http:
            auth = ClientCredentialsAuth(
                token_http, token_url.path, tenant.secret("JORTT_CLIENT_ID"), tenant.secret("JORTT_CLIENT_SECRET"),
                self.scopes,
            )
            with self._http(tenant, self.base_url, hint, auth=auth, headers={"accept": "application/json"}) as http:
                yield JorttClient(http, self.max_pages)

    @contextmanager
    def legacy_client(self, tenant: Tenant) -> Iterator[JorttLegacyClient]:
        hint = f"{tenant.env_prefix}JORTT_LEGACY_APP_NAME and {tenant.env_prefix}JORTT_LEGACY_API_KEY"
        auth = (tenant.secret("JORTT_LEGACY_APP_NAME"), tenant.secret("JORTT_LEGACY_API_KEY"))
        with self._http(tenant, self.legacy_base_url, hint, auth=auth) as http:
            yield JorttLegacyClient(http, self.max_pages)

