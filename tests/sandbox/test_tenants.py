"""Tenants and the streams beyond vendors: Rutter books, Jortt current and legacy, B2Brouter, ground truth."""

from __future__ import annotations

from decimal import Decimal

import pytest
from lxml import etree

from sandbox import credentials as cred
from sandbox.data import build_dataset, cents, money_value, unix_ms, vat_breakdown
from sandbox.server import tenant_env
from tests.sandbox import SIZE

RUTTER_AUTH = (cred.RUTTER_CLIENT_ID, cred.RUTTER_CLIENT_SECRET)
BOOKS = ["purchase_orders", "bills", "invoices", "customers", "accounts", "items"]
ACME, GLOBEX = cred.TENANTS["acme"], cred.TENANTS["globex"]
UBL_NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
          "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}


def truth(sandbox, system, stream, tenant="acme", **params) -> list[dict]:
    got = sandbox.admin("GET", f"truth/{system}/{stream}", params={"tenant": tenant, **params})
    assert got.status_code == 200, got.text
    return got.json()["records"]


def walk_rutter(client, stream, token=cred.RUTTER_ACCESS_TOKEN, **params) -> list[dict]:
    records, cursor = [], None
    while True:
        page = client.get(f"/rutter/versioned/accounting/{stream}", auth=RUTTER_AUTH,
                          headers={"X-Rutter-Version": cred.RUTTER_VERSION},
                          params={"access_token": token, **params, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        records += page.json()[stream]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return records


def jortt_bearer(client, tenant=ACME, scope=None) -> dict:
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    token = client.post("/jortt/oauth-provider/oauth/token", data=form, auth=tenant.jortt_client)
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def walk_jortt(client, path, headers, **params) -> list[dict]:
    page = client.get(f"/jortt{path}", params=params, headers=headers).json()
    rows = page["data"]
    while page["_links"]["next"] is not None:
        page = client.get(page["_links"]["next"]["href"], headers=headers).json()
        rows += page["data"]
    return rows


def b2b(client, path, tenant=ACME, **params):
    return client.get(f"/b2brouter{path}", params=params, headers={"X-B2B-API-Key": tenant.b2brouter_api_key})


def walk_b2b(client, tenant=ACME, limit=7, **params) -> list[dict]:
    rows = []
    while True:
        page = b2b(client, f"/accounts/{tenant.b2brouter_account_id}/invoices", tenant, offset=len(rows),
                   limit=limit, **params).json()
        rows += page["invoices"]
        if len(rows) >= page["meta"]["total_count"] or not page["invoices"]:
            return rows


def dec(value) -> Decimal:
    return Decimal(str(value))


# ---------------------------------------------------------------- tenants

def test_tenant_env_names_each_tenants_credentials():
    env = tenant_env("http://127.0.0.1:1")
    routty = tuple(cred.ROUTTY_CONFIGS)  # each company's own four Routty keys
    assert {k for k in env if k.startswith("ACME_")} == {f"ACME_{n}" for n in (
        "RUTTER_ACCESS_TOKEN", "JORTT_CLIENT_ID", "JORTT_CLIENT_SECRET", "B2BROUTER_API_KEY", "B2BROUTER_ACCOUNT_ID",
        *routty)}
    assert {k for k in env if k.startswith("GLOBEX_")} == {f"GLOBEX_{n}" for n in (
        "RUTTER_ACCESS_TOKEN", "JORTT_LEGACY_APP_NAME", "JORTT_LEGACY_API_KEY", "B2BROUTER_API_KEY",
        "B2BROUTER_ACCOUNT_ID", *routty)}
    assert env["GLOBEX_RUTTER_ACCESS_TOKEN"] == cred.RUTTER_ACCESS_TOKEN_2
    keys = [env[f"{prefix}_{n}"] for prefix in ("ACME", "GLOBEX") for n in routty]
    assert len(set(keys)) == 8 and set(keys) == set(cred.ROUTTY_KEYS)  # every one distinct, every one known
    assert all(cred.ROUTTY_KEYS[env[f"GLOBEX_{n}"]].tenant == "globex" for n in routty)
    assert env["JORTT_TOKEN_URL"] == "http://127.0.0.1:1/jortt/oauth-provider/oauth/token"
    assert "RUTTER_ACCESS_TOKEN" not in env and "JORTT_CLIENT_ID" not in env
    assert not set(routty) & set(env)  # no shared Routty key: a multi-company deployment needs none


def test_each_credential_sees_only_its_tenant(sandbox, client):
    acme_ids = {i["id"] for i in walk_jortt(client, "/invoices", jortt_bearer(client, ACME))}
    globex_ids = {i["id"] for i in walk_jortt(client, "/invoices", jortt_bearer(client, GLOBEX))}
    assert acme_ids == {i["id"] for i in truth(sandbox, "jortt", "invoices")}
    assert globex_ids == {i["id"] for i in truth(sandbox, "jortt", "invoices", "globex", api="current")}
    assert globex_ids and not acme_ids & globex_ids
    legacy = client.get("/jortt-legacy/api/invoices/status/all", auth=GLOBEX.jortt_legacy).json()["invoices"]
    assert {i["invoice_id"] for i in legacy} == globex_ids
    assert client.get("/jortt-legacy/api/invoices/status/all", auth=ACME.jortt_client).status_code == 401
    acme_invoice = truth(sandbox, "b2brouter", "issued_invoices")[0]["id"]
    assert b2b(client, f"/invoices/{acme_invoice}").status_code == 200
    assert b2b(client, f"/invoices/{acme_invoice}", GLOBEX).status_code == 404
    assert b2b(client, f"/invoices/{acme_invoice}/as/xml.ubl.invoice.bis3", GLOBEX).status_code == 404
    assert b2b(client, f"/accounts/{ACME.b2brouter_account_id}/invoices", GLOBEX).status_code == 404
    assert [a["id"] for a in b2b(client, "/accounts", GLOBEX).json()["accounts"]] == [10002]
    assert {i["id"] for i in walk_b2b(client, GLOBEX, limit=500)}.isdisjoint(
        i["id"] for i in walk_b2b(client, ACME, limit=500))
    assert sandbox.admin("GET", "truth/rutter/bills", params={"tenant": "initech"}).status_code == 404


# ---------------------------------------------------------------- Rutter books

@pytest.mark.parametrize("stream", BOOKS)
def test_rutter_stream_pages_completely_and_matches_truth(sandbox, client, stream):
    assert walk_rutter(client, stream, limit=11) == truth(sandbox, "rutter", stream)
    globex = walk_rutter(client, stream, token=cred.RUTTER_ACCESS_TOKEN_2, limit=500)
    assert globex == truth(sandbox, "rutter", stream, "globex")
    stamps = [unix_ms(r["updated_at"]) for r in globex if r["updated_at"]]
    assert stamps == sorted(stamps, reverse=True)
    first = globex[0]
    single = client.get(f"/rutter/versioned/accounting/{stream}/{first['id']}", auth=RUTTER_AUTH,
                        headers={"X-Rutter-Version": cred.RUTTER_VERSION},
                        params={"access_token": cred.RUTTER_ACCESS_TOKEN_2}).json()
    assert list(single.values()) == [first]


def test_rutter_books_refer_to_each_other_and_add_up():
    books = build_dataset(SIZE, 42).tenants["acme"].rutter.collections
    ids = {stream: {r["id"] for r in records} for stream, records in books.items()}
    pos = {po["id"]: po for po in books["purchase_orders"]}
    assert any(isinstance(po["total_amount"], str) for po in pos.values())  # the other copy of the docs
    for po in pos.values():
        assert po["vendor_id"] in ids["vendors"]
        assert dec(po["total_amount"]) == sum(dec(ln["total_amount"]) for ln in po["line_items"])
        for ln in po["line_items"]:
            assert ln["account_id"] in ids["accounts"] and ln["item"]["id"] in ids["items"]
            assert dec(ln["total_amount"]) == cents(dec(ln["item"]["quantity"]) * dec(ln["item"]["unit_amount"]))
    rates = {"1": 21, "2": 9, "3": 0}
    for doc in books["bills"] + books["invoices"]:
        sub = sum(dec(ln["total_amount"]) for ln in doc["line_items"])
        tax = sum(t for _, t in vat_breakdown([(dec(ln["total_amount"]), Decimal(rates[ln["tax_rate_id"]]))
                                               for ln in doc["line_items"]], dec(doc["total_discount"])).values())
        assert (dec(doc["sub_total"]), dec(doc["tax_amount"])) == (sub, tax)
        assert dec(doc["total_amount"]) == sub + tax - dec(doc["total_discount"])
    linked = [b for b in books["bills"] if b["linked_purchase_orders"]]
    assert linked and all(pos[b["linked_purchase_orders"][0]["id"]]["vendor_id"] == b["vendor_id"] for b in linked)
    assert all(i["customer_id"] in ids["customers"] for i in books["invoices"])
    assert any(i["issue_date"] is None for i in books["invoices"])
    assert any(a["updated_at"] is None for a in books["accounts"])
    assert {a["account_type"] for a in books["accounts"]} >= {"expense", "income", "bank", "accounts_payable"}


# ---------------------------------------------------------------- Jortt current

def test_jortt_invoices_follow_links_to_the_end_and_match_truth(sandbox, client):
    bearer = jortt_bearer(client)
    first = client.get("/jortt/invoices", headers=bearer).json()
    assert len(first["data"]) == 100 and first["_links"]["self"]["href"].endswith("page=1")
    invoices = walk_jortt(client, "/invoices", bearer)
    assert invoices == truth(sandbox, "jortt", "invoices") and len(invoices) > 100
    drafts = walk_jortt(client, "/invoices", bearer, invoice_status="draft")
    assert drafts and all(i["invoice_number"] is None for i in drafts)
    unpaid = walk_jortt(client, "/invoices", bearer, invoice_status="unpaid")
    late = walk_jortt(client, "/invoices", bearer, invoice_status="late")
    assert {i["id"] for i in late} < {i["id"] for i in unpaid}
    bad = client.get("/jortt/invoices", params={"per_page": 5}, headers=bearer)
    assert bad.status_code == 422 and bad.json()["error"]["key"] == "params.invalid"
    one = invoices[5]
    assert client.get(f"/jortt/invoices/{one['id']}", headers=bearer).json() == {"data": one}
    location = client.get(f"/jortt/invoices/{one['id']}/download", headers=bearer).json()["data"]["download_location"]
    assert location.startswith(sandbox.base_url)
    document = client.get(location)  # no Authorization: a pre-signed link
    assert document.headers["content-type"] == "application/pdf" and document.content.startswith(b"%PDF-")
    assert client.get(location).content == document.content
    assert client.get(location.replace("signature=", "signature=x")).status_code == 403


def test_jortt_invoices_add_up():
    invoices = build_dataset(SIZE, 42).tenants["acme"].jortt["invoices"]
    for inv in invoices:
        nets = []
        for ln in inv["line_items"]:
            net = money_value(ln["total_amount_excl_vat"])
            assert net == cents(Decimal(ln["number_of_units"]) * money_value(ln["amount_per_unit"]))
            nets.append((net, Decimal(ln["vat_percentage"])))
        total = money_value(inv["invoice_total"])
        assert total == sum(n for n, _ in nets)
        assert money_value(inv["invoice_total_incl_vat"]) == total + sum(t for _, t in vat_breakdown(nets).values())
    credits = [i for i in invoices if i["credited_invoice_id"]]
    assert credits and all(money_value(i["invoice_total"]) < 0 for i in credits)
    assert {i["invoice_status"] for i in invoices} == {"draft", "sent", "late", "paid"}
    spellings = {key for i in invoices for key in i["invoice_total"]}
    assert spellings == {"value", "amount", "currency"}  # a few in the v2 spelling


def test_jortt_expenses_and_ledger_accounts(sandbox, client):
    bearer = jortt_bearer(client)
    expenses = walk_jortt(client, "/v3/expenses", bearer)
    assert expenses == truth(sandbox, "jortt", "expenses") and len(expenses) == 2 * SIZE
    march = walk_jortt(client, "/v3/expenses", bearer, vat_date_from="2024-03-01", vat_date_till="2024-03-31")
    assert march == [e for e in expenses if "2024-03-01" <= e["vat_date"] <= "2024-03-31"] and march
    assert "supplier" not in expenses[0]
    for category in ("cost", "income", "balance"):
        rows = walk_jortt(client, f"/v3/ledger_accounts/expenses/{category}", bearer)
        assert rows == truth(sandbox, "jortt", f"ledger_accounts_{category}")
        assert len(client.get(f"/jortt/v3/ledger_accounts/expenses/{category}", headers=bearer).json()["data"]) <= 100
        assert set(rows[0]) == {"ledger_account_id", "parent_ledger_account_id", "name", "selectable"}
    income = {r["ledger_account_id"] for r in truth(sandbox, "jortt", "ledger_accounts_income")}
    assert all(ln["ledger_account_id"] in income for i in truth(sandbox, "jortt", "invoices") for ln in i["line_items"])
    assert client.get("/jortt/v3/ledger_accounts/expenses/other", headers=bearer).status_code == 404


def test_jortt_tokens_expire_and_scopes_are_enforced(sandbox, client):
    bearer = jortt_bearer(client, scope="customers:read")
    assert client.get("/jortt/customers", headers=bearer).status_code == 200
    denied = client.get("/jortt/invoices", headers=bearer)
    assert denied.status_code == 403 and denied.json()["error"]["key"] == "scopes.insufficient"
    sandbox.admin("POST", "jortt/expire_tokens").raise_for_status()
    expired = client.get("/jortt/customers", headers=bearer)
    assert expired.status_code == 401
    assert expired.json() == {"error": {"code": 401, "key": "access_token.expired",
                                        "message": "The access token has expired."}}
    assert client.get("/jortt/customers", headers=jortt_bearer(client)).status_code == 200  # ask again


# ---------------------------------------------------------------- Jortt legacy

def test_jortt_legacy_invoices(sandbox, client):
    auth = GLOBEX.jortt_legacy
    every = client.get("/jortt-legacy/api/invoices/status/all", auth=auth).json()["invoices"]
    assert every == truth(sandbox, "jortt", "invoices", "globex")
    inv = next(i for i in every if i["invoice_number"])
    assert {"invoice_id", "recipient", "creditor", "line_items", "invoice_total_incl_vat"} <= set(inv)
    assert set(inv["line_items"][0]) == {"description", "vat", "amount", "total_amount_ex_vat", "quantity", "currency"}
    assert inv["recipient"]["customer_id"] and isinstance(inv["invoice_total"], str)
    due = client.get("/jortt-legacy/api/invoices/status/due", auth=auth).json()["invoices"]
    late = client.get("/jortt-legacy/api/invoices/status/late", auth=auth).json()["invoices"]
    both = client.get("/jortt-legacy/api/invoices/status/due_and_late", auth=auth).json()["invoices"]
    assert sorted(i["invoice_id"] for i in due + late) == sorted(i["invoice_id"] for i in both)
    assert client.get(f"/jortt-legacy/api/invoices/id/{inv['invoice_id']}", auth=auth).json() == inv
    redirect = client.get(f"/jortt-legacy/api/invoices/id/{inv['invoice_id']}", params={"format": "pdf"}, auth=auth)
    assert redirect.status_code == 302 and client.get(redirect.headers["location"]).content.startswith(b"%PDF-")
    assert client.get("/jortt-legacy/api/invoices/status/overdue", auth=auth).status_code == 400
    assert client.get("/jortt-legacy/api/invoices/id/nope", auth=auth).status_code == 404


# ---------------------------------------------------------------- B2Brouter

@pytest.mark.parametrize("kind, stream", [("ReceivedInvoice", "received_invoices"),
                                          ("IssuedInvoice", "issued_invoices")])
def test_b2brouter_offset_paging_and_updated_at(sandbox, client, kind, stream):
    expected = truth(sandbox, "b2brouter", stream)
    walked = walk_b2b(client, type=kind)
    assert walked == expected and len(walked) > 7
    keys = [(unix_ms(i["updated_at"]), i["id"]) for i in walked]
    assert keys == sorted(keys)
    middle = walked[len(walked) // 2]["updated_at"]
    after = walk_b2b(client, type=kind, updated_at=middle)
    assert after == [i for i in walked if unix_ms(i["updated_at"]) > unix_ms(middle)]
    assert walk_b2b(client, type=kind, updated_at="2024-07-01") == \
        [i for i in walked if unix_ms(i["updated_at"]) > unix_ms("2024-07-01T00:00:00Z")]
    assert walk_b2b(client, type=kind, date_from="2024-03-01", date_to="2024-03-31") == \
        [i for i in walked if "2024-03-01" <= i["date"] <= "2024-03-31"]


def test_b2brouter_issued_invoices_follow_jortt(sandbox, client):
    sales = {i["invoice_number"]: i for i in truth(sandbox, "jortt", "invoices") if i["invoice_number"]}
    issued = walk_b2b(client, type="IssuedInvoice", limit=500)
    for inv in issued:
        assert dec(inv["total"]) == money_value(sales[inv["number"]]["invoice_total_incl_vat"])
    assert {i["state"] for i in issued} <= {"new", "sending", "sent", "accepted", "registered", "refused", "paid",
                                             "closed", "error"}
    contacts = b2b(client, f"/accounts/{ACME.b2brouter_account_id}/contacts", limit=500).json()
    assert contacts["contacts"] == truth(sandbox, "b2brouter", "contacts")
    assert contacts["meta"]["total_count"] == len(contacts["contacts"])
    assert any(c["is_client"] for c in contacts["contacts"]) and any(c["is_provider"] for c in contacts["contacts"])


@pytest.mark.parametrize("kind", ["ReceivedInvoice", "IssuedInvoice"])
def test_b2brouter_ubl_document_agrees_with_the_json(client, kind):
    inv = next(i for i in walk_b2b(client, limit=500) if i["type"] == kind and len(i["lines"]) > 1)
    got = b2b(client, f"/invoices/{inv['id']}/as/xml.ubl.invoice.bis3")
    assert got.headers["content-type"].startswith("application/xml") and got.headers["X-B2B-API-Request-Id"]
    doc = etree.fromstring(got.content)
    assert doc.tag == "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice"
    text = lambda path: doc.findtext(path, namespaces=UBL_NS)  # noqa: E731
    assert (text("cbc:ID"), text("cbc:IssueDate"), text("cbc:InvoiceTypeCode")) == (inv["number"], inv["date"], "380")
    assert dec(text("cac:LegalMonetaryTotal/cbc:PayableAmount")) == dec(inv["total"])
    assert dec(text("cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount")) == dec(inv["subtotal"])
    assert dec(text("cac:TaxTotal/cbc:TaxAmount")) == dec(inv["tax_amount"])
    assert len(doc.findall("cac:InvoiceLine", UBL_NS)) == len(inv["lines"])
    supplier = text("cac:AccountingSupplierParty/cac:Party/cac:PartyName/cbc:Name")
    assert (supplier == inv["contact"]["name"]) == (kind == "ReceivedInvoice")
    assert b2b(client, "/invoices/999999999/as/xml.ubl.invoice.bis3").status_code == 404


# ---------------------------------------------------------------- admin mutations

def test_touch_bumps_updated_at_and_delete_removes(sandbox, client):
    bills = truth(sandbox, "rutter", "bills")
    newest = max(unix_ms(b["updated_at"]) for b in bills if b["updated_at"])
    target = bills[-1]["id"]
    touched = sandbox.admin("POST", f"touch/rutter/bills/{target}", params={"tenant": "acme"},
                            json={"memo": "changed"}).json()["record"]
    assert touched["memo"] == "changed" and unix_ms(touched["updated_at"]) > newest
    assert [b["id"] for b in walk_rutter(client, "bills", updated_at_min=newest + 1)] == [target]
    vendor = truth(sandbox, "rutter", "vendors", "globex")[0]["id"]
    archived = sandbox.admin("POST", f"touch/rutter/vendors/{vendor}", params={"tenant": "globex"},
                             json={"status": "archived"}).json()["record"]
    assert archived["status"] == "archived"
    assert sandbox.admin("DELETE", f"truth/rutter/bills/{target}").json()["deleted"] == target
    assert target not in {b["id"] for b in walk_rutter(client, "bills", limit=500)}
    assert sandbox.admin("DELETE", f"truth/rutter/bills/{target}").status_code == 404

    received = truth(sandbox, "b2brouter", "received_invoices")
    last = max(i["updated_at"] for i in received + truth(sandbox, "b2brouter", "issued_invoices"))
    moved = sandbox.admin("POST", f"touch/b2brouter/received_invoices/{received[0]['id']}",
                          json={"state": "paid"}).json()
    assert moved["record"]["state"] == "paid" and moved["record"]["updated_at"] > last
    assert [i["id"] for i in walk_b2b(client, updated_at=last)] == [received[0]["id"]]

    customer = truth(sandbox, "jortt", "customers", "globex")[0]["customer_id"]  # the legacy shape
    renamed = sandbox.admin("POST", f"touch/jortt/customers/{customer}", params={"tenant": "globex"},
                            json={"customer_name": "Globex & Co"}).json()["record"]
    assert renamed["finance_company_name"] == "Globex & Co"
    sandbox.admin("DELETE", f"truth/jortt/invoices/{truth(sandbox, 'jortt', 'invoices')[0]['id']}").raise_for_status()
    assert len(walk_jortt(client, "/invoices", jortt_bearer(client))) == len(truth(sandbox, "jortt", "invoices"))


# ---------------------------------------------------------------- faults on the new endpoints

def test_malformed_records_in_jortt_and_b2brouter(sandbox, client):
    bearer = jortt_bearer(client)
    sandbox.admin("POST", "faults", json={"malformed_every": 3}).raise_for_status()
    data = client.get("/jortt/invoices", headers=bearer).json()["data"]
    assert "id" not in data[2] and data[5]["invoice_date"] == "not-a-date" and "id" in data[3]
    rows = b2b(client, f"/accounts/{ACME.b2brouter_account_id}/invoices", limit=6).json()["invoices"]
    assert "id" not in rows[2] and rows[5]["date"] == "not-a-date"
    bills = walk_rutter(client, "bills", limit=6)[:6]
    assert "id" not in bills[2] and bills[5]["updated_at"] == "not-a-date"


def test_faults_reach_token_documents_and_downloads(sandbox, client):
    bearer = jortt_bearer(client)
    sandbox.admin("POST", "faults", json={"rate_limit_burst": 1}).raise_for_status()
    throttled = client.post("/jortt/oauth-provider/oauth/token", data={"grant_type": "client_credentials"},
                            auth=ACME.jortt_client)
    assert throttled.status_code == 429 and throttled.json()["error"]["key"] == "request.throttled"
    invoice = truth(sandbox, "b2brouter", "received_invoices")[0]["id"]
    busy = b2b(client, f"/invoices/{invoice}/as/xml.ubl.invoice.bis3")
    assert busy.status_code == 429 and busy.headers["X-B2B-API-Request-Id"]
    assert b2b(client, f"/invoices/{invoice}/as/xml.ubl.invoice.bis3").status_code == 200
    faults = {"rate_limit_burst": 0, "unavailable_burst": 1, "systems": ["jortt"]}
    sandbox.admin("POST", "faults", json=faults).raise_for_status()
    assert client.get("/jortt/invoices", headers=bearer).json()["error"]["key"] == "server.maintenance"
