"""Start and stop a sandbox in a subprocess; hand out the environment that points at it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sandbox import credentials

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 20.0


def embedded_env(base_url: str) -> dict[str, str]:
    """Every setting the project reads, pointing at the sandbox at base_url: one company under the plain
    names, acme (the first Rutter tenant, and its own Routty tenant's four keys)."""
    base = base_url.rstrip("/")
    return {
        "RUTTER_BASE_URL": f"{base}/rutter/versioned",
        "RUTTER_CLIENT_ID": credentials.RUTTER_CLIENT_ID,
        "RUTTER_CLIENT_SECRET": credentials.RUTTER_CLIENT_SECRET,
        "RUTTER_ACCESS_TOKEN": credentials.RUTTER_ACCESS_TOKEN,
        "RUTTER_VERSION": credentials.RUTTER_VERSION,
        "JORTT_BASE_URL": f"{base}/jortt",
        "JORTT_TOKEN_URL": f"{base}/jortt/oauth-provider/oauth/token",
        "JORTT_CLIENT_ID": credentials.JORTT_CLIENT_ID,
        "JORTT_CLIENT_SECRET": credentials.JORTT_CLIENT_SECRET,
        "JORTT_LEGACY_BASE_URL": f"{base}/jortt-legacy/api",
        "JORTT_LEGACY_APP_NAME": credentials.JORTT_LEGACY_APP_NAME,
        "JORTT_LEGACY_API_KEY": credentials.JORTT_LEGACY_API_KEY,
        "B2BROUTER_BASE_URL": f"{base}/b2brouter",
        "B2BROUTER_API_KEY": credentials.B2BROUTER_API_KEY,
        "B2BROUTER_ACCOUNT_ID": credentials.B2BROUTER_ACCOUNT_ID,
        "ROUTTY_BASE_URL": f"{base}/routty",
        **credentials.TENANTS["acme"].routty_keys,
    }


# No Routty key is shared: each belongs to one company's Routty tenant.
SHARED_ENV = ("RUTTER_BASE_URL", "RUTTER_CLIENT_ID", "RUTTER_CLIENT_SECRET", "RUTTER_VERSION", "JORTT_BASE_URL",
              "JORTT_TOKEN_URL", "JORTT_LEGACY_BASE_URL", "B2BROUTER_BASE_URL", "ROUTTY_BASE_URL")


def tenant_env(base_url: str) -> dict[str, str]:
    """The settings of every tenant under its own prefix (ACME_..., GLOBEX_...) plus the shared ones.
    A tenant gets the Jortt credentials of the API it uses: current (client id/secret) or legacy, and
    its own four Routty keys (masterdata, Input Outbound, Input Inbound, Output Inbound)."""
    shared = embedded_env(base_url)
    env = {name: shared[name] for name in SHARED_ENV}
    for t in credentials.TENANTS.values():
        jortt = dict(zip(("JORTT_CLIENT_ID", "JORTT_CLIENT_SECRET"), t.jortt_client)) if t.jortt_api == "current" \
            else dict(zip(("JORTT_LEGACY_APP_NAME", "JORTT_LEGACY_API_KEY"), t.jortt_legacy))
        own = {"RUTTER_ACCESS_TOKEN": t.rutter_access_token, **jortt, "B2BROUTER_API_KEY": t.b2brouter_api_key,
               "B2BROUTER_ACCOUNT_ID": t.b2brouter_account_id, **t.routty_keys}
        env.update({f"{t.name.upper()}_{name}": value for name, value in own.items()})
    return env


@dataclass
class Sandbox:
    base_url: str  # e.g. "http://127.0.0.1:54321"
    process: subprocess.Popen
    _files: list[Path] = field(default_factory=list, repr=False)

    def env(self) -> dict[str, str]:
        return embedded_env(self.base_url)

    def tenant_env(self) -> dict[str, str]:
        return tenant_env(self.base_url)

    def admin(self, method: str, path: str, **kwargs) -> httpx.Response:
        kwargs.setdefault("timeout", 10.0)
        kwargs.setdefault("trust_env", False)  # loopback: never through a proxy from the environment
        return httpx.request(method, f"{self.base_url}/_sandbox/{path.lstrip('/')}", **kwargs)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for path in self._files:  # the files, then their directory
            path.rmdir() if path.is_dir() else path.unlink(missing_ok=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sandbox(size: int = 200, seed: int = 42, port: int = 0, processing_delay: float = 0.3) -> Sandbox:
    """Launch `python -m sandbox` and return once /_sandbox/health answers (or raise with its stderr)."""
    workdir = Path(tempfile.mkdtemp(prefix="routty-sandbox-"))
    port_file, out_file, err_file = workdir / "port", workdir / "stdout", workdir / "stderr"
    cmd = [sys.executable, "-m", "sandbox", "--port", str(port), "--size", str(size), "--seed", str(seed),
           "--processing-delay", str(processing_delay), "--port-file", str(port_file)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                                     os.environ.get("PYTHONPATH")]))}
    # Output goes to files, not pipes: nobody drains a pipe of a long-running server.
    with open(out_file, "wb") as out, open(err_file, "wb") as err:
        process = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL)
    sandbox = Sandbox("", process, [port_file, out_file, err_file, workdir])
    try:
        sandbox.base_url = f"http://127.0.0.1:{_wait_for_port(process, port_file)}"
        _wait_healthy(sandbox)
    except BaseException:
        sandbox.stop()
        raise
    return sandbox


def _failure(process: subprocess.Popen, err_file: Path, what: str) -> RuntimeError:
    stderr = err_file.read_text(errors="replace").strip() if err_file.exists() else ""
    code = process.poll()
    exited = f" (exited with {code})" if code is not None else ""
    return RuntimeError(f"sandbox {what}{exited}. stderr:\n{stderr or '<empty>'}")


def _wait_for_port(process: subprocess.Popen, port_file: Path) -> int:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if port_file.exists():
            return int(port_file.read_text())
        if process.poll() is not None:
            raise _failure(process, port_file.parent / "stderr", "failed to start")
        time.sleep(0.05)
    raise _failure(process, port_file.parent / "stderr", f"did not bind a port within {STARTUP_TIMEOUT:.0f} s")


def _wait_healthy(sandbox: Sandbox) -> None:
    err_file = sandbox._files[2]
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if sandbox.process.poll() is not None:
            raise _failure(sandbox.process, err_file, "failed to start")
        try:
            if sandbox.admin("GET", "health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise _failure(sandbox.process, err_file, f"was not healthy within {STARTUP_TIMEOUT:.0f} s")
