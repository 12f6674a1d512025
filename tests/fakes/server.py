"""Run an ASGI app (a fake provider) on 127.0.0.1 in a background thread, for real-HTTP tests.

The listening socket is bound here, before uvicorn starts, so the port is known at once and no
other test can take it between "pick a free port" and "listen".
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

STARTUP_TIMEOUT = 10.0
SHUTDOWN_TIMEOUT = 5.0


@contextmanager
def run_app(app: Any, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``app`` while the block runs; yield its base URL, e.g. ``http://127.0.0.1:53211``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        loop="asyncio",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name=f"fake:{port}")
    thread.start()
    try:
        _wait_started(server, thread)
        yield f"http://{host}:{port}"
    finally:
        _stop(server, thread)
        sock.close()


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the fake server stopped during start-up (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the fake server did not start within {STARTUP_TIMEOUT:.0f} s")
        time.sleep(0.01)


def _stop(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(SHUTDOWN_TIMEOUT)
    if thread.is_alive():  # a handler that never returns: stop waiting for it
        server.force_exit = True
        thread.join(SHUTDOWN_TIMEOUT)
