"""Jortt and B2Brouter clients ⇄ their simulators: tokens, paging, legacy API, UBL documents."""


import pytest
from lxml import etree

from assets.ingest.endpoints import jortt as jortt_streams
from assets.ingest.factory import Window
from resources.b2brouter import B2BrouterResource
from resources.http import CredentialsError
from resources.jortt import JorttResource
from resources.tenants import Tenant

ACME, GLOBEX = Tenant("acme", "ACME_"), Tenant("globex", "GLOBEX_", jortt_api="legacy")


@pytest.fixture
def env(sandbox, monkeypatch):
    values = sandbox.tenant_env()
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def jortt(env) -> JorttResource:
    return JorttResource(base_url=env["JORTT_BASE_URL"], token_url=env["JORTT_TOKEN_URL"],
                         legacy_base_url=env["JORTT_LEGACY_BASE_URL"])


def token_requests(sandbox) -> int:
    return sum(r["path"].endswith("/oauth/token") for r in sandbox.admin("GET", "stats").json()["requests"])


def records(pages, key: str) -> list[dict]:
    return [r for page in pages for r in page.data[key]]


def test_jortt_pages_follow_links_with_one_token(env, sandbox):
    with jortt(env).client(ACME) as client:
        customers = records(client.pages("/customers"), "data")
        invoices = records(client.pages("/invoices"), "data")
    assert sorted(c["id"] for c in customers) == sorted(r["id"] for r in sandbox.admin("GET", "truth/jortt/customers", params={"tenant": "acme"}).json()["records"])
    assert len(invoices) == len(sandbox.admin("GET", "truth/jortt/invoices", params={"tenant": "acme"}).json()["records"]) > 100
    assert token_requests(sandbox) == 1  # cached across every page


def test_jortt_ledger_accounts_of_every_kind_follow_next_links(env, sandbox):
    endpoint = next(e for e in jortt_streams.ENDPOINTS if e.spec is jortt_streams.LEDGER_ACCOUNTS)
    with jortt(env).client(ACME) as client:
        landed = {r["ledger_account_id"] for r in records(endpoint.pages(client, Window()), "data")}
    kinds = {k: sandbox.admin("GET", f"truth/jortt/ledger_accounts_{k}", params={"tenant": "acme"}).json()["records"]
             for k in jortt_streams.LEDGER_KINDS}
    assert len(kinds["cost"]) > 100  # more than one page
    assert landed == {r["ledger_account_id"] for rows in kinds.values() for r in rows}


def test_jortt_token_is_asked_for_again_once_when_expired(env, sandbox):
    with jortt(env).client(ACME) as client:
        client.get("/organizations/me")
        sandbox.admin("POST", "jortt/expire_tokens").raise_for_status()
        assert client.get("/organizations/me")["data"]
    assert token_requests(sandbox) == 2


def test_jortt_wrong_client_secret_fails_fast_naming_the_tenant_variable(env, sandbox, monkeypatch):
    monkeypatch.setenv("ACME_JORTT_CLIENT_SECRET", "wrong")
    with jortt(env).client(ACME) as client, pytest.raises(CredentialsError, match="ACME_JORTT_CLIENT_SECRET"):
        client.get("/organizations/me")
    assert token_requests(sandbox) == 1


def test_jortt_legacy_customers_and_invoices(env, sandbox):
    with jortt(env).legacy_client(GLOBEX) as client:
        customers = records(client.customer_pages(), "customers")
        invoices = records(client.invoice_pages("all"), "invoices")
    truth = sandbox.admin("GET", "truth/jortt/customers", params={"tenant": "globex"}).json()["records"]
    assert sorted(c["customer_id"] for c in customers) == sorted(t["customer_id"] for t in truth)
    assert invoices and all("invoice_id" in i for i in invoices)


def test_b2brouter_offset_paging_filters_and_ubl(env, sandbox):
    resource = B2BrouterResource(base_url=env["B2BROUTER_BASE_URL"], page_size=7)
    with resource.client(ACME) as client:
        received = records(client.invoice_pages("ReceivedInvoice"), "invoices")
        newest = max(i["updated_at"] for i in received)
        since = records(client.invoice_pages("ReceivedInvoice", updated_at=newest), "invoices")
        ubl = etree.fromstring(client.document(str(received[0]["id"])))
    truth = sandbox.admin("GET", "truth/b2brouter/received_invoices", params={"tenant": "acme"}).json()["records"]
    assert sorted(i["id"] for i in received) == sorted(t["id"] for t in truth)
    assert since == []  # strictly after the newest
    ns = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
          "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}
    assert float(ubl.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=ns)) == pytest.approx(float(received[0]["total"]))


def test_b2brouter_keys_see_only_their_own_account(env, monkeypatch):
    monkeypatch.setenv("ACME_B2BROUTER_ACCOUNT_ID", env["GLOBEX_B2BROUTER_ACCOUNT_ID"])
    with B2BrouterResource(base_url=env["B2BROUTER_BASE_URL"]).client(ACME) as client, pytest.raises(Exception):
        list(client.invoice_pages("ReceivedInvoice"))
