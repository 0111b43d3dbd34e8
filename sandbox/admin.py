"""Admin endpoints under /_sandbox: health, reset, request log, faults, ground truth and mutations of
every stream of every tenant, Routty knobs and its output queues, the bills created through Rutter, the
B2Brouter state changes (mark_as).

Not part of any simulated API and never subject to faults or the request log. The Routty views show
every Routty tenant together (each upload, document, deletion and feedback names its tenant and the env
name of the key it came under, never the key) unless ?tenant= names one.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox import (
    b2brouter,
    credentials,
    jortt,
    routty_documents,
    routty_exports,
    rutter,
)
from sandbox.data import SandboxCompany
from sandbox.faults import SYSTEMS

if TYPE_CHECKING:
    from sandbox.app import SandboxState


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _json(request: Request) -> dict:
    body = await request.body()
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        raise AdminError(400, "body must be JSON") from None
    if not isinstance(data, dict):
        raise AdminError(400, "body must be a JSON object")
    return data


def _endpoint(handler):
    async def endpoint(request: Request) -> JSONResponse:
        try:
            return JSONResponse(await handler(request))
        except AdminError as e:
            return JSONResponse({"error": str(e)}, status_code=e.status)
    return endpoint


def _non_negative(data: dict, name: str, kind: type) -> None:
    if name in data and (isinstance(data[name], bool) or not isinstance(data[name], (int, kind))
                         or data[name] < 0):
        raise AdminError(400, f"{name} must be a non-negative {kind.__name__}")


def routes(state: SandboxState) -> list[Route]:
    async def health(request: Request) -> dict:
        return {"status": "ok", "size": state.size, "seed": state.seed, "systems": list(SYSTEMS),
                "tenants": list(state.dataset.tenants)}

    async def reset(request: Request) -> dict:
        data = await _json(request)
        for name in ("size", "seed"):
            _non_negative(data, name, int)
        if data.get("size") == 0:
            raise AdminError(400, "size must be at least 1")
        state.reset(data.get("size"), data.get("seed"))
        return {"status": "ok", "size": state.size, "seed": state.seed}

    async def stats(request: Request) -> dict:
        if request.method == "DELETE":
            state.requests.clear()
            return {"status": "ok"}
        rows = list(state.requests)
        by_status: dict[str, Counter] = {}
        for row in rows:
            by_status.setdefault(row["system"], Counter())[str(row["status"])] += 1
        return {"requests": rows, "total": len(rows),
                "counts": dict(Counter(row["system"] for row in rows)),
                "by_status": {system: dict(c) for system, c in by_status.items()}}

    async def faults(request: Request) -> dict:
        if request.method == "DELETE":
            state.faults.reset()
        elif request.method == "POST":
            try:
                state.faults.update(await _json(request))
            except ValueError as e:
                raise AdminError(400, str(e)) from None
        return {"faults": asdict(state.faults.settings), "injected": dict(state.faults.injected),
                "busiest_window": dict(state.faults.busiest_window)}

    def connection(token: str | None):
        conn = state.dataset.connections.get(token or credentials.RUTTER_ACCESS_TOKEN)
        if conn is None:
            raise AdminError(404, f"no Rutter connection with access token {token!r}")
        return conn

    async def rutter_vendors(request: Request) -> dict:
        conn = connection(request.query_params.get("access_token"))
        return {"connection": conn.info(), "vendors": conn.collections["vendors"]}

    async def touch_vendor(request: Request) -> dict:
        changes = await _json(request)
        try:
            return {"vendor": state.dataset.touch_vendor(request.path_params["vendor_id"], **changes)}
        except KeyError:
            raise AdminError(404, f"no vendor {request.path_params['vendor_id']}") from None

    async def rutter_connection(request: Request) -> dict:
        conn = connection(request.path_params["access_token"])
        data = await _json(request)
        if "is_ready" in data:
            if not isinstance(data["is_ready"], bool):
                raise AdminError(400, "is_ready must be true or false")
            conn.is_ready = data["is_ready"]
        return {"connection": conn.info(), "is_ready": conn.is_ready}

    def tenant_named(request: Request) -> SandboxCompany:
        """The tenant ?tenant= names, default acme."""
        name = request.query_params.get("tenant", "acme")
        if name not in state.dataset.tenants:
            raise AdminError(404, f"no tenant {name!r}; tenants: {', '.join(state.dataset.tenants)}")
        return state.dataset.tenants[name]

    def target(request: Request) -> tuple[SandboxCompany, str, str]:
        """The tenant (?tenant=, default acme), system and stream a ground-truth call names."""
        tenant = tenant_named(request)
        system, stream = request.path_params["system"], request.path_params["stream"]
        try:
            tenant.collection(system, stream)
        except KeyError:
            raise AdminError(404, f"no stream {system}/{stream}") from None
        return tenant, system, stream

    def present(tenant: SandboxCompany, system: str, stream: str, records: list[dict], api: str | None = None) -> list:
        """As the API serves them: its order, and for Jortt the tenant's API shape (or ?api=)."""
        if api not in (None, "current", "legacy"):
            raise AdminError(400, "api must be current or legacy")
        if system == "jortt":
            return jortt.present(tenant, stream, records, api)
        return {"rutter": rutter.present, "b2brouter": b2brouter.present}[system](tenant, stream, records)

    async def truth(request: Request) -> dict:
        tenant, system, stream = target(request)
        return {"records": present(tenant, system, stream, tenant.collection(system, stream),
                                   request.query_params.get("api"))}

    def on_record(request: Request, action):
        try:
            return action(request.path_params["record_id"])
        except KeyError:
            raise AdminError(404, f"no record {request.path_params['record_id']} in {request.url.path}") from None

    async def touch(request: Request) -> dict:
        changes = await _json(request)
        tenant, system, stream = target(request)
        record = on_record(request, lambda rid: state.dataset.touch(tenant.name, system, stream, rid, changes))
        return {"record": present(tenant, system, stream, [record])[0]}

    async def delete(request: Request) -> dict:
        tenant, system, stream = target(request)
        on_record(request, lambda rid: state.dataset.delete(tenant.name, system, stream, rid))
        return {"status": "ok", "deleted": request.path_params["record_id"]}

    def routty_tenant(request: Request) -> str | None:
        """The Routty tenant ?tenant= names (they are named like the companies), None for all of them."""
        name = request.query_params.get("tenant")
        if name is not None and name not in state.routty.tenants:
            raise AdminError(404, f"no Routty tenant {name!r}; tenants: {', '.join(state.routty.tenants)}")
        return name

    async def routty_masterdata(request: Request) -> dict:
        name = routty_tenant(request)
        state.routty.settle()
        return {"uploads": [u.admin() for u in state.routty.uploads.values() if name in (None, u.key.tenant)]}

    async def routty_partners(request: Request) -> dict:
        name = routty_tenant(request)
        state.routty.settle()
        held = {t: h for t, h in state.routty.tenants.items() if name in (None, t)}
        return {"partners": [{**p, "routty_tenant": t} for t, h in held.items() for p in h.partners.values()],
                "deletions": [d for h in held.values() for d in h.deletions.values()]}

    async def routty_settings(request: Request) -> dict:
        data = await _json(request)
        _non_negative(data, "processing_delay", float)
        _non_negative(data, "fail_next", int)
        _non_negative(data, "max_upload_bytes", int)
        for name, kind in (("fail_next_documents", int), ("upload_url_ttl", float),
                           ("document_processing_delay", float)):
            _non_negative(data, name, kind)
        if data.get("max_upload_bytes") == 0:
            raise AdminError(400, "max_upload_bytes must be at least 1")
        if "processing_delay" in data:
            state.routty.processing_delay = float(data["processing_delay"])
        if "fail_next" in data:
            state.routty.fail_next = data["fail_next"]
        if "max_upload_bytes" in data:
            state.routty.max_upload_bytes = data["max_upload_bytes"]
        documents = state.routty_documents
        if "fail_next_documents" in data:
            documents.fail_next = data["fail_next_documents"]
        if "upload_url_ttl" in data:
            documents.upload_url_ttl = float(data["upload_url_ttl"])
        if "document_processing_delay" in data:
            documents.processing_delay = float(data["document_processing_delay"])
        return {"processing_delay": state.routty.processing_delay, "fail_next": state.routty.fail_next,
                "max_upload_bytes": state.routty.max_upload_bytes, "fail_next_documents": documents.fail_next,
                "upload_url_ttl": documents.upload_url_ttl, "document_processing_delay": documents.processing_delay}

    async def routty_documents_(request: Request) -> dict:
        name = routty_tenant(request)
        routty_documents.settle(state)
        return state.routty_documents.snapshot(name)

    async def routty_store(request: Request) -> dict:
        name = routty_tenant(request)
        state.routty.settle()
        return state.routty.snapshot(name)

    async def routty_exports_(request: Request) -> dict:
        tenant = tenant_named(request)
        routty_exports.sync(state)
        return state.routty_exports.snapshot(tenant.name)

    async def generate_exports(request: Request) -> dict:
        tenant, limit = tenant_named(request), request.query_params.get("limit")
        if limit is not None and not limit.isdigit():
            raise AdminError(400, "limit must be a non-negative integer")
        made = routty_exports.generate(state, tenant, None if limit is None else int(limit))
        return {"tenant": tenant.name, "created": [e.admin() for e in made],
                "queue": len(state.routty_exports.queue(tenant.name))}

    async def export_settings(request: Request) -> dict:
        data, store = await _json(request), state.routty_exports
        _non_negative(data, "download_url_ttl", float)
        if "from_documents" in data and not isinstance(data["from_documents"], bool):
            raise AdminError(400, "from_documents must be true or false")
        store.from_documents = data.get("from_documents", store.from_documents)
        store.download_url_ttl = float(data.get("download_url_ttl", store.download_url_ttl))
        return store.settings()

    async def rutter_bills(request: Request) -> dict:
        if request.method == "POST":
            try:
                return state.rutter_bills.settings(await _json(request))
            except ValueError as e:
                raise AdminError(400, str(e)) from None
        return state.rutter_bills.snapshot(tenant_named(request).rutter.id)

    async def add_export(request: Request) -> dict:
        data = await _json(request)
        if not isinstance(data.get("xml"), str):
            raise AdminError(400, "xml (the RouttyExportDocument, as text) is required")
        export = routty_exports.add(state, tenant_named(request), data["xml"].encode(),
                                    str(data.get("correlation_id") or "capture:added"))
        return export.admin()

    async def b2brouter_state_changes(request: Request) -> dict:
        tenant = tenant_named(request)
        return {"tenant": tenant.name, "state_changes": b2brouter.state_changes(state.dataset).get(tenant.name, [])}

    async def expire_jortt_tokens(request: Request) -> dict:
        return {"expired": state.jortt_tokens.expire_all()}

    return [
        Route("/health", _endpoint(health)),
        Route("/reset", _endpoint(reset), methods=["POST"]),
        Route("/stats", _endpoint(stats), methods=["GET", "DELETE"]),
        Route("/faults", _endpoint(faults), methods=["GET", "POST", "DELETE"]),
        Route("/truth/{system}/{stream}", _endpoint(truth)),
        Route("/truth/{system}/{stream}/{record_id}", _endpoint(delete), methods=["DELETE"]),
        Route("/touch/{system}/{stream}/{record_id}", _endpoint(touch), methods=["POST"]),
        Route("/rutter/vendors", _endpoint(rutter_vendors)),
        Route("/rutter/vendors/{vendor_id}", _endpoint(touch_vendor), methods=["POST"]),
        Route("/rutter/connections/{access_token}", _endpoint(rutter_connection), methods=["POST"]),
        Route("/routty/masterdata", _endpoint(routty_masterdata)),
        Route("/routty/partners", _endpoint(routty_partners)),
        Route("/routty/settings", _endpoint(routty_settings), methods=["POST"]),
        Route("/routty/store", _endpoint(routty_store)),
        Route("/routty/documents", _endpoint(routty_documents_)),
        Route("/routty/exports", _endpoint(routty_exports_)),
        Route("/routty/exports/generate", _endpoint(generate_exports), methods=["POST"]),
        Route("/routty/exports/settings", _endpoint(export_settings), methods=["POST"]),
        Route("/rutter/bills", _endpoint(rutter_bills), methods=["GET", "POST"]),
        Route("/routty/exports/add", _endpoint(add_export), methods=["POST"]),
        Route("/b2brouter/state_changes", _endpoint(b2brouter_state_changes)),
        Route("/jortt/expire_tokens", _endpoint(expire_jortt_tokens), methods=["POST"]),
    ]
