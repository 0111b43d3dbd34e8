"""Rutter's create-bill in the simulator: idempotent under Idempotency-Key (same body: the same bill,
another body: 409), strict validation naming the field, and the bill readable and incremental afterwards."""

import pytest

from sandbox import credentials as cred
from sandbox.data import unix_ms
from tests.sandbox.test_tenants import RUTTER_AUTH, truth, walk_rutter

BILLS = "/rutter/versioned/accounting/bills"
VERSION = {"X-Rutter-Version": cred.RUTTER_VERSION}


def create(client, body: dict, key: str | None = None, token=cred.RUTTER_ACCESS_TOKEN):
    headers = {**VERSION, **({"Idempotency-Key": key} if key else {})}
    return client.post(BILLS, json=body, params={"access_token": token}, auth=RUTTER_AUTH, headers=headers)


@pytest.fixture
def body(sandbox) -> dict:
    """A bill for acme's first vendor on an expense account, one line with an item, one without."""
    vendor = truth(sandbox, "rutter", "vendors")[0]
    account = next(a for a in truth(sandbox, "rutter", "accounts") if a["account_type"] == "expense")
    item, po = truth(sandbox, "rutter", "items")[0], truth(sandbox, "rutter", "purchase_orders")[0]
    return {"bill": {
        "vendor_id": vendor["id"], "issue_date": "2024-05-02", "due_date": "2024-06-01", "currency_code": "EUR",
        "document_number": "INV-2024-0042", "memo": "Routty export 1042", "linked_purchase_orders": [{"id": po["id"]}],
        "line_items": [
            {"description": "Kabelgoot 2 m", "total_amount": 1000.0, "account_id": account["id"], "tax_rate_id": "1",
             "tax_amount": 210.0, "item": {"id": item["id"], "quantity": 50, "unit_amount": 20.0}},
            {"description": "Vrachtkosten", "total_amount": 250.0, "account_id": account["id"], "tax_amount": 0},
        ]}}


def bill_count(sandbox, tenant="acme") -> int:
    return len(truth(sandbox, "rutter", "bills", tenant))


def test_created_bill_is_listed_and_read_incrementally(sandbox, client, body):
    before = walk_rutter(client, "bills")
    latest = max(r["updated_at"] for r in before if r["updated_at"])
    made = create(client, body)
    assert made.status_code == 200, made.text
    bill = made.json()["bill"]
    assert (bill["vendor_id"], bill["document_number"], bill["status"]) == \
        (body["bill"]["vendor_id"], "INV-2024-0042", "open")
    assert (bill["sub_total"], bill["tax_amount"], bill["total_amount"], bill["amount_due"]) == \
        (1250.0, 210.0, 1460.0, 1460.0)
    assert bill["linked_purchase_orders"] == body["bill"]["linked_purchase_orders"]
    assert bill["account_id"] in {a["id"] for a in truth(sandbox, "rutter", "accounts")
                                  if a["account_type"] == "accounts_payable"}
    assert bill["updated_at"] > latest and bill["created_at"] == bill["updated_at"]
    got = client.get(f"{BILLS}/{bill['id']}", params={"access_token": cred.RUTTER_ACCESS_TOKEN},
                     auth=RUTTER_AUTH, headers=VERSION)
    assert got.status_code == 200 and got.json()["bill"] == bill
    since = walk_rutter(client, "bills", updated_at_min=unix_ms(bill["updated_at"]))
    assert [r["id"] for r in since] == [bill["id"]]  # an incremental read sees exactly the new bill
    assert create(client, body).json()["bill"]["id"] != bill["id"]  # without a key every request creates
    assert bill_count(sandbox) == len(before) + 2


