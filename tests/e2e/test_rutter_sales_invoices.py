"""Rutter AR invoices as UBL for a tenant without Jortt, against the sandbox over loopback: every
sendable invoice builds, header discounts included, but the deliberate rejects (no issue date; a tax
rate the books do not state), each naming the invoice and the field. VAT comes from the books' tax
rates (rutter/tax_rates), never from a guess."""

import json
from collections import Counter
from decimal import Decimal

import dagster as dg
import duckdb
import pytest
from lxml import etree

from resources.settings import ROUTTY_SENDABLE_INVOICE_STATUSES
from assets.ingest.endpoints.rutter import INVOICES, TAX_RATES
from assets.model.sql_models import HERE, MODELS, replace_tenant_rows
from assets.invoices.documents import (SALES, DocumentConfig, _sales_rows,
                                           build_sales_documents, queue_documents)
from assets.invoices.ledger import BuiltDocument
from assets.invoices.ubl import NS
from orchestration.definitions import build_definitions
from resources.tenants import tenant_by_id
from assets.ingest.engine.land import land_spool
from assets.ingest.tables import ensure_stream_tables
from resources.warehouse import ensure_schema
from tests.conftest import execute

SENDABLE = ROUTTY_SENDABLE_INVOICE_STATUSES.default.split(",")
MODEL = dg.AssetSelection.assets(["model", "routty_sales_invoices"])
CENT = Decimal("0.01")


@pytest.fixture
def rutter_books(embedded_env, monkeypatch):
    """The default tenant (the sandbox's acme books in Rutter) invoices from Rutter: it has no Jortt."""
    monkeypatch.setenv("JORTT_API", "none")
    return embedded_env


def materialize(instance, selection: dg.AssetSelection) -> None:
    defs = build_definitions()
    keys = list(selection.resolve(defs.resolve_asset_graph()))
    result = execute(defs.resolve_job_def("routty_sync"), instance, asset_selection=keys,
                                                                    raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]


def sendable_invoices(sandbox) -> dict[str, dict]:
    invoices = sandbox.admin("GET", "truth/rutter/invoices").json()["records"]
    return {i["id"]: i for i in invoices if i["status"] in SENDABLE}


def build(env) -> tuple[dict[str, BuiltDocument], list[tuple]]:
    """The documents as the builder asset makes them, and the rejects it leaves in sync.rejects."""
    tenant = tenant_by_id("default")
    with duckdb.connect(env["WAREHOUSE_PATH"]) as conn:
        queue_documents(conn, SALES, tenant, DocumentConfig())
        documents = {d.source_id: d for d in build_sales_documents(_sales_rows(conn, tenant, SENDABLE))
                     if isinstance(d, BuiltDocument)}
        rejects = conn.execute("SELECT record_key, field, reason FROM sync.rejects WHERE stage = 'document' "
                               "AND source = 'sales_invoice' ORDER BY record_key").fetchall()
    return documents, rejects


