"""The sandbox application: every simulated system under its own path prefix on one port."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from sandbox import admin, b2brouter, jortt, routty, rutter
from sandbox.data import Dataset, build_dataset
from sandbox.faults import FaultMiddleware, Faults, system_of
from sandbox.jortt import JorttTokens
from sandbox.routty import RouttyStore
from sandbox.routty_documents import DocumentStore
from sandbox.routty_exports import ExportStore
from sandbox.rutter_bills import BillLedger

SECRET_PARAMS = {"access_token", "api_key", "apikey", "token", "client_secret", "password", "sig"}
MAX_LOGGED_REQUESTS = 100_000  # bounds memory of a long-running demo sandbox


@dataclass
class SandboxState:
    """All mutable state of one sandbox; the app holds exactly one."""

    size: int = 200
    seed: int = 42
    processing_delay: float = 0.3
    dataset: Dataset = field(init=False)
    faults: Faults = field(init=False, default_factory=Faults)
    routty: RouttyStore = field(init=False)  # masterdata uploads, and the records per Routty tenant
    routty_documents: DocumentStore = field(init=False)  # input documents, each of its key's tenant
    routty_exports: ExportStore = field(init=False)  # output documents per tenant and the feedback on them
    rutter_bills: BillLedger = field(init=False)  # bills created through the API, by idempotency key
    jortt_tokens: JorttTokens = field(init=False, default_factory=JorttTokens)
    requests: deque = field(init=False, default_factory=lambda: deque(maxlen=MAX_LOGGED_REQUESTS))

    def __post_init__(self) -> None:
        self.dataset = build_dataset(self.size, self.seed)
        self.routty = RouttyStore(self.processing_delay)
        self.routty_documents = DocumentStore(self.processing_delay)
        self.routty_exports = ExportStore()
        self.rutter_bills = BillLedger()

    def reset(self, size: int | None = None, seed: int | None = None) -> None:
        """Fresh data, empty Routty stores (masterdata, documents, exports), no bills created, no faults, empty
        request log. Jortt tokens stay valid."""
        self.size, self.seed = size or self.size, self.seed if seed is None else seed
        self.dataset = build_dataset(self.size, self.seed)
        self.routty = RouttyStore(self.processing_delay)
        self.routty_documents = DocumentStore(self.processing_delay)
        self.routty_exports = ExportStore()
        self.rutter_bills = BillLedger()
        self.faults.reset()
        self.requests.clear()


class RequestLog:
    """ASGI middleware recording every API request (not /_sandbox) with secrets masked."""

    def __init__(self, app, state: SandboxState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope, receive, send) -> None:
        system = system_of(scope["path"]) if scope["type"] == "http" else None
        if system is None:
            return await self.app(scope, receive, send)
        status = None

        async def recording_send(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            fault = scope.get("sandbox.fault")
            query = {k: "***" if k.lower() in SECRET_PARAMS else v
                     for k, v in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)}
            self.state.requests.append({"system": system, "method": scope["method"], "path": scope["path"],
                                        "query": query, "status": None if fault == "drop" else status,
                                        "fault": fault})


def build_app(state: SandboxState) -> Starlette:
    return Starlette(
        routes=[
            Mount("/rutter/versioned", routes=rutter.routes(state)),
            Mount("/routty", routes=routty.routes(state)),
            Mount("/jortt-legacy/api", routes=jortt.legacy_routes(state)),
            Mount("/jortt", routes=jortt.routes(state)),
            Mount("/b2brouter", routes=b2brouter.routes(state)),
            Mount("/_sandbox", routes=admin.routes(state)),
        ],
        middleware=[Middleware(RequestLog, state=state), Middleware(FaultMiddleware, faults=state.faults)],
    )
