"""Routty AccountingMasterDataList: the coding values Routty offers when an invoice is booked —
GL accounts, VAT codes, currencies, payment terms — each with its `type` attribute.

The model names each value by the coding field it validates, as RouttyExportDocument's coding lines
spell it (`GlAccount`, `VatCode`, `PaymentTerms`, ...: api-contracts §4, ASSUMED, matched
case-insensitively by Routty). A tenant's coding setup decides the names Routty expects, so a
deployment may rename them: ROUTTY_ACCOUNTING_TYPES="GlAccount=Grootboek,PaymentTerms=Betaaltermijn".
"""

from functools import cache

import dagster as dg
import duckdb
from lxml import etree

from resources.settings import ROUTTY_ACCOUNTING_TYPES
from assets.masterdata.build import MasterdataList
from assets.xml.fields import add_text, free_text, record_builder

# Every coding field a value can validate (the export's coding lines and header), in one place.
CODING_FIELDS = ("GlAccount", "CostCenter", "VatCode", *(f"Dimension{i}" for i in range(1, 9)), "Currency",
                 "PaymentTerms", "Country", "CommodityCode", "Requester", "Queue", "MatchingExceptionType",
                 "WdWorkflow")
LIST_TYPE = "AccountingMasterDataList"


def accounting_types() -> dict[str, str]:
    """Coding field → the `type` Routty expects, with the deployment's overrides."""
    return _types(ROUTTY_ACCOUNTING_TYPES.text())


@cache
def _types(overrides: str) -> dict[str, str]:
    types = {name: name for name in CODING_FIELDS}
    known = {name.lower(): name for name in CODING_FIELDS}
    for pair in filter(None, (p.strip() for p in overrides.split(","))):
        field, _, routty_name = (s.strip() for s in pair.partition("="))
        if field.lower() not in known or not routty_name:
            raise ValueError(f"ROUTTY_ACCOUNTING_TYPES: {pair!r} must be <coding field>=<Routty type>, the coding "
                             f"field one of {', '.join(CODING_FIELDS)}")
        types[known[field.lower()]] = routty_name
    return types


def _type_sql(column: str) -> str:
    """SQL naming a row's Routty type; the identity unless the deployment renamed some."""
    renamed = {f: t for f, t in accounting_types().items() if f != t}
    if not renamed:
        return column
    quote = "'{}'".format
    cases = " ".join(f"WHEN {quote(f)} THEN {quote(t.replace(chr(39), chr(39) * 2))}" for f, t in renamed.items())
    return f"CASE {column} {cases} ELSE {column} END"


@record_builder(key=lambda row: f"{accounting_types().get(row.get('type'), row.get('type'))}:{row.get('value')}")
def accounting_element(row: dict) -> etree._Element:
    element = etree.Element("AccountingMasterData", type=accounting_types().get(row["type"], row["type"]))
    add_text(element, "Value", row.get("value"))
    add_text(element, "Description", free_text(row, "Description", row.get("description"), 255))
    return element


def adopt_renamed_types(conn: duckdb.DuckDBPyConnection, tenant_id: str) -> None:
    """Ledger keys written under another spelling of a type name (`GLAccount:4000` before
    `GlAccount:4000`) take the current one. Routty matches type names case-insensitively, so the
    delta must not see a new record plus a deletion: the deletion would remove what was just sent."""
    for routty_name in set(accounting_types().values()):
        conn.execute(
            """UPDATE sync.masterdata_records SET record_key = ? || substr(record_key, strpos(record_key, ':'))
               WHERE tenant_id = ? AND list_type = ? AND lower(split_part(record_key, ':', 1)) = lower(?)
                 AND split_part(record_key, ':', 1) <> ?""",
            [routty_name, tenant_id, LIST_TYPE, routty_name, routty_name])


def accounting_document() -> MasterdataList:
    return MasterdataList(
        list_type=LIST_TYPE,
        record_tag="AccountingMasterData",
        name="accounting_masterdata_list",
        model=dg.AssetKey(["model", "routty_accounting_masterdata"]),
        key_sql=f"{_type_sql('x.type')} || ':' || x.value",
        build=accounting_element,
        delete_type="AccountingMasterData",
        before_delta=adopt_renamed_types,
    )


ACCOUNTING = accounting_document()
