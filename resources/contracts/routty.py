"""Routty's connector API (shared/api-contracts.md §4): `Authorization: ApiKey <key>` and an
`x-correlation-id` on every call. Masterdata is processed asynchronously (a statusId to follow);
input documents are announced, then their bytes PUT to pre-signed URLs; output documents (exports)
are listed page by page (`pageNumber`/`pageSize`, `totalCount`), acknowledged and answered."""

MASTERDATA = "/connector-api/masterdata"  # POST a list (XML) -> {"statusId"}; GET lists what Routty holds
MASTERDATA_DELETE = "/connector-api/masterdata/delete"
MASTERDATA_STATUS = "/connector-api/masterdata/status/{status_id}"

INPUT_DOCUMENTS = "/connector-api/input-api/input-documents"  # POST -> {"documentId", "uploadUrl"}
INPUT_DOCUMENT = INPUT_DOCUMENTS + "/{document_id}"  # GET: its status
INPUT_ATTACHMENTS = INPUT_DOCUMENT + "/attachments"
INPUT_CANCEL = INPUT_DOCUMENT + "/cancel"

OUTPUT_DOCUMENTS = "/connector-api/output-api/output-documents"  # {"items": [...], "totalCount": n}
OUTPUT_ACKNOWLEDGE = OUTPUT_DOCUMENTS + "/{document_id}/acknowledge"
OUTPUT_FEEDBACK = OUTPUT_DOCUMENTS + "/{document_id}/feedback"

PAGING = {
    "page_number": {"page_param": "pageNumber", "size_param": "pageSize", "total_path": "totalCount"},
}
