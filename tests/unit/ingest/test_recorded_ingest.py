"""Every ingest stream of one company from recorded API responses (tests/recordings.py), with no
server: the asset tests' fixture-backed clients. The end-to-end and contract tests keep the sandbox."""

import json

import duckdb
import httpx
import pytest

from resources.http.recorded import RecordedTransport
from tests.recordings import FOLDER, REPLAY_HOST, materialize_ingest


def recorded(system: str, path: str, key: str) -> int:
    """How many records the recorded pages of `path` hold under `key`."""
    bodies = [json.loads(json.loads(f.read_text())["body"]) for f in (FOLDER / system).glob("*.json")]
    requests = [json.loads(f.read_text())["request"] for f in (FOLDER / system).glob("*.json")]
    return sum(len(b[key]) for b, r in zip(bodies, requests) if r.split(" ")[1].split("?")[0] == path)


def test_every_ingest_stream_lands_from_recorded_pages_with_no_server(tmp_path, monkeypatch):
    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", lambda *a: pytest.fail("a replay went to the network"))
    result = materialize_ingest(REPLAY_HOST, tmp_path / "warehouse.duckdb")

    assert result.success, [e.message for e in result.all_events if e.is_failure]
    landed = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert len(landed) == 20 and not [k for k, m in landed.items() if "skipped" in m]
    assert landed["rutter/vendors"]["rows_new"].value == recorded("rutter", "/rutter/versioned/accounting/vendors", "vendors") > 0
    assert landed["jortt/customers"]["rows_new"].value == recorded("jortt", "/jortt/customers", "data") > 0
    assert all(check.passed for check in result.get_asset_check_evaluations()
               if check.check_name in ("unique_keys", "reject_ratio", "mass_deletion_guard"))
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        ledger_accounts = db.execute("SELECT count(*) FROM staging.jortt_ledger_accounts").fetchone()[0]
    assert ledger_accounts > 0  # walked over a next link recorded as {origin}, replayed as this host's


def test_a_request_that_was_not_recorded_fails_naming_it(tmp_path):
    transport = RecordedTransport(FOLDER / "rutter")
    response = transport.handle_request(httpx.Request("GET", f"{REPLAY_HOST}/rutter/versioned/accounting/vendors?limit=7"))
    assert response.status_code == 404 and "GET /rutter/versioned/accounting/vendors?limit=7" in response.text


def test_recordings_hold_no_secret_of_the_sandbox():
    from sandbox import credentials
    text = "".join(f.read_text() for f in FOLDER.glob("*/*.json"))
    for secret in (credentials.RUTTER_ACCESS_TOKEN, credentials.RUTTER_CLIENT_SECRET, credentials.JORTT_CLIENT_SECRET,
                   credentials.B2BROUTER_API_KEY):
        assert secret not in text

