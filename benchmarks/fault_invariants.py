"""What the fault campaign checks once the loop has converged, against the sandbox's ground truth.

Each check returns findings: (kind, what) pairs, where kind is `duplicate` (something exists twice
that must exist once) or `loss` (something that must exist does not), plus counts for the table.
Nothing here trusts the project's own ledgers alone: every ledger fact is held against what the
simulators recorded (Routty's documents, uploads and feedback; Rutter's bills; the sources' records).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from resources.settings import ROUTTY_SENDABLE_INVOICE_STATUSES
from assets.ingest.endpoints import b2brouter, jortt, rutter
from assets.masterdata.lists import LISTS
from assets.ingest.tables import StreamSpec

# Routty's store (the simulator's admin view) of each list.
STORE = {"PartyList": "parties", "PartyBankAccountList": "bank_accounts", "PurchaseOrderMasterDataList": "purchase_orders",
         "AccountingMasterDataList": "accounting", "ArticleList": "articles"}
# Streams whose every record must land, each with the field the truth calls its id (Jortt: current shape).
COMPLETE_STREAMS: tuple[StreamSpec, ...] = (
    rutter.VENDORS, rutter.PURCHASE_ORDERS, rutter.BILLS, rutter.INVOICES, rutter.ACCOUNTS,
    jortt.CUSTOMERS, jortt.INVOICES, b2brouter.RECEIVED_INVOICES,
)
INCREMENTAL_STREAMS = tuple(s for m in (rutter, b2brouter) for s in vars(m).values()
                            if isinstance(s, StreamSpec) and s.cursor_column)


@dataclass
class Findings:
    counts: Counter = field(default_factory=Counter)  # "<check>: <measure>" -> n
    problems: list[tuple[str, str]] = field(default_factory=list)  # (duplicate|loss, what)

    def add(self, kind: str, what: str) -> None:
        self.problems.append((kind, what))

    def total(self, kind: str) -> int:
        return sum(k == kind for k, _ in self.problems)


def check_all(admin, conn: duckdb.DuckDBPyConnection, tenants: Iterable, secrets: dict[str, str],
              files: Iterable[Path]) -> Findings:
    findings = Findings()
    for tenant in tenants:
        check_ingest(admin, conn, tenant, findings)
        check_exports(admin, conn, tenant, findings)
    check_documents(admin, conn, tenants, findings)
    check_masterdata(admin, conn, findings)
    check_cursors(conn, findings)
    check_secrets(conn, secrets, files, findings)
    return findings


# ---------------------------------------------------------------- ingest: every record, none wrongly deleted

def check_ingest(admin, conn, tenant, findings: Findings) -> None:
    for spec in COMPLETE_STREAMS:
        if spec.system == "jortt" and tenant.jortt_api == "none":
            continue
        truth = admin("GET", f"truth/{spec.system}/{spec.stream}", params={"tenant": tenant.id, "api": "current"}
                      if spec.system == "jortt" else {"tenant": tenant.id}).json()["records"]
        expected = {str(r["id"]) for r in truth}
        landed = dict(conn.execute(f"SELECT id, deleted_at IS NOT NULL FROM {spec.staging_table} WHERE tenant_id = ?",
                                   [tenant.id]).fetchall())
        findings.counts["rows expected"] += len(expected)
        for rid in sorted(expected - landed.keys()):
            findings.add("loss", f"{tenant.id} {spec.name}: record {rid} never landed")
        for rid in sorted(r for r in expected if landed.get(r)):
            findings.add("loss", f"{tenant.id} {spec.name}: record {rid} marked deleted but present at the source")


# ---------------------------------------------------------------- documents into Routty, each exactly once

def _base(correlation_id: str) -> str:
    return correlation_id.split("#", 1)[0]


def expected_documents(conn, tenants) -> set[str]:
    """Correlation ids that must be in Routty: every sendable sales invoice and received invoice the
    books hold, but those rejected with a reason (sync.rejects, stage document)."""
    statuses = ROUTTY_SENDABLE_INVOICE_STATUSES.default.split(",")
    expected = set()
    for tenant in tenants:
        system = "jortt" if tenant.jortt_api != "none" else "rutter"
        rejected = {k for (k,) in conn.execute("SELECT record_key FROM sync.rejects WHERE tenant_id = ? AND stage = "
                                               "'document'", [tenant.id]).fetchall()}
        sales = conn.execute("SELECT source_id FROM model.routty_sales_invoices WHERE tenant_id = ? AND source_system = ? "
                             "AND status IN (SELECT unnest(?::VARCHAR[]))", [tenant.id, system, statuses]).fetchall()
        received = conn.execute("SELECT id FROM staging.b2brouter_received_invoices WHERE tenant_id = ? "
                                "AND deleted_at IS NULL", [tenant.id]).fetchall() if tenant.b2brouter else []
        expected |= {f"{system}:{s}" for (s,) in sales if s not in rejected}
        expected |= {f"b2brouter:{r}" for (r,) in received if str(r) not in rejected}
    return expected


def check_documents(admin, conn, tenants, findings: Findings, expected: set[str] | None = None) -> None:
    """`expected`: the documents due, when they come from more than one warehouse (one per company)."""
    documents = admin("GET", "routty/documents").json()["documents"]
    uploaded = Counter(_base(d["correlationId"]) for d in documents
                       if d["xml"] is not None and d["status"] != "Cancelled")
    expected = expected_documents(conn, tenants) if expected is None else expected
    findings.counts["documents expected"] += len(expected)
    findings.counts["documents: empty requests left in Routty"] += sum(d["xml"] is None for d in documents)
    for key, n in sorted(uploaded.items()):
        if n > 1:
            findings.add("duplicate", f"document {key} is in Routty {n} times")
    for key in sorted(expected - uploaded.keys()):
        findings.add("loss", f"document {key} never reached Routty")


# ---------------------------------------------------------------- exports: one bill per Guid, feedback for each

def check_exports(admin, conn, tenant, findings: Findings) -> None:
    if not tenant.rutter:
        return
    exports = admin("GET", "routty/exports", params={"tenant": tenant.id}).json()
    bills = admin("GET", "rutter/bills", params={"tenant": tenant.id}).json()["created"]
    per_guid = Counter(_base(b["idempotency_key"] or "") for b in bills)
    findings.counts["exports"] += len(exports["queue"]) + len(exports["acknowledged"])
    for export in exports["queue"]:
        findings.add("loss", f"{tenant.id} export {export['documentId']} still waits in Routty")
    for export in exports["acknowledged"]:
        final = [f["status"] for f in exports["feedback"].get(export["documentId"], []) if f["status"] != "Received"]
        if not final:
            findings.add("loss", f"{tenant.id} export {export['documentId']} has no Booked/Error feedback")
        if per_guid[export["guid"]] > 1:
            findings.add("duplicate", f"{tenant.id} export {export['guid']} booked {per_guid[export['guid']]} times")
        # Feedback states an outcome: told again alike (after a lost answer) is a repeat, not a duplicate;
        # two different outcomes, or two booking numbers, would be.
        outcomes = {(f["status"], f.get("bookingNumber")) for f in exports["feedback"].get(export["documentId"], [])
                    if f["status"] != "Received"}
        findings.counts["exports: feedback repeated alike"] += len(final) - len(outcomes)
        if len(outcomes) > 1:
            findings.add("duplicate", f"{tenant.id} export {export['documentId']} told {sorted(map(str, outcomes))}")
    findings.counts["bills booked"] += len(bills)


# ---------------------------------------------------------------- masterdata: none lost, none under the wrong upload

def check_masterdata(admin, conn, findings: Findings) -> None:
    uploads = {u["statusId"]: u for u in admin("GET", "routty/masterdata").json()["uploads"]}
    rows = conn.execute("SELECT tenant_id, list_type, record_key, status, status_id FROM sync.masterdata_records "
                        "WHERE status IN ('sent', 'accepted')").fetchall()
    findings.counts["masterdata records marked sent"] += len(rows)
    for tenant_id, list_type, key, status, status_id in rows:
        body = (uploads.get(status_id) or {}).get("body") or ""
        if not all(part in body for part in key.split(":") if part):
            findings.add("loss", f"{tenant_id} {list_type} {key}: marked {status} under upload {status_id}, "
                                 "which did not carry it")
    store = admin("GET", "routty/store").json()
    for doc in LISTS:
        held = _keys(store[STORE[doc.list_type]], doc.list_type)
        wanted = conn.execute(
            f"""SELECT x.tenant_id, {doc.key_sql} AS k FROM {doc.table} x
                WHERE NOT EXISTS (SELECT 1 FROM sync.rejects j WHERE j.tenant_id = x.tenant_id AND j.stage = 'xml'
                                  AND j.source = ? AND j.record_key = {doc.key_sql})
                  AND NOT EXISTS (SELECT 1 FROM sync.masterdata_records r WHERE r.tenant_id = x.tenant_id
                                  AND r.list_type = ? AND r.record_key = {doc.key_sql} AND r.status = 'failed')""",
            [doc.list_type, doc.list_type]).fetchall()
        findings.counts["masterdata records in the books"] += len(wanted)
        for tenant_id, key in wanted:
            if key not in held:
                findings.add("loss", f"{tenant_id} {doc.list_type} {key}: in the books, not in Routty")


def _keys(held: dict, list_type: str) -> set[str]:
    """Routty's keys of a list as the ledger writes them (bank accounts are held per party, by IBAN)."""
    if list_type == "PartyBankAccountList":
        return {f"{party}:{iban}" for party, accounts in held.items() for iban in accounts}
    return set(held)


