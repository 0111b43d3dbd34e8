"""The one HTTP layer every client uses: `client` (timeouts, bounded retries, error classification),
`rate_limit` (client-side token buckets), `auth` (OAuth2 client credentials) and `paginators` (the
kinds of paging, and the one loop that walks a list)."""

from resources.http.auth import ClientCredentialsAuth
from resources.http.client import (
    IDEMPOTENT_METHODS,
    MAYBE_PROCESSED_STATUS,
    NOT_PROCESSED_STATUS,
    NOT_SENT_ERRORS,
    RETRYABLE_STATUS,
    ApiClient,
    CredentialsError,
    HttpStats,
    OutcomeUnknown,
    RemoteError,
    RetryableStatus,
    RetryPolicy,
    describe_generic_error,
    poll,
    presigned_request,
    retry_after_seconds,
)
from resources.http.paginators import MissingRecords, Page, Paginator, paginator, records_of, walk
from resources.http.rate_limit import RateLimiter, shared_limiter

__all__ = [
    "IDEMPOTENT_METHODS", "MAYBE_PROCESSED_STATUS", "NOT_PROCESSED_STATUS", "NOT_SENT_ERRORS", "RETRYABLE_STATUS",
    "ApiClient", "ClientCredentialsAuth", "CredentialsError", "HttpStats", "MissingRecords", "OutcomeUnknown", "Page",
    "Paginator", "RateLimiter", "RemoteError", "RetryPolicy", "RetryableStatus", "describe_generic_error",
    "paginator", "poll", "presigned_request", "records_of", "retry_after_seconds", "shared_limiter", "walk",
]
