"""B2Brouter state changes (POST /invoices/{id}/mark_as) in the simulator: the state and updated_at move (an
incremental read sees the change), the same state again is a no-op, a refused invoice is never accepted or paid,
bad input names the field, every change is logged for /_sandbox/b2brouter/state_changes; and the client method."""

import pytest

from resources.b2brouter import B2BrouterResource
from resources.contracts import b2brouter as contract
from resources.http import RemoteError
from resources.tenants import Tenant
from sandbox import credentials as cred
from tests.sandbox import SIZE
from tests.sandbox.test_tenants import truth, walk_b2b

GLOBEX = cred.TENANTS["globex"]


@pytest.fixture
def env(sandbox) -> dict[str, str]:
    return sandbox.env()


def mark(client, env, invoice_id, body=None, key=None, **kwargs):
    headers = {"X-B2B-API-Key": key or env["B2BROUTER_API_KEY"], "X-B2B-API-Version": contract.VERSION}
    return client.post(f"/b2brouter/invoices/{invoice_id}/mark_as", json=body, headers=headers, **kwargs)


def received_in(sandbox, state: str) -> dict:
    return next(i for i in truth(sandbox, "b2brouter", "received_invoices") if i["state"] == state)


def latest(sandbox) -> str:
    invoices = truth(sandbox, "b2brouter", "received_invoices") + truth(sandbox, "b2brouter", "issued_invoices")
    return max(i["updated_at"] for i in invoices)


def log(sandbox, tenant="acme") -> list[dict]:
    got = sandbox.admin("GET", "b2brouter/state_changes", params={"tenant": tenant})
    assert got.status_code == 200, got.text
    return got.json()["state_changes"]


def test_accept_moves_state_and_updated_at(sandbox, client, env):
    invoice, last = received_in(sandbox, "new"), latest(sandbox)
    done = mark(client, env, invoice["id"], {"state": "accepted"})
    assert done.status_code == 200, done.text
    assert done.headers["X-B2B-API-Request-Id"]
    marked = done.json()["invoice"]
    assert (marked["id"], marked["state"]) == (invoice["id"], "accepted") and marked["updated_at"] > last
    assert {k: v for k, v in marked.items() if k not in ("state", "updated_at")} == \
        {k: v for k, v in invoice.items() if k not in ("state", "updated_at")}
    got = client.get(f"/b2brouter/invoices/{invoice['id']}", headers={"X-B2B-API-Key": env["B2BROUTER_API_KEY"]})
    assert got.json()["invoice"] == marked
    assert [i["id"] for i in walk_b2b(client, updated_at=last)] == [invoice["id"]]  # incremental read sees it


def test_same_state_again_is_idempotent(sandbox, client, env):
    invoice = received_in(sandbox, "new")
    first = mark(client, env, invoice["id"], {"state": "paid"}).json()["invoice"]
    again = mark(client, env, invoice["id"], {"state": "paid"})
    assert again.status_code == 200 and again.json()["invoice"] == first  # updated_at did not move
    assert [(c["invoice_id"], c["from"], c["to"]) for c in log(sandbox)] == [(invoice["id"], "new", "paid")]


@pytest.mark.parametrize("target", ["accepted", "paid"])
def test_refused_invoice_cannot_be_accepted_or_paid(sandbox, client, env, target):
    invoice = received_in(sandbox, "refused")
    refused = mark(client, env, invoice["id"], {"state": target})
    assert refused.status_code == 422 and "refused" in refused.json()["error"] and target in refused.json()["error"]
    assert received_in(sandbox, "refused") == invoice and log(sandbox) == []
    assert mark(client, env, invoice["id"], {"state": "refused"}).status_code == 200  # the same state: a no-op


@pytest.mark.parametrize("body, needle", [
    ({"state": "bogus"}, "state"), ({"state": "annotated"}, "state"), ({"state": "new"}, "state"),
    ({}, "state is required"), ({"state": 3}, "state"), ({"state": "accepted", "reason": 1}, "reason"),
])
def test_bad_input_names_the_field(sandbox, client, env, body, needle):
    invoice = received_in(sandbox, "new")
    bad = mark(client, env, invoice["id"], body)
    assert bad.status_code == 400 and needle in bad.json()["error"]
    assert received_in(sandbox, "new") == invoice and log(sandbox) == []


def test_unknown_invoice_other_tenant_and_bad_body(sandbox, client, env):
    invoice = received_in(sandbox, "new")
    assert mark(client, env, "999999999", {"state": "accepted"}).status_code == 404
    assert mark(client, env, invoice["id"], {"state": "accepted"}, key=GLOBEX.b2brouter_api_key).status_code == 404
    assert mark(client, env, invoice["id"], {"state": "accepted"}, key="nope").status_code == 401
    assert mark(client, env, invoice["id"], content=b"state=accepted").status_code == 400
    assert received_in(sandbox, "new") == invoice


def test_issued_invoice_takes_the_issued_states(sandbox, client, env):
    issued = next(i for i in truth(sandbox, "b2brouter", "issued_invoices") if i["state"] not in ("refused", "closed"))
    assert mark(client, env, issued["id"], {"state": "closed"}).json()["invoice"]["state"] == "closed"
    bad = mark(client, env, issued["id"], {"state": "annotated"})
    assert bad.status_code == 400 and "IssuedInvoice" in bad.json()["error"]


def test_admin_log_per_tenant_and_cleared_by_reset(sandbox, client, env):
    invoice = received_in(sandbox, "new")
    accepted = mark(client, env, invoice["id"], {"state": "accepted"}).json()["invoice"]
    paid = mark(client, env, invoice["id"], {"state": "paid", "reason": "Paid 2024-06-01"}).json()["invoice"]
    assert log(sandbox) == [
        {"invoice_id": invoice["id"], "type": "ReceivedInvoice", "from": "new", "to": "accepted", "reason": None,
         "at": accepted["updated_at"]},
        {"invoice_id": invoice["id"], "type": "ReceivedInvoice", "from": "accepted", "to": "paid",
         "reason": "Paid 2024-06-01", "at": paid["updated_at"]},
    ]
    assert log(sandbox, "globex") == []
    assert sandbox.admin("GET", "b2brouter/state_changes", params={"tenant": "nobody"}).status_code == 404
    sandbox.admin("POST", "reset", json={"size": SIZE, "seed": 42}).raise_for_status()
    assert log(sandbox) == []


def test_client_mark_as(sandbox, env, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    invoice = received_in(sandbox, "new")
    refused = received_in(sandbox, "refused")
    sandbox.admin("POST", "faults", json={"unavailable_burst": 1, "systems": ["b2brouter"]}).raise_for_status()
    with B2BrouterResource(base_url=env["B2BROUTER_BASE_URL"], max_attempts=3).client(Tenant("acme")) as client:
        marked = client.mark_as(str(invoice["id"]), "refused", reason="Wrong VAT number")  # after one 503
        assert (marked["id"], marked["state"]) == (invoice["id"], "refused")
        assert client.mark_as(str(invoice["id"]), "refused") == marked
        with pytest.raises(RemoteError, match="refused") as error:
            client.mark_as(str(refused["id"]), "accepted")
        assert error.value.status == 422
    assert [(c["to"], c["reason"]) for c in log(sandbox)] == [("refused", "Wrong VAT number")]
    statuses = [r["status"] for r in sandbox.admin("GET", "stats").json()["requests"] if r["path"].endswith("/mark_as")]
    assert statuses == [503, 200, 200, 422]  # the 503 was retried, the 422 was not
