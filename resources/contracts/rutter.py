"""Rutter's unified accounting API (shared/api-contracts.md §1), version-pinned.

Basic auth with the client id/secret, the connection chosen by `access_token`, `X-Rutter-Version` on
every request; lists page by cursor (`next_cursor` in, `cursor` out) and filter by `updated_at_min`/
`updated_at_max` in Unix milliseconds. The version answers 400 to any query parameter it does not
document, so these are the only ones."""

VERSION = "2024-08-31"
VERSION_HEADER = "X-Rutter-Version"
ACCESS_TOKEN_PARAM = "access_token"

LIST = "/accounting/{stream}"  # a list: {"connection": {...}, "<stream>": [...], "next_cursor": ...}
RECORD = "/accounting/{stream}/{id}"  # one record: {"<singular>": {...}}
BILLS = LIST.format(stream="bills")  # POST creates a bill: {"bill": {...}}
COMPANY_INFO = "/accounting/company_info"  # {"connection": {...}, "company_info": {...}}
CONNECTION_STATUS = "/connections/status"  # {"connection": {...}, "status": {...}}

# Paging and filters of a list.
LIMIT_PARAM, CURSOR_PARAM, NEXT_CURSOR = "limit", "cursor", "next_cursor"
UPDATED_AT_MIN, UPDATED_AT_MAX = "updated_at_min", "updated_at_max"
LIST_PARAMS = frozenset({ACCESS_TOKEN_PARAM, CURSOR_PARAM, LIMIT_PARAM, UPDATED_AT_MIN, UPDATED_AT_MAX})
# The paginators of this API, by kind (resources/http/paginators.py).
PAGING = {
    "cursor": {"cursor_path": NEXT_CURSOR, "cursor_param": CURSOR_PARAM, "limit_param": LIMIT_PARAM},
    "single_page": {},
}

# The organization's limit: 500 requests per 10 s, across all its connections (tenants).
RATE_LIMIT = (500, 10.0)
NOT_READY = "PRODUCT_NOT_READY"  # the connection's initial sync is still running
