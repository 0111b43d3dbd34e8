"""Every Routty masterdata list this project builds and delivers, in one place."""

from assets.routty.accounting_masterdata import ACCOUNTING
from assets.routty.articles import ARTICLES
from assets.routty.bank_accounts import BANK_ACCOUNTS
from assets.routty.party_list import PARTY_LIST
from assets.routty.purchase_orders import PURCHASE_ORDERS

# Parties first: Routty resolves bank accounts and orders against the parties it knows.
DOCUMENTS = (PARTY_LIST, BANK_ACCOUNTS, PURCHASE_ORDERS, ACCOUNTING, ARTICLES)
