"""python -m sandbox [--port 8765] [--size 200] [--seed 42] [--processing-delay 0.3] [--port-file F]

Serves all simulators on 127.0.0.1 until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys

import uvicorn

from sandbox.app import SandboxState, build_app
from sandbox.faults import QuietDrops

HOST = "127.0.0.1"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8765, help="0 = any free port")
    p.add_argument("--size", type=int, default=200, help="number of Rutter vendors of acme (globex: a quarter)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--processing-delay", type=float, default=0.3, help="seconds a Routty upload stays Pending")
    p.add_argument("--port-file", help="write the bound port here (for callers that pass --port 0)")
    return p.parse_args(argv)


def _write_port(path: str, port: int) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, path)  # atomic: a reader never sees a half-written number


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        """SIGTERM/SIGINT: graceful shutdown, then a plain exit 0 (uvicorn would re-raise the signal)."""
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    state = SandboxState(size=args.size, seed=args.seed, processing_delay=args.processing_delay)
    # Bind first so that --port 0 yields the real port before serving starts.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, args.port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(build_app(state), log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2)
    server = _Server(config)
    logging.getLogger("uvicorn.error").addFilter(QuietDrops())
    if args.port_file:
        _write_port(args.port_file, port)
    print(f"sandbox listening on http://{HOST}:{port}", flush=True)
    server.run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
