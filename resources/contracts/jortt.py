"""Jortt's APIs (shared/api-contracts.md §2): the current one (OAuth2 client credentials) and the
legacy one (HTTP Basic), which a tenant may still select.

Current: `{"data": [...], "_links": {"next": {"href": ...}}}`, followed until `next` is null; one
object is `{"data": {...}}`. Legacy: customers paged by `page`/`per_page` (at most 50; a short page
is the last), invoices of a status in one response."""

TOKEN_PATH = "/oauth-provider/oauth/token"
SCOPES = "customers:read invoices:read invoices:write expenses:read organizations:read"
EXPIRED_TOKEN = "access_token.expired"  # the error key of a token that lapsed: ask for a new one once
RATE_LIMIT = (10, 1.0)  # 10 requests per second

# Current API
DATA = "data"  # the envelope key of every list and object
CUSTOMERS = "/customers"
INVOICES = "/invoices"
INVOICE = "/invoices/{invoice_id}"
INVOICE_DOWNLOAD = "/invoices/{invoice_id}/download"  # {"data": {"download_location": <pre-signed link>}}
EXPENSES = "/v3/expenses"
LEDGER_ACCOUNTS = "/v3/ledger_accounts/expenses/{category}"
LEDGER_CATEGORIES = ("cost", "income", "balance")
ORGANIZATION = "/organizations/me"
NEXT_LINK = "_links.next.href"

# Legacy API
LEGACY_CUSTOMERS = "/customers/all"  # {"customers": [...], "page": n, "per_page": n}
LEGACY_INVOICES = "/invoices/status/{status}"  # {"invoices": [...]}, every one at once
LEGACY_INVOICE = "/invoices/id/{invoice_id}"
LEGACY_PER_PAGE = 50  # the legacy API's maximum

PAGING = {
    "link": {"next_url_path": NEXT_LINK},
    "page_number": {"page_param": "page", "size_param": "per_page", "page_size": LEGACY_PER_PAGE},
    "single_page": {},
}
