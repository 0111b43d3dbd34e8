"""B2Brouter's API (shared/api-contracts.md §3): `X-B2B-API-Key` and a pinned `X-B2B-API-Version`;
lists page by `offset`/`limit` (at most 500) and give their total under `meta.total_count` or
`meta.total` (docs and SDK disagree: both are read); `updated_at` = invoices changed after it,
`date_from`/`date_to` = invoice dates; every answer names its `X-B2B-API-Request-Id`."""

VERSION = "2025-10-13"
KEY_HEADER, VERSION_HEADER, REQUEST_ID_HEADER = "X-B2B-API-Key", "X-B2B-API-Version", "X-B2B-API-Request-Id"

ACCOUNTS = "/accounts"  # {"accounts": [...], "meta": {...}}
INVOICES = "/accounts/{account}/invoices"  # {"invoices": [...], "meta": {...}}; `type` filters
CONTACTS = "/accounts/{account}/contacts"  # {"contacts": [...], "meta": {...}}
INVOICE = "/invoices/{invoice_id}"
DOCUMENT = "/invoices/{invoice_id}/as/{document_type}"  # the invoice as a document, e.g. UBL
MARK_AS = "/invoices/{invoice_id}/mark_as"  # POST {"state", "reason"} -> {"invoice": {...}}

INVOICE_TYPES = ("ReceivedInvoice", "IssuedInvoice")  # values of `type`
UBL_DOCUMENT = "xml.ubl.invoice.bis3"
MAX_LIMIT = 500

PAGING = {
    "offset": {"offset_param": "offset", "limit_param": "limit", "total_paths": ("meta.total_count", "meta.total")},
}
