"""Routty client: the connector API that receives masterdata and documents and reports their status.

Contract (shared/api-contracts.md §4): `Authorization: ApiKey <key>`, `x-correlation-id` on every
call; `POST /connector-api/masterdata` answers a `statusId` and processes asynchronously;
`GET /connector-api/masterdata/status/{statusId}` reports Pending|Processing|Success|Failed.
Input documents: request an upload (documentId + a pre-signed `uploadUrl`), announce attachments,
PUT the bytes to the URLs (no API key there), then follow the document's status.

Keys are per Routty tenant and connector configuration (direction × flow): every client is opened
for one company; each flow's key falls back to the company's ROUTTY_API_KEY, so one key per company
is enough where Routty's configuration allows it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import dagster as dg
import httpx
from lxml import etree

from resources.contracts import fill
from resources.contracts import routty as contract
from resources.http import ApiClient, RemoteError, RetryPolicy, presigned_request
from resources.http.paginators import paginator, walk
from resources.tenants import Tenant

PRODUCTION_URL = "https://connector-api.routty.io"
# "Unknown": Routty no longer knows the statusId (404); waiting longer would not change that.
TERMINAL_STATUSES = frozenset({"Success", "Failed", "Unknown"})

# The environment names of the keys, one per connector configuration (api-contracts.md §4).
MASTERDATA_KEY = "ROUTTY_API_KEY"
SALES_INPUT_KEY = "ROUTTY_INPUT_OUTBOUND_API_KEY"  # Input × Outbound: sales documents in
RECEIVED_INPUT_KEY = "ROUTTY_INPUT_INBOUND_API_KEY"  # Input × Inbound: received (purchase) documents in
EXPORT_OUTPUT_KEY = "ROUTTY_OUTPUT_INBOUND_API_KEY"  # Output × Inbound: exports out, feedback

# A sensor tick must end well inside Dagster's 60 s evaluation limit: short timeouts, one quick
# retry, never a long wait (a Retry-After beyond the cap is left to the next tick).
SENSOR_POLICY = RetryPolicy(max_attempts=2, backoff_initial=0.2, backoff_cap=2.0)
SENSOR_TIMEOUT = httpx.Timeout(5.0, connect=2.0)

# Input-document statuses after which Routty does nothing more on its own. Error stays until the
# document is cancelled (or reprocessed in Routty); Unknown: Routty no longer knows the documentId.
DOCUMENT_FINAL_STATUSES = frozenset({"Success", "Cancelled", "Rejected", "Error", "Unknown"})


@dataclass(frozen=True)
class MasterdataStatus:
    status_id: str
    status: str
    errors: list[dict] = field(default_factory=list)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


@dataclass(frozen=True)
class InputDocumentStatus:
    document_id: str
    status: str
    status_changed_on: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def is_final(self) -> bool:
        return self.status in DOCUMENT_FINAL_STATUSES


class UploadUrlExpired(RemoteError):
    """403 from blob storage: the pre-signed URL lapsed, or is refused for good. Only Routty's status
    of the document tells whether it had arrived before; a new URL helps only if it lapsed."""


class RouttyClient:
    def __init__(self, http: ApiClient):
        self.http = http

    def upload_masterdata(self, xml: bytes, correlation_id: str) -> str:
        """Send one masterdata list; returns Routty's statusId.

        Idempotent by outcome: Routty applies a list record by record, by key, so the same bytes
        twice leave it as once (a second statusId for the same content). A lost answer is retried.
        """
        response = self.http.request(
            "POST",
            contract.MASTERDATA,
            content=xml,
            headers={"content-type": "application/xml", "x-correlation-id": correlation_id},
            idempotent=True,
        )
        return response.json()["statusId"]

    def delete_masterdata(self, record_type: str, numbers: list[str], correlation_id: str) -> str:
        """Delete records by key (ASSUMED body {"type", "numbers"}); returns Routty's statusId.
        Idempotent by outcome: a repeat finds the keys gone already (Routty reports them notFound)."""
        response = self.http.request(
            "POST",
            contract.MASTERDATA_DELETE,
            json={"type": record_type, "numbers": numbers},
            headers={"x-correlation-id": correlation_id},
            idempotent=True,
        )
        return response.json()["statusId"]

    def masterdata_status(self, status_id: str) -> MasterdataStatus:
        try:
            body = self.http.get_json(
                fill(contract.MASTERDATA_STATUS, status_id=status_id), headers={"x-correlation-id": status_id}
            )
        except RemoteError as error:
            if error.status != 404:
                raise
            return MasterdataStatus(status_id, "Unknown", [{"code": "NotFound", "message": str(error)}])
        return MasterdataStatus(status_id, body["status"], body.get("errors") or [])

    def request_input_document(self, correlation_id: str, received_on: datetime) -> tuple[str, str]:
        """(documentId, uploadUrl) of a new input document. Not idempotent: once it may have reached
        Routty (OutcomeUnknown) a second request would be a second document; Routty offers no lookup
        by correlation id, so the document ledger records the doubt and decides."""
        body = self.http.request(
            "POST", contract.INPUT_DOCUMENTS, json={"receivedOn": received_on.isoformat(timespec="seconds").replace("+00:00", "Z")},
            headers={"x-correlation-id": correlation_id}, idempotent=False,
        ).json()
        return body["documentId"], body["uploadUrl"]

    def request_attachment(self, document_id: str, correlation_id: str, file_name: str, mime_type: str) -> tuple[str, str]:
        """(attachmentId, uploadUrl): attachments are announced and uploaded before the main document.
        Not idempotent: a repeat would announce a second attachment."""
        body = self.http.request(
            "POST", fill(contract.INPUT_ATTACHMENTS, document_id=document_id), json={"fileName": file_name, "mimeType": mime_type},
            headers={"x-correlation-id": correlation_id}, idempotent=False,
        ).json()
        return body["attachmentId"], body["uploadUrl"]

    def input_document_status(self, document_id: str, correlation_id: str) -> InputDocumentStatus:
        try:
            body = self.http.get_json(fill(contract.INPUT_DOCUMENT, document_id=document_id), headers={"x-correlation-id": correlation_id})
        except RemoteError as error:
            if error.status != 404:
                raise
            return InputDocumentStatus(document_id, "Unknown", error_code="NotFound", error_message=str(error))
        return InputDocumentStatus(document_id, body["status"], body.get("statusChangedOn"),
                                   body.get("errorCode"), body.get("errorMessage"))

    def cancel_input_document(self, document_id: str, correlation_id: str) -> None:
        """Only a document in status Error can be cancelled (409 otherwise). Idempotent by outcome: a
        repeat answers 409, which the caller resolves by reading the status."""
        self.http.request("POST", fill(contract.INPUT_CANCEL, document_id=document_id), headers={"x-correlation-id": correlation_id},
                          idempotent=True)


    # ---------------------------------------------------------------- output documents (exports)

    def output_documents(self, page_size: int = 50, max_pages: int = 1000) -> list[dict]:
        """Every document waiting for pickup: {documentId, correlationId, documentType, createdOn, downloadUrl}."""
        paging = contract.PAGING["page_number"]
        pager = paginator("page_number", page_size=page_size, records_path="items", **paging)

        def get(path: str, params: dict | None) -> httpx.Response:
            correlation_id = f"pickup-{params[paging['page_param']]}"
            return self.http.request("GET", path, params=params, headers={"x-correlation-id": correlation_id})

        return [item for page in walk(get, self.http.system, contract.OUTPUT_DOCUMENTS, pager, max_pages=max_pages)
                for item in page.data.get("items") or []]

    def acknowledge(self, document_id: str, correlation_id: str) -> None:
        """The technical acknowledgement: the document leaves the pickup list (repeating it is harmless)."""
        self.http.request("POST", fill(contract.OUTPUT_ACKNOWLEDGE, document_id=document_id), idempotent=True,
                          headers={"x-correlation-id": correlation_id})

    def send_feedback(self, document_id: str, correlation_id: str, xml: bytes) -> None:
        """Not idempotent: Routty keeps every feedback it receives, so a repeat would be a duplicate."""
        self.http.request("POST", fill(contract.OUTPUT_FEEDBACK, document_id=document_id), content=xml, idempotent=False,
                          headers={"content-type": "application/xml", "x-correlation-id": correlation_id})


def download_export(url: str) -> bytes:
    """An export's XML from its time-limited download URL (no key travels with it)."""
    return presigned_request("routty download", "GET", url, describe_error=_describe_blob_error).content


