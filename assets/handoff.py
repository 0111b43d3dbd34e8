"""What one domain names of another, in one place. Besides the shared `assets/xml` and the source
tables (`assets/ingest/tables.py`, `assets/ingest/endpoints/`), this is the only module the domains
(masterdata, invoices, exports) import across: asset keys they depend on, and the claim rule."""

from collections.abc import Callable

import dagster as dg


def masterdata_push_key(list_name: str) -> dg.AssetKey:
    """The push asset of a masterdata list ("party_list"): invoices wait on the parties being in Routty."""
    return dg.AssetKey(["masterdata", f"{list_name}_push"])


def run_is_live(instance: dg.DagsterInstance) -> Callable[[str], bool]:
    """A claim (an upload, a booking) holds while the run that made it has not finished."""
    def is_live(run_id: str) -> bool:
        run = instance.get_run_by_id(run_id)
        return run is not None and not run.is_finished
    return is_live
