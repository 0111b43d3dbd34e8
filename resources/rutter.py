"""Rutter client: the unified accounting API (vendors, company info; more streams in later issues).

Contract (shared/api-contracts.md §1): Basic auth with the client id/secret, the connection chosen by
the `access_token` query parameter, `X-Rutter-Version` pinned, cursor pagination through
`next_cursor`, `updated_at_min` in Unix milliseconds. Version 2024-08-31 answers 400 to any unknown
query parameter, so only the documented ones are ever sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import httpx
from pydantic import PrivateAttr

from resources.contracts import fill
from resources.contracts import rutter as contract
from resources.http import ApiClient, CredentialsError, RateLimiter, RemoteError, RetryPolicy, shared_limiter
from resources.http.paginators import Lists, Page, records_of
from resources.http.recorded import ApiResource
from resources.tenants import Tenant

PRODUCTION_URL = "https://production.rutterapi.com/versioned"
# Rutter's limit is 500 requests per 10 s per organization, across all its connections (tenants).
RATE_LIMIT = contract.RATE_LIMIT
# The Dagster pool of every step that calls Rutter. The organization's limit must hold across the
# parallel runs of all companies; the instance coordinates a pool (its storage, not a shared disk:
# it holds on Kubernetes too), so with a pool limit of k at most k Rutter steps run at once, each
# with 1/k of the limit. A process-wide limiter would need a store of its own shared by every pod.
POOL = "rutter"
# Error codes that only a person can fix (reconnect the books, re-authorize): no retry.
FAIL_FAST_CODES = frozenset({"INVALID_CREDENTIALS", "CONNECTION_DISABLED", "NEEDS_UPDATE"})


class RutterNotReady(RemoteError):
    """PRODUCT_NOT_READY: the connection's initial sync is still running. Skip it this run."""


# Rutter stores the first accepted request's result per Idempotency-Key, errors too, and answers it
# again (header Idempotent-Replayed): such an error is this code, whatever the stored one was.
REPLAYED = "IDEMPOTENT_REPLAYED"


