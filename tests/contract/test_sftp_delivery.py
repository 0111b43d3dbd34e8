"""SFTP drop-folder delivery against a real OpenSSH sshd on loopback (tests/sftp_server.py)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from paramiko.sftp_file import SFTPFile

from resources.http import CredentialsError, RemoteError
from resources.sftp import HostKeyMismatch, SftpResource
from resources.tenants import Tenant
from tests.sftp_server import SftpServer, free_port, keygen

NAMES = ("HOST", "PORT", "PATH", "USER", "PASSWORD", "PRIVATE_KEY", "HOST_KEY", "INSECURE_ACCEPT_ANY_HOST_KEY")
DEFAULT = Tenant("default")


@pytest.fixture(scope="module")
def server():
    with SftpServer() as running:
        yield running


@pytest.fixture
def env(server, monkeypatch):
    """The default tenant's ROUTTY_SFTP_* pointed at the server; an empty drop folder."""
    for prefix in ("", "ACME_"):
        for name in NAMES:
            monkeypatch.delenv(f"{prefix}ROUTTY_SFTP_{name}", raising=False)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    for entry in os.scandir(server.folder):
        os.remove(entry.path)
    return server


def upload(data: bytes, name: str = "parties.xml", tenant: Tenant = DEFAULT, **settings) -> str:
    with SftpResource(**settings).drop_folder(tenant) as drop:
        return drop.upload(name, data)


def test_upload_lands_exact_bytes_under_the_final_name_and_no_temporary_remains(env):
    data = os.urandom(100_000)
    with SftpResource().drop_folder(DEFAULT) as drop:
        path = drop.upload("parties.xml", data)
        assert path == f"{env.folder}/parties.xml"
        assert drop.list() == ["parties.xml"]  # no .part left behind
        assert drop.exists("parties.xml") and not drop.exists("other.xml")
    assert Path(path).read_bytes() == data


def test_overwrite_replaces_with_posix_rename_and_without_it(env):
    upload(b"<old/>")
    upload(b"<new/>")
    assert (Path(env.folder) / "parties.xml").read_bytes() == b"<new/>"
    with SftpResource().drop_folder(DEFAULT) as drop:
        drop._connected().extensions.pop("posix-rename@openssh.com")  # a server without the extension
        drop.upload("parties.xml", b"<newer/>")
        assert drop.list() == ["parties.xml"]
    assert (Path(env.folder) / "parties.xml").read_bytes() == b"<newer/>"


def test_readers_never_see_a_partial_file_during_an_upload(env, monkeypatch):
    """A slowed 4 MiB upload replacing an older version, watched on the server's disk and over a
    second SFTP connection: the bytes grow under the temporary name, while the final name always
    holds a complete file (the old one until the rename, then the new one)."""
    size = 4 * 1024 * 1024
    upload(b"o" * size)
    final = Path(env.folder) / "parties.xml"
    original_write = SFTPFile._write

    def slow_write(self, chunk):  # paramiko writes 32 KiB per request: ~128 requests, ~0.4 s
        time.sleep(0.003)
        return original_write(self, chunk)

    monkeypatch.setattr(SFTPFile, "_write", slow_write)
    disk: list[tuple[str, int]] = []
    remote: list[tuple[str, int]] = []
    done = threading.Event()

    # The final name is looked up by name, as a reader opening it would (a directory listing taken
    # during a rename may miss the entry on some filesystems, which says nothing about the file).
    def watch_disk():
        while not done.is_set():
            for entry in os.scandir(env.folder):
                if entry.name.endswith(".part"):
                    try:
                        disk.append((entry.name, entry.stat().st_size))
                    except FileNotFoundError:
                        pass  # renamed away between listing and stat
            try:
                disk.append(("parties.xml", final.stat().st_size))
            except FileNotFoundError:
                disk.append(("parties.xml", -1))  # absent: a reader would have found nothing
            time.sleep(0.001)

    def watch_remote(drop):
        sftp = drop._connected()  # a second session, as Routty's own pick-up would have
        while not done.is_set():
            try:
                remote.append(sftp.stat(f"{env.folder}/parties.xml").st_size)
            except FileNotFoundError:
                remote.append(-1)

    with SftpResource().drop_folder(DEFAULT) as observer:
        watchers = [threading.Thread(target=watch_disk), threading.Thread(target=watch_remote, args=(observer,))]
        for watcher in watchers:
            watcher.start()
        try:
            upload(b"n" * size)
        finally:
            done.set()
            for watcher in watchers:
                watcher.join()

    partial_temps = [s for name, s in disk if name.startswith(".parties.xml.") and 0 < s < size]
    assert len(partial_temps) >= 3, "the upload was not observed growing under its temporary name"
    assert {s for name, s in disk if name == "parties.xml"} == {size}, "final name seen absent or partial"
    assert len(remote) >= 3 and set(remote) == {size}
    assert final.read_bytes() == b"n" * size
    assert os.listdir(env.folder) == ["parties.xml"]


