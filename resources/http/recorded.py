"""Recorded responses in place of the network: an API resource given `recording` (a folder) serves
every request from it, so asset tests materialize with no server; with `recording_mode="record"` it
calls the real API and writes what came back.

A request is known by its method, path and query, without the values of secret parameters (an
access token in the query) and never by its headers; a token in a response body is written as
"recorded", and the recorded server's origin in a body (a next-page link) as `{origin}`, the
replaying request's own. What was not recorded fails loudly, naming the request.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import urlencode

import dagster as dg
import httpx

SECRET_WORDS = ("token", "secret", "key", "password")
ORIGIN = "{origin}"


def request_line(request: httpx.Request) -> str:
    query = sorted((k, v) for k, v in request.url.params.multi_items() if not _secret(k))
    return f"{request.method} {request.url.path}" + (f"?{urlencode(query)}" if query else "")


def _origin(request: httpx.Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc.decode()}"


def _secret(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_WORDS)


class RecordedTransport(httpx.BaseTransport):
    def __init__(self, folder: Path, record: bool = False):
        self.folder, self.record = folder, record
        self.network = httpx.HTTPTransport() if record else None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        line = request_line(request)
        path = self.folder / f"{hashlib.sha256(line.encode()).hexdigest()[:16]}.json"
        if self.record:
            return self._record(request, line, path)
        if not path.exists():
            # 404: an error the client raises at once (no retries), with this text in its message
            return httpx.Response(404, text=f"not recorded in {self.folder}: {line}", request=request)
        saved = json.loads(path.read_text())
        body = saved["body"].replace(ORIGIN, _origin(request))
        return httpx.Response(saved["status"], headers={"content-type": saved["content_type"]},
                              content=body.encode(), request=request)

    def _record(self, request: httpx.Request, line: str, path: Path) -> httpx.Response:
        response = self.network.handle_request(request)
        body = response.read().decode()
        replayable = body.replace(_origin(request), ORIGIN)
        if "access_token" in body:  # an OAuth2 token response: keep its shape, not the token
            replayable = json.dumps({**json.loads(body), "access_token": "recorded"})
        self.folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"request": line, "status": response.status_code,
                                    "content_type": response.headers.get("content-type", ""), "body": replayable},
                                   indent=1, ensure_ascii=False))
        return httpx.Response(response.status_code, headers={"content-type": response.headers.get("content-type", "")},
                              content=body.encode(), request=request)

    def close(self) -> None:
        if self.network:
            self.network.close()


class ApiResource(dg.ConfigurableResource):
    """What every API resource shares: where its responses come from. The network by default; a
    folder of recorded responses when `recording` names one (tests/fixtures/recorded/<system>)."""

    recording: str | None = None
    recording_mode: str = "replay"  # replay | record

    def transport(self) -> httpx.BaseTransport | None:
        if not self.recording:
            return None
        return RecordedTransport(Path(self.recording), record=self.recording_mode == "record")
