"""The masterdata builders against their XSDs: field rules, formats, and memory that stays flat."""

import tracemalloc
from datetime import date
from decimal import Decimal

from assets.masterdata.lists.accounting_masterdata import accounting_element
from assets.masterdata.lists.articles import article_element
from assets.masterdata.lists.bank_accounts import bank_account_element
from assets.xml.fields import decimal_text, iban_is_valid
from assets.masterdata.lists.party_list import party_element
from assets.masterdata.lists.purchase_orders import purchase_order_element
from assets.masterdata.xml_writer import write_parts
from assets.xml.fields import Reject
from resources.contracts.schemas import schema as schema_for


def po_row(**overrides):
    base = {"document_reference": "PO-1", "extra_reference": "uuid-1", "document_date": date(2024, 3, 5),
            "document_type": "PurchaseOrder", "currency": "EUR", "total_net_amount": Decimal("1234.5"),
            "total_vat_amount": Decimal("0"), "total_gross_amount": Decimal("1234.5"), "total_discount_amount": Decimal("0"),
            "supplier_number": "V-1", "supplier_name": "Acme & Co", "buyer_number": "C-1", "document_status": "open",
            "lines": [{"line_id": "1", "extra_reference": "item-1", "description": "Bolts <M8>", "quantity": Decimal("1.5"),
                       "price": Decimal("823"), "line_amount": Decimal("1234.5"), "gl_account": "4000", "vat_code": "1"}]}
    return {**base, **overrides}


def test_decimals_use_a_point_at_the_documented_scale():
    assert decimal_text(Decimal("3.4"), 2) == "3.40"
    assert decimal_text(Decimal("1E+3"), 2) == "1000.00"
    assert decimal_text(Decimal("0.0000005"), 6) == "0.000001"
    assert decimal_text(2.675, 2) == "2.68"  # half-up from the decimal text, not the binary float


def test_purchase_order_is_valid_with_iso_dates_and_point_decimals():
    element = purchase_order_element(po_row())
    assert schema_for("PurchaseOrderMasterDataList").validate(element)
    assert element.findtext("PurchaseOrderHeader/DocumentDate") == "2024-03-05"
    assert element.findtext("PurchaseOrderHeader/TotalNetAmount") == "1234.50"
    line = element.find("PurchaseOrderLines/PurchaseOrderLine")
    assert (line.findtext("Quantity"), line.findtext("Price"), line.findtext("ArticleDescription")) == ("1.500000", "823.000000", "Bolts <M8>")


def test_purchase_order_with_a_too_long_reference_is_rejected_not_truncated(tmp_path):
    build = write_parts(tmp_path, "PurchaseOrderMasterDataList", [("R" * 51, purchase_order_element(po_row(document_reference="R" * 51)))])
    assert build.records == 0 and build.rejects[0].field == "DocumentReference"


def test_bank_accounts_need_a_valid_iban():
    good = {"number": "V-1", "name1": "Acme", "party_type": "Supplier", "iban": "NL91ABNA0417164300",
            "account_number": "NL91ABNA0417164300", "currency": "EUR", "record_key": "V-1:NL91ABNA0417164300"}
    assert iban_is_valid(good["iban"]) and not iban_is_valid("NL91ABNA0417164301")
    assert schema_for("PartyBankAccountList").validate(bank_account_element(good))
    bad = bank_account_element({**good, "iban": "NL91ABNA0417164301"})
    assert isinstance(bad, Reject) and bad.field == "IBAN" and "checksum" in bad.reason


def test_accounting_masterdata_carries_its_type_and_truncates_long_descriptions():
    row = {"type": "GlAccount", "value": "4000", "description": "D" * 300}
    element = accounting_element(row)
    assert schema_for("AccountingMasterDataList").validate(element)
    assert element.get("type") == "GlAccount" and len(element.findtext("Description")) == 255
    assert row["_truncated"] == [("Description", "truncated from 300 to 255 characters")]


def test_article_numbers_longer_than_routty_allows_are_rejected(tmp_path):
    rows = [{"number": "ART-1", "description": "Bolt", "type": "inventory", "unit_price": Decimal("0.125")},
            {"number": "b8a10f75-5809-4a69-b4d4-94172adeaa57", "description": "No code", "type": "service", "unit_price": None}]
    build = write_parts(tmp_path, "ArticleList", [(r["number"], article_element(r)) for r in rows])
    assert build.records == 1 and [(r.record_key[:8], r.field) for r in build.rejects] == [("b8a10f75", "Number")]
    assert "<UnitPrice>0.1250</UnitPrice>" in build.parts[0].path.read_text()


def parties(count: int):
    for i in range(count):
        yield f"V-{i:07d}", party_element({"number": f"V-{i:07d}", "name1": f"Müller & Söhne {i}", "address1": "Hauptstraße 1",
                                           "postal_code": "10115", "city": "Berlin", "country_code": "DE",
                                           "vat_number": f"DE{i:09d}", "party_type": "Supplier", "active": True})


def peak_python_memory(tmp_path, count: int) -> int:
    tracemalloc.start()
    build = write_parts(tmp_path / str(count), "PartyList", parties(count), max_bytes=1_000_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert build.records == count and len(build.parts) > 1
    return peak


def test_streaming_writer_memory_does_not_grow_with_the_list(tmp_path):
    small, large = peak_python_memory(tmp_path, 3_000), peak_python_memory(tmp_path, 24_000)
    assert large < small * 1.5 + 256 * 1024  # 8x the records, about the same peak
