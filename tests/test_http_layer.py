"""The shared HTTP layer, over loopback against the sandbox's fault injection."""

import time
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from resources.http import ApiClient, CredentialsError, RemoteError, RetryPolicy, retry_after_seconds


def response_with(retry_after: str) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": retry_after}, request=httpx.Request("GET", "http://x"))


def test_retry_after_in_seconds_and_as_http_date():
    assert retry_after_seconds(response_with("3")) == 3.0
    in_five = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=5), usegmt=True)
    assert 3.5 < retry_after_seconds(response_with(in_five)) <= 5.0
    assert retry_after_seconds(response_with("garbage")) is None


def rutter_http(sandbox, **overrides) -> ApiClient:
    env = sandbox.env()
    return ApiClient(
        "rutter", env["RUTTER_BASE_URL"], credentials_hint="RUTTER_*",
        auth=(overrides.get("client_id", env["RUTTER_CLIENT_ID"]), env["RUTTER_CLIENT_SECRET"]),
        headers={"X-Rutter-Version": "2024-08-31"}, params={"access_token": env["RUTTER_ACCESS_TOKEN"]},
        policy=RetryPolicy(max_attempts=overrides.get("max_attempts", 5), backoff_initial=0.05, backoff_cap=2.0),
    )


def test_429_with_retry_after_is_waited_out_then_succeeds(sandbox):
    sandbox.admin("POST", "faults", json={"rate_limit_burst": 2, "retry_after": 1, "systems": ["rutter"]})
    with rutter_http(sandbox) as http:
        started = time.monotonic()
        body = http.get_json("/accounting/vendors", params={"limit": 5})
        elapsed = time.monotonic() - started
    assert len(body["vendors"]) == 5
    assert http.stats.requests == 3 and http.stats.retries == 2 and http.stats.rate_limited == 2
    assert elapsed >= 2.0  # honoured Retry-After: 1 s, twice


def test_503_burst_and_dropped_connection_are_retried(sandbox):
    sandbox.admin("POST", "faults", json={"unavailable_burst": 2, "systems": ["rutter"]})
    with rutter_http(sandbox) as http:
        assert http.get_json("/accounting/vendors", params={"limit": 5})["vendors"]
        assert http.stats.statuses.get(503) == 2
    sandbox.admin("DELETE", "faults")
    sandbox.admin("POST", "faults", json={"drop_every": 2, "systems": ["rutter"]})
    with rutter_http(sandbox) as http:
        for _ in range(3):
            assert http.get_json("/accounting/vendors", params={"limit": 5})["vendors"]
        assert http.stats.retries >= 1


def test_attempts_are_bounded(sandbox):
    sandbox.admin("POST", "faults", json={"unavailable_every": 1, "systems": ["rutter"]})
    with rutter_http(sandbox, max_attempts=3) as http, pytest.raises(RemoteError, match="gave up after 3 attempts"):
        http.get_json("/accounting/vendors")
    assert http.stats.requests == 3


def test_bad_credentials_fail_fast_with_a_message_naming_what_to_fix(sandbox):
    with rutter_http(sandbox, client_id="wrong") as http, pytest.raises(CredentialsError) as raised:
        http.get_json("/accounting/vendors")
    assert http.stats.requests == 1  # no retry
    assert "RUTTER_*" in str(raised.value) and raised.value.status == 401
    assert sandbox.env()["RUTTER_CLIENT_SECRET"] not in str(raised.value)


def test_rate_limiter_spaces_requests_beyond_its_burst():
    from resources.http import RateLimiter

    limiter = RateLimiter(requests=5, per_seconds=0.5)  # 10 per second, bursts of 5
    started = time.monotonic()
    for _ in range(10):
        limiter.acquire()
    assert time.monotonic() - started >= 0.45  # the 5 beyond the burst waited their turn


# ---------------------------------------------------------------- writes: resent only when safe

INPUT_DOCUMENTS = "/connector-api/input-api/input-documents"


def routty_input(sandbox) -> ApiClient:
    env = sandbox.env()
    return ApiClient("routty", env["ROUTTY_BASE_URL"], credentials_hint="ROUTTY_INPUT_OUTBOUND_API_KEY",
                     headers={"Authorization": f"ApiKey {env['ROUTTY_INPUT_OUTBOUND_API_KEY']}"},
                     policy=RetryPolicy(backoff_initial=0.05, backoff_cap=2.0))


def request_document(http: ApiClient, idempotent: bool) -> httpx.Response:
    """A write Routty does not deduplicate: each one processed is a new input document."""
    return http.request("POST", INPUT_DOCUMENTS, json={"receivedOn": "2024-01-01T00:00:00Z"},
                        headers={"x-correlation-id": "INV-1"}, idempotent=idempotent)


def documents_made(sandbox) -> int:
    return len(sandbox.admin("GET", "routty/documents").json()["documents"])


def test_a_write_answered_502_after_it_was_processed_is_not_sent_again(sandbox):
    sandbox.admin("POST", "faults", json={"lost_response_burst": 1, "systems": ["routty"]})
    with routty_input(sandbox) as http, pytest.raises(RemoteError) as raised:
        request_document(http, idempotent=False)
    assert (type(raised.value).__name__, raised.value.status) == ("OutcomeUnknown", 502)
    assert http.stats.requests == 1 and documents_made(sandbox) == 1  # processed once, never again


@pytest.mark.parametrize(("fault", "idempotent", "attempts", "outcome"), [
    ({"rate_limit_burst": 1, "retry_after": 0}, False, 2, None),  # refused before processing: always resent
    ({"unavailable_burst": 1}, True, 2, None),
    ({"unavailable_burst": 1}, False, 1, "OutcomeUnknown"),
    ({"drop_every": 1}, False, 1, "OutcomeUnknown"),  # dropped after it was sent
])
def test_a_write_is_resent_after_a_5xx_or_a_drop_only_when_marked_idempotent(sandbox, fault, idempotent, attempts,
                                                                               outcome):
    sandbox.admin("POST", "faults", json={**fault, "systems": ["routty"]})
    with routty_input(sandbox) as http:
        try:
            request_document(http, idempotent)
            raised = None
        except RemoteError as error:
            raised = type(error).__name__
    assert (raised, http.stats.requests) == (outcome, attempts)


def test_a_write_must_say_whether_it_may_be_sent_again(sandbox):
    with routty_input(sandbox) as http, pytest.raises(TypeError, match="idempotent"):
        http.request("POST", INPUT_DOCUMENTS, json={"receivedOn": "2024-01-01T00:00:00Z"})
    assert http.stats.requests == 0