def _describe_blob_error(response: httpx.Response) -> tuple[str | None, str]:
    """Blob storage answers `<Error><Code/><Message/></Error>` and repeats the code in a header."""
    try:
        root = etree.fromstring(response.content, etree.XMLParser(resolve_entities=False, no_network=True))
        return response.headers.get("x-ms-error-code") or root.findtext("Code"), root.findtext("Message") or ""
    except etree.XMLSyntaxError:
        return response.headers.get("x-ms-error-code"), response.text[:200]


def put_blob(url: str, body: bytes, content_type: str) -> bool:
    """PUT bytes to a pre-signed upload URL; True when stored now, False when the blob was already
    there (an earlier attempt landed, so a retry is idempotent by outcome)."""
    try:
        presigned_request("routty upload", "PUT", url, describe_error=_describe_blob_error, content=body,
                          headers={"x-ms-blob-type": "BlockBlob", "content-type": content_type})
    except RemoteError as error:
        if error.status == 409 and error.code == "BlobAlreadyExists":
            return False
        if error.status == 403:
            raise UploadUrlExpired(error.system, 403, error.detail, error.code) from None
        raise
    return True


class RouttyResource(dg.ConfigurableResource):
    """Routty for every company. Routty issues keys per tenant, so every client is opened for one
    company and reads that company's key for the flow from the environment (resources/tenants.py):
    `[PREFIX]<flow key>`, then `[PREFIX]ROUTTY_API_KEY` (the company's masterdata key), then the same
    names without a prefix, the keys a deployment shares, only where it sets them. Never another
    company's: a company with none fails the step, naming itself and the variable."""

    base_url: str = PRODUCTION_URL
    max_attempts: int = 5

    @staticmethod
    def _key(tenant: Tenant, key_name: str) -> tuple[str, str]:
        """(key, what to check when Routty refuses it)."""
        names = tuple(dict.fromkeys((key_name, MASTERDATA_KEY)))
        for candidate in dict.fromkeys((*(tenant.env_prefix + n for n in names), *names)):
            if os.environ.get(candidate):
                return dg.EnvVar(candidate).get_value(), f"{candidate} (the Routty key of tenant {tenant.id})"
        wanted = " or ".join(tenant.env_prefix + n for n in names)
        raise dg.Failure(f"tenant {tenant.id}: no Routty key for {key_name}: set {wanted}"
                         + (f" (or the shared {' or '.join(names)})" if tenant.env_prefix else ""))

    @contextmanager
    def client(self, tenant: Tenant, key_name: str = MASTERDATA_KEY, *,
               for_sensor: bool = False) -> Iterator[RouttyClient]:
        """The company's client for one flow. `for_sensor`: SENSOR_POLICY and SENSOR_TIMEOUT instead
        of a run's patient retries."""
        key, hint = self._key(tenant, key_name)
        http = ApiClient(
            f"routty (tenant {tenant.id})",
            self.base_url,
            credentials_hint=hint,
            headers={"Authorization": f"ApiKey {key}", "accept": "application/json"},
            **({"policy": SENSOR_POLICY, "timeout": SENSOR_TIMEOUT} if for_sensor
               else {"policy": RetryPolicy(max_attempts=self.max_attempts)}),
        )
        with http:
            yield RouttyClient(http)
