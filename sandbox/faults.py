"""Fault injection for the API mounts: latency, 429, 503, dropped connections, malformed records.

Everything is counted per system (and reset whenever the settings change), so a test that turns a
fault on knows exactly which of its next requests is hit.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, fields

from starlette.responses import JSONResponse

SYSTEMS = ("rutter", "routty", "jortt", "jortt-legacy", "b2brouter")


@dataclass
class FaultSettings:
    latency_ms: int = 0
    rate_limit_every: int = 0  # every Nth request -> 429
    rate_limit_burst: int = 0  # the next K requests -> 429
    retry_after: int = 1  # seconds, in the Retry-After header of a 429
    unavailable_every: int = 0  # every Nth request -> 503
    unavailable_burst: int = 0  # the next K requests -> 503
    drop_every: int = 0  # every Nth request: connection closed mid-response
    malformed_every: int = 0  # every Nth record of a list page (Rutter, Jortt current, B2Brouter) is malformed
    systems: list[str] | None = None  # None = all systems

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
        self.records: Counter[str] = Counter()
        self.malformed: Counter[str] = Counter()
        self.burst_used = {"rate_limit": Counter(), "unavailable": Counter()}

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
            elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        self.settings = FaultSettings(**merged)
        self._restart_counts()
        return self.settings

    def decide(self, system: str) -> str | None:
        """Count one request of `system` and say which fault, if any, answers it."""
        s = self.settings
        n = self.requests[system] = self.requests[system] + 1
        if s.drop_every and n % s.drop_every == 0:
            return "drop"
        for kind, burst in (("rate_limit", s.rate_limit_burst), ("unavailable", s.unavailable_burst)):
            if self.burst_used[kind][system] < burst:
                self.burst_used[kind][system] += 1
                return kind
        if s.rate_limit_every and n % s.rate_limit_every == 0:
            return "rate_limit"
        if s.unavailable_every and n % s.unavailable_every == 0:
            return "unavailable"
        return None

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
                if self.malformed[system] % 2 or date_field is None:
                    record.pop(id_field, None)
                else:
                    record[date_field] = "not-a-date"
            out.append(record)
        return out


def system_of(path: str) -> str | None:
    first = path.lstrip("/").split("/", 1)[0]
    return first if first in SYSTEMS else None


def fault_response(system: str, fault: str, retry_after: int) -> JSONResponse:
    status = 429 if fault == "rate_limit" else 503
    text = "Too many requests, slow down" if status == 429 else "Service temporarily unavailable"
    if system == "rutter":
        body = {"error_type": "RATE_LIMIT_ERROR", "error_code": "RATE_LIMITED", "error_message": text} \
            if status == 429 else {"error_type": "API_ERROR", "error_code": "SERVICE_UNAVAILABLE",
                                   "error_message": text}
    elif system == "jortt":
        body = {"error": {"code": status, "message": text,
                          "key": "request.throttled" if status == 429 else "server.maintenance"}}
    elif system == "routty":
        body = {"title": "Too Many Requests" if status == 429 else "Service Unavailable", "status": status,
                "detail": text}
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
        fault = self.faults.decide(system)
        scope["sandbox.fault"] = fault  # read by the request log
        if fault == "drop":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
            raise DroppedConnection(scope["path"])
        if fault:
            return await fault_response(system, fault, settings.retry_after)(scope, receive, send)
        await self.app(scope, receive, send)
