"""The HTTP client every API client uses: timeouts, bounded retries, error classification.

Retry policy lives here and nowhere else (clients only name paths, auth and pagination):
- retried: 429, 452 (Rutter's platform rate limit) and connection errors before the request was
  sent, for every request: the server did not process it; 5xx, timeouts and dropped connections
  only for a request that is safe to send again — exponential backoff with full jitter, capped,
  bounded, and never shorter than a server's `Retry-After`;
- safe to send again: GET/HEAD/PUT/DELETE/OPTIONS, and a write its caller marks `idempotent=True`
  (it carries an idempotency key, or the API deduplicates it). Every other method must say so
  explicitly: there is no guess;
- a write that may already have been processed (5xx, read timeout or dropped connection after it
  was sent) is never resent here: it raises OutcomeUnknown, and the caller finds out what happened
  before trying again, so a retry can never create a duplicate;
- 401/403 fail at once with a message naming the system and the settings to check.
tenacity supplies the retry loop; this module only decides what is retryable and how long to wait.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import tenacity

from resources.http.rate_limit import RateLimiter

log = logging.getLogger(__name__)

NOT_PROCESSED_STATUS = frozenset({429, 452})  # refused before processing (rate limits)
MAYBE_PROCESSED_STATUS = frozenset({500, 502, 503, 504})  # a gateway may say so after the work was done
RETRYABLE_STATUS = NOT_PROCESSED_STATUS | MAYBE_PROCESSED_STATUS
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# Errors raised before a request reached the server: always safe to retry.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class RemoteError(Exception):
    """A remote system answered with an error we do not retry (or ran out of retries)."""

    def __init__(self, system: str, status: int | None, message: str, code: str | None = None):
        super().__init__(f"{system}: {message}" + (f" (HTTP {status})" if status else ""))
        self.system, self.status, self.code, self.detail = system, status, code, message


class CredentialsError(RemoteError):
    """401/403: retrying cannot help; a person has to fix a credential or a permission."""


class OutcomeUnknown(RemoteError):
    """A write that is not safe to send again may or may not have been processed (5xx, or the
    connection failed after it was sent): it was not resent, and the caller must find out."""


class RetryableStatus(Exception):
    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


@dataclass
class HttpStats:
    """Counters for materialization metadata: what a stream cost at the remote end."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """`Retry-After` as seconds, whether given as a number or as an HTTP-date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None  # unreadable: fall back to our own backoff


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_cap: float = 30.0

    def wait(self, state: tenacity.RetryCallState) -> float:
        jittered = tenacity.wait_random_exponential(multiplier=self.backoff_initial, max=self.backoff_cap)(state)
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableStatus):
            floor = retry_after_seconds(error.response)
            if floor is not None:
                # Honour the server's wait; the jitter on top keeps clients from stampeding back.
                return min(floor, self.backoff_cap) + jittered * 0.1
        return jittered


def poll(step: Callable[[], bool], max_wait_seconds: float, first_delay: float = 0.2, max_delay: float = 2.0) -> None:
    """Call `step` until it says it is done (True), waiting between rounds, doubling from `first_delay`
    up to `max_delay`; no wait starts that would end after `max_wait_seconds` (what is still
    pending then is left to the caller, e.g. a sensor). For asynchronous work at a remote end: a
    status to follow, not a failed request (those are RetryPolicy's)."""
    deadline, delay = time.monotonic() + max_wait_seconds, first_delay
    while not step() and time.monotonic() + delay <= deadline:
        time.sleep(delay)
        delay = min(delay * 2, max_delay)


