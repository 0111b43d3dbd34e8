"""Fault injection for the API mounts: latency, 429, 503, dropped connections, answers lost after the
request was processed (502), malformed records, and per-document switches: blob PUTs refused for good
(Routty), PDF download links refused however fresh (Jortt).

Everything is counted per system (and reset whenever the settings change), so a test that turns a
fault on knows exactly which of its next requests is hit.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
import uuid
from collections import Counter, deque
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone

from starlette.responses import JSONResponse

SYSTEMS = ("rutter", "routty", "jortt", "jortt-legacy", "b2brouter")
ID_LISTS = ("refuse_uploads", "refuse_downloads", "latin1_documents")
STATUS = {"rate_limit": 429, "lost_response": 502}  # any other fault: 503


@dataclass
class FaultSettings:
    latency_ms: int = 0
    rate_limit_every: int = 0  # every Nth request -> 429
    rate_limit_burst: int = 0  # the next K requests -> 429
    retry_after: int = 1  # seconds, in the Retry-After header of a 429
    # A limit per system (Rutter's is per organization: the sandbox has one), e.g. Rutter's 500 per
    # 10 000 ms: a request beyond `window_limit` in the last `window_ms` -> 429. Every request counts, refused ones too.
    window_limit: int = 0
    window_ms: int = 10_000
    unavailable_every: int = 0  # every Nth request -> 503
    unavailable_burst: int = 0  # the next K requests -> 503
    drop_every: int = 0  # every Nth request: connection closed mid-response
    malformed_every: int = 0  # every Nth record of a list page (Rutter, Jortt current, B2Brouter) is malformed
    # Ingest faults of list pages (Rutter, B2Brouter), each counted per system:
    future_dated_every: int = 0  # every Nth record served has updated_at 2099-01-01T00:00:00Z
    naive_times_every: int = 0  # every Nth record served has its *_at times in UTC without an offset
    short_page_max: int = 0  # pages hold at most N records, whatever the limit; next_cursor/total_count still say more
    drop_records_key_every: int = 0  # every Nth list page served lacks its records key (e.g. no "invoices")
    lost_response_burst: int = 0  # the next K requests are processed, then answered 502 (the answer is lost)
    lost_response_every: int = 0  # every Nth write (not GET) is processed, then answered 502
    systems: list[str] | None = None  # None = all systems
    # Per-document switches, whatever `systems` says:
    refuse_uploads: list[str] | None = None  # Routty correlation ids whose blob PUTs (main, attachments) answer 403
    refuse_downloads: list[str] | None = None  # Jortt invoice ids whose PDF link answers 403, however fresh
    latin1_documents: list[str] | None = None  # B2Brouter invoice ids whose UBL document is served in ISO-8859-1

    def refuses_upload(self, correlation_id: str) -> bool:
        return correlation_id in (self.refuse_uploads or ())

    def refuses_download(self, invoice_id: str) -> bool:
        return invoice_id in (self.refuse_downloads or ())

    def applies_to(self, system: str) -> bool:
        return self.systems is None or system in self.systems


class DroppedConnection(Exception):
    """Raised after the response headers: uvicorn then closes the socket, the client sees a
    transport error (incomplete body)."""


class QuietDrops(logging.Filter):
    """Keep uvicorn from logging a traceback for each deliberate drop."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


