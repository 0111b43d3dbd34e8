"""Routty connector API, output-documents part (routes mounted under /routty by sandbox/routty.py).

Routty offers every purchase invoice it has processed (matched, coded, approved) for pickup as a
RouttyExportDocument (resources/contracts/xsd/RouttyExportDocument.xsd). The output API lists what waits for
the key's tenant, hands out pre-signed, time-limited download URLs (a plain GET, signed like the input
API's upload URLs), takes a technical acknowledgement (the document leaves the list; until then it is
offered again: pickup is at least once) and RouttyFeedbackDocuments about it (validated against
RouttyFeedbackDocuments.xsd; every one kept, repeats of a Status + BookingNumber counted).

One queue per Routty tenant (each sandbox company is one, named like it), chosen by the tenant of the
Output key (credentials.ROUTTY_KEYS); fill.py says how it fills. GET /_sandbox/routty/exports shows a
tenant's queue, what was acknowledged and the feedback; /_sandbox/routty/exports/settings switches
`from_documents` off and sets `download_url_ttl`.
"""

from sandbox.routty_exports.api import routes
from sandbox.routty_exports.fill import add, generate, sync
from sandbox.routty_exports.store import ExportStore

__all__ = ["ExportStore", "add", "generate", "routes", "sync"]
