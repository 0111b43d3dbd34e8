"""Rutter client ⇄ Rutter simulator: pagination, incremental filter, auth and parameter errors."""

from datetime import datetime

import pytest

from resources.http import CredentialsError, RemoteError
from resources.rutter import RutterResource
from resources.tenants import Tenant

TENANT = Tenant("default")


class resource:
    """A RutterResource on the sandbox, its client opened for the default tenant."""

    def __init__(self, sandbox, **overrides):
        env = sandbox.env()
        settings = dict(base_url=env["RUTTER_BASE_URL"], client_id=env["RUTTER_CLIENT_ID"],
                        client_secret=env["RUTTER_CLIENT_SECRET"])
        self.resource = RutterResource(**{**settings, **overrides})

    def client(self):
        return self.resource.client(TENANT)


def ground_truth(sandbox) -> list[dict]:
    return sandbox.admin("GET", "rutter/vendors", params={"access_token": sandbox.env()["RUTTER_ACCESS_TOKEN"]}).json()["vendors"]


@pytest.fixture(autouse=True)
def access_token(sandbox, monkeypatch):
    monkeypatch.setenv("RUTTER_ACCESS_TOKEN", sandbox.env()["RUTTER_ACCESS_TOKEN"])


def test_pagination_walks_every_vendor_once(sandbox):
    with resource(sandbox, page_size=17).client() as client:
        pages = list(client.pages("vendors"))
    ids = [v["id"] for page in pages for v in page.data["vendors"]]
    assert sorted(ids) == sorted(v["id"] for v in ground_truth(sandbox))
    assert len(ids) == len(set(ids))
    assert len(pages) == -(-len(ids) // 17) and pages[-1].data["next_cursor"] is None
    assert client.http.stats.requests == len(pages)


def test_updated_at_min_returns_only_newer_vendors(sandbox):
    truth = [v for v in ground_truth(sandbox) if v["updated_at"]]
    newest = sorted(v["updated_at"] for v in truth)[-5]
    from datetime import datetime
    since_ms = int(datetime.fromisoformat(newest.replace("Z", "+00:00")).timestamp() * 1000)
    with resource(sandbox).client() as client:
        got = [v for page in client.pages("vendors", updated_at_min_ms=since_ms) for v in page.data["vendors"]]
    assert {v["id"] for v in got} == {v["id"] for v in truth if v["updated_at"] >= newest}


def test_unknown_query_parameter_is_a_400(sandbox):
    with resource(sandbox).client() as client, pytest.raises(RemoteError) as raised:
        client.http.get_json("/accounting/vendors", params={"sort": "name"})
    assert raised.value.status == 400 and "sort" in str(raised.value)


def test_wrong_secret_or_access_token_fails_fast(sandbox, monkeypatch):
    with resource(sandbox, client_secret="nope").client() as client, pytest.raises(CredentialsError, match="RUTTER_"):
        list(client.pages("vendors"))
    assert client.http.stats.requests == 1
    monkeypatch.setenv("RUTTER_ACCESS_TOKEN", "nope")
    with resource(sandbox).client() as client, pytest.raises(CredentialsError, match="RUTTER_ACCESS_TOKEN"):
        list(client.pages("vendors"))
    assert client.http.stats.requests == 1


def test_company_info(sandbox):
    with resource(sandbox).client() as client:
        info = client.get("/accounting/company_info")["company_info"]
    assert info["id"] and (info.get("name") or info.get("legal_name"))


def test_tax_rates_page_by_cursor_and_filter_by_updated_at(sandbox):
    truth = sandbox.admin("GET", "truth/rutter/tax_rates").json()["records"]
    with resource(sandbox, page_size=2).client() as client:
        pages = list(client.pages("tax_rates"))
    assert [r for page in pages for r in page.data["tax_rates"]] == truth
    assert len(pages) == -(-len(truth) // 2) and "connection" not in pages[0].data  # as the contract shows it
    assert set(truth[0]) >= {"id", "platform_id", "status", "code", "name", "effective_tax_rate", "total_tax_rate",
                             "components", "created_at", "updated_at"}
    changed = sandbox.admin("POST", f"touch/rutter/tax_rates/{truth[-1]['id']}", json={"name": "BTW gewijzigd"}).json()
    since_ms = int(datetime.fromisoformat(changed["record"]["updated_at"].replace("Z", "+00:00")).timestamp() * 1000)
    with resource(sandbox).client() as client:
        got = [r for page in client.pages("tax_rates", updated_at_min_ms=since_ms) for r in page.data["tax_rates"]]
    assert [(r["id"], r["name"]) for r in got] == [(truth[-1]["id"], "BTW gewijzigd")]
