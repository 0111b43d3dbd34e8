"""Book picked-up exports in the tenant's books through Rutter, and tell Routty and B2Brouter.

Per export in `sync.routty_exports` (step `downloaded`):
1. the bill: vendor from the supplier (its Number, else its VAT number, against the Rutter vendors),
   one line per coding line (GL account by id or nominal code, amount, VAT), the matched purchase
   orders, document number and dates. A supplier or account the books do not know is a business
   error (step `rejected`, with a message a person can act on), not a crash;
2. `POST /accounting/bills` with `Idempotency-Key` = the export's Guid. The body is stored before it
   is sent and the same bytes are sent on every retry, so a crash anywhere (before the answer, or
   between booking and feedback) ends in the same one bill;
3. the business feedback (`Booked` with the bill's id as BookingNumber, or `Error`);
4. where the invoice came through B2Brouter (correlation id `b2brouter:<id>`): marked `accepted` once
   booked; a received invoice Routty itself rejected is marked `refused`.
Each step is recorded as it completes, so a rerun resumes where the last one stopped.
"""

import json
from datetime import date

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from assets.ingest import rutter as rutter_streams
from assets.routty.export_pickup import GROUP, PICKUP_KEY
from assets.routty.feedback import Booking, feedback_xml
from resources.b2brouter import B2BrouterResource
from resources.http import CredentialsError, RemoteError
from resources.routty import EXPORT_OUTPUT_KEY, RouttyResource
from resources.rutter import RutterResource
from resources.tenants import tenant_of_run
from resources.warehouse import ensure_schema, ensure_stream_tables

BOOKING_KEY = dg.AssetKey(["routty", "export_bookings"])
BATCH = 20
B2BROUTER_PREFIX = "b2brouter:"


class BusinessError(ValueError):
    """The export cannot be booked as it is: a person has to act (in the books or in Routty)."""


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


def _amount(row: dict, name: str) -> float:
    return float(row.get(name) or 0)


def bill_request(conn: duckdb.DuckDBPyConnection, tenant_id: str, document_id: str) -> dict:
    """The Rutter bill for one landed export; BusinessError when the books cannot take it."""
    header = _rows(conn, "headers", tenant_id, document_id)[0]
    supplier = next(p for p in _rows(conn, "parties", tenant_id, document_id) if p["Role"] == "Supplier")
    vat_numbers = [r["Number"].upper().replace(" ", "").replace(".", "")
                   for r in _rows(conn, "registration_numbers", tenant_id, document_id)
                   if r["Role"] == "Supplier" and r.get("Number")]
    descriptions = {line.get("Id"): line.get("ArticleDescription") for line in _rows(conn, "lines", tenant_id, document_id)}
    coding = _rows(conn, "coding_lines", tenant_id, document_id)
    if not coding:
        raise BusinessError("The export has no coding lines: code the invoice in Routty, then export again.")
    orders = [o.get("ExtraReference") or o.get("DocumentReference") for o in _rows(conn, "matched_orders", tenant_id, document_id)]
    known_orders = [r for (r,) in conn.execute(
        "SELECT id FROM staging.rutter_purchase_orders WHERE tenant_id = ? AND (id IN (SELECT unnest(?::VARCHAR[])) "
        "OR document_number IN (SELECT unnest(?::VARCHAR[]))) ORDER BY id", [tenant_id, orders, orders]).fetchall()]
    bill = {
        "vendor_id": _vendor(conn, tenant_id, supplier, vat_numbers),
        "issue_date": header["DocumentDate"], "due_date": header.get("DueDate"),
        "currency_code": header.get("Currency") or "EUR", "document_number": header.get("DocumentReference"),
        "memo": f"Routty export {header.get('Id') or document_id}",
        "line_items": [{
            "account_id": _account(conn, tenant_id, c.get("GlAccount"), c.get("LineId")),
            "total_amount": round(_amount(c, "DebitAmount") - _amount(c, "CreditAmount"), 2),
            "tax_amount": round(_amount(c, "VatAmount"), 2),
            **({"tax_rate_id": c["VatCode"]} if c.get("VatCode") else {}),
            "description": descriptions.get(c.get("PurchaseInvoiceLinesId")) or header.get("DocumentReference"),
        } for c in coding],
    }
    if known_orders:
        bill["linked_purchase_orders"] = [{"id": o} for o in known_orders]
    return {k: v for k, v in bill.items() if v is not None}


def _update(conn, tenant_id: str, document_id: str, assignments: str, values: list) -> None:
    conn.execute(f"UPDATE sync.routty_exports SET {assignments} WHERE tenant_id = ? AND document_id = ?",
                 [*values, tenant_id, document_id])


def book(conn, client, tenant_id: str, export: dict) -> str:
    """Steps 1 and 2 for one export: the stored body, or a new one; then the idempotent POST."""
    body = json.loads(export["bill_request"]) if export["bill_request"] else None
    if body is None:
        try:
            body = bill_request(conn, tenant_id, export["document_id"])
        except BusinessError as error:
            _update(conn, tenant_id, export["document_id"], "step = 'rejected', reason = ?", [str(error)])
            return "rejected"
        _update(conn, tenant_id, export["document_id"], "bill_request = ?, booking_started_at = now()::TIMESTAMP",
                [json.dumps(body)])
    try:
        bill = client.create_bill(body, idempotency_key=export["guid"])
    except CredentialsError:
        raise
    except RemoteError as error:
        if error.status is None or error.status >= 500:
            raise  # not the export's fault: the next run sends the same body again
        _update(conn, tenant_id, export["document_id"], "step = 'rejected', reason = ?",
                [f"The books refused the bill: {error}"])
        return "rejected"
    _update(conn, tenant_id, export["document_id"], "step = 'booked', bill_id = ?, booked_at = now()::TIMESTAMP",
            [bill["id"]])
    return "booked"


