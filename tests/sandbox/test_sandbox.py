"""The sandbox simulators behave like the contract says: vendors, Routty, faults and admin."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from resources.contracts import b2brouter as b2b_contract
from sandbox import credentials as cred
from sandbox.data import IBAN_LENGTHS, TAX_RATES, build_dataset, iban_is_valid, unix_ms
from tests.sandbox import SIZE


def rutter(client, path="/accounting/vendors", auth=(cred.RUTTER_CLIENT_ID, cred.RUTTER_CLIENT_SECRET),
           version=cred.RUTTER_VERSION, **params):
    params.setdefault("access_token", cred.RUTTER_ACCESS_TOKEN)
    return client.get(f"/rutter/versioned{path}", params=params, auth=auth,
                      headers={"X-Rutter-Version": version} if version else {})


def walk_vendors(client, **params) -> list[dict]:
    vendors, cursor = [], None
    while True:
        page = rutter(client, **params, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        vendors += page.json()["vendors"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return vendors


# ---------------------------------------------------------------- dataset

def test_dataset_is_deterministic_and_messy():
    a, b, other = build_dataset(SIZE, 42), build_dataset(SIZE, 42), build_dataset(SIZE, 43)
    assert a == b
    assert a.vendors() != other.vendors()
    vendors = a.vendors()
    names = " ".join(v["vendor_name"] for v in vendors)
    assert any(ch in names for ch in "&<>\"'") and not names.isascii()
    assert any(v["status"] == "archived" for v in vendors)
    assert any(v["updated_at"] is None for v in vendors)
    assert any(v["addresses"] == [] for v in vendors)
    assert any("email" not in v for v in vendors) and any(v.get("email", "") is None for v in vendors)
    assert len(a.vendors(cred.RUTTER_ACCESS_TOKEN_2)) >= 8


def test_ibans_have_valid_checksums():
    ds = build_dataset(200, 7)
    acme = ds.tenants["acme"]
    ibans = [c["iban"] for c in acme.b2b["contacts"] if "iban" in c] + [acme.jortt_organization["bank_account_iban"]]
    assert len(ibans) > 10
    for iban in ibans:
        assert iban_is_valid(iban) and len(iban) == IBAN_LENGTHS[iban[:2]], iban
    assert iban_is_valid("NL91ABNA0417164300") and not iban_is_valid("NL92ABNA0417164300")


# ---------------------------------------------------------------- Rutter

def test_rutter_pagination_walks_all_vendors_once(sandbox, client):
    truth = sandbox.admin("GET", "rutter/vendors").json()["vendors"]
    walked = walk_vendors(client, limit=7)
    ids = [v["id"] for v in walked]
    assert len(ids) == len(set(ids)) == len(truth) == SIZE
    stamps = [unix_ms(v["updated_at"]) for v in walked if v["updated_at"]]
    assert stamps == sorted(stamps, reverse=True)
    assert walked[-1]["updated_at"] is None  # nulls last


def test_rutter_incremental_filter_sees_a_touched_vendor(sandbox, client):
    vendors = walk_vendors(client, limit=500)
    newest = max(unix_ms(v["updated_at"]) for v in vendors if v["updated_at"])
    assert walk_vendors(client, updated_at_min=newest + 1) == []
    target = vendors[-1]["id"]
    touched = sandbox.admin("POST", f"rutter/vendors/{target}", json={"email": "new@example.nl"}).json()["vendor"]
    assert unix_ms(touched["updated_at"]) > newest
    assert [v["id"] for v in walk_vendors(client, updated_at_min=newest + 1)] == [target]


def test_rutter_rejects_what_the_real_api_rejects(client):
    unknown = rutter(client, foo="1")
    assert unknown.status_code == 400
    assert unknown.json() == {"error_type": "INVALID_REQUEST", "error_code": "UNKNOWN_PARAMETER",
                              "error_message": "Unknown query parameter: foo"}
    assert rutter(client, limit=501).status_code == 400
    assert rutter(client, updated_at_min="2024-01-01").json()["error_code"] == "INVALID_PARAMETER"
    assert rutter(client, version=None).json()["error_code"] == "UNSUPPORTED_VERSION"
    cursor = rutter(client, limit=5).json()["next_cursor"]
    assert rutter(client, cursor=cursor, updated_at_min=1).json()["error_code"] == "INVALID_CURSOR"


def test_rutter_wrong_credentials_401(client):
    wrong = rutter(client, auth=("sandbox-rutter-client-id", "nope"))
    assert wrong.status_code == 401 and wrong.json()["error_code"] == "INVALID_CREDENTIALS"
    token = rutter(client, access_token="unknown")
    assert token.status_code == 401 and "access_token" in token.json()["error_message"]


def test_rutter_single_objects(client):
    vendor = rutter(client, limit=1).json()["vendors"][0]
    assert rutter(client, f"/accounting/vendors/{vendor['id']}").json() == {"vendor": vendor}
    assert rutter(client, "/accounting/vendors/nope").json()["error_code"] == "NOT_FOUND"
    info = rutter(client, "/accounting/company_info").json()
    assert info["company_info"]["addresses"][0]["country"] == "NL"
    status = rutter(client, "/connections/status").json()["status"]
    assert status["is_ready"] is True
    second = rutter(client, access_token=cred.RUTTER_ACCESS_TOKEN_2, limit=500).json()["vendors"]
    assert not {v["id"] for v in second} & {v["id"] for v in walk_vendors(client, limit=500)}


def test_rutter_tax_rates_state_every_rate_the_books_use(client):
    """Every tax_rate_id on an invoice, bill or PO line has a tax rate with a usable percentage, in each
    of the shapes platforms send: the dataset itself has no unknown rate (tests make those)."""
    dataset = build_dataset(SIZE, 42)
    for name, tenant in dataset.tenants.items():
        books = tenant.rutter.collections
        used = {ln["tax_rate_id"] for stream in ("invoices", "bills", "purchase_orders")
                for record in books[stream] for ln in record["line_items"]}
        rates = {r["id"]: r for r in books["tax_rates"]}
        assert used <= set(rates) and used, name
        for rid, rate in rates.items():
            given = [rate["effective_tax_rate"], rate["total_tax_rate"],
                     sum(c["rate"] for c in rate["components"]) if rate["components"] else None]
            assert next(v for v in given if v is not None) == float(TAX_RATES[rid]), rid
    shapes = {tuple(k for k in ("effective_tax_rate", "total_tax_rate") if r[k] is not None) + (bool(r["components"]),)
              for r in dataset.tenants["acme"].rutter.collections["tax_rates"]}
    assert shapes == {("effective_tax_rate", "total_tax_rate", True), (True,), ("total_tax_rate", False)}
    page = rutter(client, "/accounting/tax_rates", limit=2).json()
    assert "connection" not in page and len(page["tax_rates"]) == 2 and page["next_cursor"]
    first = page["tax_rates"][0]
    assert rutter(client, f"/accounting/tax_rates/{first['id']}").json() == {"tax_rate": first}
    assert rutter(client, "/accounting/tax_rates", sort="name").status_code == 400


# ---------------------------------------------------------------- Routty

ROUTTY = {"Authorization": f"ApiKey {cred.ROUTTY_API_KEY}", "content-type": "application/xml"}


def party_list(number="V-1", name="Café Müller &amp; Söhne GmbH", extra="") -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<PartyList>
  <Party>
    <Metadata>
      <Number>{number}</Number>
      <Name1>{name}</Name1>
      <CountryCode>DE</CountryCode>
      <PartyRegistrationNumbers>
        <PartyRegistrationNumber><Number>DE123456789</Number><Scheme>VAT</Scheme></PartyRegistrationNumber>
        {extra}
      </PartyRegistrationNumbers>
    </Metadata>
    <Type><Name>Supplier</Name></Type>
    <Active>true</Active>
  </Party>
</PartyList>""".encode()


