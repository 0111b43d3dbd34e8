"""RouttyExportDocument (seeds/routty-xml-formats.txt, "Export from Routty") → rows in DuckDB.

Routty is the authority on its own exports and the seed's tables mark no field Required, so an export
is refused (ExportInvalid, quarantined) only when booking it is impossible: not well-formed XML, not a
RouttyExportDocument, no Guid/DocumentSetId/DocumentType, no supplier identification, no amounts (or
an amount that is not a number), a coding line naming an invoice line the export lacks. Everything else
lands; what xsd/RouttyExportDocument.xsd finds (an order, a length, a pattern) and missing optional
information become warnings. Every section gets its own table `staging.routty_export_<section>`, one
row per element, keyed by tenant, documentId and position (the Guid is in routty_export_metadata); a
field becomes a column of the same name (nested fields joined with `_`, e.g. BankAccount_IBAN), as
text: the booking reads the few it needs and checks them itself. New fields in a later export add
columns instead of failing.
"""

import re
from dataclasses import dataclass, field
from decimal import Decimal

import duckdb
import pandas as pd
from lxml import etree

from resources.contracts.schemas import schema as load_schema

HEADER = "PurchaseInvoice/PurchaseInvoiceHeader"
PARTY_SECTIONS = frozenset({"RegistrationNumbers", "BankAccounts"})
# section table → the repeating element, from the root
SECTIONS = {
    "lines": "PurchaseInvoice/PurchaseInvoiceLines/PurchaseInvoiceLine",
    "coding_lines": "PurchaseInvoice/PurchaseInvoiceCodingLines/PurchaseInvoiceCodingLine",
    "intrastat_lines": "PurchaseInvoice/PurchaseInvoiceIntrastatLines/PurchaseInvoiceIntrastatLine",
    "payment_schedule": "PurchaseInvoice/PurchaseInvoicePaymentScheduleLines/PurchaseInvoicePaymentScheduleLine",
    "matching_exceptions": "PurchaseInvoice/MatchingExceptions/MatchingException",
    "attachments": "Attachments/Attachment",
}
# matched documents: (table of headers, table of lines, document path, header, lines)
MATCHED = (
    ("matched_orders", "matched_order_lines", "PurchaseInvoice/MatchedPurchaseOrders/PurchaseOrder",
     "PurchaseOrderHeader", "PurchaseOrderLines/PurchaseOrderLine"),
    ("matched_receipts", "matched_receipt_lines", "PurchaseInvoice/MatchedGoodsReceipts/GoodsReceipt",
     "GoodsReceiptHeader", "GoodsReceiptLines/GoodsReceiptLine"),
)
# The booking's amounts: a coding line needs a debit or credit; an unreadable one makes booking impossible.
CODING_AMOUNTS = ("DebitAmount", "CreditAmount", "VatAmount")
HEADER_TOTALS = ("TotalNetAmount", "TotalVatAmount", "TotalGrossAmount")
# Optional header fields whose absence a person should hear about (the booking copes: see export_booking).
RECOMMENDED = {"DocumentDate": "invoice date", "DocumentReference": "invoice number", "DueDate": "due date",
               "Currency": "currency"}
MAX_SCHEMA_WARNINGS = 20
XS_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")  # xs:decimal: no exponent, no grouping, "." only
TABLES = ("metadata", "headers", "parties", "registration_numbers", "bank_accounts", *SECTIONS,
          *(t for m in MATCHED for t in m[:2]))


class ExportInvalid(ValueError):
    """The export cannot be taken in; `guid` and `document_set_id` when they could still be read."""

    def __init__(self, reason: str, guid: str | None = None, document_set_id: str | None = None):
        super().__init__(reason)
        self.reason, self.guid, self.document_set_id = reason, guid, document_set_id


@dataclass
class ParsedExport:
    guid: str
    document_set_id: str
    document_type: str
    tables: dict[str, list[dict]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def one(self, table: str) -> dict:
        return self.tables[table][0] if self.tables.get(table) else {}


def _parser(recover: bool = False) -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=recover)


def _identity(xml: bytes) -> tuple[str | None, str | None]:
    """Guid and DocumentSetId of an export that failed, if they can be read at all (for feedback)."""
    try:
        root = etree.fromstring(xml, _parser(recover=True))
    except etree.XMLSyntaxError:
        return None, None
    if root is None:
        return None, None
    return (root.findtext("MetaData/Guid") or "").strip() or None, (root.findtext("MetaData/DocumentSetId") or "").strip() or None


def as_decimal(text: str | None) -> Decimal | None:
    """An xs:decimal as written in the export, exactly; None when absent or not a decimal."""
    text = (text or "").strip()
    return Decimal(text) if XS_DECIMAL.fullmatch(text) else None


def _text(element, path: str) -> str | None:
    if element is None:
        return None
    return (element.findtext(path) or "").strip() or None