def test_a_connection_dropped_mid_upload_is_retried_and_its_temporary_removed(env, monkeypatch):
    original_write = SFTPFile._write
    dropped = []

    def drop_once(self, chunk):
        if not dropped:
            dropped.append(True)
            self.sftp.sock.get_transport().close()  # as if the network went away mid-upload
        return original_write(self, chunk)

    monkeypatch.setattr(SFTPFile, "_write", drop_once)
    upload(b"<parties/>" * 10_000)
    assert dropped
    assert os.listdir(env.folder) == ["parties.xml"]  # the first attempt's .part is gone too
    assert (Path(env.folder) / "parties.xml").read_bytes() == b"<parties/>" * 10_000


def test_rsa_pem_client_key_and_pinned_rsa_host_key(env, monkeypatch, tmp_path):
    key, public = keygen(tmp_path / "client_rsa", "rsa", "-m", "PEM")
    assert key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    env.authorize(public)
    monkeypatch.setenv("ROUTTY_SFTP_PRIVATE_KEY", key)
    monkeypatch.setenv("ROUTTY_SFTP_HOST_KEY", env.host_rsa_key)  # the server also has an ed25519 key
    upload(b"<rsa/>")
    assert os.listdir(env.folder) == ["parties.xml"]


def test_wrong_key_fails_at_once_naming_the_variable_not_the_key(env, monkeypatch, tmp_path):
    key, _ = keygen(tmp_path / "stranger", "ed25519")  # never authorized
    monkeypatch.setenv("ROUTTY_SFTP_PRIVATE_KEY", key)
    connects = count_connects(monkeypatch)
    with pytest.raises(CredentialsError) as refused:
        upload(b"<x/>", max_attempts=3)
    message = str(refused.value)
    assert "ROUTTY_SFTP_PRIVATE_KEY" in message and "ROUTTY_SFTP_USER" in message
    assert message.startswith("sftp (tenant default)")
    assert not any(line in message for line in key.splitlines()[1:-1])
    assert len(connects) == 1  # not retried
    assert os.listdir(env.folder) == []


def test_wrong_password_fails_naming_the_password_variable(env, monkeypatch):
    monkeypatch.delenv("ROUTTY_SFTP_PRIVATE_KEY")
    monkeypatch.setenv("ROUTTY_SFTP_PASSWORD", "hunter2-not-it")
    with pytest.raises(CredentialsError) as refused:
        upload(b"<x/>")
    assert "ROUTTY_SFTP_PASSWORD" in str(refused.value) and "hunter2" not in str(refused.value)


def test_host_key_mismatch_fails_clearly(env, monkeypatch, tmp_path):
    _, impostor = keygen(tmp_path / "impostor", "ed25519")
    monkeypatch.setenv("ROUTTY_SFTP_HOST_KEY", impostor)
    connects = count_connects(monkeypatch)
    with pytest.raises(HostKeyMismatch, match="host key mismatch.*ROUTTY_SFTP_HOST_KEY"):
        upload(b"<x/>")
    assert len(connects) == 1
    assert os.listdir(env.folder) == []


@pytest.mark.parametrize("tenant", [DEFAULT, Tenant("acme", "ACME_")], ids=["default", "prefixed"])
def test_unpinned_host_key_fails_before_connecting_naming_the_tenant_and_the_variable(env, monkeypatch, tenant):
    for name, value in env.env(prefix=tenant.env_prefix).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ROUTTY_SFTP_HOST_KEY")
    monkeypatch.delenv(f"{tenant.env_prefix}ROUTTY_SFTP_HOST_KEY", raising=False)
    connects = count_connects(monkeypatch)
    pin, opt_out = (f"{tenant.env_prefix}ROUTTY_SFTP_{name}" for name in ("HOST_KEY", "INSECURE_ACCEPT_ANY_HOST_KEY"))
    with pytest.raises(dg.Failure, match=rf"tenant {tenant.id}: {pin} is not set.*{opt_out}=true"):
        upload(b"<x/>", tenant=tenant)
    monkeypatch.setenv(opt_out, "yes")  # only true or false: a typo must not open the door
    with pytest.raises(dg.Failure, match=rf"tenant {tenant.id}: {opt_out} must be true or false"):
        upload(b"<x/>", tenant=tenant)
    assert connects == [] and os.listdir(env.folder) == []