# ---------------------------------------------------------------- cursors never ahead of what landed

def check_cursors(conn, findings: Findings) -> None:
    for spec in INCREMENTAL_STREAMS:
        rows = conn.execute(
            f"""SELECT c.tenant_id, c.cursor_value, max(s.{spec.cursor_column}) FROM sync.cursors c
                LEFT JOIN {spec.staging_table} s ON s.tenant_id = c.tenant_id
                WHERE c.stream = ? GROUP BY ALL""", [spec.name]).fetchall()
        for tenant_id, cursor, newest in rows:
            ahead = newest is None or datetime.fromisoformat(cursor.replace("Z", "+00:00")).replace(tzinfo=None) > newest
            if ahead:
                findings.add("loss", f"{tenant_id} {spec.name}: cursor {cursor} is ahead of the newest row landed ({newest})")


# ---------------------------------------------------------------- secrets nowhere

def check_secrets(conn, secrets: dict[str, str], files: Iterable[Path], findings: Findings) -> None:
    """Every file (logs, the event log, the outbox, the warehouse file) as bytes, and every text
    column of the warehouse (DuckDB compresses strings, so bytes alone could miss one)."""
    needles = {name: value.encode() for name, value in secrets.items() if len(value) >= 8}
    for path in files:
        data = path.read_bytes()
        for name, needle in needles.items():
            if needle in data:
                findings.add("loss", f"secret {name} appears in {path}")
    columns = conn.execute("SELECT schema_name, table_name, column_name FROM duckdb_columns() "
                           "WHERE data_type IN ('VARCHAR', 'BLOB', 'JSON') AND NOT internal").fetchall()
    for schema, table, column in columns:
        for name, value in secrets.items():
            if len(value) >= 8 and conn.execute(f'SELECT count(*) FROM "{schema}"."{table}" '
                                                f'WHERE contains("{column}"::VARCHAR, ?)', [value]).fetchone()[0]:
                findings.add("loss", f"secret {name} appears in {schema}.{table}.{column}")


SECRET_NAME = re.compile(r"(SECRET|API_KEY|TOKEN|PASSWORD|PRIVATE_KEY)$")


def secrets_of(env: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if SECRET_NAME.search(name) and value}
