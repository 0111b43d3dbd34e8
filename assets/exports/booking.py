"""Book picked-up exports in the tenant's books through Rutter, and tell Routty and B2Brouter.

Per export in `sync.routty_exports` (step `downloaded`):
1. the bill: vendor from the supplier (its Number, else its VAT number, against the Rutter vendors),
   one line per coding line (GL account by id or nominal code, amount and VAT exactly as the export
   writes them: Decimal, never float), the matched purchase orders, document number and dates. The
   issue date is the invoice's DocumentDate, else the BookingDate Routty gave it, else its
   ReceptionDate (the memo says which); none of them is a business error. A supplier or account the
   books do not know is a business error too (step `rejected`, with a message a person can act on);
2. `POST /accounting/bills` with `Idempotency-Key` = the export's Guid. The body is stored before it
   is sent and the same bytes are sent on every retry. Before any later attempt (the answer was
   lost, a run died, Rutter failed) and after a 4xx or a replayed error, the bill is looked up in
   Rutter by vendor and document number: one export makes at most one bill. Rutter replays the first
   result stored for a key, errors too: after a replayed 5xx, with no bill in the books, the next key
   (Guid#2, ...) is used;
3. the business feedback (`Booked` with the bill's id as BookingNumber, or `Error`); feedback that
   cannot be made valid is recorded as blocked (`blocked_reason`) and the others go on;
4. where the invoice came through B2Brouter (correlation id `b2brouter:<id>`): marked `accepted` once
   booked; a received invoice Routty itself rejected is marked `refused`.

A run claims an export before booking it (step `booking`, claimed_by = its run id: a compare-and-set
on the step it read), and every later update is guarded by that step and claim, so an overlapping run
never books it too nor overwrites its outcome; a claim of a run that is gone is taken over. No
warehouse connection is open while Rutter, Routty or B2Brouter are called. Any error of one export
stays with that export (recorded in last_error; the next run resumes), except a CredentialsError,
which stops the run naming what to check.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from assets.ingest.endpoints import rutter as rutter_streams
from assets.exports.parser import as_decimal
from assets.exports import GROUP
from assets.handoff import run_is_live
from assets.exports.pickup import PICKUP_KEY
from assets.exports.feedback import Booking, FeedbackInvalid, feedback_xml
from resources.b2brouter import B2BrouterResource
from resources.http import CredentialsError, RemoteError
from resources.routty import EXPORT_OUTPUT_KEY, RouttyResource
from resources.rutter import POOL as RUTTER_POOL, REPLAYED, RutterClient, RutterResource
from resources.tenants import tenant_of_run
from assets.ingest.tables import ensure_stream_tables
from resources.warehouse import table_exists

BOOKING_KEY = dg.AssetKey(["exports", "bookings"])
# Every step of sync.routty_exports: the bookings asset reports each as `exports_<step>` (an integer).
EXPORT_STEPS = ("booked", "booking", "downloaded", "quarantined", "rejected")
B2BROUTER_PREFIX = "b2brouter:"
CLAIM_LEASE_MINUTES = 30  # a claim older than this is taken over even if its run still looks alive
# The bill's issue date: the invoice's date; else the posting date Routty gave it; else when it arrived.
ISSUE_DATES = ("DocumentDate", "BookingDate", "ReceptionDate")
LOOKUP_MARGIN_MS = 3_600_000  # Rutter's clock may lag the newest bill we saw by this much


class BusinessError(ValueError):
    """The export cannot be booked as it is: a person has to act (in the books or in Routty)."""


def dumps_exact(value) -> str:
    """Compact JSON in which a Decimal is written as the number it is (json.dumps knows only floats,
    which turn 2.675 into 2.67 and 10000000000000000.01 into 1e16)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps_exact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps_exact(v) for v in value) + "]"
    return json.dumps(value)