def describe_rutter_error(response: httpx.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
        code, message = body.get("error_code"), body.get("error_message") or body.get("error_type") or ""
    except (ValueError, AttributeError):
        code, message = None, response.text[:200]
    if response.headers.get("idempotent-replayed", "").lower() == "true":
        return REPLAYED, f"{message} (the stored result of this Idempotency-Key, code {code})"
    return code, message


class RutterClient(Lists):
    paging = contract.PAGING

    def __init__(self, http: ApiClient, page_size: int, max_pages: int, hint: str):
        self.http, self.page_size, self.max_pages, self.hint = http, page_size, max_pages, hint

    def pages(
        self, stream: str, *, updated_at_min_ms: int | None = None, updated_at_max_ms: int | None = None
    ) -> Iterator[Page]:
        """Every page of `/accounting/{stream}`, newest first, until `next_cursor` is empty: the only
        sign of the last page (a short page is none; a page without its list fails in the spool)."""
        window = ((contract.UPDATED_AT_MIN, updated_at_min_ms), (contract.UPDATED_AT_MAX, updated_at_max_ms))
        return self.walk(fill(contract.LIST, stream=stream), "cursor", {k: v for k, v in window if v is not None})

    def get(self, path: str) -> dict:
        """One non-list resource (company_info, connection status)."""
        return self._get(path, {}).json()

    def create_bill(self, bill_json: str, idempotency_key: str) -> dict:
        """Create a bill in the books from its JSON text, sent as it is (byte for byte on every resend).
        Rutter keeps the key: the same key with the same body answers the same bill, so this request
        may be retried after a timeout or a crash without a second bill."""
        response = self.http.request("POST", contract.BILLS, content=f'{{"bill":{bill_json}}}'.encode(),
                                     idempotent=True, headers={"Idempotency-Key": idempotency_key,
                                                               "content-type": "application/json"})
        return response.json()["bill"]

    def find_bill(self, vendor_id: str, document_number: str | None, memo: str | None,
                  updated_at_min_ms: int | None) -> dict | None:
        """The bill of this vendor with this document number (or, without one, this memo) changed since
        then (None: ever). Rutter's bills list has no such filter (2024-08-31 refuses unknown
        parameters): the time window keeps the walk short. A page without its list is an error, never
        "no such bill": that answer lets a new bill be made."""
        for number, page in enumerate(self.pages("bills", updated_at_min_ms=updated_at_min_ms), 1):
            for bill in records_of(page.data, "bills", self.http.system, f"GET {contract.BILLS} page {number}"):
                if bill.get("vendor_id") == vendor_id and (
                        bill.get("document_number") == document_number if document_number else bill.get("memo") == memo):
                    return bill
        return None

    def _get(self, path: str, params: dict | None) -> httpx.Response:
        try:
            return self.http.request("GET", path, params=params)
        except RemoteError as error:
            if error.code == contract.NOT_READY:
                raise RutterNotReady(self.http.system, error.status, f"connection is still syncing ({contract.NOT_READY})", error.code) from None
            if error.code in FAIL_FAST_CODES and not isinstance(error, CredentialsError):
                raise CredentialsError(self.http.system, error.status, f"{error}; check {self.hint}", error.code) from None
            raise


class RutterResource(ApiResource):
    """Our Rutter organization; each tenant's books are a connection chosen by its access token."""

    base_url: str = PRODUCTION_URL
    client_id: str
    client_secret: str
    version: str = contract.VERSION
    page_size: int = 50  # Rutter publishes no maximum; 50 is its default
    max_pages: int = 100_000
    max_attempts: int = 5
    _pool_limit: int | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._pool_limit = pool_limit(context.instance) if context.instance else None
        if self._pool_limit is None and context.log:
            context.log.warning(f"Dagster pool {POOL!r} has no limit on this instance: Rutter steps of parallel "
                                "runs do not take turns and may together exceed Rutter's organization limit "
                                f"(set concurrency.pools.default_limit or `dagster instance concurrency set {POOL} 1`)")

    def limiter(self) -> RateLimiter:
        """With the pool limited, this step's share of the organization's limit (its own bucket: the
        slot is its turn); without, the run's (one bucket per process, as steps run one by one)."""
        requests, seconds = RATE_LIMIT
        if self._pool_limit:
            return RateLimiter.taking_turns(requests // self._pool_limit, seconds)
        return shared_limiter(f"rutter:{self.base_url}", requests, seconds)

    @contextmanager
    def client(self, tenant: Tenant) -> Iterator[RutterClient]:
        hint = f"RUTTER_CLIENT_ID, RUTTER_CLIENT_SECRET and {tenant.env_prefix}RUTTER_ACCESS_TOKEN"
        http = ApiClient(
            f"rutter (tenant {tenant.id})",
            self.base_url,
            credentials_hint=hint,
            auth=(self.client_id, self.client_secret),
            headers={contract.VERSION_HEADER: self.version, "Accept": "application/json"},
            params={contract.ACCESS_TOKEN_PARAM: tenant.secret("RUTTER_ACCESS_TOKEN")},
            policy=RetryPolicy(max_attempts=self.max_attempts),
            describe_error=describe_rutter_error,
            limiter=self.limiter(),
            transport=self.transport(),
        )
        with http:
            yield RutterClient(http, self.page_size, self.max_pages, hint)


def pool_limit(instance: dg.DagsterInstance) -> int | None:
    """How many Rutter steps the instance lets run at once: the pool's limit, else the default
    limit it will get (concurrency.pools.default_limit); None when nothing limits them."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return None
    limits = {pool.name: pool.limit for pool in storage.get_pool_limits()}
    return limits.get(POOL) or instance.get_concurrency_config().pool_config.default_pool_limit or None
