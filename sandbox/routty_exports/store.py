"""Every export Routty made, per tenant, and what came back about each."""

from __future__ import annotations

from dataclasses import dataclass, field

DOWNLOAD_URL_TTL = 600.0  # seconds, default of the download_url_ttl setting
FIRST_SET_ID = 1001


@dataclass
class Export:
    document_id: str
    tenant: str
    kind: str  # document | dataset | order | malformed | unknown_supplier
    correlation_id: str
    guid: str
    set_id: int
    document_type: str
    supplier_number: str
    xml: bytes
    created_on: str
    acknowledged_on: str | None = None
    acknowledgements: int = 0
    downloads: int = 0
    feedback: list[dict] = field(default_factory=list)

    def item(self, download_url: str) -> dict:
        return {"documentId": self.document_id, "correlationId": self.correlation_id,
                "documentType": self.document_type, "createdOn": self.created_on, "downloadUrl": download_url}

    def admin(self) -> dict:
        return {"documentId": self.document_id, "correlationId": self.correlation_id, "kind": self.kind,
                "guid": self.guid, "documentSetId": self.set_id, "documentType": self.document_type,
                "supplierNumber": self.supplier_number, "createdOn": self.created_on,
                "acknowledgedOn": self.acknowledged_on, "acknowledgements": self.acknowledgements,
                "downloads": self.downloads, "feedbackCount": len(self.feedback), "xml": self.xml.decode()}


class ExportStore:
    """Every export Routty made, per tenant, and what came back about each."""

    def __init__(self) -> None:
        self.from_documents = True  # the default way the queue fills (fill.py)
        self.download_url_ttl = DOWNLOAD_URL_TTL
        self.exports: dict[str, Export] = {}  # by documentId
        self.keys: set[tuple[str, str]] = set()  # (tenant, source key) already exported
        self.seen: set[str] = set()  # input documents already looked at
        self.next_set_id = FIRST_SET_ID

    def settings(self) -> dict:
        return {"from_documents": self.from_documents, "download_url_ttl": self.download_url_ttl}

    def queue(self, tenant: str) -> list[Export]:
        return [e for e in self.exports.values() if e.tenant == tenant and e.acknowledged_on is None]

    def snapshot(self, tenant: str) -> dict:
        mine = [e for e in self.exports.values() if e.tenant == tenant]
        answered = [e for e in mine if e.feedback]
        return {"tenant": tenant, "queue": [e.admin() for e in mine if e.acknowledged_on is None],
                "acknowledged": [e.admin() for e in mine if e.acknowledged_on is not None],
                "feedback": {e.document_id: e.feedback for e in answered},
                "feedback_counts": {e.document_id: len(e.feedback) for e in answered},
                "duplicate_feedback": {e.document_id: n for e in answered
                                       if (n := sum(f["duplicate"] for f in e.feedback))},
                "settings": self.settings()}
