"""RouttyFeedbackDocuments (seeds/routty-xml-formats.txt, "Accounting Feedback"): what became of an
export, sent back to Routty. Status values are ours (the seed leaves them open, ASSUMED): `Received`
(technical: downloaded and read), `Booked` (the bill exists in the books) and `Error` (with a
message a person can act on). Every document is validated against xsd/RouttyFeedbackDocuments.xsd."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache

from lxml import etree
from lxml.builder import E

from assets.routty.xml_writer import XSD_DIR


@dataclass(frozen=True)
class Booking:
    number: str  # the bill's id in the books
    booked_on: date
    journal: str | None = None


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / "RouttyFeedbackDocuments.xsd")))


def feedback_xml(status: str, guid: str, document_set_id: str, messages: list[str],
                 booking: Booking | None = None) -> bytes:
    document = E.RouttyFeedbackDocument(
        E.Status(status), E.DocumentGuid(guid), E.DocumentSetId(str(document_set_id)),
        E.ProcessDate(datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")),
        E.Messages(*(E.Message(m) for m in messages)),
    )
    if booking is not None:
        accounting = E.FeedbackAccounting(
            E.BookingNumber(booking.number), E.BookingDate(booking.booked_on.isoformat()),
            E.BookingYear(str(booking.booked_on.year)), E.BookingMonth(str(booking.booked_on.month)))
        if booking.journal:
            accounting.append(E.Journal(booking.journal))
        document.append(accounting)
    root = E.RouttyFeedbackDocuments(document)
    _schema().assertValid(root)  # a bug of ours, never Routty's to find
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")
