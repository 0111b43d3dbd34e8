"""A real SFTP server for tests: OpenSSH's sshd on loopback, in a temporary directory of its own.

sshd runs as the current user. As a normal user it can only authenticate that user, which is all
a test needs; as root (CI containers) it runs privilege-separated as usual, logging in root. Auth
is by public key: password auth is switched on, but sshd checks passwords against the system's
account database and these tests change no accounts, so a password can be tested only as refused.
scripts/bootstrap.sh installs sshd (Debian's openssh-server) when it is missing.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def keygen(path: Path, kind: str, *extra: str) -> tuple[str, str]:
    """A new key pair at `path`; returns (private key text, public key line)."""
    bits = ["-b", "2048"] if kind == "rsa" else []
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, *bits, "-N", "", "-C", "routty-sync-test", *extra, "-f", str(path)],
        check=True, capture_output=True,
    )
    return path.read_text(), Path(f"{path}.pub").read_text().strip()


class SftpServer:
    """`with SftpServer() as server:` — sshd serving `server.folder` to `server.user` by key."""

    host = "127.0.0.1"

    def __init__(self, start_timeout: float = 10.0):
        self.start_timeout = start_timeout
        self.user = getpass.getuser()
        self.process: subprocess.Popen | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        if not os.access(SSHD, os.X_OK):
            raise RuntimeError(f"{SSHD} is missing: run scripts/bootstrap.sh (installs openssh-server)")
        self.dir = Path(tempfile.mkdtemp(prefix="sftp-test-"))
        try:
            self._make_keys()
            self.folder = str(self.dir / "drop")
            os.mkdir(self.folder)
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # the listener; session children end with their clients
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- what a test needs -------------------------------------------------------------------------

    def authorize(self, public_key_line: str) -> None:
        """Let another client key in (sshd reads authorized_keys at every login)."""
        with open(self.dir / "authorized_keys", "a") as keys:
            keys.write(public_key_line + "\n")

    def env(self, prefix: str = "") -> dict[str, str]:
        """The ROUTTY_SFTP_* settings for this server, pinned and with the client key."""
        return {
            f"{prefix}ROUTTY_SFTP_HOST": self.host,
            f"{prefix}ROUTTY_SFTP_PORT": str(self.port),
            f"{prefix}ROUTTY_SFTP_PATH": self.folder,
            f"{prefix}ROUTTY_SFTP_USER": self.user,
            f"{prefix}ROUTTY_SFTP_PRIVATE_KEY": self.client_key,
            f"{prefix}ROUTTY_SFTP_HOST_KEY": self.host_key,
        }

    def log(self) -> str:
        return (self.dir / "sshd.log").read_text(errors="replace")

    # -- internals -----------------------------------------------------------------------------------

    def _make_keys(self) -> None:
        _, self.host_key = keygen(self.dir / "host_ed25519", "ed25519")
        _, self.host_rsa_key = keygen(self.dir / "host_rsa", "rsa")
        self.client_key, self.client_public_key = keygen(self.dir / "client_ed25519", "ed25519")
        self.authorize(self.client_public_key)

    def _config(self) -> str:
        d = self.dir
        lines = [
            "ListenAddress 127.0.0.1",
            f"Port {self.port}",
            f"HostKey {d / 'host_ed25519'}",
            f"HostKey {d / 'host_rsa'}",
            f"PidFile {d / 'sshd.pid'}",
            f"AuthorizedKeysFile {d / 'authorized_keys'}",
            f"AllowUsers {self.user}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication yes",  # checked against the system's accounts: can only be refused here
            "KbdInteractiveAuthentication no",
            "UsePAM no",  # PAM needs root and a PAM stack; plain key and password checks need neither
            "StrictModes no",  # the temp dir and key files belong to whoever runs the tests
            "UseDNS no",
            "MaxStartups 100",  # tests open many connections at once; don't let sshd throttle them
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
        ]
        if os.geteuid() == 0:
            lines.append("PermitRootLogin yes")
        return "\n".join(lines) + "\n"

    def _start(self) -> None:
        if os.geteuid() == 0:
            # sshd's privilege-separation directory; Debian's init script creates it, but no init runs here.
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        for _ in range(3):  # a free port can be taken between probing and binding it: try another
            self.port = free_port()
            (self.dir / "sshd_config").write_text(self._config())
            with open(self.dir / "sshd.log", "ab") as log:
                self.process = subprocess.Popen(
                    [SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                )
            if self._wait_until_listening():
                return
            self.process.wait()
            self.process = None
        raise RuntimeError(f"sshd did not start; its log:\n{self.log()}")

    def _wait_until_listening(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return True
            except OSError:
                time.sleep(0.02)
        self.process.send_signal(signal.SIGTERM)
        return False