class Faults:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.settings = FaultSettings()
        self._restart_counts()

    def _restart_counts(self) -> None:
        self.requests: Counter[str] = Counter()
        self.writes: Counter[str] = Counter()  # requests that are not GETs
        self.injected: Counter[str] = Counter()  # faults answered, by kind
        self.records: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self.ingest_records: Counter[str] = Counter()  # records and pages seen by the ingest faults below
        self.ingest_pages: Counter[str] = Counter()
        self.burst_used = {"rate_limit": Counter(), "unavailable": Counter(), "lost_response": Counter()}
        self.recent: dict[str, deque] = {}  # arrival times within the window, per system
        self.busiest_window: Counter[str] = Counter()  # most requests that arrived in any window, per system

    def update(self, changes: dict) -> FaultSettings:
        """Partial update; raises ValueError on an unknown name or a bad value."""
        known = {f.name for f in fields(FaultSettings)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        merged = {**asdict(self.settings), **changes}
        for name, value in merged.items():
            if name == "systems":
                if value is not None and (not isinstance(value, list) or not set(map(str, value)) <= set(SYSTEMS)):
                    raise ValueError(f"systems must be null or a list drawn from {list(SYSTEMS)}")
            elif name in ID_LISTS:
                if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                    raise ValueError(f"{name} must be null or a list of ids")
            elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        self.settings = FaultSettings(**merged)
        self._restart_counts()
        return self.settings

    def decide(self, system: str, method: str = "GET") -> str | None:
        """Count one request of `system` and say which fault, if any, answers it."""
        fault = self._decide(system, method)
        if fault:
            self.injected[fault] += 1
        return fault

    def _decide(self, system: str, method: str) -> str | None:
        s = self.settings
        n = self.requests[system] = self.requests[system] + 1
        if s.window_limit and self._in_window(system) > s.window_limit:
            return "rate_limit"
        if method != "GET":
            self.writes[system] += 1
            if s.lost_response_every and self.writes[system] % s.lost_response_every == 0:
                return "lost_response"
        if s.drop_every and n % s.drop_every == 0:
            return "drop"
        for kind, burst in (("rate_limit", s.rate_limit_burst), ("unavailable", s.unavailable_burst),
                            ("lost_response", s.lost_response_burst)):
            if self.burst_used[kind][system] < burst:
                self.burst_used[kind][system] += 1
                return kind
        if s.rate_limit_every and n % s.rate_limit_every == 0:
            return "rate_limit"
        if s.unavailable_every and n % s.unavailable_every == 0:
            return "unavailable"
        return None

    def _in_window(self, system: str) -> int:
        """Count this request's arrival: how many arrived in the window that ends with it."""
        now, recent = time.monotonic(), self.recent.setdefault(system, deque())
        recent.append(now)
        while recent[0] <= now - self.settings.window_ms / 1000:
            recent.popleft()
        self.busiest_window[system] = max(self.busiest_window[system], len(recent))
        return len(recent)

    def malform(self, system: str, records: list[dict], date_field: str | None = "updated_at",
                id_field: str = "id") -> list[dict]:
        """Every Nth record served: alternately without its id or with an unparseable date (a record
        without a date field loses its id each time)."""
        every = self.settings.malformed_every
        if not every or not self.settings.applies_to(system):
            return records
        out = []
        for record in records:
            self.records[system] += 1
            if self.records[system] % every == 0:
                record = copy.deepcopy(record)
                self.malformed[system] += 1
                self.injected["malformed_record"] += 1
                if self.malformed[system] % 2 or date_field is None:
                    record.pop(id_field, None)
                else:
                    record[date_field] = "not-a-date"
            out.append(record)
        return out

    def skew(self, system: str, records: list[dict]) -> list[dict]:
        """Every Nth record served dated in the future (future_dated_every) or with times without an
        offset (naive_times_every): what a source's clock or serializer may do."""
        s = self.settings
        if not (s.future_dated_every or s.naive_times_every) or not s.applies_to(system):
            return records
        out = []
        for record in records:
            n = self.ingest_records[system] = self.ingest_records[system] + 1
            if s.future_dated_every and n % s.future_dated_every == 0:
                record = {**record, "updated_at": FAR_FUTURE}
                self.injected["future_dated_record"] += 1
            if s.naive_times_every and n % s.naive_times_every == 0:
                record = {k: _naive(v) if k.endswith("_at") else v for k, v in record.items()}
                self.injected["naive_times_record"] += 1
            out.append(record)
        return out

    def page_limit(self, system: str, limit: int) -> int:
        """How many records a page holds: `limit`, or fewer under short_page_max."""
        cap = self.settings.short_page_max
        if not cap or cap >= limit or not self.settings.applies_to(system):
            return limit
        self.injected["short_page"] += 1
        return cap

    def drop_records_key(self, system: str, page: dict, key: str) -> dict:
        """The page, without `key` if it is the Nth page served (drop_records_key_every)."""
        every = self.settings.drop_records_key_every
        if not every or not self.settings.applies_to(system):
            return page
        n = self.ingest_pages[system] = self.ingest_pages[system] + 1
        if n % every:
            return page
        self.injected["records_key_dropped"] += 1
        return {k: v for k, v in page.items() if k != key}

    def latin1(self, invoice_id: str, document: bytes) -> bytes:
        """The UBL document as ISO-8859-1 (declared, with a non-ASCII character) if latin1_documents names it."""
        if invoice_id not in (self.settings.latin1_documents or ()):
            return document
        self.injected["latin1_document"] += 1
        head, _, body = document.decode().partition("?>")  # the XML declaration, then the document
        return f"{head.replace('UTF-8', 'ISO-8859-1')}?><!-- Rechnung für {invoice_id} -->{body}".encode("latin-1", "replace")


FAR_FUTURE = "2099-01-01T00:00:00Z"


def _naive(value):
    """An ISO time with an offset as the same moment in UTC without one; anything else as it is."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat() if moment.tzinfo else value


def system_of(path: str) -> str | None:
    first = path.lstrip("/").split("/", 1)[0]
    return first if first in SYSTEMS else None


def fault_response(system: str, fault: str, retry_after: int) -> JSONResponse:
    status = STATUS.get(fault, 503)
    text = {429: "Too many requests, slow down", 502: "Bad gateway: no answer from upstream"}.get(
        status, "Service temporarily unavailable")
    if system == "rutter":
        body = {"error_type": "RATE_LIMIT_ERROR", "error_code": "RATE_LIMITED", "error_message": text} \
            if status == 429 else {"error_type": "API_ERROR", "error_code": "SERVICE_UNAVAILABLE",
                                   "error_message": text}
    elif system == "jortt":
        body = {"error": {"code": status, "message": text,
                          "key": "request.throttled" if status == 429 else "server.maintenance"}}
    elif system == "routty":
        body = {"title": {429: "Too Many Requests", 502: "Bad Gateway"}.get(status, "Service Unavailable"),
                "status": status, "detail": text}
    else:
        body = {"error": text}
    headers = {"Retry-After": str(retry_after)} if status == 429 else {}
    if system == "b2brouter":  # B2Brouter names every response, errors included
        headers["X-B2B-API-Request-Id"] = str(uuid.uuid4())
    return JSONResponse(body, status_code=status, headers=headers)


class FaultMiddleware:
    """ASGI middleware: applies the current settings to requests of the API mounts only."""

    def __init__(self, app, faults: Faults) -> None:
        self.app, self.faults = app, faults

    async def __call__(self, scope, receive, send) -> None:
        system = system_of(scope["path"]) if scope["type"] == "http" else None
        settings = self.faults.settings
        if system is None or not settings.applies_to(system):
            return await self.app(scope, receive, send)
        if settings.latency_ms:
            await asyncio.sleep(settings.latency_ms / 1000)
        fault = self.faults.decide(system, scope.get("method", "GET"))
        scope["sandbox.fault"] = fault  # read by the request log
        if fault == "drop":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
            raise DroppedConnection(scope["path"])
        if fault == "lost_response":  # processed as usual, but the client only ever sees a 502
            await self.app(scope, receive, _discard)
        if fault:
            return await fault_response(system, fault, settings.retry_after)(scope, receive, send)
        await self.app(scope, receive, send)


async def _discard(message) -> None:
    """An ASGI `send` that drops the real answer (lost between the server and the client)."""
