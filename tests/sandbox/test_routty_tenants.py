"""Routty's simulator keeps its tenants apart: every key belongs to one tenant and one connector
configuration, an unknown key is refused, and masterdata, documents, exports and feedback are each seen
only through the keys of the tenant they came under (the admin views say which)."""

import pytest

from sandbox import credentials as cred
from tests.sandbox import routty_auth as key
from tests.sandbox.test_routty_documents import API, BLOCK, MASTERDATA, PARTIES, received, send, status, ubl
from tests.sandbox.test_routty_output_sim import download, feedback_for, waiting

OUTPUT = "/routty/connector-api/output-api/output-documents"
XML = {"content-type": "application/xml"}


def upload(client, tenant: str, xml: str = PARTIES) -> str:
    answer = client.post(MASTERDATA, content=xml.encode(), headers={**key(tenant), **XML})
    assert answer.status_code == 200, answer.text
    return answer.json()["statusId"]


@pytest.fixture(autouse=True)
def instant(sandbox):
    sandbox.admin("POST", "routty/settings", json={"processing_delay": 0, "document_processing_delay": 0})


def test_an_unknown_key_is_refused_and_a_known_one_opens_only_its_configuration(client):
    stale = {"Authorization": "ApiKey sandbox-routty-api-key"}  # the sandbox's old shared key: no tenant's
    for method, path in (("POST", MASTERDATA), ("GET", MASTERDATA), ("GET", f"{MASTERDATA}/status/x"),
                         ("POST", API), ("GET", OUTPUT)):
        refused = client.request(method, path, headers=stale)
        assert refused.status_code == 401 and "API key" in refused.json()["detail"], (method, path)
    wrong = client.get(MASTERDATA, headers=key("globex", "ROUTTY_INPUT_INBOUND_API_KEY"))
    assert wrong.status_code == 403 and "Input Inbound" in wrong.json()["detail"]
    assert client.get(OUTPUT, headers=key("globex")).status_code == 403
    assert client.post(API, json={"receivedOn": received()}, headers={
        **key("globex", "ROUTTY_OUTPUT_INBOUND_API_KEY"), "x-correlation-id": "INV-1"}).status_code == 403


def test_masterdata_lands_in_its_tenants_store_only(sandbox, client):
    status_id = upload(client, "acme")
    assert client.get(f"{MASTERDATA}/status/{status_id}", headers=key("acme")).json()["status"] == "Success"
    unknown = client.get(f"{MASTERDATA}/status/{status_id}", headers=key("globex"))
    assert unknown.status_code == 404  # Routty does not know acme's upload for globex
    assert [p["number"] for p in client.get(MASTERDATA, headers=key("acme")).json()["items"]] == ["C-1", "V-1"]
    assert client.get(MASTERDATA, headers=key("globex")).json()["items"] == []
    store = {t: sandbox.admin("GET", "routty/store", params={"tenant": t}).json() for t in ("acme", "globex")}
    assert set(store["acme"]["parties"]) == {"C-1", "V-1"} and store["globex"]["parties"] == {}
    assert set(sandbox.admin("GET", "routty/store").json()["parties"]) == {"C-1", "V-1"}  # all tenants
    [shown] = sandbox.admin("GET", "routty/masterdata").json()["uploads"]
    assert (shown["statusId"], shown["routty_tenant"], shown["key_name"]) == (status_id, "acme", "ROUTTY_API_KEY")
    assert sandbox.admin("GET", "routty/masterdata", params={"tenant": "globex"}).json()["uploads"] == []
    assert sandbox.admin("GET", "routty/store", params={"tenant": "initech"}).status_code == 404
    # A deletion with globex's key finds nothing of acme's and is known to globex only.
    deleted = client.post(f"{MASTERDATA}/delete", json={"type": "Party", "numbers": ["V-1"]},
                          headers=key("globex")).json()
    assert deleted["notFound"] == ["V-1"]
    assert client.get(f"{MASTERDATA}/status/{deleted['statusId']}", headers=key("acme")).status_code == 404
    partners = sandbox.admin("GET", "routty/partners").json()
    assert {(p["number"], p["routty_tenant"]) for p in partners["partners"]} == {("C-1", "acme"), ("V-1", "acme")}
    assert [(d["routty_tenant"], d["key_name"]) for d in partners["deletions"]] == [("globex", "ROUTTY_API_KEY")]


