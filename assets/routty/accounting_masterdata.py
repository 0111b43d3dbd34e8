"""Routty AccountingMasterDataList: the coding values Routty offers when an invoice is booked —
GL accounts, VAT codes, currencies, payment terms — each with its `type` attribute."""

import dagster as dg
from lxml import etree

from assets.routty.documents import MasterdataDocument
from assets.routty.fields import add_text, free_text, record_builder


@record_builder(key=lambda row: f"{row.get('type')}:{row.get('value')}")
def accounting_element(row: dict) -> etree._Element:
    element = etree.Element("AccountingMasterData", type=row["type"])
    add_text(element, "Value", row.get("value"))
    add_text(element, "Description", free_text(row, "Description", row.get("description"), 255))
    return element


ACCOUNTING = MasterdataDocument(
    list_type="AccountingMasterDataList",
    record_tag="AccountingMasterData",
    name="accounting_masterdata_list",
    model=dg.AssetKey(["model", "routty_accounting_masterdata"]),
    key_sql="x.type || ':' || x.value",
    build=accounting_element,
    delete_type="AccountingMasterData",
)
