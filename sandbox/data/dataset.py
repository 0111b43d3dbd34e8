"""The sandbox companies, each with its data in every system, and the edits the admin API makes."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field

from sandbox import credentials
from sandbox.data.b2brouter import b2brouter_books
from sandbox.data.common import EPOCH_MS, iso_ms, rand_uuid, unix_ms
from sandbox.data.jortt import jortt_books
from sandbox.data.rutter import RutterConnection, rutter_connection
from sandbox.data.rutter_books import rutter_books

ID_KEYS = ("id", "ledger_account_id")  # the key a record is addressed by (ledger accounts have no `id`)


def record_id(record: dict) -> str | None:
    key = next((k for k in ID_KEYS if k in record), None)
    return None if key is None or record[key] is None else str(record[key])


@dataclass
class SandboxCompany:
    """One company: its books in Rutter, its sales in Jortt, its account in B2Brouter."""

    name: str
    creds: credentials.CompanyCredentials
    rutter: RutterConnection
    jortt: dict[str, list[dict]]  # customers, invoices, expenses, ledger_accounts_{cost,income,balance}
    jortt_organization: dict
    b2b_account: dict
    b2b: dict[str, list[dict]]  # contacts, received_invoices, issued_invoices

    def collection(self, system: str, stream: str) -> list[dict]:
        """The stored records of a stream; KeyError for an unknown system or stream."""
        return {"rutter": self.rutter.collections, "jortt": self.jortt, "b2brouter": self.b2b}[system][stream]


@dataclass
class Dataset:
    size: int
    seed: int
    tenants: dict[str, SandboxCompany]
    # B2Brouter mark_as log by tenant name (sandbox/b2brouter.py): a reset (a new dataset) empties it.
    b2brouter_state_changes: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def connections(self) -> dict[str, RutterConnection]:  # by access token
        return {t.rutter.access_token: t.rutter for t in self.tenants.values()}

    def tenant_where(self, credential: str, value) -> SandboxCompany | None:
        """The tenant whose credential (a CompanyCredentials field) equals value."""
        return next((t for t in self.tenants.values() if getattr(t.creds, credential) == value), None)

    def vendors(self, access_token: str = credentials.RUTTER_ACCESS_TOKEN) -> list[dict]:
        return self.connections[access_token].collections["vendors"]

    def find(self, tenant: str, system: str, stream: str, rid: str) -> dict:
        for record in self.tenants[tenant].collection(system, stream):
            if record_id(record) == rid:
                return record
        raise KeyError(rid)

    def delete(self, tenant: str, system: str, stream: str, rid: str) -> None:
        self.tenants[tenant].collection(system, stream).remove(self.find(tenant, system, stream, rid))

    def touch(self, tenant: str, system: str, stream: str, rid: str, changes: dict) -> dict:
        """Change a record as the books would. Where it has an updated_at (Rutter, B2Brouter), that moves
        past every existing one of the system, so an incremental read sees exactly this change."""
        record = self.find(tenant, system, stream, rid)
        record.update(copy.deepcopy({k: v for k, v in changes.items() if k not in ID_KEYS}))
        if "updated_at" in record:
            stamp = iso_ms(self._latest(system) - EPOCH_MS + 1000)
            record["updated_at"] = stamp
            if "last_synced_at" in record:
                record["last_synced_at"] = stamp
            if system == "rutter":  # the change reached Rutter with a sync
                conn = self.tenants[tenant].rutter
                conn.last_sync_completed_at = max(conn.last_sync_completed_at, stamp)
        return record

    def _latest(self, system: str) -> int:
        stores = [t.rutter.collections if system == "rutter" else t.b2b for t in self.tenants.values()]
        return max((unix_ms(r["updated_at"]) for store in stores for records in store.values()
                    for r in records if r.get("updated_at")), default=EPOCH_MS)

    def touch_vendor(self, vendor_id: str, **changes) -> dict:
        """touch() of a vendor found by id alone, whichever connection holds it."""
        for name, tenant in self.tenants.items():
            if any(v.get("id") == vendor_id for v in tenant.rutter.collections["vendors"]):
                return self.touch(name, "rutter", "vendors", vendor_id, changes)
        raise KeyError(vendor_id)


def build_dataset(size: int = 200, seed: int = 42) -> Dataset:
    """acme (the first Rutter connection) at full size, globex at a quarter, from one seed."""
    rng = random.Random(seed)
    org_id = rand_uuid(rng)
    rngs = {"acme": rng, "globex": random.Random(seed + 1)}  # as the vendors were always drawn
    sizes = {"acme": size, "globex": max(8, size // 4)}
    tenants = {}
    for k, (name, creds) in enumerate(credentials.TENANTS.items()):
        conn, own, vendor_cos = rutter_connection(rngs[name], creds.rutter_access_token, org_id, sizes[name])
        conn.collections.update(rutter_books(random.Random(f"rutter:{name}:{seed}"), conn.collections["vendors"]))
        jortt, org = jortt_books(random.Random(f"jortt:{name}:{seed}"), vendor_cos, own, sizes[name])
        account, b2b = b2brouter_books(random.Random(f"b2brouter:{name}:{seed}"), creds, vendor_cos, own,
                                       sizes[name], jortt, base=k * 100_000)
        tenants[name] = SandboxCompany(name, creds, conn, jortt, org, account, b2b)
    return Dataset(size, seed, tenants)
