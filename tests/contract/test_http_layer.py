"""The shared HTTP layer, over loopback against the sandbox's fault injection."""

import time
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from resources.contracts import routty as routty_api
from resources.contracts import rutter as rutter_api
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
        headers={rutter_api.VERSION_HEADER: rutter_api.VERSION}, params={"access_token": env["RUTTER_ACCESS_TOKEN"]},
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

INPUT_DOCUMENTS = routty_api.INPUT_DOCUMENTS


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


# ---------------------------------------------------------------- paginators: one loop, five kinds


def walked(kind: str, responses: list, path: str = "/list", params=None, max_pages: int = 10, **settings):
    """The requests a walk sends (path, params) and the pages it yields, answered from `responses`."""
    from resources.http.paginators import paginator, walk

    sent, answers = [], list(responses)

    def get(p, q):
        sent.append((p, q))
        url = p if p.startswith("http") else f"http://api.test{p}"
        return httpx.Response(200, json=answers.pop(0), request=httpx.Request("GET", url))

    pages = [page.data for page in walk(get, "sys (tenant t)", path, paginator(kind, **settings), params, max_pages)]
    return sent, pages


def test_cursor_paging_sends_the_cursor_back_until_there_is_none():
    sent, pages = walked("cursor", [{"r": [1], "next_cursor": "c1"}, {"r": [2], "next_cursor": None}],
                         params={"updated_at_min": 5}, page_size=1, cursor_path="next_cursor", cursor_param="cursor",
                         limit_param="limit")
    assert sent == [("/list", {"limit": 1, "updated_at_min": 5}),
                    ("/list", {"limit": 1, "updated_at_min": 5, "cursor": "c1"})]
    assert len(pages) == 2


def test_link_paging_follows_links_on_its_own_origin_only():
    link = "_links.next.href"
    sent, _ = walked("link", [{"data": [], "_links": {"next": {"href": "/list?page=2"}}}, {"data": [], "_links": {}}],
                     next_url_path=link)
    assert sent == [("/list", {}), ("/list?page=2", None)]
    with pytest.raises(RemoteError, match=r"sys \(tenant t\): /list: next link leads to another origin "
                                          r"\(https://evil.test\); not followed"):
        walked("link", [{"_links": {"next": {"href": "https://evil.test/list?page=2"}}}], next_url_path=link)


def test_page_number_paging_ends_at_a_short_page_or_the_total():
    sent, _ = walked("page_number", [{"c": [1, 2]}, {"c": [3]}], page_size=2, page_param="page",
                     size_param="per_page", records_path="c")
    assert sent == [("/list", {"page": 1, "per_page": 2}), ("/list", {"page": 2, "per_page": 2})]
    sent, _ = walked("page_number", [{"items": [1, 2], "totalCount": 4}, {"items": [3, 4], "totalCount": 4}],
                     page_size=2, page_param="pageNumber", size_param="pageSize", records_path="items",
                     total_path="totalCount")
    assert [q["pageNumber"] for _, q in sent] == [1, 2]


def test_offset_paging_fails_on_a_page_without_its_records():
    from resources.http.paginators import MissingRecords

    settings = dict(page_size=2, records_path="invoices", offset_param="offset", limit_param="limit",
                    total_paths=("meta.total_count", "meta.total"))
    sent, _ = walked("offset", [{"invoices": [1, 2], "meta": {"total": 3}}, {"invoices": [3], "meta": {"total": 3}}],
                     params={"type": "X"}, **settings)
    assert sent == [("/list", {"type": "X", "offset": 0, "limit": 2}), ("/list", {"type": "X", "offset": 2, "limit": 2})]
    with pytest.raises(MissingRecords, match=r"sys \(tenant t\): /list at offset 0 has no 'invoices' list"):
        walked("offset", [{"meta": {}}], **settings)


def test_a_walk_is_bounded_and_a_single_page_is_one_request():
    with pytest.raises(RemoteError, match="/list still had pages after max_pages=2"):
        walked("cursor", [{"next_cursor": "a"}, {"next_cursor": "b"}], max_pages=2, page_size=1,
               cursor_path="next_cursor", cursor_param="cursor", limit_param="limit")
    sent, pages = walked("single_page", [{"data": {"id": 1}}], page_size=50)
    assert sent == [("/list", None)] and pages == [{"data": {"id": 1}}]


def test_poll_waits_with_doubling_delays_and_stops_at_the_deadline(monkeypatch):
    from resources.http import client, poll

    slept, rounds = [], []
    monkeypatch.setattr(client.time, "sleep", slept.append)
    poll(lambda: rounds.append(1) or len(rounds) == 4, max_wait_seconds=60)
    assert len(rounds) == 4 and slept == [0.2, 0.4, 0.8]
    slept.clear()
    poll(lambda: False, max_wait_seconds=0.0)  # no wait would end in time: one round only
    assert slept == []
