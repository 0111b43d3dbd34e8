"""Routty PartyBankAccountList: the parties' bank accounts. Same format as PartyList (the seed:
"only the bank accounts are updated, the other fields are used to identify the party"); one
record per (party, IBAN), so that one account can be added or removed without touching others."""

import dagster as dg
from lxml import etree

from assets.masterdata.build import MasterdataList
from assets.xml.fields import add_text, free_text, iban, record_builder
from assets.masterdata.lists.party_list import party_type


@record_builder(key=lambda row: row.get("record_key"))
def bank_account_element(row: dict) -> etree._Element:
    party = etree.Element("Party")
    metadata = etree.SubElement(party, "Metadata")
    add_text(metadata, "Number", row["number"])
    add_text(metadata, "Name1", free_text(row, "Name1", row.get("name1"), 400))
    account = etree.SubElement(etree.SubElement(metadata, "PartyBankAccounts"), "PartyBankAccount")
    add_text(account, "AccountNumber", row.get("account_number"))
    add_text(account, "IBAN", iban(row.get("iban")))
    add_text(account, "BIC", row.get("bic"))
    add_text(account, "Currency", row.get("currency"))
    party_type(party, row)
    return party


BANK_ACCOUNTS = MasterdataList(
    list_type="PartyBankAccountList",
    record_tag="Party",
    name="party_bank_account_list",
    model=dg.AssetKey(["model", "routty_bank_accounts"]),
    key_sql="x.record_key",
    build=bank_account_element,
    delete_type="PartyBankAccount",
)