def _rows(conn, table: str, tenant_id: str, document_id: str, where: str = "") -> list[dict]:
    cursor = conn.execute(f"SELECT * FROM staging.routty_export_{table} WHERE tenant_id = ? AND document_id = ? "
                          f"{where} ORDER BY CAST(position AS INTEGER)", [tenant_id, document_id])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _vendor(conn, tenant_id: str, supplier: dict, vat_numbers: list[str]) -> str:
    found = conn.execute(
        """SELECT id FROM staging.rutter_vendors WHERE tenant_id = ? AND deleted_at IS NULL
             AND (id = ? OR upper(regexp_replace(tax_number, '[^A-Za-z0-9]', '', 'g')) IN (SELECT unnest(?::VARCHAR[])))
           ORDER BY id = ? DESC LIMIT 1""",
        [tenant_id, supplier.get("Number"), vat_numbers, supplier.get("Number")]).fetchone()
    if found is None:
        raise BusinessError(
            f"Supplier {supplier.get('Number')} ({supplier.get('Name')}, VAT {', '.join(vat_numbers) or 'none'}) is "
            "not a vendor in the books: add the vendor there (or correct the supplier in Routty), then export again.")
    return found[0]


def _account(conn, tenant_id: str, gl_account: str | None, line_id) -> str:
    found = conn.execute("""SELECT id FROM staging.rutter_accounts WHERE tenant_id = ? AND deleted_at IS NULL
                            AND (id = ? OR nominal_code = ?) ORDER BY id = ? DESC LIMIT 1""",
                         [tenant_id, gl_account, gl_account, gl_account]).fetchone()
    if found is None:
        raise BusinessError(f"Coding line {line_id}: GL account {gl_account!r} is not an account in the books: "
                            "correct the coding in Routty (or add the account), then export again.")
    return found[0]


def _signed_amount(coding: dict) -> Decimal:
    """Debit minus credit, exactly as written (the parser refused an export with an unreadable one)."""
    debit, credit = as_decimal(coding.get("DebitAmount")), as_decimal(coding.get("CreditAmount"))
    if credit is None:
        return debit
    return -credit if debit is None else debit - credit


def _iso_date(text: str | None) -> str | None:
    try:
        return date.fromisoformat(text).isoformat() if text and len(text) == 10 else None
    except ValueError:
        return None


def _issue_date(header: dict) -> tuple[str, str]:
    """(the date, the field it came from)."""
    for name in ISSUE_DATES:
        if found := _iso_date(header.get(name)):
            return found, name
    raise BusinessError("The export has no invoice date the books can use (DocumentDate, else BookingDate or "
                        f"ReceptionDate, as YYYY-MM-DD; DocumentDate is {header.get('DocumentDate')!r}): "
                        "set the invoice date in Routty, then export again.")


def bill_request(conn: duckdb.DuckDBPyConnection, tenant_id: str, document_id: str) -> dict:
    """The Rutter bill for one landed export (amounts as Decimal); BusinessError when the books cannot take it."""
    header = _rows(conn, "headers", tenant_id, document_id)[0]
    supplier = next(p for p in _rows(conn, "parties", tenant_id, document_id) if p["Role"] == "Supplier")
    vat_numbers = [r["Number"].upper().replace(" ", "").replace(".", "")
                   for r in _rows(conn, "registration_numbers", tenant_id, document_id)
                   if r["Role"] == "Supplier" and r.get("Number")]
    descriptions = {line.get("Id"): line.get("ArticleDescription") for line in _rows(conn, "lines", tenant_id, document_id)}
    coding = _rows(conn, "coding_lines", tenant_id, document_id)
    if not coding:
        raise BusinessError("The export has no coding lines: code the invoice in Routty, then export again.")
    issue_date, date_from = _issue_date(header)
    orders = [o.get("ExtraReference") or o.get("DocumentReference") for o in _rows(conn, "matched_orders", tenant_id, document_id)]
    known_orders = [r for (r,) in conn.execute(
        "SELECT id FROM staging.rutter_purchase_orders WHERE tenant_id = ? AND (id IN (SELECT unnest(?::VARCHAR[])) "
        "OR document_number IN (SELECT unnest(?::VARCHAR[]))) ORDER BY id", [tenant_id, orders, orders]).fetchall()]
    memo = f"Routty export {header.get('Id') or document_id}"
    if date_from != "DocumentDate":
        memo += f"; issue date is the {date_from}: the export has no DocumentDate"
    bill = {
        "vendor_id": _vendor(conn, tenant_id, supplier, vat_numbers),
        "issue_date": issue_date, "due_date": _iso_date(header.get("DueDate")),
        "currency_code": header.get("Currency") or "EUR", "document_number": header.get("DocumentReference"),
        "memo": memo,
        "line_items": [_without_nulls({
            "account_id": _account(conn, tenant_id, c.get("GlAccount"), c.get("LineId")),
            "total_amount": _signed_amount(c),
            "tax_amount": as_decimal(c.get("VatAmount")) if c.get("VatAmount") else Decimal(0),
            "tax_rate_id": c.get("VatCode"),
            "description": descriptions.get(c.get("PurchaseInvoiceLinesId")) or header.get("DocumentReference"),
        }) for c in coding],
    }
    if known_orders:
        bill["linked_purchase_orders"] = [{"id": o} for o in known_orders]
    return _without_nulls(bill)