def test_same_key_same_body_is_the_same_bill_another_body_is_409(sandbox, client, body):
    count = bill_count(sandbox)
    first = create(client, body, key="guid-1")
    again = create(client, {"bill": dict(reversed(body["bill"].items()))}, key="guid-1")  # same JSON, other order
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    changed = {"bill": {**body["bill"], "memo": "another body"}}
    conflict = create(client, changed, key="guid-1")
    assert conflict.status_code == 409 and conflict.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"
    assert create(client, changed, key="guid-2").json()["bill"]["id"] != first.json()["bill"]["id"]
    assert bill_count(sandbox) == count + 2
    globex = truth(sandbox, "rutter", "vendors", "globex")[0]
    other = {"bill": {**body["bill"], "vendor_id": globex["id"], "linked_purchase_orders": [], "line_items": [
        {"total_amount": 5.0, "account_id": truth(sandbox, "rutter", "accounts", "globex")[0]["id"]}]}}
    assert create(client, other, key="guid-1", token=cred.RUTTER_ACCESS_TOKEN_2).status_code == 200  # per connection
    ledger = sandbox.admin("GET", "rutter/bills", params={"tenant": "acme"}).json()
    assert ledger["by_key"]["guid-1"] == {"bills": 1, "replays": 1, "conflicts": 1,
                                          "bill_id": first.json()["bill"]["id"]}
    assert ledger["by_key"]["guid-2"]["bills"] == 1 and ledger["without_key"] == 0


INVALID = (  # (change to the bill, error_code, the field the message names)
    ({"vendor_id": "no-such-vendor"}, "INVALID_FIELD", "bill.vendor_id"),
    ({"line_items": [{"total_amount": 1.0, "account_id": "nope"}]}, "INVALID_FIELD", "bill.line_items[0].account_id"),
    ({"line_items": [{"total_amount": 1.0}]}, "MISSING_FIELD", "bill.line_items[0].account_id"),
    ({"line_items": [{"total_amount": "1.00", "account_id": None}]}, "MISSING_FIELD", "bill.line_items[0].account_id"),
    ({"currency_code": "euro"}, "INVALID_FIELD", "bill.currency_code"),
    ({"issue_date": None}, "MISSING_FIELD", "bill.issue_date"),
    ({"due_date": "01-06-2024"}, "INVALID_FIELD", "bill.due_date"),
    ({"linked_purchase_orders": [{"id": "nope"}]}, "INVALID_FIELD", "bill.linked_purchase_orders[0].id"),
    ({"currency": "EUR"}, "UNKNOWN_FIELD", "bill.currency"),
)


def test_invalid_bodies_name_the_field_and_leave_the_key_free(sandbox, client, body):
    count = bill_count(sandbox)
    for change, code, field in INVALID:
        refused = create(client, {"bill": {**body["bill"], **change}}, key="k")
        assert refused.status_code == 400 and refused.json()["error_code"] == code, refused.text
        assert refused.json()["error_message"].startswith(f"{field}:"), refused.text
    assert bill_count(sandbox) == count
    assert create(client, body, key="k").status_code == 200  # no refused request was accepted under the key


def test_amounts_must_be_numbers_and_auth_comes_first(sandbox, client, body):
    line = {**body["bill"]["line_items"][1], "total_amount": "250.00"}
    refused = create(client, {"bill": {**body["bill"], "line_items": [line]}})
    assert refused.status_code == 400 and "bill.line_items[0].total_amount" in refused.json()["error_message"]
    no_version = client.post(BILLS, json=body, params={"access_token": cred.RUTTER_ACCESS_TOKEN}, auth=RUTTER_AUTH)
    assert no_version.status_code == 400 and no_version.json()["error_code"] == "UNSUPPORTED_VERSION"
    bad_auth = client.post(BILLS, json=body, params={"access_token": cred.RUTTER_ACCESS_TOKEN},
                           auth=("x", "y"), headers=VERSION)
    assert bad_auth.status_code == 401
    not_json = client.post(BILLS, content=b"{", params={"access_token": cred.RUTTER_ACCESS_TOKEN},
                           auth=RUTTER_AUTH, headers=VERSION)
    assert not_json.status_code == 400 and not_json.json()["error_code"] == "INVALID_JSON"
