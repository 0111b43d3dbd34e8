"""RouttyFeedbackDocuments (seeds/routty-xml-formats.txt, "Accounting Feedback"): what became of an
export, sent back to Routty. Status values are ours (the seed leaves them open, ASSUMED): `Received`
(technical: downloaded and read), `Booked` (the bill exists in the books) and `Error` (with a
message a person can act on). Every document is validated against xsd/RouttyFeedbackDocuments.xsd.

What comes from the export is made to fit first: characters XML cannot carry (control characters) are
dropped, text longer than the field's maximum (Journal: 50) is truncated and a message says so. What
cannot be made to fit (a DocumentSetId that is not an integer, a Guid that is not one) raises
FeedbackInvalid: that export's feedback is blocked, never the others'."""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from lxml import etree
from lxml.builder import E

from resources.contracts.schemas import schema as load_schema

# Characters XML 1.0 cannot carry, plus the C1 controls it merely discourages.
UNFIT = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
LIMITS = {"BookingNumber": 64, "BookingYear": 64, "BookingMonth": 64, "Journal": 50}  # the table's string(n)


class FeedbackInvalid(ValueError):
    """The feedback cannot be made valid (the reason names what): it is not sent."""


@dataclass(frozen=True)
class Booking:
    number: str  # the bill's id in the books
    booked_on: date
    journal: str | None = None


def _clean(value) -> str:
    return UNFIT.sub("", str(value)).strip()


def _fitted(name: str, value, notes: list[str]) -> str:
    text = _clean(value)
    limit = LIMITS.get(name)
    if limit and len(text) > limit:
        notes.append(f"{name} truncated to {limit} characters (was {len(text)}: {text})")
        text = text[:limit]
    return text


def feedback_xml(status: str, guid: str, document_set_id: str, messages: list[str],
                 booking: Booking | None = None) -> bytes:
    notes: list[str] = []
    accounting = None
    if booking is not None:
        fields = [("BookingNumber", booking.number), ("BookingDate", booking.booked_on.isoformat()),
                  ("BookingYear", booking.booked_on.year), ("BookingMonth", booking.booked_on.month),
                  ("Journal", booking.journal)]
        accounting = E.FeedbackAccounting(*(E(name, _fitted(name, value, notes)) for name, value in fields
                                            if value not in (None, "")))
    document = E.RouttyFeedbackDocument(
        E.Status(_clean(status)), E.DocumentGuid(_clean(guid).strip("{}")), E.DocumentSetId(_clean(document_set_id)),
        E.ProcessDate(datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")),
        E.Messages(*(E.Message(_clean(m)) for m in [*messages, *notes])),
    )
    if accounting is not None:
        document.append(accounting)
    root = E.RouttyFeedbackDocuments(document)
    schema = load_schema("RouttyFeedbackDocuments")
    if not schema.validate(root):
        raise FeedbackInvalid("feedback not valid against RouttyFeedbackDocuments.xsd: "
                              + "; ".join(e.message for e in list(schema.error_log)[:3]))
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")