def _without_nulls(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if v is not None}


def _exports(conn, tenant_id: str, condition: str, params: tuple = ()) -> list[dict]:
    cursor = conn.execute(
        f"""SELECT *, claimed_at < now()::TIMESTAMP - INTERVAL {CLAIM_LEASE_MINUTES} MINUTE AS lease_over
            FROM sync.routty_exports e WHERE e.tenant_id = ? AND {condition}
            ORDER BY e.downloaded_at, e.document_id""", [tenant_id, *params])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _rutter_clock(conn, tenant_id: str) -> int | None:
    """Where a lookup of a bill made from now on can start: the newest bill Rutter showed us (its
    clock, not ours), less a margin; None (the whole list) when no bill was read yet."""
    if not table_exists(conn, "staging.rutter_bills"):
        return None
    newest = conn.execute("SELECT epoch_ms(max(updated_at)) FROM staging.rutter_bills WHERE tenant_id = ?",
                          [tenant_id]).fetchone()[0]
    return None if newest is None else newest - LOOKUP_MARGIN_MS


@dataclass
class Booker:
    """Books one tenant's exports, each under a claim; never with a warehouse connection open while
    Rutter is called."""

    warehouse: DuckDBResource
    client: RutterClient
    tenant_id: str
    claimant: str  # the run id
    is_live: Callable[[str], bool]
    log: object

    def book(self, export: dict) -> str:
        with self.warehouse.get_connection() as conn:
            row = self._claim(conn, export["document_id"])
        if row is None:
            return "skipped"  # booked, or being booked, by another run
        try:
            return self._book_claimed(row)
        except Exception as error:  # left for the next run, with why
            with self.warehouse.get_connection() as conn:
                self._advance(conn, row, "step = 'downloaded', claimed_by = NULL, claimed_at = NULL, "
                              "booking_attempt = ?, last_error = ?",
                              [row["booking_attempt"], f"{type(error).__name__}: {error}"[:2000]])
            raise

    def _book_claimed(self, row: dict) -> str:
        retry = row["bill_request"] is not None  # an earlier attempt may have reached Rutter
        if not retry:
            with self.warehouse.get_connection() as conn:
                try:
                    body = bill_request(conn, self.tenant_id, row["document_id"])
                except BusinessError as error:
                    return self._settle(conn, row, "rejected", "reason = ?", [str(error)])
                row.update(bill_request=dumps_exact(body), booking_attempt=1,
                           lookup_since_ms=_rutter_clock(conn, self.tenant_id))
                if not self._advance(conn, row, "bill_request = ?, booking_attempt = 1, lookup_since_ms = ?, "
                                     "booking_started_at = now()::TIMESTAMP",
                                     [row["bill_request"], row["lookup_since_ms"]]):
                    return "skipped"
        step, detail = self._attempt(row, retry)
        with self.warehouse.get_connection() as conn:
            if step == "booked":
                return self._settle(conn, row, "booked", "bill_id = ?, booked_at = now()::TIMESTAMP", [detail])
            return self._settle(conn, row, "rejected", "reason = ?", [detail])

    def _attempt(self, row: dict, retry: bool) -> tuple[str, str]:
        """('booked', bill id) or ('rejected', why); raises when the next run should try again."""
        if retry and (bill := self._find(row)):
            return "booked", bill["id"]
        rotated = False
        while True:
            try:
                return "booked", self.client.create_bill(row["bill_request"], _idempotency_key(row))["id"]
            except CredentialsError:
                raise
            except RemoteError as error:
                replayed = error.code == REPLAYED
                if not replayed and (error.status is None or error.status >= 500):
                    raise  # may or may not have reached Rutter: the next run looks, then resends the same bytes
                if bill := self._find(row):
                    return "booked", bill["id"]  # a 409 or a refusal, yet the bill is in the books
                if not (replayed and error.status and error.status >= 500):
                    return "rejected", f"The books refused the bill: {error}"
                if rotated:
                    raise
                # Rutter answers that stored failure to this key forever, and no bill exists: a new key.
                row["booking_attempt"], rotated = (row["booking_attempt"] or 1) + 1, True

    def _find(self, row: dict) -> dict | None:
        body = json.loads(row["bill_request"])
        return self.client.find_bill(body["vendor_id"], body.get("document_number"), body.get("memo"),
                                     row["lookup_since_ms"])

    def _claim(self, conn, document_id: str) -> dict | None:
        """The export, now claimed by this run; None when it is done or another live run holds it.
        A compare-and-set on the step and claim just read: of two runs, one wins."""
        rows = _exports(conn, self.tenant_id, "e.document_id = ?", (document_id,))
        row = rows[0] if rows else None
        if row is None or row["step"] not in ("downloaded", "booking"):
            return None
        held = row["step"] == "booking" and row["claimed_by"] not in (None, self.claimant)
        if held and self.is_live(row["claimed_by"]) and not row["lease_over"]:
            return None
        try:
            won = conn.execute(
                """UPDATE sync.routty_exports SET step = 'booking', claimed_by = ?, claimed_at = now()::TIMESTAMP
                   WHERE tenant_id = ? AND document_id = ? AND step = ? AND claimed_by IS NOT DISTINCT FROM ?""",
                [self.claimant, self.tenant_id, document_id, row["step"], row["claimed_by"]]).fetchone()[0]
        except duckdb.TransactionException:  # another connection of this process updated the row first
            return None
        return {**row, "step": "booking", "claimed_by": self.claimant} if won == 1 else None

    def _advance(self, conn, row: dict, assignments: str, values: list) -> bool:
        """An update of a claimed export, only while the claim holds (step booking, claimed by this run)."""
        done = conn.execute(f"UPDATE sync.routty_exports SET {assignments} WHERE tenant_id = ? AND document_id = ? "
                            "AND step = 'booking' AND claimed_by = ?",
                            [*values, self.tenant_id, row["document_id"], self.claimant]).fetchone()[0]
        if done != 1:
            self.log.warning(f"export {row['document_id']}: taken over by another run; its outcome stands")
        return done == 1

    def _settle(self, conn, row: dict, step: str, assignments: str, values: list) -> str:
        settled = self._advance(conn, row, f"step = '{step}', claimed_by = NULL, claimed_at = NULL, last_error = NULL, "
                                f"booking_attempt = ?, {assignments}", [row["booking_attempt"], *values])
        return step if settled else "skipped"


