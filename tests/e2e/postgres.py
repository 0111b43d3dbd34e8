"""A throwaway PostgreSQL server for tests: initdb in a temporary directory, pg_ctl start on a free
loopback port (its unix socket inside that directory too), one database, stopped (`pg_ctl stop -m
fast`) and removed at the end, also when the test fails.

    with postgres_server() as pg:
        pg.params  # {"host": "127.0.0.1", "port": 54321, "user": "dagster", "password": "...", "dbname": "dagster"}

PostgreSQL refuses to run as root. As root (CI containers) initdb and pg_ctl run as an unprivileged
account: `postgres` when the system has it (Debian's package creates it), else `nobody`; the data
directory is then handed to that account. As any other user they run as that user.
scripts/ensure-postgres.sh installs the server binaries when they are missing (this helper calls it).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENSURE_SCRIPT = PROJECT_ROOT / "scripts" / "ensure-postgres.sh"
START_TIMEOUT = 30  # seconds pg_ctl waits for the server to accept connections


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be found, installed or started: the message says why and what to do."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    candidates = []
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
        candidates.append(Path(initdb).parent)
    candidates += sorted((Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
                         key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.name.split(".")], reverse=True)
    return next((d for d in candidates if os.access(d / "initdb", os.X_OK) and os.access(d / "pg_ctl", os.X_OK)), None)


def ensure_bindir() -> Path:
    """find_bindir(), installing PostgreSQL through scripts/ensure-postgres.sh when it finds none."""
    if (found := find_bindir()) is not None:
        return found
    result = subprocess.run(["bash", str(ENSURE_SCRIPT)], capture_output=True, text=True)
    if result.returncode != 0 or (found := find_bindir()) is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl) are missing and scripts/ensure-postgres.sh could not "
            f"install them (exit {result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
    return found


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root; None when we are not (it runs as us)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresUnavailable("running as root, and neither a 'postgres' nor a 'nobody' account exists to run "
                              "PostgreSQL as (it refuses root): create one, or run the tests as a normal user")


@dataclass
class PostgresServer:
    port: int
    user: str
    password: str
    dbname: str
    directory: Path
    host: str = "127.0.0.1"

    @property
    def params(self) -> dict:
        return {"host": self.host, "port": self.port, "user": self.user, "password": self.password,
                "dbname": self.dbname}

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.dbname}"

    def connect(self, dbname: str | None = None):
        import psycopg2

        return psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                                dbname=dbname or self.dbname, connect_timeout=10)


class _Runner:
    """Runs the server's commands as the account it belongs to."""

    def __init__(self, bindir: Path, account: pwd.struct_passwd | None):
        self.bindir, self.account = bindir, account

    def command(self, tool: str, *args: str) -> list[str]:
        cmd = [str(self.bindir / tool), *args]
        if self.account is None:
            return cmd
        # setpriv keeps the environment (unlike su) and needs no PAM session (unlike runuser -l).
        return ["setpriv", f"--reuid={self.account.pw_uid}", f"--regid={self.account.pw_gid}", "--init-groups", *cmd]

    def run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        env = {**os.environ, "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        env.pop("PGDATA", None)
        return subprocess.run(self.command(tool, *args), capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL, cwd="/")


@contextmanager
def postgres_server(dbname: str = "dagster", user: str = "dagster", max_connections: int = 300) -> Iterator[PostgresServer]:
    """A fresh server with database `dbname` owned by superuser `user` (password auth over TCP)."""
    bindir = ensure_bindir()
    account = _server_account()
    runner = _Runner(bindir, account)
    directory = Path(tempfile.mkdtemp(prefix="routty-pg-"))
    data, sockets, log = directory / "data", directory / "socket", directory / "server.log"
    password = secrets.token_urlsafe(16)
    started = False
    try:
        sockets.mkdir()
        pwfile = directory / "pwfile"
        pwfile.write_text(password + "\n")
        if account is not None:
            for path in (directory, sockets, pwfile):
                os.chown(path, account.pw_uid, account.pw_gid)
        init = runner.run("initdb", "-D", str(data), "-U", user, f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C",
                          "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed (exit {init.returncode}): {init.stderr.strip() or init.stdout.strip()}")
        pwfile.unlink()
        # A throwaway server: durability off for speed; enough connections for a daemon and its runs.
        options = (f"-c listen_addresses=127.0.0.1 -c unix_socket_directories={sockets} -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off -c max_connections={max_connections} "
                   "-c shared_buffers=32MB")
        port = None
        for _ in range(3):  # a free port may be taken between the probe and the bind: try another
            port = free_port()
            start = runner.run("pg_ctl", "start", "-D", str(data), "-l", str(log), "-w", "-t", str(START_TIMEOUT),
                               "-o", f"{options} -p {port}", timeout=START_TIMEOUT + 15)
            if start.returncode == 0:
                started = True
                break
            runner.run("pg_ctl", "stop", "-D", str(data), "-m", "immediate", "-w")
        if not started:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(f"pg_ctl start failed: {start.stderr.strip() or start.stdout.strip()}\n{tail}")
        server = PostgresServer(port=port, user=user, password=password, dbname=dbname, directory=directory)
        _create_database(server)
        yield server
    finally:
        if started:
            stop = runner.run("pg_ctl", "stop", "-D", str(data), "-m", "fast", "-w", "-t", "30", timeout=45)
            if stop.returncode != 0:
                runner.run("pg_ctl", "stop", "-D", str(data), "-m", "immediate", "-w", timeout=30)
        shutil.rmtree(directory, ignore_errors=True)


def _create_database(server: PostgresServer) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            connection = server.connect(dbname="postgres")
            break
        except Exception:  # noqa: BLE001 - starting up; bounded by the deadline
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{server.dbname}"')
    finally:
        connection.close()