def upload_and_wait(client, body: bytes) -> dict:
    status_id = client.post("/routty/connector-api/masterdata", content=body,
                            headers={**ROUTTY, "x-correlation-id": "corr-1"}).json()["statusId"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = client.get(f"/routty/connector-api/masterdata/status/{status_id}", headers=ROUTTY).json()
        if status["status"] != "Pending":
            return status
        time.sleep(0.05)
    raise AssertionError("upload stayed Pending")


def test_routty_upload_goes_pending_then_success(sandbox, client):
    posted = client.post("/routty/connector-api/masterdata", content=party_list(),
                         headers={**ROUTTY, "x-correlation-id": "corr-1"})
    assert posted.status_code == 200
    status_id = posted.json()["statusId"]
    first = client.get(f"/routty/connector-api/masterdata/status/{status_id}", headers=ROUTTY).json()
    assert first == {"statusId": status_id, "status": "Pending", "errors": []}
    time.sleep(0.25)
    done = client.get(f"/routty/connector-api/masterdata/status/{status_id}", headers=ROUTTY).json()
    assert done["status"] == "Success", done
    listed = client.get("/routty/connector-api/masterdata", headers=ROUTTY).json()["items"]
    assert listed == [{"number": "V-1", "name": "Café Müller & Söhne GmbH", "type": "Supplier", "active": True}]
    upload = sandbox.admin("GET", "routty/masterdata").json()["uploads"][0]
    assert upload["correlation_id"] == "corr-1" and upload["party_count"] == 1 and "Authorization" not in \
        json.dumps(upload["headers"])
    deleted = client.post("/routty/connector-api/masterdata/delete", json={"type": "Party", "numbers": ["V-1"]},
                          headers=ROUTTY).json()
    assert deleted["deleted"] == ["V-1"]
    assert client.get("/routty/connector-api/masterdata", headers=ROUTTY).json()["items"] == []


def test_routty_malformed_xml_400(client):
    bad = client.post("/routty/connector-api/masterdata", content=b"<PartyList>\n<Party></PartyList>",
                      headers=ROUTTY)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["code"] == "MalformedXml" and bad.json()["errors"][0]["line"] == 2


def test_routty_rule_violations_fail_naming_party_and_field(client):
    too_long = upload_and_wait(client, party_list(number="V-9", name="x" * 401))
    assert too_long["status"] == "Failed"
    assert any("V-9" in e["message"] and "Name1" in e["message"] and e["code"] == "MaxLengthExceeded"
               for e in too_long["errors"]), too_long
    twice = '<PartyRegistrationNumber><Number>1</Number><Scheme>VAT</Scheme></PartyRegistrationNumber>'
    codes = {e["code"] for e in upload_and_wait(client, party_list(extra=twice + "<Foo/>"))["errors"]}
    assert codes == {"DuplicateRegistrationScheme", "UnknownElement"}
    empty = upload_and_wait(client, b"<PartyList/>")
    assert empty["errors"][0]["code"] == "EmptyList"


def test_routty_auth_and_fail_next(sandbox, client):
    denied = client.post("/routty/connector-api/masterdata", content=party_list(),
                         headers={**ROUTTY, "Authorization": "ApiKey wrong"})
    assert denied.status_code == 401 and denied.json()["status"] == 401
    sandbox.admin("POST", "routty/settings", json={"fail_next": 1, "processing_delay": 0}).raise_for_status()
    assert upload_and_wait(client, party_list())["errors"][0]["code"] == "SimulatedFailure"
    assert upload_and_wait(client, party_list())["status"] == "Success"


# ---------------------------------------------------------------- Jortt and B2Brouter

def test_jortt_current_and_legacy(client):
    env_auth = (cred.JORTT_CLIENT_ID, cred.JORTT_CLIENT_SECRET)
    form = {"grant_type": "client_credentials", "scope": "customers:read organizations:read"}
    assert client.post("/jortt/oauth-provider/oauth/token", data=form, auth=("x", "y")).status_code == 401
    token = client.post("/jortt/oauth-provider/oauth/token", data=form, auth=env_auth).json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 7200
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    page = client.get("/jortt/customers", params={"page": 1}, headers=bearer).json()
    assert len(page["data"]) == SIZE // 2 and page["_links"]["next"] is None
    assert client.get("/jortt/organizations/me", headers=bearer).json()["data"]["bank_account_iban"]
    bad = client.get("/jortt/customers", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["error"]["key"] == "access_token.invalid"
    legacy = client.get("/jortt-legacy/api/customers/all", params={"page": 1, "per_page": 50},
                        auth=(cred.JORTT_LEGACY_APP_NAME, cred.JORTT_LEGACY_API_KEY)).json()
    assert len(legacy["customers"]) == max(5, SIZE // 4 // 2) and "finance_company_name" in legacy["customers"][0]
    assert client.get("/jortt-legacy/api/customers/all", auth=("a", "b")).status_code == 401


def test_b2brouter(client):
    headers = {"X-B2B-API-Key": cred.B2BROUTER_API_KEY, "X-B2B-API-Version": b2b_contract.VERSION}
    accounts = client.get("/b2brouter/accounts", headers=headers)
    assert accounts.headers["X-B2B-API-Request-Id"] and accounts.headers["X-B2B-API-Version"] == b2b_contract.VERSION
    assert str(accounts.json()["accounts"][0]["id"]) == cred.B2BROUTER_ACCOUNT_ID
    invoices = client.get(f"/b2brouter/accounts/{cred.B2BROUTER_ACCOUNT_ID}/invoices",
                          params={"type": "ReceivedInvoice", "limit": 2}, headers=headers).json()
    assert len(invoices["invoices"]) == 2 and invoices["meta"]["total_count"] >= 5
    assert client.get("/b2brouter/accounts", headers={"X-B2B-API-Key": "nope"}).status_code == 401
    assert client.get(f"/b2brouter/accounts/{cred.B2BROUTER_ACCOUNT_ID}/invoices", params={"limit": 501},
                      headers=headers).status_code == 400


# ---------------------------------------------------------------- faults and admin

def set_faults(sandbox, **settings):
    sandbox.admin("POST", "faults", json=settings).raise_for_status()


@pytest.mark.parametrize("setting, expected", [
    ({"rate_limit_every": 3}, [200, 200, 429, 200, 200, 429]),
    ({"rate_limit_burst": 2}, [429, 429, 200, 200]),
    ({"unavailable_every": 2}, [200, 503, 200, 503]),
    ({"unavailable_burst": 1}, [503, 200]),
])
def test_status_faults(sandbox, client, setting, expected):
    set_faults(sandbox, systems=["rutter"], retry_after=2, **setting)
    got = [rutter(client, limit=1) for _ in expected]
    assert [r.status_code for r in got] == expected
    limited = [r for r in got if r.status_code == 429]
    assert all(r.headers["Retry-After"] == "2" and r.json()["error_code"] == "RATE_LIMITED" for r in limited)
    other = client.get("/b2brouter/accounts", headers={"X-B2B-API-Key": cred.B2BROUTER_API_KEY})
    assert other.status_code == 200  # faults limited to rutter


def test_drop_latency_and_malformed_faults(sandbox, client):
    set_faults(sandbox, drop_every=2)
    assert rutter(client, limit=1).status_code == 200
    with pytest.raises(httpx.TransportError):
        rutter(client, limit=1)
    set_faults(sandbox, latency_ms=300)
    started = time.monotonic()
    assert rutter(client, limit=1).status_code == 200 and time.monotonic() - started >= 0.3
    set_faults(sandbox, malformed_every=5)
    vendors = rutter(client, limit=10).json()["vendors"]
    assert "id" not in vendors[4] and vendors[9]["updated_at"] == "not-a-date"
    assert all("id" in v and v["updated_at"] != "not-a-date" for i, v in enumerate(vendors) if i not in (4, 9))
    assert sandbox.admin("POST", "faults", json={"nope": 1}).status_code == 400


def test_stats_mask_secrets(sandbox, client):
    sandbox.admin("DELETE", "stats")
    rutter(client, limit=3)
    stats = sandbox.admin("GET", "stats").json()
    assert stats["counts"] == {"rutter": 1}
    assert stats["requests"][0]["query"] == {"access_token": "***", "limit": "3"}
    assert stats["requests"][0]["status"] == 200
