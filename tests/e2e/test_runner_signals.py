"""A stopped runner stops everything it started: `scripts/run.sh --ui` stopped with SIGTERM (a
service manager, a container stop, a CI timeout) leaves no sandbox, webserver, daemon or code
server behind. One real `dagster dev`: the slowest test here (~15 s)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.sftp_server import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT, STOP_TIMEOUT = 120.0, 20.0


def processes() -> dict[int, tuple[int, int, str]]:
    """Every live process: pid -> (parent pid, session id, state), read from /proc."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited while we looked
        state, ppid, _pgrp, session = stat.rsplit(")", 1)[1].split()[:4]
        if state not in ("Z", "X"):  # a zombie has exited already
            found[int(entry.name)] = (int(ppid), int(session), state)
    return found


def tree(root: int, table: dict[int, tuple[int, int, str]]) -> set[int]:
    """`root` and its descendants."""
    members, grew = {root}, True
    while grew:
        children = {pid for pid, (ppid, _, _) in table.items() if ppid in members} - members
        members |= children
        grew = bool(children)
    return members & table.keys()


def still_running(started: set[int], session: int) -> set[int]:
    """What is left of the runner: what was in its tree, or anything since started in its session."""
    table = processes()
    return {pid for pid in table if pid in started or table[pid][1] == session}


def wait_until_answering(url: str, runner: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        assert runner.poll() is None, f"the runner exited with {runner.returncode}:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(url, timeout=1.0, trust_env=False).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"the webserver did not answer within {STARTUP_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")


def test_sigterm_stops_the_ui_runner_and_everything_it_started(tmp_path):
    ui_port = free_port()
    env = {**os.environ, "WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb"), "DAGSTER_HOME": str(tmp_path / "home"),
           "ROUTTY_OUTBOX_DIR": str(tmp_path / "outbox")}
    env.pop("TENANTS_FILE", None)
    log = tmp_path / "runner.log"
    with open(log, "wb") as out:
        # Its own session: whatever it starts, however late, can be found by session id.
        runner = subprocess.Popen(["bash", "scripts/run.sh", "--ui", "--ui-port", str(ui_port), "--size", "20"],
                                  cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    started: set[int] = set()
    try:
        wait_until_answering(f"http://127.0.0.1:{ui_port}/server_info", runner, log)
        started = tree(runner.pid, processes())
        assert len(started) >= 5, f"expected runner, sandbox, dagster dev, webserver, daemon: {started}"
        runner.send_signal(signal.SIGTERM)  # the runner alone, as a service manager would
        deadline = time.monotonic() + STOP_TIMEOUT
        while still_running(started, runner.pid) and time.monotonic() < deadline:
            runner.poll()  # reap it once it exits
            time.sleep(0.2)
        left = still_running(started, runner.pid)
        assert not left, f"left {STOP_TIMEOUT:.0f} s after SIGTERM: {describe(left)}\n{log.read_text()[-3000:]}"
    finally:
        for pid in still_running(started | {runner.pid}, runner.pid):  # never leave them behind
            os.kill(pid, signal.SIGKILL)
        runner.wait(timeout=10)


def describe(pids: set[int]) -> list[str]:
    return [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
            for pid in sorted(pids) if Path(f"/proc/{pid}").exists()]