def _idempotency_key(row: dict) -> str:
    attempt = row["booking_attempt"] or 1
    return row["guid"] if attempt == 1 else f"{row['guid']}#{attempt}"


def _feedback_document(export: dict) -> bytes:
    """Booked with the bill, or Error with what to do; FeedbackInvalid when it cannot be made valid."""
    if export["step"] == "booked":
        booked_on = export["booked_at"].date() if export["booked_at"] else date.today()
        return feedback_xml("Booked", export["guid"], export["document_set_id"],
                            [f"Booked as bill {export['bill_id']}"], Booking(export["bill_id"], booked_on, export["journal"]))
    return feedback_xml("Error", export["guid"], export["document_set_id"], [export["reason"][:1000]])


def send_feedback(warehouse: DuckDBResource, client, tenant_id: str, export: dict) -> str:
    """Step 3 for one export; recorded only if its step is still the one the feedback speaks of."""
    guard = "WHERE tenant_id = ? AND document_id = ? AND step = ? AND feedback_sent_at IS NULL"
    keys = [tenant_id, export["document_id"], export["step"]]
    try:
        xml = _feedback_document(export)
    except FeedbackInvalid as invalid:
        with warehouse.get_connection() as conn:
            conn.execute(f"UPDATE sync.routty_exports SET blocked_reason = ? {guard}", [str(invalid), *keys])
        return "blocked"
    client.send_feedback(export["document_id"], export["correlation_id"] or export["document_id"], xml)
    with warehouse.get_connection() as conn:
        conn.execute(f"UPDATE sync.routty_exports SET feedback_status = ?, feedback_sent_at = now()::TIMESTAMP {guard}",
                     ["Booked" if export["step"] == "booked" else "Error", *keys])
    return "sent"


