"""Asset selections the tests share: the masterdata and ingest tests leave out the document flows
(sales and received invoices into Routty, exports out of it), which have tests of their own."""

import dagster as dg

from assets.invoices.status import KEY as DOCUMENT_STATUS
from assets.exports import GROUP as EXPORTS_GROUP
from assets.invoices.documents import FLOWS

DOCUMENT_FLOWS = (dg.AssetSelection.assets(*(f.documents_key for f in FLOWS), *(f.upload_key for f in FLOWS),
                                           DOCUMENT_STATUS)
                  | dg.AssetSelection.groups(EXPORTS_GROUP))
WITHOUT_DOCUMENTS = dg.AssetSelection.all() - DOCUMENT_FLOWS
