"""Ingest from Jortt, through the current OAuth2 API or, for tenants that select it, the legacy API.

Both land in the same tables (`staging.jortt_customers`, `staging.jortt_invoices` with
`staging.jortt_invoices_lines`): the legacy specs map the legacy field names onto the current
API's columns, so nothing downstream knows which API fed a row. Jortt lists offer no "updated
since" filter, so each run reads the lists whole and compares by content; a full read also marks
records that disappeared. Expenses, ledger accounts and the organization exist only in the
current API.

Data only: a stream is its StreamSpec and an entry in ENDPOINTS per API that serves it (the tenant's
`jortt_api` picks one); assets/ingest/factory.py makes the assets.
"""

from assets.ingest.factory import Endpoint, Source
from assets.ingest.tables import ChildSpec, Column, StreamSpec
from resources.contracts import fill
from resources.contracts import jortt as api

MONEY = "DECIMAL(18,2)"


def money(name: str, path: str) -> Column:
    """Jortt money is {"value": "10.10", "currency": "EUR"}; v2 shapes say "amount": accept either."""
    return Column(name, MONEY, check=True, sql=f"COALESCE(record->>'{path}.value', record->>'{path}.amount')")


def legacy_date(name: str, path: str) -> Column:
    """The legacy API writes dates as YYYY-MM-DD or, like its own input format, DD-MM-YYYY."""
    raw = f"record->>'{path}'"
    return Column(name, "DATE", check=True, sql=f"COALESCE(TRY_CAST({raw} AS DATE)::VARCHAR, TRY_STRPTIME({raw}, '%d-%m-%Y')::DATE::VARCHAR, {raw})")


CUSTOMER_COLUMNS = (
    "is_private", "customer_name", "address_street", "address_postal_code", "address_city", "address_country_code",
    "vat_number", "coc_number", "email", "payment_term", "reference", "archived", "peppol_scheme_code", "peppol_identifier",
)
TYPES = {"is_private": "BOOLEAN", "archived": "BOOLEAN", "payment_term": "INTEGER"}


def _customer_columns(paths: dict[str, str]) -> tuple[Column, ...]:
    """Every customer column; `paths` maps the columns whose field has another name (or none: NULL)."""
    return tuple(
        Column(name, TYPES.get(name, "VARCHAR"), path=paths.get(name), check=name in TYPES,
               sql="NULL" if paths.get(name) == "" else None)
        for name in CUSTOMER_COLUMNS
    )


CUSTOMERS = StreamSpec("jortt", "customers", "data", _customer_columns({}), cursor_column=None)
LEGACY_CUSTOMERS = StreamSpec("jortt", "customers", "customers", _customer_columns({
    "customer_name": "$.finance_company_name", "address_street": "$.finance_address_street",
    "address_postal_code": "$.finance_address_postal_code", "address_city": "$.finance_address_city",
    "address_country_code": "$.finance_address_country_code", "email": "$.finance_email", "archived": "$.deleted",
    "is_private": "", "coc_number": "", "reference": "", "peppol_scheme_code": "", "peppol_identifier": "",
}), key=Column("id", path="$.customer_id"), cursor_column=None,
    known_fields=frozenset({"finance_address_country_name", "finance_attn", "finance_extra_information", "invoice_language"}))

INVOICE_LINES = ChildSpec("lines", "$.line_items", "invoice_id", (
    Column("description"),
    Column("number_of_units", MONEY, check=True, sql="COALESCE(record->>'$.number_of_units', record->>'$.units')"),
    money("amount_per_unit", "$.amount_per_unit"),
    money("total_amount_excl_vat", "$.total_amount_excl_vat"),
    Column("vat_percentage", "DECIMAL(5,2)", check=True, sql="COALESCE(record->>'$.vat_percentage', record->>'$.vat')"),
    Column("ledger_account_id"),
))
INVOICES = StreamSpec("jortt", "invoices", "data", (
    Column("invoice_status"), Column("invoice_number"),
    Column("invoice_date", "DATE", check=True), Column("invoice_due_date", "DATE", check=True, optional=True),
    Column("customer_id"), Column("tradename_id"),
    money("invoice_total", "$.invoice_total"), money("invoice_total_incl_vat", "$.invoice_total_incl_vat"),
    money("invoice_due_amount", "$.invoice_due_amount"),
    Column("currency", path="$.invoice_total.currency"), Column("credited_invoice_id"),
    Column("customer_company_name"), Column("customer_address_street"), Column("customer_address_postal_code"),
    Column("customer_address_city"), Column("customer_address_country_code"), Column("customer_vat_number"),
    Column("customer_reference"), Column("language"), Column("reference"),
    Column("created_at", "TIMESTAMP", check=True, optional=True),
), cursor_column=None, children=(INVOICE_LINES,), known_fields=frozenset({"line_items"}))