def _to_tell(conn, tenant_id: str) -> list[dict]:
    exports = _exports(conn, tenant_id, "e.step IN ('booked', 'rejected') AND e.feedback_sent_at IS NULL "
                                        "AND e.blocked_reason IS NULL")
    for export in exports:
        export["journal"] = (_rows(conn, "headers", tenant_id, export["document_id"]) or [{}])[0].get("Journal")
    return exports


def b2brouter_outcomes(conn, tenant_id: str) -> list[tuple[str, str]]:
    """(invoice id, state) B2Brouter should now show and does not yet: accepted once booked, refused
    when Routty rejected the received invoice."""
    return conn.execute(
        f"""SELECT invoice_id, state FROM (
                SELECT substr(correlation_id, {len(B2BROUTER_PREFIX) + 1}) AS invoice_id, 'accepted' AS state
                FROM sync.routty_exports WHERE tenant_id = ? AND step = 'booked' AND starts_with(correlation_id, ?)
                UNION
                SELECT source_id, 'refused' FROM sync.routty_documents
                WHERE tenant_id = ? AND source_system = 'b2brouter' AND status = 'Rejected' AND NOT resend_requested
            ) o WHERE NOT EXISTS (SELECT 1 FROM sync.b2brouter_marks m
                                  WHERE m.tenant_id = ? AND m.invoice_id = o.invoice_id AND m.state = o.state)
            ORDER BY invoice_id""",
        [tenant_id, B2BROUTER_PREFIX, tenant_id, tenant_id]).fetchall()


def mark_b2brouter(context, warehouse: DuckDBResource, client, tenant_id: str, invoice_id: str, state: str) -> None:
    """Tried once: B2Brouter refusing the change (the invoice was refused already, ...) is recorded
    and shown, not retried; a failure on its side is retried by the next run."""
    try:
        client.mark_as(invoice_id, state, reason=f"Routty: {state} after processing")
        result = "ok"
    except CredentialsError:
        raise
    except RemoteError as error:
        if error.status is None or error.status >= 500:
            context.log.warning(f"B2Brouter invoice {invoice_id} not marked {state} now: {error}")
            return
        result = str(error)
        context.log.warning(f"B2Brouter invoice {invoice_id} not marked {state}: {error}")
    with warehouse.get_connection() as conn:
        conn.execute("INSERT INTO sync.b2brouter_marks VALUES (?, ?, ?, ?, now()::TIMESTAMP) ON CONFLICT DO NOTHING",
                     [tenant_id, invoice_id, state, result])


def _contained(context, what: str, step: Callable[[], str | None]) -> str:
    """One export's (or invoice's) step; any failure stays with it and the next run resumes it. A
    CredentialsError stops the run: every other call would fail alike."""
    try:
        return step() or "done"
    except CredentialsError:
        raise
    except Exception as error:  # noqa: BLE001 - contained by design, logged with its type
        context.log.warning(f"{what}: not finished now, the next run resumes: {type(error).__name__}: {error}")
        return "failed"


