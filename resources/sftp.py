"""SFTP drop-folder delivery: the alternative to Routty's API, selectable per tenant.

A tenant's settings come from its environment (see resources/tenants.py), never from config:
ROUTTY_SFTP_HOST, ROUTTY_SFTP_PORT (default 22), ROUTTY_SFTP_PATH (the remote folder),
ROUTTY_SFTP_USER, then ROUTTY_SFTP_PRIVATE_KEY (the key text: OpenSSH or PEM, ed25519/RSA/ECDSA,
unencrypted) or else ROUTTY_SFTP_PASSWORD, and ROUTTY_SFTP_HOST_KEY (the server's public key line,
`ssh-ed25519 AAAA...`) to pin the server. Without a pin nothing connects, unless
ROUTTY_SFTP_INSECURE_ACCEPT_ANY_HOST_KEY=true says to accept any server (a warning at every connection).

Uploads are atomic: Routty may pick a file up the moment its name appears, so the bytes go to a
hidden temporary name in the same folder first and are renamed onto the final name only when
complete. Dropped connections are retried (bounded, with backoff, reconnecting); an upload is
idempotent (the same name gets the same bytes), so retrying one is safe. Refused credentials and
a mismatched host key fail at once: retrying cannot help.
"""

from __future__ import annotations

import io
import logging
import posixpath
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import dagster as dg
import paramiko
import tenacity
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from paramiko.sftp import CMD_EXTENDED, CMD_INIT, CMD_VERSION, SFTPError

from resources.http import CredentialsError, RemoteError, RetryPolicy
from resources.tenants import Tenant

log = logging.getLogger(__name__)
T = TypeVar("T")

