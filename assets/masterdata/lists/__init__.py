"""Every Routty masterdata list this project builds and delivers, in one place."""

from assets.masterdata.lists.accounting_masterdata import ACCOUNTING
from assets.masterdata.lists.articles import ARTICLES
from assets.masterdata.lists.bank_accounts import BANK_ACCOUNTS
from assets.masterdata.lists.party_list import PARTY_LIST
from assets.masterdata.lists.purchase_orders import PURCHASE_ORDERS

# Parties first: Routty resolves bank accounts and orders against the parties it knows.
LISTS = (PARTY_LIST, BANK_ACCOUNTS, PURCHASE_ORDERS, ACCOUNTING, ARTICLES)
