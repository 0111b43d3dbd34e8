"""Rutter create-bill, `POST /accounting/bills` (routes mounted by sandbox/rutter.py): the write the
export loop books purchase invoices with.

Body `{"bill": {...}}`, checked like 2024-08-31 checks it: an unknown field is a 400, the vendor, the
accounts, items, tax rates and linked purchase orders must exist in the connection, amounts must be JSON
numbers; every error names the field (`bill.line_items[0].account_id: ...`). The bill lands in the
connection's bills with an `updated_at` after every other Rutter record, so an incremental read sees it.

Idempotency as Rutter documents it: the first accepted request with an `Idempotency-Key` is saved with
its response, success or error; the same key with the same body (compared as JSON) gets that response
again (header `Idempotent-Replayed: true`) and creates nothing; the same key with another body is a 409.
A request that fails validation was not accepted, so its key stays free. Keys are scoped to the
connection; without a key every request creates a bill. Amounts are read as exact decimals (never
floats), and each created bill's line amounts are kept as received for the admin API.
Fault (POST /_sandbox/rutter/bills {"fail_accepted": n}): the next n accepted requests fail with a
500 after acceptance, create nothing, and that 500 is what their key answers from then on.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from resources.contracts import rutter as contract
from sandbox.data import TAX_RATES, RutterConnection, cents, vat_breakdown
from sandbox.rutter import RutterError, _authorize

if TYPE_CHECKING:
    from sandbox.app import SandboxState

REQUIRED = ("vendor_id", "issue_date", "currency_code", "line_items")
OPTIONAL = ("account_id", "due_date", "document_number", "memo", "payment_terms_id", "linked_purchase_orders")
LINE_FIELDS = ("description", "total_amount", "account_id", "tax_rate_id", "tax_amount", "item", "class_id",
               "department_id")
ITEM_FIELDS = ("id", "quantity", "unit_amount")


@dataclass
class Keyed:
    """The first accepted request under one idempotency key, and what came after it."""

    body: str  # canonical JSON
    response: dict
    status: int = 200  # an accepted request that failed keeps its error: replayed like a success
    replays: int = 0
    conflicts: int = 0


@dataclass
class BillLedger:
    keys: dict[tuple[str, str], Keyed] = field(default_factory=dict)  # (connection id, key)
    created: list[dict] = field(default_factory=list)  # connection, bill_id, idempotency_key, created_at, line_amounts
    fail_accepted: int = 0  # the next n accepted requests fail after acceptance (see the module docstring)

    def settings(self, data: dict) -> dict:
        value = data.get("fail_accepted", self.fail_accepted)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("fail_accepted must be a non-negative integer")
        self.fail_accepted = value
        return {"fail_accepted": self.fail_accepted}

    def snapshot(self, connection_id: str) -> dict:
        mine = [c for c in self.created if c["connection"] == connection_id]
        by_key = {key: {"bills": sum(c["idempotency_key"] == key for c in mine), "replays": k.replays,
                        "conflicts": k.conflicts, "bill_id": (k.response.get("bill") or {}).get("id"),
                        **({"failed": k.status} if k.status != 200 else {})}
                  for (conn, key), k in self.keys.items() if conn == connection_id}
        return {"created": mine, "by_key": by_key,
                "without_key": sum(c["idempotency_key"] is None for c in mine)}


def _invalid(path: str, message: str) -> RutterError:
    return RutterError(400, "INVALID_REQUEST", "INVALID_FIELD", f"{path}: {message}")


def _fields(data, path: str, required: tuple, optional: tuple) -> dict:
    if not isinstance(data, dict):
        raise _invalid(path, "must be an object")
    unknown = [k for k in data if k not in required + optional]
    if unknown:
        raise RutterError(400, "INVALID_REQUEST", "UNKNOWN_FIELD", f"{path}.{unknown[0]}: unknown field "
                                                                   f"(2024-08-31 refuses fields it does not document)")
    missing = [k for k in required if data.get(k) in (None, "", [])]
    if missing:
        raise RutterError(400, "INVALID_REQUEST", "MISSING_FIELD", f"{path}.{missing[0]}: required")
    return data


def _number(data: dict, name: str, path: str) -> Decimal | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise _invalid(f"{path}.{name}", f"must be a number, got {value!r}")
    return Decimal(str(value))


def _date(data: dict, name: str, path: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    try:
        return (date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)).isoformat()
    except (TypeError, ValueError):
        raise _invalid(f"{path}.{name}", f"must be an ISO 8601 date, got {value!r}") from None


def _exists(conn: RutterConnection, stream: str, rid, path: str, what: str) -> None:
    if not any(r.get("id") == rid for r in conn.collections.get(stream, [])):
        raise _invalid(path, f"no {what} with id {rid!r} in this connection")


def _line(conn: RutterConnection, data, path: str) -> tuple[dict, Decimal, Decimal | None]:
    """A line as stored, its amount and its tax (None: from its tax rate)."""
    line = _fields(data, path, ("total_amount", "account_id"), tuple(k for k in LINE_FIELDS
                                                                     if k not in ("total_amount", "account_id")))
    amount, tax = _number(line, "total_amount", path), _number(line, "tax_amount", path)
    _exists(conn, "accounts", line["account_id"], f"{path}.account_id", "account")
    if line.get("tax_rate_id") is not None and line["tax_rate_id"] not in TAX_RATES:
        raise _invalid(f"{path}.tax_rate_id", f"no tax rate {line['tax_rate_id']!r}; rates: {', '.join(TAX_RATES)}")
    stored = {"description": line.get("description"), "total_amount": float(amount), "account_id": line["account_id"],
              "tax_rate_id": line.get("tax_rate_id")}
    if tax is not None:
        stored["tax_amount"] = float(tax)
    if line.get("item") is not None:
        item = _fields(line["item"], f"{path}.item", ("id",), ("quantity", "unit_amount"))
        _exists(conn, "items", item["id"], f"{path}.item.id", "item")
        stored["item"] = {"id": item["id"], **{k: float(v) for k in ("quantity", "unit_amount")
                                               if (v := _number(item, k, f"{path}.item")) is not None}}
    stored.update({k: line[k] for k in ("class_id", "department_id") if line.get(k) is not None})
    return stored, amount, tax


def _bill(conn: RutterConnection, body) -> dict:
    """The bill to store from a request body, or the 400 naming the first field in error."""
    bill = _fields(_fields(body, "body", ("bill",), ())["bill"], "bill", REQUIRED, OPTIONAL)
    vendor = next((v for v in conn.collections["vendors"] if v["id"] == bill["vendor_id"]), None)
    if vendor is None:
        raise _invalid("bill.vendor_id", f"no vendor with id {bill['vendor_id']!r} in this connection")
    if bill.get("account_id") is not None:
        _exists(conn, "accounts", bill["account_id"], "bill.account_id", "account")
    if not (isinstance(bill["currency_code"], str) and len(bill["currency_code"]) == 3
            and bill["currency_code"].isalpha() and bill["currency_code"].isupper()):
        raise _invalid("bill.currency_code", f"must be an ISO 4217 code, got {bill['currency_code']!r}")
    if not isinstance(bill["line_items"], list):
        raise _invalid("bill.line_items", "must be a list")
    lines = [_line(conn, ln, f"bill.line_items[{k}]") for k, ln in enumerate(bill["line_items"])]
    linked = bill.get("linked_purchase_orders") or []
    for k, po in enumerate(linked if isinstance(linked, list) else [None]):
        _exists(conn, "purchase_orders", _fields(po, f"bill.linked_purchase_orders[{k}]", ("id",), ())["id"],
                f"bill.linked_purchase_orders[{k}].id", "purchase order")
    sub = sum((amount for _, amount, _ in lines), Decimal(0))
    if any(tax is not None for _, _, tax in lines):
        tax = sum((t or Decimal(0) for _, _, t in lines), Decimal(0))
    else:
        tax = sum((t for _, t in vat_breakdown([(a, TAX_RATES[ln["tax_rate_id"]]) for ln, a, _ in lines
                                                 if ln["tax_rate_id"]]).values()), Decimal(0))
    payables = [a["id"] for a in conn.collections["accounts"] if a["account_type"] == "accounts_payable"]
    total = cents(sub + tax)
    return {"id": str(uuid.uuid4()), "platform_id": f"VB{9000 + len(conn.collections['bills'])}",
            "vendor_id": vendor["id"], "account_id": bill.get("account_id") or next(iter(payables), None),
            "payment_terms_id": bill.get("payment_terms_id") or vendor.get("payment_terms_id"),
            "document_number": bill.get("document_number"), "memo": bill.get("memo"),
            "linked_purchase_orders": [{"id": po["id"]} for po in linked],
            "issue_date": _date(bill, "issue_date", "bill"), "due_date": _date(bill, "due_date", "bill"),
            "status": "open", "currency_code": bill["currency_code"], "sub_total": float(cents(sub)),
            "tax_amount": float(cents(tax)), "total_amount": float(total), "amount_due": float(total),
            "total_discount": 0.0, "line_items": [ln for ln, _, _ in lines], "created_at": None, "updated_at": None}


def routes(state: SandboxState) -> list[Route]:
    def book(conn: RutterConnection, bill: dict) -> None:
        """Store the bill as the next change of the books (dataset.touch stamps updated_at)."""
        conn.collections["bills"].append(bill)
        tenant = state.dataset.tenant_where("rutter_access_token", conn.access_token)
        state.dataset.touch(tenant.name, "rutter", "bills", bill["id"], {})
        bill["created_at"] = bill["updated_at"]

    async def create(request: Request) -> JSONResponse:
        try:
            conn = _authorize(request, state, {"access_token"})
            if not conn.is_ready:
                raise RutterError(409, "CONNECTION_ERROR", "PRODUCT_NOT_READY",
                                  "The initial sync of this connection has not completed yet.")
            try:
                body = json.loads(await request.body(), parse_float=Decimal)
            except ValueError:
                raise RutterError(400, "INVALID_REQUEST", "INVALID_JSON", "The body is not JSON.") from None
            key = request.headers.get("idempotency-key") or None
            canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
            saved = state.rutter_bills.keys.get((conn.id, key)) if key else None
            if saved is not None and saved.body != canonical:
                saved.conflicts += 1
                raise RutterError(409, "INVALID_REQUEST", "IDEMPOTENCY_KEY_REUSED",
                                  f"Idempotency-Key {key!r} was used before with a different request body.")
            if saved is not None:
                saved.replays += 1
                return JSONResponse(saved.response, status_code=saved.status, headers={"Idempotent-Replayed": "true"})
            bill = _bill(conn, body)
            if state.rutter_bills.fail_accepted:  # accepted, then failed: the key keeps the failure
                state.rutter_bills.fail_accepted -= 1
                failure = RutterError(500, "SERVER_ERROR", "INTERNAL_ERROR", "The bill could not be created.")
                if key:
                    state.rutter_bills.keys[(conn.id, key)] = Keyed(canonical, failure.body, failure.status)
                raise failure
            book(conn, bill)
            response = {"connection": conn.info(), "bill": copy.deepcopy(bill)}
            if key:
                state.rutter_bills.keys[(conn.id, key)] = Keyed(canonical, response)
            state.rutter_bills.created.append({"connection": conn.id, "bill_id": bill["id"], "idempotency_key": key,
                                               "created_at": bill["created_at"],
                                               "line_amounts": [str(ln.get("total_amount")) for ln in body["bill"]["line_items"]]})
            return JSONResponse(response)
        except RutterError as e:
            return JSONResponse(e.body, status_code=e.status)

    return [Route(contract.BILLS, create, methods=["POST"])]