def test_documents_are_enriched_against_their_own_tenants_partners(sandbox, client):
    upload(client, "acme")  # customer C-1 and supplier V-1 are acme's partners only
    acme_in, globex_in = (key(t, "ROUTTY_INPUT_INBOUND_API_KEY") for t in ("acme", "globex"))
    globex_out = key("globex", "ROUTTY_INPUT_OUTBOUND_API_KEY")
    mine = send(client, ubl(), acme_in, "PINV-1")
    theirs = send(client, ubl(), globex_in, "PINV-1")  # the same invoice, the same correlation id
    sales = send(client, ubl(), globex_out, "INV-1")
    assert status(client, mine, acme_in)["status"] == "Success"
    assert status(client, theirs, globex_in)["errorCode"] == "BusinessPartnerNotFoundForEnrichment"
    assert status(client, sales, globex_out)["errorCode"] == "BusinessPartnerNotFound"
    assert client.get(f"{API}/{mine}", headers=globex_in).status_code == 404  # acme's document, globex's key
    assert client.post(f"{API}/{theirs}/cancel", headers=acme_in).status_code == 404
    globex = sandbox.admin("GET", "routty/documents", params={"tenant": "globex"}).json()
    assert {(d["documentId"], d["routty_tenant"], d["key_name"]) for d in globex["documents"]} == {
        (theirs, "globex", "ROUTTY_INPUT_INBOUND_API_KEY"), (sales, "globex", "ROUTTY_INPUT_OUTBOUND_API_KEY")}
    every = sandbox.admin("GET", "routty/documents").json()
    assert len(every["documents"]) == 3 and every["duplicates"] == {}  # a correlation id repeats per tenant only
    assert every["counts"] == {"Success": 1, "Error": 2}


def test_exports_and_feedback_stay_with_the_tenant_whose_key_sent_the_document(sandbox, client):
    upload(client, "globex")
    globex_out = key("globex", "ROUTTY_OUTPUT_INBOUND_API_KEY")
    send(client, ubl(), key("globex", "ROUTTY_INPUT_INBOUND_API_KEY"), "PINV-G")
    items = waiting(client, globex_out)["items"]
    assert items[0]["correlationId"] == "PINV-G" and waiting(client)["totalCount"] == 0  # not in acme's queue
    root = download(client, items[0])
    url = f"{OUTPUT}/{items[0]['documentId']}/feedback"
    assert client.post(url, content=feedback_for(root), headers={**key("acme", "ROUTTY_OUTPUT_INBOUND_API_KEY"),
                                                                 **XML}).status_code == 404
    assert client.post(url, content=feedback_for(root), headers={**globex_out, **XML}).status_code == 200
    [told] = sandbox.admin("GET", "routty/exports", params={"tenant": "globex"}).json()["feedback"][
        items[0]["documentId"]]
    assert (told["routty_tenant"], told["key_name"]) == ("globex", "ROUTTY_OUTPUT_INBOUND_API_KEY")
    assert sandbox.admin("GET", "routty/exports", params={"tenant": "acme"}).json()["feedback"] == {}


def test_the_admin_views_name_keys_never_show_them(sandbox, client):
    upload(client, "acme")
    send(client, ubl(), key("acme", "ROUTTY_INPUT_OUTBOUND_API_KEY"), "INV-1")
    client.put(client.post(API, json={"receivedOn": received()}, headers={
        **key("globex", "ROUTTY_INPUT_INBOUND_API_KEY"), "x-correlation-id": "PINV-1"}).json()["uploadUrl"],
        content=ubl(), headers=BLOCK)
    views = ("routty/masterdata", "routty/store", "routty/partners", "routty/documents", "stats",
             *(f"routty/exports?tenant={t}" for t in cred.TENANTS))
    shown = " ".join(sandbox.admin("GET", view).text for view in views)
    assert "ROUTTY_API_KEY" in shown and not [k for k in cred.ROUTTY_KEYS if k in shown]

