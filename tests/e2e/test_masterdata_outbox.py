"""The masterdata outbox under overlapping runs and crashes: a push marks sent exactly the records
of the bytes it uploaded, whatever build is published meanwhile; an upload whose arrival was never
recorded is settled, never left 'Sending' for good."""

import json
import uuid

import dagster as dg
import pytest
from lxml import etree
from upath import UPath

from assets.masterdata import delta as ledger, push as masterdata_push
from assets.masterdata.lists import LISTS
from assets.masterdata.build import build_delta
from resources.warehouse import warehouse_resource
from tests.conftest import reset_sandbox
from tests.selections import WITHOUT_DOCUMENTS
from tests.e2e.test_masterdata_delivery import run, uploads

PARTIES = next(doc for doc in LISTS if doc.list_type == "PartyList")
PARTY_XML = dg.AssetSelection.assets(PARTIES.xml_key)  # from the model as it is
PARTY_PUSH = dg.AssetSelection.assets(PARTIES.push_key)


def change_parties(names: dict[str, str]) -> None:
    with warehouse_resource().get_connection() as conn:
        for number, name in names.items():
            conn.execute("UPDATE model.routty_parties SET name1 = ? WHERE number = ?", [name, number])


def party_numbers(n: int) -> list[str]:
    with warehouse_resource().get_connection() as conn:
        return [r for (r,) in conn.execute("SELECT number FROM model.routty_parties ORDER BY number LIMIT ?", [n]).fetchall()]


def marked_sent(status_id: str) -> set[str]:
    with warehouse_resource().get_connection() as conn:
        return {k for (k,) in conn.execute("SELECT record_key FROM sync.masterdata_records WHERE status_id = ?",
                                           [status_id]).fetchall()}


def upload_statuses(list_type: str) -> list[str]:
    with warehouse_resource().get_connection() as conn:
        return [s for (s,) in conn.execute("SELECT status FROM sync.masterdata_uploads WHERE list_type = ? "
                                           "ORDER BY sent_at", [list_type]).fetchall()]


@pytest.fixture
def sandbox(sandbox_process):
    """A small company: these tests are about the outbox, not about volume."""
    return reset_sandbox(sandbox_process, size=20)


@pytest.fixture
def synced(embedded_env, sandbox, instance):
    run(instance, WITHOUT_DOCUMENTS)
    return instance


def test_a_build_published_during_a_push_changes_nothing_the_push_records(synced, sandbox, monkeypatch):
    first, second = party_numbers(2)
    change_parties({first: "Changed before the build"})
    run(synced, PARTY_XML)  # build A: one changed party
    real_upload = masterdata_push.upload_part

    def upload_while_another_run_builds(*args, **kwargs):
        change_parties({second: "Changed by an overlapping run"})
        with warehouse_resource().get_connection() as conn:
            build_delta(conn, PARTIES, "default")  # build B: two changed parties, published now
        return real_upload(*args, **kwargs)

    monkeypatch.setattr(masterdata_push, "upload_part", upload_while_another_run_builds)
    metadata = run(synced, PARTY_PUSH)
    (status_id,) = metadata[f"masterdata/{PARTIES.name}_push"]["status_ids"]["default"]
    (upload,) = [u for u in uploads(sandbox, "PartyList") if u["statusId"] == status_id]
    carried = {p.findtext("Metadata/Number") for p in etree.fromstring(upload["body"].encode())}
    assert carried == {first}
    assert marked_sent(status_id) == carried  # not the overlapping build's second party

    monkeypatch.setattr(masterdata_push, "upload_part", real_upload)
    run(synced, PARTY_PUSH)  # build B goes out next: the second party too
    assert {p.findtext("Metadata/Number") for p in etree.fromstring(uploads(sandbox, "PartyList")[-1]["body"].encode())} \
        == {first, second}