def export_booking_asset(partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=BOOKING_KEY,
        group_name=GROUP,
        deps=[PICKUP_KEY, *(dg.AssetKey(["rutter", s]) for s in ("vendors", "accounts", "purchase_orders"))],
        partitions_def=partitions_def,
        kinds={"rutter", "routty", "b2brouter"},
        pool=RUTTER_POOL,  # its Rutter calls count against the organization's limit too
        description="Picked-up exports booked as bills through Rutter (at most one each: idempotency key, "
                    "lookup, claims), feedback sent to Routty, the outcome marked in B2Brouter.",
    )
    def export_bookings(context: dg.AssetExecutionContext, rutter: RutterResource, routty: RouttyResource,
                        b2brouter: B2BrouterResource, warehouse: DuckDBResource) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        with warehouse.get_connection() as conn:
            for spec in (rutter_streams.VENDORS, rutter_streams.ACCOUNTS, rutter_streams.PURCHASE_ORDERS):
                ensure_stream_tables(conn, spec)
            to_book = _exports(conn, tenant.id, "e.step IN ('downloaded', 'booking')")
        booked: list[str] = []
        if to_book:
            with rutter.client(tenant) as client:
                booker = Booker(warehouse, client, tenant.id, context.run_id, run_is_live(context.instance), context.log)
                booked = [_contained(context, f"export {e['document_id']}", lambda e=e: booker.book(e)) for e in to_book]
        with warehouse.get_connection() as conn:
            to_tell = _to_tell(conn, tenant.id)
            outcomes = b2brouter_outcomes(conn, tenant.id) if tenant.b2brouter else []
        told: list[str] = []
        if to_tell:
            with routty.client(tenant, EXPORT_OUTPUT_KEY) as client:
                told = [_contained(context, f"export {e['document_id']}",
                                   lambda e=e: send_feedback(warehouse, client, tenant.id, e)) for e in to_tell]
        if outcomes:
            with b2brouter.client(tenant) as client:
                for invoice_id, state in outcomes:
                    _contained(context, f"B2Brouter invoice {invoice_id}",
                               lambda i=invoice_id, s=state: mark_b2brouter(context, warehouse, client, tenant.id, i, s))
        with warehouse.get_connection() as conn:
            summary = dict(conn.execute("SELECT step, count(*) FROM sync.routty_exports WHERE tenant_id = ? GROUP BY ALL",
                                        [tenant.id]).fetchall())
            attention = conn.execute(
                """SELECT document_id, CASE WHEN step IN ('rejected', 'quarantined') THEN step || ': ' || reason
                          ELSE 'feedback blocked: ' || blocked_reason END
                   FROM sync.routty_exports WHERE tenant_id = ? AND (step IN ('rejected', 'quarantined')
                        OR blocked_reason IS NOT NULL) ORDER BY 1""", [tenant.id]).fetchall()
            with_warnings = conn.execute("SELECT count(*) FROM sync.routty_exports WHERE tenant_id = ? "
                                         "AND warnings IS NOT NULL", [tenant.id]).fetchone()[0]
        for document_id, reason in attention[:20]:
            context.log.warning(f"export {document_id}: {reason}")
        return dg.MaterializeResult(metadata={
            "tenant": tenant.id, "booked_now": booked.count("booked"), "rejected_now": booked.count("rejected"),
            "failed_now": booked.count("failed"), "skipped_now": booked.count("skipped"),
            "feedback_sent": told.count("sent"), "feedback_blocked": told.count("blocked"),
            "feedback_failed": told.count("failed"), "b2brouter_marked": len(outcomes),
            "exports_with_warnings": with_warnings,
            # One integer per step (every step, 0 included), so the UI plots each per run.
            **{f"exports_{step}": summary.get(step, 0) for step in EXPORT_STEPS},
            "needs_attention": dg.MetadataValue.md("\n".join(f"- `{d}`: {r}" for d, r in attention[:50]) or "none"),
        })

    return export_bookings
