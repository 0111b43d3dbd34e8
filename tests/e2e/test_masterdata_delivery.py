"""Every masterdata list delivered as a delta: new and changed records only, deletions, the
preview before a push, the retry policy for failed records, and delivery into an SFTP drop folder
on a real sshd."""

import os
from pathlib import Path

import dagster as dg
import duckdb
from lxml import etree

from assets.masterdata.lists import LISTS
from orchestration.definitions import build_definitions
from tests.conftest import execute
from tests.selections import WITHOUT_DOCUMENTS
from tests.sftp_server import SftpServer

MASTERDATA = dg.AssetSelection.groups("model", "masterdata")


def run(instance, select=MASTERDATA, run_config=None):
    defs = build_definitions()
    keys = list(select.resolve(defs.resolve_asset_graph()))
    result = execute(defs.resolve_job_def("routty_sync"), instance, asset_selection=keys,
                                                                     run_config=run_config, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return {"/".join(e.asset_key.path): {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


def uploads(sandbox, root=None) -> list[dict]:
    return [u for u in sandbox.admin("GET", "routty/masterdata").json()["uploads"] if root in (None, u["root"])]


def records_of(upload) -> list[etree._Element]:
    return list(etree.fromstring(upload["body"].encode()))


def test_all_five_lists_are_accepted_then_a_rerun_sends_nothing(embedded_env, sandbox, instance):
    run(instance, WITHOUT_DOCUMENTS)
    assert {u["root"]: u["status"] for u in uploads(sandbox)} == {doc.list_type: "Success" for doc in LISTS}
    store = sandbox.admin("GET", "routty/store").json()
    assert store["parties"] and store["bank_accounts"] and store["purchase_orders"] and store["accounting"] and store["articles"]

    metadata = run(instance)
    assert len(uploads(sandbox)) == len(LISTS)
    assert all(metadata[f"masterdata/{doc.name}_push"]["documents_pushed"] == 0 for doc in LISTS)


def test_preview_shows_what_a_push_would_do_and_one_changed_vendor_sends_one_party(embedded_env, sandbox, instance):
    run(instance, WITHOUT_DOCUMENTS)
    vendor = sandbox.admin("GET", "rutter/vendors", params={"access_token": embedded_env["RUTTER_ACCESS_TOKEN"]}).json()["vendors"][3]
    sandbox.admin("POST", f"rutter/vendors/{vendor['id']}", json={"email": "new-ap@example.com"}).raise_for_status()

    preview = run(instance, dg.AssetSelection.assets(["rutter", "vendors"], ["model", "routty_parties"], ["masterdata", "party_list_xml"]))
    assert preview["masterdata/party_list_xml"]["records_changed"] == 1
    assert preview["masterdata/party_list_xml"]["records_new"] == 0
    assert preview["masterdata/party_list_xml"]["sample"] == {"changed": [vendor["id"]]}
    assert len(uploads(sandbox, "PartyList")) == 1  # previewing sent nothing

    run(instance)
    (party,) = records_of(uploads(sandbox, "PartyList")[-1])
    assert party.findtext("Metadata/Number") == vendor["id"]
    assert party.findtext("Metadata/EmailAddress") == "new-ap@example.com"


def test_records_gone_from_the_books_are_deleted_in_routty(embedded_env, sandbox, instance):
    run(instance, WITHOUT_DOCUMENTS)
    po = sandbox.admin("GET", "truth/rutter/purchase_orders", params={"tenant": "acme"}).json()["records"][0]
    sandbox.admin("DELETE", f"truth/rutter/purchase_orders/{po['id']}", params={"tenant": "acme"}).raise_for_status()

    metadata = run(instance, WITHOUT_DOCUMENTS, {"ops": {"rutter__purchase_orders": {"config": {"full_refresh": True}}}})

    assert metadata["masterdata/purchase_order_list_xml"]["records_to_delete"] == 1
    assert metadata["masterdata/purchase_order_list_push"]["records_deleted"] == 1
    assert po["document_number"] not in sandbox.admin("GET", "routty/store").json()["purchase_orders"]
    with duckdb.connect(embedded_env["WAREHOUSE_PATH"], read_only=True) as db:
        assert db.execute("SELECT status FROM sync.masterdata_records WHERE record_key = ?", [po["document_number"]]).fetchone() == ("deleted",)
    assert run(instance)["masterdata/purchase_order_list_push"]["records_deleted"] == 0  # once


def test_records_of_a_failed_upload_are_sent_again_a_bounded_number_of_times(embedded_env, sandbox, instance):
    articles = dg.AssetSelection.assets(["rutter", "items"], ["model", "routty_articles"], ["masterdata", "article_list_xml"],
                                        ["masterdata", "article_list_push"], ["masterdata", "upload_status"])
    sandbox.admin("POST", "routty/settings", json={"fail_next": 10, "processing_delay": 0.1})
    sent = [run(instance, articles)["masterdata/article_list_push"]["records_sent"] for _ in range(4)]
    assert sent[0] > 0 and sent[1] == sent[2] == sent[0] and sent[3] == 0  # 3 attempts in all, then it waits
    assert all(u["status"] == "Failed" for u in uploads(sandbox, "ArticleList"))


def test_large_lists_go_out_in_parts_of_bounded_size(embedded_env, sandbox, instance, monkeypatch):
    monkeypatch.setenv("ROUTTY_MAX_UPLOAD_BYTES", "20000")
    metadata = run(instance, WITHOUT_DOCUMENTS)
    parts = uploads(sandbox, "PartyList")
    assert metadata["masterdata/party_list_xml"]["parts"] == len(parts) > 1
    assert all(len(u["body"].encode()) < 20000 + 64 * 2000 for u in parts)
    assert sum(len(records_of(u)) for u in parts) == metadata["masterdata/party_list_push"]["records_sent"]
    assert all(u["status"] == "Success" for u in parts)


def test_a_tenant_delivered_by_sftp_gets_files_in_its_drop_folder(embedded_env, sandbox, instance, monkeypatch):
    with SftpServer() as server:
        for name, value in {**server.env(), "ROUTTY_DELIVERY": "sftp"}.items():
            monkeypatch.setenv(name, value)
        first = run(instance, WITHOUT_DOCUMENTS)
        second = run(instance)
        files = sorted(os.listdir(server.folder))
        (party_file,) = [f for f in files if f.startswith("PartyList-")]
        parties = etree.parse(str(Path(server.folder) / party_file)).getroot()
    assert {f.split("-")[0] for f in files} == {doc.list_type for doc in LISTS}
    assert not [f for f in files if f.startswith(".")]  # no temporary left behind
    assert len(parties) == first["masterdata/party_list_push"]["records_sent"]
    assert uploads(sandbox) == []  # nothing went over the API
    assert all(second[f"masterdata/{doc.name}_push"]["documents_pushed"] == 0 for doc in LISTS)