def test_an_upload_whose_arrival_was_not_recorded_is_settled(synced, sandbox, monkeypatch):
    change_parties({party_numbers(1)[0]: "Changed"})
    run(synced, PARTY_XML)
    sent_before = len(uploads(sandbox, "PartyList"))

    def die(*args, **kwargs):
        raise RuntimeError("killed between the upload and its ledger row")

    with monkeypatch.context() as patch, pytest.raises(AssertionError, match="party_list_push"):
        patch.setattr(ledger, "record_sent", die)
        run(synced, PARTY_PUSH)
    assert upload_statuses("PartyList")[-1] == "Sending"

    # A push of the same bytes that is still in flight elsewhere is left to that push.
    with warehouse_resource().get_connection() as conn:
        conn.execute("UPDATE sync.masterdata_uploads SET sent_at = now()::TIMESTAMP WHERE status = 'Sending'")
    assert run(synced, PARTY_PUSH)[f"masterdata/{PARTIES.name}_push"]["documents_pushed"] == 0
    assert len(uploads(sandbox, "PartyList")) == sent_before + 1

    # Past the lease it is sent again (a list applies by record key: twice is as once) and settled.
    with warehouse_resource().get_connection() as conn:
        conn.execute("UPDATE sync.masterdata_uploads SET sent_at = sent_at - INTERVAL 1 HOUR WHERE status = 'Sending'")
    assert run(synced, PARTY_PUSH)[f"masterdata/{PARTIES.name}_push"]["documents_pushed"] == 1
    assert "Sending" not in upload_statuses("PartyList") and "Resent" in upload_statuses("PartyList")


def test_a_stale_attempt_of_bytes_no_build_carries_is_abandoned(synced):
    with warehouse_resource().get_connection() as conn:
        ledger.record_attempt(conn, "default", "PartyList", "0" * 64, "default:PartyList:0", 3)
        conn.execute("UPDATE sync.masterdata_uploads SET sent_at = sent_at - INTERVAL 1 HOUR WHERE status = 'Sending'")
    run(synced, PARTY_PUSH)
    assert "Sending" not in upload_statuses("PartyList") and "Abandoned" in upload_statuses("PartyList")


def test_an_upload_that_ended_without_an_answer_is_sent_again_by_the_next_push(synced, sandbox, monkeypatch):
    """A lost answer (after the bounded retries) fails the push; the attempt is 'Unconfirmed', not in
    flight, so the next push sends the same bytes at once instead of waiting out the lease."""
    from resources.http import OutcomeUnknown
    from resources.routty import RouttyClient

    change_parties({party_numbers(1)[0]: "Changed"})
    run(synced, PARTY_XML)

    def lost(self, xml, correlation_id):
        raise OutcomeUnknown("routty", 502, "the answer was lost")

    with monkeypatch.context() as patch, pytest.raises(AssertionError, match="party_list_push"):
        patch.setattr(RouttyClient, "upload_masterdata", lost)
        run(synced, PARTY_PUSH)
    assert upload_statuses("PartyList")[-1] == "Unconfirmed"
    assert run(synced, PARTY_PUSH)[f"masterdata/{PARTIES.name}_push"]["documents_pushed"] == 1
    assert "Unconfirmed" not in upload_statuses("PartyList") and "Resent" in upload_statuses("PartyList")


@pytest.mark.parametrize("where", ["file", "memory"])
def test_the_outbox_is_any_storage_location_given_as_a_url(where, embedded_env, sandbox, instance, tmp_path, monkeypatch):
    """No disk shared between the runs that build and those that push: the outbox is a URL (a file://
    folder here, or fsspec's in-memory store standing in for s3://, gs://, az://)."""
    url = f"file://{tmp_path}/remote-outbox" if where == "file" else f"memory://outbox-{uuid.uuid4().hex}"
    monkeypatch.setenv("ROUTTY_OUTBOX_URL", url)

    first = run(instance, WITHOUT_DOCUMENTS)

    assert first[f"masterdata/{PARTIES.name}_push"]["documents_pushed"] == 1
    manifest = json.loads((UPath(url) / "default" / "PartyList" / "manifest.json").read_text())
    built = UPath(url) / "default" / "PartyList" / "builds" / manifest["build"]
    assert sorted(p.name for p in built.iterdir()) == sorted([*(p["file"] for p in manifest["parts"]),
                                                             "manifest.json", "records.csv"])
    assert not (tmp_path / "outbox").exists()  # nothing on the local default
    again = run(instance, dg.AssetSelection.groups("model", "masterdata"))  # rebuilt from the warehouse
    assert all(again[f"masterdata/{doc.name}_push"]["documents_pushed"] == 0 for doc in LISTS)
