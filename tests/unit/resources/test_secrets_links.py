"""Server-provided links never carry our credentials elsewhere: Jortt's `_links.next` is followed
with the bearer token, so only on the configured origin. Two real HTTP servers on loopback: a
Jortt stand-in whose next link points at a second one, which records what it received."""

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from resources.http import RemoteError
from resources.jortt import JorttResource
from resources.tenants import Tenant

TOKEN = "bearer-token-under-test"
Answer = Callable[[str], dict]  # request path -> JSON body


@contextmanager
def json_server(answer: Answer) -> Iterator[tuple[str, list[dict]]]:
    """An HTTP server on a free loopback port answering `answer(path)`; yields its origin and the
    requests it received (method, path, Authorization header)."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            received.append({"method": self.command, "path": self.path,
                             "authorization": self.headers.get("Authorization")})
            body = json.dumps(answer(self.path)).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:  # keep the test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def jortt_answer(next_href: str) -> Answer:
    def answer(path: str) -> dict:
        if path.startswith("/oauth/token"):
            return {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 7200}
        if "page=2" in path:
            return {"data": [{"id": "c2"}], "_links": {"next": None}}
        return {"data": [{"id": "c1"}], "_links": {"next": {"href": next_href}}}
    return answer


def read_customers(jortt_origin: str, monkeypatch) -> list[str]:
    monkeypatch.setenv("ACME_JORTT_CLIENT_ID", "client")
    monkeypatch.setenv("ACME_JORTT_CLIENT_SECRET", "secret")
    resource = JorttResource(base_url=jortt_origin, token_url=f"{jortt_origin}/oauth/token", max_attempts=1)
    with resource.client(Tenant("acme", "ACME_")) as client:
        return [r["id"] for page in client.pages("/customers") for r in page.data["data"]]


def test_jortt_next_link_to_another_origin_is_refused_and_gets_no_token(monkeypatch):
    with json_server(lambda path: {"data": [], "_links": {"next": None}}) as (foreign, foreign_received):
        with json_server(jortt_answer(f"{foreign}/customers?page=2")) as (jortt, _):
            with pytest.raises(RemoteError, match="jortt \\(tenant acme\\)") as refused:
                read_customers(jortt, monkeypatch)
    assert foreign_received == []  # not even asked, so no token went there
    assert foreign in str(refused.value)  # the link's origin, to see where it pointed
    assert TOKEN not in str(refused.value) and "page=2" not in str(refused.value)


@pytest.mark.parametrize("href", ["{origin}/customers?page=2", "/customers?page=2"])
def test_jortt_next_link_on_the_configured_origin_is_followed(monkeypatch, href):
    seen: dict = {}
    with json_server(lambda path: jortt_answer(href.format(origin=seen["origin"]))(path)) as (jortt, received):
        seen["origin"] = jortt
        assert read_customers(jortt, monkeypatch) == ["c1", "c2"]
    assert [r["authorization"] for r in received if r["path"].startswith("/customers")] == [f"Bearer {TOKEN}"] * 2
