"""Every Routty call is made with the company's own key for the flow: its flow key, then its
masterdata key, then the keys a deployment shares, where it sets them; never another company's."""

import dagster as dg
import pytest

from resources.routty import EXPORT_OUTPUT_KEY, MASTERDATA_KEY, RECEIVED_INPUT_KEY, SALES_INPUT_KEY, RouttyResource
from resources.tenants import Tenant

ACME, GLOBEX = Tenant("acme", "ACME_"), Tenant("globex", "GLOBEX_")
KEYS = (MASTERDATA_KEY, SALES_INPUT_KEY, RECEIVED_INPUT_KEY, EXPORT_OUTPUT_KEY)


@pytest.fixture
def env(monkeypatch):
    for name in KEYS:
        for prefix in ("", "ACME_", "GLOBEX_"):
            monkeypatch.delenv(prefix + name, raising=False)
    return monkeypatch


def key(tenant: Tenant, flow: str) -> str:
    with RouttyResource(base_url="http://127.0.0.1:9").client(tenant, flow) as client:
        return client.http._http.headers["Authorization"].removeprefix("ApiKey ")  # what every request carries


def test_the_flow_key_then_the_companys_masterdata_key_then_the_shared_one(env):
    env.setenv("ACME_ROUTTY_INPUT_OUTBOUND_API_KEY", "acme-sales")
    env.setenv("ACME_ROUTTY_API_KEY", "acme-masterdata")
    env.setenv("ROUTTY_INPUT_INBOUND_API_KEY", "shared-received")
    env.setenv("ROUTTY_API_KEY", "shared-masterdata")
    assert key(ACME, SALES_INPUT_KEY) == "acme-sales"
    assert key(ACME, RECEIVED_INPUT_KEY) == "acme-masterdata"  # the company's own before a shared one
    assert key(ACME, MASTERDATA_KEY) == "acme-masterdata"
    assert key(GLOBEX, RECEIVED_INPUT_KEY) == "shared-received"  # shared where the deployment sets it
    assert key(GLOBEX, EXPORT_OUTPUT_KEY) == "shared-masterdata"


def test_a_company_without_a_key_fails_naming_itself_never_taking_anothers(env):
    env.setenv("GLOBEX_ROUTTY_API_KEY", "globex-masterdata")
    env.setenv("GLOBEX_ROUTTY_OUTPUT_INBOUND_API_KEY", "globex-exports")
    with pytest.raises(dg.Failure, match="tenant acme: no Routty key for ROUTTY_OUTPUT_INBOUND_API_KEY: set "
                                         "ACME_ROUTTY_OUTPUT_INBOUND_API_KEY or ACME_ROUTTY_API_KEY"):
        key(ACME, EXPORT_OUTPUT_KEY)


def test_every_client_names_its_company():
    with pytest.raises(TypeError):
        RouttyResource(base_url="http://127.0.0.1:9").client()
