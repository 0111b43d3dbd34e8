"""AccountingMasterData `type` names: the contract's coding-field names by default, renamed per
deployment, matched case-insensitively by Routty (the simulator refuses a name it does not know),
and a rename never turns into a deletion of what was just sent."""

from pathlib import Path

import duckdb
import pytest
from lxml import etree

from assets.masterdata.lists import accounting_masterdata as accounting
from assets.masterdata.build import build_delta
from resources.contracts.schemas import schema as schema_for
from resources.warehouse import ensure_schema
from sandbox import routty_rules


def upload_errors(*types: str) -> list[dict]:
    records = "".join(f'<AccountingMasterData type="{t}"><Value>{n}</Value></AccountingMasterData>'
                      for n, t in enumerate(types))
    return routty_rules.validate_list(etree.fromstring(f"<AccountingMasterDataList>{records}</AccountingMasterDataList>"))


def test_the_model_writes_the_names_routty_expects():
    for coding_field in ("GlAccount", "VatCode", "Currency", "PaymentTerms"):
        element = accounting.accounting_element({"type": coding_field, "value": "30"})
        assert schema_for("AccountingMasterDataList").validate(element)
        assert element.get("type") == coding_field
    sql = (Path(accounting.__file__).parents[2] / "model" / "accounting_masterdata.sql").read_text()
    assert "'PaymentTerm'" not in sql and "'PaymentTerms'" in sql and "'GlAccount'" in sql


def test_routty_refuses_a_type_it_does_not_know_and_ignores_case():
    assert upload_errors("GlAccount", "GLACCOUNT", "paymentterms", "VatCode") == []
    (error,) = upload_errors("PaymentTerm")
    assert error["code"] == "UnknownAccountingType" and "PaymentTerm" in error["message"]


def test_a_deployment_renames_types_in_one_setting(monkeypatch):
    monkeypatch.setenv("ROUTTY_ACCOUNTING_TYPES", "paymentterms=Betaaltermijn, GlAccount=Grootboek")
    assert accounting.accounting_element({"type": "PaymentTerms", "value": "30"}).get("type") == "Betaaltermijn"
    assert accounting.accounting_element({"type": "VatCode", "value": "21"}).get("type") == "VatCode"
    conn = duckdb.connect()
    key_sql = accounting.accounting_document().key_sql
    assert conn.execute(f"SELECT {key_sql} FROM (SELECT 'GlAccount' AS type, '4000' AS value) x").fetchone() == (
        "Grootboek:4000",)
    monkeypatch.setenv("ROUTTY_ACCOUNTING_TYPES", "PaymentTerm=x")
    with pytest.raises(ValueError, match="ROUTTY_ACCOUNTING_TYPES: 'PaymentTerm=x'"):
        accounting.accounting_types()


def test_a_renamed_type_is_sent_under_its_new_name_without_deleting_it(tmp_path, monkeypatch):
    """The ledger holds `GLAccount:4000` (sent before); the model now says `GlAccount`. Routty sees
    one record: nothing new, nothing to delete. `PaymentTerm:30` (refused by Routty) is replaced."""
    monkeypatch.setenv("ROUTTY_OUTBOX_DIR", str(tmp_path))
    conn = duckdb.connect()
    ensure_schema(conn)
    conn.execute("CREATE SCHEMA IF NOT EXISTS model")
    conn.execute("CREATE TABLE model.routty_accounting_masterdata AS SELECT * FROM (VALUES "
                 "('t', 'GlAccount', '4000', 'Purchases'), ('t', 'PaymentTerms', '30', NULL)) "
                 "v(tenant_id, type, value, description)")
    doc = accounting.accounting_document()
    hashes = dict(conn.execute(f"SELECT {doc.key_sql}, md5(to_json(x)::VARCHAR) FROM {doc.table} x").fetchall())
    conn.execute("INSERT INTO sync.masterdata_records VALUES "
                 "('t', 'AccountingMasterDataList', 'GLAccount:4000', ?, 'accepted', 's1', 1, now()::TIMESTAMP), "
                 "('t', 'AccountingMasterDataList', 'PaymentTerm:30', 'old', 'failed', 's1', 3, now()::TIMESTAMP)",
                 [hashes["GlAccount:4000"]])
    build, preview = build_delta(conn, doc, "t")
    assert preview["sample"] == {"new": ["PaymentTerms:30"], "delete": ["PaymentTerm:30"]}
    assert build.records == 1
