"""Routty client: the connector API that receives masterdata and reports upload status.

Contract (shared/api-contracts.md §4): `Authorization: ApiKey <key>`, `x-correlation-id` on every
call; `POST /connector-api/masterdata` answers a `statusId` and processes asynchronously;
`GET /connector-api/masterdata/status/{statusId}` reports Pending|Processing|Success|Failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dagster as dg

from resources.http import ApiClient, RemoteError, RetryPolicy

PRODUCTION_URL = "https://connector-api.routty.io"
CREDENTIALS_HINT = "ROUTTY_API_KEY (a masterdata-enabled connector key for this tenant)"
# "Unknown": Routty no longer knows the statusId (404); waiting longer would not change that.
TERMINAL_STATUSES = frozenset({"Success", "Failed", "Unknown"})


@dataclass(frozen=True)
class MasterdataStatus:
    status_id: str
    status: str
    errors: list[dict] = field(default_factory=list)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class RouttyClient:
    def __init__(self, http: ApiClient):
        self.http = http

    def upload_masterdata(self, xml: bytes, correlation_id: str) -> str:
        """Send one masterdata list; returns Routty's statusId.

        Not retried after a dropped connection or read timeout (the upload may have landed); the
        push ledger shows such an attempt and the next run decides.
        """
        response = self.http.request(
            "POST",
            "/connector-api/masterdata",
            content=xml,
            headers={"content-type": "application/xml", "x-correlation-id": correlation_id},
        )
        return response.json()["statusId"]

    def delete_masterdata(self, record_type: str, numbers: list[str], correlation_id: str) -> str:
        """Delete records by key (ASSUMED body {"type", "numbers"}); returns Routty's statusId."""
        response = self.http.request(
            "POST",
            "/connector-api/masterdata/delete",
            json={"type": record_type, "numbers": numbers},
            headers={"x-correlation-id": correlation_id},
        )
        return response.json()["statusId"]

    def masterdata_status(self, status_id: str) -> MasterdataStatus:
        try:
            body = self.http.get_json(
                f"/connector-api/masterdata/status/{status_id}", headers={"x-correlation-id": status_id}
            )
        except RemoteError as error:
            if error.status != 404:
                raise
            return MasterdataStatus(status_id, "Unknown", [{"code": "NotFound", "message": str(error)}])
        return MasterdataStatus(status_id, body["status"], body.get("errors") or [])


class RouttyResource(dg.ConfigurableResource):
    base_url: str = PRODUCTION_URL
    api_key: str
    max_attempts: int = 5

    @contextmanager
    def client(self) -> Iterator[RouttyClient]:
        http = ApiClient(
            "routty",
            self.base_url,
            credentials_hint=CREDENTIALS_HINT,
            headers={"Authorization": f"ApiKey {self.api_key}", "accept": "application/json"},
            policy=RetryPolicy(max_attempts=self.max_attempts),
        )
        with http:
            yield RouttyClient(http)
