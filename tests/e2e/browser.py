"""What the browser test needs besides the browser: Debian's chromium (installed by
scripts/ensure-chromium.sh when missing, never downloaded by Playwright), a free port, and `dagster dev`
against the sandbox's two companies with a throwaway DAGSTER_HOME, warehouse and outbox.

`dagster dev` (webserver, daemon, code server) runs in a process group of its own, stopped as one at
the end (SIGINT as Ctrl-C gives it, SIGKILL for whatever lingers).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENSURE_CHROMIUM = PROJECT_ROOT / "scripts" / "ensure-chromium.sh"
TENANTS_FILE = PROJECT_ROOT / "sandbox" / "tenants.yaml"
UI_START_TIMEOUT = 180.0  # webserver up and the code location loaded; slower beside the rest of the suite
STOP_GRACE = 15.0


def chromium_executable() -> str:
    """Debian's chromium: on PATH, else installed by scripts/ensure-chromium.sh (which prints its path)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    done = subprocess.run(["bash", str(ENSURE_CHROMIUM)], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/ensure-chromium.sh failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ui_environment(sandbox_env: dict[str, str], home: Path, **extra: str) -> dict[str, str]:
    """The environment of `dagster dev`: the sandbox's two companies, this test's own instance and files."""
    from orchestration.embedded import write_instance_settings

    write_instance_settings(home)
    env = {**os.environ, **sandbox_env, "TENANTS_FILE": str(TENANTS_FILE), "DAGSTER_HOME": str(home),
           "WAREHOUSE_PATH": str(home.parent / "warehouse.duckdb"), "ROUTTY_OUTBOX_DIR": str(home.parent / "outbox"),
           **extra}
    env.pop("PYTEST_XDIST_WORKER", None)
    return env


@contextmanager
def dagster_dev(env: dict[str, str], log_file: Path) -> Iterator[str]:
    """`dagster dev` on a free port; yields its URL once the code location has loaded."""
    subprocess.run([sys.executable, "-m", "orchestration.tenants", "sync"], cwd=PROJECT_ROOT, env=env, check=True,
                   capture_output=True, timeout=120)  # the partitions, before the UI asks for them
    port = free_port()
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            process_group=0,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_loaded(process, url, log_file)
        yield url
    finally:
        _stop_group(process)


def _wait_loaded(process: subprocess.Popen, url: str, log_file: Path) -> None:
    query = '{workspaceOrError {... on Workspace {locationEntries {name loadStatus locationOrLoadError {__typename}}}}}'
    deadline = time.monotonic() + UI_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited ({process.returncode}):\n{log_file.read_text()[-3000:]}")
        try:
            entries = httpx.post(f"{url}/graphql", json={"query": query}, timeout=5).json()[
                "data"]["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                errors = [e for e in entries if e["locationOrLoadError"]["__typename"] != "RepositoryLocation"]
                if errors:
                    raise RuntimeError(f"code location failed to load: {errors}\n{log_file.read_text()[-3000:]}")
                return
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"dagster dev not ready after {UI_START_TIMEOUT:.0f} s:\n{log_file.read_text()[-3000:]}")


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    answer = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
    answer.raise_for_status()
    return answer.json()["data"]


def _stop_group(leader: subprocess.Popen) -> None:
    _signal(leader.pid, signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE
    while _signal(leader.pid, 0) and time.monotonic() < deadline:
        leader.poll()
        time.sleep(0.1)
    _signal(leader.pid, signal.SIGKILL)
    leader.wait()


def _signal(group: int, sig: int) -> bool:
    try:
        os.killpg(group, sig)
        return True
    except ProcessLookupError:
        return False
