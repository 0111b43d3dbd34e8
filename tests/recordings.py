"""Recorded API responses (tests/fixtures/recorded/<system>/) for asset tests that run with no
server: every ingest stream of one company, read once from the sandbox. Record them again after an
API contract or the sandbox's data changes:

    .venv/bin/python -m tests.recordings
"""

import os
import tempfile
from pathlib import Path

import dagster as dg

from assets.ingest import definitions as ingest
from resources.b2brouter import B2BrouterResource
from resources.jortt import JorttResource
from resources.rutter import RutterResource
from resources.warehouse import Warehouse
from sandbox.server import embedded_env, start_sandbox

FOLDER = Path(__file__).parent / "fixtures" / "recorded"
REPLAY_HOST = "http://recorded.invalid"  # nothing answers there: a replay never reaches a network
SIZE, SEED = 12, 42


def api_resources(base_url: str, mode: str = "replay") -> dict:
    """The Rutter, Jortt and B2Brouter resources as the sandbox at `base_url` is reached, serving (or,
    with mode "record", writing) the recorded responses."""
    env = embedded_env(base_url)
    return {
        "rutter": RutterResource(base_url=env["RUTTER_BASE_URL"], client_id=env["RUTTER_CLIENT_ID"],
                                 client_secret=env["RUTTER_CLIENT_SECRET"], version=env["RUTTER_VERSION"],
                                 recording=str(FOLDER / "rutter"), recording_mode=mode),
        "jortt": JorttResource(base_url=env["JORTT_BASE_URL"], token_url=env["JORTT_TOKEN_URL"],
                               legacy_base_url=env["JORTT_LEGACY_BASE_URL"], recording=str(FOLDER / "jortt"),
                               recording_mode=mode),
        "b2brouter": B2BrouterResource(base_url=env["B2BROUTER_BASE_URL"], recording=str(FOLDER / "b2brouter"),
                                       recording_mode=mode),
    }


def materialize_ingest(base_url: str, warehouse_path: Path, mode: str = "replay") -> dg.ExecuteInProcessResult:
    """Every ingest asset for the one company `default`, in a throwaway instance. The company's
    secrets are the sandbox's (read from the environment, as in production)."""
    os.environ.update(embedded_env(base_url))
    os.environ.pop("TENANTS_FILE", None)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("tenants", ["default"])
        return dg.materialize(
            ingest.defs().assets, instance=instance, partition_key="default", raise_on_error=False,
            resources={**api_resources(base_url, mode), "warehouse": Warehouse(database=str(warehouse_path))})


if __name__ == "__main__":
    for old in FOLDER.glob("*/*.json"):
        old.unlink()
    with start_sandbox(size=SIZE, seed=SEED) as sandbox, tempfile.TemporaryDirectory() as tmp:
        result = materialize_ingest(sandbox.base_url, Path(tmp) / "warehouse.duckdb", mode="record")
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    # Recorded against the sandbox's address; replayed against REPLAY_HOST: the paths are what count.
    print(f"recorded {len(list(FOLDER.glob('*/*.json')))} responses in {FOLDER}")
