"""Routty PurchaseOrderMasterDataList: purchase orders with their lines, for invoice matching.
Element order follows the seed's field tables (header, then lines)."""

import dagster as dg
from lxml import etree

from assets.masterdata.build import MasterdataList
from assets.xml.fields import add_text, decimal_text, free_text, record_builder

# (element, model column, how to write it: a decimal scale, "date", a free-text limit, or None)
HEADER = (
    ("DocumentReference", "document_reference", None),
    ("ExtraReference", "extra_reference", None),
    ("DocumentDate", "document_date", "date"),
    ("DocumentType", "document_type", None),
    ("Currency", "currency", None),
    ("TotalNetAmount", "total_net_amount", 2),
    ("TotalVatAmount", "total_vat_amount", 2),
    ("TotalGrossAmount", "total_gross_amount", 2),
    ("TotalDiscountAmount", "total_discount_amount", 2),
    ("SupplierNumber", "supplier_number", None),
    ("SupplierName", "supplier_name", "text255"),
    ("SupplierRegistrationNumber", "supplier_registration_number", None),
    ("BuyerNumber", "buyer_number", None),
    ("BuyerName", "buyer_name", "text255"),
    ("HeaderText1", "header_text1", "text255"),
    ("DocumentStatus", "document_status", None),
)
LINE = (
    ("LineID", "line_id", None),
    ("ExtraReference", "extra_reference", None),
    ("ArticleNumberBuyer", "article_number_buyer", None),
    ("ArticleDescription", "description", "text512"),
    ("Quantity", "quantity", 6),
    ("Price", "price", 6),
    ("LineAmount", "line_amount", 6),
    ("GLAccount", "gl_account", None),
    ("CostCenter", "cost_center", None),
    ("VatCode", "vat_code", None),
)


def _add_fields(parent: etree._Element, row: dict, values: dict, fields: tuple) -> None:
    for tag, column, kind in fields:
        value = values.get(column)
        if isinstance(kind, int):
            value = decimal_text(value, kind)
        elif kind == "date":
            value = value.isoformat() if value is not None else None
        elif kind:
            value = free_text(row, tag, value, int(kind.removeprefix("text")))
        add_text(parent, tag, value)


@record_builder(key=lambda row: row.get("document_reference"))
def purchase_order_element(row: dict) -> etree._Element:
    order = etree.Element("PurchaseOrderMasterData")
    _add_fields(etree.SubElement(order, "PurchaseOrderHeader"), row, row, HEADER)
    if row.get("lines"):
        lines = etree.SubElement(order, "PurchaseOrderLines")
        for line in row["lines"]:
            _add_fields(etree.SubElement(lines, "PurchaseOrderLine"), row, line, LINE)
    return order


PURCHASE_ORDERS = MasterdataList(
    list_type="PurchaseOrderMasterDataList",
    record_tag="PurchaseOrderMasterData",
    name="purchase_order_list",
    model=dg.AssetKey(["model", "routty_purchase_orders"]),
    key_sql="x.document_reference",
    build=purchase_order_element,
    delete_type="PurchaseOrder",
)