class ApiClient:
    """An httpx.Client with the retry policy and error classification of this project.

    `describe_error` is the system's own parser of an error body into (code, message); it lets
    each client keep its error format while classification stays here.
    """

    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        credentials_hint: str,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        timeout: httpx.Timeout = httpx.Timeout(30.0, connect=5.0),
        policy: RetryPolicy | None = None,
        describe_error=None,
        limiter: RateLimiter | None = None,
        transport: httpx.BaseTransport | None = None,  # recorded responses (recorded.py) instead of the network
    ):
        self.system = system
        self.credentials_hint = credentials_hint
        self.policy = policy or RetryPolicy()
        self.stats = HttpStats()
        self.limiter = limiter
        self._describe_error = describe_error or describe_generic_error
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), auth=auth, headers=headers, params=params, timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, method: str, path: str, *, idempotent: bool | None = None, **kwargs: Any) -> httpx.Response:
        """Send with retries; returns a 2xx/3xx response or raises RemoteError/CredentialsError, or
        OutcomeUnknown when a write that is not `idempotent` may have been processed.

        `idempotent`: whether the request may be sent again after it may have been processed;
        required for methods other than GET/HEAD/PUT/DELETE/OPTIONS."""
        if idempotent is None:
            if method.upper() not in IDEMPOTENT_METHODS:
                raise TypeError(f"{method} {path}: say whether it may be sent again (idempotent=True|False)")
            idempotent = True
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.policy.max_attempts),
            wait=self.policy.wait,
            retry=tenacity.retry_if_exception(functools.partial(_retryable, idempotent)),
            before_sleep=lambda state: self._note_retry(method, path, state),
            reraise=True,
        )
        try:
            return retrying(self._send_once, method, path, **kwargs)
        except RetryableStatus as failed:
            if not idempotent and failed.response.status_code in MAYBE_PROCESSED_STATUS:
                raise self._error(failed.response, "may have been processed: not sent again", OutcomeUnknown) from None
            raise self._error(failed.response, f"gave up after {self.policy.max_attempts} attempts") from None
        except NOT_SENT_ERRORS as error:
            raise RemoteError(self.system, None, f"{method} {path} failed: {type(error).__name__}") from None
        except httpx.TransportError as error:
            kind = RemoteError if idempotent else OutcomeUnknown
            raise kind(self.system, None, f"{method} {path} failed after it was sent: {type(error).__name__}"
                       + ("" if idempotent else "; may have been processed: not sent again")) from None

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def _send_once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.limiter:
            self.limiter.acquire()
        self.stats.requests += 1
        response = self._http.request(method, path, **kwargs)
        self.stats.statuses[response.status_code] = self.stats.statuses.get(response.status_code, 0) + 1
        if response.status_code in RETRYABLE_STATUS:
            if response.status_code in (429, 452):
                self.stats.rate_limited += 1
            raise RetryableStatus(response)
        if response.status_code in (401, 403):
            code, message = self._describe_error(response)
            raise CredentialsError(
                self.system, response.status_code, f"{message or 'access refused'}; check {self.credentials_hint}", code
            )
        if response.status_code >= 400:
            raise self._error(response)
        return response

    def _error(self, response: httpx.Response, suffix: str = "", kind: type[RemoteError] = RemoteError) -> RemoteError:
        code, message = self._describe_error(response)
        path = response.request.url.path  # never the query: it may hold an access token
        text = f"{response.request.method} {path}: {message or response.reason_phrase}" + (f"; {suffix}" if suffix else "")
        return kind(self.system, response.status_code, text, code)

    def _note_retry(self, method: str, path: str, state: tenacity.RetryCallState) -> None:
        self.stats.retries += 1
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s %s %s: %s, retry %d of %d in %.1fs",
            self.system, method, path, error, state.attempt_number, self.policy.max_attempts - 1,
            state.upcoming_sleep,
        )


def _retryable(idempotent: bool, error: BaseException) -> bool:
    """Whether a failed attempt may be sent again: always when the server cannot have processed it,
    otherwise only when the request is safe to repeat."""
    if isinstance(error, RetryableStatus):
        return idempotent or error.response.status_code in NOT_PROCESSED_STATUS
    if isinstance(error, NOT_SENT_ERRORS):
        return True
    return idempotent and isinstance(error, httpx.TransportError)


def describe_generic_error(response: httpx.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200]
    if isinstance(body, dict):
        return body.get("code") or body.get("error_code"), str(body.get("message") or body.get("detail") or body)[:300]
    return None, str(body)[:300]


def presigned_request(system: str, method: str, url: str, *, describe_error=None, **kwargs: Any) -> httpx.Response:
    """One request to a pre-signed, time-limited URL (an upload or download link): no credentials
    of ours travel with it, and its signature (the query) never reaches a log or an error message."""
    parsed = httpx.URL(url)
    http = _link_client(system, str(parsed.copy_with(path="/", query=None)), describe_error)
    return http.request(method, parsed.path, params=dict(parsed.params), **kwargs)


@functools.cache
def _link_client(system: str, origin: str, describe_error) -> ApiClient:
    """One client per origin for the life of the process: links come by the thousand (one per
    document) and a new client each time costs more than the request (its SSL context)."""
    return ApiClient(system, origin, credentials_hint="the link (time-limited)", describe_error=describe_error)