def _unbookable(root) -> str | None:
    """Why booking this export is impossible, or None. The only reasons an export is refused."""
    if root.tag != "RouttyExportDocument":
        return f"not a RouttyExportDocument (root element <{root.tag}>)"
    missing = [name for name in ("Guid", "DocumentSetId", "DocumentType") if not _text(root, f"MetaData/{name}")]
    if missing:
        return f"MetaData has no {', '.join(missing)}"
    supplier = root.find(f"{HEADER}/Supplier")
    if not (_text(supplier, "Number") or _text(supplier, "RegistrationNumbers/RegistrationNumber/Number")):
        return "no supplier identification (Supplier Number or registration number)"
    coding = root.findall(SECTIONS["coding_lines"])
    if not coding and not any(_text(root, f"{HEADER}/{name}") for name in HEADER_TOTALS):
        return "no amounts (no coding lines and no totals)"
    invoice_lines = {_text(line, "Id") for line in root.iterfind(SECTIONS["lines"])}
    for n, line in enumerate(coding, 1):
        amounts = {name: _text(line, name) for name in CODING_AMOUNTS}
        unreadable = [f"{name} {value!r}" for name, value in amounts.items() if value and as_decimal(value) is None]
        if unreadable:
            return f"coding line {n}: {', '.join(unreadable)} is not a decimal number"
        if not (amounts["DebitAmount"] or amounts["CreditAmount"]):
            return f"coding line {n} has no amount (DebitAmount or CreditAmount)"
        invoice_line = _text(line, "PurchaseInvoiceLinesId")
        if invoice_line and invoice_line not in invoice_lines:
            return f"coding line {n} names invoice line {invoice_line}, which the export does not have"
    return None


def _warnings(root) -> list[str]:
    """What the XSD finds, and the optional information that is missing: shown, never refused."""
    schema = load_schema("RouttyExportDocument")
    found = [] if schema.validate(root) else [f"line {e.line}: {e.message}" for e in schema.error_log]
    if len(found) > MAX_SCHEMA_WARNINGS:
        found = found[:MAX_SCHEMA_WARNINGS] + [f"... and {len(found) - MAX_SCHEMA_WARNINGS} more schema findings"]
    return found + [f"no {name} ({what}) in the header" for name, what in RECOMMENDED.items()
                    if not _text(root, f"{HEADER}/{name}")]


def parse_export(xml: bytes) -> ParsedExport:
    try:
        root = etree.fromstring(xml, _parser())
    except etree.XMLSyntaxError as error:
        raise ExportInvalid(f"not well-formed XML: {error}", *_identity(xml)) from None
    problem = _unbookable(root)
    if problem:
        raise ExportInvalid(problem, *_identity(xml))
    meta = _leaves(root.find("MetaData"))
    parsed = ParsedExport(meta["Guid"], meta["DocumentSetId"], meta["DocumentType"], warnings=_warnings(root))
    tables = parsed.tables
    tables["metadata"] = [meta]
    header = root.find(HEADER)
    tables["headers"] = [_leaves(header, skip=frozenset({"Buyer", "Supplier"}))]
    for role in ("Buyer", "Supplier"):
        party = header.find(role)
        if party is None:
            continue
        tables.setdefault("parties", []).append({"Role": role, **_leaves(party, skip=PARTY_SECTIONS)})
        tables.setdefault("registration_numbers", []).extend(
            {"Role": role, **_leaves(r)} for r in party.iterfind("RegistrationNumbers/RegistrationNumber"))
        tables.setdefault("bank_accounts", []).extend(
            {"Role": role, **_leaves(b)} for b in party.iterfind("BankAccounts/BankAccount"))
    for table, path in SECTIONS.items():
        tables[table] = [_leaves(e) for e in root.iterfind(path)]
    for header_table, line_table, path, header_path, line_path in MATCHED:
        tables[header_table], tables[line_table] = [], []
        for document in root.iterfind(path):
            head = _leaves(document.find(header_path)) if document.find(header_path) is not None else {}
            tables[header_table].append(head)
            tables[line_table].extend({"DocumentReference_": head.get("DocumentReference"), **_leaves(line)}
                                      for line in document.iterfind(line_path))
    return parsed


def _leaves(element, skip: frozenset = frozenset(), prefix: str = "") -> dict:
    """Every leaf below `element` by name (nested ones joined with `_`), as stripped text."""
    out: dict[str, str | None] = {}
    for child in element:
        if not isinstance(child.tag, str) or child.tag in skip:
            continue
        name = prefix + child.tag
        if len(child):
            out.update(_leaves(child, prefix=name + "_"))
        else:
            out[name] = (child.text or "").strip() or None
    return out


def land_export(conn: duckdb.DuckDBPyConnection, tenant_id: str, document_id: str, parsed: ParsedExport) -> dict[str, int]:
    """Replace this export's rows in every section table, in one transaction; rows per table."""
    counts = {}
    conn.execute("BEGIN TRANSACTION")
    for table in TABLES:
        rows = parsed.tables.get(table) or []
        name = f"staging.routty_export_{table}"
        _ensure_table(conn, name, {c for row in rows for c in row})
        conn.execute(f"DELETE FROM {name} WHERE tenant_id = ? AND document_id = ?", [tenant_id, document_id])
        if rows:
            frame = pd.DataFrame([{"tenant_id": tenant_id, "document_id": document_id, "position": str(n), **row}
                                  for n, row in enumerate(rows, 1)], dtype="string")
            conn.register("export_rows", frame)
            conn.execute(f"INSERT INTO {name} BY NAME SELECT * FROM export_rows")
            conn.unregister("export_rows")
        counts[table] = len(rows)
    conn.execute("COMMIT")
    return counts


def _ensure_table(conn: duckdb.DuckDBPyConnection, name: str, columns: set[str]) -> None:
    conn.execute(f"CREATE TABLE IF NOT EXISTS {name} (tenant_id VARCHAR NOT NULL, document_id VARCHAR NOT NULL, "
                 "position VARCHAR NOT NULL)")
    schema, table = name.split(".")
    have = {c.lower() for (c,) in conn.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name = ? "
                                       "AND table_name = ?", [schema, table]).fetchall()}
    for column in sorted(c for c in columns if c.lower() not in have):  # DuckDB names ignore case
        conn.execute(f'ALTER TABLE {name} ADD COLUMN "{column}" VARCHAR')