def amount(root, path: str) -> Decimal:
    return Decimal(root.findtext(path, namespaces=NS) or 0)


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def test_every_sendable_rutter_invoice_builds_but_the_deliberate_rejects(rutter_books, sandbox, instance):
    materialize(instance, MODEL.upstream())
    invoices = sendable_invoices(sandbox)
    undated = {i for i, invoice in invoices.items() if invoice["issue_date"] is None}

    documents, rejects = build(rutter_books)

    # The sandbox's only deliberate rejects: invoices without an issue date (nullable since 2024-08-31).
    assert Counter(field for _, field, _ in rejects) == {"issue_date": len(undated)} and undated
    assert {key for key, _, _ in rejects} == undated
    assert all(f"invoice {invoices[key]['document_number']}: " in reason and "no issue date" in reason
               for key, _, reason in rejects)
    assert set(documents) == set(invoices) - undated
    discounted = {i for i in documents if invoices[i]["total_discount"]}
    several_rates = {i for i in discounted if len({ln["tax_rate_id"] for ln in invoices[i]["line_items"]}) > 1}
    assert discounted and several_rates  # the header discounts that failed before, one rate and several
    for source_id, document in documents.items():
        invoice, root = invoices[source_id], etree.fromstring(document.xml)
        assert amount(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == abs(money(invoice["total_amount"]))
        assert amount(root, "cac:LegalMonetaryTotal/cbc:AllowanceTotalAmount") == abs(money(invoice["total_discount"]))
        assert amount(root, "cac:TaxTotal/cbc:TaxAmount") == abs(money(invoice["tax_amount"]))
        assert len(root.findall("cac:AllowanceCharge", NS)) == (
            len({ln["tax_rate_id"] for ln in invoice["line_items"]}) if source_id in discounted else 0)


def test_a_tax_rate_the_books_do_not_state_is_a_reject_naming_the_invoice_and_the_line(rutter_books, sandbox, instance):
    materialize(instance, MODEL.upstream())
    invoices = sendable_invoices(sandbox)
    dated = sorted(i for i, invoice in invoices.items() if invoice["issue_date"] is not None)
    unlisted = next(i for i in dated if all(ln["tax_rate_id"] == "1" for ln in invoices[i]["line_items"]))
    lines = [{**ln, "tax_rate_id": "gone"} if n == 0 else ln for n, ln in enumerate(invoices[unlisted]["line_items"])]
    sandbox.admin("POST", f"touch/rutter/invoices/{unlisted}", json={"line_items": lines}).raise_for_status()
    # The books lose the 9% rate's figures: its percentage is unknown now, not guessed from anything else.
    sandbox.admin("POST", "touch/rutter/tax_rates/2", json={"effective_tax_rate": None, "total_tax_rate": None,
                                                            "components": []}).raise_for_status()
    materialize(instance, dg.AssetSelection.assets(["rutter", "invoices"], ["rutter", "tax_rates"]) | MODEL)

    documents, rejects = build(rutter_books)

    nine = {i: next(n for n, ln in enumerate(invoices[i]["line_items"], 1) if ln["tax_rate_id"] == "2")
            for i in dated if any(ln["tax_rate_id"] == "2" for ln in invoices[i]["line_items"])}
    by_key = {key: (field, reason) for key, field, reason in rejects if field != "issue_date"}
    assert by_key.keys() == {unlisted, *nine} and nine
    field, reason = by_key[unlisted]
    assert field == "lines[1].tax_rate_id"
    assert f"invoice {invoices[unlisted]['document_number']}: " in reason and "'gone'" in reason
    assert "not among the books' tax rates" in reason
    for key, line in nine.items():
        field, reason = by_key[key]
        assert field == f"lines[{line}].tax_rate_id" and "'2' has no percentage" in reason
        assert f"invoice {invoices[key]['document_number']}: " in reason
    assert Counter(field.split(".")[-1] for field, _ in by_key.values()) == {"tax_rate_id": len(nine) + 1}
    assert not set(by_key) & set(documents)
    assert len(documents) == len(dated) - len(by_key)


# ---------------------------------------------------------------- a tax rate's percentage, in the model

def land(conn, spec, records: list[dict], folder) -> None:
    spool = folder / f"{spec.stream}.ndjson"
    spool.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert land_spool(conn, spec, "t1", [spool]).rejected == 0


def model_lines(conn) -> list[dict]:
    """The sales invoice model rebuilt, as its asset does, with what has landed (parties too: none)."""
    for model in MODELS:
        if model.name in ("routty_parties", "routty_bank_accounts", "routty_sales_invoices"):
            for spec in model.reads:
                ensure_stream_tables(conn, spec)
            replace_tenant_rows(conn, f"model.{model.name}", (HERE / model.query_file).read_text(), "t1")
    return conn.execute("SELECT lines FROM model.routty_sales_invoices").fetchone()[0]


@pytest.mark.parametrize("figures, components, percent", [
    ({"effective_tax_rate": 21.0, "total_tax_rate": 20.0}, [], "21"),  # effective first
    ({"effective_tax_rate": None, "total_tax_rate": 9}, [], "9"),
    ({}, [(5.5, False), ("3.5", False)], "9"),  # only components: their sum, numbers as strings too
    ({"effective_tax_rate": "10.25", "total_tax_rate": 10}, [(5, False), (5, True)], "10.25"),
    ({"total_tax_rate": 10}, [(5, False), (5, True)], None),  # compound: only effective_tax_rate says it
    ({}, [(5, False), (None, False)], None),  # a component without a rate: the sum is unknown
    ({"effective_tax_rate": None, "total_tax_rate": None}, [], None),
])
def test_a_lines_vat_percent_is_its_tax_rates_never_a_guess(tmp_path, figures, components, percent):
    conn = duckdb.connect()
    ensure_schema(conn)
    stamp = "2024-05-01T00:00:00Z"
    land(conn, TAX_RATES, [{"id": "tr", "status": "active", **figures, "updated_at": stamp, "components": [
        {"name": f"part {n}", "rate": rate, "is_compound": compound} for n, (rate, compound) in enumerate(components)]}],
         tmp_path)
    land(conn, INVOICES, [{"id": "inv", "document_number": "N1", "status": "open", "currency_code": "EUR",
                           "updated_at": stamp, "line_items": [
                               {"description": "listed", "total_amount": 100, "tax_rate_id": "tr"},
                               {"description": "unlisted", "total_amount": 10, "tax_rate_id": "other"},
                               {"description": "none", "total_amount": 1, "tax_rate_id": None}]}], tmp_path)

    listed, unlisted, none = model_lines(conn)

    assert listed["vat_percent"] == (None if percent is None else Decimal(percent))
    assert (listed["tax_rate_id"], listed["tax_rate_listed"]) == ("tr", True)
    assert (unlisted["vat_percent"], unlisted["tax_rate_id"], unlisted["tax_rate_listed"]) == (None, "other", False)
    assert (none["vat_percent"], none["tax_rate_id"], none["tax_rate_listed"]) == (None, None, False)