def test_insecure_opt_out_accepts_any_host_key_and_warns_at_every_connection(env, monkeypatch, caplog):
    monkeypatch.delenv("ROUTTY_SFTP_HOST_KEY")
    monkeypatch.setenv("ROUTTY_SFTP_INSECURE_ACCEPT_ANY_HOST_KEY", "true")
    with caplog.at_level(logging.WARNING, logger="resources.sftp"):
        upload(b"<x/>")
        upload(b"<y/>")
    warnings = [r.getMessage() for r in caplog.records if "ROUTTY_SFTP_INSECURE_ACCEPT_ANY_HOST_KEY" in r.getMessage()]
    assert len(warnings) == 2  # one per connection, not once per process
    assert "SHA256:" in warnings[0] and env.host_key.split()[1] in warnings[0]  # the value to pin
    assert (Path(env.folder) / "parties.xml").read_bytes() == b"<y/>"


def test_pinned_host_key_wins_over_the_opt_out(env, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("ROUTTY_SFTP_INSECURE_ACCEPT_ANY_HOST_KEY", "true")
    monkeypatch.setenv("ROUTTY_SFTP_HOST_KEY", keygen(tmp_path / "impostor", "ed25519")[1])
    with pytest.raises(HostKeyMismatch):
        upload(b"<x/>")
    monkeypatch.setenv("ROUTTY_SFTP_HOST_KEY", env.host_key)
    with caplog.at_level(logging.WARNING, logger="resources.sftp"):
        upload(b"<x/>")
    assert "INSECURE" not in caplog.text


def test_tenant_prefix_wins_over_the_shared_names(env, monkeypatch, tmp_path):
    for name, value in env.env(prefix="ACME_").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ACME_ROUTTY_SFTP_USER")  # falls back to the shared name, which is right
    monkeypatch.setenv("ROUTTY_SFTP_PORT", str(free_port()))  # the shared settings lead nowhere
    monkeypatch.setenv("ROUTTY_SFTP_PATH", "/nonexistent")
    monkeypatch.setenv("ROUTTY_SFTP_PRIVATE_KEY", keygen(tmp_path / "shared", "ed25519")[0])
    assert upload(b"<acme/>", tenant=Tenant("acme", "ACME_")) == f"{env.folder}/parties.xml"

    monkeypatch.setenv("ACME_ROUTTY_SFTP_PRIVATE_KEY", keygen(tmp_path / "acme-wrong", "ed25519")[0])
    with pytest.raises(CredentialsError, match=r"sftp \(tenant acme\).*ACME_ROUTTY_SFTP_PRIVATE_KEY"):
        upload(b"<acme/>", tenant=Tenant("acme", "ACME_"))


def test_unreachable_server_is_retried_a_bounded_number_of_times(env, monkeypatch):
    monkeypatch.setenv("ROUTTY_SFTP_PORT", str(free_port()))  # nothing listens there
    connects = count_connects(monkeypatch)
    with pytest.raises(RemoteError, match="gave up after 2 attempts") as failed:
        upload(b"<x/>", max_attempts=2)
    assert not isinstance(failed.value, CredentialsError)
    assert len(connects) == 2


def test_unreadable_key_and_bad_names_fail_before_connecting(env, monkeypatch):
    garbage = "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0\n-----END OPENSSH PRIVATE KEY-----"
    monkeypatch.setenv("ROUTTY_SFTP_PRIVATE_KEY", garbage)
    with pytest.raises(dg.Failure, match="ROUTTY_SFTP_PRIVATE_KEY is not a usable private key") as failure:
        upload(b"<x/>")
    assert "c2VjcmV0" not in str(failure.value)
    monkeypatch.setenv("ROUTTY_SFTP_PRIVATE_KEY", env.client_key)
    with SftpResource().drop_folder(DEFAULT) as drop:
        for name in ("../escape.xml", ".hidden", "a/b.xml", ""):
            with pytest.raises(ValueError):
                drop.upload(name, b"<x/>")


def count_connects(monkeypatch) -> list:
    calls: list = []
    original = socket.create_connection

    def counting(address, *args, **kwargs):
        calls.append(address)
        return original(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counting)
    return calls
