"""Routty ArticleList: the items of the books, for invoices that deal with material items."""

import dagster as dg
from lxml import etree

from assets.masterdata.build import MasterdataList
from assets.xml.fields import add_text, decimal_text, free_text, record_builder


@record_builder(key=lambda row: row.get("number"))
def article_element(row: dict) -> etree._Element:
    article = etree.Element("Article")
    add_text(article, "Number", row.get("number"))
    add_text(article, "Description", free_text(row, "Description", row.get("description"), 255))
    add_text(article, "Type", free_text(row, "Type", row.get("type"), 255))
    add_text(article, "UnitPrice", decimal_text(row.get("unit_price"), 4))
    return article


ARTICLES = MasterdataList(
    list_type="ArticleList",
    record_tag="Article",
    name="article_list",
    model=dg.AssetKey(["model", "routty_articles"]),
    key_sql="x.number",
    build=article_element,
    delete_type="Article",
)