LEGACY_INVOICE_LINES = ChildSpec("lines", "$.line_items", "invoice_id", (
    Column("description"),
    Column("number_of_units", MONEY, path="$.quantity", check=True),
    Column("amount_per_unit", MONEY, path="$.amount", check=True),
    Column("total_amount_excl_vat", MONEY, path="$.total_amount_ex_vat", check=True),
    Column("vat_percentage", "DECIMAL(5,2)", path="$.vat", check=True),
    Column("ledger_account_id", sql="NULL"),
))
LEGACY_INVOICES = StreamSpec("jortt", "invoices", "invoices", (
    Column("invoice_status"), Column("invoice_number"),
    legacy_date("invoice_date", "$.invoice_date"), legacy_date("invoice_due_date", "$.invoice_due_date"),
    Column("customer_id", path="$.recipient.customer_id"), Column("tradename_id", sql="NULL"),
    Column("invoice_total", MONEY, check=True), Column("invoice_total_incl_vat", MONEY, check=True),
    Column("invoice_due_amount", MONEY, sql="NULL"),
    Column("currency", path="$.invoice_currency"), Column("credited_invoice_id"),
    Column("customer_company_name", path="$.recipient.company_name"),
    Column("customer_address_street", path="$.recipient.address.street"),
    Column("customer_address_postal_code", path="$.recipient.address.postal_code"),
    Column("customer_address_city", path="$.recipient.address.city"),
    Column("customer_address_country_code", path="$.recipient.address.country.code"),
    Column("customer_vat_number", path="$.recipient.vat_number"), Column("customer_reference", sql="NULL"),
    Column("language", path="$.invoice_language"), Column("reference", path="$.invoice_reference"),
    Column("created_at", "TIMESTAMP", sql="NULL"),
), key=Column("id", path="$.invoice_id"), cursor_column=None, children=(LEGACY_INVOICE_LINES,),
    known_fields=frozenset({"line_items", "recipient", "recipient_in_eu", "creditor", "invoice_delivery_period", "invoice_remarks"}))

EXPENSES = StreamSpec("jortt", "expenses", "data", (
    Column("description"), Column("expense_type"), Column("vat_date", "DATE", check=True),
    money("total_amount", "$.total_amount"), money("vat_amount", "$.vat_amount"),
    Column("vat_percentage", "DECIMAL(5,2)", check=True), Column("ledger_account_id"), Column("created_at", "TIMESTAMP", check=True),
), cursor_column=None)

LEDGER_ACCOUNTS = StreamSpec("jortt", "ledger_accounts", "data", (
    Column("parent_ledger_account_id"), Column("name"), Column("selectable", "BOOLEAN", check=True),
), key=Column("id", path="$.ledger_account_id"), cursor_column=None)

ORGANIZATION = StreamSpec("jortt", "organization", "data", (
    Column("company_name"), Column("address_street"), Column("address_postal_code"), Column("address_city"),
    Column("address_country_code"), Column("tax_registration_number"), Column("chamber_of_commerce_number"),
    Column("bank_account_iban"), Column("vat_type"),
), cursor_column=None, single=True)

LEDGER_KINDS = api.LEDGER_CATEGORIES

SOURCE = Source("jortt", selector="jortt_api", skip="Jortt API {api!r} has no {stream}",
                description="Jortt {stream} (current API, or legacy where the tenant selects it) → {staging_table}.")
# Jortt lists have no "changed since" filter: read whole every run (no Incremental).
ENDPOINTS = (
    Endpoint(CUSTOMERS, api.CUSTOMERS, "link", api="current"),
    Endpoint(LEGACY_CUSTOMERS, api.LEGACY_CUSTOMERS, "page_number", api="legacy", client="legacy_client"),
    Endpoint(INVOICES, api.INVOICES, "link", api="current"),
    Endpoint(LEGACY_INVOICES, fill(api.LEGACY_INVOICES, status="all"), "single_page", api="legacy",
             client="legacy_client"),
    Endpoint(EXPENSES, api.EXPENSES, "link", api="current"),
    Endpoint(LEDGER_ACCOUNTS, tuple(fill(api.LEDGER_ACCOUNTS, category=k) for k in LEDGER_KINDS), "link", api="current"),
    Endpoint(ORGANIZATION, api.ORGANIZATION, "single_page", api="current"),
)
