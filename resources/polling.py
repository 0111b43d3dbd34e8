"""A sensor tick's budget for remote calls, its containment of errors, and the runs it requests.

Dagster kills a sensor evaluation after 60 s, and a sensor that raises stops tracking every tenant:
so no call starts once the budget is spent, and an error costs only its item or its tenant."""

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import dagster as dg

from resources.http import CredentialsError

POLL_BUDGET_SECONDS = 30.0  # well inside Dagster's 60 s sensor limit
T = TypeVar("T")


class Tick:
    """One evaluation's budget, and what it left undone. No call starts once the budget is spent
    (with the clients' SENSOR_POLICY a call started in time ends long before 60 s); the rest waits
    for the next tick. An error of any kind costs only its item, or its tenant: a sensor that raises
    would stop the tracking of every tenant."""

    def __init__(self, log):
        self.log, self.deadline, self.left = log, time.monotonic() + POLL_BUDGET_SECONDS, {}

    def spent(self) -> bool:
        return time.monotonic() > self.deadline

    def each(self, tenant_ids: Iterable[str]) -> Iterator[str]:
        """The tenants this tick still has time for; the others are noted as left."""
        for tenant_id in tenant_ids:
            if self.spent():
                self.leave(tenant_id, "out of time")
            else:
                yield tenant_id

    def leave(self, tenant_id: str, why: str) -> None:
        self.left[tenant_id] = why

    @contextmanager
    def contained(self, tenant_id: str) -> Iterator[None]:
        """The tenant's part of the tick; an error ends that part only (what it had not yet
        recorded, in the cursor too, stays as it was) and is logged naming the tenant."""
        try:
            yield
        except CredentialsError as error:
            self.leave(tenant_id, "key refused")
            self.log.warning(f"tenant {tenant_id}: skipped until its key is fixed: {error}")
        except Exception as error:  # noqa: BLE001 - one tenant's trouble must not stop the others
            self.leave(tenant_id, type(error).__name__)
            self.log.warning(f"tenant {tenant_id}: skipped this tick, next tick again: {type(error).__name__}: {error}")

    def read(self, what: str, call: Callable[[], T]) -> T | None:
        """call(), or None when it failed: that item waits for the next tick, the others go on. A
        refused key is the tenant's trouble (every call would fail alike): it ends the tenant's part."""
        try:
            return call()
        except CredentialsError:
            raise
        except Exception as error:  # noqa: BLE001 - one item's trouble must not stop the others' tracking
            self.log.warning(f"{what}: not read, next tick again: {type(error).__name__}: {error}")
            return None

    def summary(self, nothing: str) -> str:
        """The skip reason of a tick without run requests: what it left, if anything."""
        return nothing + "".join(f"; {t}: {why}" for t, why in sorted(self.left.items()))


def tenant_run(kind: str, tenant_id: str, what, run_config: dg.RunConfig | None = None,
               tags: dict[str, str] | None = None) -> dg.RunRequest:
    """A run of one company's partition, keyed by what it is for (`what`, JSON): the same observation
    never starts two runs. Tagged with the company, which the run queue limits per company."""
    digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=f"{kind}-{tenant_id}-{digest}", partition_key=tenant_id,
                         run_config=run_config or {}, tags={"tenant": tenant_id, **(tags or {})})