def send_feedback(conn, client, tenant_id: str, export: dict) -> None:
    """Step 3: Booked with the bill, or Error with what to do."""
    if export["step"] == "booked":
        journal = (_rows(conn, "headers", tenant_id, export["document_id"]) or [{}])[0].get("Journal")
        booking = Booking(export["bill_id"], export["booked_at"].date() if export["booked_at"] else date.today(), journal)
        xml = feedback_xml("Booked", export["guid"], export["document_set_id"],
                           [f"Booked as bill {export['bill_id']}"], booking)
    else:
        xml = feedback_xml("Error", export["guid"], export["document_set_id"], [export["reason"][:1000]])
    client.send_feedback(export["document_id"], export["correlation_id"] or export["document_id"], xml)
    _update(conn, tenant_id, export["document_id"], "feedback_status = ?, feedback_sent_at = now()::TIMESTAMP",
            ["Booked" if export["step"] == "booked" else "Error"])


def _exports(conn, tenant_id: str, condition: str) -> list[dict]:
    cursor = conn.execute(
        f"""SELECT * FROM sync.routty_exports e WHERE e.tenant_id = ? AND {condition}
            ORDER BY e.downloaded_at, e.document_id""", [tenant_id])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


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


def mark_b2brouter(context, conn, client, tenant_id: str, invoice_id: str, state: str) -> None:
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
    conn.execute("INSERT INTO sync.b2brouter_marks VALUES (?, ?, ?, ?, now()::TIMESTAMP) ON CONFLICT DO NOTHING",
                 [tenant_id, invoice_id, state, result])


def _each(context, export: dict, step) -> str:
    """One export's step; a remote failure leaves it where it is for the next run, the others go on."""
    try:
        return step(export) or "done"
    except CredentialsError:
        raise
    except RemoteError as error:
        context.log.warning(f"export {export['document_id']}: not finished now, the next run resumes: {error}")
        return "failed"


def export_booking_asset(partitions_def: dg.PartitionsDefinition | None) -> dg.AssetsDefinition:
    @dg.asset(
        key=BOOKING_KEY,
        group_name=GROUP,
        deps=[PICKUP_KEY, *(dg.AssetKey(["rutter", s]) for s in ("vendors", "accounts", "purchase_orders"))],
        partitions_def=partitions_def,
        kinds={"rutter", "routty", "b2brouter"},
        description="Picked-up exports booked as bills through Rutter (once, by the export's Guid), "
                    "feedback sent to Routty, the outcome marked in B2Brouter.",
    )
    def export_bookings(context: dg.AssetExecutionContext, rutter: RutterResource, routty: RouttyResource,
                        b2brouter: B2BrouterResource, warehouse: DuckDBResource) -> dg.MaterializeResult:
        tenant = tenant_of_run(context)
        with warehouse.get_connection() as conn:
            ensure_schema(conn)
            for spec in (rutter_streams.VENDORS, rutter_streams.ACCOUNTS, rutter_streams.PURCHASE_ORDERS):
                ensure_stream_tables(conn, spec)
            to_book = _exports(conn, tenant.id, "e.step = 'downloaded' AND e.bill_id IS NULL")
        booked: list[str] = []
        if to_book:
            with rutter.client(tenant) as client:
                for start in range(0, len(to_book), BATCH):  # a connection per batch, not per step
                    with warehouse.get_connection() as conn:
                        booked += [_each(context, e, lambda e: book(conn, client, tenant.id, e))
                                   for e in to_book[start:start + BATCH]]
        with warehouse.get_connection() as conn:
            to_tell = _exports(conn, tenant.id, "e.step IN ('booked', 'rejected') AND e.feedback_sent_at IS NULL")
            outcomes = b2brouter_outcomes(conn, tenant.id) if tenant.b2brouter else []
        if to_tell:
            with routty.client(tenant, EXPORT_OUTPUT_KEY) as client, warehouse.get_connection() as conn:
                for export in to_tell:
                    _each(context, export, lambda e: send_feedback(conn, client, tenant.id, e))
        if outcomes:
            with b2brouter.client(tenant) as client, warehouse.get_connection() as conn:
                for invoice_id, state in outcomes:
                    mark_b2brouter(context, conn, client, tenant.id, invoice_id, state)
        with warehouse.get_connection() as conn:
            summary = dict(conn.execute("SELECT step, count(*) FROM sync.routty_exports WHERE tenant_id = ? GROUP BY ALL",
                                        [tenant.id]).fetchall())
            rejected = conn.execute("SELECT document_id, reason FROM sync.routty_exports WHERE tenant_id = ? "
                                    "AND step IN ('rejected', 'quarantined') ORDER BY 1", [tenant.id]).fetchall()
        for document_id, reason in rejected[:20]:
            context.log.warning(f"export {document_id}: {reason}")
        return dg.MaterializeResult(metadata={
            "tenant": tenant.id, "booked_now": booked.count("booked"), "rejected_now": booked.count("rejected"),
            "failed_now": booked.count("failed"), "feedback_sent": len(to_tell),
            "b2brouter_marked": len(outcomes), "exports_by_step": dg.MetadataValue.json(summary),
            "not_booked": dg.MetadataValue.md("\n".join(f"- `{d}`: {r}" for d, r in rejected[:50]) or "none"),
        })

    return export_bookings