_KEY_CLASSES = (
    (rsa.RSAPrivateKey, paramiko.RSAKey),
    (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
    (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
)
# Without a pin a man in the middle could receive the documents (and a password): opting out must be explicit.
INSECURE_OPT_OUT = "ROUTTY_SFTP_INSECURE_ACCEPT_ANY_HOST_KEY"
# Host key algorithms to offer when a key of this type is pinned: an RSA host key signs with any of these.
_HOST_KEY_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


class HostKeyMismatch(RemoteError):
    """The server is not the one ROUTTY_SFTP_HOST_KEY names: a person has to check which is right."""


class _Disconnected(Exception):
    """The connection failed or dropped: the only failure worth retrying."""


@dataclass(frozen=True)
class SftpSettings:
    host: str
    port: int
    folder: str
    user: str
    pkey: paramiko.PKey | None
    password: str | None
    host_key: str | None  # "type base64"; None only with the insecure opt-out
    env_prefix: str

    @classmethod
    def of(cls, tenant: Tenant) -> SftpSettings:
        port = tenant.secret("ROUTTY_SFTP_PORT") if tenant.has("ROUTTY_SFTP_PORT") else "22"
        if not port.isdigit():
            raise dg.Failure(f"tenant {tenant.id}: {tenant.env_prefix}ROUTTY_SFTP_PORT must be a port number")
        # The key wins when both are set: it is the stronger credential.
        use_key = tenant.has("ROUTTY_SFTP_PRIVATE_KEY") or not tenant.has("ROUTTY_SFTP_PASSWORD")
        pinned = tenant.secret("ROUTTY_SFTP_HOST_KEY").split() if tenant.has("ROUTTY_SFTP_HOST_KEY") else None
        if pinned is not None and len(pinned) < 2:
            raise dg.Failure(f"tenant {tenant.id}: {tenant.env_prefix}ROUTTY_SFTP_HOST_KEY must read 'TYPE BASE64'")
        if pinned is None and not _accepts_any_host_key(tenant):
            raise dg.Failure(
                f"tenant {tenant.id}: {tenant.env_prefix}ROUTTY_SFTP_HOST_KEY is not set: pin the server's key "
                "(its public key line, from its operator or `ssh-keyscan -t ed25519 HOST` on a trusted "
                "network), or set "
                f"{tenant.env_prefix}{INSECURE_OPT_OUT}=true to accept any server, impostors included"
            )
        return cls(
            host=tenant.secret("ROUTTY_SFTP_HOST"),
            port=int(port),
            folder=tenant.secret("ROUTTY_SFTP_PATH"),
            user=tenant.secret("ROUTTY_SFTP_USER"),
            pkey=_private_key(tenant, tenant.secret("ROUTTY_SFTP_PRIVATE_KEY")) if use_key else None,
            password=None if use_key else tenant.secret("ROUTTY_SFTP_PASSWORD"),
            host_key=" ".join(pinned[:2]) if pinned else None,  # a trailing comment is not part of the key
            env_prefix=tenant.env_prefix,
        )

    def var(self, name: str) -> str:
        return f"{self.env_prefix}ROUTTY_SFTP_{name}"


def _accepts_any_host_key(tenant: Tenant) -> bool:
    """The explicit opt-out from pinning. Only `true` or `false`: a typo must not open the door."""
    value = tenant.secret(INSECURE_OPT_OUT).strip().lower() if tenant.has(INSECURE_OPT_OUT) else "false"
    if value not in ("true", "false"):
        raise dg.Failure(f"tenant {tenant.id}: {tenant.env_prefix}{INSECURE_OPT_OUT} must be true or false")
    return value == "true"


def _private_key(tenant: Tenant, text: str) -> paramiko.PKey:
    """Any common private key format as a paramiko key. cryptography reads them all (OpenSSH, PEM
    PKCS#1/PKCS#8); paramiko's own loaders read only some per type (ed25519: OpenSSH only), so the
    key goes through the OpenSSH format, which every paramiko key class reads."""
    if "\\n" in text and "\n" not in text:
        text = text.replace("\\n", "\n")  # a one-line .env value with escaped newlines
    data = text.strip().encode() + b"\n"
    try:
        try:
            loaded = serialization.load_ssh_private_key(data, password=None)
        except ValueError:
            loaded = serialization.load_pem_private_key(data, password=None)
        key_class = next(cls for kind, cls in _KEY_CLASSES if isinstance(loaded, kind))
        openssh = loaded.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        return key_class.from_private_key(io.StringIO(openssh.decode()))
    except (ValueError, TypeError, StopIteration, UnsupportedAlgorithm, paramiko.SSHException):
        # No error text: some parsers quote the input, and this input is a secret.
        raise dg.Failure(
            f"tenant {tenant.id}: {tenant.env_prefix}ROUTTY_SFTP_PRIVATE_KEY is not a usable private key "
            "(expected an unencrypted OpenSSH or PEM key: ed25519, RSA or ECDSA)"
        ) from None


class _SftpClient(paramiko.SFTPClient):
    """Paramiko's SFTP client, keeping the extensions the server announces (paramiko drops them), so
    posix-rename and fsync are used when offered instead of guessed at from error texts."""

    extensions: dict[str, bytes]

    def _send_version(self) -> int:
        hello = paramiko.Message()
        hello.add_int(3)  # SFTP version 3, as paramiko speaks
        self._send_packet(CMD_INIT, hello)
        kind, data = self._read_packet()
        if kind != CMD_VERSION:
            raise SFTPError("Incompatible sftp protocol")
        reply = paramiko.Message(data)
        version, self.extensions = reply.get_int(), {}
        while reply.get_remainder():
            name = reply.get_text()  # (name, data) pairs, read in that order
            self.extensions[name] = reply.get_binary()
        return version


class SftpDropFolder:
    """One tenant's remote folder over one (re)connecting SFTP session."""

    def __init__(
        self, settings: SftpSettings, system: str, connect_timeout: float, io_timeout: float, max_attempts: int
    ):
        self.settings, self.system = settings, system
        self.connect_timeout, self.io_timeout = connect_timeout, io_timeout
        self.policy = RetryPolicy(max_attempts=max_attempts, backoff_cap=10.0)
        self._transport: paramiko.Transport | None = None
        self._sftp: _SftpClient | None = None

    # -- public operations --------------------------------------------------------------------

    def upload(self, filename: str, data: bytes) -> str:
        """Put `data` under `filename` atomically (replacing any file of that name); returns its path."""
        if not filename or "/" in filename or filename.startswith(".") or filename == "..":
            raise ValueError(f"not a plain file name: {filename!r}")  # dot-names are our temporaries
        final = posixpath.join(self.settings.folder, filename)
        temporaries: list[str] = []

        def attempt(sftp: _SftpClient) -> str:
            for stale in temporaries:  # left behind by an attempt whose connection dropped
                _remove_quietly(sftp, stale)
            temporaries.append(posixpath.join(self.settings.folder, f".{filename}.{secrets.token_hex(6)}.part"))
            self._write_then_rename(sftp, temporaries[-1], final, data)
            return final

        return self._call(f"upload {final}", attempt)

    def list(self) -> list[str]:
        return sorted(self._call(f"list {self.settings.folder}", lambda sftp: sftp.listdir(self.settings.folder)))

    def exists(self, name: str) -> bool:
        def stat(sftp: _SftpClient) -> bool:
            try:
                sftp.stat(posixpath.join(self.settings.folder, name))
                return True
            except FileNotFoundError:
                return False

        return self._call(f"stat {name}", stat)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()  # closes the SFTP channel and the socket with it
        self._transport = self._sftp = None

    # -- upload ---------------------------------------------------------------------------------

    def _write_then_rename(self, sftp: _SftpClient, temp: str, final: str, data: bytes) -> None:
        try:
            with sftp.open(temp, "wbx") as remote:  # x: never write into someone else's file
                remote.set_pipelined(True)  # don't wait for each 32 KiB chunk's answer
                remote.write(data)
                remote.flush()
                if "fsync@openssh.com" in sftp.extensions:
                    # On disk before the name is published: a server crash can't leave a short final file.
                    sftp._request(CMD_EXTENDED, "fsync@openssh.com", remote.handle)
            # paramiko's close() swallows errors; the size check catches a short write before publishing.
            size = sftp.stat(temp).st_size
            if size != len(data):
                raise OSError(f"{temp} holds {size} of {len(data)} bytes after writing")
            if "posix-rename@openssh.com" in sftp.extensions:
                sftp.posix_rename(temp, final)  # atomic replace: readers see the old or the new file
            else:
                # Plain SFTP rename refuses an existing target; readers may briefly see no file, never a partial one.
                _remove_quietly(sftp, final)
                sftp.rename(temp, final)
        except BaseException:
            _remove_quietly(sftp, temp)  # best effort: the connection may be gone (the retry tries again)
            raise

    # -- connection, retries and error classification -----------------------------------------

    def _call(self, what: str, operation: Callable[[_SftpClient], T]) -> T:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.policy.max_attempts),
            wait=self.policy.wait,
            retry=tenacity.retry_if_exception_type(_Disconnected),
            before_sleep=lambda state: log.warning(
                "%s: %s, retry %d of %d in %.1fs", self.system, state.outcome.exception(),
                state.attempt_number, self.policy.max_attempts - 1, state.upcoming_sleep,
            ),
            reraise=True,
        )
        try:
            return retrying(self._once, what, operation)
        except _Disconnected as error:
            gave_up = f"{error}; gave up after {self.policy.max_attempts} attempts"
            raise RemoteError(self.system, None, gave_up) from None

    def _once(self, what: str, operation: Callable[[_SftpClient], T]) -> T:
        sftp = self._connected()
        try:
            return operation(sftp)
        except (OSError, EOFError, paramiko.SSHException) as error:
            alive = self._transport is not None and self._transport.is_active()
            if alive and not isinstance(error, TimeoutError):
                # The session is fine, so the server refused this operation: retrying won't change that.
                raise RemoteError(self.system, None, f"{what}: {error}") from error
            self.close()  # dropped or stalled: reconnect and try again
            raise _Disconnected(f"{what}: connection lost ({type(error).__name__}: {error})") from error

    def _connected(self) -> _SftpClient:
        if self._sftp is not None and self._transport is not None and self._transport.is_active():
            return self._sftp
        self.close()
        s = self.settings
        try:
            sock = socket.create_connection((s.host, s.port), timeout=self.connect_timeout)
        except OSError as error:
            raise _Disconnected(f"connect to {s.host}:{s.port}: {type(error).__name__}: {error}") from error
        self._transport = transport = paramiko.Transport(sock)
        transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = self.connect_timeout
        try:
            if s.host_key:
                # Negotiate the pinned key's type: by default the server might present another one of its keys.
                kind = s.host_key.split()[0]
                transport.get_security_options().key_types = _HOST_KEY_ALGORITHMS.get(kind, (kind,))
            transport.start_client(timeout=self.connect_timeout)
            self._check_host_key(transport.get_remote_server_key())
            if s.pkey is not None:
                transport.auth_publickey(s.user, s.pkey)
            else:
                transport.auth_password(s.user, s.password)
            self._sftp = _SftpClient.from_transport(transport)
            if self._sftp is None:
                raise paramiko.SSHException("the server opened no SFTP session")
            self._sftp.get_channel().settimeout(self.io_timeout)  # a stalled server must not hang a run
            return self._sftp
        except paramiko.AuthenticationException:
            self.close()
            raise self._credentials_error() from None
        except ValueError as error:  # an unknown key type in the pin
            self.close()
            raise dg.Failure(f"{s.var('HOST_KEY')}: {error}") from None
        except (OSError, EOFError, paramiko.SSHException) as error:
            self.close()
            raise _Disconnected(f"connect to {s.host}:{s.port}: {type(error).__name__}: {error}") from error
        except BaseException:
            self.close()
            raise

    def _check_host_key(self, key: paramiko.PKey) -> None:
        s = self.settings
        offered = f"{key.get_name()} {key.get_base64()}"
        if s.host_key is None:
            # The opt-out: said at every connection, so it is not forgotten. The line gives the value to pin.
            log.warning(
                "%s: %s:%d host key %s NOT VERIFIED: %s=true accepts any server; to pin this one, set %s=%r",
                self.system, s.host, s.port, key.fingerprint, f"{s.env_prefix}{INSECURE_OPT_OUT}",
                s.var("HOST_KEY"), offered,
            )
        elif offered != s.host_key:
            raise HostKeyMismatch(
                self.system, None,
                f"host key mismatch at {s.host}:{s.port}: the server presented {key.get_name()} "
                f"{key.fingerprint}, which is not the key in {s.var('HOST_KEY')}; if the server's key was changed on purpose, "
                f"update {s.var('HOST_KEY')}, otherwise something is impersonating the server",
            )

    def _credentials_error(self) -> CredentialsError:
        s = self.settings
        if s.pkey is not None:
            how, check = f"key {s.pkey.fingerprint}", f"{s.var('USER')} and {s.var('PRIVATE_KEY')}"
        else:
            how, check = "password", f"{s.var('USER')} and {s.var('PASSWORD')}"
        shared = " (or the shared names)" if s.env_prefix else ""
        return CredentialsError(
            self.system, None, f"{s.host}:{s.port} refused user {s.user!r} with {how}; check {check}{shared}"
        )


def _remove_quietly(sftp: paramiko.SFTPClient, path: str) -> None:
    try:
        sftp.remove(path)
    except (OSError, EOFError, paramiko.SSHException):
        pass  # already gone, or the connection is: nothing more to do here


class SftpResource(dg.ConfigurableResource):
    """Delivery to a tenant's SFTP drop folder. Only non-secret tuning is config; see the module doc."""

    connect_timeout: float = 10
    io_timeout: float = 60
    max_attempts: int = 3

    @contextmanager
    def drop_folder(self, tenant: Tenant) -> Iterator[SftpDropFolder]:
        settings, system = SftpSettings.of(tenant), f"sftp (tenant {tenant.id})"
        folder = SftpDropFolder(settings, system, self.connect_timeout, self.io_timeout, self.max_attempts)
        try:
            yield folder
        finally:
            folder.close()
